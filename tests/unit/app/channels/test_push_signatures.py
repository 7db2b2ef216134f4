"""The platforms' push signatures and 快手's push encryption, against values worked out by hand (md5sum /
openssl) from their formulas."""

from __future__ import annotations

import pytest

from app.domain.channels.push import aes_key, douyin_sign, kuaishou_decrypt, youzan_sign

# The app key and secret of the 抖店 SDK's own example.
DOUYIN_KEY = "3409409348479354011"
DOUYIN_SECRET = "2ad2355c-01d0-11f8-91dc-05a8cd1054b1"
DOUYIN_BODY = b'[{"tag":"101","msg_id":"m1","data":"{}"}]'
YOUZAN_BODY = b'{"id":"E1","msg":"%7B%7D","type":"trade_TradePaid","version":1764620000}'


def test_douyin_event_sign_is_md5_of_app_key_body_and_app_secret() -> None:
    # printf '%s' "$KEY$BODY$SECRET" | md5sum
    assert douyin_sign(DOUYIN_KEY, DOUYIN_BODY, DOUYIN_SECRET) == "ba1e31b3e90f46756603bbb86884c457"


def test_douyin_event_sign_with_hmac_sha256_is_keyed_with_the_app_secret() -> None:
    # printf '%s' "$KEY$BODY$SECRET" | openssl dgst -sha256 -hmac "$SECRET"
    expected = "07dc7662d2dbdb8e69334013a4b5e8dca757f879b9d570fb35a7ca1e60128e62"
    assert douyin_sign(DOUYIN_KEY, DOUYIN_BODY, DOUYIN_SECRET, "hmac-sha256") == expected


def test_douyin_signature_changes_with_any_byte_of_the_body() -> None:
    tampered = DOUYIN_BODY.replace(b"m1", b"m2")
    assert douyin_sign(DOUYIN_KEY, tampered, DOUYIN_SECRET) != douyin_sign(DOUYIN_KEY, DOUYIN_BODY, DOUYIN_SECRET)


def test_youzan_event_sign_is_md5_of_client_id_body_and_client_secret() -> None:
    # printf '%s' "$CLIENT_ID$BODY$CLIENT_SECRET" | md5sum
    assert youzan_sign("yz-client-1", YOUZAN_BODY, "yz-secret-1") == "ab377e81af6e26c9deadcbcea2b1e1d2"
    assert youzan_sign("yz-client-1", YOUZAN_BODY, "another-secret") != "ab377e81af6e26c9deadcbcea2b1e1d2"


# A 快手 消息密钥 (base64 of the 16 bytes "0123456789abcdef") and a push body sealed with it by
# printf '%s' "$MESSAGE" | openssl enc -aes-128-cbc -K 30313233343536373839616263646566 -iv 0…0 | base64 -w0
KUAISHOU_KEY = "MDEyMzQ1Njc4OWFiY2RlZg=="
KUAISHOU_MESSAGE = (
    b'{"eventId":"e1","msgId":"m1","appKey":"ks-app","event":"kwaishop_order_paySuccess",'
    b'"info":"{\\"oid\\":1}","createTime":1764620000000}'
)
KUAISHOU_BODY = (
    b"NDyh7Jj8WuRFJxFbufAX4WpyNAQrOBR5RymjCM7/nXYwNA13jXSBtNHvLlYpzlNduSwGtd/wka/HiOre7lsPHJufoZ0APy8TUoGCalfvr6s6"
    b"/pNItXEIO/1Euw4R9eZMvcwNwQjWDlz3tCv0Pg7da8JahVStreswpchKVdnopNgCbO5eDtwRbkABTOpCP17a"
)


def test_kuaishou_push_opens_with_aes_cbc_under_the_base64_message_key_and_a_zero_iv() -> None:
    assert kuaishou_decrypt(KUAISHOU_KEY, KUAISHOU_BODY) == KUAISHOU_MESSAGE


@pytest.mark.parametrize(
    ("key", "body"),
    [
        ("MDEyMzQ1Njc4OWFiY2RlZw==", KUAISHOU_BODY),  # another key: the padding does not check out
        (KUAISHOU_KEY, KUAISHOU_BODY[:-4]),  # not whole blocks
        (KUAISHOU_KEY, b"not base64 at all!"),
        ("c2hvcnQ=", KUAISHOU_BODY),  # "short": not an AES key
    ],
    ids=["other-key", "cut", "not-base64", "not-a-key"],
)
def test_a_kuaishou_push_that_does_not_open_is_a_value_error(key: str, body: bytes) -> None:
    with pytest.raises(ValueError):
        kuaishou_decrypt(key, body)


def test_a_kuaishou_message_key_is_base64_of_an_aes_key() -> None:
    assert aes_key(KUAISHOU_KEY) == b"0123456789abcdef"
    assert aes_key(" " + KUAISHOU_KEY + "\n") == b"0123456789abcdef"
    assert [aes_key(text) for text in ("", "c2hvcnQ=", "not base64!", "A" * 100)] == [None] * 4

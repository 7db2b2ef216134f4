"""The platforms' push signatures, against values worked out by hand (md5sum / openssl) from their formulas."""

from __future__ import annotations

from app.domain.channels.push import douyin_sign, youzan_sign

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

"""Personal data: encrypted with a key derived from the secret key, masked for viewers, hashed for matching."""

from __future__ import annotations

from app.domain.orders import pii

KEY = "k" * 48


def test_a_phone_round_trips_through_encryption_and_the_ciphertext_hides_it():
    cipher = pii.encrypt(KEY, "13812345678")
    assert cipher is not None and "13812345678" not in cipher and cipher.startswith("v1:")
    assert pii.decrypt(KEY, cipher) == "13812345678"


def test_another_secret_key_cannot_read_the_ciphertext():
    assert pii.decrypt("x" * 48, pii.encrypt(KEY, "13812345678")) is None


def test_masks_show_only_what_a_viewer_may_see():
    assert pii.mask_phone("+86 138-1234-5678") == "138****5678"
    assert pii.mask_address("张江路 88 弄 6 号 1202 室").endswith("****")
    assert "1202" not in pii.mask_address("张江路 88 弄 6 号 1202 室")


def test_the_same_phone_written_differently_hashes_the_same():
    assert pii.phone_hash(KEY, "+86 13812345678") == pii.phone_hash(KEY, "138-1234-5678")
    assert pii.phone_hash(KEY, "13812345678") != pii.phone_hash("x" * 48, "13812345678")
    assert not pii.is_clear_mobile("1********35")

"""Personal data at rest: phones and street addresses are stored encrypted, beside a masked copy.

Key handling: the encryption key and the customer-matching hash key are derived from ``SECRET_KEY`` with
HKDF-SHA256 under fixed labels, so no second secret has to be deployed and the database alone never
reveals anything. Rotating ``SECRET_KEY`` therefore makes stored ciphertext unreadable: re-encrypt (read
with the old key, write with the new) before rotating. Ciphertext is Fernet (AES-128-CBC + HMAC-SHA256)
and carries a ``v1:`` prefix naming the key generation, so a later rotation can tell old rows apart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "v1:"


def _derive(secret_key: str, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"ruleflow-oms", info=label).derive(secret_key.encode())


@lru_cache(maxsize=4)
def _fernet(secret_key: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(_derive(secret_key, b"pii-encryption-v1")))


@lru_cache(maxsize=4)
def _hash_key(secret_key: str) -> bytes:
    return _derive(secret_key, b"customer-phone-hash-v1")


def encrypt(secret_key: str, clear: str | None) -> str | None:
    """Ciphertext of a piece of personal data (None stays None)."""
    if not clear:
        return None
    return PREFIX + _fernet(secret_key).encrypt(clear.encode()).decode()


def decrypt(secret_key: str, cipher: str | None) -> str | None:
    """The clear text back, or None when there is none or the key no longer opens it."""
    if not cipher or not cipher.startswith(PREFIX):
        return None
    try:
        return _fernet(secret_key).decrypt(cipher.removeprefix(PREFIX).encode()).decode()
    except InvalidToken:
        return None


def seal(secret_key: str, data: bytes) -> bytes:
    """Bytes (an uploaded file) encrypted like any personal data; nothing stays nothing."""
    if not data:
        return b""
    return PREFIX.encode() + _fernet(secret_key).encrypt(data)


def unseal(secret_key: str, sealed: bytes) -> bytes | None:
    """The bytes back, or None when they were not sealed or the key no longer opens them."""
    if not sealed.startswith(PREFIX.encode()):
        return None
    try:
        return _fernet(secret_key).decrypt(sealed.removeprefix(PREFIX.encode()))
    except InvalidToken:
        return None


def normalize_phone(phone: str) -> str:
    """Digits only, without China's +86 prefix."""
    digits = re.sub(r"\D", "", phone)
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return digits


def is_clear_mobile(phone: str | None) -> bool:
    """A real mainland mobile number in clear, not a masked or platform-encrypted one."""
    return bool(phone) and re.fullmatch(r"1\d{10}", normalize_phone(phone or "")) is not None


def phone_hash(secret_key: str, phone: str) -> str:
    """A keyed hash of a phone number, to recognise the same customer without storing the number."""
    return hmac.new(_hash_key(secret_key), normalize_phone(phone).encode(), hashlib.sha256).hexdigest()


def address_key(secret_key: str, name: str, phone: str, area: tuple[str, ...], street: str) -> str:
    """A keyed hash of who and where a parcel goes, to find orders to the same address without reading it.

    Spaces and punctuation do not count, so "南京西路 1 号" and "南京西路1号" are one address.
    """
    parts = [name, normalize_phone(phone) if "*" not in phone else phone, *area, street]
    text = "|".join(re.sub(r"[\s,，。.·#-]+", "", part or "") for part in parts)
    return hmac.new(_hash_key(secret_key), ("address|" + text).encode(), hashlib.sha256).hexdigest()


def mask_phone(phone: str) -> str:
    """138****5678; short numbers keep only their last two digits."""
    digits = normalize_phone(phone)
    if len(digits) >= 7:
        return f"{digits[:3]}****{digits[-4:]}"
    return "*" * max(len(digits) - 2, 0) + digits[-2:]


def mask_address(address: str) -> str:
    """Keep the first few characters (street level) and hide the house number."""
    address = address.strip()
    if not address:
        return ""
    keep = min(6, max(len(address) // 3, 1))
    return address[:keep] + "****"


def phone_suffix(masked_or_clear: str) -> str:
    """The last four digits if they are visible, else empty."""
    match = re.search(r"(\d{4})$", masked_or_clear.strip())
    return match.group(1) if match else ""

"""Personal data at rest: phones and street addresses are stored encrypted, beside a masked copy.

Key handling: the encryption key and the customer-matching hash key are derived from ``SECRET_KEY`` with
HKDF-SHA256 under fixed labels, so no second secret has to be deployed and the database alone never
reveals anything. Rotating ``SECRET_KEY`` therefore makes stored ciphertext unreadable: re-encrypt (read
with the old key, write with the new) before rotating. Ciphertext is Fernet (AES-128-CBC + HMAC-SHA256)
and carries a ``v1:`` prefix naming the key generation, so a later rotation can tell old rows apart.

Whole payloads (a platform's order JSON, an error-queue body, an uploaded file) are kept sealed with the same
key (:func:`seal_text`, :func:`seal`) beside a redacted copy (:func:`redact`) that is what every page and API
shows: personal fields the adapter names are masked, and a generic pass masks anything that looks like a
mainland mobile or repeats the receiver's known phone, street or name. Oversized strings are cut.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.domain.orders import receivers
from app.domain.orders.schemas import safe_text

PREFIX = "v1:"
#: Appended where text was cut, so a reader sees that something is missing.
TRUNCATED = "…(truncated)"
#: Strings in a stored or shown payload longer than this are cut (a 5 MB buyer message is not kept whole).
MAX_PAYLOAD_STRING = 2000
#: A payload nested deeper than this is cut at that depth (nothing legitimate is; recursion stays bounded).
MAX_PAYLOAD_DEPTH = 64
#: A mainland mobile number anywhere in text, also written 139 1234 5678, 139-1234-5678 or +86 139….
MOBILE = re.compile(r"(?<![\d*])(?:\+?86[\s-]?)?1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}(?![\d*])")


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


def seal_text(secret_key: str, text: str) -> str:
    """Ciphertext of a text payload, for a text column (empty text stays empty)."""
    return encrypt(secret_key, text) or ""


def unseal_text(secret_key: str, sealed: str | None) -> str | None:
    """The text payload back (None when there is none or the key no longer opens it)."""
    return decrypt(secret_key, sealed)


def seal_json(secret_key: str, value: Any) -> str:
    """Ciphertext of a JSON value, compact and with Chinese as written."""
    return seal_text(secret_key, json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def unseal_json(secret_key: str, sealed: str | None) -> Any:
    """The JSON value back, or None when there is none or the key no longer opens it."""
    text = decrypt(secret_key, sealed)
    return None if text is None else json.loads(text)


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


def address_key(secret_key: str, area: tuple[str, str, str, str], street: str) -> str:
    """A keyed hash of where a parcel goes, to find orders to the same door without reading the address: the
    normalised address alone (province, city, district, street and number; :func:`receivers.normalized_address`),
    not who receives it, so that five names at one door are one address. Empty when there is no street."""
    province, city, district, town = area
    if not receivers.street_part(street, area):
        return ""
    text = receivers.normalized_address(province, city, district, town, street)
    return hmac.new(_hash_key(secret_key), ("address|" + text).encode(), hashlib.sha256).hexdigest()


def address_token_key(secret_key: str, token: str) -> str:
    """The same-address key of an order whose platform hides the address and names it by a token of its own
    (Taobao's ``oaid``, 抖店's ``open_address_id``): equal tokens, one key. Empty without a token."""
    if not token:
        return ""
    return hmac.new(_hash_key(secret_key), ("address-token|" + token).encode(), hashlib.sha256).hexdigest()


def mask_phone(phone: str) -> str:
    """138****5678; short numbers keep only their last two digits. A platform's virtual number keeps its
    extension, which reaches the buyer only through the main number: 184****3965-7576."""
    main, sep, extension = phone.strip().partition("-")
    if sep and receivers.is_virtual_number(phone):
        return f"{mask_phone(main)}-{extension}"
    digits = normalize_phone(phone)
    if len(digits) >= 7:
        return f"{digits[:3]}****{digits[-4:]}"
    return "*" * max(len(digits) - 2, 0) + digits[-2:]


def mask_address(address: str) -> str:
    """幸福路**** : the first few characters of the street, and nothing from its first digit on (no lane, house
    or room number)."""
    address = address.strip()
    if not address:
        return ""
    number = re.search(r"[\d０-９]", address)
    if number is None:
        # No number to stop at (a village, a building's name): a third of it, at most six characters.
        return address[: min(6, max(len(address) // 3, 1))] + "****"
    return address[: min(number.start(), 6)].rstrip() + "****"


def mask_name(name: str) -> str:
    """张** : the first character (the family name) and a star for each further one."""
    name = name.strip()
    if len(name) <= 1 or "*" in name:
        return name
    return name[0] + "*" * min(len(name) - 1, 8)


def cut(text: str, limit: int) -> str:
    """At most ``limit`` characters; cut text ends with the visible truncation marker."""
    if len(text) <= limit:
        return text
    return text[: max(limit - len(TRUNCATED), 0)] + TRUNCATED


@dataclass(frozen=True)
class Known:
    """What is known of one receiver, to find it again anywhere in a payload (a buyer who types their phone
    into the message, a carrier that echoes the address back)."""

    phones: frozenset[str] = frozenset()
    streets: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls, *, phones: Iterable[str | None] = (), streets: Iterable[str | None] = (), names: Iterable[str | None] = ()
    ) -> Known:
        """Only clear values count: masks, platform ciphertext and one-letter names find nothing."""

        def clear(values: Iterable[str | None], shortest: int) -> frozenset[str]:
            found = (str(v).strip() for v in values if v)
            return frozenset(v for v in found if len(v) >= shortest and "*" not in v and not v.startswith(("#", "$")))

        return cls(clear(phones, 5), clear(streets, 4), clear(names, 2))

    def __or__(self, other: Known) -> Known:
        return Known(self.phones | other.phones, self.streets | other.streets, self.names | other.names)


def mask_token(token: str) -> str:
    """A platform's receiver token or ciphertext (``oaid``, ``encrypt_post_tel``, ``$…$``) as shown: its first
    four characters, enough to tell two apart on a page, and no more (the sealed payload keeps it whole)."""
    token = token.strip()
    return token[:4] + "****" if token else ""


#: Kinds of personal field an adapter can name: how each is masked. A ``token`` is masked whatever it looks
#: like (ciphertext starts with # or $, which the other kinds take for "not clear").
MASKS = {"phone": mask_phone, "address": mask_address, "name": mask_name, "token": mask_token}
KNOWN_BY_KIND = {"phone": "phones", "address": "streets", "name": "names"}


def redact_text(text: str, known: Known = Known(), *, limit: int | None = MAX_PAYLOAD_STRING) -> str:
    """Free text with every mainland mobile and every known phone, street and name masked (and cut to ``limit``).

    Longer values are replaced first, so a street that contains the name is masked as a street. A huge text
    is cut before it is searched (with a margin, so a number that straddles the cut is still found whole).
    """
    if limit is not None and len(text) > limit + 64:
        text = text[: limit + 64]
    replacements = [
        (value, MASKS[kind](value))
        for kind, values in (("address", known.streets), ("phone", known.phones), ("name", known.names))
        for value in values
    ]
    for value, masked in sorted(replacements, key=lambda pair: -len(pair[0])):
        text = text.replace(value, masked)
    text = MOBILE.sub(lambda match: mask_phone(match.group(0)), text)
    return cut(text, limit) if limit is not None else text


def _is_clear(value: Any) -> bool:
    """A value in clear: not empty, not already masked, not the platform's ciphertext (#…#, $…$)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return False
    text = str(value).strip()
    return bool(text) and "*" not in text and not text.startswith(("#", "$"))


def _rule_kind(path: tuple[str, ...], fields: Mapping[str, str]) -> str | None:
    """The kind of personal field at this key path: a rule ``a.b`` names a key ``b`` inside ``a``, anywhere."""
    for rule, kind in fields.items():
        parts = tuple(rule.split("."))
        if path[-len(parts) :] == parts:
            return kind
    return None


def collect(value: Any, fields: Mapping[str, str], path: tuple[str, ...] = (), depth: int = 0) -> Known:
    """The clear personal values found at the fields an adapter names."""
    if depth > MAX_PAYLOAD_DEPTH:
        return Known()
    if isinstance(value, dict):
        found = Known()
        for key, item in value.items():
            here = (*path, str(key))
            kind = _rule_kind(here, fields)
            if kind in KNOWN_BY_KIND and _is_clear(item):
                found = found | Known.of(**{KNOWN_BY_KIND[kind]: [str(item)]})
            else:
                found = found | collect(item, fields, here, depth + 1)
        return found
    if isinstance(value, list):
        found = Known()
        for item in value:
            found = found | collect(item, fields, path, depth + 1)
        return found
    return Known()


def redact(value: Any, fields: Mapping[str, str] | None = None, known: Known = Known()) -> Any:
    """A redacted copy of a JSON value: the adapter's personal ``fields`` (key or ``parent.key`` -> phone,
    address or name) masked, then the generic pass of :func:`redact_text` over every other string, with the
    values found in those fields added to what is ``known``. Long strings are cut, deep nesting too."""
    fields = fields or {}
    return _redact(value, fields, known | collect(value, fields), (), 0, {})


def _redact(
    value: Any, fields: Mapping[str, str], known: Known, path: tuple[str, ...], depth: int, seen: dict[str, str]
) -> Any:
    """``seen``: the strings redacted so far in this value (a flow's trace repeats the same ones many times)."""
    if depth > MAX_PAYLOAD_DEPTH:
        return TRUNCATED
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            here = (*path, str(key))
            kind = _rule_kind(here, fields)
            if kind == "token" and isinstance(item, str) and item:
                out[key] = cut(mask_token(item), MAX_PAYLOAD_STRING)
            elif kind is not None and kind != "token" and _is_clear(item):
                out[key] = cut(MASKS[kind](str(item)), MAX_PAYLOAD_STRING)
            else:
                out[key] = _redact(item, fields, known, here, depth + 1, seen)
        return out
    if isinstance(value, list):
        return [_redact(item, fields, known, path, depth + 1, seen) for item in value]
    if isinstance(value, str):
        if value not in seen:
            seen[value] = redact_text(value, known)
        return seen[value]
    if isinstance(value, int) and not isinstance(value, bool) and MOBILE.fullmatch(str(value)):
        return mask_phone(str(value))
    return value


def cut_strings(value: Any, depth: int = 0) -> Any:
    """The same JSON value with every string longer than :data:`MAX_PAYLOAD_STRING` cut (for the sealed original)."""
    if depth > MAX_PAYLOAD_DEPTH:
        return TRUNCATED
    if isinstance(value, dict):
        return {key: cut_strings(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [cut_strings(item, depth + 1) for item in value]
    if isinstance(value, str):
        return cut(value, MAX_PAYLOAD_STRING)
    return value


#: A payload that is not even JSON is kept (sealed) up to this many characters, and shown up to half of it.
MAX_BROKEN_PAYLOAD = 200_000
#: In a body that is not JSON: a quoted string (either quote; one left open runs to the end), a run of
#: non-ASCII text, or a run of more than three digits. Everything else (keys' ASCII punctuation, brackets,
#: commas, short numbers, bare ASCII words) is shape, kept so an operator sees where the syntax breaks.
_BROKEN_TOKEN = re.compile(r"""("(?:[^"\\]|\\.)*(?:"|\Z)|'(?:[^'\\]|\\.)*(?:'|\Z))(\s*:)?|[^\x00-\x7f]+|\d{4,}""", re.S)


@dataclass(frozen=True)
class RedactedText:
    """A payload kept as text (the error queue): what is shown, what is sealed, and what was found in it."""

    shown: str
    original: str
    known: Known


def _parse(text: str) -> Any:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict | list) else None


def _dump(value: Any) -> str:
    # A lone surrogate (valid JSON escape, invalid UTF-8) is written back as its escape, so the text can be stored.
    return safe_text(json.dumps(value, ensure_ascii=False, indent=2))


def _mask_broken(match: re.Match[str]) -> str:
    quoted, colon = match.group(1), match.group(2)
    if quoted is None:
        return "*" * min(len(match.group(0)), 8)
    if colon is not None:
        # A key: its ASCII shows where the syntax breaks; anything in it that may be personal is masked.
        return _BROKEN_KEY.sub(lambda part: "*" * min(len(part.group(0)), 8), quoted) + colon
    closed = _CLOSED_STRING.fullmatch(quoted) is not None
    empty = len(quoted) == (2 if closed else 1)
    return quoted[0] + ("" if empty else "***") + (quoted[0] if closed else "")


_BROKEN_KEY = re.compile(r"[^\x00-\x7f]+|\d{4,}")
_CLOSED_STRING = re.compile(r""""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'""", re.S)


def redact_broken(text: str) -> str:
    """A body that is not JSON, redacted without knowing its fields: every string value becomes ``"***"``
    (a key stays, with its non-ASCII text and long digit runs masked), and outside strings every run of
    non-ASCII text and every run of more than three digits is masked. Brackets, commas, colons and quotes
    stay where they were, so the place where the syntax breaks can still be seen."""
    return _BROKEN_TOKEN.sub(_mask_broken, text)


def redact_payload_text(text: str, fields: Mapping[str, str] | None = None) -> RedactedText:
    """A delivered body as text, redacted for showing and cut for sealing. JSON is redacted field by field
    (see :func:`redact`); a body that is not JSON has every value masked (:func:`redact_broken`) and is
    sealed only up to :data:`MAX_BROKEN_PAYLOAD` characters."""
    parsed = _parse(text)
    if parsed is None:
        original = cut(text, MAX_BROKEN_PAYLOAD)
        shown = MAX_BROKEN_PAYLOAD // 2
        marker = TRUNCATED if len(text) > shown else ""
        return RedactedText(redact_broken(text[:shown]) + marker, original, Known())
    fields = fields or {}
    return RedactedText(_dump(redact(parsed, fields)), _dump(cut_strings(parsed)), collect(parsed, fields))


def restore(edited: Any, shown: Any, original: Any) -> Any:
    """An edited copy of a redacted value with the original put back wherever the edit left the shown
    (masked or cut) value exactly as it was: someone can fix a payload without ever seeing the personal data
    in it, and what they did not touch keeps its real value. Only the same place gets its value back."""
    if edited == shown:
        return original
    if isinstance(edited, dict) and isinstance(shown, dict) and isinstance(original, dict):
        return {
            key: restore(item, shown[key], original[key]) if key in shown and key in original else item
            for key, item in edited.items()
        }
    if isinstance(edited, list) and isinstance(shown, list) and isinstance(original, list):
        if len(edited) == len(shown) == len(original):
            return [restore(e, s, o) for e, s, o in zip(edited, shown, original, strict=True)]
        pairs = list(zip(shown, original, strict=False))
        return [next((o for s, o in pairs if s == item), item) for item in edited]
    return edited


def restore_payload_text(edited: str, shown: str, original: str | None) -> str:
    """:func:`restore` for a payload kept as text (JSON or not)."""
    if original is None:
        return edited
    if edited == shown:
        return original
    values = _parse(edited), _parse(shown), _parse(original)
    if any(value is None for value in values):
        return edited
    return _dump(restore(*values))


def masks_left(edited: str, shown: str, original: str | None) -> bool:
    """Whether an edit of the masked copy of a body that was not JSON still holds its masked values: such a copy
    cannot be matched back to the original value by value, so replaying it would make an order of stars."""
    if original is None or edited == shown or _parse(original) is not None:
        return False
    return re.search(r"""(["'])\*\*\*\1""", edited) is not None


def phone_suffix(masked_or_clear: str) -> str:
    """The last four digits if they are visible, else empty."""
    match = re.search(r"(\d{4})$", masked_or_clear.strip())
    return match.group(1) if match else ""

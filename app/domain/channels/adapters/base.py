"""What every channel adapter shares: the normalised order it produces, field readers and the pull contract.

An adapter turns one platform's order payload (field names, units and time formats as in CHANNELS.md) into a
:class:`NormalizedOrder`: money in fen, times in UTC, the raw status and payload kept. Anything it cannot read
raises :class:`NormalizeError` naming the field, never another exception.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import httpx

CHINA = ZoneInfo("Asia/Shanghai")
_MISSING: Any = object()


class NormalizeError(ValueError):
    """The payload cannot become an order; ``field`` names where (in the platform's own terms)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class PullError(RuntimeError):
    """The platform refused or garbled an order-list request."""


@dataclass
class NormalizedLine:
    line_id: str
    seller_sku: str
    channel_sku_id: str
    title: str
    qty: int
    unit_price_fen: int
    paid_fen: int
    is_gift: bool = False
    bundle_of: str | None = None
    refund_status: str = ""


@dataclass
class NormalizedOrder:
    """One platform order in our terms. Phone and address are clear here; ingest encrypts them."""

    external_id: str
    raw_status: str
    status: str
    created_at: datetime
    updated_at: datetime
    paid_at: datetime | None = None
    channel_buyer_id: str = ""
    buyer_nick: str = ""
    unionid: str = ""
    receiver_name: str = ""
    #: The phone in clear when the platform gives it, else None (then ``phone_masked`` is the platform's mask).
    phone: str | None = None
    phone_masked: str = ""
    province: str = ""
    city: str = ""
    district: str = ""
    town: str = ""
    address: str | None = None
    address_masked: str = ""
    items_fen: int = 0
    shipping_fen: int = 0
    discount_fen: int = 0
    paid_fen: int = 0
    is_presale: bool = False
    deposit_paid: bool = False
    balance_paid: bool = False
    balance_due_at: datetime | None = None
    buyer_message: str = ""
    seller_memo: str = ""
    tags: list[str] = field(default_factory=list)
    lines: list[NormalizedLine] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Credentials:
    """What a pull needs to call a shop's platform API."""

    base_url: str
    app_key: str
    app_secret: str
    access_token: str


@dataclass
class PullPage:
    """One page of an order list: raw order payloads and the token of the next page (None at the end)."""

    orders: list[dict[str, Any]]
    next_token: str | None


class Adapter(Protocol):
    """One platform's payload format and order-list API."""

    def unwrap(self, body: Any) -> dict[str, Any]:
        """The order object inside a delivered body (platforms wrap it differently)."""
        ...

    def normalize(self, payload: dict[str, Any]) -> NormalizedOrder:
        """The payload as a normalised order, or NormalizeError naming the bad field."""
        ...

    async def pull_page(
        self, client: httpx.AsyncClient, creds: Credentials, since: datetime, until: datetime, token: str | None
    ) -> PullPage:
        """One signed order-list request for orders modified in [since, until)."""
        ...


# --- readers: each names the field it could not read ------------------------------------------------


def get(data: Any, path: str, default: Any = _MISSING) -> Any:
    """The value at a dotted path; a missing required field raises NormalizeError naming it."""
    current = data
    for part in path.split("."):
        if isinstance(current, dict) and part in current and current[part] is not None:
            current = current[part]
        elif default is _MISSING:
            raise NormalizeError(path, "is missing")
        else:
            return default
    return current


def text(data: Any, path: str, default: str | None = None) -> str:
    value = get(data, path, _MISSING if default is None else default)
    if isinstance(value, dict | list):
        raise NormalizeError(path, "must be text")
    return str(value).strip()


def yuan_to_fen(value: Any, name: str) -> int:
    """ "12.50" -> 1250. Yuan amounts come as strings with at most two decimals."""
    try:
        amount = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation as exc:
        raise NormalizeError(name, f"is not an amount in yuan: {value!r}") from exc
    fen = amount * 100
    if not amount.is_finite() or fen != fen.to_integral_value():
        raise NormalizeError(name, f"is not an amount in yuan: {value!r}")
    return int(fen)


def yuan(data: Any, path: str, default: str | None = None) -> int:
    return yuan_to_fen(get(data, path, _MISSING if default is None else default), path)


def fen(data: Any, path: str, default: int | None = None) -> int:
    """An integer amount in fen (platforms that send fen may send it as a digit string)."""
    value = get(data, path, _MISSING if default is None else default)
    return integer(value, path)


def integer(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise NormalizeError(name, "must be a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise NormalizeError(name, f"must be a whole number, got {value!r}")


def china_time(value: Any, name: str) -> datetime | None:
    """A zone-less "yyyy-MM-dd HH:mm:ss" in China time, as UTC. Empty or JD's 0001-01-01 means unset."""
    if value is None:
        return None
    raw = str(value).strip()
    if not raw or raw.startswith("0001-01-01"):
        return None
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M"):
        try:
            return datetime.strptime(raw, fmt).replace(tzinfo=CHINA).astimezone(UTC)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise NormalizeError(name, f"is not a time: {raw!r}") from exc
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=CHINA)).astimezone(UTC)


def unix_time(value: Any, name: str, *, millis: bool = False) -> datetime | None:
    """Unix seconds (or milliseconds) as UTC; 0 or empty means unset."""
    if value in (None, "", 0, "0"):
        return None
    number = integer(value, name)
    return datetime.fromtimestamp(number / 1000 if millis else number, tz=UTC)


def required_time(value: datetime | None, name: str) -> datetime:
    if value is None:
        raise NormalizeError(name, "is missing")
    return value


def as_list(value: Any, name: str) -> list[Any]:
    """A JSON array; TOP-style wrappers ({"order": [...]}) are opened."""
    if value is None:
        return []
    if isinstance(value, dict) and len(value) == 1:
        value = next(iter(value.values()))
    if not isinstance(value, list):
        raise NormalizeError(name, "must be a list")
    return value


def as_object(body: Any, name: str = "body") -> dict[str, Any]:
    if isinstance(body, str | bytes):
        try:
            body = json.loads(body)
        except ValueError as exc:
            raise NormalizeError(name, "is not valid JSON") from exc
    if not isinstance(body, dict):
        raise NormalizeError(name, "must be a JSON object")
    return body


def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


#: Line refund statuses that mean the money went back (Taobao/Tmall SUCCESS, Douyin 3, Youzan REFUND_SUCCESS):
#: such a line is not shipped. Other statuses (NO_REFUND, a refund still being decided) leave it shippable.
REFUND_SUCCESS_STATUSES = frozenset({"SUCCESS", "3", "REFUND_SUCCESS"})


def partial_refund_tag(lines: list[NormalizedLine], refunded: set[str]) -> list[str]:
    """``partially_refunded`` when some (not all) lines were refunded; ``refunded`` when all were."""
    done = [line for line in lines if line.refund_status in refunded]
    if not done:
        return []
    return ["refunded"] if len(done) == len(lines) else ["partially_refunded"]


@contextmanager
def within(prefix: str) -> Iterator[None]:
    """Name fields read inside as ``prefix.field`` (e.g. ``orders[2].price``) in any error."""
    try:
        yield
    except NormalizeError as exc:
        raise NormalizeError(f"{prefix}.{exc.field}", exc.message) from exc


def object_at(item: Any, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise NormalizeError(where, "must be an object")
    return item

"""What every channel adapter shares: the normalised order it produces, field readers and the pull contract.

An adapter turns one platform's order payload (field names, units and time formats as in CHANNELS.md) into a
:class:`NormalizedOrder`: money in fen, times in UTC, the raw status and payload kept. Anything it cannot read
raises :class:`NormalizeError` naming the field, never another exception.

The bounds every order must keep, whatever its source (webhook, pull, CSV/Excel import, replay), live here:
:func:`load_json` / :func:`check_tree` for the payload itself (depth, lone surrogates and NUL, finite numbers) and
:func:`check_order` for the normalised order (quantities, amounts, a discount within the charge, lines, the
order id), and
:func:`plausible_time` for every time the readers return.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Protocol

import httpx

from app import templating
from app.db import CHINA
from app.domain.orders.schemas import NormalizedLine, NormalizedOrder, safe_text
from app.i18n import N_, gettext
from app.json_input import UNSTORABLE, NestedTooDeeplyError, loads_within

_MISSING: Any = object()

#: A line's quantity: a whole number in 1..MAX_QTY. Nobody sells 100,000 of one thing in one order; more is a typo
#: or an attack, and it would overflow the stock arithmetic downstream.
MAX_QTY = 99_999
#: Every amount (a line's price or payment, an order's total, shipping, discount) is 0..MAX_FEN fen (¥10,000,000.00).
#: The money columns are INTEGER, 32-bit on PostgreSQL (at most 2,147,483,647), so any amount within the cap fits.
MAX_FEN = 1_000_000_000
#: Lines in one order, and characters in an order id (the column is VARCHAR(64)).
MAX_LINES = 1_000
MAX_EXTERNAL_ID = 64
#: How deep a payload may nest; platform payloads need about 6 levels. Deeper is refused before parsing.
MAX_DEPTH = 32
#: Any other whole number in a payload (status codes, Unix times): beyond this it is garbage, not data.
MAX_WHOLE = 10**15
#: Every time in an order (placed, updated, paid, balance due) is from 2000-01-01 China time to a year from now:
#: no channel we read existed before, a presale's balance is due within months, and anything outside is a typo.
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=CHINA)
LATEST_AHEAD = timedelta(days=366)


class NormalizeError(ValueError):
    """The payload cannot become an order; ``field`` names where (in the platform's own terms).

    ``message`` is for an operator, in their language. With ``values`` it is a template that is filled in when
    read, with ``%(field)s`` as ``label`` (or the field), so that :func:`within` can still rename the field.
    """

    def __init__(
        self, field: str, message: str, values: dict[str, Any] | None = None, *, label: str | None = None
    ) -> None:
        super().__init__(field, message)
        self.field = field
        self.template = message
        self.values = values
        self.label = label

    @property
    def message(self) -> str:
        if self.values is None:
            return self.template
        return self.template % {"field": self.label or self.field, **self.values}

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"

    def renamed(self, field: str, *, label: str | None = None) -> NormalizeError:
        """The same problem under another name (a field inside a list item, an import row)."""
        return NormalizeError(field, self.template, self.values, label=label or self.label)


def shown(value: Any, limit: int = 40) -> str:
    """A payload value quoted in a message: short, and storable whatever it contains."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = safe_text(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class PresalePayments:
    """A deposit presale's payments as a platform lists them (Douyin's phases, Kuaishou's payment steps): the
    deposit in fen and whether it is paid, the balance's due time (None when not given) and whether it is paid."""

    deposit_fen: int = 0
    deposit_paid: bool = False
    balance_due_at: datetime | None = None
    balance_paid: bool = False


def china_now() -> str:
    """Now as the platforms' APIs want a call's timestamp: China time, ``yyyy-MM-dd HH:mm:ss``."""
    return datetime.now(CHINA).strftime("%Y-%m-%d %H:%M:%S")


class PullError(RuntimeError):
    """The platform refused or garbled an order-list request."""


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

    #: Where the payload carries personal data in clear: a key (or ``parent.key``, matched at any depth) ->
    #: ``phone``, ``address`` or ``name``. Redaction masks these first and then looks for their values anywhere.
    personal_fields: ClassVar[Mapping[str, str]]

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
            raise NormalizeError(path, gettext("%(field)s is missing"), {})
        else:
            return default
    return current


def text(data: Any, path: str, default: str | None = None) -> str:
    value = get(data, path, _MISSING if default is None else default)
    if isinstance(value, dict | list):
        raise NormalizeError(path, gettext("%(field)s must be text"), {})
    return str(value).strip()


_YUAN_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def yuan_to_fen(value: Any, name: str) -> int:
    """ "12.50" -> 1250. Yuan amounts come as strings with at most two decimals, within 0..MAX_FEN fen.

    Only ASCII digits, one sign, one point (and an exponent, as a JSON number's text may have): Decimal also
    reads "٣٩.00", "1_000", "Infinity", which no platform sends and no operator would recognise."""
    not_yuan = NormalizeError(name, gettext("%(field)s: %(value)s is not an amount in yuan"), {"value": shown(value)})
    if isinstance(value, bool) or isinstance(value, dict | list):
        raise not_yuan
    raw = str(value).strip().replace(",", "")
    if not _YUAN_TEXT.fullmatch(raw):
        raise not_yuan
    try:
        amount = Decimal(raw)
    except InvalidOperation as exc:
        raise not_yuan from exc
    # Compare before any arithmetic: "1e999999999" must not become a number with a billion digits.
    if not 0 <= amount <= Decimal(MAX_FEN) / 100:
        raise money_out_of_range(name, shown(value))
    fen = amount * 100
    if fen != fen.to_integral_value():
        raise not_yuan
    return int(fen)


def money_out_of_range(name: str, value: str) -> NormalizeError:
    return NormalizeError(
        name,
        gettext("%(field)s: the amount %(value)s is not valid: amounts are from ¥0.00 to %(max)s"),
        {"value": value, "max": templating.yuan(MAX_FEN)},
    )


def yuan(data: Any, path: str, default: str | None = None) -> int:
    return yuan_to_fen(get(data, path, _MISSING if default is None else default), path)


def fen(data: Any, path: str, default: int | None = None) -> int:
    """An integer amount in fen (platforms that send fen may send it as a digit string)."""
    value = get(data, path, _MISSING if default is None else default)
    amount = integer(value, path)
    if not 0 <= amount <= MAX_FEN:
        raise money_out_of_range(path, templating.yuan(amount))  # in yuan, as the bounds are said
    return amount


def integer(value: Any, name: str) -> int:
    """A whole number (a JSON number or a digit string), at most MAX_WHOLE either side of zero."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"-?\d{1,30}", value.strip()):
        number = int(value.strip())
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        number = int(value)
    if number is None:
        raise NormalizeError(name, gettext("%(field)s: %(value)s is not a whole number"), {"value": shown(value)})
    if abs(number) > MAX_WHOLE:
        raise NormalizeError(name, gettext("%(field)s: %(value)s is out of range"), {"value": shown(value)})
    return number


def plausible_time(moment: datetime, name: str, raw: Any) -> datetime:
    """``moment`` if it lies within EARLIEST_TIME .. a year from now, else a NormalizeError naming ``name`` and
    the value as sent. An order placed in year 1 or 9999 is a typo or an attack, and date arithmetic on it (a
    day before, 24 hours around) leaves the calendar datetime can hold."""
    if EARLIEST_TIME <= moment <= datetime.now(UTC) + LATEST_AHEAD:
        return moment
    raise NormalizeError(
        name,
        gettext("%(field)s: the time %(value)s is not valid: times are from %(earliest)s to a year from now"),
        {"value": shown(raw), "earliest": EARLIEST_TIME.astimezone(CHINA).strftime("%Y-%m-%d")},
    )


def china_time(value: Any, name: str) -> datetime | None:
    """A zone-less "yyyy-MM-dd HH:mm:ss" in China time, as UTC, within :func:`plausible_time`'s window.
    Empty or JD's 0001-01-01 means unset."""
    if value is None:
        return None
    raw = str(value).strip()
    if not raw or raw.startswith("0001-01-01"):
        return None
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M"):
        try:
            moment = datetime.strptime(raw, fmt).replace(tzinfo=CHINA).astimezone(UTC)
        except (ValueError, OverflowError):
            continue
        return plausible_time(moment, name, raw)
    not_a_time = NormalizeError(name, gettext("%(field)s: %(value)s is not a time"), {"value": shown(raw)})
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise not_a_time from exc
    try:
        moment = (parsed if parsed.tzinfo else parsed.replace(tzinfo=CHINA)).astimezone(UTC)
    except OverflowError as exc:  # 9999-12-31T23:59-08:00 is past the last representable UTC time
        raise not_a_time from exc
    return plausible_time(moment, name, raw)


def unix_time(value: Any, name: str, *, millis: bool = False) -> datetime | None:
    """Unix seconds (or milliseconds) as UTC, within :func:`plausible_time`'s window; 0 or empty means unset."""
    if value in (None, "", 0, "0"):
        return None
    number = integer(value, name)
    try:
        moment = datetime.fromtimestamp(number / 1000 if millis else number, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:  # beyond the years datetime can hold
        raise NormalizeError(name, gettext("%(field)s: %(value)s is not a time"), {"value": shown(value)}) from exc
    return plausible_time(moment, name, value)


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
        raise NormalizeError(name, gettext("%(field)s must be a list"), {})
    return value


def as_object(body: Any, name: str = "body") -> dict[str, Any]:
    """The JSON object of a delivered body (text or bytes), or a payload that arrived parsed, checked alike."""
    if isinstance(body, str | bytes):
        body = load_json(body, name)
    check_tree(body, name)
    if not isinstance(body, dict):
        raise NormalizeError(name, gettext("%(field)s must be a JSON object"), {}, label=_label(name))
    return body


# --- the payload itself: depth, characters, numbers -------------------------------------------------


def _label(name: str) -> str | None:
    """How messages call the delivered document as a whole."""
    return gettext("the request body") if name == "body" else None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def load_json(body: str | bytes, name: str = "body", *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON safely: UTF-8, at most ``max_depth`` deep, no NaN or Infinity. Anything else is a
    NormalizeError naming ``name``; never a RecursionError."""
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise NormalizeError(name, gettext("%(field)s is not UTF-8 text"), {}, label=_label(name)) from exc
    try:
        return loads_within(body, max_depth, parse_constant=_refuse_constant)
    except NestedTooDeeplyError as exc:
        raise NormalizeError(
            name, gettext("%(field)s nests deeper than %(max)s levels"), {"max": max_depth}, label=_label(name)
        ) from exc
    except json.JSONDecodeError as exc:
        raise NormalizeError(
            name,
            gettext("%(field)s is not valid JSON (line %(line)s, column %(column)s)"),
            {"line": exc.lineno, "column": exc.colno},
            label=_label(name),
        ) from exc
    except ValueError as exc:  # NaN / Infinity, a number of 5,000 digits
        raise NormalizeError(name, gettext("%(field)s is not valid JSON"), {}, label=_label(name)) from exc


def response_json(response: httpx.Response) -> Any:
    """A platform's order-list answer. Its orders are checked one by one at ingest (a bad one goes to the error
    queue), so the page itself may nest a little deeper than one order may."""
    try:
        return load_json(response.content, "response", max_depth=4 * MAX_DEPTH)
    except NormalizeError as exc:
        raise PullError(str(exc)) from exc


def check_tree(value: Any, name: str = "body") -> None:
    """Refuse a parsed payload that could not be stored or read back: nesting deeper than MAX_DEPTH, a string
    (or key) with a lone surrogate (no encoding can store it) or a NUL (PostgreSQL cannot), a number that is
    not finite."""
    stack: list[tuple[Any, str, int]] = [(value, name, 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise NormalizeError(
                name, gettext("%(field)s nests deeper than %(max)s levels"), {"max": MAX_DEPTH}, label=_label(name)
            )
        if isinstance(item, str):
            match = UNSTORABLE.search(item)
            if match and match.group() == "\x00":
                raise NormalizeError(
                    safe_text(path), gettext("%(field)s contains a NUL character (\\u0000), which cannot be stored"), {}
                )
            if match:
                raise NormalizeError(
                    safe_text(path),
                    gettext("%(field)s contains a character that cannot be stored (a lone surrogate %(code)s)"),
                    {"code": f"\\u{ord(match.group()):04x}"},
                )
        elif isinstance(item, float) and not math.isfinite(item):
            raise NormalizeError(
                path, gettext("%(field)s: %(value)s is not a finite number"), {"value": shown(str(item))}
            )
        elif isinstance(item, dict):
            for key, child in item.items():
                # Paths read as the platform's field names: "payment", "orders[0].num".
                child_path = str(key) if path == name else f"{path}.{key}"
                stack.append((key, child_path, depth + 1))
                stack.append((child, child_path, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item))


def clear_text(value: Any) -> str | None:
    """A receiver value in clear, or None: empty, a mask (``张**``, ``138****5678``) or a platform's ciphertext
    (抖店 ``#…#`` and ``$…$``, 有赞 ``$…$1$``, 快手 ``##…##``) is not."""
    text = str(value or "").strip() if not isinstance(value, dict | list) else ""
    return None if not text or text.startswith(("#", "$")) or "*" in text else text


def masked_text(value: Any) -> str:
    """A receiver value the platform masked (``张**``), for showing; empty for clear text and ciphertext."""
    text = str(value or "").strip() if not isinstance(value, dict | list) else ""
    return text if "*" in text and not text.startswith(("#", "$")) else ""


def is_ciphertext(value: Any) -> bool:
    """A platform's ciphertext or token of a receiver value (``#…#``, ``$…$``)."""
    return isinstance(value, str) and value.strip().startswith(("#", "$")) and len(value.strip()) > 2


#: What an address the platform keeps encrypted, without a masked copy, is shown as.
HIDDEN_ADDRESS = "****"


def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


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
        raise exc.renamed(f"{prefix}.{exc.field}") from exc


def object_at(item: Any, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise NormalizeError(where, gettext("%(field)s must be an object"), {})
    return item


# --- the bounds of a normalised order (every source) ------------------------------------------------

LINE_AMOUNTS = (("unit_price_fen", N_("unit price")), ("paid_fen", N_("amount paid")))
ORDER_AMOUNTS = (
    ("items_fen", N_("item total")),
    ("shipping_fen", N_("shipping")),
    ("discount_fen", N_("discount")),
    ("paid_fen", N_("amount paid")),
)


def quantity(value: Any, field: str, line: int) -> int:
    """A line's quantity, a whole number in 1..MAX_QTY; ``line`` is the line (or file row) number people see."""
    try:
        qty: int | None = integer(value, field)
    except NormalizeError:
        qty = None
    if qty is None or not 1 <= qty <= MAX_QTY:
        raise NormalizeError(
            field,
            gettext("Line %(line)s: quantity %(value)s is not valid: a quantity is a whole number from 1 to %(max)s"),
            {"line": line, "value": shown(value), "max": f"{MAX_QTY:,}"},
        )
    return qty


def check_amount(fen_value: int, field: str, what: str, line: int | None = None) -> None:
    """An amount in fen within 0..MAX_FEN; ``what`` is its (untranslated) label."""
    if 0 <= fen_value <= MAX_FEN:
        return
    values = {"what": gettext(what), "value": templating.yuan(fen_value), "max": templating.yuan(MAX_FEN)}
    if line is None:
        raise NormalizeError(
            field, gettext("Order %(what)s %(value)s is not valid: amounts are from ¥0.00 to %(max)s"), values
        )
    raise NormalizeError(
        field,
        gettext("Line %(line)s: %(what)s %(value)s is not valid: amounts are from ¥0.00 to %(max)s"),
        {**values, "line": line},
    )


def check_order(order: NormalizedOrder) -> NormalizedOrder:
    """Refuse an order outside the bounds every order keeps, whichever adapter read it; the order otherwise."""
    if not 1 <= len(order.external_id) <= MAX_EXTERNAL_ID:
        raise NormalizeError(
            "external_id",
            gettext("Order id %(value)s is not valid: it must have 1 to %(max)s characters"),
            {"value": shown(order.external_id), "max": MAX_EXTERNAL_ID},
        )
    if len(order.lines) > MAX_LINES:
        raise NormalizeError(
            "lines",
            gettext("The order has %(count)s lines; at most %(max)s are accepted"),
            {"count": f"{len(order.lines):,}", "max": f"{MAX_LINES:,}"},
        )
    for number, line in enumerate(order.lines, start=1):
        quantity(line.qty, f"lines[{number - 1}].qty", number)
        for name, what in LINE_AMOUNTS:
            check_amount(getattr(line, name), f"lines[{number - 1}].{name}", what, number)
    for name, what in ORDER_AMOUNTS:
        check_amount(getattr(order, name), name, what)
    if order.discount_fen > order.items_fen + order.shipping_fen:
        # Nobody is paid to take an order: a discount beyond what is charged is a mistake in the payload.
        raise NormalizeError(
            "discount_fen",
            gettext("Order discount %(discount)s is more than its items and shipping together (%(charged)s)"),
            {
                "discount": templating.yuan(order.discount_fen),
                "charged": templating.yuan(order.items_fen + order.shipping_fen),
            },
        )
    return order

"""Reading request parameters that anyone can type into a URL or a form: row ids, whole numbers, money, days and
moments. Each reader says plainly when a value is unusable, so a hostile value is a 400 or a 404, never a 500."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from pathlib import PurePath
from typing import Any, ClassVar

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.handlers.base import BaseRouteHandler

from app.errors import DomainError
from app.i18n import N_

#: The largest row id: PostgreSQL's ``integer`` (the id columns). SQLite's is wider, but the app runs on both.
MAX_ID = 2**31 - 1
#: Days the date filters accept. Outside this nothing is stored, and near the calendar's ends adding a day or
#: moving to another time zone overflows Python's dates.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)

# ASCII only: str.isdigit() and int() also accept other scripts' digits (² passes one and fails the other).
_WHOLE = re.compile(r"[+-]?[0-9]{1,100}")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_YUAN = re.compile(r"[0-9]{1,12}(\.[0-9]{1,2})?")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


class ParameterError(DomainError, ValueError):
    """A parameter that cannot be used; ``field`` names it and the message says why."""

    title = N_("Invalid request")
    # Refused before any handler ran (a guard, a filter): not a form's refusal to show beside the form.
    in_place = False
    messages: ClassVar[Mapping[str, str]] = {
        "bad_day": N_("%(value)s is not a day between %(first)s and %(last)s."),
        "bad_character.address": N_("This address contains a character that cannot be used."),
        "bad_character.form": N_("The form contains a character that cannot be used."),
        "bad_character.body": N_("The request contains a character that cannot be used."),
        "unknown_shop": N_("There is no such shop."),
        "unknown_channel": N_("There is no channel %(value)s."),
        "unknown_status": N_("There is no order status %(value)s."),
        "stale_page": N_("This page link is out of date. Start again from the first page."),
        "bad_limit": N_("%(field)s must be a whole number from 1 to %(maximum)s."),
    }


def is_row_id(value: int) -> bool:
    """Whether ``value`` can be the id of a row (ids start at 1 and fit the id column)."""
    return 1 <= value <= MAX_ID


def parse_id(text: Any) -> int | None:
    """A row id written in ASCII digits, or None when ``text`` cannot be one."""
    value = parse_int(text)
    return value if value is not None and is_row_id(value) else None


def parse_int(text: Any, *, minimum: int | None = None, maximum: int | None = None) -> int | None:
    """A whole number written in ASCII digits (optionally signed) within the bounds, or None."""
    raw = str(text).strip()
    if not _WHOLE.fullmatch(raw):
        return None
    value = int(raw)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        return None
    return value


def parse_decimal(text: Any) -> Decimal | None:
    """A number written in ASCII digits (``3``, ``-2.5``, ``1e3``) as a Decimal, or None. Decimal() alone also
    reads other scripts' digits (٣, １２), underscores (``1_000``) and NaN."""
    raw = str(text).strip()
    return Decimal(raw) if _DECIMAL.fullmatch(raw) else None


def parse_limit(text: str, *, maximum: int, default: int, field: str = "limit") -> int:
    """How many rows a page of an API list holds: ``default`` when not given; a ParameterError unless 1 … maximum."""
    if not text.strip():
        return default
    value = parse_int(text, minimum=1, maximum=maximum)
    if value is None:
        raise ParameterError("bad_limit", field=field, maximum=maximum)
    return value


def parse_fen(text: Any, *, maximum: int) -> int | None:
    """An amount typed in yuan (``12`` or ``12.5`` or ``12.50``) as fen, at most ``maximum`` fen, or None."""
    raw = str(text).strip()
    if not _YUAN.fullmatch(raw):
        return None
    fen = int(Decimal(raw) * 100)
    return fen if fen <= maximum else None


def parse_day(text: str, field: str) -> date | None:
    """A ``yyyy-mm-dd`` from a date picker; None when empty; a ParameterError when it is not a day we keep."""
    raw = text.strip()
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw) if _DAY.fullmatch(raw) else None
    except ValueError:
        day = None
    if day is None or not FIRST_DAY <= day <= LAST_DAY:
        raise ParameterError(
            "bad_day", field=field, value=raw[:40], first=FIRST_DAY.isoformat(), last=LAST_DAY.isoformat()
        )
    return day


def start_of_day(day: date, zone: tzinfo) -> datetime:
    """Midnight at the start of ``day`` in ``zone`` (aware)."""
    return datetime(day.year, day.month, day.day, tzinfo=zone)


def parse_moment(text: str) -> datetime | None:
    """An ISO 8601 moment that names its time zone, in UTC; None when it is garbled, naive or off the calendar."""
    try:
        moment = datetime.fromisoformat(text)
        return moment.astimezone(UTC) if moment.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None


#: A JSON string escape for NUL: ``\u0000`` after an even number of backslashes (an odd one escapes the backslash).
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def usable_parameters(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Guard: a parameter that cannot name anything, or a NUL anywhere, is refused before any handler sees it.

    Routes declare ids as ``{order_id:int}``: the router accepts any size of integer, the database does not, so
    such an id is a 404. A path segment with a NUL byte or longer than file systems allow names no code and no
    file (``open()`` raises on either), also a 404. A NUL in the query string, a form field or a JSON body is a
    400: PostgreSQL refuses it in text. Public routes (the webhooks) judge their own bodies, so that a bad
    delivery is kept in the error queue.
    """
    for value in connection.path_params.values():
        if isinstance(value, bool):
            continue
        if isinstance(value, int) and not is_row_id(value):
            raise NotFoundException()
        if isinstance(value, str | PurePath) and any(
            "\x00" in part or len(part.encode(errors="replace")) > 255 for part in str(value).split("/")
        ):
            raise NotFoundException()
    for name, value in connection.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            raise ParameterError("bad_character", "address", field=name[:40])
    if not isinstance(connection, Request) or connection.method in _SAFE_METHODS:
        return
    content_type, _ = connection.content_type
    if content_type in (RequestEncodingType.URL_ENCODED, RequestEncodingType.MULTI_PART):
        for name, field in (await connection.form()).multi_items():
            if "\x00" in name or (isinstance(field, str) and "\x00" in field):
                raise ParameterError("bad_character", "form", field=name[:40])
    elif not handler.opt.get("public"):
        # Whatever the Content-Type says, a handler's ``data`` is decoded as JSON: text/plain is no way round.
        if _JSON_NUL.search(await connection.body()):
            raise ParameterError("bad_character", "body", field="body")


__all__ = [
    "FIRST_DAY",
    "LAST_DAY",
    "MAX_ID",
    "ParameterError",
    "is_row_id",
    "parse_day",
    "parse_decimal",
    "parse_fen",
    "parse_id",
    "parse_int",
    "parse_limit",
    "parse_moment",
    "start_of_day",
    "usable_parameters",
]

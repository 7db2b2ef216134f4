"""JSON that users send: bodies and form fields nested too deeply get a clear 400, never a RecursionError.

Litestar's msgspec decoder and ``json.loads`` both raise RecursionError (a 500) on input nested about 1,000
deep, and anything that walks a value recursively afterwards would too; so depth is refused at the door.
JSON typed into a form field (a raw condition, a pasted order, an imported flow) may also escape a lone
surrogate or a NUL, which nothing can store or encode, or hold NaN, Infinity or 1e400, which no JSON can write
back (the page's own JSON.parse fails on them): msgspec refuses all of these in bodies, parse_json in fields.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

from litestar.exceptions import ValidationException
from litestar.plugins.htmx import HTMXRequest

from app.i18n import gettext
from ruleflows import nesting_depth

#: Arrays and objects inside one another that a JSON body or field may have (a flow document needs about 50).
MAX_JSON_DEPTH: Final = 128
#: What no stored text may hold: NUL (PostgreSQL text) and lone surrogates (no encoding).
UNSTORABLE: Final = re.compile("[\x00\ud800-\udfff]")


class NestedTooDeeplyError(ValueError):
    """JSON nested deeper than a limit; the message is for the user, in the request's language."""

    def __init__(self, limit: int = MAX_JSON_DEPTH) -> None:
        self.limit = limit
        super().__init__(gettext("The JSON is nested too deeply (more than %(limit)s levels).") % {"limit": limit})


class UnusableJsonError(ValueError):
    """JSON with a NUL or a lone surrogate in a string or key, or a number that is not finite; the message is
    for the user."""


def unusable_part(value: Any) -> str | None:
    """Why a parsed JSON value cannot be kept (the first NUL or lone surrogate in its strings and keys, or a
    number that is not finite), in the reader's language; None when it can."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            match = UNSTORABLE.search(item)
            if match and match.group() == "\x00":
                message = gettext("%(field)s contains a NUL character (\\u0000), which cannot be stored")
                return message % {"field": "JSON"}
            if match:
                message = gettext("%(field)s contains a character that cannot be stored (a lone surrogate %(code)s)")
                return message % {"field": "JSON", "code": f"\\u{ord(match.group()):04x}"}
        elif isinstance(item, float) and not math.isfinite(item):
            return gettext("%(field)s: %(value)s is not a finite number") % {"field": "JSON", "value": str(item)}
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def loads_within(text: str | bytes, max_depth: int = MAX_JSON_DEPTH, **options: Any) -> Any:
    """``json.loads`` (same ``options``, same ValueError for bad JSON) that refuses arrays and objects nested
    deeper than ``max_depth`` with NestedTooDeeplyError, never a RecursionError. The one depth guard for JSON
    from outside: what users type and what platforms deliver."""
    try:
        value = json.loads(text, **options)
    except RecursionError:
        raise NestedTooDeeplyError(max_depth) from None
    if nesting_depth(value, max_depth) > max_depth:
        raise NestedTooDeeplyError(max_depth)
    return value


def parse_json(text: str | bytes) -> Any:
    """``json.loads`` for what users type or upload: ValueError for bad or too deeply nested JSON, and
    UnusableJsonError (a ValueError) for a NUL, a lone surrogate or a number that is not finite in it."""
    value = loads_within(text)
    problem = unusable_part(value)
    if problem is not None:
        raise UnusableJsonError(problem)
    return value


class AppRequest(HTMXRequest):
    """The app's request class: htmx details, and a JSON body nested too deeply is a 400 (invalid request)."""

    async def json(self) -> Any:
        """The decoded JSON body; ValidationException when it is nested deeper than MAX_JSON_DEPTH."""
        try:
            value = await super().json()
        except RecursionError:
            raise _too_deep() from None
        if nesting_depth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
            raise _too_deep()
        return value


def _too_deep() -> ValidationException:
    message = str(NestedTooDeeplyError())
    return ValidationException(detail=message, extra=[{"key": "body", "message": message}])

"""JavaScript-style value coercions that JSON Logic is defined in terms of.

json-logic-qubit uses Python's rules instead (``bool({})`` is False, ``str(None)`` is "None", ``None + 1``
raises TypeError); business rules hit those differences, so every operator of the wrapper goes through here.
"""

from __future__ import annotations

import math
import re
from typing import Any, Final

from ruleflows.errors import LIMIT_SIZE, NAN, LimitExceededError, LogicError

# Numbers JSON Logic engines agree on; JavaScript also reads hex and "Infinity", which no order field needs.
# Possessive quantifiers: the plain \d+\.?\d* backtracks quadratically on a long run of digits that then fails
# (20,000 digits and an "x" took 26 s).
_NUMBER_RE: Final = re.compile(r"[+-]?+(?:\d++(?:\.\d*+)?+|\.\d++)(?:[eE][+-]?+\d++)?+")
_MAX_SAFE_INTEGER: Final = 2**53


def is_number(value: Any) -> bool:
    """True for int and float, but not bool (which Python counts as int)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def truthy(value: Any) -> bool:
    """JSON Logic truthiness: JavaScript's, except that an empty array is false. ``{}`` is true."""
    if value is None or value is False:
        return False
    if value is True:
        return True
    if isinstance(value, int | float):
        return value != 0 and not math.isnan(value)
    if isinstance(value, str | list | tuple):
        return len(value) > 0
    return True


def to_number(value: Any) -> int | float:
    """Coerce like JavaScript's ``Number()``; raise LogicError("NaN") where that would give NaN.

    Arrays and objects are NaN, as the current JSON Logic suites require, rather than JavaScript's
    ``Number([5]) == 5``.
    """
    if value is None or value is False:
        return 0
    if value is True:
        return 1
    if isinstance(value, int | float):
        if isinstance(value, float) and math.isnan(value):
            raise LogicError(NAN)
        return value
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return 0
        if _NUMBER_RE.fullmatch(text) is None:
            raise LogicError(NAN, f"not a number: {value[:40]!r}")
        if any(c in text for c in ".eE") or len(text) > 300:
            # Long digit strings go through float: int() refuses more than 4300 digits.
            return normalise_number(float(text))
        return int(text)
    raise LogicError(NAN, f"not a number: {type(value).__name__}")


def normalise_number(value: int | float) -> int | float:
    """Keep results JSON-stable: integral floats become ints, NaN/inf are errors, huge ints become floats.

    Turning ints past 2**53 into floats also bounds the cost of arithmetic a rule can ask for.
    """
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise LogicError(NAN)
        if value.is_integer() and abs(value) <= _MAX_SAFE_INTEGER:
            return int(value)
        return value
    if abs(value) > _MAX_SAFE_INTEGER:
        return float(value)
    return value


def to_text(value: Any) -> str:
    """Coerce like JavaScript's ``String()``, but with null as "" (as ``cat`` is specified)."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(normalise_number(value)) if value.is_integer() else repr(value)
    if isinstance(value, list | tuple):
        return _joined(value)
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


#: The longest text an array turns into; an array of arrays could otherwise make a text of any size.
MAX_ARRAY_TEXT: Final = 100_000


def _joined(items: list[Any] | tuple[Any, ...]) -> str:
    """JavaScript's ``String(array)``: the items' text joined by commas, refused past MAX_ARRAY_TEXT."""
    parts = []
    length = 0
    for item in items:
        text = to_text(item)
        length += len(text) + 1
        if length > MAX_ARRAY_TEXT:
            raise LimitExceededError(
                f"the text of an array is longer than {MAX_ARRAY_TEXT:,} characters", limit=LIMIT_SIZE
            )
        parts.append(text)
    return ",".join(parts)

"""Order-domain operators registered beside the standard JSON Logic ones.

Every operator is a pure function of its evaluated arguments and the run's clock (``now``), which the
caller passes in: nothing here reads the system time, the network or the database, so the same order gives
the same decision in a simulation, a backtest and production.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Final

from ruleflows.coercion import is_number, normalise_number, to_number, to_text
from ruleflows.errors import INVALID_ARGUMENTS, LogicError
from ruleflows.regions import region_of as province_region

OperationFunction = Callable[[list[Any], datetime | None], Any]

MAX_REGEX_PATTERN_LENGTH: Final = 100
MAX_REGEX_INPUT_LENGTH: Final = 2000

# 13x-19x mobiles; an optional +86/86 prefix; the masked shape flows see ("138****5678") is accepted too,
# because the flow context carries only the masked copy of the phone.
_MOBILE_RE: Final = re.compile(r"(?:\+?86)?1[3-9]\d(?:\d{4}|\*{4})\d{4}")
_PHONE_SEPARATORS: Final = re.compile(r"[\s\-()]")


@dataclass(frozen=True, slots=True)
class DomainOperation:
    """An order-domain operator: its function, argument count and labels for the flow editor."""

    name: str
    function: OperationFunction
    min_args: int
    max_args: int
    label_zh: str
    label_en: str


def _arg(args: list[Any], index: int, default: Any = None) -> Any:
    return args[index] if index < len(args) else default


def parse_time(value: Any) -> datetime:
    """Read an ISO-8601 string (or datetime) as an aware datetime; naive times are taken as UTC."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise LogicError(INVALID_ARGUMENTS, f"not an ISO date-time: {value[:40]!r}") from exc
    else:
        raise LogicError(INVALID_ARGUMENTS, f"not a date-time: {to_text(value)[:40]!r}")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _require_now(now: datetime | None) -> datetime:
    if now is None:
        raise LogicError(INVALID_ARGUMENTS, "this expression needs the run's clock (now) and none was given")
    return parse_time(now)


def mobile_cn(args: list[Any], now: datetime | None) -> bool:
    """True if the argument looks like a mainland-China mobile number (full or masked)."""
    value = _arg(args, 0)
    if not isinstance(value, str | int) or isinstance(value, bool):
        return False
    text = _PHONE_SEPARATORS.sub("", str(value))
    return _MOBILE_RE.fullmatch(text) is not None


def region_of(args: list[Any], now: datetime | None) -> str | None:
    """The region (华东, 华北, ...) of a province, short or full name; null if unknown."""
    value = _arg(args, 0)
    return province_region(value) if isinstance(value, str) else None


def _seconds_between(start: Any, end: Any) -> float:
    return (parse_time(end) - parse_time(start)).total_seconds()


def days_between(args: list[Any], now: datetime | None) -> int | float:
    """Days from the first time to the second (fractional; negative if the second is earlier)."""
    return normalise_number(round(_seconds_between(_arg(args, 0), _arg(args, 1)) / 86400, 6))


def hours_between(args: list[Any], now: datetime | None) -> int | float:
    """Hours from the first time to the second (fractional; negative if the second is earlier)."""
    return normalise_number(round(_seconds_between(_arg(args, 0), _arg(args, 1)) / 3600, 6))


def hours_since(args: list[Any], now: datetime | None) -> int | float:
    """Hours from the given time to the run's ``now``."""
    return normalise_number(round(_seconds_between(_arg(args, 0), _require_now(now)) / 3600, 6))


def now_iso(args: list[Any], now: datetime | None) -> str:
    """The run's clock as an ISO-8601 string."""
    return _require_now(now).isoformat()


def add_hours(args: list[Any], now: datetime | None) -> str:
    """The given time plus a number of hours (may be negative), as an ISO-8601 string."""
    moment = parse_time(_arg(args, 0))
    hours = to_number(_arg(args, 1, 0))
    if abs(hours) > 24 * 366 * 10:
        raise LogicError(INVALID_ARGUMENTS, "hours out of range")
    return (moment + timedelta(hours=hours)).isoformat()


def regex_problem(pattern: str) -> str | None:
    """Why a pattern is refused (too long, invalid, or prone to catastrophic backtracking), or None.

    Python's ``re`` has no timeout, so patterns that can backtrack exponentially are refused up front: a
    repeated group that itself contains a repetition or an alternative (``(a+)+``, ``(a|aa)*``), and
    backreferences.
    """
    if len(pattern) > MAX_REGEX_PATTERN_LENGTH:
        return f"pattern longer than {MAX_REGEX_PATTERN_LENGTH} characters"
    if re.search(r"\\[1-9]|\(\?P=", pattern):
        return "backreferences are not allowed"
    # Each open group records whether it holds a repetition or an alternative.
    stack: list[bool] = []
    risky_group_closed = False
    in_class = False
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            risky_group_closed = False
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            risky_group_closed = False
        elif char == "(":
            stack.append(False)
            risky_group_closed = False
        elif char == ")":
            if not stack:
                break  # unbalanced: re.compile reports it below
            risky_group_closed = stack.pop()
            if stack and risky_group_closed:
                stack[-1] = True
            index += 1
            continue
        elif char in "*+{":
            if risky_group_closed:
                return "a repeated group may not contain another repetition or alternative"
            if stack:
                stack[-1] = True
        elif char == "|" and stack:
            stack[-1] = True
        elif char != "?":
            risky_group_closed = False
        index += 1
    try:
        _compile(pattern)
    except re.error as exc:
        return f"invalid pattern: {exc}"
    return None


@lru_cache(maxsize=256)
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def regex_match(args: list[Any], now: datetime | None) -> bool:
    """True if the pattern matches anywhere in the text (a bounded ``re.search``)."""
    pattern, text = _arg(args, 0), _arg(args, 1)
    if not isinstance(pattern, str):
        raise LogicError(INVALID_ARGUMENTS, "regex pattern must be a string")
    problem = regex_problem(pattern)
    if problem is not None:
        raise LogicError(INVALID_ARGUMENTS, problem)
    subject = to_text(text)
    if len(subject) > MAX_REGEX_INPUT_LENGTH:
        raise LogicError(INVALID_ARGUMENTS, f"text longer than {MAX_REGEX_INPUT_LENGTH} characters")
    return _compile(pattern).search(subject) is not None


def _lines(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise LogicError(INVALID_ARGUMENTS, "expected the order's lines (an array)")
    return [line for line in value if isinstance(line, dict)]


def any_line_in_category(args: list[Any], now: datetime | None) -> bool:
    """True if any order line's ``category`` equals the category (or one of a list of categories)."""
    wanted = _arg(args, 1)
    categories = set(map(str, wanted)) if isinstance(wanted, list) else {to_text(wanted)}
    return any(to_text(line.get("category")) in categories for line in _lines(_arg(args, 0)))


def lines_sum(args: list[Any], now: datetime | None) -> int | float:
    """Sum of one numeric field over the order lines, e.g. total ``qty`` or ``paid_fen``."""
    field = to_text(_arg(args, 1, "qty"))
    total: int | float = 0
    for line in _lines(_arg(args, 0)):
        total += to_number(line.get(field))
    return normalise_number(total)


def lines_count(args: list[Any], now: datetime | None) -> int:
    """Number of order lines; with a field and a value, the number of lines whose field equals it."""
    lines = _lines(_arg(args, 0))
    if len(args) < 2:
        return len(lines)
    field, wanted = to_text(args[1]), _arg(args, 2, True)
    return sum(1 for line in lines if _same_value(line.get(field), wanted))


def _same_value(left: Any, right: Any) -> bool:
    if is_number(left) and is_number(right):
        return bool(left == right)
    return type(left) is type(right) and bool(left == right)


DOMAIN_OPERATIONS: Final[Mapping[str, DomainOperation]] = MappingProxyType(
    {
        op.name: op
        for op in (
            DomainOperation("mobile_cn", mobile_cn, 1, 1, "是有效的手机号", "is a valid Chinese mobile number"),
            DomainOperation("region_of", region_of, 1, 1, "省份所属大区", "region of province"),
            DomainOperation("days_between", days_between, 2, 2, "相隔天数", "days between"),
            DomainOperation("hours_between", hours_between, 2, 2, "相隔小时数", "hours between"),
            DomainOperation("hours_since", hours_since, 1, 1, "距今小时数", "hours since"),
            DomainOperation("now", now_iso, 0, 0, "当前时间", "now"),
            DomainOperation("add_hours", add_hours, 2, 2, "时间加小时", "add hours to a time"),
            DomainOperation("regex_match", regex_match, 2, 2, "匹配正则表达式", "matches regular expression"),
            DomainOperation(
                "any_line_in_category", any_line_in_category, 2, 2, "任一商品属于类目", "any line in category"
            ),
            DomainOperation("lines_sum", lines_sum, 1, 2, "商品行字段求和", "sum of a line field"),
            DomainOperation("lines_count", lines_count, 1, 3, "商品行计数", "count of lines"),
        )
    }
)

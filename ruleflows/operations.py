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

import re2

from ruleflows.coercion import is_number, normalise_number, to_number, to_text
from ruleflows.errors import INVALID_ARGUMENTS, LogicError
from ruleflows.regions import region_of as province_region

OperationFunction = Callable[[list[Any], datetime | None], Any]
#: Evaluation steps an operation costs beyond the size of its arguments, from its (evaluated) arguments.
OperationCost = Callable[[list[Any]], int]

MAX_REGEX_PATTERN_LENGTH: Final = 100
MAX_REGEX_INPUT_LENGTH: Final = 2000
# RE2 refuses patterns whose compiled program would need more memory than this.
MAX_REGEX_PROGRAM_BYTES: Final = 256 * 1024
# No province name, phone number or ISO time is longer; longer text is answered without scanning it.
MAX_PROVINCE_LENGTH: Final = 16
MAX_PHONE_LENGTH: Final = 32
MAX_TIME_LENGTH: Final = 64

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
    cost: OperationCost | None = None


def _arg(args: list[Any], index: int, default: Any = None) -> Any:
    return args[index] if index < len(args) else default


def parse_time(value: Any) -> datetime:
    """Read an ISO-8601 string (or datetime) as an aware datetime; naive times are taken as UTC."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        if len(value) > MAX_TIME_LENGTH:
            raise LogicError(INVALID_ARGUMENTS, f"not an ISO date-time: {value[:40]!r}")
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise LogicError(INVALID_ARGUMENTS, f"not an ISO date-time: {value[:40]!r}") from exc
    else:
        shown = type(value).__name__ if isinstance(value, list | dict) else to_text(value)[:40]
        raise LogicError(INVALID_ARGUMENTS, f"not a date-time: {shown!r}")
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
    if isinstance(value, str) and len(value) > MAX_PHONE_LENGTH:
        return False
    text = _PHONE_SEPARATORS.sub("", str(value))
    return _MOBILE_RE.fullmatch(text) is not None


def region_of(args: list[Any], now: datetime | None) -> str | None:
    """The region (华东, 华北, ...) of a province, short or full name; null if unknown."""
    value = _arg(args, 0)
    if not isinstance(value, str) or len(value) > MAX_PROVINCE_LENGTH:
        return None
    return province_region(value)


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


def regex_problem(pattern: str) -> tuple[str, str] | None:
    """Why a pattern is refused, as (Chinese, English), or None when it can be used.

    Patterns are matched by RE2, which runs in time linear in the text whatever the pattern, so nothing is
    refused for being "risky": only what RE2 cannot compile (backreferences, lookaround, a program past the
    memory limit) and what is too long.
    """
    if len(pattern) > MAX_REGEX_PATTERN_LENGTH:
        return (
            f"正则表达式不能超过 {MAX_REGEX_PATTERN_LENGTH} 个字符",
            f"the pattern is longer than {MAX_REGEX_PATTERN_LENGTH} characters",
        )
    return _compiled(pattern)[1]


def _explain_regex_error(exc: Exception) -> tuple[str, str]:
    raw = exc.args[0] if exc.args else ""
    reason = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
    if "invalid escape sequence: \\k" in reason or re.search(r"invalid escape sequence: \\[1-9]", reason):
        return (
            "不支持反向引用（如 \\1）：只接受能在线性时间内匹配的写法",
            "backreferences (such as \\1) are not supported: only patterns that match in linear time are",
        )
    if "invalid perl operator: (?=" in reason or "(?!" in reason or "(?<=" in reason or "(?<!" in reason:
        return (
            "不支持前后断言（如 (?=…)、(?<=…)、(?!…)）：只接受能在线性时间内匹配的写法",
            "lookahead and lookbehind ((?=…), (?<=…), (?!…)) are not supported: only patterns that match in "
            "linear time are",
        )
    if "invalid perl operator: (?P=" in reason or "(?P>" in reason:
        return ("不支持命名反向引用（如 (?P=name)）", "named backreferences such as (?P=name) are not supported")
    if "pattern too large" in reason:
        return ("正则表达式过于复杂，请写得简单一些", "the pattern is too complex; make it simpler")
    if "invalid repetition size" in reason:
        return ("重复次数过大（每处最多 1000 次）", "a repetition count is too large (at most 1000)")
    return (f"写法有误（{reason}）", f"invalid pattern ({reason})")


# Python spellings RE2 does not know, rewritten to RE2's: \uXXXX and the end-of-text anchor \Z. An escaped
# backslash is matched first, so "\\u" stays a backslash followed by "u".
_PYTHON_ESCAPES: Final = re.compile(r"\\(\\|u([0-9a-fA-F]{4})|Z)")


def _re2_spelling(pattern: str) -> str:
    def rewrite(match: re.Match[str]) -> str:
        if match.group(1) == "Z":
            return r"\z"
        if match.group(2):
            return "\\x{" + match.group(2) + "}"
        return match.group(0)

    return _PYTHON_ESCAPES.sub(rewrite, pattern)


def _re2_options() -> Any:
    options = re2.Options()
    options.max_mem = MAX_REGEX_PROGRAM_BYTES
    options.log_errors = False  # a refused pattern is reported to the user, not logged by the C++ library
    return options


_RE2_OPTIONS: Final = _re2_options()


@lru_cache(maxsize=128)
def _compiled(pattern: str) -> tuple[Any, tuple[str, str] | None]:
    """(RE2 program, None) or (None, why it is refused); refusals are kept too, as failing costs the most."""
    try:
        return re2.compile(_re2_spelling(pattern), _RE2_OPTIONS), None
    except re2.error as exc:
        return None, _explain_regex_error(exc)


def regex_match(args: list[Any], now: datetime | None) -> bool:
    """True if the pattern matches anywhere in the text (RE2: linear in the text's length)."""
    pattern, text = _arg(args, 0), _arg(args, 1)
    if not isinstance(pattern, str):
        raise LogicError(INVALID_ARGUMENTS, "regex pattern must be a string")
    problem = regex_problem(pattern)
    if problem is not None:
        raise LogicError(INVALID_ARGUMENTS, problem[1])
    subject = text if isinstance(text, str) else _scalar_text(text)
    if len(subject) > MAX_REGEX_INPUT_LENGTH:
        raise LogicError(INVALID_ARGUMENTS, f"text longer than {MAX_REGEX_INPUT_LENGTH} characters")
    return _compiled(pattern)[0].search(subject) is not None


def regex_cost(args: list[Any]) -> int:
    """RE2 takes time linear in the text times the pattern's size, plus compiling the pattern: that is the
    cost, whether or not the compiled pattern is cached (so a rule's budget never depends on the cache)."""
    pattern, text = _arg(args, 0), _arg(args, 1)
    pattern_length = len(pattern) if isinstance(pattern, str) else 0
    text_length = len(text) if isinstance(text, str) else 0
    return pattern_length * 16 + (text_length + 1) * (pattern_length + 1) // 32


def _scalar_text(value: Any) -> str:
    """Text of a scalar; arrays and objects are refused rather than joined (their text could be huge)."""
    if isinstance(value, list | dict):
        raise LogicError(INVALID_ARGUMENTS, "expected text, not an array or object")
    return to_text(value)


def _lines(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise LogicError(INVALID_ARGUMENTS, "expected the order's lines (an array)")
    return [line for line in value if isinstance(line, dict)]


def any_line_in_category(args: list[Any], now: datetime | None) -> bool:
    """True if any order line's ``category`` equals the category (or one of a list of categories)."""
    wanted = _arg(args, 1)
    categories = {_scalar_text(c) for c in wanted} if isinstance(wanted, list) else {_scalar_text(wanted)}
    return any(_category_of(line) in categories for line in _lines(_arg(args, 0)))


def _category_of(line: dict[str, Any]) -> str | None:
    category = line.get("category")
    return None if isinstance(category, list | dict) else to_text(category)


def lines_sum(args: list[Any], now: datetime | None) -> int | float:
    """Sum of one numeric field over the order lines, e.g. total ``qty`` or ``paid_fen``."""
    field = _scalar_text(_arg(args, 1, "qty"))
    total: int | float = 0
    for line in _lines(_arg(args, 0)):
        total += to_number(line.get(field))
    return normalise_number(total)


def lines_count(args: list[Any], now: datetime | None) -> int:
    """Number of order lines; with a field and a value, the number of lines whose field equals it."""
    lines = _lines(_arg(args, 0))
    if len(args) < 2:
        return len(lines)
    field, wanted = _scalar_text(args[1]), _arg(args, 2, True)
    if isinstance(wanted, list | dict):
        # Comparing containers would cost their whole size for every line.
        raise LogicError(INVALID_ARGUMENTS, "the value to count must be text, a number or true/false")
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
            DomainOperation(
                "regex_match", regex_match, 2, 2, "匹配正则表达式", "matches regular expression", cost=regex_cost
            ),
            DomainOperation(
                "any_line_in_category", any_line_in_category, 2, 2, "任一商品属于类目", "any line in category"
            ),
            DomainOperation("lines_sum", lines_sum, 1, 2, "商品行字段求和", "sum of a line field"),
            DomainOperation("lines_count", lines_count, 1, 3, "商品行计数", "count of lines"),
        )
    }
)

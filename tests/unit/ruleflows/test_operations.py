"""Order-domain operators: pure, deterministic, and safe on bad input."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from ruleflows import evaluate
from ruleflows.errors import LogicError
from ruleflows.operations import regex_problem
from ruleflows.regions import PROVINCE_FULL_NAMES, PROVINCES, REGIONS, region_of

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
LINES = [
    {"sku": "A", "qty": 2, "paid_fen": 1000, "category": "3C", "is_gift": False},
    {"sku": "B", "qty": 1, "paid_fen": 500, "category": "食品", "is_gift": False},
    {"sku": "G", "qty": 1, "paid_fen": 0, "category": "赠品", "is_gift": True},
]


@pytest.mark.parametrize(
    ("phone", "valid"),
    [
        ("13812345678", True),
        ("138****5678", True),
        ("+86 138 1234 5678", True),
        ("8613812345678", True),
        ("12812345678", False),
        ("1381234567", False),
        ("021-5555", False),
        ("", False),
        (None, False),
        (13812345678, True),
        ("138****567", False),
    ],
)
def test_mobile_cn_checks_mainland_mobile_numbers(phone: Any, valid: bool) -> None:
    assert evaluate({"mobile_cn": [phone]}) is valid


def test_all_34_provincial_divisions_have_a_region_by_short_and_full_name() -> None:
    assert len(PROVINCES) == len(PROVINCE_FULL_NAMES) == 34
    for short, full in zip(PROVINCES, PROVINCE_FULL_NAMES, strict=True):
        assert region_of(short) in REGIONS
        assert region_of(short) == region_of(full)


@pytest.mark.parametrize(
    ("province", "region"),
    [
        ("上海", "华东"),
        ("上海市", "华东"),
        ("广西", "华南"),
        ("广西壮族自治区", "华南"),
        ("内蒙古", "华北"),
        ("新疆维吾尔自治区", "西北"),
        ("黑龙江省", "东北"),
        ("湖北", "华中"),
        ("西藏", "西南"),
        ("香港", "华南"),
        (" 浙江省 ", "华东"),
        ("火星", None),
    ],
)
def test_region_of_accepts_short_and_full_names(province: str, region: str | None) -> None:
    assert evaluate({"region_of": [province]}) == region


def test_region_of_something_that_is_not_text_is_null() -> None:
    assert evaluate({"region_of": [None]}) is None


def test_days_and_hours_between_iso_times() -> None:
    a, b = "2026-11-24T10:00:00+00:00", "2026-11-26T18:00:00+08:00"
    assert evaluate({"days_between": [a, b]}) == 2
    assert evaluate({"hours_between": [a, b]}) == 48
    assert evaluate({"hours_between": [b, a]}) == -48


def test_naive_times_are_read_as_utc() -> None:
    assert evaluate({"hours_between": ["2026-11-26T00:00:00", "2026-11-26T01:30:00Z"]}) == 1.5


def test_hours_since_uses_the_clock_passed_in() -> None:
    assert evaluate({"hours_since": [{"var": "t"}]}, {"t": "2026-11-26T04:00:00Z"}, now=NOW) == 6


def test_add_hours_computes_a_time() -> None:
    assert evaluate({"add_hours": ["2026-11-26T10:00:00+00:00", 24]}) == "2026-11-27T10:00:00+00:00"


def test_a_bad_time_is_a_logic_error() -> None:
    with pytest.raises(LogicError):
        evaluate({"days_between": ["yesterday", "2026-11-26"]})


def test_regex_match_searches_text() -> None:
    assert evaluate({"regex_match": ["发票|开票", {"var": "m"}]}, {"m": "请开发票"}) is True
    assert evaluate({"regex_match": ["^VIP", "普通"]}) is False


@pytest.mark.parametrize("pattern", [r"(a)\1", "(?=a)a", "(?<=a)b", "(?!x)a", "(?P<n>a)(?P=n)", "a" * 101, "(("])
def test_regex_refuses_backreferences_lookaround_long_or_invalid_patterns(pattern: str) -> None:
    assert regex_problem(pattern) is not None
    with pytest.raises(LogicError):
        evaluate({"regex_match": [pattern, "aaaa"]})


@pytest.mark.parametrize(
    "pattern",
    [r"^\d{11}$", "[a-z]+@[a-z]+", "(ab)?c", "(foo|bar)", r"^1[3-9]\d{9}$", r"[\u4e00-\u9fa5]+", r"\p{Han}{2}"],
)
def test_regex_accepts_ordinary_patterns(pattern: str) -> None:
    assert regex_problem(pattern) is None


def test_python_spellings_of_unicode_escapes_and_end_of_text_still_work() -> None:
    assert evaluate({"regex_match": [r"^[\u4e00-\u9fa5]+\Z", "开发票"]}) is True
    assert evaluate({"regex_match": [r"^[\u4e00-\u9fa5]+\Z", "开发票 ok"]}) is False
    assert evaluate({"regex_match": [r"\\u4e00", "\\u4e00"]}) is True  # an escaped backslash stays one


def test_backreferences_and_lookaround_are_explained_in_chinese() -> None:
    assert "反向引用" in (regex_problem(r"(a)\1") or ("", ""))[0]
    assert "断言" in (regex_problem("(?=a)") or ("", ""))[0]
    assert "断言" in (regex_problem("(?<!a)b") or ("", ""))[0]


@pytest.mark.parametrize("pattern", ["(a+)+$", "(a|aa)*b", "(x*)*y", "(?:(ab)+)+c", r"\d*\d*\d*\d*x"])
def test_patterns_that_backtrack_elsewhere_match_in_linear_time(pattern: str) -> None:
    assert regex_problem(pattern) is None
    started = time.thread_time()
    assert evaluate({"regex_match": [pattern, "a1" * 999 + "!"]}) is False
    assert time.thread_time() - started < 0.1


def test_regex_refuses_overlong_input() -> None:
    with pytest.raises(LogicError):
        evaluate({"regex_match": ["a", "b" * 5000]})


def test_any_line_in_category() -> None:
    data = {"lines": LINES}
    assert evaluate({"any_line_in_category": [{"var": "lines"}, "3C"]}, data) is True
    assert evaluate({"any_line_in_category": [{"var": "lines"}, ["家电", "食品"]]}, data) is True
    assert evaluate({"any_line_in_category": [{"var": "lines"}, "家电"]}, data) is False
    assert evaluate({"any_line_in_category": [{"var": "missing"}, "家电"]}, data) is False


def test_lines_sum_and_count() -> None:
    data = {"lines": LINES}
    assert evaluate({"lines_sum": [{"var": "lines"}, "qty"]}, data) == 4
    assert evaluate({"lines_sum": [{"var": "lines"}, "paid_fen"]}, data) == 1500
    assert evaluate({"lines_count": [{"var": "lines"}]}, data) == 3
    assert evaluate({"lines_count": [{"var": "lines"}, "is_gift", True]}, data) == 1
    assert evaluate({"lines_count": [{"var": "lines"}, "category", "3C"]}, data) == 1


def test_lines_operations_refuse_something_that_is_not_lines() -> None:
    with pytest.raises(LogicError):
        evaluate({"lines_sum": ["not lines", "qty"]})

"""The wrapper corrects json-logic-qubit where it departs from the JSON Logic standard."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from json_logic import jsonLogic

from ruleflows import evaluate
from ruleflows.errors import LogicError


@pytest.mark.parametrize(
    ("logic", "expected"),
    [
        ({"<": [1, 2, 3]}, True),
        ({"<": [1, 3, 2]}, False),
        ({">": [3, 2, 1]}, True),
        ({">=": [3, 3, 1]}, True),
        ({"==": [3, 3, 3]}, True),
    ],
)
def test_comparisons_take_three_or_more_arguments(logic: dict[str, Any], expected: bool) -> None:
    assert evaluate(logic) is expected


def test_qubit_itself_rejects_three_way_greater_than() -> None:
    with pytest.raises(TypeError):
        jsonLogic({">": [3, 2, 1]})


@pytest.mark.parametrize(
    ("logic", "expected"),
    [
        ({"+": [None, 1]}, 1),
        ({"+": ["", 2]}, 2),
        ({"*": [{"var": "missing"}, 5]}, 0),
        ({"-": [10, None]}, 10),
    ],
)
def test_arithmetic_on_null_or_empty_text_counts_as_zero(logic: dict[str, Any], expected: int) -> None:
    assert evaluate(logic, {}) == expected


def test_cat_writes_null_as_empty_and_booleans_in_lowercase() -> None:
    assert evaluate({"cat": ["a", None, True, False, 1.5, 2.0]}) == "atruefalse1.52"


def test_an_empty_object_is_truthy_and_an_empty_array_is_not() -> None:
    assert evaluate({"!!": [{}]}) is True
    assert evaluate({"!!": [[]]}) is False
    assert evaluate({"if": [{"var": "x"}, "yes", "no"]}, {"x": {}}) == "yes"


@pytest.mark.parametrize("data", [0, False, "", [], None])
def test_falsy_data_is_kept_as_it_is(data: Any) -> None:
    assert evaluate({"var": ""}, data) == data


def test_var_reads_zero_and_false_rather_than_the_default() -> None:
    assert evaluate({"var": ["n", 9]}, {"n": 0}) == 0
    assert evaluate({"var": ["flag", True]}, {"flag": False}) is False


def test_var_reads_array_items_by_index() -> None:
    assert evaluate({"var": "order.lines.1.sku"}, {"order": {"lines": [{"sku": "A"}, {"sku": "B"}]}}) == "B"


def test_division_by_zero_is_a_nan_error_that_try_can_catch() -> None:
    with pytest.raises(LogicError) as caught:
        evaluate({"/": [1, 0]})
    assert caught.value.type == "NaN"
    assert evaluate({"try": [{"/": [1, 0]}, "fallback"]}) == "fallback"


def test_in_uses_strict_equality_for_arrays() -> None:
    assert evaluate({"in": [1, [True]]}) is False
    assert evaluate({"in": [1, "a1b"]}) is True


def test_newer_operators_work() -> None:
    data = {"order": {"presale": None, "tags": ["vip"]}}
    assert evaluate({"??": [{"var": "order.presale"}, "none"]}, data) == "none"
    assert evaluate({"exists": ["order", "tags"]}, data) is True
    assert evaluate({"val": ["order", "tags", 0]}, data) == "vip"
    with pytest.raises(LogicError):
        evaluate({"throw": "stop"})


def test_evaluate_never_reads_the_system_clock() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert evaluate({"now": []}, now=now) == "2030-01-01T00:00:00+00:00"
    with pytest.raises(LogicError):
        evaluate({"now": []})


def test_evaluate_does_not_change_the_data() -> None:
    data = {"xs": [3, 1, 2], "o": {"a": 1}}
    evaluate({"merge": [{"var": "xs"}, [4]]}, data)
    evaluate({"map": [{"var": "xs"}, {"+": [{"var": ""}, 1]}]}, data)
    assert data == {"xs": [3, 1, 2], "o": {"a": 1}}

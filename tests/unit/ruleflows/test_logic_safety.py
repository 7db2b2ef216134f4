"""``method`` and every operator outside the allow-list are refused at validation and at run time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import json_logic
import pytest

from ruleflows import ALLOWED_OPERATORS, evaluate, run, validate
from ruleflows.errors import LimitExceededError, RefusedOperatorError
from ruleflows.logic import MAX_EVALUATION_DEPTH

ATTACKS = [
    {"method": [{"var": ""}, "__class__"]},
    {"method": ["", "__class__"]},
    {"method": [{"var": "order"}, "clear"]},
    {"!!": {"method": [{"var": ""}, "__class__"]}},
    {"and": [True, {"or": [False, {"method": ["x", "upper"]}]}]},
    {"map": [[1, 2], {"method": [{"var": ""}, "__class__"]}]},
    {"try": [{"method": ["x", "upper"]}, 1]},
    {"if": [True, {"cat": [{"method": [{"var": ""}, "__init__"]}]}, 0]},
    {"datetime.datetime.now": []},
    {"count": [1, 2]},
    {"__import__": ["os"]},
    {"log.__class__": ["x"]},
]


def flow_with(logic: Any, *, param: Any = None, action: str = "add_tag", params: Any = None) -> dict[str, Any]:
    """A small valid flow whose condition is ``logic``; ``param`` replaces the tag param when given, ``action``
    and ``params`` the action that adds the tag."""
    return {
        "schema": 1,
        "name": "t",
        "trigger": "order.received",
        "nodes": [
            {"id": "s", "type": "start", "name": "开始"},
            {"id": "c", "type": "condition", "name": "条件", "config": {"logic": logic}},
            {
                "id": "a",
                "type": "action",
                "name": "加标签",
                "config": {
                    "action": action,
                    "params": params if params is not None else {"tag": param if param is not None else "x"},
                },
            },
            {"id": "e", "type": "end", "name": "结束"},
        ],
        "edges": [
            {"id": "e1", "source": "s", "target": "c", "port": "next"},
            {"id": "e2", "source": "c", "target": "a", "port": "true"},
            {"id": "e3", "source": "c", "target": "e", "port": "false"},
            {"id": "e4", "source": "a", "target": "e", "port": "next"},
        ],
    }


def test_method_is_not_an_allowed_operator() -> None:
    assert "method" not in ALLOWED_OPERATORS
    assert "count" not in ALLOWED_OPERATORS


@pytest.mark.parametrize("logic", ATTACKS)
def test_it_refuses_the_operator_when_evaluating(logic: dict[str, Any]) -> None:
    data = {"order": {"x": 1}}
    with pytest.raises(RefusedOperatorError):
        evaluate(logic, data)
    assert data == {"order": {"x": 1}}


@pytest.mark.parametrize("logic", ATTACKS)
def test_validation_reports_the_refused_operator(logic: dict[str, Any]) -> None:
    codes = [problem.code for problem in validate(flow_with(logic))]
    assert "operator_not_allowed" in codes


@pytest.mark.parametrize("logic", ATTACKS)
def test_validation_reports_it_inside_action_params(logic: dict[str, Any]) -> None:
    problems = validate(flow_with(True, param=logic))
    assert any(p.code == "operator_not_allowed" and p.node_id == "a" for p in problems)


@pytest.mark.parametrize("logic", ATTACKS)
def test_run_refuses_it_and_reports_the_node(
    logic: dict[str, Any],
    make_context: Callable[..., dict[str, Any]],
    now: datetime,
) -> None:
    context = make_context()
    result = run(flow_with(logic), context, now=now)
    assert result.status == "failed"
    assert any(p.code == "operator_not_allowed" for p in result.problems)
    assert result.actions == []


def test_try_cannot_swallow_a_refused_operator() -> None:
    with pytest.raises(RefusedOperatorError):
        evaluate({"try": [{"method": ["x", "upper"]}, "fallback"]})


def test_adding_method_back_to_json_logic_does_not_reach_the_wrapper() -> None:
    json_logic.add_operation("sneaky", lambda *args: "reached")
    try:
        assert "sneaky" in json_logic.operations
        with pytest.raises(RefusedOperatorError):
            evaluate({"sneaky": []})
        with pytest.raises(RefusedOperatorError):
            evaluate({"method": ["x", "upper"]})
    finally:
        json_logic.rm_operation("sneaky")


def test_a_literal_object_with_several_keys_is_data_not_an_operation() -> None:
    value = {"method": ["x", "upper"], "other": 1}
    assert evaluate({"if": [True, value, None]}) == value


def test_preserve_returns_its_argument_without_evaluating_it() -> None:
    assert evaluate({"preserve": {"method": ["x", "upper"]}}) == {"method": ["x", "upper"]}


def test_deep_nesting_stops_at_the_depth_limit() -> None:
    logic: Any = 1
    for _ in range(MAX_EVALUATION_DEPTH + 5):
        logic = {"+": [logic]}
    with pytest.raises(LimitExceededError):
        evaluate(logic)


def test_runaway_iteration_stops_at_the_step_budget() -> None:
    big = list(range(2000))
    logic = {"map": [big, {"map": [big, {"+": [{"var": ""}, 1]}]}]}
    with pytest.raises(LimitExceededError):
        evaluate(logic, max_steps=10_000)


def test_string_blow_up_is_stopped() -> None:
    logic = {"reduce": [list(range(40)), {"cat": [{"var": "accumulator"}, {"var": "accumulator"}]}, "ab"]}
    with pytest.raises(LimitExceededError):
        evaluate(logic)

"""Compiled rules never disagree with the interpreter: same result or same error, same trace of a run."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_jsonlogic_suites import SUITES, suite_files
from test_properties import NOW, contexts, expressions, flows, json_values

from ruleflows import compile_flow, compile_logic, evaluate, list_templates, load_template, run
from ruleflows.compiler import compile_expression
from ruleflows.errors import LimitExceededError, LogicError, RefusedOperatorError, RuleError
from ruleflows.logic import MAX_EVALUATION_STEPS, Evaluation
from tests.perf.bench_ruleflows import sample_contexts


def same(left: Any, right: Any) -> bool:
    """Equal values of equal types, all the way down (True is not 1, 1 is not 1.0)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, list):
        return len(left) == len(right) and all(map(same, left, right))
    if isinstance(left, dict):
        return list(left) == list(right) and all(same(left[key], right[key]) for key in left)
    if isinstance(left, float) and math.isnan(left):
        return math.isnan(right)
    return bool(left == right)


def outcome(logic: Any, data: Any, *, compiled: bool, **limits: Any) -> tuple[Any, ...]:
    """What evaluating gives, as a comparable value: the result, or the error with what identifies it."""
    try:
        if compiled:
            value = compile_logic(logic).evaluate(data, now=NOW, **limits)
        else:
            value = evaluate(logic, data, now=NOW, **limits)
    except LogicError as exc:
        return ("LogicError", json.dumps(exc.payload, sort_keys=True, default=repr), str(exc))
    except LimitExceededError as exc:
        return ("LimitExceededError", exc.limit, str(exc))
    except RefusedOperatorError as exc:
        return ("RefusedOperatorError", exc.operator)
    return ("value", value)


def spent(logic: Any, data: Any, *, compiled: bool, max_steps: int) -> tuple[int, dict[str, Any] | None]:
    """The steps an evaluation spent and the root fields it read, whether it succeeded or not."""
    evaluation = Evaluation(NOW, max_steps=max_steps, record_reads=True)
    try:
        evaluation.evaluate(logic, data, compile_expression(logic) if compiled else None)
    except RuleError:
        pass
    return max(evaluation.steps_left, -1), evaluation.reads


def assert_same_outcome(logic: Any, data: Any, **limits: Any) -> None:
    interpreted = outcome(logic, data, compiled=False, **limits)
    compiled = outcome(logic, data, compiled=True, **limits)
    assert interpreted[0] == compiled[0], (logic, data, interpreted, compiled)
    if interpreted[0] == "value":
        assert same(interpreted[1], compiled[1]), (logic, data, interpreted, compiled)
    else:
        assert interpreted == compiled, (logic, data)
    if "time_limit" not in limits:
        max_steps = limits.get("max_steps", MAX_EVALUATION_STEPS)
        steps, reads = spent(logic, data, compiled=False, max_steps=max_steps)
        compiled_steps, compiled_reads = spent(logic, data, compiled=True, max_steps=max_steps)
        assert steps == compiled_steps, ("steps spent", logic, data)
        assert reads is not None and compiled_reads is not None
        assert list(reads) == list(compiled_reads), ("fields read", logic, data)
        assert all(same(reads[key], compiled_reads[key]) for key in reads), ("values read", logic, data)


def suite_cases() -> list[tuple[str, int, dict[str, Any]]]:
    cases = []
    for name in suite_files():
        entries = json.loads((SUITES / name).read_text(encoding="utf-8"))
        cases += [(name, index, entry) for index, entry in enumerate(entries) if isinstance(entry, dict)]
    return cases


def test_every_case_of_the_json_logic_suites_gives_the_interpreters_result_or_error() -> None:
    cases = suite_cases()
    assert len(cases) == 1138
    for _name, _index, case in cases:
        assert_same_outcome(case["rule"], case.get("data"))


@pytest.mark.parametrize("max_steps", [1, 3, 7, 20])
def test_the_suites_run_out_of_steps_at_the_same_point_compiled_or_interpreted(max_steps: int) -> None:
    for _name, _index, case in suite_cases():
        assert_same_outcome(case["rule"], case.get("data"), max_steps=max_steps)


DATA = st.fixed_dictionaries(
    {
        "a": json_values,
        "n": st.integers(-5, 5) | st.floats(-10, 10, allow_nan=False),
        "s": st.sampled_from(["", "abc", "3C", "a.b", "华东"]),
        "items": st.lists(st.integers(-3, 3) | st.sampled_from(["x", None]), max_size=5),
        "rows": st.lists(
            st.fixed_dictionaries({"qty": st.integers(0, 3), "category": st.sampled_from(["3C", "家居"])})
        ),
        "nested": st.fixed_dictionaries({"deep": st.fixed_dictionaries({"value": json_values})}),
    }
)
ROOT_PATHS = ["a", "n", "s", "items", "items.0", "items.9", "rows", "rows.0.qty", "nested.deep.value", "", 0, "1"]
ITEM_PATHS = ["qty", "category", "current", "accumulator", "no.such", "nested.deep.value.and.a.long.way.down"]
PATHS = st.sampled_from([*ROOT_PATHS, *ITEM_PATHS])
ARGUMENT = (
    st.builds(lambda path: {"var": path}, PATHS)
    | st.builds(lambda path, default: {"var": [path, default]}, PATHS, json_values)
    | st.builds(lambda *names: {"missing": list(names)}, PATHS, PATHS)
    | st.sampled_from([{"val": [[1], "index"]}, {"val": [[2], "n"]}, {"val": ["rows", 0]}, {"exists": "a"}])
    | json_values
)
OPERATORS = """== != === < >= ! !! and or if + - * / % in cat some all none map filter reduce min max merge substr
?? try lines_sum any_line_in_category region_of val exists missing_some throw"""
RULES = st.recursive(
    ARGUMENT,
    lambda children: (
        st.builds(
            lambda op, args: {op: args},
            st.sampled_from([*OPERATORS.split()]),
            children | st.lists(children, min_size=1, max_size=4),
        )
        | st.builds(
            lambda op, source, body: {op: [source, body]},
            st.sampled_from(["some", "all", "none", "map", "filter", "reduce"]),
            st.sampled_from([{"var": "items"}, {"var": "rows"}, {"var": "a"}, {"var": "no.such"}]),
            children,
        )
    ),
    max_leaves=18,
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logic=RULES, data=DATA, max_steps=st.sampled_from([100_000, 40, 9, 2]))
def test_generated_rules_give_the_interpreters_result_or_error(logic: Any, data: Any, max_steps: int) -> None:
    assert_same_outcome(logic, data, max_steps=max_steps)


def test_iterations_see_each_item_its_index_and_the_enclosing_data_as_the_interpreter_does() -> None:
    data = {"n": 2, "items": [0, 1, 2, 3], "rows": [{"qty": 1}, {"qty": 0}], "none": None, "text": "ab"}
    bodies = [
        {"val": [[1], "index"]},
        {"val": [[2], "n"]},
        {"var": ""},
        {"var": "qty"},
        {"<": [{"var": "current"}, {"var": "accumulator"}]},
        {"+": [{"var": "current"}, {"var": "accumulator"}]},
    ]
    sources = [{"var": "items"}, {"var": "rows"}, {"var": "none"}, {"var": "text"}, [1, 2], None]
    for operator in ("some", "all", "none", "map", "filter", "reduce"):
        for source in sources:
            for body in bodies:
                assert_same_outcome({operator: [source, body]}, data)
                assert_same_outcome({operator: [source, body, 10]}, data)
            assert_same_outcome({operator: [source]}, data)
            assert_same_outcome({operator: [source, None]}, data)
            assert_same_outcome({operator: source}, data)


@settings(max_examples=300, deadline=None)
@given(logic=expressions, data=json_values)
def test_generated_expressions_of_every_operator_give_the_interpreters_result_or_error(logic: Any, data: Any) -> None:
    assert_same_outcome(logic, data)


def test_the_safety_limits_stop_compiled_rules_as_they_stop_the_interpreter() -> None:
    big = list(range(50_000))
    deep: Any = 1
    for _ in range(70):
        deep = {"+": [deep]}
    nested: Any = [1]
    for _ in range(400):
        nested = [nested]
    cases = [
        ({"reduce": [{"var": ""}, {"+": [{"var": "accumulator"}, {"var": "current"}]}, 0]}, big, {}),  # steps
        ({"map": [{"var": ""}, {"+": [{"var": ""}, 1]}]}, big, {"time_limit": 0}),  # the clock
        ({"merge": [{"var": ""}, {"var": ""}]}, list(range(300_000)), {}),  # the size of a result
        (deep, None, {}),  # the depth of an expression
        (nested, None, {}),  # arrays nested deeper than the compiler goes
        ({"method": [{"var": ""}, "__class__"]}, "x", {}),  # the allow-list
        ({"cat": [{"var": ""}, {"var": ""}]}, "字" * 60_000, {}),
    ]
    for logic, data, limits in cases:
        assert_same_outcome(logic, data, **limits)
    assert outcome(cases[0][0], big, compiled=True)[1] == "steps"
    assert outcome(cases[1][0], big, compiled=True, time_limit=0)[1] == "time"
    assert outcome(deep, None, compiled=True)[1] == "depth"


def comparable(result: Any) -> dict[str, Any]:
    return result.to_dict(timings=False)  # type: ignore[no-any-return]


def untraced(result: Any) -> dict[str, Any]:
    """What a run without a trace must give: the traced run's result with an empty trace."""
    return {**comparable(result), "trace": []}


@pytest.mark.parametrize("template", [entry["key"] for entry in list_templates()])
def test_a_compiled_template_runs_each_sample_order_exactly_as_the_interpreter(template: str) -> None:
    doc = load_template(template)
    compiled = compile_flow(doc)
    for context in sample_contexts():
        interpreted = run(doc, context, now=NOW)
        assert comparable(run(compiled, context, now=NOW)) == comparable(interpreted)
        assert comparable(run(compiled, context, now=NOW, trace=False)) == untraced(interpreted)


def test_a_compiled_run_out_of_steps_or_output_stops_where_the_interpreter_stops() -> None:
    doc = load_template("standard_four_stage")
    compiled = compile_flow(doc)
    context = sample_contexts()[0]
    for max_steps in (1, 2, 5, 9):
        interpreted = run(doc, context, now=NOW, max_steps=max_steps)
        assert comparable(run(compiled, context, now=NOW, max_steps=max_steps)) == comparable(interpreted)
        assert comparable(run(compiled, context, now=NOW, max_steps=max_steps, trace=False)) == untraced(interpreted)
    huge = {**context, "order": {**context["order"], "lines": [{"bundle_of": "x" * 1000}] * 2000}}
    interpreted = run(doc, huge, now=NOW)
    assert interpreted.status == "limit_exceeded"
    assert comparable(run(compiled, huge, now=NOW)) == comparable(interpreted)
    # Without a trace the output is still charged as if it were kept: the run stops at the same limit.
    assert comparable(run(compiled, huge, now=NOW, trace=False)) == untraced(interpreted)
    assert comparable(run(doc, huge, now=NOW, trace=False)) == untraced(interpreted)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=flows(), context=contexts())
def test_generated_flows_run_compiled_exactly_as_interpreted(doc: dict[str, Any], context: dict[str, Any]) -> None:
    compiled, interpreted = compile_flow(doc), run(doc, context, now=NOW)
    assert comparable(run(compiled, context, now=NOW)) == comparable(interpreted)
    assert comparable(run(compiled, context, now=NOW, trace=False)) == untraced(interpreted)


def test_a_template_compiled_twice_is_the_same_flow() -> None:
    doc = load_template("standard_four_stage")
    assert compile_flow(doc) == compile_flow(doc)

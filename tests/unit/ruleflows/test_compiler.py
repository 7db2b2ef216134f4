"""Compiled rules never disagree with the interpreter: same result or same error, same trace of a run."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_jsonlogic_suites import SUITES, suite_files
from test_logic_safety import flow_with
from test_properties import NOW, contexts, expressions, flows, json_values

from ruleflows import (
    Decisions,
    RunResult,
    compile_flow,
    compile_logic,
    evaluate,
    list_templates,
    load_template,
    run,
    validate,
)
from ruleflows.actions import DecisionsDraft
from ruleflows.compiler import compile_expression
from ruleflows.errors import LimitExceededError, LogicError, RefusedOperatorError, RuleError
from ruleflows.logic import MAX_EVALUATION_STEPS, Evaluation
from ruleflows.regions import REGIONS
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


# ------------------------------------------------------------------------------------- generated flows


def generated_result(compiled: Any, context: dict[str, Any], *, traced: bool = False) -> dict[str, Any] | None:
    """What the flow's generated function gives by itself, as ``run`` would return it; None if it gave up."""
    assert compiled.generated is not None
    function = compiled.generated.traced if traced else compiled.generated.untraced
    features = context.get("features")
    seen = copy.deepcopy(context.get("decisions") or {})
    draft = DecisionsDraft(Decisions.from_dict(seen))
    made = function(context.get("order"), features if features is not None else {}, seen, draft, NOW, None)
    if made is None:
        return None
    path, actions, steps = made
    return comparable(RunResult(status="ok", actions=actions, path=path, trace=steps, decisions=draft.freeze()))


@pytest.mark.parametrize("template", [entry["key"] for entry in list_templates()])
def test_the_templates_are_generated_and_each_sample_order_runs_generated_as_interpreted(template: str) -> None:
    compiled = compile_flow(load_template(template))
    assert compiled.generated is not None
    for context in sample_contexts():
        interpreted = run(load_template(template), context, now=NOW)
        assert generated_result(compiled, context) == untraced(interpreted)
        assert generated_result(compiled, context, traced=True) == comparable(interpreted)


FLOW_PATHS = [
    "order.amounts.paid_fen",
    "order.receiver.province",
    "order.receiver.phone_masked",
    "order.buyer_message",
    "order.tags",
    "order.tags.0",
    "features.categories",
    "order.lines",
    "order.lines.0.qty",
    "order.presale.balance_due_at",  # longer than 16 characters: more steps
    "order",
    "features.is_urgent",
    "features.same_address_24h",
    "features.stock_by_warehouse.SH01",
    "decisions.hold",
    "decisions.tags",
    "decisions.gifts.0.sku",
]
FLOW_ITEM_PATHS = ["qty", "category", "", "bundle_of"]
FLOW_ARGUMENT = (
    st.builds(lambda path: {"var": path}, st.sampled_from(FLOW_PATHS))
    | st.builds(lambda path, default: {"var": [path, default]}, st.sampled_from(FLOW_PATHS), json_values)
    | st.builds(lambda *names: {"missing": list(names)}, st.sampled_from(FLOW_PATHS), st.sampled_from(FLOW_PATHS))
    | json_values
)
# Mostly what the generator writes, and a few it leaves to the compiled run.
FLOW_OPERATORS = """== != === < <= > >= ! !! and or if + - * / % min max merge region_of mobile_cn lines_sum
any_line_in_category hours_since throw cat in ??"""
# Text the builder's rows compare with, one longer than a step's worth, and what is strictly equal to little.
FLOW_TEXTS = st.sampled_from(["华东", "华南", "3C", "VIP", "", "要发票", "1", "发票" * 40])
FLOW_CHOICES = st.lists(FLOW_TEXTS | st.sampled_from([1, 1.0, 0, 2.5, True, False, None]), max_size=4)
FLOW_RULES = st.recursive(
    FLOW_ARGUMENT,
    lambda children: (
        st.builds(
            lambda op, args: {op: args},
            st.sampled_from(FLOW_OPERATORS.split()),
            children | st.lists(children, min_size=1, max_size=3),
        )
        # The builder's 属于大区, 是其中之一 / 不是其中之一 and 包含, of any operands.
        | st.builds(
            lambda value, choices: {"in": [value, choices]},
            st.builds(lambda path: {"region_of": {"var": path}}, st.sampled_from(FLOW_PATHS)) | children,
            FLOW_CHOICES,
        )
        | st.builds(lambda text, value: {"in": [text, value]}, FLOW_TEXTS, children)
        | st.builds(
            lambda source, choices: {"some": [{"var": source}, {"in": [{"var": ""}, choices]}]},
            st.sampled_from(["features.categories", "order.tags", "order.lines"]),
            FLOW_CHOICES,
        )
        | st.builds(
            lambda op, source, body: {op: [source, body]},
            st.sampled_from(["some", "all", "none"]),
            st.sampled_from([{"var": "order.lines"}, {"var": "order.tags"}, {"var": "order.buyer_message"}]),
            st.builds(lambda path: {"var": path}, st.sampled_from(FLOW_ITEM_PATHS)) | children,
        )
    ),
    max_leaves=10,
)
FLOW_ACTIONS = [
    ("approve", {}),
    ("hold_for_review", {"reason": "复核"}),
    ("add_tag", {"tag": "a"}),
    ("add_tag", {"tag": {"var": "order.buyer_message"}}),
    ("add_gift", {"sku": "G-1", "qty": 1}),
    ("add_gift", {"sku": "G-2", "qty": {"var": "features.same_address_24h"}}),
    ("assign_carrier", {"strategy": "cheapest", "candidates": ["ZTO", "YTO"]}),
    ("assign_carrier", {"strategy": "cheapest", "candidates": {"var": "order.tags"}}),
    ("set_priority", {"level": {"if": [{"var": "features.is_urgent"}, "urgent", "normal"]}}),
    ("mark_presale", {"balance_due_at": {"var": ["order.presale.balance_due_at", "2026-12-01T00:00:00Z"]}}),
    ("notify", {"template": "t", "via": "sms"}),
    ("generate_documents", {"kinds": ["pick_list"]}),
]


def generated_flows() -> st.SearchStrategy[dict[str, Any]]:
    """Acyclic flows of generated rules: chains, diamonds, switches, exits that lead nowhere."""
    return flows(FLOW_RULES, st.sampled_from(FLOW_ACTIONS), dangling=True)


FLOW_ORDERS = st.fixed_dictionaries(
    {},
    optional={
        "amounts": st.fixed_dictionaries({"paid_fen": st.integers(0, 10**6) | json_values}),
        "receiver": st.fixed_dictionaries(
            {
                "province": st.sampled_from(["上海", "广东省", "火星", ""]) | json_values,
                "phone_masked": st.sampled_from(["138****5678", "123"]) | json_values,
            }
        ),
        "buyer_message": st.sampled_from(["", "要发票", "3C", "开" + "发票" * 40]) | json_values,
        "tags": st.lists(st.sampled_from(["VIP", "new", "", "1", 1, 1.0, True, None]), max_size=3) | json_values,
        "lines": DATA.map(lambda data: data["rows"]) | json_values,
        "presale": st.fixed_dictionaries({"balance_due_at": st.none() | st.just("2026-12-01T00:00:00Z")}),
    },
)
# Decisions a run is given (by the flow before it in a chain), as stored, and as no flow would write them.
GIVEN = st.just({}) | st.fixed_dictionaries(
    {},
    optional={
        "hold": st.booleans(),
        "tags": st.lists(st.sampled_from(["a", "b"]), max_size=2) | json_values,
        "gifts": st.lists(st.fixed_dictionaries({"sku": st.sampled_from(["G", "H"])}, optional={"qty": json_values})),
        "note": json_values,
    },
)
FLOW_CONTEXTS = st.builds(
    lambda order, features, given: {"order": order, "features": features, "decisions": given},
    FLOW_ORDERS | json_values,
    st.fixed_dictionaries(
        {
            "is_urgent": st.booleans() | st.none(),
            "same_address_24h": st.integers(0, 5) | json_values,
            "stock_by_warehouse": st.fixed_dictionaries({"SH01": st.integers(0, 9)}) | json_values,
            "categories": st.lists(st.sampled_from(["3C", "家居", "1", 1, [1]]), max_size=3) | json_values,
        }
    )
    | st.none(),
    GIVEN,
)


def flow_is_valid(doc: dict[str, Any]) -> bool:
    return not validate(doc)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(doc=generated_flows().filter(flow_is_valid), context=FLOW_CONTEXTS, max_steps=st.sampled_from([1000, 4, 2]))
def test_generated_flows_run_generated_exactly_as_interpreted_or_give_up(
    doc: dict[str, Any], context: dict[str, Any], max_steps: int
) -> None:
    compiled = compile_flow(doc)
    interpreted = run(doc, context, now=NOW, max_steps=max_steps)
    assert comparable(run(compiled, context, now=NOW, max_steps=max_steps)) == comparable(interpreted)
    assert comparable(run(compiled, context, now=NOW, max_steps=max_steps, trace=False)) == untraced(interpreted)
    if compiled.generated is not None:
        # What it gives when it does not give up is the interpreter's result, with its trace or without.
        unlimited = run(doc, context, now=NOW)
        made = generated_result(compiled, context)
        assert made is None or made == untraced(unlimited)
        made = generated_result(compiled, context, traced=True)
        assert made is None or made == comparable(unlimited)


def test_most_generated_flows_are_generated_and_most_of_their_runs_do_not_give_up() -> None:
    generated = ran = 0

    @settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(doc=generated_flows().filter(flow_is_valid), context=FLOW_CONTEXTS)
    def count(doc: dict[str, Any], context: dict[str, Any]) -> None:
        nonlocal generated, ran
        compiled = compile_flow(doc)
        if compiled.generated is not None:
            generated += 1
            ran += generated_result(compiled, context) is not None
            assert (generated_result(compiled, context, traced=True) is None) == (
                generated_result(compiled, context) is None
            ), "a trace never makes the generated run give up where it would not without one"

    count()
    assert generated > 150 and ran > 110, (generated, ran)  # (about 180 and 150 of 200)


# The builder's rows that use ``in`` (属于大区, 是其中之一 / 不是其中之一, 包含, a category row), alone and joined.
BUILDER_IN_ROWS = (
    st.builds(
        lambda regions: {"in": [{"region_of": {"var": "order.receiver.province"}}, regions]},
        st.lists(st.sampled_from(REGIONS), min_size=1, max_size=3),
    )
    | st.builds(lambda path, values: {"in": [{"var": path}, values]}, st.sampled_from(FLOW_PATHS), FLOW_CHOICES)
    | st.builds(lambda text, path: {"in": [text, {"var": path}]}, FLOW_TEXTS, st.sampled_from(FLOW_PATHS))
    | st.builds(
        lambda categories: {"some": [{"var": "features.categories"}, {"in": [{"var": ""}, categories]}]},
        st.lists(st.sampled_from(["3C", "家居", "食品"]), min_size=1, max_size=3),
    )
)
BUILDER_IN_LOGIC = st.recursive(
    BUILDER_IN_ROWS,
    lambda rows: (
        st.builds(
            lambda join, parts: {join: parts}, st.sampled_from(["and", "or"]), st.lists(rows, min_size=1, max_size=3)
        )
        | st.builds(lambda row: {"!": row}, rows)
    ),
    max_leaves=5,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logic=BUILDER_IN_LOGIC, context=FLOW_CONTEXTS)
def test_the_builders_rows_of_in_run_generated_as_interpreted_and_give_up_only_where_a_node_fails(
    logic: Any, context: dict[str, Any]
) -> None:
    doc = flow_with(logic, param={"if": [logic, "a", "b"]})
    compiled = compile_flow(doc)
    assert compiled.generated is not None
    interpreted = run(doc, context, now=NOW)
    for traced in (False, True):
        made = generated_result(compiled, context, traced=traced)
        if interpreted.status == "ok":
            assert made == (comparable(interpreted) if traced else untraced(interpreted))
        else:
            assert made is None  # a category row over what is not an array fails: the compiled run says so
    assert comparable(run(compiled, context, now=NOW)) == comparable(interpreted)


def test_a_value_is_in_an_array_only_when_strictly_equal_to_an_item_and_text_in_text_as_interpreted() -> None:
    values = [1, 1.0, 2.5, True, False, None, "", "1", "华东", "上海", [1], {"a": 1}, ["华东"], "开发票" * 30]
    choices = [[1.0], [True], ["1"], [None], ["华东", "华南"], [], [1, "1", True, None, 2.5]]
    choices += [[1, None, False]]
    rows = [{"in": [{"var": "order.buyer_message"}, choice]} for choice in choices]
    rows += [{"in": [text, {"var": "order.buyer_message"}]} for text in ("", "1", "发票", "true", "开发票" * 30)]
    rows += [{"in": [{"var": "order.buyer_message"}, {"var": "order.tags"}]}, {"in": {"var": "order.tags"}}]
    rows += [{"in": [{"region_of": {"var": "order.buyer_message"}}, ["华东"]]}, {"in": ["a"]}]
    held: dict[tuple[int, int], bool] = {}
    for row_index, row in enumerate(rows):
        doc = flow_with(row, param={"if": [row, "a", "b"]})
        compiled = compile_flow(doc)
        assert compiled.generated is not None, row
        for value_index, value in enumerate(values):
            context = {"order": {"buyer_message": value, "tags": [value, "x"]}, "features": {}, "decisions": {}}
            interpreted = run(doc, context, now=NOW)
            assert interpreted.status == "ok", (row, value)
            made = generated_result(compiled, context)
            assert made == untraced(interpreted), (row, value)
            assert generated_result(compiled, context, traced=True) == comparable(interpreted), (row, value)
            held[row_index, value_index] = bool(interpreted.actions)
    # 1 and 1.0 are the same number; true is not 1, and text is not a number.
    assert [held[0, index] for index in range(5)] == [True, True, False, False, False]
    assert [held[2, index] for index in (0, 6, 7)] == [False, False, True]
    assert [held[4, index] for index in (8, 9, 12)] == [True, False, False], "a value of the array, not its text"
    assert [held[10, index] for index in (7, 13, 3)] == [False, True, False], "text in text, and in nothing else"
    assert [held[15, index] for index in (9, 8)] == [True, False], "上海 is in 华东; 华东 is not a province"


@pytest.mark.parametrize(
    ("body", "item"),
    [
        ({"some": [{"var": "order.lines"}, {"in": [{"var": ""}, ["b", 3.5, False]]}]}, lambda value: value),
        ({"some": [{"var": "order.lines"}, {"in": ["发票", {"var": ""}]}]}, lambda value: value),
        ({"some": [{"var": "order.lines"}, {"in": ["发票" * 40, {"var": ""}]}]}, lambda value: value),
        (
            {"all": [{"var": "order.lines"}, {"in": [{"var": "v"}, {"var": "of"}]}]},
            lambda value: {"v": value, "of": [value]},
        ),
    ],
)
def test_at_the_edge_of_the_step_budget_a_generated_in_gives_up_exactly_where_the_interpreter_stops(
    body: Any, item: Any
) -> None:
    doc = flow_with(body)
    compiled = compile_flow(doc)
    mixed = ["a", "x" * 70, 1, 2.5, None, True, [1, 2], {"k": "v"}]

    def context(count: int, long: int) -> dict[str, Any]:
        """``count`` items of every kind, then 64 texts of which ``long`` cost a step more (64 characters)."""
        lines = [item(mixed[index % len(mixed)]) for index in range(count)]
        lines += [item("a" * 64)] * long + [item("a")] * (64 - long)
        return {"order": {"lines": lines}, "features": {}, "decisions": {}}

    def fits(count: int, long: int) -> bool:
        """Whether the interpreter evaluates the condition within its budget."""
        try:
            evaluate(body, context(count, long), now=NOW)
        except LimitExceededError:
            return False
        return True

    def largest(fitting: Any, low: int, high: int) -> int:
        while low < high:
            middle = (low + high + 1) // 2
            low, high = (middle, high) if fitting(middle) else (low, middle - 1)
        return low

    # The most items of every kind that fit (each costs 4 steps or more), then the step past the budget.
    count = largest(lambda count: fits(count, 0), 0, MAX_EVALUATION_STEPS // 4)
    long = largest(lambda long: fits(count, long), 0, 64) + 1
    assert long <= 64, "one more item of any kind costs more than 64 steps"
    within, past = context(count, long - 1), context(count, long)
    assert generated_result(compiled, within) == untraced(run(doc, within, now=NOW))
    assert generated_result(compiled, past) is None
    interpreted = run(doc, past, now=NOW)
    assert interpreted.limit == "steps"
    assert comparable(run(compiled, past, now=NOW)) == comparable(interpreted)


def test_a_generated_run_past_a_limit_gives_up_and_stops_where_the_interpreter_stops() -> None:
    many = {"order": {"lines": list(range(150_000)), "buyer_message": "x" * 600_000}, "features": {}, "decisions": {}}
    long = {"order": {"buyer_message": "x" * 3_500_000}, "features": {}, "decisions": {}}
    message = {"var": "order.buyer_message"}
    again = {"if": [{"!": message}, "a", "b"]}
    cases = [
        (flow_with({"some": [{"var": "order.lines"}, {"<": [{"var": ""}, -1]}]}), many, {}),  # steps of an iteration
        (flow_with({"==": [message, message]}), long, {}),  # steps charged for long text
        (flow_with({"!!": message}, param=again), many, {}),  # the output: reads are kept
        (flow_with({"!!": {"var": "order.lines"}}), many, {"time_limit": 0}),  # the clock
        (flow_with({"!!": {"var": "order.lines"}}), many, {"max_steps": 3}),  # the step limit, below the longest path
        (flow_with({"in": [{"var": "order.lines"}, ["x", "y"]]}), many, {}),  # an array compared with each item
        (flow_with({"/": [1, 0]}), many, {}),  # a failing node
        (flow_with(True, param=message), many, {}),  # a parameter that does not fit (too long a tag)
    ]
    for doc, context, limits in cases:
        compiled = compile_flow(doc)
        assert compiled.generated is not None
        for traced in (False, True):
            made = generated_result(compiled, context, traced=traced)
            assert made is None or "max_steps" in limits or "time_limit" in limits
        interpreted = run(doc, context, now=NOW, **limits)
        assert interpreted.status != "ok", doc
        assert comparable(run(compiled, context, now=NOW, **limits)) == comparable(interpreted)
        assert comparable(run(compiled, context, now=NOW, trace=False, **limits)) == untraced(interpreted)


def test_a_run_given_decisions_already_made_runs_generated_as_interpreted() -> None:
    doc = flow_with({"==": [{"var": "decisions.tags.0"}, "a"]}, param="b")
    compiled = compile_flow(doc)
    context = {"order": {}, "features": {}, "decisions": {"tags": ["a"], "note": "kept"}}
    interpreted = run(doc, context, now=NOW)
    assert interpreted.decisions.tags == ("a", "b")
    assert generated_result(compiled, context) == untraced(interpreted)
    assert comparable(run(compiled, context, now=NOW)) == comparable(interpreted)
    assert comparable(run(compiled, context, now=NOW, trace=False)) == untraced(interpreted)


def test_a_generated_run_shares_nothing_with_the_context_it_was_given() -> None:
    doc = flow_with(
        {"!!": {"var": "order.lines"}},
        action="assign_carrier",
        params={"strategy": "cheapest", "candidates": {"var": "order.tags"}},
    )
    compiled = compile_flow(doc)
    context = {"order": {"tags": ["ZTO"], "lines": [{"sku": "A"}]}, "features": {}, "decisions": {}}
    for trace in (False, True):
        result = run(compiled, context, now=NOW, trace=trace)
        before = comparable(result)
        context["order"]["tags"].append("YTO")
        context["order"]["lines"][0]["sku"] = "B"
        assert comparable(result) == before
        context["order"] = {"tags": ["ZTO"], "lines": [{"sku": "A"}]}


def test_flows_with_shapes_left_to_the_compiled_run_have_no_generated_function() -> None:
    for logic in ({"cat": ["a", {"var": "order.tags"}]}, {"<": [1, {"var": "order.lines"}, 3]}, {"var": "decisions"}):
        assert compile_flow(flow_with(logic)).generated is None

"""Every operation pays for its work out of the step budget; sizes, nesting and wall-clock time are bounded.

Each test gives an evaluation a small budget and checks that work the old engine did for free (literal
arrays, long text, items visited by iterations, lines scanned by the order operations) now runs it out, with a
LimitExceededError that says which limit was hit, and quickly.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from ruleflows import evaluate, run
from ruleflows.document import nesting_depth
from ruleflows.errors import LimitExceededError, LogicError
from ruleflows.interpreter import MAX_RUN_OUTPUT_SIZE
from ruleflows.logic import MAX_ARRAY_LENGTH, MAX_RESULT_SIZE, MAX_STRING_LENGTH, TEXT_CHARS_PER_STEP

Context = dict[str, Any]


def refused(logic: Any, data: Any = None, **limits: Any) -> LimitExceededError:
    with pytest.raises(LimitExceededError) as caught:
        evaluate(logic, data, **limits)
    return caught.value


def nested_lists(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


# Pairs of (what is paid for, an expression that needs about 1,000 steps for it and nearly nothing else).
PAID_WORK: list[tuple[str, Any, Any]] = [
    ("a literal array, per item", [0] * 1000, None),
    ("a literal argument list, per argument", {"+": [1] * 1000}, None),
    ("a literal object, by its size", {"if": [True, {"a": [0] * 1000, "b": 1}, 0]}, None),
    ("preserve, by the size of what it returns", {"preserve": [[0] * 1000]}, None),
    ("map, per item", {"map": [{"var": "xs"}, 1]}, {"xs": list(range(1000))}),
    ("filter, per item", {"filter": [{"var": "xs"}, True]}, {"xs": list(range(1000))}),
    ("reduce, per item", {"reduce": [{"var": "xs"}, 0, 0]}, {"xs": list(range(1000))}),
    ("all, per item", {"all": [{"var": "xs"}, True]}, {"xs": list(range(1000))}),
    ("some, per item", {"some": [{"var": "xs"}, False]}, {"xs": list(range(1000))}),
    ("none, per item", {"none": [{"var": "xs"}, False]}, {"xs": list(range(1000))}),
    ("a spread argument, per item", {"+": {"var": "xs"}}, {"xs": [1] * 1000}),
    ("in, by the length of the text it scans", {"in": ["y", {"var": "s"}]}, {"s": "x" * 64_000}),
    ("in, by the length of the array it scans", {"in": [5, {"var": "xs"}]}, {"xs": [0] * 1000}),
    ("merge, by the items it copies", {"merge": [{"var": "xs"}, {"var": "xs"}]}, {"xs": [0] * 500}),
    ("cat, by the length it produces", {"cat": [{"var": "s"}, "!"]}, {"s": "x" * 64_000}),
    ("substr, by the length it cuts from", {"substr": [{"var": "s"}, 1, 1]}, {"s": "x" * 64_000}),
    (
        "a comparison, by the length of its text",
        {"==": [{"var": "s"}, {"var": "t"}]},
        {"s": "x" * 32_000, "t": "x" * 32_000},
    ),
    ("arithmetic on text, by its length", {"+": [{"var": "s"}, 1]}, {"s": "0" * 63_999 + "1"}),
    ("var, by the length of its path", {"var": ".".join(["a"] * 8000)}, {}),
    ("missing, per name", {"missing": [{"var": "names"}]}, {"names": ["a"] * 1000}),
    ("substr of an array, by the length of its text", {"substr": [{"var": "xs"}, 0, 1]}, {"xs": [[1] * 1000] * 20}),
    ("lines_sum, per line", {"lines_sum": [{"var": "lines"}, "qty"]}, {"lines": [{"qty": 1}] * 1000}),
    ("lines_count, per line", {"lines_count": [{"var": "lines"}, "qty", 1]}, {"lines": [{"qty": 1}] * 1000}),
    (
        "any_line_in_category, per line and category",
        {"any_line_in_category": [{"var": "lines"}, {"var": "cats"}]},
        {"lines": [{"category": "a"}] * 500, "cats": ["b"] * 500},
    ),
]


@pytest.mark.parametrize(("what", "logic", "data"), PAID_WORK, ids=[case[0] for case in PAID_WORK])
def test_work_is_paid_for_from_the_step_budget(what: str, logic: Any, data: Any) -> None:
    error = refused(logic, data, max_steps=500)
    assert error.limit == "steps"
    evaluate(logic, data, max_steps=5000)  # the same work within a budget that covers it


def test_a_nested_map_over_a_literal_array_runs_out_of_steps_quickly() -> None:
    # 1,000 × 1,000 additions written in 4 KB: the literal array used to be free at every item.
    literal = list(range(1000))
    started = time.thread_time()  # the CPU seconds it cost, which a busy machine does not stretch
    error = refused({"map": [literal, {"reduce": [literal, {"+": [1, 1]}, 0]}]})
    assert error.limit == "steps"
    assert time.thread_time() - started < 1


def test_a_deadline_stops_an_evaluation_that_has_steps_left() -> None:
    xs = list(range(3000))
    logic = {"map": [{"var": "xs"}, {"map": [{"val": [[2], "xs"]}, {"+": [{"var": ""}, 1]}]}]}
    started = time.thread_time()  # the budget is the thread's CPU time: 0.2 s of it, whatever else the machine does
    error = refused(logic, {"xs": xs}, max_steps=10**12, time_limit=0.2)
    spent = time.thread_time() - started
    assert error.limit == "time"
    assert 0.2 <= spent < 0.5


def test_cat_refuses_a_string_past_the_limit_before_building_it() -> None:
    data = {"s": "x" * (MAX_STRING_LENGTH // 2 + 1)}
    error = refused({"cat": [{"var": "s"}, {"var": "s"}]}, data)
    assert error.limit == "size" and "string" in str(error)


def test_merge_refuses_an_array_past_the_limit() -> None:
    data = {"xs": [0] * (MAX_ARRAY_LENGTH // 2 + 1)}
    error = refused({"merge": [{"var": "xs"}, {"var": "xs"}]}, data, max_steps=10**7)
    assert error.limit == "size"


def test_map_and_cat_cannot_blow_a_small_request_up_into_a_huge_result() -> None:
    # Each item is a 10,000-character string: 2,000 of them would be 20 MB of output.
    data = {"xs": list(range(2000)), "s": "x" * 10_000}
    started = time.thread_time()
    error = refused({"map": [{"var": "xs"}, {"cat": [{"val": [[2], "s"]}]}]}, data, max_steps=10**7)
    assert error.limit == "size" and f"{MAX_RESULT_SIZE:,}" in str(error)
    assert time.thread_time() - started < 1


def test_repeating_a_large_value_read_from_the_data_is_bounded_too() -> None:
    data = {"xs": list(range(2000)), "big": ["x" * 1000] * 10}
    error = refused({"map": [{"var": "xs"}, {"val": [[2], "big"]}]}, data)
    assert error.limit == "size"


def test_a_long_number_that_fails_to_parse_is_refused_at_once() -> None:
    # The number pattern used to backtrack: 20,000 digits and an "x" took 26 s.
    started = time.thread_time()
    with pytest.raises(LogicError):
        evaluate({"+": [{"var": "s"}, 1]}, {"s": "1" * 20_000 + "x"})
    assert time.thread_time() - started < 0.1


def test_data_nested_past_the_recursion_limit_is_a_depth_limit_not_a_crash() -> None:
    error = refused({"cat": [{"var": "deep"}]}, {"deep": nested_lists(5000)})
    assert error.limit == "depth"


def test_order_operations_refuse_text_that_no_real_value_is_that_long() -> None:
    long_text = "浙" * 100_000
    assert evaluate({"region_of": [long_text]}) is None
    assert evaluate({"mobile_cn": [long_text]}) is False
    with pytest.raises(LogicError):
        evaluate({"hours_between": [long_text, "2026-11-26T00:00:00+00:00"]})
    with pytest.raises(LogicError):
        evaluate({"lines_count": [{"var": "lines"}, "tags", [1]]}, {"lines": [{"tags": [1]}]})


# ----------------------------------------------------------------------------------------- whole runs


def flow(logic: Any, *, copies: int = 1) -> dict[str, Any]:
    """start -> ``copies`` conditions in a chain, each with ``logic`` -> end."""
    nodes: list[dict[str, Any]] = [{"id": "s", "type": "start", "name": "开始"}]
    edges: list[dict[str, Any]] = []
    previous, port = "s", "next"
    for index in range(copies):
        node_id = f"c{index}"
        nodes.append({"id": node_id, "type": "condition", "name": node_id, "config": {"logic": logic}})
        edges.append({"id": f"e{index}", "source": previous, "target": node_id, "port": port})
        edges.append({"id": f"f{index}", "source": node_id, "target": "end", "port": "false"})
        previous, port = node_id, "true"
    nodes.append({"id": "end", "type": "end", "name": "结束"})
    edges.append({"id": "last", "source": previous, "target": "end", "port": port})
    return {"schema": 1, "name": "预算", "trigger": "order.received", "nodes": nodes, "edges": edges}


def test_a_run_past_its_time_limit_stops_with_limit_exceeded(
    make_context: Callable[..., Context], now: datetime
) -> None:
    context = make_context()
    context["features"]["categories"] = list(range(3000))
    heavy = {"some": [{"var": "features.categories"}, {"some": [{"val": [[2], "features", "categories"]}, False]}]}
    started = time.thread_time()
    result = run(flow(heavy, copies=20), context, now=now, time_limit=0.1)
    assert time.thread_time() - started < 0.5
    assert result.status == "limit_exceeded" and result.limit in ("time", "steps")
    assert result.failed_node is not None and "LimitExceededError" in (result.error or "")


def test_the_time_limit_is_checked_between_nodes_too(make_context: Callable[..., Context], now: datetime) -> None:
    result = run(flow(True, copies=3), make_context(), now=now, time_limit=0)
    assert result.status == "limit_exceeded" and result.limit == "time"


def test_a_run_whose_trace_would_be_huge_stops_at_the_output_limit(
    make_context: Callable[..., Context], now: datetime
) -> None:
    context = make_context()
    context["order"]["buyer_message"] = "留言" * 10_000  # 20,000 characters, read by every node
    reads = {"!!": [{"var": "order.buyer_message"}]}
    result = run(flow(reads, copies=MAX_RUN_OUTPUT_SIZE // 20_000 + 5), context, now=now)
    assert result.status == "limit_exceeded" and result.limit == "size"
    size = sum(len(str(step.to_dict())) for step in result.trace)
    assert size < 2 * MAX_RUN_OUTPUT_SIZE


def test_decisions_nested_past_the_recursion_limit_do_not_make_run_raise(
    make_context: Callable[..., Context], now: datetime
) -> None:
    context = make_context()
    context["decisions"] = {"deep": nested_lists(5000)}
    result = run(flow(True), context, now=now)
    assert result.status == "limit_exceeded" and result.limit == "depth"


def test_ordinary_runs_report_no_limit(make_context: Callable[..., Context], now: datetime) -> None:
    result = run(flow({"==": [{"var": "order.channel"}, "tmall"]}), make_context(), now=now, time_limit=1)
    assert result.status == "ok" and result.limit is None
    assert result.to_dict()["limit"] is None


def test_one_step_pays_for_a_fixed_amount_of_text() -> None:
    # The unit the budgets above are written in: a step per TEXT_CHARS_PER_STEP characters.
    text = "x" * (TEXT_CHARS_PER_STEP * 400)
    assert evaluate({"in": ["y", {"var": "s"}]}, {"s": text}, max_steps=450) is False
    assert refused({"in": ["y", {"var": "s"}]}, {"s": text}, max_steps=350).limit == "steps"


def test_nesting_is_measured_without_recursion_and_stops_past_the_limit() -> None:
    assert nesting_depth(nested_lists(100_000), 100) == 101
    assert nesting_depth({"a": [1, {"b": []}], "c": "x"}, 100) == 4
    assert nesting_depth("text", 100) == 0


def test_regex_matching_pays_for_the_text_times_the_pattern() -> None:
    logic = {"regex_match": ["(a|b)*a(a|b){20}x", {"var": "t"}]}
    data = {"t": "ab" * 1000}
    assert refused(logic, data, max_steps=500).limit == "steps"
    assert evaluate(logic, data, max_steps=5000) is False


def test_a_pattern_that_defeats_the_fast_matcher_cannot_be_repeated_for_long() -> None:
    # RE2 falls back to its slower matcher on this pattern: ~1 ms per 2,000 characters.
    logic = {"map": [list(range(5000)), {"regex_match": ["(a|b)*a(a|b){20}x", {"val": [[2], "t"]}]}]}
    started = time.thread_time()
    assert refused(logic, {"t": "ab" * 1000}).limit == "steps"
    assert time.thread_time() - started < 0.5


def test_a_computed_pattern_that_cannot_compile_is_refused_cheaply_every_time() -> None:
    # Compiling a pattern past RE2's memory limit takes over a millisecond before it fails: that is done once.
    logic = {"map": [list(range(500)), {"try": [{"regex_match": [{"val": [[2], "p"]}, "x"]}, 0]}]}
    started = time.thread_time()
    assert evaluate(logic, {"p": r"[\p{L}\p{N}]{40}"}, max_steps=10**6) == [0] * 500
    assert time.thread_time() - started < 0.3


def test_the_text_of_an_array_of_arrays_is_bounded() -> None:
    started = time.thread_time()
    error = refused({"cat": [{"var": "xs"}]}, {"xs": [[1] * 1000] * 1000})  # would be 2,000,000 characters
    assert error.limit == "size"
    assert time.thread_time() - started < 0.2


def test_an_array_or_object_is_never_a_key() -> None:
    assert evaluate({"val": ["x", {"var": "k"}]}, {"k": ["a"], "x": {"a": 1}}) is None
    assert evaluate({"val": ["x", {"var": "k.0"}]}, {"k": ["a"], "x": {"a": 1}}) == 1

"""The interpreter: each node type, the trace, failures, the step limit and determinism."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from ruleflows import compile_flow, run
from ruleflows.interpreter import InvalidFlowError

Context = dict[str, Any]


def flow(nodes: list[dict[str, Any]], edges: list[tuple[str, str, str]]) -> dict[str, Any]:
    """A document from short node dicts and (source, port, target) edges, starting at node "s"."""
    return {
        "schema": 1,
        "name": "测试",
        "trigger": "order.received",
        "nodes": [{"id": "s", "type": "start", "name": "开始"}, *nodes],
        "edges": [{"id": f"{s}-{p}", "source": s, "target": t, "port": p} for s, p, t in edges],
    }


def action(node_id: str, name: str, **params: Any) -> dict[str, Any]:
    return {"id": node_id, "type": "action", "name": node_id, "config": {"action": name, "params": params}}


def condition(node_id: str, logic: Any) -> dict[str, Any]:
    return {"id": node_id, "type": "condition", "name": node_id, "config": {"logic": logic}}


END = {"id": "end", "type": "end", "name": "结束"}


@pytest.fixture
def context(make_context: Callable[..., Context]) -> Context:
    return make_context()


def test_start_leads_to_the_next_node_and_end_stops(context: Context, now: datetime) -> None:
    result = run(flow([END], [("s", "next", "end")]), context, now=now)
    assert result.status == "ok"
    assert result.path == ["s", "end"]
    assert [(step.node_id, step.port) for step in result.trace] == [("s", "next"), ("end", None)]


@pytest.mark.parametrize(("paid_fen", "port"), [(200000, "true"), (100, "false")])
def test_condition_takes_the_true_or_false_exit(context: Context, now: datetime, paid_fen: int, port: str) -> None:
    context["order"]["amounts"]["paid_fen"] = paid_fen
    doc = flow(
        [condition("c", {">": [{"var": "order.amounts.paid_fen"}, 100000]}), action("big", "add_tag", tag="大额"), END],
        [("s", "next", "c"), ("c", "true", "big"), ("c", "false", "end"), ("big", "next", "end")],
    )
    result = run(doc, context, now=now)
    step = result.trace[1]
    assert step.port == port
    assert step.output is (port == "true")
    assert step.reads == {"order.amounts.paid_fen": paid_fen}
    assert step.micros >= 0


@pytest.mark.parametrize(("channel", "expected"), [("jd", "b_jd"), ("tmall", "b_tmall"), ("pos", "default")])
def test_switch_takes_the_first_true_branch_else_default(
    context: Context, now: datetime, channel: str, expected: str
) -> None:
    context["order"]["channel"] = channel
    branches = [
        {"id": "b_jd", "label": "京东", "logic": {"==": [{"var": "order.channel"}, "jd"]}},
        {"id": "b_tmall", "label": "天猫", "logic": {"in": [{"var": "order.channel"}, ["tmall", "jd"]]}},
    ]
    doc = flow(
        [
            {"id": "sw", "type": "switch", "name": "渠道", "config": {"branches": branches}},
            action("t1", "add_tag", tag="jd"),
            action("t2", "add_tag", tag="tmall"),
            END,
        ],
        [
            ("s", "next", "sw"),
            ("sw", "b_jd", "t1"),
            ("sw", "b_tmall", "t2"),
            ("sw", "default", "end"),
            ("t1", "next", "end"),
            ("t2", "next", "end"),
        ],
    )
    result = run(doc, context, now=now)
    assert result.trace[1].port == expected
    assert result.trace[1].output == expected


def test_action_params_written_as_json_logic_are_evaluated(context: Context, now: datetime) -> None:
    doc = flow(
        [
            action("tag", "add_tag", tag={"cat": ["渠道-", {"var": "order.channel"}]}),
            action("hold", "mark_presale", balance_due_at={"add_hours": [{"now": []}, 48]}),
            END,
        ],
        [("s", "next", "tag"), ("tag", "next", "hold"), ("hold", "next", "end")],
    )
    result = run(doc, context, now=now)
    assert [a.to_dict() for a in result.actions] == [
        {"node_id": "tag", "action": "add_tag", "params": {"tag": "渠道-tmall"}},
        {"node_id": "hold", "action": "mark_presale", "params": {"balance_due_at": "2026-11-28T10:00:00+00:00"}},
    ]


def test_later_nodes_see_earlier_decisions(context: Context, now: datetime) -> None:
    doc = flow(
        [
            action("wh", "assign_warehouse", code="SH01"),
            condition("c", {"==": [{"var": "decisions.warehouse"}, "SH01"]}),
            action("sf", "assign_carrier", code="SF"),
            END,
        ],
        [("s", "next", "wh"), ("wh", "next", "c"), ("c", "true", "sf"), ("c", "false", "end"), ("sf", "next", "end")],
    )
    result = run(doc, context, now=now)
    assert result.path == ["s", "wh", "c", "sf", "end"]
    assert result.decisions.warehouse == "SH01" and result.decisions.carrier == "SF"


def test_an_action_without_a_next_connection_ends_the_run(context: Context, now: datetime) -> None:
    result = run(flow([action("ok", "approve")], [("s", "next", "ok")]), context, now=now)
    assert result.status == "ok"
    assert result.path == ["s", "ok"]


def test_a_failing_node_is_reported_and_the_run_stops(context: Context, now: datetime) -> None:
    doc = flow(
        [condition("c", {"/": [1, {"var": "order.amounts.discount_fen"}]}), action("a", "approve"), END],
        [("s", "next", "c"), ("c", "true", "a"), ("c", "false", "end"), ("a", "next", "end")],
    )
    result = run(doc, context, now=now)
    assert result.status == "failed"
    assert result.failed_node == "c"
    assert result.path == ["s", "c"]
    assert result.trace[-1].error is not None and "NaN" in result.trace[-1].error
    assert result.actions == []


def test_a_computed_param_of_the_wrong_type_fails_the_node(context: Context, now: datetime) -> None:
    doc = flow([action("p", "set_priority", level={"var": "order.channel"})], [("s", "next", "p")])
    result = run(doc, context, now=now)
    assert (result.status, result.failed_node) == ("failed", "p")


def test_a_time_operator_without_a_clock_fails_the_node(context: Context) -> None:
    doc = flow(
        [condition("c", {">": [{"hours_since": [{"var": "order.paid_at"}]}, 24]}), END],
        [("s", "next", "c"), ("c", "true", "end"), ("c", "false", "end")],
    )
    assert run(doc, context).failed_node == "c"


def test_the_step_limit_stops_a_runaway_run(context: Context, now: datetime) -> None:
    chain = [action(f"t{i}", "add_tag", tag=f"t{i}") for i in range(10)]
    edges = [("s", "next", "t0"), *((f"t{i}", "next", f"t{i + 1}") for i in range(9))]
    result = run(flow(chain, edges), context, now=now, max_steps=5)
    assert result.status == "step_limit"
    assert len(result.path) == 5
    assert len(result.actions) == 4


def test_an_invalid_document_gives_a_failed_result(context: Context, now: datetime) -> None:
    result = run({"schema": 1, "nodes": []}, context, now=now)
    assert result.status == "failed"
    assert result.problems and result.path == []
    with pytest.raises(InvalidFlowError) as caught:
        compile_flow({"schema": 1, "nodes": []})
    assert caught.value.problems


@pytest.mark.parametrize("bad_context", [None, [], "order", 3])
def test_a_context_that_is_not_an_object_gives_a_failed_result(bad_context: Any, now: datetime) -> None:
    result = run(flow([END], [("s", "next", "end")]), bad_context, now=now)
    assert result.status == "failed"


def test_a_later_node_sees_every_key_an_earlier_action_writes(context: Context, now: datetime) -> None:
    doc = flow(
        [
            action("c", "assign_carrier", code="SF"),
            condition("q", {"!": {"var": ["decisions.carrier_candidates", "absent"]}}),  # present and empty
            action("t", "add_tag", tag="seen"),
            END,
        ],
        [("s", "next", "c"), ("c", "next", "q"), ("q", "true", "t"), ("q", "false", "end"), ("t", "next", "end")],
    )
    result = run(doc, context, now=now)
    assert result.status == "ok", result.error
    assert result.decisions.tags == ("seen",)


def test_the_callers_context_and_document_are_not_changed(context: Context, now: datetime) -> None:
    context["decisions"] = {"tags": ["old"]}
    doc = flow(
        [action("t", "add_tag", tag="new"), action("g", "add_gift", sku="G", qty=1), END],
        [("s", "next", "t"), ("t", "next", "g"), ("g", "next", "end")],
    )
    before_context, before_doc = copy.deepcopy(context), copy.deepcopy(doc)
    result = run(doc, context, now=now)
    result.decisions.to_dict()["tags"].append("mutated")
    result.actions[0].params["tag"] = "mutated"
    assert context == before_context
    assert doc == before_doc
    assert run(doc, context, now=now).decisions.tags == ("old", "new")


def test_same_input_same_result_and_the_result_is_json(context: Context, now: datetime) -> None:
    doc = flow(
        [condition("c", {"some": [{"var": "order.lines"}, {">": [{"var": "qty"}, 0]}]}), action("a", "approve"), END],
        [("s", "next", "c"), ("c", "true", "a"), ("c", "false", "end"), ("a", "next", "end")],
    )
    first = run(doc, context, now=now).to_dict(timings=False)
    second = run(doc, context, now=now).to_dict(timings=False)
    assert first == second
    assert "micros" not in first and "micros" not in first["trace"][0]
    json.dumps(run(doc, context, now=now).to_dict(), ensure_ascii=False)


def test_expressions_share_one_evaluation_budget_per_run(context: Context, now: datetime) -> None:
    context["features"]["categories"] = list(range(6000))
    heavy = {"reduce": [{"var": "features.categories"}, {"+": [{"var": "accumulator"}, {"var": "current"}]}, 0]}
    chain = [condition(f"c{i}", heavy) for i in range(20)]
    edges = [("s", "next", "c0"), *((f"c{i}", port, f"c{i + 1}") for i in range(19) for port in ("true", "false"))]
    chain.append(END)
    edges += [("c19", "true", "end"), ("c19", "false", "end")]
    result = run(flow(chain, edges), context, now=now)
    assert result.status == "limit_exceeded" and result.limit == "steps"
    assert 2 < len(result.path) < 20
    assert result.trace[-1].error is not None and "steps" in result.trace[-1].error

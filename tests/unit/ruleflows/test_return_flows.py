"""After-sales flows (trigger ``return.requested``): they read the case context and decide only the case actions,
and order flows can neither read a case nor decide one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

import ruleflows
from ruleflows import Decisions, actions_for, context_schema, is_known_path, run, validate
from ruleflows.actions import check_params
from ruleflows.schema import field_at

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def case_flow(logic: Any, yes: dict[str, Any], no: dict[str, Any], trigger: str = "return.requested") -> dict[str, Any]:
    """start -> condition (true: ``yes`` action, false: ``no`` action) -> end."""
    return {
        "schema": 1,
        "name": "售后",
        "trigger": trigger,
        "nodes": [
            {"id": "s", "type": "start"},
            {"id": "c", "type": "condition", "name": "小额", "config": {"logic": logic}},
            {"id": "yes", "type": "action", "config": yes},
            {"id": "no", "type": "action", "config": no},
            {"id": "e", "type": "end"},
        ],
        "edges": [
            {"id": "e1", "source": "s", "target": "c", "port": "next"},
            {"id": "e2", "source": "c", "target": "yes", "port": "true"},
            {"id": "e3", "source": "c", "target": "no", "port": "false"},
            {"id": "e4", "source": "yes", "target": "e", "port": "next"},
            {"id": "e5", "source": "no", "target": "e", "port": "next"},
        ],
    }


SMALL = {"<": [{"var": "case.refund_fen"}, 5000]}
APPROVE = {"action": "approve_case"}
SUPERVISOR = {"action": "refer_to_supervisor", "params": {"reason": "金额较大"}}


def case_context(refund_fen: int, **features: int) -> dict[str, Any]:
    return {
        "case": {"kind": "refund_only", "refund_fen": refund_fen, "shipped": True, "lines": []},
        "features": {"returns_90d": 0, "refunded_fen_90d": 0, "orders_90d": 1, **features},
        "decisions": {},
    }


def test_return_requested_is_a_trigger_with_its_own_context() -> None:
    assert "return.requested" in ruleflows.TRIGGERS
    assert "return.requested" in ruleflows.RETURN_TRIGGERS and "return.requested" not in ruleflows.ORDER_TRIGGERS
    paths = {field["path"] for field in context_schema("return.requested")["fields"]}
    assert {
        "case.kind",
        "case.source",
        "case.refund_fen",
        "case.reason",
        "case.shipped",
        "case.channel",
        "case.line_count",
        "case.qty",
        "case.lines[].sku",
        "features.returns_90d",
        "features.refunded_fen_90d",
        "features.orders_90d",
        "decisions.case_approved",
    } <= paths
    assert not any(path.startswith("order") for path in paths)
    assert context_schema("order.received") == ruleflows.order_context_schema()


@pytest.mark.parametrize(
    ("path", "trigger", "known"),
    [
        ("case.refund_fen", "return.requested", True),
        ("case.lines.0.qty", "return.requested", True),
        ("features.returns_90d", "return.requested", True),
        ("order.amounts.paid_fen", "return.requested", False),
        ("features.region", "return.requested", False),
        ("case.refund_fen", "order.received", False),
        ("case.refund_fen", None, False),
        ("features.returns_90d", "order.paid", False),
        ("order.amounts.paid_fen", "order.paid", True),
    ],
)
def test_var_paths_are_known_only_in_their_triggers_context(path: str, trigger: str | None, known: bool) -> None:
    assert is_known_path(path, trigger) is known


def test_the_case_fields_say_their_type() -> None:
    assert field_at("case.refund_fen", "return.requested")["type"] == "money_fen"  # type: ignore[index]
    assert field_at("case.kind", "return.requested")["values"] == list(ruleflows.CASE_KINDS)  # type: ignore[index]
    assert field_at("case.kind") is None


def test_after_sales_flows_get_only_the_case_actions_and_order_flows_none_of_them() -> None:
    assert actions_for("return.requested") == ["approve_case", "refuse_case", "refer_to_supervisor"]
    order_actions = actions_for("order.received")
    assert "approve" in order_actions and not set(order_actions) & set(ruleflows.CASE_ACTIONS)
    assert set(order_actions) | set(ruleflows.CASE_ACTIONS) == set(ruleflows.ACTION_CATALOGUE)


def test_a_case_flow_that_reads_the_case_and_decides_case_actions_is_valid() -> None:
    assert validate(case_flow(SMALL, APPROVE, SUPERVISOR)) == []


def test_a_case_flow_may_not_read_the_order_or_decide_an_order_action() -> None:
    doc = case_flow({">": [{"var": "order.amounts.paid_fen"}, 0]}, {"action": "approve"}, SUPERVISOR)
    problems = validate(doc)
    assert [(p.code, p.node_id) for p in problems] == [("unknown_var", "c"), ("action_not_for_trigger", "yes")]
    assert "售后单数据" in problems[0].message_zh and "after-sales case data" in problems[0].message_en


def test_an_order_flow_may_not_read_a_case_or_decide_one() -> None:
    problems = validate(case_flow(SMALL, APPROVE, SUPERVISOR, trigger="order.received"))
    assert [(p.code, p.node_id) for p in problems] == [
        ("unknown_var", "c"),
        ("action_not_for_trigger", "yes"),
        ("action_not_for_trigger", "no"),
    ]
    assert "订单数据" in problems[0].message_zh


def test_refusing_and_sending_to_a_supervisor_need_a_reason() -> None:
    assert [i.code for i in check_params("refuse_case", {})] == ["missing_param"]
    assert [i.code for i in check_params("refer_to_supervisor", {"reason": ""})] == ["bad_param"]
    assert check_params("approve_case", {}) == []


@pytest.mark.parametrize("compiled", [False, True], ids=["document", "compiled"])
def test_the_run_decides_the_case_in_typed_fields(compiled: bool) -> None:
    doc: Any = (
        ruleflows.compile_flow(case_flow(SMALL, APPROVE, SUPERVISOR))
        if compiled
        else case_flow(SMALL, APPROVE, SUPERVISOR)
    )
    small = run(doc, case_context(4900), now=NOW)
    assert small.status == "ok" and small.decisions == Decisions(case_approved=True)
    assert small.decisions.final and small.decisions.case_decided
    large = run(doc, case_context(80000), now=NOW)
    assert large.decisions.to_dict() == {"to_supervisor": True, "supervisor_reason": "金额较大"}
    refused = Decisions().apply("refuse_case", {"reason": "超过售后期"})
    assert refused.to_dict() == {"case_refused": True, "refuse_reason": "超过售后期"}
    assert Decisions.from_dict(refused.to_dict()) == refused


def test_order_decisions_do_not_end_a_chain_unless_they_hold_or_cancel() -> None:
    assert not Decisions(approved=True).final


def test_a_case_flow_reads_the_case_and_not_an_order_given_beside_it() -> None:
    flow = ruleflows.compile_flow(case_flow(SMALL, APPROVE, SUPERVISOR))
    assert flow.subject == "case"
    context = {**case_context(80000), "order": {"refund_fen": 1}}
    for runnable in (flow, case_flow(SMALL, APPROVE, SUPERVISOR)):
        assert run(runnable, context, now=NOW).decisions.to_supervisor
        assert run(runnable, context, now=NOW, trace=False).decisions.to_supervisor
    assert Decisions(hold=True).final and Decisions(cancelled=True).final

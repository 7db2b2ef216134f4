"""The after-sales flows (return.requested) decide cases as drawn: the shipped 售后自动审核 template, published,
approves a small refund of a buyer with no returns in 90 days, leaves the same refund of a buyer with a recent
return to a person, refunds a case at once when nothing has shipped, and sends a ¥800 refund to a supervisor.
The decision is the outbox job's that every opened case stages once; order flows never run on cases, nor case
flows on orders."""

from __future__ import annotations

from typing import Any

import httpx
from sqlmodel import col, select

import ruleflows
from app.db import Database
from app.domain.accounts.models import Role
from app.domain.aftersales import jobs as aftersales_jobs
from app.domain.aftersales import rules
from app.domain.aftersales.models import AfterSaleCase, CaseKind
from app.domain.aftersales.services import CaseRequest, LineRequest
from app.domain.processing.models import FlowHit, OrderProcessing
from app.outbox import OutboxMessage
from tests.integration.aftersales.test_cases import (
    case_row,
    events_of,
    held,
    line_ids,
    open_case,
    routed_order,
    shipped_order,
    timeline,
)
from tests.integration.forms import login
from tests.integration.processing.conftest import wait_for
from tests.integration.processing.test_actions import ROUTE, linear_flow, publish


async def publish_template(db: Database) -> None:
    await publish(db, ruleflows.load_template("return_auto_review"))


async def refund_case(db: Database, order_id: int, sku: str, qty: int = 1) -> int:
    lines = await line_ids(db, order_id)
    return await open_case(
        db, CaseRequest(CaseKind.refund_only, order_id, [LineRequest(order_id, lines[sku], qty)], reason="不想要了")
    )


async def decided(db: Database, case_id: int) -> AfterSaleCase:
    """The case once the worker's job ran the flows on it (their runs are kept on the case)."""

    async def ran(session: Any) -> AfterSaleCase | None:
        case = await session.get(AfterSaleCase, case_id)
        return case if case is not None and case.flow_runs else None

    return await wait_for(db, ran, what=f"the after-sales flows to decide case {case_id}")


async def decide_jobs(db: Database, case_id: int) -> list[OutboxMessage]:
    async with db.reading() as session:
        rows = (await session.exec(select(OutboxMessage).where(OutboxMessage.job == "decide_case"))).all()
    return [row for row in rows if row.args == [case_id]]


async def test_the_auto_review_template_decides_cases_as_drawn(server, worker, db, make_user):
    await publish_template(db)

    # A small refund (¥29), the buyer's first case in 90 days: approved, refunded and closed by the flow.
    first = await shipped_order(server, db, "AR1", [("CABLE-C1", 1, 2900), ("MASK-10", 1, 9900)], buyer="ar-1")
    small = await decided(db, await refund_case(db, first, "CABLE-C1"))
    assert small.status == "completed" and small.refund_status == "refunded" and small.refund_fen == 2900
    assert small.decided_by.startswith("规则流「售后自动审核」v1") and not small.needs_supervisor
    assert small.flow_decisions == {"case_approved": True}
    (run,) = small.flow_runs
    assert run["name"] == "售后自动审核" and run["status"] == "ok"
    assert run["path"] == ["start", "not_shipped", "high_value", "small_and_clean", "approve_small", "end"]
    assert [step["node_id"] for step in run["trace"]] == run["path"]
    assert [e["refund_fen"] for e in await events_of(db, "aftersale.refunded")] == [2900]
    assert await timeline(db, first) == [
        "aftersale_opened",
        "aftersale_approved",
        "aftersale_refunded",
        "aftersale_completed",
    ]

    # The same amount from the same buyer, who had that return: it waits for a person, untouched.
    waiting = await decided(db, await refund_case(db, first, "MASK-10"))
    assert waiting.refund_fen == 9900
    again = await shipped_order(server, db, "AR2", [("CABLE-C1", 1, 2900)], buyer="ar-1")
    waiting = await decided(db, await refund_case(db, again, "CABLE-C1"))
    assert waiting.status == "requested" and waiting.refund_status == "pending" and not waiting.decided_by
    assert not waiting.needs_supervisor and waiting.flow_decisions == {}
    assert waiting.flow_runs[0]["path"][-2:] == ["small_and_clean", "end_waiting"]

    # ¥800: 高价值, left to a supervisor with the reason shown; it stays requested.
    large_order = await shipped_order(server, db, "AR3", [("CABLE-C1", 1, 80000)], buyer="ar-3")
    large = await decided(db, await refund_case(db, large_order, "CABLE-C1"))
    assert large.status == "requested" and large.needs_supervisor
    assert large.supervisor_reason == "高价值售后：退款超过 ¥500" and large.refund_status == "pending"
    assert "aftersale_to_supervisor" in await timeline(db, large_order)
    await make_user(Role.operator, username="clerk")
    async with httpx.AsyncClient(base_url=server, timeout=30) as browser:
        await login(browser, "clerk")
        page = (await browser.get(f"/aftersales/{large.id}")).text
        queue = (await browser.get("/aftersales/")).text
    assert 'data-testid="case-supervisor"' in page and "高价值售后：退款超过 ¥500" in page
    assert queue.count('data-testid="aftersale-supervisor"') == 1

    # Each case staged one decision; running the job again changes nothing.
    for case in (small, waiting, large):
        assert case.id is not None
        assert len(await decide_jobs(db, case.id)) == 1
        assert (await aftersales_jobs.decide_case({"db": db}, case.id))["outcome"] == "skipped"
    assert (await case_row(db, large.id or 0)).needs_supervisor

    # The order flows ran on the orders, never the after-sales flow; its hits were counted on its version.
    async with db.reading() as session:
        procs = (await session.exec(select(OrderProcessing).where(col(OrderProcessing.order_id).in_([first])))).all()
        hits = (await session.exec(select(FlowHit).where(FlowHit.node_id == "small_and_clean"))).all()
    assert procs and all(run["name"] != "售后自动审核" for proc in procs for run in proc.flows)
    assert sum(hit.count for hit in hits) == 3  # ¥29, ¥99 and the second ¥29; ¥800 went to the supervisor before


async def test_a_case_of_goods_not_shipped_yet_is_refunded_at_once(db, settings, demo_data):
    await publish(db, linear_flow(*ROUTE))
    await publish_template(db)
    order_id = await routed_order(db, settings, "AR4", [("CABLE-C1", 2, 2900), ("MASK-10", 1, 9900)])
    case_id = await refund_case(db, order_id, "MASK-10")

    outcome = await aftersales_jobs.decide_case({"db": db}, case_id)

    assert outcome["outcome"] == "approved"
    case = await case_row(db, case_id)
    assert case.status == "completed" and case.refund_status == "refunded" and not case.shipped
    assert case.flow_runs[0]["path"] == ["start", "not_shipped", "approve_unshipped", "end"]
    assert await held(db, order_id) == {"CABLE-C1": 2}, "the refunded item gave its stock back"


async def test_without_a_published_after_sales_flow_a_case_waits_for_a_person(db, settings, demo_data):
    await publish(db, linear_flow(*ROUTE))
    order_id = await routed_order(db, settings, "AR5", [("MASK-10", 1, 9900)])
    case_id = await refund_case(db, order_id, "MASK-10")

    outcome = await aftersales_jobs.decide_case({"db": db}, case_id)

    assert outcome["outcome"] == "waiting"
    case = await case_row(db, case_id)
    assert case.status == "requested" and case.flow_runs == [] and not case.needs_supervisor
    async with db.transaction() as session:
        assert (await rules.decide(session, case_id)).outcome == "waiting"

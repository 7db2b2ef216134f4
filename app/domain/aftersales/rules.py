"""After-sales rules: the published ``return.requested`` flows decide a case when it opens.

:func:`decide` is the body of the ``decide_case`` job, which ``services.open_case`` stages in the outbox once per
case, whatever its source. It locks the case and leaves it alone unless it still waits for its first decision;
builds the case's context (the case, and the buyer's last 90 days as ``features``); runs the live after-sales
flows in priority order with the same chain the orders' flows run in (``processing.services.run_flows``); keeps
their runs and decisions on the case, counts their hits as the orders' runs do, and carries the decision out
through the after-sales services: 同意 ``services.approve``, 拒绝 ``services.refuse``, 转主管审核
``services.refer_to_supervisor`` (the case stays requested, flagged with the reason). No flow published, none
deciding, or a flow failing: the case waits for a person.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import anyio.to_thread
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import iso_utc, utcnow
from app.domain.accounts.services import Actor
from app.domain.aftersales import services
from app.domain.aftersales.models import AfterSaleCase, CaseStatus, RefundStatus
from app.domain.flows import services as flows
from app.domain.orders.features import buyer_orders_since, same_buyer
from app.domain.orders.models import Order
from app.domain.processing import hits
from app.domain.processing import services as processing
from app.domain.shops import services as shop_readers

log = logging.getLogger(__name__)

#: How far back the buyer's history reaches (``features.*_90d``).
HISTORY_DAYS = 90


@dataclass
class Decided:
    """What the flows did with one case, for the job's result and the tests."""

    case_id: int
    outcome: str  # approved | refused | supervisor | waiting | skipped
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "outcome": self.outcome, "reason": self.reason}


async def case_context(
    session: AsyncSession, view: services.CaseView, now: datetime, *, shop_code: str = ""
) -> dict[str, Any]:
    """The context an after-sales flow reads (``ruleflows.RETURN_CONTEXT_SCHEMA``): the case and its lines, and
    the buyer's last 90 days before this case: their other cases, what was refunded to them, their orders."""
    case = view.case
    order = await session.get(Order, case.order_id)
    if order is None:
        raise services.AfterSaleError("order_not_found")
    covered = (await session.exec(select(Order.paid_fen).where(col(Order.id).in_(view.orders)))).all()
    since = now - timedelta(days=HISTORY_DAYS)
    buyer_orders = select(Order.id).where(same_buyer(order))
    earlier = (
        await session.exec(
            select(AfterSaleCase.refund_fen, AfterSaleCase.refund_status).where(
                col(AfterSaleCase.order_id).in_(buyer_orders),
                col(AfterSaleCase.id) != case.id,
                col(AfterSaleCase.created_at) >= since,
                col(AfterSaleCase.status) != CaseStatus.cancelled.value,
            )
        )
    ).all()
    return {
        "case": {
            "kind": case.kind,
            "source": case.source,
            "channel": case.channel,
            "shop_code": shop_code,
            "reason": case.reason,
            "shipped": case.shipped,
            "refund_fen": case.refund_fen,
            "shipping_refund_fen": case.shipping_refund_fen,
            "paid_fen": sum(covered),
            "line_count": len(view.lines),
            "qty": sum(line.qty for line in view.lines),
            "lines": [
                {"sku": line.sku, "title": line.title, "qty": line.qty, "refund_fen": line.refund_fen}
                for line in view.lines
            ],
            "opened_at": iso_utc(case.created_at),
        },
        "features": {
            "returns_90d": len(earlier),
            "refunded_fen_90d": sum(fen for fen, status in earlier if status == RefundStatus.refunded.value),
            "orders_90d": await buyer_orders_since(session, order, since),
        },
    }


def _waits_for_flows(case: AfterSaleCase) -> bool:
    """Still waiting for its first decision: requested, not yet seen by the flows, not left to a supervisor."""
    return case.status == CaseStatus.requested.value and not case.flow_runs and not case.needs_supervisor


async def decide(session: AsyncSession, case_id: int, *, now: datetime | None = None) -> Decided:
    """Run the live after-sales flows on a case that waits for its first decision and carry the decision out,
    in the caller's transaction; a case decided already (by a person, a store counter or an earlier run of this
    job) is left alone."""
    now = now or utcnow()
    published = await flows.live_flows(session, context="return")  # order flows never run on a case
    if not published:
        return Decided(case_id, "waiting", "没有已发布的售后规则流")  # (without taking the case's lock)
    view = await services.load_case(session, case_id, lock=True)
    case = view.case
    if not _waits_for_flows(case):
        return Decided(case_id, "skipped", "售后单已处理")
    shops = await shop_readers.shops_by_id(session, {case.shop_id})
    shop_code = shops[case.shop_id].code if case.shop_id in shops else ""
    live = [f for f in published if flows.applies_to(f.flow, case.channel, shop_code)]
    if not live:
        return Decided(case_id, "waiting", "没有适用于该店铺的售后规则流")
    context = await case_context(session, view, now, shop_code=shop_code)
    decisions, runs = await anyio.to_thread.run_sync(processing.run_flows, live, context, now)
    case.flow_runs = runs
    case.flow_decisions = decisions.to_dict()
    case.updated_at = now
    session.add(case)
    await hits.record(session, runs, now)
    failed = next((run for run in runs if run["status"] != "ok"), None)
    if failed is not None:
        log.warning("after-sales flow %s failed on case %s: %s", failed["flow_id"], case_id, failed["error"])
        return Decided(
            case_id, "waiting", f"规则流「{failed['name']}」节点 {failed['failed_node']} 出错：{failed['error']}"
        )
    decider = next((run for run in reversed(runs)), None)
    actor = _flow_actor(live, decider)
    if decisions.to_supervisor:
        reason = decisions.supervisor_reason or "规则流要求主管审核"
        await services.refer_to_supervisor(session, case_id, actor, reason, now=now)
        return Decided(case_id, "supervisor", reason)
    if decisions.case_refused:
        await services.refuse(session, case_id, actor, decisions.refuse_reason or "规则流拒绝", now=now)
        return Decided(case_id, "refused", decisions.refuse_reason or "")
    if decisions.case_approved:
        try:
            async with session.begin_nested():
                await services.approve(session, case_id, actor, now=now)
        except services.AfterSaleError as exc:
            # The flows agreed, but the case cannot be carried out as it stands (a waybilled parcel, …).
            reason = f"规则流同意，但无法自动执行：{exc.message}"
            await services.refer_to_supervisor(session, case_id, actor, reason, now=now)
            return Decided(case_id, "supervisor", reason)
        return Decided(case_id, "approved")
    return Decided(case_id, "waiting", "规则流未作决定")


def _flow_actor(live: list[flows.LiveFlow], run: dict[str, Any] | None) -> Actor:
    """Who decided, as the case and its orders' timelines name it: the flow and its version."""
    flow = next((f for f in live if run is not None and f.flow_id == run["flow_id"]), None)
    name = f"规则流「{flow.compiled.name}」v{flow.version_number}" if flow is not None else "规则流"
    return Actor("system", None, name[:100])

"""Processing jobs: run the flows on an order, move it on around a shipment's waybill, sweep stuck orders.

Only transient errors (the database or the carrier briefly unreachable, a lock conflict) are raised, so
that the outbox retries them with back-off; anything else puts the order in the review queue with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import Database, is_transient, utcnow
from app.domain.flows import canary as canaries
from app.domain.fulfillment import jobs as fulfillment_jobs
from app.domain.fulfillment import services as fulfillment
from app.domain.orders import services as orders
from app.domain.orders.models import Order, OrderStatus
from app.domain.processing import services
from app.domain.processing.models import OrderProcessing, ProcessingState
from app.settings import Settings

log = logging.getLogger(__name__)


async def process_order(ctx: dict[str, Any], order_id: int) -> dict[str, Any]:
    """Run the published flows on one order and carry out the decisions (idempotent per order version).
    Whatever goes wrong that is not transient puts the order in the review queue with the reason."""
    try:
        return (await process_orders(ctx, [order_id]))[0]
    except Exception as exc:
        if is_transient(exc):
            raise
        log.exception("processing order %s failed", order_id)
        reason = f"处理出错：{type(exc).__name__}: {str(exc)[:300]}"
    db: Database = ctx["db"]
    async with db.transaction() as session:
        await services.record_failure(session, int(order_id), reason)
    return {"order_id": order_id, "state": ProcessingState.held.value, "reason": reason}


async def process_orders(ctx: dict[str, Any], order_ids: list[int]) -> list[dict[str, Any]]:
    """Process a batch of orders in one transaction (each in its own savepoint; see
    :func:`services.process_batch`), then judge the running canaries on what it added. Transient errors are
    raised for the outbox to retry the batch."""
    db: Database = ctx["db"]
    settings: Settings = ctx["settings"]
    ids = [int(order_id) for order_id in order_ids]
    async with db.transaction() as session:
        outcomes = await services.process_batch(session, ids, secret_key=settings.secret_key, db=db)
    await judge_canaries(db)
    # Which worker did it, as the monitor and an operator chasing a batch would want to know.
    worker = f"{socket.gethostname()}:{os.getpid()}"
    return [{**outcome.as_dict(), "worker": worker, "batch": len(order_ids)} for outcome in outcomes]


async def request_waybill(ctx: dict[str, Any], shipment_id: int) -> dict[str, Any]:
    """The waybill job for one shipment (see :func:`request_waybills`)."""
    return (await request_waybills(ctx, [shipment_id]))[0]


async def request_waybills(ctx: dict[str, Any], shipment_ids: list[int]) -> list[dict[str, Any]]:
    """The waybill job: fulfillment gets each shipment's number from its carrier (``fetch_waybill``, all at
    once), then, in one transaction, each order moves on once every shipment of it has a number, with the
    orders merged into it; a refusal puts the order in the review queue. A transient carrier error fails the
    whole batch: asked again, the carrier gives the numbers it gave (the request key is the idempotency key)."""
    db: Database = ctx["db"]
    fetched = await asyncio.gather(*(fulfillment_jobs.fetch_waybill(ctx, shipment_id) for shipment_id in shipment_ids))
    answers: list[dict[str, Any]] = []
    async with db.transaction() as session:
        for shipment_id, fetch in zip(shipment_ids, fetched, strict=True):
            answers.append(await _record_waybill(session, shipment_id, fetch))
    return answers


async def _record_waybill(
    session: AsyncSession, shipment_id: int, fetched: fulfillment_jobs.WaybillFetch
) -> dict[str, Any]:
    if fetched.skipped is not None:
        return fetched.skipped
    assert fetched.request is not None
    if fetched.refusal is not None:
        await services.record_failure(
            session, fetched.order_id, f"快递 {fetched.request.carrier_code} 拒绝出面单：{fetched.refusal}"
        )
        return {"refused": fetched.refusal}
    row, complete = await fulfillment.record_shipment_waybill(
        session, shipment_id, fetched.request, fetched.existing, fetched.result
    )
    order = await session.get(Order, row.order_id)
    assert order is not None
    await orders.add_event(session, order, "waybill", {"shipment": row.ref, "waybill_no": row.waybill_no})
    if complete and order.status == OrderStatus.routed:
        await orders.set_status(session, order, OrderStatus.waybilled)
        merged = (await session.exec(select(OrderProcessing).where(OrderProcessing.merged_into == row.order_id))).all()
        for proc in merged:
            other = await session.get(Order, proc.order_id)
            if other is not None and other.status == OrderStatus.routed:
                await orders.set_status(session, other, OrderStatus.waybilled)
    return {"waybill_no": row.waybill_no}


async def judge_canaries(db: Database) -> list[int]:
    """Roll back the canaries past their thresholds (see :func:`canaries.judge_running`). The batch it follows is
    committed whatever happens here: a failure is logged and the sweeper judges again."""
    try:
        return await canaries.judge_running(db)
    except Exception:
        log.exception("judging the running canaries failed; the sweeper tries again")
        return []


#: The most batches of 自动完成 one sweep carries out (the rest wait for the next sweep).
COMPLETE_BATCHES = 25


async def complete_delivered(db: Database, now: datetime) -> int:
    """自动完成 in batches, each in a transaction of its own (see :func:`orders.complete_delivered`), until a batch
    finds fewer than it could take; how many orders were completed."""
    total = 0
    for _ in range(COMPLETE_BATCHES):
        async with db.transaction() as session:
            done = await orders.complete_delivered(session, now)
        total += done
        if done < orders.COMPLETE_BATCH:
            break
    return total


async def sweep_processing(db: Database, settings: Settings, *, now: datetime | None = None) -> dict[str, int]:
    """Cron body: re-stage stuck orders and retry 缺货 orders (see :func:`services.sweep`), cancel or hold the
    presales whose balance is overdue at ``now`` (see :func:`services.expire_presales`), complete the orders
    delivered long enough ago (see :func:`complete_delivered`), and judge the running canaries (in case the
    judging after a batch was lost)."""
    await judge_canaries(db)
    async with db.transaction() as session:
        counts = await services.sweep(
            session,
            stuck_after=timedelta(seconds=settings.processing_stuck_seconds),
            retry_stock_after=timedelta(seconds=settings.stock_retry_seconds),
        )
    async with db.transaction() as session:
        counts |= await services.expire_presales(session, now or utcnow())
    counts["completed"] = await complete_delivered(db, now or utcnow())
    if any(counts.values()):
        log.warning("processing sweeper: %s", counts)
    return counts

"""Automatic processing: run the published flows on an order and carry out what they decide, in one transaction.

``process`` is the body of the ``process_order`` job. It locks the order, skips it when its current version
was already processed (so a second delivery of the job changes nothing), computes the features, runs each
published flow that applies in priority order, and applies the decided actions: holds, cancellation,
合单, warehouse choice with the atomic reservation (or 拆单, or 缺货), gifts, bundles, carrier, documents,
waybill and buyer messages. Anything that cannot be carried out raises :class:`ActionFailed`; the caller
rolls the whole transaction back and records the reason with :func:`record_failure`, which puts the order
in the review queue. Nothing is ever half-done.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, ClassVar

import anyio
import anyio.to_thread
from sqlalchemy import exists, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

import ruleflows
from app import outbox
from app.db import Database, deferred_of, deferring, is_transient, utcnow
from app.domain.accounts.services import SYSTEM, Actor
from app.domain.flows import canary as canaries
from app.domain.flows import services as flows
from app.domain.fulfillment import interceptions, message_templates, notifications, routing
from app.domain.fulfillment import services as fulfillment
from app.domain.fulfillment.models import Shipment
from app.domain.inventory import services as inventory
from app.domain.inventory import sku_mappings
from app.domain.inventory.models import Sku
from app.domain.inventory.pool import StockPool
from app.domain.inventory.services import ReservationLine
from app.domain.orders import pii
from app.domain.orders import services as orders
from app.domain.orders.features import context_of, history_of_many
from app.domain.orders.models import Order, OrderLine, OrderStatus
from app.domain.processing import hits
from app.domain.processing.models import REVIEW_STATES, OrderProcessing, ProcessingState
from app.domain.shops import services as shop_readers
from app.domain.shops.models import Channel, Shop
from app.errors import DomainError, Labels
from app.events import EventType
from app.i18n import N_
from ruleflows import short_province

log = logging.getLogger(__name__)

#: Order statuses past which processing never touches an order again.
FINISHED_STATUSES = frozenset({OrderStatus.shipped, OrderStatus.delivered, OrderStatus.completed})
REFUND_TAGS = frozenset({"refunded", "partially_refunded"})
#: Statuses in which a refund in full cancels the order as a platform's cancel does (a waybilled parcel is
#: intercepted); before, the flows decide; a delivered or completed order's refund is an after-sales matter.
REFUND_CANCELS = frozenset({OrderStatus.waybilled, OrderStatus.shipped})


class ActionFailed(Exception):
    """A decided action cannot be carried out; the order goes to review with ``reason`` (Chinese)."""

    def __init__(self, reason: str, *, code: str = "failed") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass
class Outcome:
    """What one processing run did, for the job's result and the tests."""

    order_id: int
    state: str
    skipped: bool = False
    reason: str = ""
    warehouses: list[str] = field(default_factory=list)
    carriers: list[str] = field(default_factory=list)
    gifts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "state": self.state,
            "skipped": self.skipped,
            "reason": self.reason,
            "warehouses": self.warehouses,
            "carriers": self.carriers,
            "gifts": self.gifts,
            "notes": self.notes,
        }


# --- queueing ------------------------------------------------------------------------------------------


async def queue(session: AsyncSession, order: Order, *, reason: str = "", new: bool = False) -> OrderProcessing:
    """Mark an order as needing a processing run and stage the job after commit (once per reason/version).

    ``new``: the order was created in this transaction, so it has no processing row to read yet."""
    assert order.id is not None
    now = utcnow()
    proc = None if new else await session.get(OrderProcessing, order.id)
    if proc is None:
        proc = OrderProcessing(order_id=order.id, queued_at=now, updated_at=now)
    proc.state = ProcessingState.queued
    proc.queued_at = now
    proc.updated_at = now
    session.add(proc)
    suffix = f":{reason}" if reason else ""
    await outbox.stage(
        session, "process_order", order.id, dedupe_key=f"process_order:{order.id}:v{order.version}{suffix}"
    )
    return proc


async def book_till_sale(session: AsyncSession, shop: Shop, order: Order) -> inventory.TillSale | None:
    """A store till's completed sale (a POS order shipped, delivered or completed) leaves the store warehouse
    at once, in the transaction the order lands in; it is never routed to a warehouse (processing treats a
    finished order as dispatched). A line already booked, or an order delivered again, books nothing; a
    line whose SKU is not ours yet, or a shop with no store warehouse, is noted on the order's timeline."""
    if shop.channel != Channel.pos or order.status not in FINISHED_STATUSES:
        return None
    assert order.id is not None
    lines = await _lines(session, order.id)
    unmatched = routing.unmatched_lines(lines)
    if not shop.store_warehouse_code:
        await orders.add_event(session, order, "till_sale", {"note": "门店收银店铺未设门店仓，未扣库存"})
        return None
    sale = await inventory.sell_at_till(
        session,
        shop.store_warehouse_code,
        inventory.order_key(order.id),
        [ReservationLine(item.key, item.sku, item.qty) for item in routing.items_of(order.id, lines)],
        SYSTEM,
    )
    if sale.moves:
        # Routed while it was only paid: the shelf sold it, so the warehouse keeps its units and parcel.
        released = await inventory.release(session, inventory.order_key(order.id), SYSTEM, note="门店收银已售出")
        waiting = [s for s in await fulfillment.shipments_of(session, order.id) if not s.waybill_no]
        await fulfillment.cancel_shipments(session, waiting)
    if sale.moves or unmatched:
        detail: dict[str, Any] = {
            "warehouse": shop.store_warehouse_code,
            "units": -sum(move.on_hand_delta for move in sale.moves),
        }
        if sale.moves and released:
            detail["released_lines"] = len(released)
        if sale.short:
            detail["short_of_book"] = sale.short
        if unmatched:
            detail["unmatched_lines"] = unmatched
        await orders.add_event(session, order, "till_sale", detail)
    return sale


# --- helpers on the order ----------------------------------------------------------------------------------


async def _locked_order(session: AsyncSession, order_id: int) -> Order | None:
    query = select(Order).where(Order.id == order_id).execution_options(populate_existing=True)
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    return (await session.exec(query)).first()


async def _lines(session: AsyncSession, order_id: int) -> list[OrderLine]:
    query = select(OrderLine).where(OrderLine.order_id == order_id).order_by(col(OrderLine.position))
    return list((await session.exec(query)).all())


def _has_refund(order: Order, lines: list[OrderLine]) -> bool:
    return bool(REFUND_TAGS & set(order.tags)) or any(line.is_refunded for line in lines)


# --- the run -----------------------------------------------------------------------------------------------


#: Wall-clock seconds one flow may spend on one order before it is stopped and the order goes to review.
FLOW_TIME_LIMIT = 1.0


@dataclass
class Prepared:
    """One order of a batch, read and with its flows run, waiting to be carried out."""

    order: Order
    proc: OrderProcessing
    lines: list[OrderLine]
    shipments: list[Shipment]
    shop: Shop | None = None
    context: dict[str, Any] = field(default_factory=dict)
    flows: list[flows.LiveFlow] = field(default_factory=list)
    decisions: ruleflows.Decisions = field(default_factory=ruleflows.Decisions)
    runs: list[dict[str, Any]] = field(default_factory=list)
    #: Set when the order is settled before its flows run (cancelled, already shipped, merged, unpaid).
    early: str = ""

    @property
    def key(self) -> str:
        assert self.order.id is not None
        return inventory.order_key(self.order.id)

    @property
    def active_shipments(self) -> list[Shipment]:
        """The shipments that leave (a re-route with fewer parcels cancels the others)."""
        return [shipment for shipment in self.shipments if shipment.status != "cancelled"]


@dataclass
class Batch:
    """What the orders of one batch share, read once with set-based queries: the stock pool of every SKU
    they may take (held under lock on PostgreSQL until the batch commits), the network, the SKU master."""

    now: datetime
    network: routing.Network
    pool: StockPool
    skus: dict[str, Sku]
    holdings: dict[str, list[tuple[str, str, int]]]
    #: Where documents are opened on PostgreSQL: in short transactions of their own, so that concurrent
    #: batches never wait on (or deadlock over) one another's uncommitted new document of a wave.
    db: Database | None = None
    #: The wave's documents opened so far, by (warehouse, kind): their ids.
    documents: dict[tuple[str, str], int] = field(default_factory=dict)
    #: The documents the batch's orders' earlier shipments are on, by shipment reference.
    entries: dict[str, set[int]] = field(default_factory=dict)
    #: The buyer message templates' texts, read once for the batch's messages.
    texts: message_templates.Texts = field(default_factory=lambda: message_templates.Texts({}))
    #: The SKUs whose stock rows the batch locked before reading them into the pool (on SQLite the one
    #: writer holds everything: None), reserved with one guarded UPDATE per SKU and warehouse at the end.
    locked: set[str] | None = None

    @property
    def under_lock(self) -> set[str]:
        return self.pool.known if self.locked is None else self.locked

    async def documents_of(self, session: AsyncSession, warehouse: str, kinds: list[str]) -> list[int]:
        """The wave's documents of these kinds at the warehouse (opened when missing), once per batch."""
        wanted = [kind for kind in kinds if (warehouse, kind) not in self.documents]
        if wanted:
            if self.db is not None and not self.db.is_sqlite:
                async with self.db.transaction() as side:
                    opened = await fulfillment.open_documents(side, warehouse, wanted, self.now)
                    ids = [document.id for document in opened]
            else:
                opened = await fulfillment.open_documents(session, warehouse, wanted, self.now)
                ids = [document.id for document in opened]
            for kind, document_id in zip(wanted, ids, strict=True):
                assert document_id is not None
                self.documents[(warehouse, kind)] = document_id
        return [self.documents[(warehouse, kind)] for kind in kinds]


async def process(session: AsyncSession, order_id: int, *, secret_key: str, now: datetime | None = None) -> Outcome:
    """Process an order's current version; a version already processed is left alone."""
    return (await process_batch(session, [order_id], secret_key=secret_key, now=now))[0]


async def process_batch(
    session: AsyncSession,
    order_ids: Sequence[int],
    *,
    secret_key: str,
    now: datetime | None = None,
    db: Database | None = None,
) -> list[Outcome]:
    """Process many orders in the caller's one transaction, each in a savepoint of its own.

    Reads are set-based (the orders locked in id order, their processing rows, lines, shipments, shops and
    history in a few queries), the flows run off the event loop for all of them at once, then the stock of
    every SKU they may take is locked in one fixed order and read into one pool, and each order is carried
    out in turn. An order whose flows fail or whose actions cannot be carried out is rolled back to its
    savepoint and goes to review with the reason; the others are done. Transient errors (the database went
    away, a lock conflict) are raised: the whole batch is then retried. With ``db`` (the worker's), the
    wave's shipping documents are opened in transactions of their own. ``secret_key`` opens the receivers'
    phones and streets for the audit features.
    """
    now = now or utcnow()
    ids = sorted(set(order_ids))
    prepared = await _read_batch(session, ids, now, secret_key)
    await _run_batch_flows(prepared, now)
    batch = await _stock_for(session, prepared.values(), now)
    batch.db = db
    outcomes: dict[int, Outcome] = {}
    # Timeline entries, ledger moves, outbox messages and document entries are written together at the end.
    async with deferring(session) as later:
        for order_id in ids:
            item = prepared.get(order_id)
            if item is None:
                outcomes[order_id] = Outcome(order_id, "missing", skipped=True, reason="订单不存在")
                continue
            mark, written = batch.pool.mark(), later.mark()
            try:
                async with session.begin_nested():
                    outcomes[order_id] = await _carry_out(session, batch, item)
                    await _record_events(session, batch, item, outcomes[order_id])
            except Exception as exc:
                if is_transient(exc):
                    raise
                batch.pool.undo(mark)
                later.undo(written)
                if isinstance(exc, ActionFailed):
                    reason, code = exc.reason, exc.code
                else:
                    log.exception("processing order %s failed", order_id)
                    reason, code = f"处理出错：{type(exc).__name__}: {str(exc)[:300]}", "failed"
                outcomes[order_id] = await _failed(session, order_id, reason, code)
    await canaries.record_orders(session, await _canary_orders(session, prepared, outcomes), now)
    return [outcomes[order_id] for order_id in order_ids]


async def _record_events(session: AsyncSession, batch: Batch, item: Prepared, outcome: Outcome) -> None:
    """The outbound events of one order carried out: it went to the review queue, or it was routed."""
    if outcome.skipped:
        return
    order = await session.get(Order, outcome.order_id)
    proc = await session.get(OrderProcessing, outcome.order_id)
    if order is None or proc is None:
        return
    # Held for a reason; a presale waiting for its balance is in the queue too but not held.
    if proc.state in (ProcessingState.held, ProcessingState.out_of_stock):
        await _record_held(session, order, proc)
    elif proc.state == ProcessingState.processed and order.status == OrderStatus.routed and item.active_shipments:
        shipments = fulfillment.event_shipments(item.active_shipments, batch.network)
        ran = {run["flow_id"] for run in item.runs}
        routed = {
            "warehouse": shipments[0]["warehouse"],
            "carrier": shipments[0]["carrier"],
            "waybill_numbers": [s["waybill_no"] for s in shipments if s["waybill_no"]],
            "shipments": shipments,
            "flows": [
                {
                    "flow_id": f.flow_id,
                    "name": f.compiled.name,
                    "version_id": f.version_id,
                    "version_number": f.version_number,
                    "canary": f.on_canary,
                }
                for f in item.flows
                if f.flow_id in ran
            ],
        }
        await orders.record_order_event(
            session,
            order,
            EventType.order_routed,
            change=f"v{order.version}:r{proc.runs}",
            extra=routed,
            shop_code=item.shop.code if item.shop is not None else None,
        )


async def _record_held(session: AsyncSession, order: Order, proc: OrderProcessing) -> None:
    """``order.held``: once per order version and reason code (a 缺货 order tried again stays one hold)."""
    await orders.record_order_event(
        session,
        order,
        EventType.order_held,
        change=f"v{order.version}:{proc.hold_code}",
        extra={"hold": {"code": proc.hold_code, "reason": proc.hold_reason}},
    )


async def _request_waybills(session: AsyncSession, shipments: list[Shipment]) -> None:
    """Stage the waybill requests of the batch's shipments, once each; done with the batch's other writes at
    its end, when the new shipments have their ids."""
    for shipment in shipments:
        await outbox.stage(session, "request_waybill", shipment.id, dedupe_key=f"request_waybill:{shipment.ref}")


async def _failed(session: AsyncSession, order_id: int, reason: str, code: str = "failed") -> Outcome:
    await record_failure(session, order_id, reason, code=code)
    return Outcome(order_id, ProcessingState.held.value, reason=reason)


async def _read_batch(session: AsyncSession, ids: list[int], now: datetime, secret_key: str) -> dict[int, Prepared]:
    """Lock the orders (in id order, on PostgreSQL) and read everything their flows need, set-based."""
    if not ids:
        return {}
    query = (
        select(Order).where(col(Order.id).in_(ids)).order_by(col(Order.id)).execution_options(populate_existing=True)
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    found = {order.id: order for order in (await session.exec(query)).all() if order.id is not None}
    procs = {
        p.order_id: p
        for p in (await session.exec(select(OrderProcessing).where(col(OrderProcessing.order_id).in_(found)))).all()
    }
    lines: dict[int, list[OrderLine]] = defaultdict(list)
    for line in (
        await session.exec(
            select(OrderLine).where(col(OrderLine.order_id).in_(found)).order_by(col(OrderLine.position))
        )
    ).all():
        lines[line.order_id].append(line)
    shipments = await fulfillment.shipments_of_many(session, found)

    prepared: dict[int, Prepared] = {}
    for order_id, order in found.items():
        proc = procs.get(order_id) or OrderProcessing(order_id=order_id, queued_at=now, updated_at=now)
        item = Prepared(order, proc, lines[order_id], shipments[order_id])
        if proc.state != ProcessingState.queued and proc.order_version == order.version:
            item.early = "done"
        elif order.status == OrderStatus.cancelled:
            item.early = "cancelled"
        elif "refunded" in order.tags and order.status in REFUND_CANCELS:
            item.early = "refunded"
        elif order.status in FINISHED_STATUSES or any(s.waybill_no for s in item.shipments):
            item.early = "dispatched"
        elif proc.merged_into is not None:
            item.early = "merged"
        elif order.paid_at is None and not order.deposit_paid:
            item.early = "unpaid"
        prepared[order_id] = item

    running = [item for item in prepared.values() if not item.early]
    if not running:
        return prepared
    shops = await shop_readers.shops_by_id(session, {item.order.shop_id for item in running})
    # A line that came without our SKU may be ours by now (a SKU added, a mapping saved in review).
    await orders.resolve_unmatched_lines(session, [(item.order, item.lines) for item in running])
    skus = await inventory.skus_by_code(session, {line.sku for item in running for line in item.lines if line.sku})
    histories = await history_of_many(session, [item.order for item in running])
    stock = await inventory.load_pool(session, skus)
    live = await flows.live_flows(session, context="order")  # after-sales flows run on cases, never on orders
    warehouses = list(stock.available)
    for order_id, item in prepared.items():
        if item.early:
            continue
        item.shop = shops[item.order.shop_id]
        view = orders.OrderView(item.order, item.lines, item.shop)
        codes = {line.sku for line in item.lines if line.sku}
        item.context = context_of(
            view,
            skus,
            secret_key=secret_key,
            now=now,
            history=histories[order_id],
            stock_by_warehouse=stock.by_warehouse(codes, warehouses) if codes else {},
            review_approved=item.proc.approved_version == item.order.version,
        )
        item.flows = [
            f.for_order(order_id, item.shop.code)
            for f in live
            if flows.applies_to(f.flow, item.order.channel, item.shop.code)
        ]
    return prepared


async def _canary_orders(
    session: AsyncSession, prepared: Mapping[int, Prepared], outcomes: Mapping[int, Outcome]
) -> list[canaries.CanaryOrder]:
    """The batch's orders that a flow with a running canary ran on: which version took each, how it ended."""
    entries: list[canaries.CanaryOrder] = []
    for order_id, item in prepared.items():
        outcome = outcomes.get(order_id)
        ran = {run["flow_id"] for run in item.runs}
        tried = [f for f in item.flows if f.canary is not None and f.flow_id in ran]
        if outcome is None or outcome.skipped or not tried:
            continue
        proc = await session.get(OrderProcessing, order_id)
        if proc is None:
            continue
        if proc.hold_code == "failed":
            result, fee = canaries.FAILED, None
        elif proc.state in (ProcessingState.held, ProcessingState.out_of_stock):
            result, fee = canaries.HELD, None
        else:
            parcels = item.active_shipments
            result, fee = canaries.PROCESSED, sum(s.fee_fen for s in parcels) if parcels else None
        entries += [
            canaries.CanaryOrder(f.canary.canary_id, order_id, f.version_id, f.on_canary, result, fee)
            for f in tried
            if f.canary is not None
        ]
    return entries


async def _run_batch_flows(prepared: dict[int, Prepared], now: datetime) -> None:
    """Run every order's live flows, off the event loop so that the web process keeps answering."""
    running = [item for item in prepared.values() if not item.early]
    if running:
        await anyio.to_thread.run_sync(partial(_run_all_flows, running, now))


def _run_all_flows(running: list[Prepared], now: datetime) -> None:
    for item in running:
        item.decisions, item.runs = run_flows(item.flows, item.context, now)


def run_flows(
    live: Sequence[flows.LiveFlow], context: dict[str, Any], now: datetime
) -> tuple[ruleflows.Decisions, list[dict[str, Any]]]:
    """Run the live flows in priority order on an order's context (or an after-sales case's); decisions carry
    from one flow to the next. A flow that holds, cancels, decides a case or fails ends the chain; a flow that
    runs past FLOW_TIME_LIMIT is stopped (and fails). Each run is kept as the processing records keep it:
    flow, version, status, path, actions and per-node trace."""
    decisions = ruleflows.Decisions()
    runs: list[dict[str, Any]] = []
    for flow in live:
        step = {**context, "decisions": decisions.to_dict()}
        result = ruleflows.run(flow.compiled, step, now=now, time_limit=FLOW_TIME_LIMIT)
        decisions = result.decisions
        runs.append(
            {
                "flow_id": flow.flow_id,
                "version_id": flow.version_id,
                "name": flow.compiled.name,
                "status": result.status,
                "path": result.path,
                "failed_node": result.failed_node,
                "error": result.error,
                "actions": [action.to_dict() for action in result.actions],
                "trace": [step.to_dict(timings=False) for step in result.trace],
            }
        )
        if result.status != "ok" or decisions.final:
            break
    return decisions, runs


async def _stock_for(session: AsyncSession, prepared: Iterable[Prepared], now: datetime) -> Batch:
    """Lock the stock of every SKU the batch's orders may take (their lines and their gifts, in one fixed
    order, so that concurrent batches never deadlock) and read it, with the network and the SKU master."""
    running = [item for item in prepared if not item.early]
    routed = [item for item in running if item.decisions.warehouse or item.decisions.warehouse_strategy]
    codes = {line.sku for item in routed for line in item.lines if line.sku}
    codes |= {gift.sku for item in routed for gift in item.decisions.gifts}
    await inventory.lock_stock(session, codes)
    pool = await inventory.load_pool(session, codes)
    holdings = await inventory.holdings(session, [item.key for item in routed])
    return Batch(
        now=now,
        network=await fulfillment.load_network(session),
        texts=await message_templates.load_texts(session),
        pool=pool,
        # A bundle's parts too: it travels at the coldest zone of its parts.
        skus=await inventory.skus_by_code(session, codes | pool.parts_of(codes)),
        holdings=holdings,
        entries=await fulfillment.documents_holding(session, [s.ref for item in running for s in item.shipments]),
        locked=None if session.bind is None or session.bind.dialect.name == "sqlite" else set(pool.known),
    )


async def _carry_out(session: AsyncSession, batch: Batch, item: Prepared) -> Outcome:
    """Carry out one order's decisions (or settle it without flows), inside its savepoint."""
    now = batch.now
    order_id = item.order.id
    assert order_id is not None
    # A merge by an earlier order of this batch may have changed (or a failed one expired) these rows.
    order = await session.get(Order, order_id)
    proc = await session.get(OrderProcessing, order_id) or item.proc
    assert order is not None
    session.add(proc)
    if item.early == "done" or (proc.state != ProcessingState.queued and proc.order_version == order.version):
        return Outcome(order_id, proc.state.value, skipped=True, reason="本版本已处理")
    outcome = Outcome(order_id, "")
    shipments = item.active_shipments
    if item.early in ("cancelled", "refunded"):
        reason = "平台已取消订单" if item.early == "cancelled" else "平台已全额退款"
        await _cancel(session, order, proc, shipments, reason)
        return _finish(proc, order, outcome, ProcessingState.cancelled, now)
    if item.early == "dispatched":
        await orders.add_event(session, order, "changed_after_dispatch", {"version": order.version})
        outcome.notes.append("已打单或已发货，未重新处理")
        return _finish(proc, order, outcome, ProcessingState.processed, now)
    if item.early == "merged" or proc.merged_into is not None:
        assert proc.merged_into is not None
        await _hold_primary_of_merged(session, proc.merged_into, order)
        return _finish(proc, order, outcome, ProcessingState.merged, now)
    if item.early == "unpaid":
        return _finish(proc, order, outcome, ProcessingState.unpaid, now)

    shop = item.shop
    assert shop is not None
    lines = item.lines
    decisions, runs = item.decisions, item.runs
    features = item.context["features"]
    # The engine read the receiver's name in clear; the trace people are shown keeps it masked.
    proc.flows = pii.redact(runs, known=pii.Known.of(names=[order.receiver_name]))
    proc.decisions = decisions.to_dict()
    proc.runs += 1
    session.add(proc)
    await hits.record(session, runs, now)
    await orders.add_event(
        session,
        order,
        "flows_ran",
        {"flows": [{k: run[k] for k in ("flow_id", "version_id", "name", "status")} for run in runs]},
    )
    if not runs:
        return _hold(proc, order, outcome, "no_flow", "没有适用于该店铺的已发布规则流", now)
    failed = next((run for run in runs if run["status"] != "ok"), None)
    if failed is not None:
        raise ActionFailed(f"规则流「{failed['name']}」节点 {failed['failed_node']} 出错：{failed['error']}")

    await orders.add_tags(session, order, list(decisions.tags))
    proc.priority = decisions.priority or proc.priority
    if decisions.cancelled:
        await _cancel(session, order, proc, shipments, decisions.cancel_reason or "规则流取消")
        return _finish(proc, order, outcome, ProcessingState.cancelled, now)
    if decisions.hold:
        await orders.set_status(session, order, OrderStatus.on_hold)
        return _hold(proc, order, outcome, "review", decisions.hold_reason or "规则流要求人工审核", now)
    if decisions.approved and order.status == OrderStatus.received:
        await orders.set_status(session, order, OrderStatus.audited)

    merged: list[tuple[Order, list[OrderLine]]] = []
    if decisions.merge_same_buyer:
        merged = await _merge_same_buyer(session, order, lines, proc, now)
        outcome.notes.extend(f"合并订单 {other.external_id}" for other, _ in merged)

    if decisions.warehouse or decisions.warehouse_strategy:
        unknown = routing.unmatched_lines(lines)
        if unknown:
            await orders.set_status(session, order, OrderStatus.on_hold)
            return _hold(
                proc, order, outcome, "unknown_sku", f"商品编码未匹配（行 {', '.join(unknown)}），无法分仓", now
            )
        state = await _route(session, batch, item, order, merged, decisions, features, proc, outcome)
        if state is not None:
            return _finish(proc, order, outcome, state, now)

    if decisions.presale:
        proc.hold_until = decisions.hold_until_at
        proc.hold_code = "presale"
        proc.hold_reason = "预售：等待买家支付尾款"
        await orders.set_status(session, order, OrderStatus.on_hold)
        await notifications.stage_messages(
            session,
            order,
            shop.name,
            item.active_shipments,
            decisions.notifications,
            batch.network,
            balance_due_at=proc.hold_until,
            texts=batch.texts,
        )
        return _finish(proc, order, outcome, ProcessingState.awaiting_balance, now)

    shipments = item.active_shipments
    if decisions.documents:
        for shipment in shipments:
            documents = await batch.documents_of(session, shipment.warehouse_code, list(decisions.documents))
            await fulfillment.add_to_documents(
                session, shipment.ref, documents, now, already_on=batch.entries.get(shipment.ref, set())
            )
    if decisions.waybill_requested:
        for shipment in shipments:
            if shipment.carrier_code is None:
                outcome.notes.append(f"{shipment.ref} 未指定快递，未申请面单")
                continue
            later = deferred_of(session)
            assert later is not None, "orders are carried out inside their batch's deferred writes"
            later.step(_request_waybills, shipment)
    await notifications.stage_messages(
        session, order, shop.name, shipments, decisions.notifications, batch.network, texts=batch.texts
    )
    if shipments:
        await orders.set_status(session, order, OrderStatus.routed)
        for other, _ in merged:
            await orders.set_status(session, other, OrderStatus.routed)
    elif order.status == OrderStatus.on_hold:
        await orders.set_status(session, order, OrderStatus.audited)
    proc.hold_code = ""
    proc.hold_reason = ""
    proc.hold_until = None
    return _finish(proc, order, outcome, ProcessingState.processed, now)


def _finish(proc: OrderProcessing, order: Order, outcome: Outcome, state: ProcessingState, now: datetime) -> Outcome:
    proc.state = state
    proc.order_version = order.version
    proc.finished_at = now
    proc.updated_at = now
    outcome.state = state.value
    outcome.reason = outcome.reason or proc.hold_reason
    return outcome


def _hold(proc: OrderProcessing, order: Order, outcome: Outcome, code: str, reason: str, now: datetime) -> Outcome:
    proc.hold_code = code
    proc.hold_reason = reason[:500]
    outcome.reason = reason
    state = ProcessingState.out_of_stock if code == "out_of_stock" else ProcessingState.held
    return _finish(proc, order, outcome, state, now)


# --- cancel and merge ----------------------------------------------------------------------------------------


async def _cancel(
    session: AsyncSession, order: Order, proc: OrderProcessing, shipments: list[Shipment], reason: str
) -> None:
    """Cancel the order: parcels not waybilled yet are cancelled and their stock given back at once; waybilled
    ones are intercepted (拦截) and keep their stock until the warehouse pulls them; shipped ones stay shipped
    (see ``fulfillment.interceptions``)."""
    assert order.id is not None
    parcels = await interceptions.cancel_parcels(session, order, shipments, reason, utcnow())
    released = await inventory.release(
        session, inventory.order_key(order.id), SYSTEM, keeping=parcels.held_lines, note=reason
    )
    changed = parcels.cancelled or parcels.intercepted or parcels.left
    await orders.set_status(session, order, OrderStatus.cancelled)
    if released or changed or proc.hold_reason != reason:  # a later update of a cancelled order adds nothing
        detail: dict[str, Any] = {"reason": reason, "released_lines": len(released)}
        if parcels.intercepted:
            detail["intercepted"] = [i.shipment_ref for i in parcels.intercepted]
        await orders.add_event(session, order, "cancelled", detail)
    proc.hold_code = ""
    proc.hold_reason = reason


async def _hold_primary_of_merged(session: AsyncSession, primary_id: int, changed: Order) -> None:
    """A merged order changed on its platform: the order it ships with goes back to review."""
    primary = await session.get(Order, primary_id)
    proc = await session.get(OrderProcessing, primary_id)
    if primary is None or proc is None:
        return
    await orders.add_event(session, changed, "changed_after_merge", {"merged_into": primary_id})
    if proc.state == ProcessingState.processed and not any(
        s.waybill_no for s in await fulfillment.shipments_of(session, primary_id)
    ):
        proc.state = ProcessingState.held
        proc.hold_code = "review"
        proc.hold_reason = f"合并的订单 {changed.external_id} 在平台有变更，请核对后再放行"
        proc.updated_at = utcnow()
        session.add(proc)
        await orders.set_status(session, primary, OrderStatus.on_hold)


async def _merge_same_buyer(
    session: AsyncSession, order: Order, lines: list[OrderLine], proc: OrderProcessing, now: datetime
) -> list[tuple[Order, list[OrderLine]]]:
    """合单: same shop, buyer, receiver, phone and address; paid, no refund, not held, not yet routed."""
    if not order.address_key or not order.channel_buyer_id or order.paid_at is None or _has_refund(order, lines):
        return []
    query = (
        select(Order)
        .where(
            Order.shop_id == order.shop_id,
            Order.channel_buyer_id == order.channel_buyer_id,
            Order.address_key == order.address_key,
            col(Order.id) != order.id,
            col(Order.status).in_([OrderStatus.received, OrderStatus.audited]),
            col(Order.paid_at).is_not(None),
        )
        .order_by(col(Order.id))
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    merged = []
    for other in (await session.exec(query)).all():
        assert other.id is not None
        other_lines = await _lines(session, other.id)
        other_proc = await session.get(OrderProcessing, other.id)
        if _has_refund(other, other_lines) or other.is_presale:
            continue
        if other_proc is not None and (other_proc.state not in (ProcessingState.queued,) or other_proc.warehouse_code):
            continue
        if other_proc is None:
            other_proc = OrderProcessing(order_id=other.id, queued_at=now, updated_at=now)
        other_proc.state = ProcessingState.merged
        other_proc.merged_into = order.id
        other_proc.order_version = other.version
        other_proc.finished_at = now
        other_proc.updated_at = now
        session.add(other_proc)
        await orders.add_event(session, other, "merged", {"into": order.id, "into_external_id": order.external_id})
        await orders.add_event(session, order, "merged_in", {"order_id": other.id, "external_id": other.external_id})
        merged.append((other, other_lines))
    return merged


# --- routing: warehouse, reservation, split, gifts, carrier -------------------------------------------------


def _needs(order: Order, lines: list[OrderLine], merged: list[tuple[Order, list[OrderLine]]]) -> list[routing.Item]:
    assert order.id is not None
    needs = routing.items_of(order.id, lines)
    for other, other_lines in merged:
        assert other.id is not None
        needs.extend(routing.items_of(other.id, other_lines, prefix=f"m{other.id}:"))
    return needs


#: How often an order is routed again with fresh stock when concurrent orders took what its plan counted on.
ROUTE_ATTEMPTS = 3


async def _route(
    session: AsyncSession,
    batch: Batch,
    item: Prepared,
    order: Order,
    merged: list[tuple[Order, list[OrderLine]]],
    decisions: ruleflows.Decisions,
    features: dict[str, Any],
    proc: OrderProcessing,
    outcome: Outcome,
) -> ProcessingState | None:
    """Route the order (``fulfillment.routing`` decides, against the batch's stock pool), reserve what the
    route takes and write the shipments. Returns a final state when the order cannot be routed (缺货, no
    carrier), else None. The order's shipments are then ``item.shipments``."""
    assert order.id is not None
    now, key = batch.now, item.key
    needs = _needs(order, item.lines, merged)
    if not needs:
        raise ActionFailed("订单没有可发货的商品行", code="failed")
    request = routing.request_for(decisions, features, order.province)
    codes = {n.sku for n in needs} | request.gift_skus
    if codes - set(batch.skus):  # a merged order's SKUs, or a gift: not read with the batch
        batch.pool.refresh(await inventory.load_pool(session, codes - set(batch.pool.known)))
        wanted = codes | batch.pool.parts_of(codes)
        batch.skus.update(await inventory.skus_by_code(session, wanted - set(batch.skus)))
    # What the order holds itself is available to it again while it is routed anew.
    held = batch.holdings.pop(key, [])
    for code, part, units in held:
        batch.pool.add(code, part, units)
    titles = {code: sku.name for code, sku in batch.skus.items()}
    decided: routing.Route | None = None
    for attempt in range(ROUTE_ATTEMPTS):
        try:
            decided = routing.route(batch.network, batch.pool, request, needs, batch.skus, gift_titles=titles)
        except routing.RoutingError as exc:
            raise ActionFailed(exc.reason) from exc
        if not decided.routed or await _reserve(session, batch, key, decided, holds_stock=bool(held) or attempt > 0):
            break
        # Stock the batch did not lock (SQLite, or a merged order's) was taken by a concurrent order between
        # the look and the guarded update: read it again and look again.
        batch.pool.refresh(await inventory.load_pool(session, codes, holders=[key]))
        decided = routing.Route("out_of_stock", decided.ranked, reason="缺货：库存已被其他订单占用")
    assert decided is not None
    if not decided.routed:
        await inventory.release(
            session, key, SYSTEM, note="缺货，未分仓" if decided.status == "out_of_stock" else "没有可用快递"
        )
        await orders.set_status(session, order, OrderStatus.on_hold)
        code = "out_of_stock" if decided.status == "out_of_stock" else "no_carrier"
        _hold(proc, order, outcome, code, decided.reason, now)
        return ProcessingState.out_of_stock if code == "out_of_stock" else ProcessingState.held
    batch.pool.take(decided.plan, needs)
    if decided.gifts:
        batch.pool.take({gift.key: decided.parcels[0].warehouse for gift in decided.gifts}, decided.gifts)
    outcome.notes.extend(decided.notes)
    # Bundles are expanded with the recipes of the pool routed against.
    skus = {i.sku for parcel in decided.parcels for i in parcel.items}
    bundles = {sku: batch.pool.bundles[sku] for sku in skus if sku in batch.pool.bundles}
    item.shipments = await fulfillment.write_shipments(
        session, order.id, item.shipments, decided, bundles if decisions.expand_bundles else {}, now
    )
    proc.warehouse_code = decided.parcels[0].warehouse
    proc.carrier_code = decided.parcels[0].carrier
    outcome.warehouses = [parcel.warehouse for parcel in decided.parcels]
    outcome.carriers = [parcel.carrier for parcel in decided.parcels if parcel.carrier]
    outcome.gifts = [gift.sku for gift in decided.gifts]
    return None


async def _reserve(
    session: AsyncSession, batch: Batch, key: str, decided: routing.Route, *, holds_stock: bool = True
) -> bool:
    """Make the route's plan what the order holds: lines held elsewhere (or no longer wanted) are given back
    first (unless the order is known to hold nothing), then every line and gift of the plan is reserved, all
    or nothing."""
    # The order's own lines (a platform's gift line too) are in the plan; the flow's gifts are not.
    wanted = [
        (item, decided.plan[item.key])
        for parcel in decided.parcels
        for item in parcel.items
        if item.key in decided.plan
    ]
    wanted += [(gift, decided.parcels[0].warehouse) for gift in decided.gifts]
    plan = {item.key: code for item, code in wanted}
    skus = {item.key: item.sku for item, _ in wanted}
    held = await inventory.reservations(session, key) if holds_stock else []
    stale = [
        r.line_key
        for r in held
        if r.status == "reserved"
        and (plan.get(r.line_key) != r.warehouse_code or skus.get(r.line_key) != r.line_sku_code)
    ]
    if stale:
        await inventory.release(session, key, SYSTEM, line_keys=stale, note="重新分仓")
    lines = [ReservationLine(item.key, item.sku, item.qty) for item, _ in wanted]
    result = await inventory.reserve(
        session, key, lines, plan, SYSTEM, routed_in=batch.pool, under_lock=batch.under_lock
    )
    return result.ok


# --- failures, review actions ---------------------------------------------------------------------------


async def record_failure(session: AsyncSession, order_id: int, reason: str, *, code: str = "failed") -> None:
    """After a rolled-back run: put the order in the review queue with the reason (nothing else changed)."""
    order = await session.get(Order, order_id)
    if order is None:
        return
    now = utcnow()
    proc = await session.get(OrderProcessing, order_id)
    if proc is None:
        proc = OrderProcessing(order_id=order_id, queued_at=now, updated_at=now)
    proc.runs += 1
    proc.state = ProcessingState.held
    proc.hold_code = code
    proc.hold_reason = reason[:500]
    proc.order_version = order.version
    proc.finished_at = now
    proc.updated_at = now
    session.add(proc)
    await orders.set_status(session, order, OrderStatus.on_hold)
    await orders.add_event(session, order, "processing_failed", {"reason": reason[:500]})
    await _record_held(session, order, proc)


#: The review code of an order its platform says is delivered or completed while we never shipped it.
PLATFORM_FINISHED = "platform_finished"
PLATFORM_FINISHED_REASON = "平台显示订单已签收或已完成（{raw_status}），但本系统尚未发货：请核实货物去向后放行或驳回"


async def hold_platform_finished(session: AsyncSession, order: Order) -> OrderProcessing:
    """The platform says the order is received or finished (``order.raw_status``) but it never left our
    warehouses: it is not completed silently but held for review with the reason, its stock kept as it is, for a
    person to find out whether it went out some other way (放行) or is to be cancelled (驳回). Called in the
    transaction of the update; the same word again changes nothing more."""
    assert order.id is not None
    now = utcnow()
    proc = await session.get(OrderProcessing, order.id)
    if proc is None:
        proc = OrderProcessing(order_id=order.id, queued_at=now, updated_at=now)
    again = proc.state == ProcessingState.held and proc.hold_code == PLATFORM_FINISHED
    proc.state = ProcessingState.held
    proc.hold_code = PLATFORM_FINISHED
    proc.hold_reason = (
        f"平台显示订单已签收或已完成（{order.raw_status}），但本系统尚未发货，请核实货物去向后放行或驳回"[:500]
    )
    proc.order_version = order.version
    proc.finished_at = now
    proc.updated_at = now
    session.add(proc)
    await orders.set_status(session, order, OrderStatus.on_hold)
    if not again:
        await orders.add_event(session, order, "platform_finished", {"raw_status": order.raw_status})
    await _record_held(session, order, proc)
    return proc


class ReviewError(DomainError):
    """An operator's review action cannot be done; ``code`` picks the message."""

    messages: ClassVar[Mapping[str, str]] = {
        "order_not_found": N_("The order does not exist"),
        "not_in_queue": N_("The order is not in the review queue (someone else may have handled it)"),
        "not_awaiting_balance": N_("The order is not a presale order awaiting its balance"),
        "missing_fields": N_("Please fill in: %(fields)s"),
        "bad_phone": N_("The phone number should be an 11-digit mainland China mobile number"),
        "unknown_province": N_("Unknown province: %(province)s"),
        "line_mapped": N_("This line already has one of our SKUs (someone else may have mapped it)"),
    }


async def _reviewable(session: AsyncSession, order_id: int) -> tuple[Order, OrderProcessing]:
    order = await _locked_order(session, order_id)
    proc = await session.get(OrderProcessing, order_id)
    if order is None or proc is None:
        raise ReviewError("order_not_found")
    if proc.state not in (ProcessingState.held, ProcessingState.out_of_stock, ProcessingState.awaiting_balance):
        raise ReviewError("not_in_queue")
    return order, proc


async def approve(session: AsyncSession, order_id: int, actor: Actor) -> OrderProcessing:
    """放行: the flows run again with ``features.review_approved`` true (the template then skips the audit)."""
    order, proc = await _reviewable(session, order_id)
    proc.approved_version = order.version
    proc.approved_by = actor.name
    await orders.add_event(session, order, "review_approved", {"reason": proc.hold_reason}, actor=actor.name)
    await queue(session, order, reason=f"approved{proc.runs}")
    return proc


async def reject(session: AsyncSession, order_id: int, actor: Actor, reason: str) -> OrderProcessing:
    """驳回: cancel the order in the OMS and give back any stock it holds."""
    reason = reason.strip() or "人工审核驳回"
    order, proc = await _reviewable(session, order_id)
    await _cancel(session, order, proc, await fulfillment.shipments_of(session, order_id), reason[:200])
    proc.state = ProcessingState.cancelled
    proc.updated_at = utcnow()
    session.add(proc)
    await orders.add_event(session, order, "review_rejected", {"reason": reason[:200]}, actor=actor.name)
    return proc


async def cancel_refunded(session: AsyncSession, order_id: int, actor: Actor, reason: str) -> None:
    """Every line of the order refunded before it shipped (仅退款, 未发货): cancel it in the OMS as a platform
    cancel does (parcels not waybilled cancelled, waybilled ones intercepted, the stock given back) and take it out
    of processing. Cancelling an order already cancelled does nothing more."""
    order = await _locked_order(session, order_id)
    if order is None:
        raise ReviewError("order_not_found")
    now = utcnow()
    proc = await session.get(OrderProcessing, order_id)
    if proc is None:
        proc = OrderProcessing(order_id=order_id, queued_at=now, updated_at=now)
    await _cancel(session, order, proc, await fulfillment.shipments_of(session, order_id), reason[:200])
    proc.state = ProcessingState.cancelled
    proc.updated_at = now
    session.add(proc)


async def mark_balance_paid(session: AsyncSession, order_id: int, actor: Actor) -> OrderProcessing:
    """For channels that do not report it: the presale balance is paid, processing resumes."""
    order, proc = await _reviewable(session, order_id)
    if proc.state != ProcessingState.awaiting_balance:
        raise ReviewError("not_awaiting_balance")
    order.balance_paid = True
    order.version += 1
    order.updated_at = utcnow()
    session.add(order)
    await orders.add_event(session, order, "balance_paid", {"version": order.version}, actor=actor.name)
    await queue(session, order)
    return proc


async def edit_address(
    session: AsyncSession, order_id: int, actor: Actor, secret_key: str, fields: dict[str, str]
) -> OrderProcessing:
    """Correct the receiver and address, then process the order again from the start (the audit included)."""
    order, proc = await _reviewable(session, order_id)
    required = {
        "receiver_name": N_("Receiver"),
        "phone": N_("Phone number"),
        "province": N_("Province"),
        "city": N_("City"),
        "address": N_("Street address"),
    }
    missing = [label for name, label in required.items() if not (fields.get(name) or "").strip()]
    if missing:
        raise ReviewError("missing_fields", fields=Labels(tuple(missing)))
    phone = pii.normalize_phone(fields["phone"])
    if not pii.is_clear_mobile(phone):
        raise ReviewError("bad_phone", field="phone")
    province = short_province(fields["province"].strip())
    if province is None:
        raise ReviewError("unknown_province", field="province", province=fields["province"])
    before = {"province": order.province, "city": order.city, "address": order.address_masked}
    name = fields["receiver_name"].strip()[:100]
    # The form shows the name masked (李**): sent back untouched, it means "keep the name".
    if name != pii.mask_name(order.receiver_name):
        order.receiver_name = name
    order.phone_cipher = pii.encrypt(secret_key, phone)
    order.phone_masked = pii.mask_phone(phone)
    order.phone_suffix = pii.phone_suffix(order.phone_masked)
    order.province = province
    order.city = fields["city"].strip()[:64]
    order.district = (fields.get("district") or "").strip()[:64]
    order.town = ""
    street = fields["address"].strip()
    order.address_cipher = pii.encrypt(secret_key, street)
    order.address_masked = pii.mask_address(street)
    # Corrected by hand in clear: the receiver is no longer the platform's hidden one.
    order.receiver_protected = False
    order.address_key = orders.same_address_key(secret_key, order, street)
    order.version += 1
    order.updated_at = utcnow()
    session.add(order)
    after = {"province": order.province, "city": order.city, "address": order.address_masked}
    await orders.add_event(session, order, "address_edited", {"before": before, "after": after}, actor=actor.name)
    await queue(session, order)
    return proc


@dataclass
class Mapped:
    """What mapping an unknown SKU in review did."""

    proc: OrderProcessing
    #: The order's lines still without our SKU; the order is processed again once there are none.
    remaining: int
    #: Other orders of the shop held for the same unknown SKU that the mapping queued again.
    requeued: int


async def map_unknown_sku(
    session: AsyncSession,
    order_id: int,
    line_id: int | None,
    sku_code: str,
    actor: Actor,
    *,
    remember: bool,
    ip: str | None = None,
) -> Mapped:
    """An operator says which of our SKUs a held order's line is: the line gets it, the shop remembers it when
    asked to (then the shop's other orders held for the same platform SKU get it too), and each order left
    with no unknown line is processed again by the live flows."""
    order, proc = await _reviewable(session, order_id)
    lines = await _lines(session, order_id)
    line = next((line for line in lines if line.id == line_id), None)
    if line is None or line.sku:
        raise ReviewError("line_mapped")
    sku = await sku_mappings.check_sku(session, sku_code)
    requeued = 0
    remember = remember and bool(line.channel_sku_id or line.seller_sku)
    if remember:
        await sku_mappings.save_mapping(
            session, order.shop_id, line.channel_sku_id, line.seller_sku, sku.code, actor, ip=ip
        )
        await orders.resolve_unmatched_lines(session, [(order, lines)])
        requeued = await _requeue_held_for(session, order, line, actor)
    else:
        await orders.give_skus(session, order, lines, {line.position: sku.code}, actor=actor.name)
    detail = {"line_id": line.line_id, "sku": sku.code, "remembered": remember, "requeued": requeued}
    await orders.add_event(session, order, "review_sku_mapped", detail, actor=actor.name)
    remaining = routing.unmatched_lines(lines)
    if not remaining:
        await queue(session, order, reason=f"mapped{proc.runs}")
    return Mapped(proc, len(remaining), requeued)


async def _requeue_held_for(session: AsyncSession, order: Order, line: OrderLine, actor: Actor) -> int:
    """Resolve the shop's other orders held for the same unknown platform SKU as ``line`` (just mapped) and
    queue again those left with no unknown line; returns how many were queued."""
    same = [col(OrderLine.channel_sku_id) == line.channel_sku_id] if line.channel_sku_id else []
    same += [col(OrderLine.seller_sku) == line.seller_sku] if line.seller_sku else []
    query = (
        select(Order)
        .join(OrderProcessing, col(OrderProcessing.order_id) == col(Order.id))
        .where(
            Order.shop_id == order.shop_id,
            col(Order.id) != order.id,
            col(OrderProcessing.state).in_(REVIEW_STATES),
            OrderProcessing.hold_code == "unknown_sku",
            exists().where(col(OrderLine.order_id) == col(Order.id), col(OrderLine.sku) == "", or_(*same)),
        )
        .order_by(col(Order.id))
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update(of=Order, skip_locked=True)
    held = list((await session.exec(query)).all())
    if not held:
        return 0
    lines: dict[int, list[OrderLine]] = defaultdict(list)
    ids = [other.id for other in held]
    for other_line in (
        await session.exec(select(OrderLine).where(col(OrderLine.order_id).in_(ids)).order_by(col(OrderLine.position)))
    ).all():
        lines[other_line.order_id].append(other_line)
    await orders.resolve_unmatched_lines(session, [(other, lines[other.id or 0]) for other in held])
    requeued = 0
    for other in held:
        if routing.unmatched_lines(lines[other.id or 0]):
            continue
        other_proc = await session.get(OrderProcessing, other.id)
        await orders.add_event(session, other, "review_sku_mapped", {"from_order": order.id}, actor=actor.name)
        await queue(session, other, reason=f"mapped{other_proc.runs if other_proc else 0}")
        requeued += 1
    return requeued


# --- the sweeper --------------------------------------------------------------------------------------------


#: The review reason of a presale whose balance was not paid by its due time.
PRESALE_OVERDUE_REASON = "尾款逾期未付"


async def expire_presales(session: AsyncSession, now: datetime, *, limit: int = 500) -> dict[str, int]:
    """逾期未付尾款: a presale still awaiting its balance at its due time (``hold_until``) is cancelled, its
    reservations released, or put in the review queue with 尾款逾期未付, as its shop's
    ``presale_overdue_action`` says. Either moves it out of ``awaiting_balance``, so a second sweep finds nothing;
    an order whose balance update arrived (queued again) is left to its run, and one a reviewer released (放行)
    after it was overdue waits on for its balance: that was their call."""
    counts = {"presale_cancelled": 0, "presale_to_review": 0}
    due = (
        await session.exec(
            select(OrderProcessing.order_id)
            .join(Order, col(Order.id) == col(OrderProcessing.order_id))
            .where(
                OrderProcessing.state == ProcessingState.awaiting_balance,
                col(OrderProcessing.hold_until).is_not(None),
                col(OrderProcessing.hold_until) <= now,
                col(Order.balance_paid).is_(False),
                or_(
                    col(OrderProcessing.approved_version).is_(None),
                    col(OrderProcessing.approved_version) != col(Order.version),
                ),
            )
            .order_by(col(OrderProcessing.hold_until))
            .limit(limit)
        )
    ).all()
    for order_id in due:
        order = await _locked_order(session, order_id)
        proc = await session.get(OrderProcessing, order_id, populate_existing=True)
        if (
            order is None
            or proc is None
            or proc.state != ProcessingState.awaiting_balance
            or order.balance_paid
            or proc.approved_version == order.version
        ):
            continue  # its balance came (or someone acted) since the query
        shop = await session.get(Shop, order.shop_id)
        if shop is not None and shop.presale_overdue_action == "cancel":
            await _cancel(
                session, order, proc, await fulfillment.shipments_of(session, order_id), PRESALE_OVERDUE_REASON
            )
            proc.state = ProcessingState.cancelled
            counts["presale_cancelled"] += 1
        else:
            proc.state = ProcessingState.held
            proc.hold_code = "presale_overdue"
            proc.hold_reason = PRESALE_OVERDUE_REASON
            await orders.set_status(session, order, OrderStatus.on_hold)
            await orders.add_event(session, order, "presale_overdue", {"reason": PRESALE_OVERDUE_REASON})
            await _record_held(session, order, proc)
            counts["presale_to_review"] += 1
        proc.updated_at = now
        session.add(proc)
    return counts


async def sweep(session: AsyncSession, *, stuck_after: timedelta, retry_stock_after: timedelta) -> dict[str, int]:
    """Re-stage orders stuck in ``queued`` (their job was lost or gave up) and retry 缺货 orders now and then.

    Dedupe keys carry a time bucket, so each sweep stages an order at most once however often it runs.
    """
    now = utcnow()
    bucket = int(now.timestamp() // max(stuck_after.total_seconds(), 1))
    counts = {"requeued": 0, "stock_retried": 0, "unqueued": 0}
    stuck = (
        await session.exec(
            select(OrderProcessing, Order)
            .join(Order, col(Order.id) == col(OrderProcessing.order_id))
            .where(OrderProcessing.state == ProcessingState.queued, col(OrderProcessing.queued_at) < now - stuck_after)
            .limit(500)
        )
    ).all()
    for proc, order in stuck:
        await outbox.stage(
            session, "process_order", order.id, dedupe_key=f"process_order:{order.id}:v{order.version}:sweep{bucket}"
        )
        proc.queued_at = now
        session.add(proc)
        counts["requeued"] += 1
    # Orders that arrived but were never queued (written before processing existed, or by a bulk load).
    missing = (
        await session.exec(
            select(Order)
            .outerjoin(OrderProcessing, col(OrderProcessing.order_id) == col(Order.id))
            .where(col(OrderProcessing.order_id).is_(None), col(Order.received_at) < now - stuck_after)
            .limit(500)
        )
    ).all()
    for order in missing:
        await queue(session, order, reason=f"sweep{bucket}")
        counts["unqueued"] += 1
    retry_bucket = int(now.timestamp() // max(retry_stock_after.total_seconds(), 1))
    waiting = (
        await session.exec(
            select(OrderProcessing, Order)
            .join(Order, col(Order.id) == col(OrderProcessing.order_id))
            .where(
                OrderProcessing.state == ProcessingState.out_of_stock,
                col(OrderProcessing.updated_at) < now - retry_stock_after,
            )
            .limit(200)
        )
    ).all()
    for _proc, order in waiting:
        await queue(session, order, reason=f"stock{retry_bucket}")
        counts["stock_retried"] += 1
    return counts

"""Read queries for the processing pages: the review queue, the processing monitor and the 处理 section of an
order's detail page. Nothing here writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import iso_utc, utcnow
from app.domain.flows.models import FlowVersion
from app.domain.flows.panels import shown
from app.domain.fulfillment import interceptions, writebacks
from app.domain.fulfillment import services as fulfillment
from app.domain.fulfillment.models import Carrier, Interception, Shipment, order_ref
from app.domain.inventory.models import Warehouse
from app.domain.orders import services as orders
from app.domain.orders.models import Order, OrderLine
from app.domain.processing.models import REVIEW_STATES, OrderProcessing, ProcessingState
from app.domain.shops import services as shop_readers
from app.domain.shops.models import Shop
from app.i18n import gettext, label_of, labeller
from app.outbox import OutboxMessage, OutboxStatus
from app.templating import N_

#: How many orders the review page shows at once (the filter by hold code narrows it).
REVIEW_LIMIT = 100
#: Minutes in the monitor's throughput chart.
CHART_MINUTES = 30
#: Outbox statuses that mean a processing job is still to run.
BUSY_OUTBOX = (OutboxStatus.pending, OutboxStatus.queued, OutboxStatus.running)

#: Why an order waits, by hold code (English message ids, translated where shown).
HOLD_CODE_LABELS = {
    "review": N_("Held by a rule flow"),
    "out_of_stock": N_("Out of stock"),
    "failed": N_("Processing failed"),
    "presale": N_("Presale: waiting for the balance"),
    "no_flow": N_("No published flow applies"),
    "unknown_sku": N_("Unknown SKU"),
    "no_carrier": N_("No carrier can deliver"),
    "platform_finished": N_("Finished on the platform, never shipped"),
}
STATE_LABELS = {
    ProcessingState.queued.value: N_("Waiting to be processed"),
    ProcessingState.processed.value: N_("Processed"),
    ProcessingState.held.value: N_("Held for review"),
    ProcessingState.out_of_stock.value: N_("Out of stock"),
    ProcessingState.awaiting_balance.value: N_("Awaiting the balance payment"),
    ProcessingState.unpaid.value: N_("Unpaid"),
    ProcessingState.merged.value: N_("Merged into another order"),
    ProcessingState.cancelled.value: N_("Cancelled"),
}


def hold_code_label(code: str | None) -> str:
    """Why an order waits, in the reader's language (an unknown code as itself, escaped where shown)."""
    return label_of(HOLD_CODE_LABELS, code) if code else gettext("Other")


def state_label(state: str) -> str:
    """A processing state in the reader's language."""
    return label_of(STATE_LABELS, state)


# --- flow runs and their traces ------------------------------------------------------------------------------


@dataclass
class TraceStep:
    """One node of a flow as a run saw it: on the path (with what it read and the exit it took) or not."""

    node_id: str
    name: str
    type: str
    on_path: bool
    reads: dict[str, Any] = field(default_factory=dict)
    output: Any = None
    port: str | None = None
    #: The switch branch's own label (the designer's words) when the exit is a branch.
    branch: str = ""
    error: str | None = None


@dataclass
class FlowRunView:
    """One flow run of an order: which flow and version, how it ended, and its nodes in path order."""

    flow_id: int | None
    version_id: int | None
    version_number: int | None
    name: str
    status: str
    error: str | None
    failed_node: str | None
    actions: list[dict[str, Any]]
    #: The nodes the run went through, in order.
    path: list[TraceStep]
    #: The flow's other nodes (from the published version), in document order.
    off_path: list[TraceStep]


def _branch_labels(document: dict[str, Any]) -> dict[tuple[str, str], str]:
    labels: dict[tuple[str, str], str] = {}
    for node in document.get("nodes") or []:
        if not isinstance(node, dict) or node.get("type") != "switch":
            continue
        for branch in (node.get("config") or {}).get("branches") or []:
            if isinstance(branch, dict) and branch.get("id"):
                labels[(str(node.get("id")), str(branch["id"]))] = str(branch.get("label") or branch["id"])
    return labels


def flow_run_view(run: dict[str, Any], version: FlowVersion | None) -> FlowRunView:
    """A stored flow run (``OrderProcessing.flows`` item) with the published version it ran, for display."""
    document = version.document if version is not None else {}
    labels = _branch_labels(document)
    path: list[TraceStep] = []
    seen: set[str] = set()
    for step in run.get("trace") or []:
        node_id = str(step.get("node_id"))
        port = step.get("port")
        seen.add(node_id)
        path.append(
            TraceStep(
                node_id=node_id,
                name=str(step.get("name") or node_id),
                type=str(step.get("type") or ""),
                on_path=True,
                reads=dict(step.get("reads") or {}),
                output=step.get("output"),
                port=port,
                branch=labels.get((node_id, str(port)), "") if port else "",
                error=step.get("error"),
            )
        )
    off_path = [
        TraceStep(
            node_id=str(node.get("id")),
            name=str(node.get("name") or node.get("id")),
            type=str(node.get("type") or ""),
            on_path=False,
        )
        for node in document.get("nodes") or []
        if isinstance(node, dict) and str(node.get("id")) not in seen
    ]
    return FlowRunView(
        flow_id=run.get("flow_id"),
        version_id=run.get("version_id"),
        version_number=version.number if version is not None else None,
        name=str(run.get("name") or ""),
        status=str(run.get("status") or ""),
        error=run.get("error"),
        failed_node=run.get("failed_node"),
        actions=list(run.get("actions") or []),
        path=path,
        off_path=off_path,
    )


async def _versions(session: AsyncSession, procs: list[OrderProcessing]) -> dict[int, FlowVersion]:
    ids = {int(run["version_id"]) for proc in procs for run in proc.flows if run.get("version_id") is not None}
    if not ids:
        return {}
    rows = (await session.exec(select(FlowVersion).where(col(FlowVersion.id).in_(ids)))).all()
    return {row.id: row for row in rows if row.id is not None}


def _runs(proc: OrderProcessing, versions: dict[int, FlowVersion]) -> list[FlowRunView]:
    return [flow_run_view(run, versions.get(int(run.get("version_id") or 0))) for run in proc.flows]


# --- the review queue ----------------------------------------------------------------------------------------


@dataclass
class ReviewRow:
    """One order in (or just out of) the review queue, with what an operator needs to decide."""

    order: Order
    proc: OrderProcessing
    shop: Shop
    lines: list[OrderLine]
    runs: list[FlowRunView]

    @property
    def ref(self) -> str:
        assert self.order.id is not None
        return order_ref(self.order.id)

    @property
    def in_queue(self) -> bool:
        return self.proc.state in REVIEW_STATES

    @property
    def unknown_lines(self) -> list[OrderLine]:
        """The lines routing cannot place for want of our SKU, each mapped from the card when held for it."""
        if self.proc.hold_code != "unknown_sku":
            return []
        return [line for line in self.lines if not line.sku and not line.is_refunded]


async def _review_rows(session: AsyncSession, pairs: list[tuple[OrderProcessing, Order]]) -> list[ReviewRow]:
    if not pairs:
        return []
    order_ids = [order.id for _, order in pairs]
    lines: dict[int, list[OrderLine]] = {}
    for line in (
        await session.exec(
            select(OrderLine).where(col(OrderLine.order_id).in_(order_ids)).order_by(col(OrderLine.position))
        )
    ).all():
        lines.setdefault(line.order_id, []).append(line)
    shops = await shop_readers.shops_by_id(session)
    versions = await _versions(session, [proc for proc, _ in pairs])
    return [
        ReviewRow(order, proc, shops[order.shop_id], lines.get(proc.order_id, []), _runs(proc, versions))
        for proc, order in pairs
    ]


async def review_queue(session: AsyncSession, *, hold_code: str = "", limit: int = REVIEW_LIMIT) -> list[ReviewRow]:
    """Orders waiting in review (held, 缺货, awaiting the balance), the most recently held first."""
    query = (
        select(OrderProcessing, Order)
        .join(Order, col(Order.id) == col(OrderProcessing.order_id))
        .where(col(OrderProcessing.state).in_(REVIEW_STATES))
        .order_by(col(OrderProcessing.updated_at).desc(), col(OrderProcessing.order_id).desc())
        .limit(limit)
    )
    if hold_code:
        query = query.where(OrderProcessing.hold_code == hold_code)
    return await _review_rows(session, [(proc, order) for proc, order in (await session.exec(query)).all()])


async def review_item(session: AsyncSession, order_id: int) -> ReviewRow | None:
    """One order as the review queue shows it, whatever its state now (after an action, say)."""
    query = (
        select(OrderProcessing, Order)
        .join(Order, col(Order.id) == col(OrderProcessing.order_id))
        .where(OrderProcessing.order_id == order_id)
        .execution_options(populate_existing=True)
    )
    rows = await _review_rows(session, [(proc, order) for proc, order in (await session.exec(query)).all()])
    return rows[0] if rows else None


async def hold_snapshot(session: AsyncSession, order_id: int) -> dict[str, Any] | None:
    """Why an order waits, as the audit log records it before a review action."""
    proc = await session.get(OrderProcessing, order_id)
    if proc is None:
        return None
    return {"state": proc.state.value, "hold_code": proc.hold_code, "hold_reason": proc.hold_reason}


async def receiver_snapshot(session: AsyncSession, order_id: int) -> dict[str, Any] | None:
    """The receiver as the audit log records it around an address correction (masked only)."""
    order = await session.get(Order, order_id)
    if order is None:
        return None
    return {
        "receiver_name": order.receiver_name,
        "phone": order.phone_masked,
        "province": order.province,
        "city": order.city,
        "district": order.district,
        "address": order.address_masked,
    }


@dataclass
class HoldGroup:
    """Orders in review for one hold code: how many, one of their reasons, and since when they wait on average and
    at the earliest (an order waits from when it was held: its processing row's last change)."""

    code: str
    count: int
    sample_reason: str
    mean_held_at: datetime
    first_held_at: datetime


def _aware(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


async def held_by_code(
    session: AsyncSession,
    *,
    states: Sequence[ProcessingState] = REVIEW_STATES,
    channel: str = "",
    shop_id: int | None = None,
) -> list[HoldGroup]:
    """Orders in review (or in these of its states), of one channel or shop when given, grouped by hold code, the
    largest group first, each with one of its reasons and its waits (one aggregate over the state index)."""
    held_at = col(OrderProcessing.updated_at)
    sqlite = session.bind is None or session.bind.dialect.name == "sqlite"
    epoch = func.strftime("%s", held_at) if sqlite else func.extract("epoch", held_at)
    query = (
        select(  # type: ignore[call-overload]
            OrderProcessing.hold_code,
            func.count(),
            func.max(OrderProcessing.hold_reason),
            func.avg(epoch),
            func.min(held_at),
        )
        .where(col(OrderProcessing.state).in_(states))
        .group_by(OrderProcessing.hold_code)
    )
    if channel or shop_id is not None:
        query = query.join(Order, col(Order.id) == col(OrderProcessing.order_id))
        if channel:
            query = query.where(col(Order.channel) == channel)
        if shop_id is not None:
            query = query.where(col(Order.shop_id) == shop_id)
    groups = [
        HoldGroup(
            str(code or ""),
            int(n),
            str(reason or ""),
            datetime.fromtimestamp(float(mean), UTC),
            _aware(first),
        )
        for code, n, reason, mean, first in (await session.exec(query)).all()
    ]
    return sorted(groups, key=lambda g: (-g.count, g.code))


# --- the monitor ---------------------------------------------------------------------------------------------


@dataclass
class FailedJob:
    id: int
    job: str
    args: list[Any]
    attempts: int
    error: str
    finished_at: datetime | None


@dataclass
class FailedOrder:
    order_id: int
    ref: str
    external_id: str
    reason: str
    at: datetime | None


@dataclass
class MonitorStats:
    """What the processing monitor shows; counts are taken when the page (or its refresh) is asked for."""

    at: datetime
    queued_orders: int
    queued_jobs: int
    per_minute: list[int]
    held: list[HoldGroup]
    failed_jobs_count: int
    failed_jobs: list[FailedJob]
    failed_orders_count: int
    failed_orders: list[FailedOrder]
    states: dict[str, int]

    @property
    def queue_depth(self) -> int:
        return self.queued_orders + self.queued_jobs

    @property
    def processed_last_30(self) -> int:
        return sum(self.per_minute)

    @property
    def peak_per_minute(self) -> int:
        return max(self.per_minute, default=0)

    @property
    def minute_starts(self) -> list[datetime]:
        """When each bar of ``per_minute`` starts (the last one is the current minute)."""
        end = self.at.replace(second=0, microsecond=0) + timedelta(minutes=1)
        return [end - timedelta(minutes=len(self.per_minute) - i) for i in range(len(self.per_minute))]


async def per_minute(session: AsyncSession, *, now: datetime, minutes: int = CHART_MINUTES) -> list[int]:
    """Orders whose processing run finished in each of the last ``minutes`` minutes, oldest first.

    One row of ``minutes`` conditional sums, so it runs the same on SQLite and PostgreSQL. ``updated_at`` is
    never earlier than ``finished_at``, so filtering on it as well lets the (state, updated_at) index help.
    """
    end = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    start = end - timedelta(minutes=minutes)
    finished = col(OrderProcessing.finished_at)
    buckets = [
        func.coalesce(
            func.sum(
                case(
                    (
                        (finished >= start + timedelta(minutes=i)) & (finished < start + timedelta(minutes=i + 1)),
                        1,
                    ),
                    else_=0,
                )
            ),
            0,
        )
        for i in range(minutes)
    ]
    row = (
        await session.exec(
            select(*buckets).where(
                col(OrderProcessing.state).in_(list(ProcessingState)),
                col(OrderProcessing.updated_at) >= start,
                finished >= start,
            )
        )
    ).one()
    return [int(value or 0) for value in row]


async def monitor_stats(session: AsyncSession, *, now: datetime | None = None, recent: int = 10) -> MonitorStats:
    """Queue depth, throughput per minute, held orders by reason, failures and counts per state."""
    now = now or utcnow()
    states = {
        str(state): int(n)
        for state, n in (
            await session.exec(select(OrderProcessing.state, func.count()).group_by(OrderProcessing.state))
        ).all()
    }
    queued_jobs = (
        await session.exec(
            select(func.count()).where(OutboxMessage.job == "process_order", col(OutboxMessage.status).in_(BUSY_OUTBOX))
        )
    ).one()
    failed_jobs_count = (
        await session.exec(select(func.count()).where(OutboxMessage.status == OutboxStatus.failed))
    ).one()
    failed_jobs = [
        FailedJob(row.id or 0, row.job, list(row.args), row.attempts, row.last_error or "", row.finished_at)
        for row in (
            await session.exec(
                select(OutboxMessage)
                .where(OutboxMessage.status == OutboxStatus.failed)
                .order_by(col(OutboxMessage.id).desc())
                .limit(recent)
            )
        ).all()
    ]
    failed_held = (
        col(OrderProcessing.state).in_(REVIEW_STATES),
        OrderProcessing.hold_code == "failed",
    )
    failed_orders_count = (await session.exec(select(func.count()).where(*failed_held))).one()
    failed_orders = [
        FailedOrder(proc.order_id, order_ref(proc.order_id), order.external_id, proc.hold_reason, proc.finished_at)
        for proc, order in (
            await session.exec(
                select(OrderProcessing, Order)
                .join(Order, col(Order.id) == col(OrderProcessing.order_id))
                .where(*failed_held)
                .order_by(col(OrderProcessing.updated_at).desc())
                .limit(recent)
            )
        ).all()
    ]
    return MonitorStats(
        at=now,
        queued_orders=states.get(ProcessingState.queued.value, 0),
        queued_jobs=int(queued_jobs),
        per_minute=await per_minute(session, now=now),
        held=await held_by_code(session),
        failed_jobs_count=int(failed_jobs_count),
        failed_jobs=failed_jobs,
        failed_orders_count=int(failed_orders_count),
        failed_orders=failed_orders,
        states={state.value: states.get(state.value, 0) for state in ProcessingState},
    )


# --- the 处理 section of an order ---------------------------------------------------------------------------


@dataclass
class OrderProcessingView:
    """Where an order stands with automatic processing: state, hold, routing, shipments and flow runs."""

    proc: OrderProcessing
    shipments: list[Shipment]
    runs: list[FlowRunView]
    warehouses: dict[str, str]
    carriers: dict[str, str]
    merged_into_ref: str | None
    #: The parcels intercepted after the order was cancelled, by shipment reference.
    interceptions: dict[str, Interception] = field(default_factory=dict)

    def warehouse_name(self, code: str | None) -> str:
        return self.warehouses.get(code or "", code or "")

    def carrier_name(self, code: str | None) -> str:
        return self.carriers.get(code or "", code or "")


async def order_processing(session: AsyncSession, order_id: int) -> OrderProcessingView | None:
    """The 处理 section of an order's page; None when the order was never queued for processing."""
    proc = await session.get(OrderProcessing, order_id)
    if proc is None:
        return None
    shipments = await fulfillment.shipments_of(session, order_id)
    codes = {s.warehouse_code for s in shipments} | ({proc.warehouse_code} if proc.warehouse_code else set())
    carrier_codes = {s.carrier_code for s in shipments if s.carrier_code} | (
        {proc.carrier_code} if proc.carrier_code else set()
    )
    warehouses = {
        w.code: w.name
        for w in ((await session.exec(select(Warehouse).where(col(Warehouse.code).in_(codes)))).all() if codes else [])
    }
    carriers = {
        c.code: c.name
        for c in (
            (await session.exec(select(Carrier).where(col(Carrier.code).in_(carrier_codes)))).all()
            if carrier_codes
            else []
        )
    }
    return OrderProcessingView(
        proc=proc,
        shipments=shipments,
        runs=_runs(proc, await _versions(session, [proc])),
        warehouses=warehouses,
        carriers=carriers,
        merged_into_ref=order_ref(proc.merged_into) if proc.merged_into is not None else None,
        interceptions=await interceptions.interceptions_of_order(session, order_id),
    )


def helpers() -> dict[str, Any]:
    """Template functions the processing pages use (labels come back translated, as plain text)."""
    return {
        "hold_code_label": hold_code_label,
        "state_label": state_label,
        "shown": shown,
        "intercept_label": labeller(interceptions.STATUS_LABELS),
    }


# --- the read API ------------------------------------------------------------------------------------------


def _named(code: str | None, names: dict[str, str]) -> dict[str, str] | None:
    return {"code": code, "name": names.get(code, code)} if code else None


def _api_shipment(shipment: Shipment, view: OrderProcessingView) -> dict[str, Any]:
    return {
        "ref": shipment.ref,
        "seq": shipment.seq,
        "status": shipment.status,
        "warehouse": _named(shipment.warehouse_code, view.warehouses),
        "carrier": _named(shipment.carrier_code, view.carriers),
        "waybill_no": shipment.waybill_no,
        "weight_g": shipment.weight_g,
        "temperature_zone": shipment.temperature_zone,
        "fee_fen": shipment.fee_fen,
        "promised_days": shipment.promised_days,
        "lines": [
            {
                "order_id": str(line["order_id"]) if line.get("order_id") is not None else None,
                "line_id": line.get("line_id"),
                "sku": line.get("sku"),
                "title": line.get("title"),
                "qty": line.get("qty"),
                "is_gift": bool(line.get("is_gift")),
                "bundle_of": line.get("bundle_of"),
            }
            for line in shipment.lines
        ],
    }


def _api_run(run: FlowRunView) -> dict[str, Any]:
    return {
        "flow_id": str(run.flow_id) if run.flow_id is not None else None,
        "version_id": str(run.version_id) if run.version_id is not None else None,
        "version_number": run.version_number,
        "name": run.name,
        "status": run.status,
        "error": run.error,
        "failed_node": run.failed_node,
        "path": [
            {"node_id": step.node_id, "name": step.name, "type": step.type, "port": step.port, "branch": step.branch}
            for step in run.path
        ],
    }


def api_processing(view: OrderProcessingView | None) -> dict[str, Any] | None:
    """Where an order goes, as the read API gives it: state, hold, warehouse, carrier, waybill numbers,
    shipments with their lines, and each flow run with its version and path. None before it is queued.

    Codes are the machine's words (``state``, ``hold_code``); ``hold_reason`` is the flow's own text."""
    if view is None:
        return None
    proc = view.proc
    return {
        "state": proc.state.value,
        "hold_code": proc.hold_code or None,
        "hold_reason": proc.hold_reason or None,
        "warehouse": _named(proc.warehouse_code, view.warehouses),
        "carrier": _named(proc.carrier_code, view.carriers),
        "priority": proc.priority,
        "merged_into": str(proc.merged_into) if proc.merged_into is not None else None,
        "waybill_numbers": [s.waybill_no for s in view.shipments if s.waybill_no and s.status != "cancelled"],
        "shipments": [_api_shipment(shipment, view) for shipment in view.shipments],
        "flows": [_api_run(run) for run in view.runs],
        "order_version": proc.order_version,
        "queued_at": iso_utc(proc.queued_at),
        "finished_at": iso_utc(proc.finished_at),
    }


async def api_order(session: AsyncSession, order_id: int) -> dict[str, Any]:
    """The canonical order as the read API gives it (masked), with ``processing``: where it goes, and
    ``writebacks``: each parcel's 发货回传 to the platform."""
    order = await orders.api_order(session, order_id)
    parcels = writebacks.api_writebacks(await writebacks.writebacks_of(session, order_id))
    return {**order, "processing": api_processing(await order_processing(session, order_id)), "writebacks": parcels}

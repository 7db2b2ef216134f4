"""A living demo: thirty days of a shop's history, made through the real paths at the times they happened.

Every order is a channel's own sample payload (``channels.samples``) taken by ``channels.ingest`` as a webhook would
deliver it, placed at its moment of the past thirty days: more in the evenings, more at weekends, and one
双十一-style day (and its eve) many times an ordinary one. The outbox is drained by the embedded worker's own job
functions (processing, waybills from the sandbox carrier, messages, write-backs, finance); the warehouse confirms
the parcels by their waybill numbers (``confirmation.confirm_shipped``); the carrier pushes each journey to the
tracking service, which delivers them; the sweeper completes what was delivered a week before; an operator
releases most held orders; buyers ask for refunds before shipping and return goods after delivery
(``aftersales``). Each step runs at its own moment with :func:`app.db.clock_at`, so every timestamp the services
write is the history's, not today's; nothing is written to a table directly.

The history is made once: an audit row ``demo.history`` marks it made. Each step is idempotent (an order delivered
again is a duplicate, a parcel confirmed again is already shipped, a case opened again is refused), so a history
interrupted half-way is finished by running it again, and a second run after the marker adds nothing.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlmodel import col, select

from app.db import CHINA, Database, clock_at, utcnow
from app.domain.accounts import services as accounts
from app.domain.accounts.models import AuditEntry
from app.domain.accounts.services import SYSTEM, Actor
from app.domain.aftersales import services as aftersales
from app.domain.aftersales.models import CaseKind, CaseSource
from app.domain.aftersales.services import AfterSaleError, CaseRequest, LineRequest, Receipt
from app.domain.channels import services as channels
from app.domain.channels.models import IngestSource
from app.domain.channels.samples import sample_payload
from app.domain.fulfillment import confirmation, tracking
from app.domain.fulfillment import services as fulfillment
from app.domain.fulfillment.carriers import sandbox_journey, sign
from app.domain.fulfillment.models import Carrier
from app.domain.orders.models import Order, OrderLine
from app.domain.processing import jobs as processing_jobs
from app.domain.processing import services as processing
from app.domain.processing.models import OrderProcessing, ProcessingState
from app.domain.processing.services import ReviewError
from app.domain.shops import services as shop_readers
from app.domain.shops.models import Channel, Shop
from app.i18n import N_
from app.loadtest import publish_standard_flow, top_up_stock
from app.seed import CHANNEL_SHARES, add_extra_shops
from app.settings import Settings
from app.worker import EmbeddedWorker

log = logging.getLogger(__name__)

#: The history's own run tag: its orders' external ids are ``<tag><seq>``, the same on every run (hence idempotent).
HISTORY_RUN = "700000000000"
DAYS = 30
DEFAULT_ORDERS = 30_000
#: The audit actions that mark the history begun (with its plan), each of its passes made, and the whole made.
PLANNED_ACTION = "demo.history.planned"
PASS_ACTION = "demo.history.pass"  # noqa: S105 - an audit action, not a password
MADE_ACTION = "demo.history"
#: How far back the 双十一-style day lies (its parcels long delivered, many of its orders completed), unless 11-11
#: itself lies within the history, a week ago or more (see :func:`spike_age`).
SPIKE_AGE_DAYS = 19
SPIKE_FACTOR = 9.0
#: The steps of the history's clock: orders of one step are processed together at its end.
STEP = timedelta(minutes=30)
#: How often the sweeper runs in the history (自动完成 and the stock retries; the real one runs every 10 s).
SWEEP_EVERY = timedelta(hours=6)
#: Orders an hour of the day (China time), relative: quiet nights, a lunch bump, the evening peak.
HOURLY = (3, 2, 1, 1, 1, 1, 2, 4, 6, 8, 9, 10, 11, 9, 8, 8, 8, 9, 10, 12, 15, 16, 13, 7)
#: The spike day's hours: the rush at midnight when the sale opens, and again in the evening.
SPIKE_HOURLY = (40, 22, 8, 3, 2, 2, 3, 5, 8, 10, 11, 12, 12, 10, 9, 9, 9, 10, 12, 15, 19, 21, 18, 12)
#: Channels whose platform itself refunds the buyer (its after-sales message says so); ours record refunds at once.
OWN_CHANNELS = frozenset({Channel.pos, Channel.webshop, Channel.community_group, Channel.wechat_miniprogram})
#: Shares of the orders: refunded before shipping, returned after delivery, left held in 审核 by the operator.
REFUND_SHARE = 0.03
RETURN_SHARE = 0.05
LEFT_HELD_SHARE = 0.25
RETURN_REASONS = ("尺码不合适", "不喜欢/效果不好", "商品与描述不符", "质量问题", "七天无理由退货")
REFUND_REASONS = ("拍错了/不想要了", "地址填写错误", "协商一致退款", "未按约定时间发货")


class HistoryRefused(Exception):
    """The history would be made where it must not (a production database)."""


@dataclass(frozen=True)
class PlannedOrder:
    """One order of the history and what becomes of it."""

    seq: int
    channel: Channel
    shop: str
    placed_at: datetime
    #: How long after payment the warehouse confirms its parcels, and how long the carrier then takes.
    ship_after: timedelta
    deliver_after: timedelta
    #: "" (nothing), "refund" (仅退款 before shipping) or "return" (退货退款 after delivery), and when it is asked.
    aftersale: str = ""
    aftersale_after: timedelta = timedelta(0)


def spike_age(now: datetime, days: int = DAYS) -> int:
    """How many days before ``now`` (China days) the spike falls: on 双十一 when it is a week to ``days`` − 2 days
    ago (so its eve is in the history too), else :data:`SPIKE_AGE_DAYS` days ago."""
    today = now.astimezone(CHINA).date()
    eleven = today.replace(month=11, day=11)
    if eleven > today:
        eleven = eleven.replace(year=today.year - 1)
    age = (today - eleven).days
    return age if 7 <= age <= days - 2 else SPIKE_AGE_DAYS


def plan(orders: int, now: datetime, *, days: int = DAYS) -> list[PlannedOrder]:
    """The history's orders, earliest first: ``orders`` of them over the ``days`` before ``now``, each placed at a
    moment drawn from the day and hour weights. The same arguments give the same plan."""
    end = now.astimezone(CHINA)
    first_day = (end - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    cells: list[tuple[datetime, float]] = []
    spike = spike_age(now, days)
    for day in range(days):
        start = first_day + timedelta(days=day)
        age = (end.date() - start.date()).days
        factor = 1.0 + (0.15 if start.weekday() >= 5 else 0.0) + 0.01 * day
        hours = HOURLY
        if age == spike:
            factor, hours = SPIKE_FACTOR, SPIKE_HOURLY
        elif age == spike + 1:
            factor = 1.6  # the eve: baskets filled, some paid early
        elif age == spike - 1:
            factor = 2.2  # the day after: the tail of the sale
        for hour in range(24):
            cell = start + timedelta(hours=hour)
            if cell >= end:
                break
            # The current hour counts only as much of it as has passed.
            part = min(1.0, (end - cell) / timedelta(hours=1))
            cells.append((cell, factor * hours[hour] * part))
    total = sum(weight for _, weight in cells)
    counts = [int(orders * weight / total) for _, weight in cells]
    by_remainder = sorted(range(len(cells)), key=lambda i: -(orders * cells[i][1] / total - counts[i]))
    for i in by_remainder[: orders - sum(counts)]:
        counts[i] += 1
    shares = [share for _, _, share in CHANNEL_SHARES]
    planned: list[PlannedOrder] = []
    seq = 0
    for (cell, _), count in zip(cells, counts, strict=True):
        span = min(timedelta(hours=1), end - cell)
        for _ in range(count):
            rng = random.Random(f"demo-history:{seq}")
            channel, shop, _share = rng.choices(CHANNEL_SHARES, shares)[0]
            placed = (cell + span * rng.random()).astimezone(UTC)
            # Most parcels leave within the day, a few late; remote places and cheap carriers take longer.
            ship_after = timedelta(
                hours=rng.choices((2, 5, 10, 20, 40, 60), (2, 4, 5, 4, 2, 1))[0] * rng.uniform(0.6, 1)
            )
            deliver_after = timedelta(hours=rng.uniform(20, 90))
            draw = rng.random()
            aftersale, after = "", timedelta(0)
            if draw < REFUND_SHARE:
                aftersale, after = "refund", ship_after * rng.uniform(0.1, 0.6)
            elif draw < REFUND_SHARE + RETURN_SHARE:
                aftersale, after = "return", ship_after + deliver_after + timedelta(hours=rng.uniform(6, 120))
            planned.append(PlannedOrder(seq, channel, shop, placed, ship_after, deliver_after, aftersale, after))
            seq += 1
    planned.sort(key=lambda p: (p.placed_at, p.seq))
    return planned


#: The sketch passes make every SKETCH-th order, so that the whole month (today included) has orders to show within
#: a tenth of the time; the last pass goes through the month again for the rest.
SKETCH = 10
#: The first pass sketches only the last days, so that the dashboard has today's orders within a minute.
RECENT_DAYS = 2
#: What each pass makes (by its 1-based number), for the progress the pages show.
PASS_LABELS = {
    "1": N_("the last two days in outline"),
    "2": N_("the month in outline"),
    "3": N_("the rest of the month"),
}


def in_passes(planned: list[PlannedOrder], now: datetime) -> list[list[PlannedOrder]]:
    """The plan in three passes, each earliest first: every ``SKETCH``-th order of the last ``RECENT_DAYS``, every
    ``SKETCH``-th of the rest of the month, then every other order."""
    recent = now - timedelta(days=RECENT_DAYS)
    outlines = [
        [p for p in planned if p.placed_at >= recent][::SKETCH],
        [p for p in planned if p.placed_at < recent][::SKETCH],
    ]
    outlined = {p.seq for outline in outlines for p in outline}
    return [*outlines, [p for p in planned if p.seq not in outlined]]


@dataclass
class Progress:
    """How far the history has come, for the log and the pages."""

    planned: int = 0
    ingested: int = 0
    #: Orders of the passes made before this run (an earlier run's), counted in ``ingested``.
    ingested_before: int = 0
    #: The pass being made (1-based, of ``len(PASS_LABELS)``); 0 before the first.
    pass_no: int = 0
    #: The orders of the pass being made.
    pass_planned: int = 0
    shipped: int = 0
    delivered: int = 0
    completed: int = 0
    released: int = 0
    refunded: int = 0
    returned: int = 0
    started: float = field(default_factory=time.monotonic)
    seconds: float = 0.0
    done: bool = False

    @property
    def passes(self) -> int:
        return len(PASS_LABELS)

    @property
    def percent(self) -> int:
        return int(100 * self.ingested / self.planned) if self.planned else 100

    @property
    def minutes_left(self) -> int | None:
        """About how many minutes the rest takes at this run's pace so far; None before there is a pace."""
        made = self.ingested - self.ingested_before
        if made < 20 or self.seconds <= 0:
            return None
        return max(1, round((self.planned - self.ingested) * self.seconds / made / 60))

    def summary(self) -> str:
        return (
            f"{self.ingested:,} of {self.planned:,} orders in {self.seconds:.1f} s: {self.shipped:,} parcels shipped, "
            f"{self.delivered:,} delivered, {self.completed:,} orders completed, {self.released:,} released from "
            f"审核, {self.refunded:,} refunded before shipping, {self.returned:,} returned"
        )


#: Called as the history goes on.
Tick = Callable[[Progress], None]


async def is_made(db: Database) -> bool:
    """Whether the history was made already (its marker is in the audit log)."""
    return await _last_audit(db, MADE_ACTION) is not None


async def is_planned(db: Database) -> bool:
    """Whether a history was begun (by ``seed-demo``) and is not made yet: the server makes the rest."""
    return await _last_audit(db, PLANNED_ACTION) is not None and not await is_made(db)


async def _last_audit(db: Database, action: str) -> AuditEntry | None:
    async with db.reading() as session:
        return (
            await session.exec(
                select(AuditEntry).where(AuditEntry.action == action).order_by(col(AuditEntry.id).desc()).limit(1)
            )
        ).first()


@dataclass(frozen=True)
class Plan:
    """What a history was asked for: how many orders over the 30 days before ``now``. Kept in the audit log when the
    history is begun, so that whoever finishes it (a second run, the server) makes the same orders."""

    orders: int
    now: datetime


async def recorded_plan(db: Database) -> Plan | None:
    """The plan of the history begun, if one was."""
    entry = await _last_audit(db, PLANNED_ACTION)
    if entry is None or not entry.after or "now" not in entry.after:
        return None
    return Plan(int(entry.after["orders"]), datetime.fromisoformat(entry.after["now"]))


async def record_plan(db: Database, plan: Plan) -> None:
    async with db.transaction() as session:
        await accounts.audit(
            session, SYSTEM, PLANNED_ACTION, after={"orders": plan.orders, "now": plan.now.isoformat()}
        )


async def passes_made(db: Database) -> set[int]:
    """The passes (0-based) of the history begun that were made to their end."""
    async with db.reading() as session:
        entries = (await session.exec(select(AuditEntry).where(AuditEntry.action == PASS_ACTION))).all()
    return {int((entry.after or {}).get("pass", -1)) for entry in entries}


@dataclass(order=True)
class Due:
    """A step of one order that falls due at ``at``."""

    at: datetime
    seq: int
    kind: str = field(compare=False)
    tries: int = field(default=0, compare=False)


class History:
    """Makes one history (see the module): the plan, the order ids it got, and what falls due when."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        worker: EmbeddedWorker,
        planned: list[PlannedOrder],
        now: datetime,
        progress: Progress,
        tick: Tick | None,
    ) -> None:
        self.db, self.settings, self.worker, self.now = db, settings, worker, now
        self.planned = {p.seq: p for p in planned}
        self.order_ids: dict[int, int] = {}
        self.due: list[Due] = []
        self.progress, self.tick = progress, tick
        self.shops: dict[str, Shop] = {}
        self.carriers: dict[str, Carrier] = {}
        self.operator = SYSTEM

    async def setup(self) -> None:
        async with self.db.reading() as session:
            self.shops = {s.code: s for s in await shop_readers.list_shops(session)}
            self.carriers = {c.code: c for c in (await session.exec(select(Carrier))).all()}
            user = await accounts.get_user_by_username(session, "operator")
        if user is not None:
            self.operator = Actor.of_user(user)

    def later(self, at: datetime, seq: int, kind: str, tries: int = 0) -> None:
        if at <= self.now:
            heapq.heappush(self.due, Due(at, seq, kind, tries))

    async def drain(self, at: datetime) -> None:
        """Run what the outbox holds due at ``at``, with the worker's job functions, at that moment."""
        with clock_at(min(at, self.now)):
            await self.worker.drain()

    async def run(self, planned: list[PlannedOrder]) -> None:
        """Step through the history: the orders placed in a step and the steps of earlier orders that fall due in
        it, then what they staged in the outbox, at the step's end; the sweeper every few hours. Quiet stretches
        are skipped, not stepped through."""
        at = planned[0].placed_at if planned else self.now
        last_sweep = at
        index = 0
        while True:
            step_end = min(at + STEP, self.now)
            async with self.worker.turn:
                busy = False
                while index < len(planned) and planned[index].placed_at < step_end:
                    await self.ingest(planned[index])
                    index += 1
                    busy = True
                falling: list[Due] = []
                while self.due and self.due[0].at < step_end:
                    falling.append(heapq.heappop(self.due))
                if falling:
                    await self.carry_out(falling, step_end)
                    busy = True
                if busy:
                    await self.drain(step_end)
                if step_end - last_sweep >= SWEEP_EVERY or step_end >= self.now:
                    last_sweep = step_end
                    with clock_at(step_end):
                        counts = await processing_jobs.sweep_processing(self.db, self.settings, now=step_end)
                    self.progress.completed += counts.get("completed", 0)
                    await self.drain(step_end)
            self.progress.seconds = time.monotonic() - self.progress.started
            if self.tick is not None:
                self.tick(self.progress)
            if step_end >= self.now:
                return
            upcoming = [last_sweep + SWEEP_EVERY, self.now]
            if index < len(planned):
                upcoming.append(planned[index].placed_at)
            if self.due:
                upcoming.append(self.due[0].at)
            at = max(step_end, min(upcoming))

    async def ingest(self, order: PlannedOrder) -> None:
        shop = self.shops[order.shop]
        received = order.placed_at + timedelta(seconds=3 + order.seq % 50)
        with clock_at(min(received, self.now)):
            result = await channels.ingest(
                self.db,
                self.settings,
                shop,
                sample_payload(order.channel, HISTORY_RUN, order.seq, order.placed_at),
                IngestSource.webhook,
            )
        self.progress.ingested += 1
        if result.order_id is None:
            log.warning("demo history: order %s was not taken: %s %s", order.seq, result.outcome, result.message)
            return
        self.order_ids[order.seq] = result.order_id
        self.later(order.placed_at + order.ship_after, order.seq, "ship")
        if order.aftersale == "refund":
            self.later(order.placed_at + order.aftersale_after, order.seq, "refund")

    async def carry_out(self, falling: list[Due], step_end: datetime) -> None:
        """The steps of earlier orders that fall due in this step: the warehouse's scans and the carriers' pushes
        together at the step's end (as a shift's scans and a carrier's pushes come), the after-sales one by one."""
        ships = [due for due in falling if due.kind == "ship"]
        deliveries = [due for due in falling if due.kind == "deliver"]
        with clock_at(step_end):
            if ships:
                await self.ship(ships, step_end)
            if deliveries:
                await self.deliver(deliveries, step_end)
        for due in falling:
            order, order_id = self.planned[due.seq], self.order_ids[due.seq]
            with clock_at(due.at):
                if due.kind == "refund":
                    await self.refund(order, order_id)
                elif due.kind == "return":
                    await self.open_return(order, order_id)
                elif due.kind == "receive":
                    await self.receive_return(order, order_id)

    async def ship(self, ships: list[Due], at: datetime) -> None:
        """The warehouse scans the waybilled parcels of the orders due to leave; a held order is released by the
        operator first (most of them: the rest stay in 审核), one not processed yet is looked at again later."""
        ids = {due.seq: self.order_ids[due.seq] for due in ships}
        async with self.db.reading() as session:
            states = {
                proc.order_id: proc.state
                for proc in (
                    await session.exec(select(OrderProcessing).where(col(OrderProcessing.order_id).in_(ids.values())))
                ).all()
            }
            parcels = await fulfillment.shipments_of_many(session, ids.values())
        release: list[Due] = []
        numbers: list[str] = []
        leaving: list[Due] = []
        for due in ships:
            order_id = ids[due.seq]
            state = states.get(order_id)
            waybilled = [p.waybill_no for p in parcels.get(order_id, []) if p.status == "waybilled" and p.waybill_no]
            if state in (ProcessingState.held, ProcessingState.out_of_stock):
                if due.tries == 0 and random.Random(f"hold:{due.seq}").random() >= LEFT_HELD_SHARE:
                    release.append(due)
            elif waybilled:
                numbers.extend(waybilled)
                leaving.append(due)
            elif state in (ProcessingState.queued, ProcessingState.processed) and due.tries < 3:
                self.later(at + timedelta(hours=2), due.seq, "ship", due.tries + 1)
        if release:
            async with self.db.transaction() as session:
                for due in release:
                    try:
                        async with session.begin_nested():
                            await processing.approve(session, ids[due.seq], self.operator)
                    except ReviewError:
                        continue
                    self.progress.released += 1
                    self.later(at + timedelta(hours=4), due.seq, "ship", 1)
        for start in range(0, len(numbers), confirmation.MAX_WAYBILLS):
            async with self.db.transaction() as session:
                answers = await confirmation.confirm_many(
                    session, numbers[start : start + confirmation.MAX_WAYBILLS], self.operator, at
                )
            self.progress.shipped += sum(1 for answer in answers if answer["outcome"] == "shipped")
        for due in leaving:
            order = self.planned[due.seq]
            self.later(at + order.deliver_after, due.seq, "deliver")
            if order.aftersale == "return":
                self.later(order.placed_at + order.aftersale_after, due.seq, "return")

    async def deliver(self, deliveries: list[Due], at: datetime) -> None:
        """The carriers push each shipped parcel's journey, signed as carriers sign, to the tracking service."""
        async with self.db.reading() as session:
            parcels = await fulfillment.shipments_of_many(session, [self.order_ids[due.seq] for due in deliveries])
        pushes = []
        for shipment in (s for found in parcels.values() for s in found if s.status == "shipped"):
            carrier = self.carriers.get(shipment.carrier_code or "")
            if carrier is not None and shipment.waybill_no:
                key, secret = tracking.credentials_of(carrier, self.settings)
                body = sandbox_journey(shipment.waybill_no, shipment.shipped_at or at, at)
                pushes.append((carrier.code, body, key, sign(secret, body)))
        async with self.db.transaction() as session:
            for code, body, key, signature in pushes:
                try:
                    async with session.begin_nested():
                        await tracking.receive_push(session, self.settings, code, body, key, signature, at)
                except tracking.TrackingRefused:
                    continue
                self.progress.delivered += 1

    def source_of(self, order: PlannedOrder) -> CaseSource:
        return CaseSource.operator if order.channel in OWN_CHANNELS else CaseSource.platform

    async def lines_of(self, order_id: int) -> list[OrderLine]:
        async with self.db.reading() as session:
            return list((await session.exec(select(OrderLine).where(OrderLine.order_id == order_id))).all())

    async def refund(self, order: PlannedOrder, order_id: int) -> None:
        """仅退款 before the parcel leaves: the buyer asks on the platform (which refunds) or our service desk."""
        lines = [line for line in await self.lines_of(order_id) if not line.is_gift]
        if not lines:
            return
        rng = random.Random(f"refund:{order.seq}")
        request = CaseRequest(
            kind=CaseKind.refund_only,
            order_id=order_id,
            lines=[LineRequest(order_id, line.line_id, line.qty) for line in lines],
            reason=rng.choice(REFUND_REASONS),
            source=self.source_of(order),
            refund_shipping=True,
            platform_ref=f"RF{HISTORY_RUN}{order.seq}" if order.channel not in OWN_CHANNELS else "",
        )
        try:
            async with self.db.transaction() as session:
                view = await aftersales.open_case(session, self.operator, request)
                assert view.case.id is not None
                if order.channel in OWN_CHANNELS:
                    await aftersales.approve(session, view.case.id, self.operator)
                else:
                    await aftersales.refunded_by_platform(session, view.case.id, aftersales.SYSTEM_ACTOR)
        except AfterSaleError:
            return  # already a case (a second run), or its parcel has a waybill by now: the buyer waits for it
        self.progress.refunded += 1

    async def open_return(self, order: PlannedOrder, order_id: int) -> None:
        """退货退款 after delivery: one line back, agreed, the buyer's return parcel on its way."""
        async with self.db.reading() as session:
            placed = await session.get(Order, order_id)
        lines = [line for line in await self.lines_of(order_id) if not line.is_gift]
        if placed is None or placed.status.value not in ("delivered", "completed") or not lines:
            return
        rng = random.Random(f"return:{order.seq}")
        line = rng.choice(lines)
        request = CaseRequest(
            kind=CaseKind.return_refund,
            order_id=order_id,
            lines=[LineRequest(order_id, line.line_id, 1)],
            reason=rng.choice(RETURN_REASONS),
            source=self.source_of(order),
            platform_ref=f"RT{HISTORY_RUN}{order.seq}" if order.channel not in OWN_CHANNELS else "",
        )
        try:
            async with self.db.transaction() as session:
                view = await aftersales.open_case(session, self.operator, request)
                assert view.case.id is not None
                await aftersales.approve(session, view.case.id, self.operator)
                await aftersales.record_return_waybill(
                    session, view.case.id, "ZTO", f"ZT{HISTORY_RUN[-6:]}{order.seq:08d}", self.operator
                )
        except AfterSaleError:
            return
        self.later(utcnow() + timedelta(hours=rng.uniform(30, 80)), order.seq, "receive")

    async def receive_return(self, order: PlannedOrder, order_id: int) -> None:
        """The warehouse receives the return and checks it (most pass); the refund follows."""
        async with self.db.reading() as session:
            cases = [
                c
                for c in await aftersales.cases_of_order(session, order_id)
                if c.kind == CaseKind.return_refund.value and c.status == "awaiting_return"
            ]
        for case in cases:
            assert case.id is not None
            try:
                async with self.db.transaction() as session:
                    view = await aftersales.load_case(session, case.id)
                    passed = random.Random(f"qc:{order.seq}").random() < 0.85
                    receipts = [
                        Receipt(
                            line.id,
                            passed=line.qty if passed else 0,
                            failed=0 if passed else line.qty,
                            reason="" if passed else "外包装破损",
                        )
                        for line in view.lines
                        if line.id is not None
                    ]
                    view = await aftersales.receive(session, case.id, receipts, self.operator)
                    if self.source_of(order) == CaseSource.platform:
                        await aftersales.refunded_by_platform(session, case.id, aftersales.SYSTEM_ACTOR)
            except AfterSaleError:
                continue
            self.progress.returned += 1


async def make_history(
    db: Database,
    settings: Settings,
    *,
    orders: int = DEFAULT_ORDERS,
    now: datetime | None = None,
    worker: EmbeddedWorker | None = None,
    tick: Tick | None = None,
    passes: int | None = None,
) -> Progress | None:
    """Make the demo's history once (see the module); None when it was made already. The first run records the
    plan (``orders`` up to ``now``); a later one finishes that plan, whatever it is asked, skipping the passes made.
    ``passes`` stops after that many of the passes (``seed-demo --background`` makes the first and leaves the rest
    to the server). ``worker`` is the server's embedded worker when the history is made beside it (the history
    takes the worker's turn for each of its steps); else one of its own. Refused in production."""
    if not settings.is_development:
        raise HistoryRefused(
            "the demo history refuses to run in production (RULEFLOW_ENV=production): it fills the database with "
            "made-up orders. Nothing was changed."
        )
    if await is_made(db):
        return None
    recorded = await recorded_plan(db)
    if recorded is None:
        recorded = Plan(orders, now or utcnow())
        await record_plan(db, recorded)
    elif recorded.orders != orders:
        log.info("demo history: finishing the %s orders begun before (not %s)", recorded.orders, orders)
    now = recorded.now
    planned = plan(recorded.orders, now)
    parts = in_passes(planned, now)
    made = await passes_made(db)
    progress = Progress(planned=len(planned))
    progress.ingested = progress.ingested_before = sum(len(part) for index, part in enumerate(parts) if index in made)
    if not made:
        start = planned[0].placed_at if planned else now
        async with db.transaction() as session:
            await add_extra_shops(session)
        with clock_at(start - timedelta(days=1)):
            # Stock bought in before the month began, enough for it (the spike included), and the flow put live.
            await top_up_stock(db, max(200, recorded.orders // 6), ref="demo-history", note="月初采购入库")
            await publish_standard_flow(db, "演示：发布标准四段流程")
    history = History(db, settings, worker or EmbeddedWorker(db, settings), planned, now, progress, tick)
    await history.setup()
    todo = [index for index in range(len(parts)) if index not in made][:passes]
    if worker is not None:
        await _make_passes(history, parts, todo)
    else:
        # The sandbox carrier answers in process: the app's own endpoint, without a server listening.
        from app.main import create_app

        transport = httpx.ASGITransport(app=create_app(settings))  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, timeout=30) as http:
            history.worker = EmbeddedWorker(db, settings, http=http)
            await _make_passes(history, parts, todo)
    progress.seconds = time.monotonic() - progress.started
    if len(made) + len(todo) < len(parts):
        log.info("demo history: %s; the rest is made later", progress.summary())
        return progress
    progress.done = True
    if tick is not None:
        tick(progress)
    async with db.transaction() as session:
        figures: dict[str, Any] = {
            "orders": progress.ingested,
            "shipped": progress.shipped,
            "delivered": progress.delivered,
            "completed": progress.completed,
            "released": progress.released,
            "refunded": progress.refunded,
            "returned": progress.returned,
            "seconds": round(progress.seconds, 1),
        }
        await accounts.audit(session, SYSTEM, MADE_ACTION, after=figures)
    log.info("demo history made: %s", progress.summary())
    return progress


async def _make_passes(history: History, parts: list[list[PlannedOrder]], todo: list[int]) -> None:
    """Make the passes ``todo`` of ``parts`` in turn, each marked made in the audit log when it ends."""
    for index in todo:
        history.progress.pass_no, history.progress.pass_planned = index + 1, len(parts[index])
        await history.run(parts[index])
        async with history.db.transaction() as session:
            await accounts.audit(session, SYSTEM, PASS_ACTION, after={"pass": index, "orders": len(parts[index])})


class BackgroundHistory:
    """The rest of a history begun by ``seed-demo --background``, made by the server beside its embedded worker
    once it serves; :attr:`progress` is what the dashboard shows while it is made."""

    def __init__(self, db: Database, settings: Settings, worker: EmbeddedWorker) -> None:
        self.db, self.settings, self.worker = db, settings, worker
        self.progress: Progress | None = None
        self._task: asyncio.Task[None] | None = None
        self._logged = 0.0

    def start(self) -> None:
        self._task = asyncio.create_task(self._make(), name="demo-history")

    async def stop(self) -> None:
        """Stop where it is (the step under way is rolled back; the next start makes it again)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    @property
    def showing(self) -> Progress | None:
        """The progress while the history is being made; None when there is none or it is made."""
        return self.progress if self.progress is not None and not self.progress.done else None

    def _tick(self, progress: Progress) -> None:
        self.progress = progress
        if progress.done or time.monotonic() - self._logged >= 30:
            self._logged = time.monotonic()
            log.warning("demo history, pass %s of %s: %s", progress.pass_no, progress.passes, progress.summary())

    async def _make(self) -> None:
        try:
            if not await is_planned(self.db):
                return
            recorded = await recorded_plan(self.db)
            log.warning("demo history: making the rest in the background (progress on the home page)")
            self.worker.sweeps_paused = True
            try:
                await make_history(
                    self.db,
                    self.settings,
                    orders=recorded.orders if recorded else DEFAULT_ORDERS,
                    worker=self.worker,
                    tick=self._tick,
                )
            finally:
                self.worker.sweeps_paused = False
        except asyncio.CancelledError:
            raise
        except Exception:  # the server serves on; the next start goes on from the passes made
            log.exception("demo history stopped")

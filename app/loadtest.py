"""The load generator behind ``ruleflow loadtest``: realistic orders of every channel through the real webhook
of a running server, then the figures a 双十一 rehearsal needs and the two that must be 0.

1. ``prepare``: load-test shops of every channel with webhook secrets, the demo warehouses, SKUs, carriers and
   rates, stock topped up in the warehouses that keep each SKU, and the four-stage flow published when no flow
   is live. Idempotent; refused in production.
2. ``send``: POST each order, signed with its shop's webhook secret (or with an ingest token), at a rate or as
   fast as the server takes them, for a count or a duration.
3. ``wait_processed``: poll the database until every accepted order has left the processing queue and the
   jobs it staged (waybills, messages) are done.
4. ``measure``: accepted/s, processed/s, receipt → routed percentiles, errors, oversold units and duplicated
   effects, read from the tables themselves so that they hold whichever code path wrote them.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import String, cast, column, func, table, text
from sqlalchemy import select as select_rows
from sqlmodel import col, select

from app.db import Database, utcnow
from app.domain.accounts.services import SYSTEM
from app.domain.channels import services as channels
from app.domain.channels.samples import CHANNELS, sample_payload
from app.domain.flows import services as flows
from app.domain.flows.models import Flow
from app.domain.fulfillment.models import Carrier, CarrierRate
from app.domain.inventory import catalogue
from app.domain.inventory import services as inventory
from app.domain.inventory.models import BundleComponent, Sku, Stock, Warehouse
from app.domain.shops import services as shop_readers
from app.domain.shops.models import Channel, Shop
from app.seed import CARRIERS, DEMO_STOCK, SKUS, WAREHOUSES, demo_sku, demo_warehouse, seed_carrier_rates
from app.settings import Settings

#: Shop codes of the load test, one per channel: never the merchant's own shops, whose secrets stay theirs.
SHOP_PREFIX = "loadtest-"
FLOW_NAME = "标准四段订单处理"
FLOW_TEMPLATE = "standard_four_stage"
#: Processing states that are not an outcome yet.
WAITING_STATES = ("queued",)
#: Hold codes that mean something failed (a node, an action, an unknown SKU, no flow), as opposed to a decision
#: (review, 缺货, presale, no carrier for the lane).
FAILURE_HOLDS = ("failed", "no_flow", "unknown_sku")
#: Order-id chunks per query (SQLite allows 999 bound parameters in older builds).
CHUNK = 500
#: The tables the checks read, by name only: they hold whichever domain's code (and model) writes them.
ORDERS = table("orders", column("id"), column("received_at"))
PROCESSING = table("order_processing", column("order_id"), column("state"), column("hold_code"), column("finished_at"))
SHIPMENTS = table(
    "shipments",
    column("order_id"),
    column("warehouse_code"),
    column("temperature_zone"),
    column("lines"),
    column("status"),
)
OUTBOX = table("outbox", column("id"), column("job"), column("status"), column("available_at"))
#: States are native enums on PostgreSQL: compared as text, the checks read both backends alike.
STATE = cast(PROCESSING.c.state, String)
OUTBOX_STATUS = cast(OUTBOX.c.status, String)


class LoadtestRefused(Exception):
    """The load test would change what it must not (a production database)."""


def shop_code(channel: Channel) -> str:
    return SHOP_PREFIX + channel.value.replace("_", "-")


# --- preparation -------------------------------------------------------------------------------------------


@dataclass
class Preparation:
    """What ``prepare`` added (all zero on a second run, except stock topped up again after a run used it)."""

    shops: int = 0
    secrets: int = 0
    warehouses: int = 0
    skus: int = 0
    carriers: int = 0
    stock_rows_topped_up: int = 0
    published_flow: str | None = None


async def prepare(db: Database, settings: Settings, *, stock_level: int) -> Preparation:
    """Make the database ready for a load test; changes only what is missing (see the module's docstring)."""
    if not settings.is_development:
        raise LoadtestRefused(
            "the load test refuses to run in production (RULEFLOW_ENV=production): it creates shops, tops up stock "
            "and publishes a flow. Nothing was changed."
        )
    done = Preparation()
    async with db.transaction() as session:
        have = set((await session.exec(select(Warehouse.code))).all())
        for place in WAREHOUSES:
            if place[0] not in have:
                session.add(demo_warehouse(place))
                done.warehouses += 1
        have = set((await session.exec(select(Sku.code))).all())
        for item in SKUS:
            if item[0] not in have:
                session.add(demo_sku(item))
                done.skus += 1
        have = set((await session.exec(select(Carrier.code))).all())
        for code, name, cold in CARRIERS:
            if code not in have:
                session.add(Carrier(code=code, name=name, supports_cold_chain=cold))
                done.carriers += 1
        await session.flush()
        rated = set((await session.exec(select(CarrierRate.carrier_code))).all())
        unrated = tuple(code for code, _, _ in CARRIERS if code not in rated)
        if unrated:
            await seed_carrier_rates(session, only=unrated)
        bundled = (await session.exec(select(BundleComponent).where(BundleComponent.bundle_code == "SET-SKIN"))).first()
        if bundled is None:
            await catalogue.set_bundle(session, "SET-SKIN", {"SERUM-30": 1, "MASK-10": 1}, SYSTEM)

        shops = {s.code: s for s in await shop_readers.list_shops(session)}
        for channel in CHANNELS:
            shop = shops.get(shop_code(channel))
            if shop is None:
                shop = Shop(channel=channel, code=shop_code(channel), name=f"压测 {channel.value}")
                done.shops += 1
            shop.is_active = True
            if not channels.webhook_secret_of(shop, settings.secret_key):
                channels.set_webhook_secret(shop, settings.secret_key, secrets.token_hex(24))
                done.secrets += 1
            session.add(shop)

    done.stock_rows_topped_up = await top_up_stock(db, stock_level, ref=f"loadtest-{utcnow():%Y%m%d%H%M%S%f}")
    done.published_flow = await publish_standard_flow(db, "压测：发布标准四段流程")
    return done


async def top_up_stock(db: Database, stock_level: int, *, ref: str, note: str = "压测补货") -> int:
    """Receive stock where the demo keeps each SKU until ``stock_level`` units are free there; how many stock rows
    were topped up. Each SKU in its own transaction, so that a live server's reservations wait on few rows at once."""
    topped = 0
    for sku, rows in DEMO_STOCK.items():
        async with db.transaction() as session:
            stock = {
                s.warehouse_code: s for s in (await session.exec(select(Stock).where(Stock.sku_code == sku))).all()
            }
            for warehouse, _ in rows:
                row = stock.get(warehouse)
                free = row.on_hand - row.reserved - row.safety_stock if row else 0
                if free < stock_level:
                    await inventory.receive(session, warehouse, sku, stock_level - free, SYSTEM, ref=ref, note=note)
                    topped += 1
    return topped


async def publish_standard_flow(db: Database, note: str) -> str | None:
    """Publish the shipped four-stage flow (made from its template if missing) when no flow is live; the name of
    the flow published, or None when one was live already."""
    async with db.transaction() as session:
        all_flows = list((await session.exec(select(Flow))).all())
        if any(f.live_version_id is not None for f in all_flows):
            return None
        flow = next((f for f in all_flows if f.name == FLOW_NAME), None)
        if flow is None:
            flow = await flows.create_flow(session, SYSTEM, FLOW_NAME, template=FLOW_TEMPLATE, priority=100)
        assert flow.id is not None
        await flows.publish(session, SYSTEM, flow.id, note)
        return flow.name


@dataclass(frozen=True)
class Target:
    """Where one channel's orders go: its load-test shop and how to prove we speak for it."""

    channel: Channel
    shop: str
    secret: str | None


async def targets(db: Database, settings: Settings, *, token: str | None) -> list[Target]:
    """The load-test shop of every channel, with its webhook secret (unless an ingest token signs instead)."""
    async with db.reading() as session:
        shops = {
            s.code: s for s in (await session.exec(select(Shop).where(col(Shop.code).startswith(SHOP_PREFIX)))).all()
        }
    found = []
    for channel in CHANNELS:
        shop = shops.get(shop_code(channel))
        if shop is None or not shop.is_active:
            raise LoadtestRefused(f"no active shop {shop_code(channel)}: run `ruleflow loadtest --prepare` first")
        secret = None if token else channels.webhook_secret_of(shop, settings.secret_key)
        if not token and not secret:
            raise LoadtestRefused(f"shop {shop.code} has no webhook secret: run `ruleflow loadtest --prepare` first")
        found.append(Target(channel, shop.code, secret))
    return found


# --- sending -----------------------------------------------------------------------------------------------


@dataclass
class Sent:
    """What the server said to every POST."""

    run: str
    order_ids: list[int] = field(default_factory=list)
    by_status: Counter[str] = field(default_factory=Counter)
    by_channel: Counter[str] = field(default_factory=Counter)
    #: A sample of refusals, to say why (status: first detail seen).
    reasons: dict[str, str] = field(default_factory=dict)
    started: float = 0.0
    seconds: float = 0.0

    @property
    def attempted(self) -> int:
        return sum(self.by_status.values())

    @property
    def accepted(self) -> int:
        return self.by_status.get("200", 0)


#: Called with a count so far (orders sent, orders processed).
Tick = Callable[[int], None]
#: Called after each POST with what the server said so far.
Watch = Callable[[Sent], None]


def run_tag() -> str:
    """A tag that makes this run's order ids its own: digits only, since some platforms' ids are numeric."""
    return f"9{int(time.time() * 1000) % 10**11:011d}"


async def send(
    base_url: str,
    to: list[Target],
    *,
    count: int | None,
    rate: float | None,
    duration: float | None,
    concurrency: int,
    token: str | None,
    tick: Watch | None = None,
) -> Sent:
    """POST orders round-robin over ``to`` until ``count`` were sent or ``duration`` seconds passed; at most
    ``rate`` a second (each order has its due time, so a slow answer does not lower the rate while there are
    connections free), else as fast as ``concurrency`` connections go."""
    sent = Sent(run_tag())
    next_seq = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    loop = asyncio.get_running_loop()

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal next_seq
        while True:
            seq = next_seq
            elapsed = loop.time() - start
            if (count is not None and seq >= count) or (duration is not None and elapsed >= duration):
                return
            next_seq += 1
            if rate:
                due = seq / rate - elapsed
                if duration is not None and seq / rate >= duration:
                    return
                if due > 0:
                    await asyncio.sleep(due)
            target = to[seq % len(to)]
            body = json.dumps(
                sample_payload(target.channel, sent.run, seq, datetime.now(UTC)), ensure_ascii=False
            ).encode()
            headers = {channels.SHOP_HEADER: target.shop, "Content-Type": "application/json"}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            elif target.secret:
                headers[channels.SIGNATURE_HEADER] = channels.sign_body(target.secret, body)
            try:
                response = await client.post(
                    f"/api/v1/channels/{target.channel.value}/orders", content=body, headers=headers
                )
            except httpx.HTTPError as exc:
                status, detail = "connection", f"{type(exc).__name__}: {exc}"
            else:
                status = str(response.status_code)
                detail = response.text[:300]
                if response.status_code == 200:
                    order_id = response.json().get("order_id")
                    if isinstance(order_id, int):
                        sent.order_ids.append(order_id)
            sent.by_status[status] += 1
            sent.by_channel[target.channel.value] += 1
            if status != "200":
                sent.reasons.setdefault(status, detail)
            if tick is not None:
                tick(sent)

    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:
        start = loop.time()
        sent.started = time.time()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        sent.seconds = loop.time() - start
    return sent


# --- waiting -----------------------------------------------------------------------------------------------


async def outbox_mark(db: Database) -> int:
    """The newest outbox row before the run: jobs staged after it are the run's (or concurrent work)."""
    async with db.reading() as session:
        newest = (await session.exec(select_rows(func.max(OUTBOX.c.id)))).scalar_one()  # type: ignore[call-overload]
        return int(newest or 0)


def chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    ordered = sorted(set(ids))
    for i in range(0, len(ordered), CHUNK):
        yield ordered[i : i + CHUNK]


async def wait_processed(
    db: Database, order_ids: list[int], outbox_after: int, *, within: float, tick: Tick | None = None
) -> bool:
    """Wait until every order has an outcome and the jobs staged since ``outbox_after`` that are due have run.
    Returns False when ``within`` seconds passed first."""
    pending = set(order_ids)
    deadline = time.monotonic() + within
    while True:
        async with db.reading() as session:
            for part in chunks(pending):
                rows = await session.exec(  # type: ignore[call-overload]
                    select_rows(PROCESSING.c.order_id).where(
                        PROCESSING.c.order_id.in_(part), STATE.not_in(WAITING_STATES)
                    )
                )
                pending.difference_update(int(r[0]) for r in rows)
            if tick is not None:
                tick(len(order_ids) - len(pending))
            jobs_left = 0
            if not pending:
                jobs_left = int(
                    (
                        await session.exec(  # type: ignore[call-overload]
                            select_rows(func.count()).where(
                                OUTBOX.c.id > outbox_after,
                                OUTBOX.c.available_at <= utcnow(),
                                OUTBOX_STATUS.in_(("pending", "queued", "running")),
                            )
                        )
                    ).scalar_one()
                )
        if not pending and not jobs_left:
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.5)


# --- measuring ---------------------------------------------------------------------------------------------


@dataclass
class Report:
    """One run's figures; ``oversold_units`` and ``duplicated_effects`` must be 0."""

    url: str
    backend: str
    run: str
    mode: str
    sent: int
    accepted: int
    send_seconds: float
    accepted_per_s: float
    http_errors: dict[str, int]
    error_samples: dict[str, str]
    by_channel: dict[str, int]
    waited: bool = False
    timed_out: bool = False
    processed: int = 0
    unprocessed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    held_for_failure: dict[str, int] = field(default_factory=dict)
    processed_per_s: float = 0.0
    e2e_seconds: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)
    jobs_failed: dict[str, int] = field(default_factory=dict)
    oversold_units: int = 0
    oversold_rows: list[dict[str, Any]] = field(default_factory=list)
    ledger_mismatches: int = 0
    duplicated_effects: int = 0
    duplicates: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Every order processed, nothing oversold, nothing done twice, no request or job failed."""
        return (
            not self.timed_out
            and not self.http_errors
            and not self.held_for_failure
            and not self.jobs_failed
            and self.oversold_units == 0
            and self.ledger_mismatches == 0
            and self.duplicated_effects == 0
        )

    @property
    def safe(self) -> bool:
        """Nothing oversold, nothing done twice, the stock equal to its ledger, and the wait finished."""
        return (
            not self.timed_out
            and self.oversold_units == 0
            and self.ledger_mismatches == 0
            and self.duplicated_effects == 0
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok, "safe": self.safe}


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted list (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), round(pct / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def as_utc(value: Any) -> datetime:
    """A timestamp column as an aware UTC datetime (SQLite hands back text or naive values to raw SQL)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def report_of_sending(url: str, backend: str, sent: Sent, mode: str) -> Report:
    errors = {status: n for status, n in sorted(sent.by_status.items()) if status != "200"}
    return Report(
        url=url,
        backend=backend,
        run=sent.run,
        mode=mode,
        sent=sent.attempted,
        accepted=sent.accepted,
        send_seconds=round(sent.seconds, 3),
        accepted_per_s=round(sent.accepted / sent.seconds, 1) if sent.seconds else 0.0,
        http_errors=errors,
        error_samples=dict(sent.reasons),
        by_channel=dict(sorted(sent.by_channel.items())),
    )


async def measure(db: Database, report: Report, order_ids: list[int], outbox_after: int) -> Report:
    """Fill in what processing made of the run's orders, and the stock and duplicate checks."""
    outcomes: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    latencies: list[float] = []
    first_received: datetime | None = None
    last_finished: datetime | None = None
    async with db.reading() as session:
        for part in chunks(order_ids):
            rows = await session.exec(  # type: ignore[call-overload]
                select_rows(STATE, PROCESSING.c.hold_code, ORDERS.c.received_at, PROCESSING.c.finished_at)
                .join_from(PROCESSING, ORDERS, ORDERS.c.id == PROCESSING.c.order_id)
                .where(PROCESSING.c.order_id.in_(part))
            )
            for state, hold_code, received_at, finished_at in rows:
                outcomes[f"{state}:{hold_code}" if hold_code and state != "processed" else state] += 1
                if hold_code in FAILURE_HOLDS:
                    failures[hold_code] += 1
                received = as_utc(received_at)
                first_received = received if first_received is None else min(first_received, received)
                if finished_at is not None and state not in WAITING_STATES:
                    finished = as_utc(finished_at)
                    last_finished = finished if last_finished is None else max(last_finished, finished)
                    if state == "processed":
                        latencies.append((finished - received).total_seconds() * 1000)
        failed_jobs = await session.exec(  # type: ignore[call-overload]
            select_rows(OUTBOX.c.job, func.count())
            .where(OUTBOX.c.id > outbox_after, OUTBOX_STATUS == "failed")
            .group_by(OUTBOX.c.job)
        )
        report.jobs_failed = {str(job): int(n) for job, n in failed_jobs}
        await stock_checks(session, report)
        report.duplicates = await duplicate_checks(session, order_ids)
    report.duplicated_effects = sum(report.duplicates.values())
    report.outcomes = dict(sorted(outcomes.items()))
    report.held_for_failure = dict(sorted(failures.items()))
    report.processed = sum(n for state, n in outcomes.items() if state.split(":")[0] not in WAITING_STATES)
    report.unprocessed = len(set(order_ids)) - report.processed
    if first_received is not None and last_finished is not None and last_finished > first_received:
        report.e2e_seconds = round((last_finished - first_received).total_seconds(), 3)
        report.processed_per_s = round(report.processed / report.e2e_seconds, 1)
    latencies.sort()
    report.latency_ms = {
        name: round(percentile(latencies, pct), 1)
        for name, pct in (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))
    }
    return report


async def stock_checks(session: Any, report: Report) -> None:
    """Oversold units (reserved beyond on hand, or on hand below zero) and stock rows that differ from the
    sum of their ledger, over the whole stock table: the pool is shared, so the run's orders touch all of it."""
    rows = await session.exec(
        text(
            "SELECT warehouse_code, sku_code, on_hand, reserved FROM stock "
            "WHERE reserved > on_hand OR on_hand < 0 OR reserved < 0"
        )
    )
    for warehouse, sku, on_hand, reserved in rows:
        units = max(reserved - on_hand, 0) + max(-on_hand, 0) + max(-reserved, 0)
        report.oversold_units += units
        report.oversold_rows.append({"warehouse": warehouse, "sku": sku, "on_hand": on_hand, "reserved": reserved})
    report.ledger_mismatches = len(await inventory.ledger_mismatches(session))


async def duplicate_checks(session: Any, order_ids: list[int]) -> dict[str, int]:
    """Effects that happened twice for one thing, each counted once per extra copy.

    - ``line_reserved_twice``: an order line's SKU whose ledger reservations (net of releases and shipment)
      exceed what its reservation row holds, anywhere in the pool.
    - ``shipments_twice``: an order with two live shipments from one warehouse in one temperature zone (a split
      ships from several warehouses, a mixed-temperature order one parcel per zone).
    - ``line_shipped_twice``: an order line in two live shipments.
    - ``waybill_twice``: a shipment with more than one waybill.
    - ``document_entry_twice``: a shipment on two documents of one kind (two pick lists…).
    - ``message_twice``: a buyer told the same thing twice about one order.
    """
    found: Counter[str] = Counter()
    held: dict[tuple[str, str, str], int] = {}
    for order_key, line_key, sku, status, qty in await session.exec(
        text("SELECT order_key, line_key, sku_code, status, qty FROM stock_reservations")
    ):
        held[(order_key, line_key, sku)] = int(qty) if status == "reserved" else 0
    for order_key, line_key, sku, net in await session.exec(
        text(
            "SELECT order_key, line_key, sku_code, SUM(reserved_delta) FROM stock_ledger "
            "WHERE order_key IS NOT NULL GROUP BY order_key, line_key, sku_code"
        )
    ):
        extra = int(net or 0) - held.get((order_key, line_key, sku), 0)
        if extra > 0:
            found["line_reserved_twice"] += 1

    for part in chunks(order_ids):
        per_parcel: Counter[tuple[int, str, str]] = Counter()
        per_line: Counter[tuple[int, str, str]] = Counter()
        for order_id, warehouse, zone, lines in await session.exec(
            select_rows(
                SHIPMENTS.c.order_id, SHIPMENTS.c.warehouse_code, SHIPMENTS.c.temperature_zone, SHIPMENTS.c.lines
            ).where(SHIPMENTS.c.order_id.in_(part), cast(SHIPMENTS.c.status, String) != "cancelled")
        ):
            per_parcel[(order_id, warehouse, zone)] += 1
            for line in json.loads(lines) if isinstance(lines, str) else lines or []:
                per_line[(int(line.get("order_id") or order_id), str(line.get("line_id")), str(line.get("sku")))] += 1
        found["shipments_twice"] += sum(n - 1 for n in per_parcel.values() if n > 1)
        found["line_shipped_twice"] += sum(n - 1 for n in per_line.values() if n > 1)
    # These hold for the whole table (their unique keys say so today; the check outlives a rewrite that drops one).
    for name, query in (
        ("waybill_twice", "SELECT COUNT(*) - 1 FROM waybills GROUP BY order_ref HAVING COUNT(*) > 1"),
        (
            "document_entry_twice",
            "SELECT COUNT(*) - 1 FROM shipping_document_entries e JOIN shipping_documents d ON d.id = e.document_id "
            "GROUP BY e.order_ref, d.kind HAVING COUNT(*) > 1",
        ),
        (
            "message_twice",
            # A 已发货 message is one per parcel: a split order has one for each of its shipments.
            "SELECT COUNT(*) - 1 FROM buyer_notifications GROUP BY order_ref, shipment_ref, template, via "
            "HAVING COUNT(*) > 1",
        ),
    ):
        found[name] += sum(int(r[0]) for r in await session.exec(text(query)))
    names = (
        "line_reserved_twice",
        "shipments_twice",
        "line_shipped_twice",
        "waybill_twice",
        "document_entry_twice",
        "message_twice",
    )
    return {name: found[name] for name in names}


# --- one run, and what it prints ------------------------------------------------------------------------------


async def run(
    db: Database,
    settings: Settings,
    base_url: str,
    *,
    count: int | None,
    rate: float | None,
    duration: float | None,
    concurrency: int,
    token: str | None,
    ingest_only: bool = False,
    wait_seconds: float = 600,
    quiet: bool = False,
) -> Report:
    """Send, wait (unless ``ingest_only``) and measure, with a progress bar on stderr unless ``quiet``."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    to = await targets(db, settings, token=token)
    mark = await outbox_mark(db)
    planned = count if count is not None else (int(rate * duration) if rate and duration else None)
    backend = f"{db.backend} + {'arq on Redis' if settings.uses_redis else 'embedded worker'}"
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), disable=quiet, transient=False) as progress:
        sending = progress.add_task("发送订单 sending", total=planned)
        sent = await send(
            base_url,
            to,
            count=count,
            rate=rate,
            duration=duration,
            concurrency=concurrency,
            token=token,
            tick=lambda s: progress.update(sending, completed=s.attempted),
        )
        progress.update(sending, total=sent.attempted, completed=sent.attempted)
        report = report_of_sending(base_url, backend, sent, "ingest-only" if ingest_only else "end-to-end")
        if ingest_only:
            return report
        waiting = progress.add_task("处理订单 processing", total=len(sent.order_ids))
        report.waited = True
        report.timed_out = not await wait_processed(
            db, sent.order_ids, mark, within=wait_seconds, tick=lambda n: progress.update(waiting, completed=n)
        )
    return await measure(db, report, sent.order_ids, mark)


def preparation_text(done: Preparation) -> str:
    parts = [
        f"shops added {done.shops}",
        f"webhook secrets set {done.secrets}",
        f"warehouses added {done.warehouses}",
        f"SKUs added {done.skus}",
        f"carriers added {done.carriers}",
        f"stock rows topped up {done.stock_rows_topped_up}",
        f"flow published: {done.published_flow}" if done.published_flow else "a flow was already live",
    ]
    return "prepared: " + ", ".join(parts)


def print_report(report: Report) -> None:
    """The run as a table on stdout."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"ruleflow loadtest · {report.backend} · {report.url}", show_header=False)
    table.add_column("what")
    table.add_column("figure", justify="right")

    def row(what: str, value: Any, bad: bool = False) -> None:
        table.add_row(what, f"[bold red]{value}[/]" if bad else str(value))

    row("orders sent", f"{report.sent:,} ({', '.join(f'{k} {v}' for k, v in report.by_channel.items())})")
    row("accepted (HTTP 200)", f"{report.accepted:,} in {report.send_seconds:.1f} s")
    row("accepted/s", f"{report.accepted_per_s:,.1f}")
    row("HTTP errors", _counts(report.http_errors) or "0", bool(report.http_errors))
    for status, detail in report.error_samples.items():
        row(f"  e.g. {status}", detail[:100], True)
    if report.waited:
        row("processed", f"{report.processed:,} of {report.accepted:,}", report.unprocessed > 0)
        row("outcomes", _counts(report.outcomes))
        row("held for failure", _counts(report.held_for_failure) or "0", bool(report.held_for_failure))
        row(
            "processed/s (first receipt → last outcome)",
            f"{report.processed_per_s:,.1f} over {report.e2e_seconds:.1f} s",
        )
        latency = report.latency_ms
        row(
            "receipt → routed p50 / p95 / p99 / max ms",
            " / ".join(f"{latency.get(k, 0):,.0f}" for k in ("p50", "p95", "p99", "max")),
        )
        row("jobs failed", _counts(report.jobs_failed) or "0", bool(report.jobs_failed))
        row("oversold units", report.oversold_units, report.oversold_units > 0)
        row("stock rows differing from the ledger", report.ledger_mismatches, report.ledger_mismatches > 0)
        row("duplicated effects", report.duplicated_effects, report.duplicated_effects > 0)
        for name, n in report.duplicates.items():
            if n:
                row(f"  {name}", n, True)
        if report.timed_out:
            row("timed out waiting", "yes", True)
    Console().print(table)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in counts.items())

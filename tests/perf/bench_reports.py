"""Benchmark: every report at scale, read from the rollups, and the refresh that keeps them.

Loads N synthetic orders (one line each of one of 500 SKUs, the popular ones sold most; some refunded or cancelled,
one in fifty waiting in review, one in twenty with a return or exchange case and its reason, a few refused or
withdrawn) spread over a year across every channel, with their rollups written directly beside them (as the refresh
would have counted them: orders by the hour, SKUs by the hour and the month), a 12-node flow's hit counters for every
hour of the year (fewer for a small run), a parcel for each order not cancelled (most shipped and delivered,
with the 发货时效 rollup rebuilt from them), the SKUs' stock and N/6 sales in the ledger, into a scratch database
migrated like production; then times each report of
``app.domain.reports.queries.REPORTS`` (the queries the report page runs) for the last 30 days and for a whole
year, unfiltered and filtered (the margin report over the completed orders' sale vouchers and their lines, and
the refunded ones' red-letter vouchers), and a refresh that counts 200 marked hours again from the orders. Not a timed
assertion: ``test_bench_reports.py`` runs it small only to check that it works and prints the figures.

    .venv/bin/python tests/perf/bench_reports.py 1000000            # SQLite file under var/bench-reports/
    .venv/bin/python tests/perf/bench_reports.py 1000000 postgresql://postgres@127.0.0.1:5432/bench_reports
    .venv/bin/python tests/perf/bench_reports.py 1000000 --again     # time the reports again on what is loaded

Each figure is the median of several runs, in milliseconds.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import insert, text

from app.db import CHINA, Database
from app.domain.aftersales.models import AfterSaleCase, AfterSaleLine
from app.domain.finance import margins
from app.domain.finance.models import LineKind, MarginDay, MarginOrder, Voucher, VoucherLine
from app.domain.flows.models import Flow, FlowVersion
from app.domain.fulfillment import shipment_rollups
from app.domain.fulfillment.models import Shipment
from app.domain.inventory.models import Sku, Stock, StockMove, Warehouse
from app.domain.orders import changes
from app.domain.orders.models import Order, OrderLine, OrderStatus
from app.domain.processing.models import FlowHit, OrderProcessing, ProcessingState
from app.domain.reports import rollups
from app.domain.reports.models import OrderHourRollup, SkuHourRollup, SkuMonthRollup
from app.domain.reports.queries import REPORTS, ReportFilters
from app.domain.shops.models import Channel, Shop
from app.settings import PROJECT_ROOT, Settings, normalize_database_url
from tests.perf.bench_order_list import scratch_database, timed

#: The year the orders are placed in; the reports look back from its last day.
LAST_DAY = date(2026, 12, 31)
START = datetime(2026, 1, 1, tzinfo=CHINA).astimezone(UTC)
BATCH = 20_000
#: The bench's warehouses and how many SKUs they keep.
WAREHOUSES = ["SH", "BJ", "GZ"]
SKUS = 500
#: Why the bench's held orders wait.
HOLD_CODES = ["review", "out_of_stock", "unknown_sku", "no_carrier", "failed"]
#: Hours marked for the refresh figure.
MARKED_HOURS = 200
#: The share of orders with a return case, and why the buyers say they sent the goods back.
RETURNS = 0.05
RETURN_REASONS = ["尺码不合适", "质量问题", "与描述不符", "破损", "不喜欢/不想要", "发错货", "七天无理由", ""]


async def make_shops(db: Database) -> list[tuple[str, int]]:
    """One shop per channel: (channel, shop id)."""
    shops = []
    async with db.write_engine.begin() as conn:
        for index, channel in enumerate(Channel):
            result = await conn.execute(
                insert(Shop).values(
                    channel=channel,
                    code=f"bench-{index}",
                    name=channel.value,
                    is_active=True,
                    webhook_secret_cipher="",
                    api_base_url="",
                    app_key="",
                    app_secret_cipher="",
                    access_token_cipher="",
                    pull_interval_minutes=0,
                    pull_cursor="",
                )
            )
            shops.append((channel.value, int(result.inserted_primary_key[0])))
    return shops


def order_row(order_id: int, channel: str, shop_id: int, placed: datetime, status: OrderStatus, paid_fen: int) -> dict:
    return {
        "id": order_id,
        "channel": channel,
        "shop_id": shop_id,
        "external_id": f"R{order_id:09d}",
        "raw_status": "PAID",
        "status": status,
        "placed_at": placed,
        "paid_at": placed + timedelta(minutes=1),
        "source_updated_at": placed,
        "channel_buyer_id": "",
        "buyer_nick": "",
        "receiver_name": "",
        "phone_masked": "",
        "phone_suffix": "",
        "province": "",
        "city": "",
        "district": "",
        "town": "",
        "address_masked": "",
        "items_fen": paid_fen,
        "shipping_fen": 0,
        "discount_fen": 0,
        "paid_fen": paid_fen,
        "is_presale": False,
        "deposit_paid": False,
        "buyer_message": "",
        "seller_memo": "",
        "tags": [],
        "raw": {},
        "version": 1,
        "received_at": placed,
        "updated_at": placed,
    }


async def load(db: Database, size: int, seed: int = 7) -> None:
    """``size`` orders over the year (busier evenings and a 双十一 spike), one line each, with their rollups."""
    rng = random.Random(seed)
    shops = await make_shops(db)
    # Hours weighted like a shop's day: quiet at night, busy at lunch and in the evening.
    hour_weights = [1, 1, 1, 1, 1, 1, 2, 3, 4, 5, 6, 6, 7, 6, 5, 5, 5, 6, 7, 8, 9, 10, 8, 4]
    counted: dict[tuple[datetime, str, int], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    sold: dict[tuple[datetime, str, int, str], list[int]] = defaultdict(lambda: [0, 0])
    # A long tail: the first SKUs sell far more than the last.
    sku_weights = [1 / (rank + 1) for rank in range(SKUS)]
    delivered: list[Sold] = []
    next_id, next_case = 1, 0
    for start in range(0, size, BATCH):
        orders, lines, processing, cases, case_lines = [], [], [], [], []
        for _ in range(min(BATCH, size - start)):
            order_id, next_id = next_id, next_id + 1
            channel, shop_id = rng.choice(shops)
            day = 314 if rng.random() < 0.03 else rng.randrange(365)  # 2026-11-11 is day 314
            hour = rng.choices(range(24), weights=hour_weights)[0]
            placed = START + timedelta(days=day, hours=hour, seconds=rng.randrange(3600))
            roll = rng.random()
            status = OrderStatus.cancelled if roll < 0.04 else OrderStatus.completed
            refunded = 0.04 <= roll < 0.09
            paid_fen = rng.randrange(990, 59900)
            sku = f"SKU-{rng.choices(range(SKUS), weights=sku_weights)[0]}"
            qty = 1 if rng.random() < 0.8 else 2
            orders.append(order_row(order_id, channel, shop_id, placed, status, paid_fen))
            lines.append(
                {
                    "order_id": order_id,
                    "position": 0,
                    "line_id": "1",
                    "sku": sku,
                    "seller_sku": sku,
                    "channel_sku_id": "",
                    "title": sku,
                    "qty": qty,
                    "unit_price_fen": paid_fen // qty,
                    "paid_fen": paid_fen,
                    "is_gift": False,
                    "refund_status": "SUCCESS" if refunded else "",
                }
            )
            held = rng.random() < 0.02
            processing.append(
                {
                    "order_id": order_id,
                    "state": ProcessingState.held if held else ProcessingState.processed,
                    "order_version": 1,
                    "runs": 1,
                    "hold_reason": "高风险地址" if held else "",
                    "hold_code": rng.choice(HOLD_CODES) if held else "",
                    "flows": [],
                    "decisions": {},
                    "priority": "normal",
                    "queued_at": placed,
                    "finished_at": placed,
                    "updated_at": placed,
                }
            )
            if status == OrderStatus.completed:
                delivered.append((order_id, channel, shop_id, placed, paid_fen, refunded))
            if status != OrderStatus.cancelled and rng.random() < RETURNS:
                next_case += 1
                cases.append(return_case(rng, next_case, order_id, channel, shop_id, placed))
                case_lines.append(
                    {"case_id": cases[-1]["id"], "order_id": order_id, "line_id": "1", "sku": sku, "qty": 1}
                )
            cell = counted[(changes.hour_of(placed), channel, shop_id)]
            cell[0] += 1
            cell[1] += 1
            cell[2] += status == OrderStatus.cancelled
            cell[3] += paid_fen
            cell[4] += paid_fen if status == OrderStatus.cancelled or refunded else 0
            if status != OrderStatus.cancelled:
                units = sold[(changes.hour_of(placed), channel, shop_id, sku)]
                units[0] += qty
                units[1] += qty if refunded else 0
        async with db.write_engine.begin() as conn:
            await conn.execute(insert(Order), orders)
            await conn.execute(insert(OrderLine), lines)
            await conn.execute(insert(OrderProcessing), processing)
            if cases:
                await conn.execute(insert(AfterSaleCase), cases)
                await conn.execute(insert(AfterSaleLine), case_lines)
    await load_vouchers(db, rng, delivered)
    await load_hits(db, rng, hours=min(365 * 24, size // 10))
    await load_stock(db, rng, moves=size // 6)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    rows = [
        rollups.rollup_row(int((hour - epoch).total_seconds()) // 3600, channel, shop_id, measures)
        for (hour, channel, shop_id), measures in counted.items()
    ]
    sku_rows = [
        rollups.sku_row(int((hour - epoch).total_seconds()) // 3600, channel, shop_id, sku, units, refunded)
        for (hour, channel, shop_id, sku), (units, refunded) in sold.items()
    ]
    async with db.write_engine.begin() as conn:
        for start in range(0, len(rows), BATCH):
            await conn.execute(insert(OrderHourRollup), rows[start : start + BATCH])
        for start in range(0, len(sku_rows), BATCH):
            await conn.execute(insert(SkuHourRollup), sku_rows[start : start + BATCH])
        months = rollups.month_rows(rollups.by_month(sku_rows))
        for start in range(0, len(months), BATCH):
            await conn.execute(insert(SkuMonthRollup), months[start : start + BATCH])
        await conn.execute(text("ANALYZE"))


def return_case(rng: random.Random, case_id: int, order_id: int, channel: str, shop_id: int, placed: datetime) -> dict:
    """A buyer's return (or exchange) of one unit, opened some days after the order; one in ten refused or withdrawn."""
    opened = placed + timedelta(days=rng.randrange(2, 12), seconds=rng.randrange(86400))
    roll = rng.random()
    status = "refused" if roll < 0.05 else "cancelled" if roll < 0.1 else "completed"
    return {
        "id": case_id,
        "kind": "return_refund" if rng.random() < 0.8 else "exchange",
        "source": "platform",
        "status": status,
        "channel": channel,
        "shop_id": shop_id,
        "platform_ref": f"AS{case_id:08d}",
        "order_id": order_id,
        "shipped": True,
        "reason": rng.choice(RETURN_REASONS),
        "due_at": opened + timedelta(hours=48),
        "flow_runs": [],
        "flow_decisions": {},
        "created_at": opened,
        "updated_at": opened,
    }


#: A completed order the vouchers are written for: (order id, channel, shop id, placed, paid fen, refunded).
Sold = tuple[int, str, int, datetime, int, bool]


def voucher_row(
    voucher_id: int, kind: str, order: Sold, day: date, amount: int, *, reverses: int | None = None
) -> dict[str, Any]:
    order_id, channel, shop_id, *_ = order
    return {
        "id": voucher_id,
        "source_key": f"{kind}:order:{order_id}",
        "kind": kind,
        "red": reverses is not None,
        "reverses_id": reverses,
        "period": f"{day:%Y-%m}",
        "word": "记",
        "number": voucher_id,
        "voucher_date": day,
        "status": "approved",
        "channel": channel,
        "shop_id": shop_id,
        "order_id": order_id,
        "summary": f"{kind} R{order_id:09d}",
        "debit_fen": amount,
        "credit_fen": amount,
        "note": "",
        "created_at": START,
    }


def voucher_lines(voucher_id: int, entries: list[tuple[LineKind, int, int]]) -> list[dict[str, Any]]:
    return [
        {
            "voucher_id": voucher_id,
            "position": position,
            "line_kind": kind.value,
            "account_code": "6001",
            "account_name": kind.value,
            "summary": "",
            "debit_fen": debit,
            "credit_fen": credit,
            "partner": "",
            "sku": None,
        }
        for position, (kind, debit, credit) in enumerate(entries, start=1)
    ]


async def load_vouchers(db: Database, rng: random.Random, delivered: list[Sold]) -> None:
    """A sale voucher for every completed order, dated when it was delivered (a few days after it was placed), with
    the lines posting writes (receivable, revenue and VAT, commission, freight, cost of goods, a gift for one in
    five); and a red-letter refund voucher taking a refunded order's revenue back out. With their margin days and
    order margins, as storing them would have counted them."""
    days: dict[tuple[date, str, int], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0])
    next_id = 1
    for start in range(0, len(delivered), BATCH):
        vouchers, lines, order_margins = [], [], []
        for order in delivered[start : start + BATCH]:
            _, _, _, placed, paid, refunded = order
            day = (placed + timedelta(days=rng.randrange(1, 6))).astimezone(CHINA).date()
            net = paid * 100 // 113
            commission, freight = paid * 5 // 100, rng.randrange(500, 1500)
            cost, gift = net * rng.randrange(30, 60) // 100, rng.randrange(300, 900) if rng.random() < 0.2 else 0
            entries = [
                (LineKind.receivable, paid, 0),
                (LineKind.revenue, 0, net),
                (LineKind.output_vat, 0, paid - net),
                (LineKind.commission, commission, 0),
                (LineKind.commission_payable, 0, commission),
                (LineKind.freight, freight, 0),
                (LineKind.freight_payable, 0, freight),
                (LineKind.cost_of_goods, cost, 0),
                (LineKind.inventory, 0, cost),
            ]
            if gift:
                entries += [(LineKind.gift_cost, gift, 0), (LineKind.inventory, 0, gift)]
            counted = days[(day, order[1], order[2])]
            for index, amount in enumerate((1, 0 if refunded else net, cost, gift, commission, freight)):
                counted[index] += amount
            revenue = 0 if refunded else net
            order_margins.append(
                {
                    "order_id": order[0],
                    "day": day,
                    "channel": order[1],
                    "shop_id": order[2],
                    "revenue_fen": revenue,
                    "cost_of_goods_fen": cost,
                    "gifts_fen": gift,
                    "commission_fen": commission,
                    "freight_fen": freight,
                    "margin_fen": revenue - cost - gift - commission - freight,
                }
            )
            sale_id, next_id = next_id, next_id + 1
            vouchers.append(voucher_row(sale_id, "sale", order, day, sum(d for _, d, _ in entries)))
            lines += voucher_lines(sale_id, entries)
            if refunded:
                refund_id, next_id = next_id, next_id + 1
                red = [
                    (LineKind.receivable, -paid, 0),
                    (LineKind.revenue, 0, -net),
                    (LineKind.output_vat, 0, net - paid),
                ]
                later = day + timedelta(days=rng.randrange(1, 10))
                vouchers.append(voucher_row(refund_id, "refund", order, later, -paid, reverses=sale_id))
                lines += voucher_lines(refund_id, red)
        async with db.write_engine.begin() as conn:
            await conn.execute(insert(Voucher), vouchers)
            await conn.execute(insert(VoucherLine), lines)
            await conn.execute(insert(MarginOrder), order_margins)
    names = ("orders", "revenue_fen", "cost_of_goods_fen", "gifts_fen", "commission_fen", "freight_fen")
    rows = [
        {"day": day, "channel": channel, "shop_id": shop_id, **dict(zip(names, figures, strict=True))}
        for (day, channel, shop_id), figures in days.items()
    ]
    async with db.write_engine.begin() as conn:
        for start in range(0, len(rows), BATCH):
            await conn.execute(insert(MarginDay), rows[start : start + BATCH])


async def load_hits(db: Database, rng: random.Random, hours: int) -> None:
    """A published 12-node flow whose every node counted runs in each of the year's first ``hours`` hours (two exits
    per condition): every hour of the year at 87,600 orders and more."""
    nodes = [{"id": f"n{index}", "type": "condition", "name": f"条件 {index}"} for index in range(12)]
    document = {"schema": 1, "name": "四段审单", "trigger": "order.received", "nodes": nodes, "edges": []}
    async with db.write_engine.begin() as conn:
        flow_id = (
            await conn.execute(
                insert(Flow).values(
                    name="四段审单",
                    description="",
                    trigger="order.received",
                    priority=100,
                    is_archived=False,
                    channels=[],
                    shop_codes=[],
                    draft=document,
                    draft_revision=0,
                    draft_saved_at=START,
                    draft_saved_by="",
                    created_at=START,
                    created_by="",
                )
            )
        ).inserted_primary_key[0]
        version_id = (
            await conn.execute(
                insert(FlowVersion).values(
                    flow_id=flow_id, number=1, document=document, note="", published_at=START, published_by=""
                )
            )
        ).inserted_primary_key[0]
        counters = [
            {
                "version_id": version_id,
                "node_id": node["id"],
                "port": port,
                "hour": START + timedelta(hours=hour),
                "count": rng.randrange(1, 200),
            }
            for hour in range(hours)
            for node in nodes
            for port in ("true", "false")
        ]
        for start in range(0, len(counters), BATCH):
            await conn.execute(insert(FlowHit), counters[start : start + BATCH])


async def load_stock(db: Database, rng: random.Random, moves: int) -> None:
    """SKUS SKUs in three warehouses, and ``moves`` sales in the ledger over the 60 days before now (the report
    reads the last 30)."""
    now = datetime.now(UTC)
    async with db.write_engine.begin() as conn:
        await conn.execute(
            insert(Warehouse),
            [
                {
                    "code": code,
                    "name": code,
                    "kind": "regional",
                    "province": "上海",
                    "city": "",
                    "priority": 100,
                    "is_active": True,
                    "serves_regions": [],
                    "cost_profile": {},
                }
                for code in WAREHOUSES
            ],
        )
        await conn.execute(
            insert(Sku),
            [
                {
                    "code": f"SKU-{index}",
                    "name": f"商品 {index}",
                    "category": "",
                    "barcode": "",
                    "weight_g": 100,
                    "volume_cm3": 0,
                    "temperature_zone": "ambient",
                    "price_fen": 9900,
                    "cost_fen": 4000,
                    "is_bundle": False,
                    "is_active": True,
                    "low_stock_threshold": rng.choice([0, 10, 50]),
                }
                for index in range(SKUS)
            ],
        )
        await conn.execute(
            insert(Stock),
            [
                {
                    "warehouse_code": code,
                    "sku_code": f"SKU-{index}",
                    "on_hand": rng.randrange(0, 400),
                    "reserved": 0,
                    "safety_stock": 0,
                    "defective": 0,
                    "updated_at": now,
                }
                for index in range(SKUS)
                for code in WAREHOUSES
            ],
        )
        for start in range(0, moves, BATCH):
            await conn.execute(
                insert(StockMove),
                [
                    {
                        "at": now - timedelta(seconds=rng.randrange(60 * 86400)),
                        "kind": "shipment",
                        "warehouse_code": rng.choice(WAREHOUSES),
                        "sku_code": f"SKU-{rng.randrange(SKUS)}",
                        "on_hand_delta": -1,
                        "reserved_delta": -1,
                        "defective_delta": 0,
                        "actor_type": "system",
                        "actor_name": "bench",
                        "note": "",
                    }
                    for _ in range(min(BATCH, moves - start))
                ],
            )


#: The bench's carriers: (code, the days each promises).
CARRIERS = [("SF", 1), ("ZTO", 3), ("YTO", 3), ("JD", 2)]
#: Hours from payment to shipment, as (up to, weight): most within a day, a tail past the promise.
SHIP_WAITS = [(6, 30), (12, 25), (24, 25), (48, 12), (96, 6), (240, 2)]


async def load_shipments(db: Database, seed: int = 11) -> int:
    """A parcel for each order not cancelled, from a random warehouse and carrier: most shipped a few hours to a
    few days after payment and then delivered within a few days, one in thirty still waiting (waybilled); then
    the 发货时效 rollup rebuilt from them (``fulfillment.shipment_rollups``). How many parcels."""
    rng = random.Random(seed)
    limits, weights = zip(*SHIP_WAITS, strict=True)
    after, loaded = 0, 0
    while True:
        async with db.reading() as session:
            found = (
                await session.exec(
                    text(  # type: ignore[call-overload]
                        "SELECT id, paid_at FROM orders WHERE id > :after AND status != 'cancelled'"
                        " ORDER BY id LIMIT :n"
                    ).bindparams(after=after, n=BATCH)
                )
            ).all()
        if not found:
            return loaded
        rows = []
        for order_id, paid_at in found:
            paid = paid_at if isinstance(paid_at, datetime) else datetime.fromisoformat(str(paid_at))
            paid = paid.replace(tzinfo=UTC) if paid.tzinfo is None else paid
            carrier, days = rng.choice(CARRIERS)
            shipped = rng.random() >= 1 / 30
            hours = rng.choices(limits, weights=weights)[0]
            shipped_at = paid + timedelta(seconds=rng.randrange(hours * 3600)) if shipped else None
            delivered_at = shipped_at + timedelta(hours=rng.randrange(6, 24 * (days + 2))) if shipped_at else None
            rows.append(
                {
                    "order_id": order_id,
                    "seq": 1,
                    "ref": f"RF{order_id:08d}-1",
                    "warehouse_code": rng.choice(WAREHOUSES),
                    "carrier_code": carrier,
                    "lines": [],
                    "weight_g": 500,
                    "temperature_zone": "ambient",
                    "fee_fen": 800,
                    "promised_days": days,
                    "waybill_no": f"{carrier}{order_id:010d}",
                    "status": "delivered" if shipped else "waybilled",
                    "created_at": paid,
                    "updated_at": delivered_at or paid,
                    "shipped_at": shipped_at,
                    "delivered_at": delivered_at,
                }
            )
        async with db.write_engine.begin() as conn:
            await conn.execute(insert(Shipment), rows)
        after, loaded = int(found[-1][0]), loaded + len(rows)


async def mark_hours(db: Database, seed: int) -> None:
    """Mark ``MARKED_HOURS`` hours of random shops, as that many changed orders would."""
    rng = random.Random(seed)
    async with db.reading() as session:
        hours = (await session.exec(text("SELECT hour_start, channel, shop_id FROM report_order_hours"))).all()  # type: ignore[call-overload]
    picked = rng.sample(list(hours), min(MARKED_HOURS, len(hours)))
    async with db.transaction() as session:
        for hour_start, channel, shop_id in picked:
            moment = hour_start if isinstance(hour_start, datetime) else datetime.fromisoformat(str(hour_start))
            session.add(changes.OrderHourMark(hour_start=moment.replace(tzinfo=UTC), channel=channel, shop_id=shop_id))


async def measure(db: Database) -> dict[str, float]:
    """The figures, in ms: each report over 30 days and a year, unfiltered, by channel and by shop."""
    async with db.reading() as session:
        shop_id = (await session.exec(text("SELECT min(id) FROM shops"))).one()[0]  # type: ignore[call-overload]
    month = {"date_from": (LAST_DAY - timedelta(days=29)).isoformat(), "date_to": LAST_DAY.isoformat()}
    year = {"date_from": (LAST_DAY - timedelta(days=364)).isoformat(), "date_to": LAST_DAY.isoformat()}
    scenarios = {
        "30 days": month,
        "30 days · channel=tmall": {**month, "channel": "tmall"},
        "365 days": year,
        "365 days · one shop": {**year, "shop": str(shop_id)},
    }
    figures: dict[str, float] = {}
    for key, query in REPORTS.items():
        for name, values in scenarios.items():
            filters = ReportFilters.from_query(values)

            async def run(query: Any = query, filters: ReportFilters = filters) -> Any:
                async with db.reading() as session:
                    return await query(session, filters)

            figures[f"{key} · {name}"] = await timed(run)
    # 订单毛利 (/finance/margins): one row per order, the lowest margins first, a page of them with the totals.
    for name, values in scenarios.items():
        margin_filters = margins.MarginFilters(
            start=date.fromisoformat(values["date_from"]),
            end=date.fromisoformat(values["date_to"]),
            channel=values.get("channel", ""),
            shop_id=int(values["shop"]) if "shop" in values else None,
        )

        async def per_order(margin_filters: margins.MarginFilters = margin_filters) -> Any:
            async with db.reading() as session:
                return await margins.margin_report(session, margin_filters)

        figures[f"order margins page · {name}"] = await timed(per_order)
    samples = []
    for seed in range(3):
        await mark_hours(db, seed)
        started = time.perf_counter()
        await rollups.refresh_order_rollups(db)
        samples.append((time.perf_counter() - started) * 1000)
    figures[f"refresh · {MARKED_HOURS} marked hours counted again"] = statistics.median(samples)
    return figures


async def load_shipment_times(db: Database) -> dict[str, float]:
    """The parcels loaded and their 发货时效 rollup rebuilt: how long each took, in seconds."""
    started = time.perf_counter()
    await load_shipments(db)
    loaded = time.perf_counter()
    async with db.transaction() as session:
        await shipment_rollups.rebuild_shipment_rollups(session)
    async with db.write_engine.begin() as conn:
        await conn.execute(text("ANALYZE"))
    return {"shipments load (s)": loaded - started, "shipment rollup rebuild (s)": time.perf_counter() - loaded}


async def benchmark(
    size: int, database_url: str | None = None, work_dir: Path | None = None, *, again: bool = False
) -> dict[str, float]:
    """Build a scratch database with ``size`` orders and their rollups, and return the figures; ``again``: time the
    reports on the database an earlier run built instead (after a change to a report's query)."""
    work_dir = work_dir or PROJECT_ROOT / "var" / "bench-reports"
    if again:
        url = (
            normalize_database_url(database_url)
            if database_url
            else f"sqlite+aiosqlite:///{work_dir}/reports-{size}.db"
        )
        db = Database(Settings(database_url=url, secret_key="b" * 48))
        try:
            return await measure(db)
        finally:
            await db.dispose()
    db = await scratch_database(database_url, work_dir / f"reports-{size}.db")
    try:
        started = time.perf_counter()
        await load(db, size)
        figures = {"load (s)": time.perf_counter() - started}
        figures.update(await load_shipment_times(db))
        figures.update(await measure(db))
        return figures
    finally:
        await db.dispose()


def report(figures: dict[str, float], size: int, backend: str) -> str:
    lines = [f"reports at {size:,} orders on {backend} (median ms per report; loads and rebuilds in seconds)"]
    width = max(len(name) for name in figures)
    lines += [f"  {name.ljust(width)}  {value:9.2f}" for name, value in figures.items()]
    return "\n".join(lines)


if __name__ == "__main__":
    arguments = [argument for argument in sys.argv[1:] if argument != "--again"]
    count = int(arguments[0]) if arguments else 200_000
    target = arguments[1] if len(arguments) > 1 else None
    result = asyncio.run(benchmark(count, target, again="--again" in sys.argv))
    print(report(result, count, "PostgreSQL" if target else "SQLite (WAL)"))

"""Backtest of the four-stage flow over many stored orders: the draft (the template with a lower gift threshold)
against the published template, through the backtest job's own code path, on SQLite and, when given,
PostgreSQL.

    .venv/bin/python -m tests.perf.bench_backtest 100000 [postgresql://postgres@127.0.0.1:5432/bench_backtest]

Each run gets a fresh migrated database with the demo data and ample stock; the orders are bulk-inserted (one
multi-row INSERT per few thousand orders and lines, not the ingest path: this measures the backtest, not the
seeding). Then ``flows.services.run_backtest`` runs as the background job does: it streams the stored orders
a turn at a time (read as rows set-based, their contexts built, both flows run on each and what they decide
routed against a stock pool per side). Figures are wall-clock; the rows under the total say where its time goes
(each part run once more on its own, streamed in the same turns).
"""

from __future__ import annotations

import asyncio
import copy
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlmodel import select

from app.db import Database, utcnow
from app.domain.accounts.services import SYSTEM
from app.domain.flows import services as flows
from app.domain.flows import sources
from app.domain.flows.backtest import Replay
from app.domain.flows.models import Flow
from app.domain.inventory import services as inventory
from app.domain.orders.models import Order, OrderLine
from app.domain.shops.models import Shop
from app.seed import DEMO_STOCK
from app.settings import Settings, normalize_database_url
from tests.integration.conftest import migrate
from tests.perf.bench_processing import PROVINCES, publish_demo, reset_postgres

SKUS = [("CABLE-C1", 2900), ("EARBUD-P2", 49900), ("MASK-10", 9900), ("PHONE-X1", 399900), ("SERUM-30", 25900)]
#: Rows per INSERT statement when seeding.
SEED_CHUNK = 2000
PLACED = datetime(2026, 11, 11, tzinfo=UTC)


def order_row(n: int, shop_id: int, now: datetime) -> dict[str, Any]:
    province, city = PROVINCES[n % len(PROVINCES)]
    placed = PLACED + timedelta(seconds=n)
    _, price = SKUS[n % len(SKUS)]
    qty = 1 + n % 3
    return {
        "channel": "webshop",
        "shop_id": shop_id,
        "external_id": f"BT{n:07d}",
        "raw_status": "paid",
        "status": "received",
        "placed_at": placed,
        "paid_at": placed,
        "source_updated_at": placed,
        "channel_buyer_id": f"b{n % 5000}",
        "buyer_nick": f"买家{n % 5000}",
        "receiver_name": "测**",
        "phone_masked": f"139****{n % 10000:04d}",
        "phone_suffix": f"{n % 10000:04d}",
        "province": province,
        "city": city,
        "district": "某区",
        "address_masked": f"幸福路 {n % 20000} 号",
        "address_key": f"addr-{n % 20000}",
        "items_fen": price * qty,
        "paid_fen": price * qty,
        "tags": ["加急"] if n % 17 == 0 else [],
        "raw": {},
        "received_at": placed,
        "updated_at": now,
    }


def line_row(n: int, order_id: int) -> dict[str, Any]:
    sku, price = SKUS[n % len(SKUS)]
    qty = 1 + n % 3
    return {
        "order_id": order_id,
        "position": 0,
        "line_id": "1",
        "sku": sku,
        "seller_sku": sku,
        "title": sku,
        "qty": qty,
        "unit_price_fen": price,
        "paid_fen": price * qty,
    }


async def prepare(settings: Settings, count: int) -> tuple[Database, float]:
    """A database with the demo data, the template published, stock for every order, ``count`` stored orders
    and a draft that differs from the live version; returns it and the seconds the orders took to insert."""
    db = Database(settings)
    async with db.transaction() as session:
        flow = await publish_demo(session)
        assert flow.id is not None
        draft = copy.deepcopy(flow.draft)
        for node in draft["nodes"]:
            if node.get("config", {}).get("logic") == {">=": [{"var": "order.amounts.paid_fen"}, 29900]}:
                node["config"]["logic"] = {">=": [{"var": "order.amounts.paid_fen"}, 9900]}
        await flows.save_draft(session, SYSTEM, flow.id, draft)
        for sku, rows in DEMO_STOCK.items():
            for warehouse, _ in rows:
                await inventory.receive(session, warehouse, sku, count * 3, SYSTEM, ref="bench", note="bench")
        shop = (await session.exec(select(Shop).where(Shop.code == "webshop"))).one()
        assert shop.id is not None
        shop_id = shop.id
    started = time.perf_counter()
    now = utcnow()
    async with db.transaction() as session:
        connection = await session.connection()
        for start in range(0, count, SEED_CHUNK):
            numbers = range(start, min(count, start + SEED_CHUNK))
            result = await connection.execute(
                insert(Order).returning(Order.id, Order.external_id), [order_row(n, shop_id, now) for n in numbers]
            )
            ids = {external: order_id for order_id, external in result.all()}
            await connection.execute(insert(OrderLine), [line_row(n, ids[f"BT{n:07d}"]) for n in numbers])
    return db, time.perf_counter() - started


async def measure(settings: Settings, count: int) -> list[tuple[str, float]]:
    """(part, seconds): the whole backtest job, then its parts on their own."""
    db, seeding = await prepare(settings, count)
    async with db.transaction() as session:
        flow = (await session.exec(select(Flow))).one()
        assert flow.id is not None
        # The page allows fewer orders (MAX_BACKTEST_ORDERS); the job itself takes what it is asked for.
        run = await flows.start_backtest(session, SYSTEM, flow.id, min(count, flows.MAX_BACKTEST_ORDERS))
        run.order_limit = count
        session.add(run)
        assert run.id is not None
        backtest_id, flow_id = run.id, flow.id
    started = time.perf_counter()
    summary = await flows.run_backtest(db, backtest_id, secret_key=settings.secret_key, time_limit=3600)
    total = time.perf_counter() - started
    async with db.reading() as session:
        done = await flows.get_backtest(session, flow_id, backtest_id)
        assert done.result is not None and done.result["orders"] == count, summary
        draft, baseline = done.document, done.baseline_version_id
        live = await flows.get_version(session, flow_id, baseline) if baseline else None
    parts = [(f"seeding {count:,} orders (bulk INSERT, not timed below)", seeding), ("whole backtest job", total)]
    # The job's parts on their own, streamed in its turns as the job does.
    reading = building = 0.0
    source = sources.RecentOrders(settings.secret_key)
    async with db.reading() as session:
        started = time.perf_counter()
        orders = await sources.replayed_orders(session, count, secret_key=settings.secret_key)
        world = await flows.backtest_world(session, orders.order_ids)
        loaded = time.perf_counter() - started
        replay = Replay(draft, live.document if live else None, world, utcnow(), 3600, 1.0)
        replaying = 0.0
        for start in range(0, len(orders.order_ids), flows.BACKTEST_TURN):
            started = time.perf_counter()
            chunk = await source.read(session, orders.order_ids[start : start + flows.BACKTEST_TURN], shown=False)
            reading += time.perf_counter() - started
            started = time.perf_counter()
            contexts = list(chunk.contexts())
            building += time.perf_counter() - started
            started = time.perf_counter()
            replay.compare(contexts)
            replaying += time.perf_counter() - started
    parts += [
        ("  choose orders; load network, stock, SKU master", loaded),
        ("  read orders as rows, with history and stock", reading),
        ("  build contexts (canonical order, features)", building),
        ("  replay: 2 flows + routing per order", replaying),
    ]
    await db.dispose()
    return parts


def main(count: int, pg_url: str | None) -> list[tuple[str, str, float]]:
    """Run every backend, print the table, and return its rows (backend, part, seconds)."""
    rows: list[tuple[str, str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        var = Path(tmp)
        sqlite_url = f"sqlite+aiosqlite:///{var / 'bench.db'}"
        migrate(sqlite_url)
        settings = Settings(var_dir=var, database_url=sqlite_url, secret_key="b" * 48)
        rows += [("SQLite (WAL)", part, seconds) for part, seconds in asyncio.run(measure(settings, count))]
        if pg_url:
            url = normalize_database_url(pg_url)
            asyncio.run(reset_postgres(url))
            migrate(url)
            settings = Settings(var_dir=var, database_url=url, secret_key="b" * 48)
            rows += [("PostgreSQL", part, seconds) for part, seconds in asyncio.run(measure(settings, count))]
            asyncio.run(reset_postgres(url))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"\nbacktest over {count:,} stored orders, four-stage draft against the published template (one run)")
    print(f"  peak memory of the process: {peak:,} MB")
    print(f"  {'backend':14} {'part':56} {'seconds':>8} {'orders/s':>9}")
    for backend, part, seconds in rows:
        print(f"  {backend:14} {part:56} {seconds:8.2f} {count / seconds:9,.0f}")
    return rows


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000, sys.argv[2] if len(sys.argv) > 2 else None)

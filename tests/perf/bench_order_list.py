"""Benchmark: the unified order list at scale — first page and a deep keyset page, with and without filters.

Loads N synthetic orders (with lines and tags) into a scratch database migrated like production, then times
``app.domain.orders.services.list_orders`` — the same query the order page runs. Not a timed assertion:
``test_bench_order_list.py`` runs it with a tiny size only to check that it works and prints the figures.

    .venv/bin/python tests/perf/bench_order_list.py 1000000            # SQLite file under var/bench-orders/
    .venv/bin/python tests/perf/bench_order_list.py 200000 postgresql://postgres@127.0.0.1:5432/bench_orders

Each figure is the median of several runs of the query, in milliseconds.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from alembic import command
from alembic.config import Config
from sqlalchemy import insert, text

from app.db import Database
from app.domain.orders.models import Order, OrderLine, OrderStatus, OrderTag
from app.domain.orders.services import OrderFilters, list_orders
from app.domain.shops.models import Channel, Shop
from app.settings import PROJECT_ROOT, Settings, normalize_database_url

PROVINCES = ["上海", "北京", "广东", "浙江", "江苏", "四川", "湖北", "山东", "福建", "河南"]
SKUS = ["PHONE-X1", "EARBUD-P2", "CABLE-C1", "SERUM-30", "MASK-10", "TEE-BLK-L", "YOGURT-6", "DUMPLING-1K"]
TAGS = ["vip", "presale", "unknown_sku", "partially_refunded"]
START = datetime(2026, 1, 1, tzinfo=UTC)
BATCH = 20_000


def migrate(url: str) -> None:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.attributes["database_url"] = url
    config.attributes["configure_logging"] = False
    command.upgrade(config, "heads")


async def load(db: Database, size: int, seed: int = 11) -> None:
    """``size`` orders spread over the year, 1–3 lines each, a tag on one order in four."""
    rng = random.Random(seed)
    channels = list(Channel)
    async with db.write_engine.begin() as conn:
        shop_ids = []
        for index, channel in enumerate(channels):
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
            shop_ids.append(result.inserted_primary_key[0])
    now = datetime.now(UTC)
    next_id = 1
    for start in range(0, size, BATCH):
        orders, lines, tags = [], [], []
        for _ in range(min(BATCH, size - start)):
            order_id = next_id
            next_id += 1
            channel_index = rng.randrange(len(channels))
            placed = START + timedelta(seconds=rng.randrange(365 * 86400))
            phone_suffix = f"{rng.randrange(10000):04d}"
            orders.append(
                {
                    "id": order_id,
                    "channel": channels[channel_index].value,
                    "shop_id": shop_ids[channel_index],
                    "external_id": f"B{order_id:09d}",
                    "raw_status": "PAID",
                    "status": rng.choice(list(OrderStatus)),
                    "placed_at": placed,
                    "paid_at": placed,
                    "source_updated_at": placed,
                    "channel_buyer_id": "",
                    "buyer_nick": f"buyer{rng.randrange(size // 3 + 1)}",
                    "receiver_name": "张三",
                    "phone_masked": f"138****{phone_suffix}",
                    "phone_suffix": phone_suffix,
                    "province": rng.choice(PROVINCES),
                    "city": "",
                    "district": "",
                    "town": "",
                    "address_masked": "",
                    "items_fen": 9900,
                    "shipping_fen": 0,
                    "discount_fen": 0,
                    "paid_fen": 9900,
                    "is_presale": False,
                    "deposit_paid": False,
                    "buyer_message": "",
                    "seller_memo": "",
                    "tags": [],
                    "raw": {},
                    "version": 1,
                    "received_at": now,
                    "updated_at": now,
                }
            )
            for position in range(rng.randint(1, 3)):
                sku = rng.choice(SKUS)
                lines.append(
                    {
                        "order_id": order_id,
                        "position": position,
                        "line_id": str(position + 1),
                        "sku": sku,
                        "seller_sku": sku,
                        "channel_sku_id": "",
                        "title": sku,
                        "qty": 1,
                        "unit_price_fen": 3300,
                        "paid_fen": 3300,
                        "is_gift": False,
                        "refund_status": "",
                    }
                )
            if rng.random() < 0.25:
                tags.append({"order_id": order_id, "tag": rng.choice(TAGS)})
        async with db.write_engine.begin() as conn:
            await conn.execute(insert(Order), orders)
            await conn.execute(insert(OrderLine), lines)
            if tags:
                await conn.execute(insert(OrderTag), tags)
    async with db.write_engine.begin() as conn:
        await conn.execute(text("ANALYZE"))


async def timed(action: Callable[[], Awaitable[Any]], repeat: int = 7) -> float:
    """Median milliseconds of ``repeat`` runs (after one warm-up)."""
    await action()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        await action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


async def deep_cursor(db: Database, filters: OrderFilters, pages: int) -> str | None:
    """The cursor ``pages`` pages in, found the way a user gets there (page after page)."""
    cursor = None
    async with db.reading() as session:
        for _ in range(pages):
            _, cursor = await list_orders(session, filters, after=cursor)
            if cursor is None:
                break
    return cursor


async def measure(db: Database, size: int) -> dict[str, float]:
    """The figures, in ms: first and deep pages, unfiltered and with the filters people use."""
    depth = max(1, min(200, size // 50 // 2))
    scenarios = {
        "all orders": OrderFilters(),
        "channel=jd": OrderFilters(channel="jd"),
        "channel=douyin + status=shipped": OrderFilters(channel="douyin", status="shipped"),
        "province=广东": OrderFilters(province="广东"),
        "tag=vip": OrderFilters(tag="vip"),
        "sku=YOGURT-6": OrderFilters(sku="YOGURT-6"),
        "date range (March)": OrderFilters(
            date_from=datetime(2026, 3, 1, tzinfo=UTC), date_to=datetime(2026, 4, 1, tzinfo=UTC)
        ),
        "search phone suffix 1234": OrderFilters(q="1234"),
    }
    figures: dict[str, float] = {}
    for name, filters in scenarios.items():

        async def first(filters: OrderFilters = filters) -> Any:
            async with db.reading() as session:
                return await list_orders(session, filters)

        figures[f"{name} · first page"] = await timed(first)
        cursor = await deep_cursor(db, filters, depth)
        if cursor is not None:

            async def deep(filters: OrderFilters = filters, cursor: str = cursor) -> Any:
                async with db.reading() as session:
                    return await list_orders(session, filters, after=cursor)

            figures[f"{name} · page {depth + 1}"] = await timed(deep)
    return figures


async def scratch_database(database_url: str | None, path: Path) -> Database:
    """An empty database migrated like production: the PostgreSQL one at ``database_url`` with its schema dropped
    first, else a new SQLite file at ``path``."""
    if database_url:
        url = normalize_database_url(database_url)
        engine_db = Database(Settings(database_url=url, secret_key="b" * 48))
        async with engine_db.engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await engine_db.dispose()
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            await asyncio.to_thread(Path(f"{path}{suffix}").unlink, missing_ok=True)
        url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(migrate, url)
    return Database(Settings(database_url=url, secret_key="b" * 48))


async def benchmark(size: int, database_url: str | None = None, work_dir: Path | None = None) -> dict[str, float]:
    """Build a scratch database with ``size`` orders and return the figures."""
    work_dir = work_dir or PROJECT_ROOT / "var" / "bench-orders"
    db = await scratch_database(database_url, work_dir / f"orders-{size}.db")
    try:
        started = time.perf_counter()
        await load(db, size)
        figures = {"load (s)": time.perf_counter() - started}
        figures.update(await measure(db, size))
        return figures
    finally:
        await db.dispose()


def report(figures: dict[str, float], size: int, backend: str) -> str:
    lines = [f"order list at {size:,} orders on {backend} (median ms per query; load in seconds)"]
    width = max(len(name) for name in figures)
    lines += [f"  {name.ljust(width)}  {value:9.2f}" for name, value in figures.items()]
    return "\n".join(lines)


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    target = sys.argv[2] if len(sys.argv) > 2 else None
    result = asyncio.run(benchmark(count, target))
    print(report(result, count, "PostgreSQL" if target else "SQLite (WAL)"))

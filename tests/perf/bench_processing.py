"""Orders processed per second by the processing job (the published four-stage flow, reservation, carrier,
documents, outbox rows for waybill and SMS), one order per job and in batches, side by side on SQLite and,
when given, PostgreSQL.

    .venv/bin/python -m tests.perf.bench_processing 400 [postgresql://postgres@127.0.0.1:5432/bench_processing]

Each run gets a fresh migrated database with the demo data; the orders land through the ingest path first,
then the job body runs for every order, one order per job (``process_order``) or a batch of orders per job
(``process_orders``, what the workers run): on SQLite one job at a time (it writes one at a time); on
PostgreSQL also several concurrent jobs and 2 processes (one Python process is bound by one core; a
deployment runs several workers). Figures are wall-clock for the processing only; "ms per order" is a job's
time divided by its orders.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import Database
from app.domain.accounts.services import SYSTEM
from app.domain.channels import services as channels
from app.domain.channels.models import IngestSource
from app.domain.flows import services as flows
from app.domain.flows.models import Flow
from app.domain.processing import jobs
from app.domain.shops.models import Shop
from app.seed import seed_demo
from app.settings import Settings, normalize_database_url
from tests.integration.conftest import migrate

PROVINCES = [("浙江", "杭州市"), ("广东", "广州市"), ("北京", "北京市"), ("湖北", "武汉市"), ("江苏", "南京市")]
#: Orders per job in the batched rows: what the workers take by default (PROCESSING_BATCH_SIZE).
BATCH = 50
SKUS = [("CABLE-C1", 2900), ("EARBUD-P2", 49900), ("MASK-10", 9900), ("PHONE-X1", 399900)]


def payload(n: int) -> dict[str, object]:
    province, city = PROVINCES[n % len(PROVINCES)]
    sku, price = SKUS[n % len(SKUS)]
    at = f"2026-11-11 {n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}"
    return {
        "order_id": f"B{n:06d}",
        "status": "paid",
        "created_at": at,
        "paid_at": at,
        "buyer": {"id": f"b{n}", "nick": f"买家{n}"},
        "receiver": {
            "name": "测试",
            "phone": f"139{n:08d}",
            "province": province,
            "city": city,
            "district": "某区",
            "address": f"幸福路 {n} 号",
        },
        "lines": [{"line_id": "1", "sku": sku, "title": sku, "qty": 1, "unit_price_fen": price}],
    }


async def publish_demo(session: AsyncSession) -> Flow:
    """The demo data, with the shipped four-stage flow published; returns the flow."""
    await seed_demo(session)
    flow = (await session.exec(select(Flow))).one()
    assert flow.id is not None
    await flows.publish(session, SYSTEM, flow.id, "bench")
    return flow


async def prepare(settings: Settings, count: int) -> tuple[Database, list[int]]:
    db = Database(settings)
    async with db.transaction() as session:
        await publish_demo(session)
    async with db.reading() as session:
        shop = (await session.exec(select(Shop).where(Shop.code == "webshop"))).one()
    ids = []
    for n in range(count):
        result = await channels.ingest(db, settings, shop, payload(n), IngestSource.webhook)
        assert result.order_id is not None
        ids.append(result.order_id)
    return db, ids


async def measure(
    settings: Settings, count: int, concurrency: int, processes: int = 1, batch: int = 1
) -> tuple[float, float, float, float]:
    """(orders per second, median ms per order, p95 ms per order, SQL statements per order) with
    ``processes`` worker processes of ``concurrency`` jobs each, each job taking ``batch`` orders."""
    db, ids = await prepare(settings, count)
    await db.dispose()
    if processes > 1:
        slices = [ids[i::processes] for i in range(processes)]
        started = time.perf_counter()
        with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
            results = list(
                pool.map(_run_slice, [settings] * processes, slices, [concurrency] * processes, [batch] * processes)
            )
        elapsed = time.perf_counter() - started
        timings = sorted(t for part, _ in results for t in part)
        statements = sum(n for _, n in results)
    else:
        started = time.perf_counter()
        found, statements = await _process_all(settings, ids, concurrency, batch)
        elapsed = time.perf_counter() - started
        timings = sorted(found)
    p95 = timings[int(len(timings) * 0.95) - 1]
    return count / elapsed, statistics.median(timings), p95, statements / count


def _run_slice(settings: Settings, ids: list[int], concurrency: int, batch: int) -> tuple[list[float], int]:
    return asyncio.run(_process_all(settings, ids, concurrency, batch))


async def _process_all(settings: Settings, ids: list[int], concurrency: int, batch: int) -> tuple[list[float], int]:
    """Run the processing job over the orders, ``batch`` orders per job, ``concurrency`` jobs at once; ms
    per order, and the SQL statements the jobs sent."""
    db = Database(settings)
    ctx = {"db": db, "settings": settings}
    statements = [0]

    def count(*_: object) -> None:
        statements[0] += 1

    event.listen(db.write_engine.sync_engine, "before_cursor_execute", count)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for order_id in ids:
        queue.put_nowait(order_id)
    timings: list[float] = []

    async def worker() -> None:
        while not queue.empty():
            taken = [queue.get_nowait() for _ in range(min(batch, queue.qsize()))]
            started = time.perf_counter()
            if batch == 1:
                outcomes = [await jobs.process_order(ctx, taken[0])]
            else:
                outcomes = await jobs.process_orders(ctx, taken)
            for outcome in outcomes:
                assert outcome["state"] in ("processed", "held", "out_of_stock"), outcome
            timings.extend([(time.perf_counter() - started) * 1000 / len(taken)] * len(taken))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    await db.dispose()
    return timings, statements[0]


async def reset_postgres(url: str) -> None:
    admin = create_async_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    name = url.rsplit("/", 1)[1]
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()


def main(count: int, pg_url: str | None) -> list[tuple[str, float, float, float, float]]:
    """Run every row, print the table, and return the rows (name, orders/s, median, p95, SQL per order)."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        var = Path(tmp)
        sqlite_url = f"sqlite+aiosqlite:///{var / 'bench.db'}"
        migrate(sqlite_url)
        settings = Settings(var_dir=var, database_url=sqlite_url, secret_key="b" * 48)
        rows.append(("SQLite (WAL), 1 order per job", *asyncio.run(measure(settings, count, 1))))
        sqlite_url = f"sqlite+aiosqlite:///{var / 'bench-batch.db'}"
        migrate(sqlite_url)
        settings = Settings(var_dir=var, database_url=sqlite_url, secret_key="b" * 48)
        rows.append((f"SQLite (WAL), {BATCH} per job", *asyncio.run(measure(settings, count, 1, batch=BATCH))))
        if pg_url:
            url = normalize_database_url(pg_url)
            settings = Settings(var_dir=var, database_url=url, secret_key="b" * 48)
            for processes, concurrency, batch in ((1, 1, 1), (1, 8, 1), (1, 1, BATCH), (1, 4, BATCH), (2, 2, BATCH)):
                asyncio.run(reset_postgres(url))
                migrate(url)
                figures = asyncio.run(measure(settings, count, concurrency, processes, batch))
                label = f"{batch} per job" if batch > 1 else "1 order per job"
                rows.append((f"PostgreSQL, {processes} proc x {concurrency} jobs, {label}", *figures))
            asyncio.run(reset_postgres(url))
    print(f"\nprocessing {count:,} orders, four-stage flow published (one run)")
    print(f"  {'backend':52} {'orders/s':>9} {'median ms':>10} {'p95 ms':>8} {'SQL/order':>10}")
    for name, rate, median, p95, sql in rows:
        print(f"  {name:52} {rate:9,.0f} {median:10.1f} {p95:8.1f} {sql:10.1f}")
    return rows


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 400, sys.argv[2] if len(sys.argv) > 2 else None)

"""Benchmark: reservations per second on one hot SKU, many concurrent clients, on PostgreSQL.

Two ways, from one run, on one scratch database migrated like production:

* service — ``app.domain.inventory.services.reserve`` in its own transaction per order, exactly as the order
  processing calls it: the idempotency check, the reservation row, the ledger row, the channel-stock mark and
  the guarded UPDATE; meanwhile the channel-stock job runs every second, as the workers run it, and recomputes
  every shop's channel stock once per pass (its passes and the published figure are checked at the end).
* asyncpg — the bare guarded ``UPDATE stock SET reserved = reserved + 1 WHERE … AND on_hand - reserved -
  safety_stock >= 1`` issued directly with asyncpg, one autocommitted statement per reservation: the ceiling
  the row lock on a single hot row allows.

    .venv/bin/python -m tests.perf.bench_reservations                       # 64 clients × 200 orders each
    .venv/bin/python -m tests.perf.bench_reservations 64 500 postgresql://postgres@127.0.0.1:5432/bench_inventory

The scratch database (default ``bench_inventory``) is dropped and created again each run. Not a timed
assertion: ``test_bench_reservations.py`` runs it tiny to check that it works and prints the figures.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import Database
from app.domain.accounts.services import SYSTEM
from app.domain.inventory import services as inventory
from app.domain.inventory.jobs import refresh_channel_stock
from app.domain.inventory.models import Sku, Warehouse
from app.domain.inventory.services import ReservationLine
from app.domain.shops.models import Channel, Shop
from app.settings import PROJECT_ROOT, Settings, normalize_database_url

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/bench_inventory"
HOT_SKU, WAREHOUSE = "HOT-1", "BENCH"
ON_HAND = inventory.MAX_UNITS  # the most one stock level may hold
GUARDED_UPDATE = (
    "UPDATE stock SET reserved = reserved + $3, updated_at = now() "
    "WHERE warehouse_code = $1 AND sku_code = $2 AND on_hand - reserved - safety_stock >= $3"
)

Transaction = Callable[[], AbstractAsyncContextManager[AsyncSession]]


@dataclass(frozen=True)
class Figures:
    clients: int
    per_client: int
    service_per_second: float
    asyncpg_per_second: float
    service_reserved: int
    asyncpg_reserved: int
    #: Passes of the channel-stock job during the service half, and the SKUs they recomputed in all.
    channel_passes: int = 0
    channel_recomputes: int = 0

    @property
    def total(self) -> int:
        return self.clients * self.per_client


def plain_url(url: str) -> str:
    """The URL as asyncpg wants it (no SQLAlchemy driver suffix)."""
    return make_url(normalize_database_url(url)).set(drivername="postgresql").render_as_string(hide_password=False)


async def reachable(url: str = DEFAULT_URL) -> bool:
    """Whether the PostgreSQL server behind ``url`` answers (its maintenance database ``postgres``)."""
    try:
        conn = await asyncpg.connect(plain_url(url).rsplit("/", 1)[0] + "/postgres", timeout=2)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


async def recreate_database(url: str) -> None:
    server, name = plain_url(url).rsplit("/", 1)
    conn = await asyncpg.connect(server + "/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def migrate(url: str) -> None:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.attributes["database_url"] = normalize_database_url(url)
    config.attributes["configure_logging"] = False
    command.upgrade(config, "heads")


async def prepare(transaction: Transaction, shops: int) -> None:
    """One warehouse, one hot SKU with ten million on hand (received through the ledger), a few shops."""
    async with transaction() as session:
        session.add(Warehouse(code=WAREHOUSE, name="压测仓", province="上海"))
        session.add(Sku(code=HOT_SKU, name="爆款", category="bench"))
        for n in range(shops):
            session.add(Shop(channel=Channel.tmall, code=f"bench-shop-{n}", name=f"压测店铺 {n}"))
        await session.flush()
        await inventory.receive(session, WAREHOUSE, HOT_SKU, ON_HAND, SYSTEM, note="benchmark")


async def run_clients(clients: int, per_client: int, one: Callable[[int, int], Awaitable[bool]]) -> tuple[float, int]:
    """Run ``clients`` concurrent loops of ``per_client`` reservations; (reservations per second, reserved)."""

    async def client(c: int) -> int:
        return sum([await one(c, i) for i in range(per_client)])

    started = time.perf_counter()
    done = await asyncio.gather(*(client(c) for c in range(clients)))
    elapsed = time.perf_counter() - started
    return clients * per_client / elapsed, sum(done)


async def through_service(transaction: Transaction, clients: int, per_client: int) -> tuple[float, int]:
    async def one(c: int, i: int) -> bool:
        async with transaction() as session:
            result = await inventory.reserve(
                session, f"bench:{c}:{i}", [ReservationLine("1", HOT_SKU, 1)], WAREHOUSE, SYSTEM
            )
        return result.ok

    return await run_clients(clients, per_client, one)


async def through_asyncpg(url: str, clients: int, per_client: int) -> tuple[float, int]:
    pool = await asyncpg.create_pool(plain_url(url), min_size=clients, max_size=clients)
    try:

        async def one(c: int, i: int) -> bool:
            async with pool.acquire() as conn:
                return str(await conn.execute(GUARDED_UPDATE, WAREHOUSE, HOT_SKU, 1)) == "UPDATE 1"

        return await run_clients(clients, per_client, one)
    finally:
        await pool.close()


async def benchmark(clients: int = 64, per_client: int = 200, url: str = DEFAULT_URL, shops: int = 3) -> Figures:
    """Recreate the scratch database, then time both ways with the same number of clients and orders."""
    await recreate_database(url)
    await asyncio.to_thread(migrate, url)
    # One connection per client, like the asyncpg pool below (the app's own pool stops at 30).
    engine = create_async_engine(normalize_database_url(url), pool_size=clients, max_overflow=0)
    sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)

    @asynccontextmanager
    async def transaction() -> AsyncIterator[AsyncSession]:
        async with sessions() as session, session.begin():
            yield session

    job_db = Database(Settings(database_url=normalize_database_url(url), secret_key="b" * 48))
    try:
        await prepare(transaction, shops)
        await refresh_channel_stock({"db": job_db})
        async with channel_job_every_second(job_db) as passes:
            service_rate, service_reserved = await through_service(transaction, clients, per_client)
        passes.append(await refresh_channel_stock({"db": job_db}))
        async with sessions() as session:
            mismatches = await inventory.ledger_mismatches(session)
            published = await inventory.channel_stock_for_sku(session, HOT_SKU)
        assert mismatches == [], f"stock table differs from the ledger: {mismatches}"
        assert published and all(row.quantity == ON_HAND - service_reserved for row in published), published
    finally:
        await engine.dispose()
        await job_db.dispose()
    direct_rate, direct_reserved = await through_asyncpg(url, clients, per_client)
    ran = [p for p in passes if p["marks"]]
    return Figures(
        clients,
        per_client,
        service_rate,
        direct_rate,
        service_reserved,
        direct_reserved,
        len(ran),
        sum(p["skus"] for p in ran),
    )


@asynccontextmanager
async def channel_job_every_second(db: Database) -> AsyncIterator[list[dict[str, int]]]:
    """Run the channel-stock job every second while the block runs, as the workers do; yields its passes."""
    passes: list[dict[str, int]] = []

    async def loop() -> None:
        while True:
            passes.append(await refresh_channel_stock({"db": db}))
            await asyncio.sleep(1)

    task = asyncio.create_task(loop())
    try:
        yield passes
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


async def benchmark_sqlite(work_dir: Path, clients: int = 8, per_client: int = 10) -> tuple[float, int]:
    """The service half on SQLite (WAL, write lock at BEGIN IMMEDIATE): for machines without PostgreSQL."""
    url = f"sqlite+aiosqlite:///{work_dir / 'bench.db'}"
    await asyncio.to_thread(migrate, url)
    db = Database(Settings(database_url=url, secret_key="b" * 48, var_dir=work_dir))
    try:
        await prepare(db.transaction, 3)
        return await through_service(db.transaction, clients, per_client)
    finally:
        await db.dispose()


def report(figures: Figures) -> str:
    rows = [
        ("inventory.reserve() service", figures.service_per_second, figures.service_reserved),
        ("guarded UPDATE via asyncpg", figures.asyncpg_per_second, figures.asyncpg_reserved),
    ]
    lines = [
        f"reservations on one hot SKU, PostgreSQL, {figures.clients} concurrent clients × "
        f"{figures.per_client} orders ({figures.total:,} per way)",
        f"  {'way':<30} {'reservations/s':>15} {'reserved':>10}",
    ]
    lines += [f"  {name:<30} {rate:>15,.0f} {reserved:>10,}" for name, rate, reserved in rows]
    lines.append(f"  service / asyncpg: {figures.service_per_second / figures.asyncpg_per_second:.2f}")
    lines.append(
        f"  channel-stock job: {figures.channel_passes} passes, {figures.channel_recomputes} SKU recomputes "
        f"for {figures.service_reserved:,} reservations"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    arguments = sys.argv[1:]
    result = asyncio.run(
        benchmark(
            int(arguments[0]) if len(arguments) > 0 else 64,
            int(arguments[1]) if len(arguments) > 1 else 200,
            arguments[2] if len(arguments) > 2 else DEFAULT_URL,
        )
    )
    print(report(result))

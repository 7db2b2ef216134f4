"""The webhook's ingest path on its own, with no worker running: how many orders a second one web process
accepts, and where an order's time goes (verify the signature, parse + normalise, the one transaction).

    .venv/bin/python -m tests.perf.bench_ingest 2000 [postgresql://postgres@127.0.0.1:5432/bench_ingest]

Each backend gets a fresh migrated database with the demo data and the load-test shops. The orders are the load
generator's (every channel in turn); each goes through ``receive_webhook`` exactly as the controller calls it,
signed with its shop's secret, one at a time and then with 4 at once. The phase table times each step for
the same orders in-process; ``--profile`` prints the ten most expensive functions of the transaction too.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.db import Database
from app.domain.accounts.services import ANONYMOUS
from app.domain.channels import services as channels
from app.domain.channels.adapters import adapter_for
from app.domain.channels.models import IngestSource
from app.domain.channels.samples import sample_payload
from app.loadtest import Target, prepare, targets
from app.seed import seed_demo
from app.settings import Settings, normalize_database_url
from tests.integration.conftest import migrate
from tests.perf.bench_processing import reset_postgres

Body = tuple[Target, bytes, str]


def bodies(to: list[Target], count: int, run: str) -> list[Body]:
    """``count`` signed webhook bodies, every channel in turn."""
    made = []
    now = datetime.now(UTC)
    for seq in range(count):
        target = to[seq % len(to)]
        body = json.dumps(sample_payload(target.channel, run, seq, now), ensure_ascii=False).encode()
        assert target.secret is not None
        made.append((target, body, channels.sign_body(target.secret, body)))
    return made


async def setup(settings: Settings) -> tuple[Database, list[Target]]:
    db = Database(settings)
    async with db.transaction() as session:
        await seed_demo(session)
    await prepare(db, settings, stock_level=1000)
    return db, await targets(db, settings, token=None)


async def accept(db: Database, settings: Settings, items: list[Body], concurrency: int) -> float:
    """Orders a second through ``receive_webhook`` with ``concurrency`` deliveries at once."""
    queue = list(reversed(items))

    async def worker() -> None:
        while queue:
            target, body, signature = queue.pop()
            result = await channels.receive_webhook(
                db, settings, target.channel.value, target.shop, body, signature, ANONYMOUS
            )
            assert result.outcome == "created", result

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(items) / (time.perf_counter() - started)


async def phases(db: Database, settings: Settings, items: list[Body]) -> list[tuple[str, float]]:
    """Mean µs per order of each step of the path, one order at a time."""
    timings: dict[str, float] = {"verify (shop + HMAC)": 0.0, "parse + normalise": 0.0, "transaction": 0.0}

    def timed(name: str, started: float) -> float:
        now = time.perf_counter()
        timings[name] += now - started
        return now

    for target, body, signature in items:
        started = time.perf_counter()
        shop = await channels.authenticate_webhook(
            db, settings.secret_key, target.channel.value, target.shop, body, signature, ANONYMOUS
        )
        started = timed("verify (shop + HMAC)", started)
        channels.read_order(adapter_for(shop.channel), body)
        started = timed("parse + normalise", started)
        # ingest parses again; subtract that so the row is the transaction alone.
        await channels.ingest(db, settings, shop, body, IngestSource.webhook)
        timed("transaction", started)
    timings["transaction"] -= timings["parse + normalise"]
    return [(name, total / len(items) * 1e6) for name, total in timings.items()]


async def profile(db: Database, settings: Settings, items: list[Body]) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for target, body, signature in items:
        await channels.receive_webhook(db, settings, target.channel.value, target.shop, body, signature, ANONYMOUS)
    profiler.disable()
    out = pstats.Stats(profiler)
    out.sort_stats("cumulative")
    import io

    buffer = io.StringIO()
    out.stream = buffer  # type: ignore[attr-defined]
    out.print_stats(r"app/|sqlalchemy/orm/session|asyncpg|aiosqlite", 25)
    return buffer.getvalue()


def measure(settings: Settings, count: int, reset: Callable[[], None], want_profile: bool) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        db, to = await setup(settings)
        try:
            figures: dict[str, Any] = {}
            figures["1 at a time"] = await accept(db, settings, bodies(to, count, "81"), 1)
            figures["4 at once"] = await accept(db, settings, bodies(to, count, "82"), 4)
            figures["phases"] = await phases(db, settings, bodies(to, min(count, 500), "83"))
            if want_profile:
                figures["profile"] = await profile(db, settings, bodies(to, min(count, 500), "84"))
            return figures
        finally:
            await db.dispose()

    reset()
    return asyncio.run(main())


def main(count: int, pg_url: str | None, want_profile: bool = False) -> list[tuple[str, dict[str, Any]]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        var = Path(tmp)
        sqlite_url = f"sqlite+aiosqlite:///{var / 'bench.db'}"
        settings = Settings(var_dir=var, database_url=sqlite_url, secret_key="b" * 48)
        rows.append(("SQLite (WAL)", measure(settings, count, lambda: migrate(sqlite_url), want_profile)))
        if pg_url:
            url = normalize_database_url(pg_url)
            settings = Settings(var_dir=var, database_url=url, secret_key="b" * 48)

            def fresh() -> None:
                asyncio.run(reset_postgres(url))
                migrate(url)

            rows.append(("PostgreSQL", measure(settings, count, fresh, want_profile)))
            asyncio.run(reset_postgres(url))
    print(f"\nwebhook ingest (receive_webhook: verify, parse, normalise, one transaction), {count:,} orders, one run")
    print(f"  {'backend':14} {'1 at a time /s':>15} {'4 at once /s':>14}   µs per order by phase")
    for name, figures in rows:
        split = ", ".join(f"{phase} {us:,.0f}" for phase, us in figures["phases"])
        print(f"  {name:14} {figures['1 at a time']:15,.0f} {figures['4 at once']:14,.0f}   {split}")
    for name, figures in rows:
        if "profile" in figures:
            print(f"\n--- {name}: cumulative time, the ingest path ---\n{figures['profile']}")
    return rows


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if a != "--profile"]
    main(
        int(arguments[0]) if arguments else 2000,
        arguments[1] if len(arguments) > 1 else None,
        want_profile="--profile" in sys.argv,
    )

"""Smoke-run the reservation benchmark tiny and print its figures (no timing assertion).

With PostgreSQL reachable it runs both ways (service and bare asyncpg) on a scratch database of its own;
without it, the service half runs on SQLite so the benchmark code is still exercised.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from bench_reservations import benchmark, benchmark_sqlite, reachable, report

SMOKE_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/bench_inventory_smoke")


async def test_the_reservation_benchmark_runs_and_prints_its_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if await reachable(SMOKE_URL):
        figures = await benchmark(clients=8, per_client=10, url=SMOKE_URL)
        with capsys.disabled():
            print("\n" + report(figures))
        assert figures.service_reserved == figures.asyncpg_reserved == 80
        assert figures.service_per_second > 0 and figures.asyncpg_per_second > 0
    else:
        rate, reserved = await benchmark_sqlite(tmp_path)
        with capsys.disabled():
            print(f"\nPostgreSQL not reachable; service on SQLite: {rate:,.0f} reservations/s ({reserved} reserved)")
        assert reserved == 80 and rate > 0

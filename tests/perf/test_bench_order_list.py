"""Smoke-run the order-list benchmark on a tiny scratch database and print its figures (no timing assertion)."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench_order_list import benchmark, report


async def test_the_order_list_benchmark_runs_and_prints_its_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    figures = await benchmark(3000, work_dir=tmp_path)
    with capsys.disabled():
        print("\n" + report(figures, 3000, "SQLite (WAL)"))
    assert any("page" in name and name.endswith(tuple("0123456789")) for name in figures)
    assert all(value > 0 for value in figures.values())

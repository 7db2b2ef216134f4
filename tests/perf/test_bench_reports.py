"""Smoke-run the reports benchmark on a tiny scratch database and print its figures (no timing assertion)."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench_reports import benchmark, report


async def test_the_reports_benchmark_runs_and_prints_its_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    figures = await benchmark(3000, work_dir=tmp_path)
    with capsys.disabled():
        print("\n" + report(figures, 3000, "SQLite (WAL)"))
    assert all(
        any(name.startswith(f"{key} · ") for name in figures) for key in ("gmv", "hourly", "returns", "shiptime")
    )
    assert all(value > 0 for value in figures.values())

"""Smoke-run the processing benchmark tiny on SQLite and print its figures (no timing assertion)."""

from __future__ import annotations

import pytest
from bench_processing import main


def test_the_processing_benchmark_runs_one_order_per_job_and_in_batches(capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        rows = main(12, None)

    assert [name for name, *_ in rows] == ["SQLite (WAL), 1 order per job", "SQLite (WAL), 50 per job"]
    for _, rate, median, _, statements in rows:
        assert rate > 0 and median > 0 and statements > 0

"""Smoke-run the backtest benchmark small on SQLite and print its figures (no timing assertion); ``dev.py bench``
runs it over 100,000 orders."""

from __future__ import annotations

import pytest
from bench_backtest import main


def test_the_backtest_benchmark_replays_every_stored_order(capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        rows = main(2000, None)

    assert [part for backend, part, _ in rows if backend == "SQLite (WAL)"][1] == "whole backtest job"
    assert all(seconds > 0 for _, _, seconds in rows)

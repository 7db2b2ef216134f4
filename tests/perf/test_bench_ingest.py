"""Smoke-run the ingest benchmark tiny on SQLite and print its figures (no timing assertion)."""

from __future__ import annotations

import pytest
from bench_ingest import main


def test_the_ingest_benchmark_runs_and_prints_its_figures(capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        rows = main(20, None)

    [(backend, figures)] = rows
    assert backend == "SQLite (WAL)"
    assert figures["1 at a time"] > 0 and figures["4 at once"] > 0
    assert [phase for phase, _ in figures["phases"]] == ["verify (shop + HMAC)", "parse + normalise", "transaction"]

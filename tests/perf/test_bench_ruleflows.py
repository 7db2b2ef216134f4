"""Smoke-run the rule-flow benchmark with a few iterations and print its figures (no timing assertion)."""

from __future__ import annotations

import pytest
from bench_ruleflows import benchmark, report


def test_the_benchmark_runs_and_prints_its_figures(capsys: pytest.CaptureFixture[str]) -> None:
    figures = benchmark(iterations=20)
    with capsys.disabled():
        print("\n" + report(figures, 20))
    assert all(value > 0 for value in figures.values())

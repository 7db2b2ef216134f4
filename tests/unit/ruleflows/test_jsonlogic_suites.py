"""Run every JSON Logic conformance suite through ruleflows' evaluator and print the pass counts."""

from __future__ import annotations

import json
import math
import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from ruleflows import evaluate
from ruleflows.errors import LogicError

#: The suites travel with the project (copied unchanged, with their licence); JSONLOGIC_SUITES overrides them.
VENDORED_SUITES = Path(__file__).with_name("jsonlogic_suites")


def find_suites() -> Path:
    """The project's own copy of the suites, or the folder JSONLOGIC_SUITES names."""
    return Path(os.environ.get("JSONLOGIC_SUITES") or VENDORED_SUITES)


SUITES = find_suites()
KNOWN_FAILURES = Path(__file__).with_name("jsonlogic_known_failures.json")


def same(actual: Any, expected: Any) -> bool:
    """JSON equality: 1 == 1.0, but true is not 1 and lists compare item by item."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(actual, int | float) and isinstance(expected, int | float):
        return math.isclose(actual, expected, rel_tol=1e-12, abs_tol=1e-12)
    if isinstance(actual, list) and isinstance(expected, list):
        return len(actual) == len(expected) and all(map(same, actual, expected))
    if isinstance(actual, dict) and isinstance(expected, dict):
        return actual.keys() == expected.keys() and all(same(actual[k], expected[k]) for k in actual)
    return type(actual) is type(expected) and actual == expected


def suite_files() -> list[str]:
    index = SUITES / "index.json"
    assert index.exists(), f"JSON Logic suites not found at {SUITES}"
    files: list[str] = json.loads(index.read_text(encoding="utf-8"))
    return files


def run_case(case: dict[str, Any]) -> tuple[bool, str]:
    """(passed, what happened) for one suite case."""
    try:
        value = evaluate(case["rule"], case.get("data"))
    except LogicError as exc:
        if "error" in case and same(exc.payload, case["error"]):
            return True, ""
        return False, f"raised {exc.payload!r}"
    except Exception as exc:  # any other exception is a failure of the case, reported not raised
        return False, f"raised {type(exc).__name__}: {exc}"
    if "result" in case and same(value, case["result"]):
        return True, ""
    return False, f"returned {value!r}"


@cache
def results() -> dict[str, list[tuple[int, str, bool, str]]]:
    """Per file: (index, description, passed, detail) for every case."""
    outcome: dict[str, list[tuple[int, str, bool, str]]] = {}
    for name in suite_files():
        entries = json.loads((SUITES / name).read_text(encoding="utf-8"))
        outcome[name] = [
            (index, entry.get("description", ""), *run_case(entry))
            for index, entry in enumerate(entries)
            if isinstance(entry, dict)
        ]
    return outcome


def known_failures() -> set[tuple[str, int]]:
    data = json.loads(KNOWN_FAILURES.read_text(encoding="utf-8"))
    for case in data["cases"]:
        assert case.get("reason"), f"known failure without a reason: {case}"
    return {(case["file"], case["index"]) for case in data["cases"]}


@pytest.mark.parametrize("name", suite_files())
def test_suite_file_fails_only_known_cases(name: str) -> None:
    known = known_failures()
    failed = {
        (name, index): f"{description}: {detail}"
        for index, description, passed, detail in results()[name]
        if not passed
    }
    unexpected = {key: why for key, why in failed.items() if key not in known}
    assert not unexpected, f"cases failing that are not in {KNOWN_FAILURES.name}: {unexpected}"
    now_passing = {key for key in known if key[0] == name and key not in failed}
    assert not now_passing, f"listed as known failures but now pass (remove them): {sorted(now_passing)}"


def test_suites_pass_counts_meet_the_bar(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = results()
    lines = ["", "JSON Logic conformance suites (ruleflows.evaluate):"]
    total = passed = 0
    for name, cases in outcome.items():
        ok = sum(1 for case in cases if case[2])
        total += len(cases)
        passed += ok
        lines.append(f"  {name:<36} {ok:>4} / {len(cases)}")
    lines.append(f"  {'TOTAL':<36} {passed:>4} / {total}")
    with capsys.disabled():
        print("\n".join(lines))
    compatible = outcome["compatible.json"]
    assert len(compatible) == 278
    assert all(case[2] for case in compatible), "every case of compatible.json must pass"
    assert total == 1138
    assert passed >= 1000

"""What an order's flow runs add to the hit counters: a pass per node on the path, under the exit it took."""

from __future__ import annotations

from datetime import UTC, datetime

import ruleflows
from app.domain.processing.hits import hour_of, passes

HOUR = datetime(2026, 12, 1, 9, tzinfo=UTC)


def doc() -> dict:
    def node(node_id: str, kind: str, config: dict | None = None) -> dict:
        return {"id": node_id, "type": kind, "name": node_id, "position": {"x": 0, "y": 0}, "config": config or {}}

    return {
        "schema": 1,
        "name": "小单",
        "trigger": "order.received",
        "nodes": [
            node("start", "start"),
            node("small", "condition", {"logic": {"<": [{"var": "order.amounts.paid_fen"}, 5000]}}),
            node("tag", "action", {"action": "add_tag", "params": {"tag": "小单"}}),
            node("end", "end"),
        ],
        "edges": [
            {"id": "e1", "source": "start", "target": "small", "port": "next"},
            {"id": "e2", "source": "small", "target": "tag", "port": "true"},
            {"id": "e3", "source": "small", "target": "end", "port": "false"},
            {"id": "e4", "source": "tag", "target": "end", "port": "next"},
        ],
    }


def run_of(paid_fen: int, *, trace: bool = True) -> dict:
    result = ruleflows.run(ruleflows.compile_flow(doc()), {"order": {"amounts": {"paid_fen": paid_fen}}}, trace=trace)
    assert result.ok, result.error
    return {"version_id": 7, "path": result.path, "trace": [step.to_dict() for step in result.trace]}


def test_each_node_on_the_path_counts_once_under_the_exit_it_took():
    assert passes([run_of(2900), run_of(9900)], HOUR) == {
        (7, "start", "next", HOUR): 2,
        (7, "small", "true", HOUR): 1,
        (7, "small", "false", HOUR): 1,
        (7, "tag", "next", HOUR): 1,
        (7, "end", "", HOUR): 2,
    }


def test_a_run_kept_without_its_trace_still_counts_its_nodes():
    assert passes([run_of(2900, trace=False)], HOUR) == {
        (7, key, "", HOUR): 1 for key in ("start", "small", "tag", "end")
    }


def test_the_bucket_is_the_start_of_the_hour():
    assert hour_of(datetime(2026, 12, 1, 9, 59, 59, 999, tzinfo=UTC)) == HOUR

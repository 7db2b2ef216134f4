"""Benchmark: microseconds per order for the four-stage template, side by side with the alternatives.

Run with ``.venv/bin/python -m tests.perf.bench_ruleflows [iterations]`` (or ``python
tests/perf/bench_ruleflows.py``). Not a timed assertion: ``test_bench_ruleflows.py`` runs it with a few
iterations only to check that it works, and prints the figures.

Rows, all on the same six sample orders in one process. Each figure is CPU time of this process, the best of
a few rounds: on a shared machine, wall-clock time mostly measures the other work waiting for a core.
  hand-written Python     a plain function with the template's logic
  json-logic-qubit        bare ``jsonLogic`` on the expressions the flow evaluates for each order
  ruleflows.evaluate      the same expressions through the interpreter (the safe wrapper)
  compiled expressions    the same expressions compiled once (``ruleflows.compiler.compile_logic``)
  run (document)          ``ruleflows.run`` on the JSON document: validated and interpreted every time
  run (compiled flow)     ``ruleflows.run`` on a flow compiled once (what a worker does), with its trace: the
                          flow's generated function (``ruleflows.codegen``)
  run (no trace)          the same with ``trace=False`` (what a backtest does): decisions and path only
  run (closures)          both again on the compiled closures alone, node by node: what a run does when the
                          generated function gives up (a limit it cannot prove it stays inside, a failing node)
The last column is each figure divided by the hand-written one.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from dataclasses import replace

import json_logic

from ruleflows import compile_flow, compile_logic, evaluate, load_template, region_of, run
from ruleflows.operations import DOMAIN_OPERATIONS

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
Decision = tuple[str, dict[str, Any]]


def sample_contexts() -> list[dict[str, Any]]:
    """Six realistic orders: 华东 3C, cheap non-urgent, presale, bundle, invalid phone, repeated address."""

    def order(
        province: str,
        paid_fen: int,
        *,
        category: str = "家居",
        bundle_of: str | None = None,
        phone: str = "139****0001",
        presale: bool = False,
    ) -> dict[str, Any]:
        return {
            "channel": "tmall",
            "shop_id": "shop-1",
            "external_id": "1",
            "status": "received",
            "paid_at": "2026-11-26T02:00:00+00:00",
            "receiver": {
                "name": "李雷",
                "phone_masked": phone,
                "province": province,
                "city": "某市",
                "district": "某区",
                "address": "某路 8 号",
            },
            "amounts": {"items_fen": paid_fen, "shipping_fen": 0, "discount_fen": 0, "paid_fen": paid_fen},
            "lines": [
                {
                    "line_id": "l1",
                    "sku": "SKU-1",
                    "title": "商品",
                    "qty": 1,
                    "unit_price_fen": paid_fen,
                    "paid_fen": paid_fen,
                    "is_gift": False,
                    "bundle_of": bundle_of,
                    "category": category,
                }
            ],
            "presale": {
                "is_presale": presale,
                "deposit_paid": presale,
                "balance_due_at": "2026-12-10T16:00:00+00:00" if presale else None,
            },
            "buyer_message": "",
            "seller_memo": "",
            "tags": [],
        }

    def context(order_: dict[str, Any], **features: Any) -> dict[str, Any]:
        base = {"same_address_24h": 1, "is_urgent": False, "phone_valid": True, "address_complete": True}
        return {"order": order_, "features": {**base, **features}, "decisions": {}}

    return [
        context(order("上海", 599900, category="3C")),
        context(order("四川省", 3600)),
        context(order("广东省", 19900, presale=True)),
        context(order("北京", 45800, bundle_of="GIFTBOX")),
        context(order("浙江", 12900, phone="021-5555"), phone_valid=False),
        context(order("浙江", 12900), same_address_24h=5),
    ]


def hand_written(context: dict[str, Any]) -> list[Decision]:
    """The four-stage template written directly in Python."""
    order, features = context["order"], context["features"]
    receiver, amounts = order["receiver"], order["amounts"]
    if features.get("address_complete") is not True:
        return [("hold_for_review", {"reason": "收货地址不完整"})]
    if features.get("phone_valid") is not True:
        return [("hold_for_review", {"reason": "收货人手机号无效"})]
    if (features.get("same_address_24h") or 0) > 3:
        return [("hold_for_review", {"reason": "同一地址 24 小时内订单过多，疑似刷单"})]
    decided: list[Decision] = [("approve", {})]
    lines = order.get("lines") or []
    if region_of(receiver["province"]) == "华东" and any(line.get("category") == "3C" for line in lines):
        decided += [
            ("assign_warehouse", {"code": "SH01"}),
            ("assign_carrier", {"code": "SF", "split_by_temperature": True}),
        ]
    elif amounts["paid_fen"] < 5000 and not features.get("is_urgent"):
        decided += [
            ("assign_warehouse", {"strategy": "cheapest"}),
            (
                "assign_carrier",
                {"strategy": "cheapest", "candidates": ["ZTO", "YTO", "STO", "YUNDA"], "split_by_temperature": True},
            ),
        ]
    else:
        decided += [
            ("assign_warehouse", {"strategy": "priority"}),
            ("assign_carrier", {"strategy": "cheapest", "split_by_temperature": True}),
        ]
    presale = order["presale"]["is_presale"] is True
    if presale:
        decided.append(("mark_presale", {"balance_due_at": order["presale"]["balance_due_at"]}))
    if amounts["paid_fen"] >= 29900:
        decided.append(("add_gift", {"sku": "GIFT-TOTE-01", "qty": 1}))
    if any(line.get("bundle_of") for line in lines):
        decided.append(("expand_bundles", {}))
    if presale:
        decided.append(("notify", {"template": "presale_balance_reminder", "via": "wechat"}))
    else:
        decided += [
            ("generate_documents", {"kinds": ["outbound_order", "pick_list"]}),
            ("request_waybill", {}),
            ("notify", {"template": "order_processed", "via": "sms"}),
        ]
    return decided


def expressions_evaluated(doc: dict[str, Any], context: dict[str, Any]) -> list[tuple[Any, dict[str, Any]]]:
    """The (expression, data) pairs the flow evaluates for this order, in order, with decisions so far."""
    nodes = {node["id"]: node for node in doc["nodes"]}
    result = run(doc, context, now=NOW)
    pairs: list[tuple[Any, dict[str, Any]]] = []
    decisions: dict[str, Any] = {}
    for step in result.trace:
        data = {**context, "decisions": dict(decisions)}
        config = nodes[step.node_id].get("config", {})
        if step.type == "condition":
            pairs.append((config["logic"], data))
        elif step.type == "switch":
            for branch in config["branches"]:
                pairs.append((branch["logic"], data))
                if branch["id"] == step.port:
                    break
        elif step.type == "action":
            pairs += [(value, data) for value in config.get("params", {}).values() if isinstance(value, dict)]
            if config["action"] == "mark_presale":
                decisions["presale"] = True
    return pairs


@contextmanager
def qubit_with_domain_operations() -> Iterator[None]:
    """Give bare json-logic-qubit our domain operators for the comparison, and take them away after."""
    for name, operation in DOMAIN_OPERATIONS.items():
        json_logic.add_operation(name, lambda *args, _f=operation.function: _f(list(args), NOW))
    try:
        yield
    finally:
        for name in DOMAIN_OPERATIONS:
            json_logic.rm_operation(name)


#: Rounds each figure is measured in; the best round counts.
ROUNDS = 5


def _micros_per_order(work: Callable[[], None], iterations: int, orders: int) -> float:
    work()  # warm up caches
    per_round = max(1, iterations // ROUNDS)
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.process_time_ns()
        for _ in range(per_round):
            work()
        best = min(best, (time.process_time_ns() - started) / 1000 / (per_round * orders))
    return best


HAND_WRITTEN = "hand-written Python"
COMPILED_RUN = "ruleflows.run (compiled flow)"
UNTRACED_RUN = "ruleflows.run (compiled flow, trace=False)"
CLOSURES_RUN = "ruleflows.run (compiled closures only)"
UNTRACED_CLOSURES_RUN = "ruleflows.run (compiled closures only, trace=False)"


def benchmark(iterations: int = 2000) -> dict[str, float]:
    """Microseconds per order for each approach; checks first that they all decide the same."""
    doc = load_template("standard_four_stage")
    compiled = compile_flow(doc)
    closures = replace(compiled, generated=None)
    assert compiled.generated is not None, "the template must be generated"
    contexts = sample_contexts()
    for context in contexts:
        by_flow = [(action.action, action.params) for action in run(compiled, context, now=NOW).actions]
        assert by_flow == hand_written(context), "the hand-written function must match the template"
        for flow in (compiled, closures):
            assert run(flow, context, now=NOW).to_dict(timings=False) == run(doc, context, now=NOW).to_dict(
                timings=False
            ), "the compiled flow must run as the interpreted one"
        assert run(compiled, context, now=NOW, trace=False).to_dict(timings=False) == {
            **run(doc, context, now=NOW).to_dict(timings=False),
            "trace": [],
        }, "a run without its trace must decide as the traced one"
    pairs = [pair for context in contexts for pair in expressions_evaluated(doc, context)]
    compiled_pairs = [(compile_logic(logic), data) for logic, data in pairs]
    with qubit_with_domain_operations():
        for logic, data in pairs:
            assert json_logic.jsonLogic(logic, data) == evaluate(logic, data, now=NOW)

        def bare_qubit() -> None:
            for logic, data in pairs:
                json_logic.jsonLogic(logic, data)

        qubit = _micros_per_order(bare_qubit, iterations, len(contexts))

    def python() -> None:
        for context in contexts:
            hand_written(context)

    def wrapper() -> None:
        for logic, data in pairs:
            evaluate(logic, data, now=NOW)

    def compiled_expressions() -> None:
        for expression, data in compiled_pairs:
            expression.evaluate(data, now=NOW)

    def runs(flow: Any, *, trace: bool = True) -> Callable[[], None]:
        def work() -> None:
            for context in contexts:
                run(flow, context, now=NOW, trace=trace)

        return work

    return {
        HAND_WRITTEN: _micros_per_order(python, iterations, len(contexts)),
        "json-logic-qubit (bare jsonLogic)": qubit,
        "ruleflows.evaluate (interpreter, same expressions)": _micros_per_order(wrapper, iterations, len(contexts)),
        "compiled expressions (same expressions)": _micros_per_order(compiled_expressions, iterations, len(contexts)),
        "ruleflows.run (document, validated and interpreted)": _micros_per_order(
            runs(doc), max(1, iterations // 10), len(contexts)
        ),
        COMPILED_RUN: _micros_per_order(runs(compiled), iterations, len(contexts)),
        UNTRACED_RUN: _micros_per_order(runs(compiled, trace=False), iterations, len(contexts)),
        CLOSURES_RUN: _micros_per_order(runs(closures), iterations, len(contexts)),
        UNTRACED_CLOSURES_RUN: _micros_per_order(runs(closures, trace=False), iterations, len(contexts)),
    }


def report(figures: dict[str, float], iterations: int) -> str:
    """The figures as a small table, with each one's ratio to the hand-written function."""
    base = figures[HAND_WRITTEN]
    lines = [f"four-stage template, 6 sample orders, {iterations} iterations — CPU microseconds per order"]
    lines.append(f"  {'':<52} {'µs/order':>9}  {'× hand-written':>14}")
    lines += [f"  {name:<52} {micros:>9.1f}  {micros / base:>13.1f}×" for name, micros in figures.items()]
    lines.append(
        f"  compiled run / hand-written: {figures[COMPILED_RUN] / base:.1f}× with its trace, "
        f"{figures[UNTRACED_RUN] / base:.1f}× without (target: within 2×)"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    print(report(benchmark(count), count))

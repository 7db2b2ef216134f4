"""Processing in batches: one transaction for many orders, one poisoned order isolated in its own savepoint,
and two arq workers sharing one queue without ever processing an order twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from sqlmodel import col, select

from app import outbox
from app.db import Database
from app.domain.inventory.jobs import refresh_channel_stock
from app.domain.inventory.models import Reservation
from app.domain.orders.models import OrderEvent
from app.domain.processing import jobs
from app.domain.processing.models import OrderProcessing, ProcessingState
from app.outbox import OutboxMessage, OutboxStatus
from app.settings import Settings
from tests.integration.conftest import BACKEND, start_arq_worker, stop_process
from tests.integration.processing.conftest import generic_order
from tests.integration.processing.test_actions import held_stock, land, publish
from tests.integration.processing.test_batch import assert_stock_matches_reservations


def poisoned_flow() -> dict[str, Any]:
    """新疆 orders go to a warehouse that does not exist (an action that cannot be carried out); the rest to
    the cheapest warehouse with the cheapest carrier."""

    def node(node_id: str, kind: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"id": node_id, "type": kind, "name": node_id, "position": {"x": 0, "y": 0}, "config": config or {}}

    def edge(edge_id: str, source: str, target: str, port: str = "next") -> dict[str, Any]:
        return {"id": edge_id, "source": source, "target": target, "port": port}

    far = {"==": [{"var": "order.receiver.province"}, "新疆"]}
    return {
        "schema": 1,
        "name": "毒药单",
        "trigger": "order.received",
        "nodes": [
            node("start", "start"),
            node("far", "condition", {"logic": far}),
            node("nope", "action", {"action": "assign_warehouse", "params": {"code": "NOPE"}}),
            node("cheap", "action", {"action": "assign_warehouse", "params": {"strategy": "cheapest"}}),
            node("carrier", "action", {"action": "assign_carrier", "params": {"strategy": "cheapest"}}),
            node("end", "end"),
        ],
        "edges": [
            edge("e1", "start", "far"),
            edge("e2", "far", "nope", "true"),
            edge("e3", "far", "cheap", "false"),
            edge("e4", "nope", "carrier"),
            edge("e5", "cheap", "carrier"),
            edge("e6", "carrier", "end"),
        ],
    }


async def land_many(db: Database, settings: Settings, count: int, *, poisoned: int | None = None) -> list[int]:
    ids = []
    for n in range(count):
        province, city = ("新疆", "乌鲁木齐市") if n == poisoned else ("浙江", "杭州市")
        payload = generic_order(
            f"B{n:04d}",
            lines=[("CABLE-C1", 1 + n % 2, 2900), ("MASK-10", 1, 9900)],
            province=province,
            city=city,
            address=f"批量路 {n} 号",
            phone=f"137{n:08d}",
            buyer=f"b-{n}",
        )
        ids.append(await land(db, settings, payload))
    return ids


async def test_a_batch_with_one_poisoned_order_leaves_the_others_done_and_puts_it_in_review(
    db: Database, settings: Settings, demo_data: None
) -> None:
    await publish(db, poisoned_flow())
    ids = await land_many(db, settings, 12, poisoned=5)

    results = await jobs.process_orders({"db": db, "settings": settings}, ids)

    assert [r["order_id"] for r in results] == ids
    assert all(r["batch"] == 12 for r in results)
    async with db.reading() as session:
        procs = {p.order_id: p for p in (await session.exec(select(OrderProcessing))).all()}
    poisoned = ids[5]
    assert procs[poisoned].state == ProcessingState.held
    assert "NOPE" in procs[poisoned].hold_reason
    assert await held_stock(db, poisoned) == []  # rolled back to its savepoint: it holds nothing
    others = [order_id for order_id in ids if order_id != poisoned]
    assert {procs[order_id].state for order_id in others} == {ProcessingState.processed}
    for order_id in others:
        assert len(await held_stock(db, order_id)) == 2
    await refresh_channel_stock({"db": db})  # as the workers do every second
    await assert_stock_matches_reservations(db)


async def test_a_batch_run_twice_changes_nothing_the_second_time(
    db: Database, settings: Settings, demo_data: None
) -> None:
    await publish(db, poisoned_flow())
    ids = await land_many(db, settings, 8)
    first = await jobs.process_orders({"db": db, "settings": settings}, ids)
    again = await jobs.process_orders({"db": db, "settings": settings}, ids)
    assert {r["state"] for r in first} == {"processed"}
    assert all(r["skipped"] for r in again)
    async with db.reading() as session:
        runs = [p.runs for p in (await session.exec(select(OrderProcessing))).all()]
    assert runs == [1] * len(ids)


@pytest.mark.skipif(
    BACKEND != "postgres",
    reason="arq workers need PostgreSQL and Redis; the SQLite install runs its one embedded worker "
    "(this test runs in the PostgreSQL pass)",
)
async def test_two_arq_workers_share_one_queue_and_never_process_an_order_twice(
    db: Database, settings: Settings, demo_data: None
) -> None:
    await publish(db, poisoned_flow())
    ids = await land_many(db, settings, 120)
    # A second processing request per order, as a re-delivered webhook would stage: the two land in
    # different batches, which the two workers run at the same time.
    async with db.transaction() as session:
        for order_id in ids:
            await outbox.stage(session, "process_order", order_id, dedupe_key=f"process_order:{order_id}:again")
    workers = [start_arq_worker(settings, PROCESSING_BATCH_SIZE="5") for _ in range(2)]
    try:
        deadline = asyncio.get_running_loop().time() + 120
        while True:
            async with db.reading() as session:
                rows = (await session.exec(select(OutboxMessage).where(OutboxMessage.job == "process_order"))).all()
            if all(row.status == OutboxStatus.done for row in rows):
                break
            assert asyncio.get_running_loop().time() < deadline, Counter(row.status for row in rows)
            await asyncio.sleep(0.5)
    finally:
        for worker in workers:
            stop_process(worker)

    assert len({row.result["worker"] for row in rows}) == 2, "both workers took batches"
    async with db.reading() as session:
        procs = (await session.exec(select(OrderProcessing).where(col(OrderProcessing.order_id).in_(ids)))).all()
        runs = Counter(
            event.order_id
            for event in (await session.exec(select(OrderEvent).where(OrderEvent.kind == "flows_ran"))).all()
        )
        reservations = Counter(
            (r.order_key, r.line_key, r.sku_code) for r in (await session.exec(select(Reservation))).all()
        )
    assert {p.state for p in procs} == {ProcessingState.processed}
    assert {p.runs for p in procs} == {1}
    assert set(runs.values()) == {1} and len(runs) == len(ids)
    assert set(reservations.values()) == {1} and len(reservations) == 2 * len(ids)
    await refresh_channel_stock({"db": db})  # the workers were stopped: run the every-second job once more
    await assert_stock_matches_reservations(db)

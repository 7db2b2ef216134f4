"""挂起订单 and 规则命中: the orders waiting in review counted by reason with their waits, and each flow node's hits
in the range, equal to a direct count of the processing rows and hit counters; filters narrow what applies."""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from app.db import Database, utcnow
from app.domain.flows.models import Flow, FlowVersion
from app.domain.orders.models import Order
from app.domain.processing.models import FlowHit, OrderProcessing, ProcessingState
from tests.integration.reports.test_report_pages import as_viewer

#: Hold codes given to the data set's orders in turn, and how many hours ago each was held.
HOLDS = [("review", 5), ("no_carrier", 30), ("review", 50), ("unknown_sku", 2), ("review", 9)]
DOCUMENT = {
    "schema": 1,
    "name": "四段审单",
    "trigger": "order.received",
    "nodes": [
        {"id": "n1", "type": "start", "name": "开始"},
        {"id": "n2", "type": "condition", "name": "高风险地址？"},
        {"id": "n3", "type": "end", "name": "结束"},
    ],
    "edges": [],
}


async def hold_orders(db: Database) -> dict[int, tuple[str, datetime]]:
    """The data set's first orders held for the HOLDS reasons, the rest processed; each held order's code and time."""
    now = utcnow()
    held = {}
    async with db.transaction() as session:
        orders = (await session.exec(select(Order).order_by(Order.id))).all()
        for index, order in enumerate(orders):
            assert order.id is not None
            if index < len(HOLDS):
                code, hours = HOLDS[index]
                at = now - timedelta(hours=hours)
                held[order.id] = (code, at)
                state = ProcessingState.held
            else:
                code, at, state = "", now, ProcessingState.processed
            session.add(
                OrderProcessing(
                    order_id=order.id, state=state, hold_code=code, hold_reason=code, queued_at=at, updated_at=at
                )
            )
    return held


async def test_held_orders_are_counted_by_reason_with_their_waits(client, db, make_user, data_set):
    held = await hold_orders(db)
    await as_viewer(client, make_user)
    response = await client.get("/reports/holds/download/csv")
    table = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert table[0] == ["原因", "订单数", "平均等待（小时）", "最长等待（小时）"]
    now = utcnow()
    waits: dict[str, list[float]] = defaultdict(list)
    for code, at in held.values():
        waits[code].append((now - at).total_seconds() / 3600)
    labels = {"review": "规则流挂起", "no_carrier": "没有可用快递", "unknown_sku": "未知 SKU"}
    shown = {row[0]: row[1:] for row in table[1:]}
    assert set(shown) == {labels[code] for code in waits}
    for code, hours in waits.items():
        count, mean, longest = shown[labels[code]]
        assert int(count) == len(hours)
        assert abs(float(mean) - sum(hours) / len(hours)) <= 0.1
        assert abs(float(longest) - max(hours)) <= 0.1
    # The most held reason comes first.
    assert table[1][0] == labels[Counter(code for code, _ in held.values()).most_common(1)[0][0]]


async def test_the_channel_filter_keeps_the_held_orders_of_that_channel(client, db, make_user, shops, data_set):
    held = await hold_orders(db)
    await as_viewer(client, make_user)
    async with db.reading() as session:
        channels = {order.id: order.channel for order in (await session.exec(select(Order))).all()}
    expected = Counter(code for order_id, (code, _) in held.items() if channels[order_id] == "jd")
    response = await client.get("/reports/holds/download/csv", params={"channel": "jd"})
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))[1:]
    assert sum(int(row[1]) for row in rows) == sum(expected.values())


async def test_rule_hits_per_node_are_the_counters_of_the_range(client, db, make_user, data_set):
    day_start = datetime(2026, 11, 10, 16, 0, tzinfo=UTC)  # 2026-11-11 in China
    async with db.transaction() as session:
        flow = Flow(name="四段审单", draft=DOCUMENT, draft_saved_at=day_start, created_at=day_start)
        session.add(flow)
        await session.flush()
        assert flow.id is not None
        version = FlowVersion(flow_id=flow.id, number=2, document=DOCUMENT, published_at=day_start)
        session.add(version)
        await session.flush()
        assert version.id is not None
        counters = [
            ("n1", "next", 0, 40),
            ("n2", "true", 0, 7),
            ("n2", "false", 0, 33),
            ("n1", "next", 23, 10),
            ("n2", "false", 23, 10),
            ("n1", "next", 24, 99),  # the next China day: out of the range
            ("n1", "next", -1, 5),  # the day before
        ]
        for node, port, hour, count in counters:
            session.add(
                FlowHit(
                    version_id=version.id, node_id=node, port=port, hour=day_start + timedelta(hours=hour), count=count
                )
            )
    await as_viewer(client, make_user)
    response = await client.get(
        "/reports/hits/download/csv", params={"date_from": "2026-11-11", "date_to": "2026-11-11"}
    )
    table = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert table[0] == ["流程", "版本", "节点", "命中次数"]
    names = {node["id"]: node["name"] for node in DOCUMENT["nodes"]}
    expected: Counter[str] = Counter()
    for node, _port, hour, count in counters:
        if 0 <= hour < 24:
            expected[node] += count
    assert {(row[0], row[1], row[2]): int(row[3]) for row in table[1:]} == {
        ("四段审单", "v2", names[node]): count for node, count in expected.items()
    }
    page = (await client.get("/reports", params={"date_from": "2026-11-11", "date_to": "2026-11-11"})).text
    assert "四段审单 v2 · 高风险地址？" in page

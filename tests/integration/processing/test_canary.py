"""Canary publish through the worker's batch path: a shop's orders, or a stable share of them, take the canary
version while the others keep the live one; the side-by-side counts what each did; promote, roll back, and
the automatic rollback when the canary holds too many more orders than live."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlmodel import col, select

from app.db import Database
from app.domain.accounts.models import AuditEntry
from app.domain.accounts.services import SYSTEM, Actor
from app.domain.channels import services as channels
from app.domain.channels.models import IngestSource
from app.domain.flows import canary as canaries
from app.domain.flows import services as flows
from app.domain.flows.models import CanaryStatus, FlowCanary, FlowVersion
from app.domain.fulfillment.models import Shipment
from app.domain.processing import jobs
from app.domain.processing.models import OrderProcessing, ProcessingState
from app.domain.shops.models import Shop
from app.main import create_app
from app.settings import PROJECT_ROOT, Settings
from tests.integration.forms import login
from tests.integration.processing.conftest import generic_order

ADMIN = Actor("user", None, "admin-1")
ROUTE = [("approve", {}), ("assign_warehouse", {"strategy": "nearest"}), ("assign_carrier", {"strategy": "cheapest"})]
HOLD = [("hold_for_review", {"reason": "新规则：全部人工审核"})]


def linear_flow(actions: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """start → each action in turn → end."""
    names = ["start", *(f"a{n}" for n in range(1, len(actions) + 1)), "end"]
    nodes = [{"id": "start", "type": "start", "name": "开始", "position": {"x": 0, "y": 0}}]
    for n, (action, params) in enumerate(actions, start=1):
        config = {"action": action, "params": params}
        nodes.append(
            {"id": f"a{n}", "type": "action", "name": action, "position": {"x": 200 * n, "y": 0}, "config": config}
        )
    nodes.append({"id": "end", "type": "end", "name": "结束", "position": {"x": 200 * len(names), "y": 0}})
    edges = [
        {"id": f"e{n}", "source": source, "target": target, "port": "next"}
        for n, (source, target) in enumerate(itertools.pairwise(names), start=1)
    ]
    return {"schema": 1, "name": "灰度测试流程", "trigger": "order.received", "nodes": nodes, "edges": edges}


async def live_flow_with_draft(db: Database, draft: list[tuple[str, dict[str, Any]]]) -> tuple[int, int]:
    """A flow whose live v1 routes every order, with ``draft`` saved as its next draft: (flow id, v1 id)."""
    async with db.transaction() as session:
        flow = await flows.create_flow(session, SYSTEM, "灰度测试流程", document=linear_flow(ROUTE), priority=10)
        assert flow.id is not None
        v1 = await flows.publish(session, SYSTEM, flow.id, "v1 自动分仓")
        await flows.save_draft(session, SYSTEM, flow.id, linear_flow(draft))
    assert v1.id is not None
    return flow.id, v1.id


async def start_canary(db: Database, flow_id: int, **scope: Any) -> FlowCanary:
    async with db.transaction() as session:
        return await canaries.publish_canary(session, ADMIN, flow_id, "v2 灰度", **scope)


async def land(db: Database, settings: Settings, n: int, *, shop_code: str = "webshop", start: int = 0) -> list[int]:
    """Ingest ``n`` orders of a shop (each of a different buyer); their processing jobs are staged, not run."""
    async with db.reading() as session:
        shop = (await session.exec(select(Shop).where(Shop.code == shop_code))).one()
    ids = []
    for i in range(start, start + n):
        payload = generic_order(f"{shop_code}-{i}", lines=[("MASK-10", 1, 9900)], buyer=f"{shop_code}-buyer-{i}")
        result = await channels.ingest(db, settings, shop, payload, IngestSource.webhook)
        assert result.order_id is not None
        ids.append(result.order_id)
    return ids


async def process(db: Database, settings: Settings, ids: list[int]) -> list[dict[str, Any]]:
    """Run a batch as the worker does (the processing job's batch body, judging the canaries after it)."""
    return await jobs.process_orders({"db": db, "settings": settings}, ids)


async def versions_of(db: Database, ids: list[int]) -> dict[int, int]:
    """The version each order's processing record says processed it."""
    async with db.reading() as session:
        rows = (await session.exec(select(OrderProcessing).where(col(OrderProcessing.order_id).in_(ids)))).all()
    return {row.order_id: row.flows[0]["version_id"] for row in rows}


async def canary_row(db: Database, canary_id: int | None) -> FlowCanary:
    async with db.reading() as session:
        canary = await session.get(FlowCanary, canary_id)
    assert canary is not None
    return canary


async def audit_rows(db: Database, action: str) -> list[AuditEntry]:
    async with db.reading() as session:
        return list((await session.exec(select(AuditEntry).where(AuditEntry.action == action))).all())


async def test_orders_of_the_canary_shop_take_the_new_version_and_the_others_the_live_one(db, settings, demo_data):
    flow_id, v1 = await live_flow_with_draft(db, HOLD)
    canary = await start_canary(db, flow_id, shop_codes=["pos-sh-nanjingxilu"], min_orders=100)
    web = await land(db, settings, 3)
    till = await land(db, settings, 3, shop_code="pos-sh-nanjingxilu")

    outcomes = await process(db, settings, web + till)

    versions = await versions_of(db, web + till)
    assert {versions[i] for i in web} == {v1}
    assert {versions[i] for i in till} == {canary.version_id}
    states = {o["order_id"]: o["state"] for o in outcomes}
    assert {states[i] for i in web} == {"processed"}
    assert {states[i] for i in till} == {"held"}  # the canary version holds every order
    async with db.reading() as session:
        flow = await flows.get_flow(session, flow_id)
        stats = await canaries.stats_of(session, await canary_row(db, canary.id))
        fees = [s.fee_fen for s in (await session.exec(select(Shipment).where(col(Shipment.order_id).in_(web)))).all()]
    assert (flow.live_version_id, flow.canary_id) == (v1, canary.id)  # publishing as canary leaves live as is
    assert (stats.live.orders, stats.live.hold_rate, stats.live.failure_rate) == (3, 0.0, 0.0)
    assert (stats.canary.orders, stats.canary.hold_rate, stats.canary.failure_rate) == (3, 100.0, 0.0)
    assert len(fees) == 3 and stats.live.mean_fee_fen == round(sum(fees) / 3) and stats.live.mean_fee_fen > 0
    assert stats.canary.mean_fee_fen is None  # nothing of the canary's was routed
    (entry,) = await audit_rows(db, "flows.canary_published")
    assert (entry.actor_name, entry.after["shop_codes"], entry.after["number"]) == (
        "admin-1",
        ["pos-sh-nanjingxilu"],
        2,
    )


async def test_a_share_of_orders_is_picked_by_a_stable_bucket_of_the_order_id(db, settings, demo_data):
    flow_id, v1 = await live_flow_with_draft(db, [*ROUTE[:2], ("assign_carrier", {"code": "SF"})])
    canary = await start_canary(db, flow_id, percent="30", min_orders=1000)
    ids = await land(db, settings, 24)

    await process(db, settings, ids[:12])
    await process(db, settings, ids[12:])

    versions = await versions_of(db, ids)
    expected = {i: canary.version_id if flows.stable_bucket(i) < 30 else v1 for i in ids}
    assert versions == expected
    assert set(versions.values()) == {v1, canary.version_id}  # both versions took some of these orders


def test_the_share_holds_over_many_order_ids_and_every_process_puts_an_order_in_the_same_bucket():
    ids = range(1, 401)
    buckets = [flows.stable_bucket(i) for i in ids]
    for percent in (10, 30, 50, 90):
        share = sum(bucket < percent for bucket in buckets) / len(buckets)
        assert abs(share - percent / 100) <= 0.06, (percent, share)
    assert buckets == [flows.stable_bucket(i) for i in ids]
    # Another interpreter (its own hash seed) puts every order in the same bucket.
    script = "from app.domain.flows.services import stable_bucket; print(*(stable_bucket(i) for i in range(1, 401)))"
    other = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )
    assert [int(b) for b in other.stdout.split()] == buckets


async def test_a_canary_that_holds_more_orders_is_rolled_back_on_its_own_and_later_orders_go_live(
    db, settings, demo_data
):
    flow_id, v1 = await live_flow_with_draft(db, HOLD)
    canary = await start_canary(db, flow_id, percent=50, hold_threshold=20, min_orders=8)
    ids = await land(db, settings, 40)

    first = [i for i in ids if flows.stable_bucket(i) < 50][:4]  # too few canary orders to judge yet
    await process(db, settings, first + [i for i in ids if flows.stable_bucket(i) >= 50][:4])
    assert (await canary_row(db, canary.id)).status == CanaryStatus.running
    await process(db, settings, ids)

    ended = await canary_row(db, canary.id)
    assert ended.status == CanaryStatus.auto_rolled_back
    assert ended.end_stats is not None and ended.end_stats["canary"]["orders"] >= 8
    assert ended.end_stats["canary"]["hold_rate"] == 100.0 and ended.end_stats["live"]["hold_rate"] == 0.0
    (entry,) = await audit_rows(db, "flows.canary_auto_rolled_back")
    assert entry.actor_name == "system" and "待审核率 100.0%" in entry.after["reason"]
    assert "超过阈值 20 个百分点" in entry.after["reason"]
    async with db.reading() as session:
        flow = await flows.get_flow(session, flow_id)
    assert (flow.live_version_id, flow.canary_id) == (v1, None)
    # The orders the canary processed stay as they were; new ones of its share go to live.
    versions = await versions_of(db, ids)
    held = [i for i in ids if versions[i] == canary.version_id]
    async with db.reading() as session:
        states = {p.order_id: p.state for p in (await session.exec(select(OrderProcessing))).all()}
    assert held and {states[i] for i in held} == {ProcessingState.held}
    later = await land(db, settings, 12, start=100)
    await process(db, settings, later)
    assert any(flows.stable_bucket(i) < 50 for i in later)
    assert set((await versions_of(db, later)).values()) == {v1}
    # Judged again (the sweeper, a second worker): nothing more happens.
    assert await canaries.judge_running(db) == []
    assert len(await audit_rows(db, "flows.canary_auto_rolled_back")) == 1
    # The admin sees on the flow's pages that it was rolled back, and why. (The app is started only now: its
    # embedded worker would otherwise process the orders this test hands to the worker's batch path itself.)
    async with AsyncTestClient(create_app(settings), base_url="http://testserver.local") as client:
        await login(client, "admin", "admin-demo-123")
        page = (await client.get(f"/flows/{flow_id}/versions")).text
        editor = (await client.get(f"/flows/{flow_id}")).text
    notice = page.split('data-testid="canary-auto-rollback-notice"')[1].split("</div>")[0]
    assert "v2" in notice and "待审核率为 100.0%" in notice and "线上版本为 0.0%" in notice
    assert 'data-status="auto_rolled_back"' in page and 'data-testid="canary-form"' in page
    assert 'data-testid="editor-canary-rolled-back"' in editor and "灰度已自动回滚" in editor


async def test_a_canary_within_its_thresholds_keeps_running(db, settings, demo_data):
    flow_id, _ = await live_flow_with_draft(db, [*ROUTE[:2], ("assign_carrier", {"code": "SF"})])
    canary = await start_canary(db, flow_id, percent=50, min_orders=2)
    await process(db, settings, await land(db, settings, 16))
    assert (await canary_row(db, canary.id)).status == CanaryStatus.running
    assert await audit_rows(db, "flows.canary_auto_rolled_back") == []


async def test_promoting_makes_the_canary_version_live_for_every_order(db, settings, demo_data):
    flow_id, v1 = await live_flow_with_draft(db, HOLD)
    canary = await start_canary(db, flow_id, shop_codes=["pos-sh-nanjingxilu"])
    await process(db, settings, await land(db, settings, 2, shop_code="pos-sh-nanjingxilu"))
    async with db.transaction() as session:
        await canaries.promote(session, ADMIN, flow_id)

    async with db.reading() as session:
        flow = await flows.get_flow(session, flow_id)
    assert (flow.live_version_id, flow.canary_id) == (canary.version_id, None)
    ended = await canary_row(db, canary.id)
    assert (ended.status, ended.ended_by) == (CanaryStatus.promoted, "admin-1")
    assert ended.end_stats is not None and ended.end_stats["canary"]["orders"] == 2
    (entry,) = await audit_rows(db, "flows.canary_promoted")
    assert (entry.before["live_version_id"], entry.after["live_version_id"]) == (v1, canary.version_id)
    web = await land(db, settings, 2)
    await process(db, settings, web)
    assert set((await versions_of(db, web)).values()) == {canary.version_id}


async def test_rolling_back_leaves_the_canary_orders_as_processed_and_sends_the_shop_back_to_live(
    db, settings, demo_data
):
    flow_id, v1 = await live_flow_with_draft(db, HOLD)
    canary = await start_canary(db, flow_id, shop_codes=["pos-sh-nanjingxilu"])
    before = await land(db, settings, 2, shop_code="pos-sh-nanjingxilu")
    await process(db, settings, before)
    async with db.transaction() as session:
        await canaries.roll_back(session, ADMIN, flow_id)

    after = await land(db, settings, 2, shop_code="pos-sh-nanjingxilu", start=10)
    await process(db, settings, after)
    versions = await versions_of(db, before + after)
    assert [versions[i] for i in before] == [canary.version_id] * 2
    assert [versions[i] for i in after] == [v1] * 2
    assert (await canary_row(db, canary.id)).status == CanaryStatus.rolled_back
    (entry,) = await audit_rows(db, "flows.canary_rolled_back")
    assert entry.actor_name == "admin-1"
    async with db.reading() as session:
        # The canary's version stays in the history; it is simply not live.
        assert (await session.get(FlowVersion, canary.version_id)) is not None
        assert (await flows.get_flow(session, flow_id)).live_version_id == v1


@pytest.mark.parametrize(
    ("scope", "code"),
    [
        ({"percent": "0"}, "bad_percent"),
        ({"percent": "100"}, "bad_percent"),
        ({"percent": "一半"}, "bad_percent"),
        ({"shop_codes": ["no-such-shop"]}, "unknown_shop"),
        ({}, "canary_scope_missing"),
        ({"shop_codes": ["webshop"], "percent": "10"}, "canary_scope_both"),
        ({"percent": "10", "hold_threshold": "-1"}, "bad_threshold"),
        ({"percent": "10", "min_orders": "0"}, "bad_min_orders"),
    ],
)
async def test_a_bad_canary_is_refused_in_chinese_and_nothing_is_written(db, demo_data, scope, code):
    flow_id, v1 = await live_flow_with_draft(db, HOLD)
    with pytest.raises(flows.FlowError) as refused:
        await start_canary(db, flow_id, **scope)
    assert refused.value.code == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in refused.value.message)
    async with db.reading() as session:
        flow = await flows.get_flow(session, flow_id)
        assert (flow.live_version_id, flow.canary_id) == (v1, None)
        assert [v.number for v in await flows.list_versions(session, flow_id)] == [1]
        assert (await session.exec(select(FlowCanary))).all() == []


async def test_a_second_canary_or_a_publish_while_one_runs_is_refused(db, demo_data):
    flow_id, _ = await live_flow_with_draft(db, HOLD)
    await start_canary(db, flow_id, percent=10)
    for attempt in (
        lambda session: canaries.publish_canary(session, ADMIN, flow_id, "再来一个", percent=20),
        lambda session: flows.publish(session, ADMIN, flow_id, "直接发布"),
    ):
        with pytest.raises(flows.FlowError) as refused:
            async with db.transaction() as session:
                await attempt(session)
        assert refused.value.code == "canary_running"
        assert "v2" in refused.value.message
    async with db.reading() as session:
        assert [v.number for v in await flows.list_versions(session, flow_id)] == [2, 1]


async def test_a_canary_needs_a_live_version_and_promote_needs_a_canary(db, demo_data):
    async with db.transaction() as session:
        flow = await flows.create_flow(session, SYSTEM, "未发布", document=linear_flow(ROUTE))
    with pytest.raises(flows.FlowError) as refused:
        await start_canary(db, flow.id, percent=10)
    assert refused.value.code == "canary_needs_live"
    with pytest.raises(flows.FlowError) as refused:
        async with db.transaction() as session:
            await canaries.promote(session, ADMIN, flow.id)
    assert refused.value.code == "no_canary"

"""The review queue (放行, 驳回, 修改地址, 尾款已付), the processing monitor and the order's 处理 section.

Held orders are written straight into the database (shop, order, processing row with a stored trace) rather
than produced by running flows: these tests are about the pages and what their buttons do.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlmodel import select

from app.db import Database, utcnow
from app.domain.accounts.models import AuditEntry, Role
from app.domain.flows.models import Flow, FlowVersion
from app.domain.fulfillment.models import Shipment
from app.domain.orders.models import Order, OrderEvent, OrderLine, OrderStatus
from app.domain.processing.models import OrderProcessing, ProcessingState
from app.domain.shops.models import Channel, Shop
from app.outbox import OutboxMessage, OutboxStatus
from tests.integration.forms import csrf_from, login, post_form

HOLD_REASON = "同一地址 24 小时内订单过多，疑似刷单"
FLOW_NAME = "标准四段订单处理"
#: A small published flow: start → "same address?" → hold (yes) or approve (no) → end.
DOCUMENT: dict[str, Any] = {
    "schema": 1,
    "name": FLOW_NAME,
    "trigger": "order.received",
    "nodes": [
        {"id": "start", "type": "start", "name": "开始", "position": {"x": 0, "y": 0}, "config": {}},
        {
            "id": "same_address",
            "type": "condition",
            "name": "同一地址 24 小时内超过 3 单？",
            "position": {"x": 200, "y": 0},
            "config": {"logic": {">": [{"var": "features.same_address_24h"}, 3]}},
        },
        {
            "id": "hold",
            "type": "action",
            "name": "挂起：同地址订单过多",
            "position": {"x": 400, "y": 0},
            "config": {"action": "hold_for_review", "params": {"reason": HOLD_REASON}},
        },
        {
            "id": "approve",
            "type": "action",
            "name": "审核通过",
            "position": {"x": 400, "y": 200},
            "config": {"action": "approve"},
        },
        {"id": "end", "type": "end", "name": "结束", "position": {"x": 600, "y": 0}, "config": {}},
    ],
    "edges": [
        {"id": "e1", "source": "start", "target": "same_address", "port": "next"},
        {"id": "e2", "source": "same_address", "target": "hold", "port": "true"},
        {"id": "e3", "source": "same_address", "target": "approve", "port": "false"},
        {"id": "e4", "source": "hold", "target": "end", "port": "next"},
        {"id": "e5", "source": "approve", "target": "end", "port": "next"},
    ],
}


def held_trace(version: FlowVersion) -> list[dict[str, Any]]:
    """What the processing job stores for a run that held the order at the same-address check."""
    return [
        {
            "flow_id": version.flow_id,
            "version_id": version.id,
            "name": FLOW_NAME,
            "status": "ok",
            "path": ["start", "same_address", "hold", "end"],
            "failed_node": None,
            "error": None,
            "actions": [{"node_id": "hold", "action": "hold_for_review", "params": {"reason": HOLD_REASON}}],
            "trace": [
                {"node_id": "start", "type": "start", "name": "开始", "reads": {}, "output": None, "port": "next"},
                {
                    "node_id": "same_address",
                    "type": "condition",
                    "name": "同一地址 24 小时内超过 3 单？",
                    "reads": {"features.same_address_24h": 4},
                    "output": True,
                    "port": "true",
                    "error": None,
                },
                {
                    "node_id": "hold",
                    "type": "action",
                    "name": "挂起：同地址订单过多",
                    "reads": {},
                    "output": {"reason": HOLD_REASON},
                    "port": "next",
                    "error": None,
                },
                {"node_id": "end", "type": "end", "name": "结束", "reads": {}, "output": None, "port": None},
            ],
        }
    ]


async def make_order(
    db: Database,
    external_id: str,
    *,
    state: ProcessingState = ProcessingState.held,
    hold_code: str = "review",
    hold_reason: str = HOLD_REASON,
    status: OrderStatus = OrderStatus.on_hold,
    with_trace: bool = True,
    age: timedelta = timedelta(),
) -> int:
    """A web-shop order with its processing row in ``state`` (and the flow run that put it there)."""
    async with db.transaction() as session:
        shop = (await session.exec(select(Shop).where(Shop.code == "webshop"))).first()
        if shop is None:
            shop = Shop(channel=Channel.webshop, code="webshop", name="品牌官网商城")
            session.add(shop)
        version = (await session.exec(select(FlowVersion))).first()
        if version is None:
            flow = Flow(name=FLOW_NAME, draft=DOCUMENT, draft_saved_at=utcnow(), created_at=utcnow())
            session.add(flow)
            await session.flush()
            assert flow.id is not None
            version = FlowVersion(flow_id=flow.id, number=1, document=DOCUMENT, published_at=utcnow())
            session.add(version)
            await session.flush()
            flow.live_version_id = version.id
            session.add(flow)
        await session.flush()
        assert shop.id is not None
        now = utcnow() - age
        order = Order(
            channel=Channel.webshop,
            shop_id=shop.id,
            external_id=external_id,
            raw_status="paid",
            status=status,
            placed_at=now,
            paid_at=now,
            source_updated_at=now,
            receiver_name="刘洋",
            phone_masked="137****2222",
            province="湖北",
            city="武汉市",
            district="洪山区",
            address_masked="珞喻路****号",
            paid_fen=7900,
            items_fen=7900,
            received_at=now,
            updated_at=now,
        )
        session.add(order)
        await session.flush()
        assert order.id is not None
        session.add(OrderLine(order_id=order.id, line_id="1", sku="TEE-BLK-L", title="纯棉T恤 黑色 L", qty=1))
        session.add(
            OrderProcessing(
                order_id=order.id,
                state=state,
                order_version=order.version,
                runs=1,
                hold_code=hold_code,
                hold_reason=hold_reason,
                flows=held_trace(version) if with_trace else [],
                queued_at=now,
                finished_at=None if state == ProcessingState.queued else now,
                updated_at=now,
            )
        )
        return order.id


async def outbox_jobs(db: Database, job: str = "process_order") -> list[OutboxMessage]:
    async with db.reading() as session:
        return list((await session.exec(select(OutboxMessage).where(OutboxMessage.job == job))).all())


async def audits(db: Database, action: str) -> list[AuditEntry]:
    async with db.reading() as session:
        return list((await session.exec(select(AuditEntry).where(AuditEntry.action == action))).all())


async def htmx_post(client: Any, url: str, data: dict[str, str] | None = None) -> Any:
    """Post the way htmx does from the review page: the page's CSRF token in the header."""
    token = csrf_from((await client.get("/orders/review")).text)
    return await client.post(url, data=data or {}, headers={"HX-Request": "true", "X-CSRFToken": token})


async def test_an_operator_sees_a_held_order_with_its_reason_and_the_flow_trace(client, db, make_user):
    order_id = await make_order(db, "WS-HELD-1")
    await make_user(Role.operator, username="operator")
    await login(client, "operator")
    response = await client.get("/orders/review")
    assert response.status_code == 200
    html = response.text
    assert f'data-order-id="{order_id}"' in html
    assert HOLD_REASON in html
    assert "规则流挂起" in html  # the hold code, in Chinese
    assert "137****2222" in html and "13700002222" not in html
    assert "¥79.00" in html
    # The trace: each node on the path, what it read and the branch it took.
    assert "同一地址 24 小时内超过 3 单？" in html
    assert "features.same_address_24h" in html
    assert re.search(r'data-node="same_address" data-port="true"', html)
    assert "→ 是" in html
    assert f"{FLOW_NAME}</strong>" in html and ">v1<" in html
    for testid in ("approve", "edit-address", "reject", "reject-reason"):
        assert f'data-testid="{testid}"' in html
    assert 'data-testid="balance-paid"' not in html  # only for presale orders awaiting the balance


async def test_the_queue_filters_by_hold_code_and_leaves_out_orders_not_in_review(client, db, make_user):
    await make_order(db, "WS-SAME-ADDR")
    await make_order(
        db, "WS-NO-STOCK", state=ProcessingState.out_of_stock, hold_code="out_of_stock", hold_reason="缺货"
    )
    await make_order(db, "WS-DONE", state=ProcessingState.processed, hold_code="", hold_reason="")
    await make_user(Role.operator, username="operator")
    await login(client, "operator")
    everything = (await client.get("/orders/review")).text
    assert re.findall(r'data-external-id="([^"]+)"', everything) == ["WS-NO-STOCK", "WS-SAME-ADDR"]
    narrowed = await client.get("/orders/review?code=out_of_stock", headers={"HX-Request": "true"})
    assert re.findall(r'data-external-id="([^"]+)"', narrowed.text) == ["WS-NO-STOCK"]
    assert "<html" not in narrowed.text  # htmx gets only the list


async def test_approving_puts_the_order_back_in_the_processing_queue(client, db, make_user):
    order_id = await make_order(db, "WS-APPROVE")
    await make_user(Role.operator, username="operator")
    await login(client, "operator")
    response = await htmx_post(client, f"/orders/review/{order_id}/approve")
    assert response.status_code == 200, response.text
    assert "已放行，订单将重新处理。" in response.text
    assert f'id="review-{order_id}"' in response.text and "<html" not in response.text
    jobs = [job for job in await outbox_jobs(db) if job.args == [order_id]]
    assert len(jobs) == 1
    async with db.reading() as session:
        proc = await session.get(OrderProcessing, order_id)
        events = (await session.exec(select(OrderEvent.kind).where(OrderEvent.order_id == order_id))).all()
    assert proc is not None and proc.approved_by == "operator" and proc.approved_version == 1
    assert "review_approved" in events
    [entry] = await audits(db, "review.approve")
    assert entry.actor_name == "operator" and entry.target_id == str(order_id)
    assert entry.before == {"state": "held", "hold_code": "review", "hold_reason": HOLD_REASON}


async def test_a_viewer_may_not_approve(client, db, make_user):
    order_id = await make_order(db, "WS-VIEWER")
    await make_user(Role.viewer, username="viewer")
    await login(client, "viewer")
    assert (await client.get("/orders/review")).status_code == 403
    token = csrf_from((await client.get("/orders/")).text)
    response = await client.post(
        f"/orders/review/{order_id}/approve", data={"_csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 403
    assert await outbox_jobs(db) == []
    async with db.reading() as session:
        proc = await session.get(OrderProcessing, order_id)
    assert proc is not None and proc.state == ProcessingState.held and proc.approved_by is None


async def test_rejecting_cancels_the_order(client, db, make_user):
    order_id = await make_order(db, "WS-REJECT")
    await make_user(Role.operator, username="operator")
    await login(client, "operator")
    response = await post_form(client, "/orders/review", f"/orders/review/{order_id}/reject", {"reason": "刷单"})
    assert response.status_code == 303 and response.headers["location"] == "/orders/review"
    async with db.reading() as session:
        order = await session.get(Order, order_id)
        proc = await session.get(OrderProcessing, order_id)
    assert order is not None and order.status == OrderStatus.cancelled
    assert proc is not None and proc.state == ProcessingState.cancelled
    [entry] = await audits(db, "review.reject")
    assert entry.after == {"reason": "刷单"}
    assert f'data-order-id="{order_id}"' not in (await client.get("/orders/review")).text


async def test_a_bad_phone_in_the_address_form_shows_why_and_changes_nothing(client, db, make_user):
    order_id = await make_order(db, "WS-ADDRESS")
    await make_user(Role.operator, username="operator")
    await login(client, "operator")
    form = await client.get(f"/orders/review/{order_id}/address", headers={"HX-Request": "true"})
    assert form.status_code == 200 and 'data-testid="address-form"' in form.text
    assert 'value="刘*"' in form.text and 'value="湖北"' in form.text
    response = await htmx_post(
        client,
        f"/orders/review/{order_id}/address",
        {
            "receiver_name": "刘洋",
            "phone": "12345",
            "province": "湖北",
            "city": "武汉市",
            "district": "武昌区",
            "address": "中南路 99 号",
        },
    )
    assert response.status_code == 400
    assert "手机号应为 11 位中国大陆手机号" in response.text
    assert 'data-testid="address-form"' in response.text and 'value="中南路 99 号"' in response.text
    async with db.reading() as session:
        order = await session.get(Order, order_id)
        proc = await session.get(OrderProcessing, order_id)
    assert order is not None and order.version == 1 and order.district == "洪山区" and order.phone_cipher is None
    assert proc is not None and proc.state == ProcessingState.held
    assert await outbox_jobs(db) == []
    assert await audits(db, "review.edit_address") == []


async def test_a_corrected_address_is_saved_masked_and_the_order_processed_again(client, db, make_user):
    order_id = await make_order(db, "WS-ADDRESS-OK")
    await make_user(Role.operator, username="operator")
    await login(client, "operator")
    response = await htmx_post(
        client,
        f"/orders/review/{order_id}/address",
        {
            "receiver_name": "刘洋",
            "phone": "13912345678",
            "province": "湖北省",
            "city": "武汉市",
            "district": "武昌区",
            "address": "中南路 99 号",
        },
    )
    assert response.status_code == 200, response.text
    assert "地址已修改，订单将重新处理。" in response.text
    async with db.reading() as session:
        order = await session.get(Order, order_id)
    assert order is not None and order.version == 2 and order.phone_masked == "139****5678"
    assert [job.args for job in await outbox_jobs(db)] == [[order_id]]
    [entry] = await audits(db, "review.edit_address")
    assert entry.before is not None and entry.before["district"] == "洪山区"
    assert entry.after is not None and entry.after["phone"] == "139****5678" and "13912345678" not in str(entry.after)


async def test_a_presale_order_waiting_for_its_balance_can_be_marked_paid(client, db, make_user):
    order_id = await make_order(
        db,
        "WS-PRESALE",
        state=ProcessingState.awaiting_balance,
        hold_code="presale",
        hold_reason="预售：等待买家支付尾款",
        with_trace=False,
    )
    await make_user(Role.operator, username="operator")
    await login(client, "operator")
    assert 'data-testid="balance-paid"' in (await client.get("/orders/review")).text
    response = await htmx_post(client, f"/orders/review/{order_id}/balance-paid")
    assert response.status_code == 200
    async with db.reading() as session:
        order = await session.get(Order, order_id)
    assert order is not None and order.balance_paid
    assert [job.args for job in await outbox_jobs(db)] == [[order_id]]


async def test_an_order_already_dealt_with_is_refused_with_the_reason(client, db, make_user):
    order_id = await make_order(db, "WS-GONE", state=ProcessingState.processed, hold_code="", hold_reason="")
    await make_user(Role.operator, username="operator")
    await login(client, "operator")
    response = await htmx_post(client, f"/orders/review/{order_id}/approve")
    assert response.status_code == 400
    assert "该订单不在待审核队列中" in response.text
    assert await outbox_jobs(db) == []


async def test_the_monitor_shows_queue_depth_held_reasons_failures_and_counts(client, db, make_user):
    await make_order(db, "WS-M1")
    await make_order(db, "WS-M2")
    await make_order(db, "WS-M3", state=ProcessingState.held, hold_code="failed", hold_reason="处理出错：KeyError")
    await make_order(db, "WS-M4", state=ProcessingState.processed, hold_code="", hold_reason="")
    await make_order(
        db, "WS-M5", state=ProcessingState.processed, hold_code="", hold_reason="", age=timedelta(minutes=3)
    )
    await make_order(db, "WS-M6", state=ProcessingState.queued, hold_code="", hold_reason="")
    async with db.transaction() as session:
        now = utcnow()
        session.add(
            OutboxMessage(job="process_order", args=[999], available_at=now + timedelta(hours=1), created_at=now)
        )
        session.add(
            OutboxMessage(
                job="request_waybill",
                args=[7],
                status=OutboxStatus.failed,
                attempts=5,
                last_error="carrier down",
                available_at=now,
                finished_at=now,
                created_at=now,
            )
        )
    await make_user(Role.viewer, username="viewer")
    await login(client, "viewer")
    page = await client.get("/orders/processing")
    assert page.status_code == 200
    html = page.text
    assert "处理监控" in html
    assert 'data-testid="queue-depth" data-value="2"' in html  # one queued order + one pending job
    assert 'data-testid="held-row" data-code="review" data-count="2"' in html
    assert 'data-testid="held-row" data-code="failed" data-count="1"' in html
    assert 'data-testid="failures-total" data-value="2"' in html
    assert "carrier down" in html and "处理出错：KeyError" in html
    assert 'data-state="processed" data-count="2"' in html and 'data-state="held" data-count="3"' in html
    bars = re.findall(r'data-testid="chart-bar" data-count="(\d+)"', html)
    assert len(bars) == 30 and sum(map(int, bars)) == 5  # every run that finished in the last 30 minutes
    assert bars[-1] != "0" and "<svg" in html
    assert 'hx-trigger="every 5s"' in html
    assert 'href="/orders/review?code=review"' not in html  # a viewer may not work the queue
    fragment = await client.get("/orders/processing", headers={"HX-Request": "true"})
    assert "<html" not in fragment.text and 'hx-trigger="every 5s"' in fragment.text
    orders_page = (await client.get("/orders/")).text
    assert 'data-testid="processing-monitor-link"' in orders_page


async def test_the_order_page_shows_processing_shipments_and_the_path_through_the_flow(client, db, make_user):
    order_id = await make_order(db, "WS-DETAIL")
    async with db.transaction() as session:
        session.add(
            Shipment(
                order_id=order_id,
                ref=f"RF{order_id:08d}-1",
                warehouse_code="WH01",
                carrier_code="ZTO",
                lines=[{"line_id": "1", "sku": "TEE-BLK-L", "title": "T", "qty": 1, "is_gift": False}],
                waybill_no="ZTO123456",
                status="waybilled",
                created_at=utcnow(),
                updated_at=utcnow(),
            )
        )
    await make_user(Role.viewer, username="viewer")
    await login(client, "viewer")
    html = (await client.get(f"/orders/{order_id}")).text
    section = html[html.index('data-testid="order-processing"') :]
    assert "待人工审核" in section and HOLD_REASON in section
    assert "ZTO123456" in section and "TEE-BLK-L" in section
    on_path = re.findall(r'class="on-path[^"]*" data-testid="trace-step" data-node="([^"]+)"', section)
    assert on_path == ["start", "same_address", "hold", "end"]
    assert re.findall(r'data-testid="trace-off-path" data-node="([^"]+)"', section) == ["approve"]
    assert "v1" in section and FLOW_NAME in section


async def test_an_order_never_processed_has_no_processing_section(client, db, make_user):
    order_id = await make_order(db, "WS-NEW")
    async with db.transaction() as session:
        proc = await session.get(OrderProcessing, order_id)
        await session.delete(proc)
    await make_user(Role.viewer, username="viewer")
    await login(client, "viewer")
    response = await client.get(f"/orders/{order_id}")
    assert response.status_code == 200 and 'data-testid="order-processing"' not in response.text


async def test_the_review_and_monitor_pages_speak_english_when_asked(client, db, make_user):
    await make_order(db, "WS-EN")
    await make_user(Role.operator, username="operator")
    await login(client, "operator")
    await post_form(client, "/", "/lang", {"lang": "en", "next": "/"})
    review = (await client.get("/orders/review")).text
    assert "Held by a rule flow" in review and "Approve" in review and "→ Yes" in review
    assert HOLD_REASON in review  # the flow's own words are kept as written
    monitor = (await client.get("/orders/processing")).text
    assert "Processing monitor" in monitor and "Queue depth" in monitor and "Held for review" in monitor

"""The end of an order's life, on orders the real worker routed, the sandbox carrier waybilled and the WMS API
shipped: the carrier's signed tracking pushes (stored once; a bad signature, an unknown waybill or garbage changes
nothing), a parcel signed for delivers its order once all its parcels are, the sandbox carrier's 模拟签收 pushes
over HTTP, the platform's finished status completes a shipped order and never moves one back or completes one we
never shipped, and the sweeper completes delivered orders after their shop's days."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from app.db import CHINA, Database, utcnow
from app.domain.accounts.models import Role, TokenScope
from app.domain.accounts.services import SYSTEM
from app.domain.channels import services as channels
from app.domain.channels.models import IngestSource
from app.domain.fulfillment.models import Shipment, TrackingEvent
from app.domain.inventory import services as inventory
from app.domain.orders.models import Order, OrderEvent, OrderStatus
from app.domain.processing import jobs
from app.domain.processing.models import OrderProcessing, ProcessingState
from app.domain.shops.models import Shop
from app.outbox import OutboxMessage
from app.settings import Settings
from tests.integration.conftest import serving
from tests.integration.forms import login, post_form
from tests.integration.processing.conftest import deliver, generic_order, wait_for
from tests.integration.processing.test_actions import ROUTE, linear_flow, publish

CONFIRM = "/api/v1/shipments/confirm"


def signed(settings: Settings, body: bytes, *, secret: str | None = None, key: str | None = None) -> dict[str, str]:
    """The headers a carrier sends: its app key, and the HMAC-SHA256 of the raw body with its secret."""
    digest = hmac.new((secret or settings.carrier_api_secret).encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-App-Key": key or settings.carrier_api_key, "X-Sign": digest}


def push_body(waybill_no: str, *events: tuple[str, str, str]) -> bytes:
    """A push of (status, occurred_at, description) events, without event ids (each is what it says)."""
    return json.dumps(
        {
            "waybill_no": waybill_no,
            "events": [{"status": s, "occurred_at": at, "description": text} for s, at, text in events],
        },
        ensure_ascii=False,
    ).encode()


async def push(server: str, carrier: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        return await client.post(f"/api/v1/carriers/{carrier}/tracking", content=body, headers=headers)


async def waybilled(db: Database, order_id: int, parcels: int = 1) -> list[Shipment]:
    """Wait until the order is waybilled; its parcels, in order."""

    async def ready(session: Any) -> list[Shipment] | None:
        order = await session.get(Order, order_id)
        found = (
            await session.exec(select(Shipment).where(Shipment.order_id == order_id).order_by(col(Shipment.seq)))
        ).all()
        done = order is not None and order.status == OrderStatus.waybilled and len(found) == parcels
        return list(found) if done else None

    return list(await wait_for(db, ready, what=f"order {order_id} waybilled"))


async def ship(server: str, token: str, *numbers: str | None) -> None:
    async with httpx.AsyncClient(base_url=server, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
        answer = await c.post(CONFIRM, json={"waybill_numbers": list(numbers)})
    assert [i["outcome"] for i in answer.json()["items"]] == ["shipped"] * len(numbers), answer.text


async def shipped_order(server: str, db: Database, token: str, external_id: str, **changes: Any) -> Shipment:
    """An order delivered to the web shop, routed, waybilled and shipped for real; its one parcel."""
    payload = generic_order(external_id, lines=[("CABLE-C1", 1, 2900)], **changes)
    order_id = (await deliver(server, "webshop", "webshop", payload))["order_id"]
    (parcel,) = await waybilled(db, order_id)
    await ship(server, token, parcel.waybill_no)
    return parcel


async def state_of(db: Database, order_id: int) -> tuple[OrderStatus, list[str], int]:
    """The order's status, its parcels' statuses and how many tracking events it has."""
    async with db.reading() as session:
        order = await session.get(Order, order_id)
        parcels = (await session.exec(select(Shipment.status).where(Shipment.order_id == order_id))).all()
        events = (await session.exec(select(TrackingEvent).where(TrackingEvent.order_id == order_id))).all()
    assert order is not None
    return order.status, sorted(parcels), len(events)


async def event_keys(db: Database, prefix: str) -> list[str]:
    async with db.reading() as session:
        query = select(OutboxMessage.dedupe_key).where(col(OutboxMessage.dedupe_key).like(f"event:{prefix}:%"))
        return sorted((await session.exec(query)).all())


async def timeline(db: Database, order_id: int) -> list[OrderEvent]:
    async with db.reading() as session:
        query = select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(col(OrderEvent.id))
        return list((await session.exec(query)).all())


async def test_a_signed_push_is_stored_once_and_delivers_the_order_while_bad_ones_change_nothing(
    server, worker, db, settings, make_token
):
    token = await make_token(TokenScope.admin, name="WMS")
    parcel = await shipped_order(server, db, token, "T1")
    carrier, number = parcel.carrier_code or "", parcel.waybill_no or ""
    journey = push_body(
        number,
        ("揽收", "2026-12-01 09:00:00", "快递员已揽收"),
        ("in_transit", "2026-12-01T18:00:00+08:00", "快件已发往杭州"),
        ("delivered", "2026-12-02 10:30:00", "已签收，签收人：张伟 13800001111"),
    )

    # Refused, each with its reason, and nothing stored or changed.
    forged = await push(server, carrier, journey, signed(settings, journey, secret="not-the-secret"))
    wrong_key = await push(server, carrier, journey, signed(settings, journey, key="someone-else"))
    unsigned = await push(server, carrier, journey, {"Content-Type": "application/json"})
    assert [r.status_code for r in (forged, wrong_key, unsigned)] == [401, 401, 401]
    assert forged.json()["error"] == "bad_signature"
    unknown = push_body("NOPE-404", ("delivered", "2026-12-02 10:30:00", "已签收"))
    missing = await push(server, carrier, unknown, signed(settings, unknown))
    assert missing.status_code == 404
    assert missing.json()["message"] == f"快递公司 {carrier} 没有快递单号为 NOPE-404 的包裹。"
    elsewhere = await push(server, "NOPE", journey, signed(settings, journey))
    assert elsewhere.status_code == 404 and elsewhere.json()["message"] == "没有编码为 NOPE 的快递公司。"
    garbage = [
        b"{not json",
        b"[]",
        json.dumps({"waybill_no": number, "events": []}).encode(),
        push_body(number, ("签收了吧", "2026-12-02 10:30:00", "")),
        push_body(number, ("delivered", "yesterday", "")),
        push_body(number, ("delivered", "2026-12-02 10:30:00", "签收\u0000")),
        json.dumps({"waybill_no": number, "events": ["delivered"]}).encode(),
    ]
    for body in garbage:
        answer = await push(server, carrier, body, signed(settings, body))
        assert answer.status_code == 400, (body, answer.text)
    event_answer = await push(server, carrier, garbage[3], signed(settings, garbage[3]))
    assert "第 1 条轨迹：status 须为" in event_answer.json()["message"]
    assert await state_of(db, parcel.order_id) == (OrderStatus.shipped, ["shipped"], 0)

    first = await push(server, carrier, journey, signed(settings, journey))
    assert first.status_code == 200, first.text
    assert first.json() == {
        "waybill_no": number,
        "shipment": parcel.ref,
        "received": 3,
        "stored": 3,
        "shipment_status": "delivered",
        "order_status": "delivered",
    }
    # Pushed again (a carrier retrying), and once more with the delivery only: stored once, delivered once.
    again = await push(server, carrier, journey, signed(settings, journey))
    assert (again.json()["stored"], again.json()["order_status"]) == (0, "delivered")
    assert await state_of(db, parcel.order_id) == (OrderStatus.delivered, ["delivered"], 3)
    assert await event_keys(db, "order.delivered") == [f"event:order.delivered:{parcel.order_id}"]
    entries = [e for e in await timeline(db, parcel.order_id) if e.kind == "parcel_delivered"]
    assert [e.detail for e in entries] == [{"shipment": parcel.ref, "waybill_no": number, "carrier": carrier}]
    async with db.reading() as session:
        order = await session.get(Order, parcel.order_id)
        signed_for = (await session.exec(select(TrackingEvent).where(TrackingEvent.status == "delivered"))).one()
    assert order is not None and order.delivered_at is not None
    # The signer's name and phone, as the carrier wrote them, are masked.
    assert "13800001111" not in signed_for.description and "张伟" not in signed_for.description

    async with httpx.AsyncClient(base_url=server) as viewer:
        await login(viewer, "viewer", "viewer-demo-123")
        page = (await viewer.get(f"/orders/{parcel.order_id}")).text
    assert page.count('data-testid="tracking-event"') == 3
    assert "已揽收" in page and "快件已发往杭州" in page and "包裹已签收" in page
    assert 'data-testid="sandbox-delivery"' not in page  # a viewer ships nothing
    assert "13800001111" not in page
    # The parcel's row says when it left (the scan) and when it was signed for (the carrier's time), China time.
    async with db.reading() as session:
        shipped = await session.get(Shipment, parcel.id)
    assert shipped is not None and shipped.shipped_at is not None
    assert 'data-testid="shipment-delivered-at">2026-12-02 10:30<' in page
    assert f'data-testid="shipment-shipped-at">{shipped.shipped_at.astimezone(CHINA):%Y-%m-%d %H:%M}<' in page


@pytest.fixture
async def split_flow(db: Database, demo_data: None) -> None:
    """A flow that splits an order no single warehouse can fill (上海仓 has neither yoghurt nor T-shirts)."""
    async with db.transaction() as session:
        await inventory.record_count(session, "SH01", {"YOGURT-6": 0, "TEE-BLK-L": 0}, SYSTEM)
    await publish(db, linear_flow(*ROUTE, ("split_by_warehouse", {}), ("request_waybill", {})))


async def test_a_split_order_is_delivered_when_its_last_parcel_is_signed_for(
    db, settings, split_flow, arq_worker, make_token
):
    lines = [("YOGURT-6", 2, 3990), ("TEE-BLK-L", 1, 7900)]
    token = await make_token(TokenScope.admin)
    async with serving(settings) as server:
        payload = generic_order("S1", lines=lines, province="上海")
        order_id = (await deliver(server, "webshop", "webshop", payload))["order_id"]
        first, second = await waybilled(db, order_id, parcels=2)
        await ship(server, token, first.waybill_no, second.waybill_no)
        for parcel, expected in ((first, "shipped"), (second, "delivered")):
            body = push_body(parcel.waybill_no or "", ("delivered", "2026-12-02T10:30:00+08:00", "已签收"))
            answer = await push(server, parcel.carrier_code or "", body, signed(settings, body))
            assert answer.status_code == 200, answer.text
            assert (answer.json()["shipment_status"], answer.json()["order_status"]) == ("delivered", expected)
    assert await state_of(db, order_id) == (OrderStatus.delivered, ["delivered", "delivered"], 2)
    assert await event_keys(db, "order.delivered") == [f"event:order.delivered:{order_id}"]


async def test_the_sandbox_carrier_pushes_a_parcels_journey_to_the_webhook_when_an_operator_simulates_delivery(
    server, worker, db, make_token
):
    token = await make_token(TokenScope.admin)
    parcel = await shipped_order(server, db, token, "T2")
    async with httpx.AsyncClient(base_url=server, timeout=30) as operator:
        await login(operator, "operator", "operator-demo-123")
        url = f"/orders/{parcel.order_id}"
        before = (await operator.get(url)).text
        assert 'data-testid="sandbox-delivery"' in before and "模拟签收" in before
        simulated = await post_form(operator, url, f"{url}/sandbox-delivery", {})
        assert simulated.status_code == 303, simulated.text
        again = await post_form(operator, url, f"{url}/sandbox-delivery", {})  # nothing left shipped: no push
        assert again.status_code == 303
        page = (await operator.get(url)).text
    assert await state_of(db, parcel.order_id) == (OrderStatus.delivered, ["delivered"], 4)
    assert page.count('data-testid="tracking-event"') == 4 and "已签收，签收人：本人" in page
    assert 'data-testid="sandbox-delivery"' not in page


async def status_update(db: Database, settings: Settings, external_id: str, status: str, at: str) -> None:
    async with db.reading() as session:
        shop = (await session.exec(select(Shop).where(Shop.code == "webshop"))).one()
    payload = generic_order(external_id, lines=[("CABLE-C1", 1, 2900)], status=status, updated_at=at)
    result = await channels.ingest(db, settings, shop, payload, IngestSource.webhook)
    assert result.outcome == "updated", result


async def test_the_platforms_finished_status_completes_a_shipped_order_never_moves_it_back_nor_completes_unshipped(
    server, worker, db, settings, make_token
):
    token = await make_token(TokenScope.admin)
    parcel = await shipped_order(server, db, token, "P1")
    await status_update(db, settings, "P1", "completed", "2026-11-12 10:00:00")
    await status_update(db, settings, "P1", "shipped", "2026-11-13 10:00:00")  # a late, older word
    await status_update(db, settings, "P1", "delivered", "2026-11-14 10:00:00")
    async with db.reading() as session:
        order = await session.get(Order, parcel.order_id)
    assert order is not None and (order.status, order.raw_status) == (OrderStatus.completed, "delivered")
    assert await event_keys(db, "order.completed") == [f"event:order.completed:{parcel.order_id}"]

    # Finished on the platform while we never shipped it: kept, and held for review with the reason.
    order_id = (await deliver(server, "webshop", "webshop", generic_order("P2", lines=[("CABLE-C1", 1, 2900)])))[
        "order_id"
    ]
    await waybilled(db, order_id)
    await status_update(db, settings, "P2", "completed", "2026-11-12 10:00:00")
    async with db.reading() as session:
        held = await session.get(Order, order_id)
        proc = await session.get(OrderProcessing, order_id)
    assert held is not None and proc is not None
    assert held.status == OrderStatus.on_hold
    assert (proc.state, proc.hold_code) == (ProcessingState.held, "platform_finished")
    assert "平台显示订单已签收或已完成（completed），但本系统尚未发货" in proc.hold_reason
    assert f"event:order.completed:{order_id}" not in await event_keys(db, "order.completed")
    async with httpx.AsyncClient(base_url=server) as operator:
        await login(operator, "operator", "operator-demo-123")
        queue = (await operator.get("/orders/review")).text
    assert "平台已完成但未发货" in queue and "P2" in queue


async def test_the_sweeper_completes_delivered_orders_after_their_shops_days_once(
    db, settings, demo_data, client, make_user
):
    async with db.reading() as session:
        shop = (await session.exec(select(Shop).where(Shop.code == "webshop"))).one()
    assert shop.complete_after_days == 7
    delivered = generic_order("D1", lines=[("CABLE-C1", 1, 2900)], status="delivered")
    order_id = (await channels.ingest(db, settings, shop, delivered, IngestSource.webhook)).order_id
    assert order_id is not None
    start = utcnow()

    assert (await jobs.sweep_processing(db, settings, now=start + timedelta(days=6)))["completed"] == 0
    assert (await state_of(db, order_id))[0] == OrderStatus.delivered
    assert (await jobs.sweep_processing(db, settings, now=start + timedelta(days=7, minutes=1)))["completed"] == 1
    assert (await jobs.sweep_processing(db, settings, now=start + timedelta(days=8)))["completed"] == 0
    assert (await state_of(db, order_id))[0] == OrderStatus.completed
    assert [e.detail for e in await timeline(db, order_id) if e.kind == "auto_completed"] == [
        {"days_after_delivery": 7}
    ]
    assert await event_keys(db, "order.completed") == [f"event:order.completed:{order_id}"]

    # An admin shortens the shop's days to 2 in 渠道与店铺; a bad value is refused and changes nothing.
    await make_user(Role.admin, username="shop-admin")
    await login(client, "shop-admin")
    url = f"/channels/{shop.id}/settings"
    refused = await post_form(client, "/channels/", url, {"complete_after_days": "-1"})
    assert refused.status_code == 400 and "签收后自动完成天数须为 0 到 90 之间的整数。" in refused.text
    saved = await post_form(client, "/channels/", url, {"complete_after_days": "2"})
    assert saved.status_code == 200
    second = generic_order("D2", lines=[("CABLE-C1", 1, 2900)], status="delivered")
    second_id = (await channels.ingest(db, settings, shop, second, IngestSource.webhook)).order_id
    assert second_id is not None
    assert (await jobs.sweep_processing(db, settings, now=utcnow() + timedelta(days=1)))["completed"] == 0
    assert (await jobs.sweep_processing(db, settings, now=utcnow() + timedelta(days=2, minutes=1)))["completed"] == 1
    assert (await state_of(db, second_id))[0] == OrderStatus.completed

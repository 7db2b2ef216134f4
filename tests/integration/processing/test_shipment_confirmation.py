"""Shipment confirmation through the WMS API, on orders the real worker routed and the sandbox carrier waybilled:
the shipped units leave on hand and reserved (ledger rows that add up to the stock table), the orders become
shipped with one ``order.shipped`` event each, a repeated confirmation changes nothing, and an intercepted parcel
(its order cancelled after the waybill) or an unknown number is refused with the reason."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from app.db import Database
from app.domain.accounts.models import AuditEntry, TokenScope
from app.domain.accounts.services import SYSTEM
from app.domain.fulfillment.models import Shipment
from app.domain.inventory import services as inventory
from app.domain.inventory.models import MoveKind, Reservation, ReservationStatus, Stock, StockMove
from app.domain.orders.models import Order, OrderStatus
from app.outbox import OutboxMessage
from tests.integration.conftest import serving
from tests.integration.forms import login, post_form
from tests.integration.processing.conftest import deliver, generic_order, wait_for, wait_until_settled
from tests.integration.processing.test_actions import ROUTE, linear_flow, publish

CONFIRM = "/api/v1/shipments/confirm"


def orders() -> dict[str, dict[str, Any]]:
    """Orders the four-stage flow routes and waybills: one with a gift, one cheap, one bundle (picked as parts),
    and one the platform cancels after its waybill."""
    return {
        "A1": generic_order("A1", lines=[("PHONE-X1", 1, 399900)]),
        "B1": generic_order("B1", lines=[("CABLE-C1", 2, 2900)], province="广东", city="广州市", district="天河区"),
        "D1": generic_order(
            "D1",
            lines=[("SET-SKIN", 1, 32900)],
            province="江苏",
            city="南京市",
            district="鼓楼区",
            bundle_of="护肤套装",
        ),
        "X1": generic_order("X1", lines=[("MASK-10", 1, 9900)], buyer="buyer-x"),
    }


async def stock_table(db: Database) -> dict[tuple[str, str], tuple[int, int]]:
    async with db.reading() as session:
        return {(s.warehouse_code, s.sku_code): (s.on_hand, s.reserved) for s in (await session.exec(select(Stock)))}


async def ledger_rows(db: Database) -> list[StockMove]:
    async with db.reading() as session:
        return list((await session.exec(select(StockMove).order_by(col(StockMove.id)))).all())


async def confirm(server: str, token: str, numbers: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        return await client.post(CONFIRM, json={"waybill_numbers": numbers})


async def test_confirming_waybills_deducts_the_stock_once_and_ships_the_orders(server, worker, db, make_token):
    ids = {
        name: (await deliver(server, "webshop", "webshop", payload))["order_id"] for name, payload in orders().items()
    }
    await wait_until_settled(db, len(ids))

    async def all_waybilled(session):
        found = (await session.exec(select(Order).where(col(Order.id).in_(list(ids.values()))))).all()
        return len(found) == len(ids) and all(o.status == OrderStatus.waybilled for o in found)

    await wait_for(db, all_waybilled, what="every order waybilled")
    # The platform cancels X1 after its waybill: its parcel is intercepted (it must not leave) and keeps its stock
    # until the warehouse pulls it.
    cancel = generic_order(
        "X1", lines=[("MASK-10", 1, 9900)], buyer="buyer-x", status="cancelled", updated_at="2026-11-11 12:00:00"
    )
    await deliver(server, "webshop", "webshop", cancel)

    async def cancelled(session):
        order = await session.get(Order, ids["X1"])
        parcel = (await session.exec(select(Shipment).where(Shipment.order_id == ids["X1"]))).one()
        return order is not None and order.status == OrderStatus.cancelled and parcel.status == "intercepted"

    await wait_for(db, cancelled, what="X1 cancelled and its parcel intercepted")
    async with db.reading() as session:
        parcels = {
            s.order_id: s
            for s in (await session.exec(select(Shipment).where(col(Shipment.order_id).in_(ids.values()))))
        }
    assert len(parcels) == len(ids)
    shipping = {name: parcels[ids[name]] for name in ("A1", "B1", "D1")}
    leaving: Counter[tuple[str, str]] = Counter()
    for shipment in shipping.values():
        for line in shipment.lines:
            leaving[(shipment.warehouse_code, line["sku"])] += line["qty"]
    # The gift and the bundle's parts leave with their parcels.
    assert ("SH01", "GIFT-TOTE-01") in leaving and not any(sku == "SET-SKIN" for _, sku in leaving)
    before, moves_before = await stock_table(db), await ledger_rows(db)

    read_only = await make_token(TokenScope.read)
    denied = await confirm(server, read_only, [shipping["A1"].waybill_no])
    assert denied.status_code == 403, denied.text
    assert await stock_table(db) == before

    token = await make_token(TokenScope.admin, name="WMS")
    numbers = [s.waybill_no for s in shipping.values()]
    answer = await confirm(server, token, [*numbers, parcels[ids["X1"]].waybill_no, "NOPE-123", ""])
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    units = {s.ref: sum(line["qty"] for line in s.lines) for s in shipping.values()}
    for item, shipment in zip(items[:3], shipping.values(), strict=True):
        assert item["outcome"] == "shipped", item
        assert (item["waybill_no"], item["shipment"], item["order_status"]) == (
            shipment.waybill_no,
            shipment.ref,
            "shipped",
        )
        assert item["units"] == units[shipment.ref]
    refused_cancelled, unknown, blank = items[3:]
    assert refused_cancelled["outcome"] == "refused" and refused_cancelled["error"] == "intercepted"
    assert refused_cancelled["message"].startswith(f"拦截：快递单号 {parcels[ids['X1']].waybill_no} 的订单已取消。")
    assert unknown == {
        "waybill_no": "NOPE-123",
        "outcome": "refused",
        "error": "unknown_waybill",
        "message": "没有快递单号为 NOPE-123 的包裹。",
    }
    assert (blank["error"], blank["message"]) == ("waybill_required", "请输入快递单号。")

    # On hand falls by exactly the shipped units, so does reserved, the ledger rows add up to the change.
    after, moves_after = await stock_table(db), await ledger_rows(db)
    new_moves = moves_after[len(moves_before) :]
    assert {m.kind for m in new_moves} == {MoveKind.shipment}
    booked: Counter[tuple[str, str]] = Counter()
    for move in new_moves:
        assert move.on_hand_delta == move.reserved_delta < 0
        booked[(move.warehouse_code, move.sku_code)] -= move.on_hand_delta
    assert booked == leaving
    for key, (on_hand, reserved) in before.items():
        shipped = leaving.get(key, 0)
        assert after[key] == (on_hand - shipped, reserved - shipped), key
    # Only the intercepted parcel's unit is still reserved, waiting for the warehouse to pull it.
    assert sum(reserved for _, reserved in after.values()) == 1
    assert after[(parcels[ids["X1"]].warehouse_code, "MASK-10")][1] == 1
    async with db.reading() as session:
        assert await inventory.ledger_mismatches(session) == []
        held = (await session.exec(select(Reservation).where(Reservation.status == ReservationStatus.reserved))).all()
        statuses = {o.id: o.status for o in (await session.exec(select(Order)))}
        shipment_statuses = {s.ref: s.status for s in (await session.exec(select(Shipment)))}
        events = (
            await session.exec(
                select(OutboxMessage.dedupe_key).where(col(OutboxMessage.dedupe_key).like("event:order.shipped:%"))
            )
        ).all()
        audits = (await session.exec(select(AuditEntry).where(AuditEntry.action == "shipment.shipped"))).all()
    assert [(r.order_key, r.line_key) for r in held] == [(inventory.order_key(ids["X1"]), "1")]
    assert [statuses[ids[name]] for name in ("A1", "B1", "D1", "X1")] == [OrderStatus.shipped] * 3 + [
        OrderStatus.cancelled
    ]
    assert [shipment_statuses[s.ref] for s in shipping.values()] == ["shipped"] * 3
    assert shipment_statuses[parcels[ids["X1"]].ref] == "intercepted"
    assert sorted(events) == sorted(f"event:order.shipped:{ids[name]}" for name in ("A1", "B1", "D1"))
    assert sorted(a.target_id for a in audits) == sorted(units)
    assert {a.actor_name for a in audits} == {"token:WMS"}

    # Confirmed again (a WMS retrying): nothing changes, and each answer says it was already shipped.
    again = await confirm(server, token, numbers)
    assert again.status_code == 200, again.text
    assert [(i["outcome"], i["units"], i["order_status"]) for i in again.json()["items"]] == [
        ("already_shipped", 0, "shipped")
    ] * 3
    assert await stock_table(db) == after
    assert len(await ledger_rows(db)) == len(moves_after)
    async with db.reading() as session:
        assert len((await session.exec(select(AuditEntry).where(AuditEntry.action == "shipment.shipped"))).all()) == 3


async def test_a_confirmation_without_a_list_of_numbers_is_refused(server, make_token):
    token = await make_token(TokenScope.admin)
    for numbers in (None, [], "SF123"):
        answer = await confirm(server, token, numbers)
        assert answer.status_code == 400, answer.text
        assert answer.json()["message"] == "请以列表形式提交要确认发货的快递单号（waybill_numbers）。"
    too_many = await confirm(server, token, [f"SF{n}" for n in range(501)])
    assert too_many.status_code == 400 and too_many.json()["message"] == "一次最多确认 500 个快递单号。"


@pytest.fixture
async def split_flow(db: Database, demo_data: None) -> None:
    """A flow that splits an order no single warehouse can fill and asks for each parcel's waybill; 上海仓 has
    neither yoghurt nor T-shirts, so 华东 gets them from the 浦东 front warehouse and the store."""
    async with db.transaction() as session:
        await inventory.record_count(session, "SH01", {"YOGURT-6": 0, "TEE-BLK-L": 0}, SYSTEM)
    await publish(db, linear_flow(*ROUTE, ("split_by_warehouse", {}), ("request_waybill", {})))


async def test_a_split_order_is_shipped_when_its_last_parcel_is(db, settings, split_flow, arq_worker, make_token):
    lines = [("YOGURT-6", 2, 3990), ("TEE-BLK-L", 1, 7900)]
    async with serving(settings) as server:
        order_id = (await deliver(server, "webshop", "webshop", generic_order("S1", lines=lines, province="上海")))[
            "order_id"
        ]

        async def waybilled(session):
            order = await session.get(Order, order_id)
            return order is not None and order.status == OrderStatus.waybilled

        await wait_for(db, waybilled, what="both parcels waybilled")
        async with db.reading() as session:
            first, second = (
                await session.exec(select(Shipment).where(Shipment.order_id == order_id).order_by(col(Shipment.seq)))
            ).all()
        assert {first.warehouse_code, second.warehouse_code} == {"SH-F01", "SH-S01"}
        before = await stock_table(db)
        token = await make_token(TokenScope.admin)

        (one,) = (await confirm(server, token, [first.waybill_no])).json()["items"]
        # One parcel out of two has left: its stock only, and the order waits for the other.
        assert (one["outcome"], one["order_status"]) == ("shipped", "waybilled")
        middle = await stock_table(db)
        for line in first.lines:
            key = (first.warehouse_code, line["sku"])
            assert middle[key] == (before[key][0] - line["qty"], before[key][1] - line["qty"])
        for line in second.lines:
            key = (second.warehouse_code, line["sku"])
            assert middle[key] == before[key]

        (two,) = (await confirm(server, token, [second.waybill_no])).json()["items"]
        assert (two["outcome"], two["order_status"]) == ("shipped", "shipped")
    async with db.reading() as session:
        order = await session.get(Order, order_id)
        events = (
            await session.exec(
                select(OutboxMessage.dedupe_key).where(col(OutboxMessage.dedupe_key).like("event:order.shipped:%"))
            )
        ).all()
        assert await inventory.ledger_mismatches(session) == []
    assert order is not None and order.status == OrderStatus.shipped
    assert events == [f"event:order.shipped:{order_id}"]
    after = await stock_table(db)
    for shipment in (first, second):
        for line in shipment.lines:
            key = (shipment.warehouse_code, line["sku"])
            assert after[key] == (before[key][0] - line["qty"], before[key][1] - line["qty"])


async def test_the_scan_station_ships_a_scanned_parcel_and_says_so(server, worker, db):
    order_id = (await deliver(server, "webshop", "webshop", orders()["B1"]))["order_id"]
    await wait_until_settled(db, 1)

    async def waybill(session):
        order = await session.get(Order, order_id)
        parcel = (await session.exec(select(Shipment).where(Shipment.order_id == order_id))).first()
        return parcel.waybill_no if order is not None and order.status == OrderStatus.waybilled else None

    number = await wait_for(db, waybill, what="the order waybilled")
    async with httpx.AsyncClient(base_url=server) as viewer:
        await login(viewer, "viewer", "viewer-demo-123")
        assert (await viewer.get("/fulfillment/scan")).status_code == 403
        assert 'data-testid="scan-link"' not in (await viewer.get("/fulfillment/documents")).text
    async with httpx.AsyncClient(base_url=server) as operator:
        await login(operator, "operator", "operator-demo-123")
        assert 'data-testid="scan-link"' in (await operator.get("/fulfillment/documents")).text
        shipped = await post_form(operator, "/fulfillment/scan", "/fulfillment/scan", {"waybill_no": f" {number} "})
        again = await post_form(operator, "/fulfillment/scan", "/fulfillment/scan", {"waybill_no": number})
        unknown = await post_form(operator, "/fulfillment/scan", "/fulfillment/scan", {"waybill_no": "<b>NOPE</b>"})
    assert shipped.status_code == 200, shipped.text
    assert (
        'data-testid="scan-shipped"' in shipped.text and "已扣减 2 件" in shipped.text and "订单已发货" in shipped.text
    )
    assert 'data-testid="scan-already"' in again.text and "未做任何改动" in again.text
    assert 'data-testid="scan-refused"' in unknown.text
    assert "没有快递单号为 &lt;b&gt;NOPE&lt;/b&gt; 的包裹。" in unknown.text and "<b>NOPE</b>" not in unknown.text
    async with db.reading() as session:
        order = await session.get(Order, order_id)
        audits = (await session.exec(select(AuditEntry).where(AuditEntry.action == "shipment.shipped"))).all()
    assert order is not None and order.status == OrderStatus.shipped
    assert [a.actor_name for a in audits] == ["operator"]

"""The actions the four-stage template does not use, and the review actions: 拆单, 合单, a failed action or
node (nothing half-done), an operator's approval and rejection, a platform cancellation after routing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from app.db import Database
from app.domain.accounts.services import SYSTEM, Actor
from app.domain.channels import services as channels
from app.domain.channels.models import IngestSource
from app.domain.flows import services as flows
from app.domain.fulfillment.models import Shipment, ShippingDocument, ShippingDocumentEntry
from app.domain.inventory import services as inventory
from app.domain.inventory.models import Reservation, StockMove
from app.domain.orders.models import Order, OrderEvent, OrderStatus
from app.domain.processing import jobs, services
from app.domain.processing.models import OrderProcessing, ProcessingState
from app.domain.shops.models import Shop
from app.outbox import OutboxMessage
from app.settings import Settings
from tests.integration.processing.conftest import generic_order
from tests.samples import channels as samples

OPERATOR = Actor("user", None, "operator")


def linear_flow(*actions: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """start → each action in turn → end."""
    nodes = [{"id": "start", "type": "start", "name": "开始", "position": {"x": 0, "y": 0}}]
    edges = []
    previous = "start"
    for n, (action, params) in enumerate(actions, start=1):
        node_id = f"a{n}"
        nodes.append(
            {
                "id": node_id,
                "type": "action",
                "name": action,
                "position": {"x": 200 * n, "y": 0},
                "config": {"action": action, "params": params},
            }
        )
        edges.append({"id": f"e{n}", "source": previous, "target": node_id, "port": "next"})
        previous = node_id
    nodes.append({"id": "end", "type": "end", "name": "结束", "position": {"x": 200 * (len(actions) + 1), "y": 0}})
    edges.append({"id": "e_end", "source": previous, "target": "end", "port": "next"})
    return {"schema": 1, "name": "测试流程", "trigger": "order.received", "nodes": nodes, "edges": edges}


async def publish(db: Database, doc: dict[str, Any]) -> None:
    async with db.transaction() as session:
        flow = await flows.create_flow(session, SYSTEM, doc["name"], document=doc, priority=10)
        assert flow.id is not None
        await flows.publish(session, SYSTEM, flow.id, "测试")


async def land(db: Database, settings: Settings, payload: dict[str, Any], *, shop_code: str = "webshop") -> int:
    """Ingest an order (the web shop's by default; its processing job is staged, not run) and return its id."""
    async with db.reading() as session:
        shop = (await session.exec(select(Shop).where(Shop.code == shop_code))).one()
    result = await channels.ingest(db, settings, shop, payload, IngestSource.webhook)
    assert result.order_id is not None
    return result.order_id


async def process(db: Database, settings: Settings, order_id: int) -> dict[str, Any]:
    """Run the processing job body as a worker would."""
    return await jobs.process_order({"db": db, "settings": settings}, order_id)


async def held_stock(db: Database, order_id: int) -> list[tuple[str, str, str, int]]:
    async with db.reading() as session:
        rows = (
            await session.exec(
                select(Reservation).where(
                    Reservation.order_key == f"order:{order_id}", Reservation.status == "reserved"
                )
            )
        ).all()
    return sorted((r.line_key, r.warehouse_code, r.sku_code, r.qty) for r in rows)


async def state_of(db: Database, order_id: int) -> tuple[OrderProcessing, Order]:
    async with db.reading() as session:
        proc = await session.get(OrderProcessing, order_id)
        order = await session.get(Order, order_id)
    assert proc is not None and order is not None
    return proc, order


ROUTE = [("approve", {}), ("assign_warehouse", {"strategy": "nearest"}), ("assign_carrier", {"strategy": "cheapest"})]


async def test_an_order_no_single_warehouse_can_fill_is_split_when_the_flow_allows_it(db, settings, demo_data):
    # 浦东前置仓 has yoghurt but no T-shirts; the store has T-shirts but no yoghurt: 华东 needs two parcels
    # once 上海仓 has neither. Empty 上海仓 of both through the ledger first.
    async with db.transaction() as session:
        await inventory.record_count(session, "SH01", {"YOGURT-6": 0, "TEE-BLK-L": 0}, SYSTEM)
    await publish(db, linear_flow(*ROUTE, ("split_by_warehouse", {})))
    order_id = await land(
        db, settings, generic_order("S1", lines=[("YOGURT-6", 2, 3990), ("TEE-BLK-L", 1, 7900)], province="上海")
    )
    outcome = await process(db, settings, order_id)
    assert outcome["state"] == "processed", outcome
    async with db.reading() as session:
        shipments = (await session.exec(select(Shipment).where(Shipment.order_id == order_id))).all()
    parcels = sorted((s.warehouse_code, tuple(line["sku"] for line in s.lines)) for s in shipments)
    assert parcels == [("SH-F01", ("YOGURT-6",)), ("SH-S01", ("TEE-BLK-L",))]
    assert await held_stock(db, order_id) == [("1", "SH-F01", "YOGURT-6", 2), ("2", "SH-S01", "TEE-BLK-L", 1)]


async def test_without_split_the_same_order_is_held_for_stock_and_holds_nothing(db, settings, demo_data):
    async with db.transaction() as session:
        await inventory.record_count(session, "SH01", {"YOGURT-6": 0, "TEE-BLK-L": 0}, SYSTEM)
    await publish(db, linear_flow(*ROUTE))
    order_id = await land(
        db, settings, generic_order("S2", lines=[("YOGURT-6", 2, 3990), ("TEE-BLK-L", 1, 7900)], province="上海")
    )
    outcome = await process(db, settings, order_id)
    proc, order = await state_of(db, order_id)
    assert (outcome["state"], proc.hold_code, order.status) == ("out_of_stock", "out_of_stock", OrderStatus.on_hold)
    assert proc.hold_reason.startswith("缺货")
    assert await held_stock(db, order_id) == []


async def test_orders_of_one_buyer_to_one_address_are_merged_into_one_shipment(db, settings, demo_data):
    await publish(db, linear_flow(("approve", {}), ("merge_same_buyer", {}), *ROUTE[1:]))
    first = await land(db, settings, generic_order("M1", lines=[("MASK-10", 1, 9900)], buyer="same"))
    second = await land(
        db,
        settings,
        generic_order("M2", lines=[("SERUM-30", 1, 25900)], buyer="same", created_at="2026-11-11 10:20:00"),
    )
    other = await land(
        db, settings, generic_order("M3", lines=[("MASK-10", 1, 9900)], buyer="same", address="另一个地址 8 号")
    )
    await process(db, settings, second)
    for order_id in (first, other):
        await process(db, settings, order_id)
    merged, _ = await state_of(db, first)
    assert (merged.state, merged.merged_into) == (ProcessingState.merged, second)
    async with db.reading() as session:
        shipments = (await session.exec(select(Shipment).where(Shipment.order_id == second))).all()
        own = (await session.exec(select(Shipment).where(Shipment.order_id == first))).all()
    (parcel,) = shipments
    assert sorted((line["sku"], line["order_id"]) for line in parcel.lines) == [
        ("MASK-10", first),
        ("SERUM-30", second),
    ]
    assert own == []  # the merged order ships inside the other one
    # Another address is never merged.
    assert (await state_of(db, other))[0].state == ProcessingState.processed
    # Running the merged order's job again changes nothing.
    assert (await process(db, settings, first))["skipped"] is True


async def test_an_action_that_cannot_be_carried_out_holds_the_order_and_changes_nothing_else(db, settings, demo_data):
    await publish(
        db,
        linear_flow(
            ("approve", {}),
            ("add_tag", {"tag": "测试"}),
            ("assign_warehouse", {"strategy": "priority"}),
            ("assign_carrier", {"code": "NO-SUCH"}),
        ),
    )
    order_id = await land(db, settings, generic_order("X1", lines=[("MASK-10", 1, 9900)]))
    async with db.reading() as session:
        moves_before = len((await session.exec(select(StockMove))).all())
    outcome = await process(db, settings, order_id)
    proc, order = await state_of(db, order_id)
    assert outcome["state"] == "held"
    assert (proc.state, proc.hold_code) == (ProcessingState.held, "failed")
    assert proc.hold_reason == "规则流指定的快递 NO-SUCH 不存在或已停用"
    # Rolled back as a whole: no stock taken, no tag, no shipment; the order waits in review.
    assert await held_stock(db, order_id) == []
    assert "测试" not in order.tags and order.status == OrderStatus.on_hold
    async with db.reading() as session:
        assert len((await session.exec(select(StockMove))).all()) == moves_before
        assert (await session.exec(select(Shipment).where(Shipment.order_id == order_id))).all() == []
        kinds = (await session.exec(select(OrderEvent.kind).where(OrderEvent.order_id == order_id))).all()
    assert "processing_failed" in kinds


async def test_a_failing_node_sends_the_order_to_review_with_the_node_named(db, settings, demo_data):
    await publish(db, linear_flow(("mark_presale", {"balance_due_at": {"var": "order.presale.balance_due_at"}})))
    order_id = await land(db, settings, generic_order("X2", lines=[("MASK-10", 1, 9900)]))
    await process(db, settings, order_id)
    proc, _ = await state_of(db, order_id)
    assert proc.state == ProcessingState.held
    assert proc.hold_reason.startswith("规则流「测试流程」节点 a1 出错")


async def land_same_address(db: Database, settings: Settings, count: int = 4) -> list[int]:
    """Orders from different buyers to one address within a day: the four-stage flow holds the fourth as
    possible 刷单."""
    return [
        await land(
            db,
            settings,
            generic_order(f"R{n}", lines=[("MASK-10", 1, 9900)], buyer=f"r{n}", created_at=f"2026-11-11 11:0{n}:00"),
        )
        for n in range(count)
    ]


async def test_an_operator_approves_a_held_order_and_processing_resumes(db, settings, demo):
    # The same address a fourth time within a day: the four-stage flow holds it as possible 刷单.
    ids = await land_same_address(db, settings)
    for order_id in ids:
        await process(db, settings, order_id)
    proc, _ = await state_of(db, ids[3])
    assert (proc.state, proc.hold_reason) == (ProcessingState.held, "同一地址 24 小时内订单过多，疑似刷单")
    async with db.transaction() as session:
        await services.approve(session, ids[3], OPERATOR)
    await process(db, settings, ids[3])
    proc, order = await state_of(db, ids[3])
    assert (proc.state, proc.approved_by, order.status) == (ProcessingState.processed, "operator", OrderStatus.routed)
    assert proc.flows[0]["path"][:3] == ["start", "review_approved", "approve"]
    assert await held_stock(db, ids[3]) == [("1", "SH01", "MASK-10", 1)]
    with pytest.raises(services.ReviewError):  # no longer in the queue
        async with db.transaction() as session:
            await services.approve(session, ids[3], OPERATOR)


async def test_rejecting_or_a_platform_cancel_gives_the_stock_back(db, settings, demo):
    routed = await land(db, settings, generic_order("C1", lines=[("MASK-10", 2, 9900)]))
    await process(db, settings, routed)
    assert await held_stock(db, routed) == [("1", "SH01", "MASK-10", 2)]
    cancelled = generic_order("C1", lines=[("MASK-10", 2, 9900)], status="cancelled", updated_at="2026-11-11 12:00:00")
    await land(db, settings, cancelled)
    await process(db, settings, routed)
    proc, order = await state_of(db, routed)
    assert (proc.state, order.status) == (ProcessingState.cancelled, OrderStatus.cancelled)
    assert await held_stock(db, routed) == []

    held = await land(db, settings, generic_order("C2", lines=[("MASK-10", 1, 9900)], address=None))
    await process(db, settings, held)
    async with db.transaction() as session:
        await services.reject(session, held, OPERATOR, "地址无法联系")
    proc, order = await state_of(db, held)
    assert (proc.state, order.status) == (ProcessingState.cancelled, OrderStatus.cancelled)
    async with db.reading() as session:
        kinds = (await session.exec(select(OrderEvent.kind).where(OrderEvent.order_id == held))).all()
        documents = (await session.exec(select(Shipment).where(col(Shipment.order_id) == routed))).all()
    assert "review_rejected" in kinds
    assert {s.status for s in documents} == {"cancelled"}


async def test_a_bad_address_correction_is_refused_and_changes_nothing(db, settings, demo):
    order_id = await land(db, settings, generic_order("A1", lines=[("MASK-10", 1, 9900)], address=None))
    await process(db, settings, order_id)
    fields = {"receiver_name": "张伟", "phone": "12345", "province": "浙江", "city": "杭州市", "address": "文三路 1 号"}
    with pytest.raises(services.ReviewError, match="手机号"):
        async with db.transaction() as session:
            await services.edit_address(session, order_id, OPERATOR, settings.secret_key, fields)
    _, order = await state_of(db, order_id)
    assert order.version == 1 and order.address_masked == ""
    async with db.transaction() as session:
        await services.edit_address(
            session, order_id, OPERATOR, settings.secret_key, {**fields, "phone": "13800009999"}
        )
    await process(db, settings, order_id)
    proc, order = await state_of(db, order_id)
    assert (proc.state, order.version, order.phone_masked) == (ProcessingState.processed, 2, "138****9999")


async def test_a_rollback_routes_new_orders_the_old_way_and_the_order_records_the_version(db, settings, demo_data):
    def fixed(code: str) -> dict[str, Any]:
        return linear_flow(("approve", {}), ("assign_warehouse", {"code": code}), ("assign_carrier", {"code": "SF"}))

    async with db.transaction() as session:
        flow = await flows.create_flow(session, SYSTEM, "固定分仓", document=fixed("SH01"), priority=10)
        assert flow.id is not None
        v1 = await flows.publish(session, SYSTEM, flow.id, "v1 上海仓")
        await flows.save_draft(session, SYSTEM, flow.id, fixed("GZ01"))
        v2 = await flows.publish(session, SYSTEM, flow.id, "v2 广州仓")
    before = await land(db, settings, generic_order("V1", lines=[("MASK-10", 1, 9900)]))
    await process(db, settings, before)
    async with db.transaction() as session:
        v3 = await flows.rollback(session, SYSTEM, flow.id, v1.id, "广州仓缺人手，回到上海仓")
    after = await land(db, settings, generic_order("V2", lines=[("MASK-10", 1, 9900)], buyer="other"))
    await process(db, settings, after)
    (first, _), (second, _) = await state_of(db, before), await state_of(db, after)
    assert (first.warehouse_code, first.flows[0]["version_id"]) == ("GZ01", v2.id)
    assert (second.warehouse_code, second.flows[0]["version_id"]) == ("SH01", v3.id)


async def test_a_refunded_line_is_not_shipped_and_a_repeated_cancel_is_one_event(db, settings, demo_data):
    await publish(db, linear_flow(*ROUTE))
    order = samples.taobao_bundle_partially_refunded()  # the mask line's money went back (SUCCESS)
    order["status"] = "WAIT_SELLER_SEND_GOODS"
    order_id = await land(db, settings, order, shop_code="tmall-flagship")
    await process(db, settings, order_id)
    assert await held_stock(db, order_id) == [("1", "GZ01", "MASK-10", 1), ("1", "GZ01", "SERUM-30", 1)]

    for minute in ("21", "22"):  # the platform closes the trade, then sends the same state again later
        closed = {**order, "status": "TRADE_CLOSED", "modified": f"2026-11-03 18:{minute}:00"}
        await land(db, settings, closed, shop_code="tmall-flagship")
        await process(db, settings, order_id)
    async with db.reading() as session:
        kinds = (await session.exec(select(OrderEvent.kind).where(OrderEvent.order_id == order_id))).all()
    assert kinds.count("cancelled") == 1
    assert await held_stock(db, order_id) == []


async def test_an_order_held_for_stock_is_routed_by_the_sweeper_once_stock_arrives(db, settings, demo_data):
    await publish(db, linear_flow(*ROUTE))
    order_id = await land(db, settings, generic_order("W1", lines=[("DUMPLING-1K", 200, 4590)], province="上海"))
    await process(db, settings, order_id)
    assert (await state_of(db, order_id))[0].state == ProcessingState.out_of_stock
    async with db.transaction() as session:
        await inventory.receive(session, "SH01", "DUMPLING-1K", 300, SYSTEM, ref="po-1", note="到货")
    async with db.transaction() as session:
        counts = await services.sweep(session, stuck_after=timedelta(minutes=5), retry_stock_after=timedelta(0))
    assert counts["stock_retried"] == 1
    async with db.reading() as session:
        jobs_staged = (await session.exec(select(OutboxMessage).where(OutboxMessage.job == "process_order"))).all()
    staged = [m for m in jobs_staged if m.args == [order_id]]
    assert len(staged) == 2  # the original job and the sweeper's retry
    await process(db, settings, order_id)
    proc, order = await state_of(db, order_id)
    assert (proc.state, proc.warehouse_code, order.status) == (ProcessingState.processed, "SH01", OrderStatus.routed)


async def test_a_split_order_routed_again_whole_leaves_its_dropped_parcel_off_the_lists_and_unwaybilled(
    db, settings, demo_data
):
    async with db.transaction() as session:
        await inventory.record_count(session, "SH01", {"YOGURT-6": 0, "TEE-BLK-L": 0}, SYSTEM)
    documents = ("generate_documents", {"kinds": ["pick_list"]})
    await publish(db, linear_flow(*ROUTE, ("split_by_warehouse", {}), documents, ("request_waybill", {})))
    lines = [("YOGURT-6", 2, 3990), ("TEE-BLK-L", 1, 7900)]
    order_id = await land(db, settings, generic_order("S3", lines=lines, province="上海"))
    assert (await process(db, settings, order_id))["state"] == "processed"
    # 上海仓 is stocked again and the platform sends an update: the order now leaves whole from 上海仓.
    async with db.transaction() as session:
        await inventory.record_count(session, "SH01", {"YOGURT-6": 50, "TEE-BLK-L": 50}, SYSTEM)
    await land(db, settings, generic_order("S3", lines=lines, province="上海", updated_at="2026-11-11 11:00:00"))
    assert (await process(db, settings, order_id))["state"] == "processed"

    async with db.reading() as session:
        shipments = {
            s.ref: s for s in (await session.exec(select(Shipment).where(Shipment.order_id == order_id))).all()
        }
        listed = (
            await session.exec(
                select(ShippingDocumentEntry.order_ref)
                .join(ShippingDocument, col(ShippingDocument.id) == col(ShippingDocumentEntry.document_id))
                .where(col(ShippingDocumentEntry.order_ref).in_(list(shipments)))
            )
        ).all()
        waybills = (
            await session.exec(select(OutboxMessage.dedupe_key).where(OutboxMessage.job == "request_waybill"))
        ).all()
    first, second = f"RF{order_id:08d}-1", f"RF{order_id:08d}-2"
    assert (shipments[first].warehouse_code, shipments[first].status) == ("SH01", "pending")
    assert shipments[second].status == "cancelled"
    assert sorted(listed) == [first]
    assert f"request_waybill:{second}" in waybills  # asked for while it was a parcel, before the re-route
    assert await held_stock(db, order_id) == [("1", "SH01", "YOGURT-6", 2), ("2", "SH01", "TEE-BLK-L", 1)]

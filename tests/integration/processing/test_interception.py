"""Interception (拦截), on orders the real worker routed and the sandbox carrier waybilled: a platform's cancel after
the waybill voids the waybill at the carrier once, keeps the stock reserved, leaves the parcel flagged on the
document the warehouse printed and takes it off the one nobody printed, and makes the scan station refuse it; the
warehouse's confirmation releases the stock (ledger rows, audited) so that the units can be sold again. A refund in
full after the waybill intercepts the parcel the same way; a cancel after the parcel left keeps it shipped and asks
for a return."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from sqlmodel import col, select

from app.db import Database
from app.domain.accounts.models import AuditEntry, TokenScope
from app.domain.accounts.services import SYSTEM
from app.domain.channels import samples
from app.domain.fulfillment import jobs as fulfillment_jobs
from app.domain.fulfillment.models import Interception, Shipment, ShippingDocument, ShippingDocumentEntry
from app.domain.inventory import services as inventory
from app.domain.inventory.models import MoveKind, Reservation, ReservationStatus, Stock
from app.domain.orders.models import Order, OrderEvent, OrderStatus
from app.domain.processing import jobs as processing_jobs
from app.outbox import OutboxMessage
from app.settings import Settings
from tests.integration.conftest import BACKEND, serving
from tests.integration.forms import login, post_form
from tests.integration.processing.conftest import deliver, generic_order, wait_for
from tests.integration.processing.test_actions import ROUTE, land, linear_flow, process, publish
from tests.integration.processing.test_shipment_confirmation import confirm, ledger_rows, stock_table

CABLES = [("CABLE-C1", 2, 2900)]


async def waybilled_parcel(db: Database, order_id: int) -> Shipment:
    async def parcel(session: Any) -> Shipment | None:
        order = await session.get(Order, order_id)
        found = (await session.exec(select(Shipment).where(Shipment.order_id == order_id))).first()
        return found if order is not None and order.status == OrderStatus.waybilled else None

    found: Shipment = await wait_for(db, parcel, what="the order waybilled")
    return found


async def cancel(server: str, external_id: str) -> None:
    """The platform cancels the order (a newer version of it, status cancelled)."""
    payload = generic_order(external_id, lines=CABLES, status="cancelled", updated_at="2026-11-11 12:00:00")
    await deliver(server, "webshop", "webshop", payload)


async def sandbox_voids(server: str, waybill_no: str) -> int:
    """How many void requests the sandbox carrier got for this number."""
    async with httpx.AsyncClient(base_url=server) as client:
        answer = await client.get(f"/sandbox/carrier/waybills/{waybill_no}")
    assert answer.status_code == 200, answer.text
    return int(answer.json()["void_requests"])


async def interception_of(db: Database, ref: str) -> Interception | None:
    async with db.reading() as session:
        return (await session.exec(select(Interception).where(Interception.shipment_ref == ref))).first()


async def available(db: Database, warehouse: str, sku: str) -> int:
    async with db.reading() as session:
        stock = (
            await session.exec(select(Stock).where(Stock.warehouse_code == warehouse, Stock.sku_code == sku))
        ).one()
    return stock.available


async def reservable(db: Database, warehouse: str, sku: str, qty: int) -> bool:
    """Whether another order could take ``qty`` units of the SKU in the warehouse now (its reservation rolled back,
    so the probe leaves nothing behind)."""
    async with db.transaction() as session:
        result = await inventory.reserve(
            session, "probe:1", [inventory.ReservationLine("1", sku, qty)], warehouse, SYSTEM
        )
        await session.rollback()
    return result.ok


async def test_a_cancel_after_the_waybill_intercepts_the_parcel_until_the_warehouse_pulls_it(
    server: str, worker: Any, db: Database, settings: Settings
) -> None:
    order_id = (await deliver(server, "webshop", "webshop", generic_order("I1", lines=CABLES)))["order_id"]
    parcel = await waybilled_parcel(db, order_id)
    async with db.reading() as session:
        documents = {
            d.kind: d
            for d in (
                await session.exec(
                    select(ShippingDocument)
                    .join(ShippingDocumentEntry, col(ShippingDocumentEntry.document_id) == col(ShippingDocument.id))
                    .where(ShippingDocumentEntry.order_ref == parcel.ref)
                )
            ).all()
        }
    assert set(documents) == {"outbound_order", "pick_list"}
    pick, outbound = documents["pick_list"], documents["outbound_order"]
    async with httpx.AsyncClient(base_url=server) as operator:
        await login(operator, "operator", "operator-demo-123")
        # The warehouse prints the pick list from its page; the outbound order stays unprinted.
        printed = await post_form(
            operator, f"/fulfillment/documents/{pick.id}", f"/fulfillment/documents/{pick.id}/print", {}
        )
        assert printed.status_code == 303, printed.text
        assert "由 operator 打印" in (await operator.get(f"/fulfillment/documents/{pick.id}")).text
    before, moves_before = await stock_table(db), await ledger_rows(db)
    key = (parcel.warehouse_code, "CABLE-C1")
    available_then = await available(db, *key)

    await cancel(server, "I1")

    async def voided(session: Any) -> Interception | None:
        row = (await session.exec(select(Interception).where(Interception.shipment_ref == parcel.ref))).first()
        return row if row is not None and row.void_status == "voided" else None

    interception = await wait_for(db, voided, what="the waybill voided at the carrier")
    assert (interception.status, interception.waybill_no, interception.warehouse_code) == (
        "requested",
        parcel.waybill_no,
        parcel.warehouse_code,
    )
    assert await sandbox_voids(server, str(parcel.waybill_no)) == 1
    # The stock stays reserved: the two cables are on a packing table, not on the shelf.
    assert await stock_table(db) == before
    assert len(await ledger_rows(db)) == len(moves_before)
    async with db.reading() as session:
        order = await session.get(Order, order_id)
        held = (
            await session.exec(
                select(Reservation).where(
                    Reservation.order_key == inventory.order_key(order_id),
                    Reservation.status == ReservationStatus.reserved,
                )
            )
        ).all()
        on_outbound = (
            await session.exec(select(ShippingDocumentEntry).where(ShippingDocumentEntry.document_id == outbound.id))
        ).all()
        on_pick = (
            await session.exec(select(ShippingDocumentEntry).where(ShippingDocumentEntry.document_id == pick.id))
        ).all()
    assert order is not None and order.status == OrderStatus.cancelled
    assert sum(r.qty for r in held) == 2
    # Gone from the wave nobody printed; still on the printed pick list, flagged.
    assert parcel.ref not in {e.order_ref for e in on_outbound}
    assert parcel.ref in {e.order_ref for e in on_pick}
    assert not await reservable(db, parcel.warehouse_code, "CABLE-C1", available_then + 2)

    async with httpx.AsyncClient(base_url=server) as operator:
        await login(operator, "operator", "operator-demo-123")
        pick_page = (await operator.get(f"/fulfillment/documents/{pick.id}")).text
        outbound_page = (await operator.get(f"/fulfillment/documents/{outbound.id}")).text
        scan_page = (await operator.get("/fulfillment/scan")).text
        scanned = await post_form(operator, "/fulfillment/scan", "/fulfillment/scan", {"waybill_no": parcel.waybill_no})
    assert f'data-testid="intercept-banner" data-ref="{parcel.ref}"' in pick_page and "拦截" in pick_page
    assert parcel.ref not in outbound_page
    assert f'data-testid="intercept-banner" data-ref="{parcel.ref}"' in scan_page
    assert scanned.status_code == 200 and 'data-testid="scan-intercepted"' in scanned.text
    assert f"拦截：快递单号 {parcel.waybill_no} 的订单已取消" in scanned.text
    async with db.reading() as session:
        still = await session.get(Shipment, parcel.id)
    assert still is not None and still.status == "intercepted"
    assert await stock_table(db) == before

    # The void job delivered again (twice) asks the carrier nothing more.
    ctx = {"db": db, "settings": settings}
    for _ in range(2):
        assert "skipped" in await fulfillment_jobs.void_waybill(ctx, parcel.ref)
    assert await sandbox_voids(server, str(parcel.waybill_no)) == 1

    assert interception.id is not None
    pulled_url = f"/fulfillment/interceptions/{interception.id}/pulled"
    async with httpx.AsyncClient(base_url=server) as viewer:
        await login(viewer, "viewer", "viewer-demo-123")
        listed = await viewer.get("/fulfillment/interceptions")
        assert listed.status_code == 200 and parcel.ref in listed.text
        assert 'data-testid="interception-confirm"' not in listed.text
        denied = await post_form(viewer, "/fulfillment/interceptions", pulled_url, {})
    assert denied.status_code == 403
    assert await stock_table(db) == before

    async with httpx.AsyncClient(base_url=server) as operator:
        await login(operator, "operator", "operator-demo-123")
        listed = await operator.get(f"/fulfillment/interceptions?warehouse={parcel.warehouse_code}")
        assert f'data-testid="interception" data-ref="{parcel.ref}"' in listed.text
        done = await post_form(operator, "/fulfillment/interceptions", pulled_url, {})
        assert done.status_code == 200, done.text
        assert 'data-testid="interception-pulled"' in done.text and "已释放 2 件库存" in done.text
        assert f'data-testid="interception" data-ref="{parcel.ref}"' not in done.text
        after, moves_after = await stock_table(db), await ledger_rows(db)
        again = await post_form(operator, "/fulfillment/interceptions", pulled_url, {})
        assert again.status_code == 200 and "此前已确认" in again.text

    # Released once: the reserved units are back on sale, one release row per line, the ledger adds up.
    assert after[key] == (before[key][0], before[key][1] - 2)
    new_moves = moves_after[len(moves_before) :]
    assert [(m.kind, m.sku_code, m.reserved_delta, m.on_hand_delta) for m in new_moves] == [
        (MoveKind.release, "CABLE-C1", -2, 0)
    ]
    assert f"拦截件 {parcel.ref} 已放回货架" in new_moves[0].note
    assert await stock_table(db) == after and len(await ledger_rows(db)) == len(moves_after)
    assert await reservable(db, parcel.warehouse_code, "CABLE-C1", available_then + 2)
    async with db.reading() as session:
        assert await inventory.ledger_mismatches(session) == []
        row = (await session.exec(select(Interception).where(Interception.id == interception.id))).one()
        shipment = await session.get(Shipment, parcel.id)
        audits = (await session.exec(select(AuditEntry).where(AuditEntry.action == "interception.pulled"))).all()
        timeline = [
            e.kind
            for e in (
                await session.exec(
                    select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(col(OrderEvent.id))
                )
            ).all()
        ]
        events = (
            await session.exec(
                select(OutboxMessage.dedupe_key).where(col(OutboxMessage.dedupe_key).like("event:order.intercept%"))
            )
        ).all()
    assert (row.status, row.confirmed_by) == ("pulled", "operator") and row.confirmed_at is not None
    assert shipment is not None and shipment.status == "cancelled"
    assert [(a.actor_name, a.target_id) for a in audits] == [("operator", parcel.ref)]
    for kind in ("intercept_requested", "waybill_voided", "intercept_pulled"):
        assert kind in timeline, timeline
    assert events == [f"event:order.intercepted:{order_id}:{parcel.ref}"]


async def test_a_cancel_after_the_parcel_left_keeps_it_shipped_and_asks_for_a_return(
    server: str, worker: Any, db: Database, make_token: Any
) -> None:
    order_id = (await deliver(server, "webshop", "webshop", generic_order("L1", lines=CABLES)))["order_id"]
    parcel = await waybilled_parcel(db, order_id)
    token = await make_token(TokenScope.admin, name="WMS")
    (shipped,) = (await confirm(server, token, [parcel.waybill_no])).json()["items"]
    assert shipped["outcome"] == "shipped"
    before, moves_before = await stock_table(db), await ledger_rows(db)

    await cancel(server, "L1")

    async def left(session: Any) -> Interception | None:
        row = (await session.exec(select(Interception).where(Interception.shipment_ref == parcel.ref))).first()
        return row if row is not None and row.status == "left" else None

    interception = await wait_for(db, left, what="the interception recorded as left")
    assert interception.void_status == "not_needed"
    # Nothing to give back and nothing voided: the parcel is on its way to the buyer.
    assert await stock_table(db) == before
    assert len(await ledger_rows(db)) == len(moves_before)
    assert await sandbox_voids(server, str(parcel.waybill_no)) == 0
    async with db.reading() as session:
        shipment = await session.get(Shipment, parcel.id)
        order = await session.get(Order, order_id)
        events = (
            await session.exec(
                select(OutboxMessage).where(col(OutboxMessage.dedupe_key).like("event:order.intercept%"))
            )
        ).all()
        stock = (
            await session.exec(
                select(Stock).where(Stock.warehouse_code == parcel.warehouse_code, Stock.sku_code == "CABLE-C1")
            )
        ).one()
    assert shipment is not None and shipment.status == "shipped"
    assert order is not None and order.status == OrderStatus.cancelled
    assert [e.dedupe_key for e in events] == [f"event:order.intercept_failed:{order_id}:{parcel.ref}"]
    body = events[0].args[0]
    assert body["type"] == "order.intercept_failed"
    assert body["data"]["shipment"]["waybill_no"] == parcel.waybill_no
    assert "13800001111" not in str(body)
    assert (stock.on_hand, stock.reserved) == before[(parcel.warehouse_code, "CABLE-C1")]
    async with httpx.AsyncClient(base_url=server) as operator:
        await login(operator, "operator", "operator-demo-123")
        page = (await operator.get(f"/orders/{order_id}")).text
        listed = (await operator.get("/fulfillment/interceptions")).text
        scanned = await post_form(operator, "/fulfillment/scan", "/fulfillment/scan", {"waybill_no": parcel.waybill_no})
    assert 'data-testid="intercept-left"' in page and "已发出，需退货拦截" in page
    assert parcel.ref not in listed
    assert 'data-testid="scan-already"' in scanned.text


def tmall_trade(tid: str, *, refunded: bool = False) -> dict[str, Any]:
    """A paid Tmall trade of two cables; ``refunded``: the same trade an hour later with its one line refunded."""
    trade = samples.taobao(samples.sample_order("TM", 1, datetime(2026, 11, 11, 2, 0, tzinfo=UTC)))
    line = {**trade["orders"]["order"][0], "outer_sku_id": "CABLE-C1", "num": 2, "price": "29.00"}
    line |= {"total_fee": "58.00", "payment": "58.00", "divide_order_fee": "58.00", "is_gift": False}
    trade |= {"tid": tid, "total_fee": "58.00", "post_fee": "0.00", "discount_fee": "0.00", "payment": "58.00"}
    trade["orders"] = {"order": [line | {"refund_status": "SUCCESS" if refunded else "NO_REFUND"}]}
    if refunded:
        trade["modified"] = "2026-11-11 11:00:00"
    return trade


async def test_a_refund_in_full_after_the_waybill_intercepts_the_parcel_like_a_cancel(
    db: Database, settings: Settings, demo_data: None
) -> None:
    await publish(db, linear_flow(*ROUTE, ("request_waybill", {})))
    ctx = {"db": db, "settings": settings}
    async with serving(settings) as server:
        order_id = await land(db, settings, tmall_trade("TM-R1"), shop_code="tmall-flagship")
        assert (await process(db, settings, order_id))["state"] == "processed"
        async with db.reading() as session:
            parcel = (await session.exec(select(Shipment).where(Shipment.order_id == order_id))).one()
        assert "waybill_no" in await processing_jobs.request_waybill(ctx, parcel.id)
        before = await stock_table(db)

        await land(db, settings, tmall_trade("TM-R1", refunded=True), shop_code="tmall-flagship")
        assert (await process(db, settings, order_id))["state"] == "cancelled"
        async with db.reading() as session:
            parcel = (await session.exec(select(Shipment).where(Shipment.order_id == order_id))).one()
            order = await session.get(Order, order_id)
        interception = await interception_of(db, parcel.ref)
        assert order is not None and order.status == OrderStatus.cancelled and "refunded" in order.tags
        assert interception is not None and (interception.status, interception.reason) == (
            "requested",
            "平台已全额退款",
        )
        assert parcel.status == "intercepted" and await stock_table(db) == before

        async def voided(session: Any) -> Interception | None:
            row = (await session.exec(select(Interception).where(Interception.shipment_ref == parcel.ref))).first()
            return row if row is not None and row.void_status == "voided" else None

        if BACKEND == "postgres":  # the served app hands the void job to Redis; this test runs it as a worker would
            assert (await fulfillment_jobs.void_waybill(ctx, parcel.ref))["void"] == "voided"
        else:  # the served app's embedded worker runs it (a second caller racing it would ask the carrier twice)
            await wait_for(db, voided, what="the waybill voided")
        assert await sandbox_voids(server, str(parcel.waybill_no)) == 1

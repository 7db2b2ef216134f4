"""After-sales cases of each kind, on orders the real worker routed (and, where they shipped, the sandbox carrier
waybilled and a confirmation shipped): what each does to the orders, the stock and its ledger, and the refunds and
events finance takes. Bad requests are refused with a message and change nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import col, func, select

from app.db import Database
from app.domain.accounts.services import Actor
from app.domain.aftersales import services as aftersales
from app.domain.aftersales.models import AfterSaleCase, CaseKind, CaseSource
from app.domain.aftersales.services import AfterSaleError, CaseRequest, LineRequest, Receipt
from app.domain.fulfillment.confirmation import confirm_shipped
from app.domain.fulfillment.models import PlatformWriteback, Shipment
from app.domain.inventory.models import MoveKind, Stock, StockMove
from app.domain.orders.models import Order, OrderEvent, OrderLine, OrderStatus
from app.domain.processing.models import OrderProcessing, ProcessingState
from app.outbox import OutboxMessage
from app.settings import Settings
from tests.integration.processing.conftest import deliver, generic_order, wait_for
from tests.integration.processing.test_actions import ROUTE, held_stock, land, linear_flow, process, publish
from tests.integration.processing.test_interception import reservable, waybilled_parcel

SERVICE = Actor("user", None, "service")
TODAY = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


async def shipped_order(
    server: str, db: Database, external_id: str, lines: list[tuple[str, int, int]], **kw: Any
) -> int:
    """An order delivered to the web shop's webhook, routed and waybilled by the worker, then confirmed shipped."""
    order_id = int(
        (await deliver(server, "webshop", "webshop", generic_order(external_id, lines=lines, **kw)))["order_id"]
    )
    parcel = await waybilled_parcel(db, order_id)
    assert parcel.waybill_no
    async with db.transaction() as session:
        await confirm_shipped(session, parcel.waybill_no, SERVICE, TODAY)
    return order_id


async def routed_order(
    db: Database, settings: Settings, external_id: str, lines: list[tuple[str, int, int]], **kw: Any
) -> int:
    """An order routed by a flow without waybills: its parcel waits, not waybilled yet."""
    order_id = await land(db, settings, generic_order(external_id, lines=lines, **kw))
    await process(db, settings, order_id)
    return order_id


async def open_case(db: Database, request: CaseRequest) -> int:
    async with db.transaction() as session:
        view = await aftersales.open_case(session, SERVICE, request)
    assert view.case.id is not None
    return view.case.id


async def approve(db: Database, case_id: int) -> aftersales.CaseView:
    async with db.transaction() as session:
        return await aftersales.approve(session, case_id, SERVICE)


async def line_ids(db: Database, order_id: int) -> dict[str, str]:
    """SKU → the order line's id."""
    async with db.reading() as session:
        return {
            line.sku: line.line_id
            for line in (await session.exec(select(OrderLine).where(OrderLine.order_id == order_id))).all()
        }


async def held(db: Database, order_id: int) -> dict[str, int]:
    """SKU → units the order holds."""
    return {sku: qty for _, _, sku, qty in await held_stock(db, order_id)}


async def stock_of(db: Database, warehouse: str, sku: str) -> tuple[int, int, int]:
    """(on hand, reserved, defective)."""
    async with db.reading() as session:
        row = (
            await session.exec(select(Stock).where(Stock.warehouse_code == warehouse, Stock.sku_code == sku))
        ).first()
    return (row.on_hand, row.reserved, row.defective) if row else (0, 0, 0)


async def events_of(db: Database, kind: str) -> list[dict[str, Any]]:
    """The staged events of one type (what subscribers and finance receive), each once."""
    async with db.reading() as session:
        rows = (await session.exec(select(OutboxMessage).where(OutboxMessage.job == "publish_event"))).all()
    return [row.args[0]["data"] for row in rows if row.args[0]["type"] == kind]


async def case_row(db: Database, case_id: int) -> AfterSaleCase:
    async with db.reading() as session:
        case = await session.get(AfterSaleCase, case_id)
    assert case is not None
    return case


async def timeline(db: Database, order_id: int) -> list[str]:
    async with db.reading() as session:
        rows = (
            await session.exec(select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(col(OrderEvent.id)))
        ).all()
    return [row.kind for row in rows if row.kind.startswith("aftersale_")]


# --- 仅退款 --------------------------------------------------------------------------------------------------------


async def test_a_refund_before_shipping_takes_the_items_off_the_parcel_and_gives_their_stock_back(
    db, settings, demo_data
):
    await publish(db, linear_flow(*ROUTE))
    order_id = await routed_order(db, settings, "R1", [("CABLE-C1", 2, 2900), ("MASK-10", 1, 9900)])
    assert await held(db, order_id) == {"CABLE-C1": 2, "MASK-10": 1}
    lines = await line_ids(db, order_id)
    async with db.reading() as session:
        parcel = (await session.exec(select(Shipment).where(Shipment.order_id == order_id))).one()
    warehouse = parcel.warehouse_code
    mask_before = await stock_of(db, warehouse, "MASK-10")

    case_id = await open_case(
        db, CaseRequest(CaseKind.refund_only, order_id, [LineRequest(order_id, lines["MASK-10"], 1)], reason="不想要了")
    )
    view = await approve(db, case_id)

    assert view.case.status == "completed" and view.case.refund_status == "refunded"
    assert view.case.refund_fen == 9900 and not view.case.shipped
    assert await held(db, order_id) == {"CABLE-C1": 2}
    on_hand, reserved, _ = await stock_of(db, warehouse, "MASK-10")
    assert (on_hand, reserved) == (mask_before[0], mask_before[1] - 1)
    async with db.reading() as session:
        parcel = (await session.exec(select(Shipment).where(Shipment.order_id == order_id))).one()
        order = await session.get(Order, order_id)
    assert [line["sku"] for line in parcel.lines] == ["CABLE-C1"] and parcel.status != "cancelled"
    assert order is not None and order.status != OrderStatus.cancelled
    assert [e["refund_fen"] for e in await events_of(db, "aftersale.refunded")] == [9900]
    assert await timeline(db, order_id) == [
        "aftersale_opened",
        "aftersale_approved",
        "aftersale_refunded",
        "aftersale_completed",
    ]

    # The rest refunded too: nothing is left to ship, so the order is cancelled and holds nothing.
    rest = await open_case(
        db, CaseRequest(CaseKind.refund_only, order_id, [LineRequest(order_id, lines["CABLE-C1"], 2)])
    )
    await approve(db, rest)
    assert await held(db, order_id) == {}
    async with db.reading() as session:
        order = await session.get(Order, order_id)
        parcel = (await session.exec(select(Shipment).where(Shipment.order_id == order_id))).one()
        proc = await session.get(OrderProcessing, order_id)
    assert order is not None and order.status == OrderStatus.cancelled
    assert parcel.status == "cancelled" and proc is not None and proc.state == ProcessingState.cancelled
    assert sorted(e["refund_fen"] for e in await events_of(db, "aftersale.refunded")) == [5800, 9900]


async def test_a_phone_number_in_a_cases_reason_or_note_is_masked_when_it_is_kept(db, settings, demo_data):
    order_id = await routed_order(db, settings, "R9", [("MASK-10", 1, 9900)])
    lines = await line_ids(db, order_id)
    case_id = await open_case(
        db,
        CaseRequest(
            CaseKind.refund_only,
            order_id,
            [LineRequest(order_id, lines["MASK-10"], 1)],
            reason="破损，请联系13812345678",
            note="买家说 139 0000 1111 白天在家",
        ),
    )
    async with db.reading() as session:
        case = await session.get(AfterSaleCase, case_id)
    assert case is not None
    assert case.reason == "破损，请联系138****5678" and "13812345678" not in case.reason
    assert "0000" not in case.note and "1111" in case.note


async def test_a_refund_after_shipping_changes_no_stock_and_is_announced_once(server, worker, db):
    order_id = await shipped_order(server, db, "R2", [("CABLE-C1", 2, 2900)])
    lines = await line_ids(db, order_id)
    async with db.reading() as session:
        moves = (await session.exec(select(func.count()).select_from(StockMove))).one()
    case_id = await open_case(
        db,
        CaseRequest(
            CaseKind.refund_only,
            order_id,
            [LineRequest(order_id, lines["CABLE-C1"], 1, refund_fen=1500)],
            reason="少件",
        ),
    )
    view = await approve(db, case_id)
    assert view.case.shipped and view.case.refund_fen == 1500 and view.case.status == "completed"
    async with db.reading() as session:
        assert (await session.exec(select(func.count()).select_from(StockMove))).one() == moves
    async with db.transaction() as session:
        with pytest.raises(AfterSaleError, match=r"completed|已完成"):
            await aftersales.approve(session, case_id, SERVICE)
    assert [e["case"] for e in await events_of(db, "aftersale.refunded")] == [view.case.platform_ref]


# --- 退货退款 ------------------------------------------------------------------------------------------------------


async def test_a_returned_unit_that_passes_qc_is_sellable_at_once_and_a_failed_one_never_is(server, worker, db):
    order_id = await shipped_order(server, db, "R3", [("CABLE-C1", 2, 2900)])
    lines = await line_ids(db, order_id)
    case_id = await open_case(
        db,
        CaseRequest(
            CaseKind.return_refund,
            order_id,
            [LineRequest(order_id, lines["CABLE-C1"], 2)],
            reason="质量问题",
            refund_shipping=True,
        ),
    )
    view = await approve(db, case_id)
    assert view.case.status == "awaiting_return"
    warehouse = view.case.return_warehouse_code
    assert warehouse, "a return goes back to the warehouse it left"
    async with db.transaction() as session:
        await aftersales.record_return_waybill(session, case_id, "SF", "SF1234567890", SERVICE)
    before = await stock_of(db, warehouse, "CABLE-C1")
    free = before[0] - before[1]
    assert not await reservable(db, warehouse, "CABLE-C1", free + 1)

    line_id = view.lines[0].id
    assert line_id is not None
    async with db.transaction() as session:
        view = await aftersales.receive(
            session, case_id, [Receipt(line_id, passed=1, failed=1, reason="外壳破损")], SERVICE, expected_outstanding=2
        )
    assert view.case.status == "completed" and view.case.refund_status == "refunded"
    assert await stock_of(db, warehouse, "CABLE-C1") == (before[0] + 1, before[1], before[2] + 1)
    # The passed unit is the next order's at once; the failed one never is.
    assert await reservable(db, warehouse, "CABLE-C1", free + 1)
    assert not await reservable(db, warehouse, "CABLE-C1", free + 2)
    async with db.reading() as session:
        returned = (
            await session.exec(select(StockMove).where(StockMove.kind == MoveKind.returned).order_by(col(StockMove.id)))
        ).all()
    assert [(m.on_hand_delta, m.defective_delta) for m in returned] == [(1, 0), (0, 1)]
    assert "外壳破损" in returned[1].note
    refunded = await events_of(db, "aftersale.refunded")
    assert (
        len(refunded) == 1 and refunded[0]["lines"][0]["passed_qty"] == 1 and refunded[0]["lines"][0]["failed_qty"] == 1
    )
    assert refunded[0]["refund_fen"] == 5800 + refunded[0]["shipping_refund_fen"]

    # The same receiving page submitted again books nothing.
    async with db.transaction() as session:
        with pytest.raises(AfterSaleError):
            await aftersales.receive(session, case_id, [Receipt(line_id, passed=2)], SERVICE, expected_outstanding=2)
    assert await stock_of(db, warehouse, "CABLE-C1") == (before[0] + 1, before[1], before[2] + 1)


async def test_a_store_takes_a_return_into_its_own_stock_and_refunds_it(server, worker, db):
    order_id = await shipped_order(server, db, "R4", [("CABLE-C1", 1, 2900)])
    lines = await line_ids(db, order_id)
    assert await stock_of(db, "SH-S01", "CABLE-C1") == (0, 0, 0)
    async with db.transaction() as session:
        view = await aftersales.take_at_store(
            session,
            SERVICE,
            CaseRequest(
                CaseKind.return_refund,
                order_id,
                [LineRequest(order_id, lines["CABLE-C1"], 1)],
                source=CaseSource.store,
                store_code="SH-S01",
                reason="门店退货",
            ),
            {},
        )
    assert view.case.status == "completed" and view.case.source == "store" and view.case.refund_fen == 2900
    assert await stock_of(db, "SH-S01", "CABLE-C1") == (1, 0, 0)
    assert await reservable(db, "SH-S01", "CABLE-C1", 1)
    async with db.transaction() as session:
        with pytest.raises(AfterSaleError, match=r"store|门店"):
            await aftersales.open_case(
                session,
                SERVICE,
                CaseRequest(
                    CaseKind.return_refund,
                    order_id,
                    [LineRequest(order_id, lines["CABLE-C1"], 1)],
                    source=CaseSource.store,
                    store_code="SH01",
                ),
            )


# --- 换货 and 补发 -------------------------------------------------------------------------------------------------


async def reissued(db: Database, case_id: int) -> Order:
    case = await case_row(db, case_id)
    assert case.reissue_order_id is not None

    async def routed(session: Any) -> Order | None:
        order = await session.get(Order, case.reissue_order_id)
        return order if order is not None and order.status == OrderStatus.waybilled else None

    found: Order = await wait_for(db, routed, what="the order sent again waybilled")
    return found


async def test_a_reissue_sends_the_items_again_through_routing_at_no_charge(server, worker, db):
    order_id = await shipped_order(server, db, "R5", [("MASK-10", 2, 9900)])
    lines = await line_ids(db, order_id)
    case_id = await open_case(
        db, CaseRequest(CaseKind.reissue, order_id, [LineRequest(order_id, lines["MASK-10"], 1)], reason="少发一件")
    )
    view = await approve(db, case_id)
    assert view.case.status == "completed" and view.case.refund_fen == 0 and view.case.refund_status == "none"
    again = await reissued(db, case_id)
    assert again.id is not None
    assert again.reissue_of == order_id and again.paid_fen == 0 and "补发" in again.tags
    assert await held(db, again.id) == {"MASK-10": 1}
    async with db.reading() as session:
        original = await session.get(Order, order_id)
    assert original is not None
    assert (again.receiver_name, again.phone_cipher, again.address_cipher) == (
        original.receiver_name,
        original.phone_cipher,
        original.address_cipher,
    )
    parcel = await waybilled_parcel(db, again.id)
    assert parcel.waybill_no
    async with db.transaction() as session:
        await confirm_shipped(session, parcel.waybill_no, SERVICE, TODAY)
        row = (await session.exec(select(PlatformWriteback).where(PlatformWriteback.order_id == again.id))).first()
    # Its platform knows no such order: nothing is written back for it.
    assert row is None or row.status == "not_needed"
    assert await events_of(db, "aftersale.refunded") == []
    assert [e["reissue_order_id"] for e in await events_of(db, "aftersale.completed")] == [again.id]


async def test_an_exchange_waits_for_the_goods_then_sends_the_replacement(server, worker, db):
    order_id = await shipped_order(server, db, "R6", [("EARBUD-P2", 1, 49900)])
    lines = await line_ids(db, order_id)
    case_id = await open_case(
        db,
        CaseRequest(
            CaseKind.exchange,
            order_id,
            [LineRequest(order_id, lines["EARBUD-P2"], 1, exchange_sku="CABLE-C1")],
            reason="换款",
        ),
    )
    view = await approve(db, case_id)
    assert view.case.status == "awaiting_return" and view.case.reissue_order_id is None
    line_id = view.lines[0].id
    assert line_id is not None
    async with db.transaction() as session:
        view = await aftersales.receive(session, case_id, [Receipt(line_id, passed=1)], SERVICE)
    assert view.case.status == "completed" and view.case.refund_fen == 0
    again = await reissued(db, case_id)
    assert again.id is not None and "换货" in again.tags
    assert await held(db, again.id) == {"CABLE-C1": 1}


# --- one refund for several orders ---------------------------------------------------------------------------------


async def test_one_refund_covers_several_orders_of_one_buyer_and_no_one_elses(db, settings, demo_data):
    await publish(db, linear_flow(*ROUTE))
    first = await routed_order(db, settings, "M1", [("CABLE-C1", 1, 2900)], buyer="same-buyer", phone="13900000001")
    second = await routed_order(
        db, settings, "M2", [("MASK-10", 2, 9900)], buyer="same-buyer", phone="13900000001", address="幸福路 9 号"
    )
    stranger = await routed_order(db, settings, "M3", [("MASK-10", 1, 9900)], buyer="someone-else", phone="13700000003")
    a, b, c = (
        (await line_ids(db, first))["CABLE-C1"],
        (await line_ids(db, second))["MASK-10"],
        (await line_ids(db, stranger))["MASK-10"],
    )

    async with db.transaction() as session:
        with pytest.raises(AfterSaleError, match=r"buyer|买家"):
            await aftersales.open_case(
                session,
                SERVICE,
                CaseRequest(CaseKind.refund_only, first, [LineRequest(first, a, 1), LineRequest(stranger, c, 1)]),
            )
    case_id = await open_case(
        db,
        CaseRequest(
            CaseKind.refund_only,
            first,
            [LineRequest(first, a, 1), LineRequest(second, b, 2, refund_fen=15000)],
            reason="合并退款",
        ),
    )
    view = await approve(db, case_id)
    assert view.case.refund_fen == 2900 + 15000
    assert sorted(view.orders) == sorted([first, second])
    refunded = await events_of(db, "aftersale.refunded")
    assert len(refunded) == 1 and refunded[0]["orders"] == sorted([first, second])
    assert {(line["order_id"], line["refund_fen"]) for line in refunded[0]["lines"]} == {(first, 2900), (second, 15000)}
    # Both orders were refunded in full before shipping: both cancelled, holding nothing; the stranger's untouched.
    async with db.reading() as session:
        statuses = {o.id: o.status for o in (await session.exec(select(Order))).all()}
    assert statuses[first] == statuses[second] == OrderStatus.cancelled and statuses[stranger] != OrderStatus.cancelled
    assert await held(db, first) == {} and await held(db, second) == {} and await held(db, stranger) == {"MASK-10": 1}
    assert await timeline(db, second) == await timeline(db, first)


# --- refusals ---------------------------------------------------------------------------------------------------


async def test_a_case_beyond_what_was_bought_or_paid_is_refused_and_changes_nothing(db, settings, demo_data):
    await publish(db, linear_flow(*ROUTE))
    order_id = await routed_order(db, settings, "B1", [("CABLE-C1", 2, 2900)])
    line = (await line_ids(db, order_id))["CABLE-C1"]
    bad = [
        (CaseRequest(CaseKind.refund_only, order_id, [LineRequest(order_id, line, 3)]), "between 1 and 2|1 到 2"),
        (CaseRequest(CaseKind.refund_only, order_id, [LineRequest(order_id, line, 1, refund_fen=2901)]), "¥29.00"),
        (CaseRequest(CaseKind.refund_only, order_id, [LineRequest(order_id, "nope", 1)]), "nope"),
        (CaseRequest(CaseKind.refund_only, order_id, []), "at least one|至少"),
        (CaseRequest(CaseKind.return_refund, order_id, [LineRequest(order_id, line, 1)]), "not shipped|尚未发货"),
    ]
    for request, message in bad:
        async with db.transaction() as session:
            with pytest.raises(AfterSaleError, match=message):
                await aftersales.open_case(session, SERVICE, request)
    first = await open_case(db, CaseRequest(CaseKind.refund_only, order_id, [LineRequest(order_id, line, 2)]))
    # Every unit is claimed by the open case: another is refused until that one is refused.
    async with db.transaction() as session:
        with pytest.raises(AfterSaleError, match=r"between 1 and 0|1 到 0"):
            await aftersales.open_case(
                session, SERVICE, CaseRequest(CaseKind.refund_only, order_id, [LineRequest(order_id, line, 1)])
            )
    async with db.transaction() as session:
        await aftersales.refuse(session, first, SERVICE, "买家已撤销")
    assert await held(db, order_id) == {"CABLE-C1": 2}
    async with db.reading() as session:
        assert (await session.exec(select(func.count()).select_from(AfterSaleCase))).one() == 1
    await open_case(db, CaseRequest(CaseKind.refund_only, order_id, [LineRequest(order_id, line, 1)]))

"""Booking: an order delivered or completed writes its sale voucher, a refund its red-letter one, each once, through
the events the orders and after-sales domains record and the outbox job finance runs on them."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel import col, func, select

from app import worker as worker_module
from app.db import Database, utcnow
from app.domain.aftersales.models import CaseKind
from app.domain.aftersales.services import CaseRequest, LineRequest, Receipt
from app.domain.finance import ledger
from app.domain.finance.models import (
    ChannelFinance,
    FinanceEvent,
    Period,
    PeriodStatus,
    TaxRate,
    Voucher,
    VoucherLine,
)
from app.domain.fulfillment.models import Carrier, Shipment
from app.domain.inventory.models import Sku
from app.domain.orders import services as orders
from app.domain.orders.models import Order, OrderStatus
from app.events import FINANCE_JOB
from app.outbox import OutboxMessage, OutboxStatus
from app.settings import Settings
from tests.integration.aftersales.test_cases import SERVICE, approve, line_ids, open_case, routed_order
from tests.integration.processing.conftest import wait_for
from tests.integration.processing.test_actions import ROUTE, linear_flow, publish

Line = tuple[str, str, str, int, int, str]


async def price_the_catalogue(db: Database) -> None:
    """Cost prices, a lower VAT for 美妆 and the web shop's commission, as finance would have set them."""
    async with db.transaction() as session:
        for code, cost in (("CABLE-C1", 1200), ("MASK-10", 3500), ("SERUM-30", 8000)):
            sku = (await session.exec(select(Sku).where(Sku.code == code))).one()
            sku.cost_fen = cost
            session.add(sku)
        session.add(TaxRate(category="美妆", rate_bp=900, updated_at=utcnow()))
        session.add(ChannelFinance(channel="webshop", commission_bp=500, partner="官网收款", updated_at=utcnow()))


async def book_staged(db: Database, settings: Settings) -> list[Any]:
    """Run the finance jobs staged so far, as a worker runs an outbox message."""
    async with db.reading() as session:
        messages = (
            await session.exec(
                select(OutboxMessage)
                .where(OutboxMessage.job == FINANCE_JOB, OutboxMessage.status == OutboxStatus.pending)
                .order_by(col(OutboxMessage.id))
            )
        ).all()
    ctx = {"db": db, "settings": settings}
    return [await worker_module.run_outbox_job(ctx, *m.args, outbox_id=m.id, job=m.job) for m in messages]


async def set_status(db: Database, order_id: int, status: OrderStatus) -> None:
    async with db.transaction() as session:
        order = await session.get(Order, order_id)
        assert order is not None
        await orders.set_status(session, order, status)


async def vouchers(db: Database) -> list[tuple[Voucher, list[Line]]]:
    """Every voucher with its lines as (kind, account, partner, debit, credit, sku)."""
    async with db.reading() as session:
        found = (await session.exec(select(Voucher).order_by(col(Voucher.id)))).all()
        result = []
        for voucher in found:
            lines = (
                await session.exec(
                    select(VoucherLine).where(VoucherLine.voucher_id == voucher.id).order_by(col(VoucherLine.position))
                )
            ).all()
            result.append(
                (
                    voucher,
                    [(x.line_kind, x.account_code, x.partner, x.debit_fen, x.credit_fen, x.sku or "") for x in lines],
                )
            )
    return result


async def counts(db: Database) -> tuple[int, int, int]:
    async with db.reading() as session:
        return (
            (await session.exec(select(func.count()).select_from(Voucher))).one(),
            (await session.exec(select(func.count()).select_from(VoucherLine))).one(),
            (await session.exec(select(func.count()).select_from(FinanceEvent))).one(),
        )


async def parcel_of(db: Database, order_id: int) -> tuple[int, str]:
    """The order's one parcel: its carrier fee and its carrier's name."""
    async with db.reading() as session:
        parcel = (await session.exec(select(Shipment).where(Shipment.order_id == order_id))).one()
        carrier = (await session.exec(select(Carrier).where(Carrier.code == parcel.carrier_code))).one()
    return parcel.fee_fen, carrier.name


async def test_a_delivered_order_books_one_balanced_sale_voucher_and_replays_write_nothing(db, settings, demo_data):
    """The worked example: the web shop sells 2 × 快充数据线 (3C, 13 % VAT, cost 12.00) at 29.00 and 1 × 补水面膜
    (美妆, set to 9 % here, cost 35.00) at 99.00; the buyer pays 157.00; the platform keeps 5 %; the parcel's carrier
    charges F.

        Dr 1122    应收账款 (官网收款)          157.00
            Cr 6001        主营业务收入 CABLE-C1      51.33   (58.00 / 1.13 = 51.327…)
            Cr 2221.01.06  销项税额 CABLE-C1           6.67
            Cr 6001        主营业务收入 MASK-10       90.83   (99.00 / 1.09 = 90.825…)
            Cr 2221.01.06  销项税额 MASK-10            8.17
        Dr 6601.01 平台佣金                           7.85   (157.00 × 5 %)
            Cr 2202.01     应付账款—平台佣金 (官网收款)  7.85
        Dr 6601.02 快递运费                           F
            Cr 2202.02     应付账款—快递费 (the carrier) F
        Dr 6401    主营业务成本                      59.00   (2 × 12.00 + 35.00)
            Cr 1405        库存商品                   59.00
    """
    await price_the_catalogue(db)
    await publish(db, linear_flow(*ROUTE))
    order_id = await routed_order(db, settings, "F1", [("CABLE-C1", 2, 2900), ("MASK-10", 1, 9900)])
    fee, carrier = await parcel_of(db, order_id)
    assert fee > 0

    await set_status(db, order_id, OrderStatus.delivered)
    (booked,) = await book_staged(db, settings)
    assert booked["outcome"] == "booked"

    ((voucher, lines),) = await vouchers(db)
    assert lines == [
        ("receivable", "1122", "官网收款", 15700, 0, ""),
        ("revenue", "6001", "", 0, 5133, "CABLE-C1"),
        ("output_vat", "2221.01.06", "", 0, 667, "CABLE-C1"),
        ("revenue", "6001", "", 0, 9083, "MASK-10"),
        ("output_vat", "2221.01.06", "", 0, 817, "MASK-10"),
        ("commission", "6601.01", "", 785, 0, ""),
        ("commission_payable", "2202.01", "官网收款", 0, 785, ""),
        ("freight", "6601.02", "", fee, 0, ""),
        ("freight_payable", "2202.02", carrier, 0, fee, ""),
        ("cost_of_goods", "6401", "", 5900, 0, ""),
        ("inventory", "1405", "", 0, 5900, ""),
    ]
    assert voucher.debit_fen == voucher.credit_fen == 15700 + 785 + fee + 5900
    assert (voucher.kind, voucher.status, voucher.word, voucher.number, voucher.red) == (
        "sale",
        "draft",
        "记",
        1,
        False,
    )
    assert (
        voucher.order_id == order_id and voucher.channel == "webshop" and voucher.source_key == f"sale:order:{order_id}"
    )
    assert voucher.period == ledger.period_of(voucher.voucher_date)

    # The same event again (a redelivered job), and the order completed later: nothing new is written.
    before = await counts(db)
    async with db.reading() as session:
        message = (await session.exec(select(OutboxMessage).where(OutboxMessage.job == FINANCE_JOB))).one()
    again = await worker_module.JOBS[FINANCE_JOB]({"db": db, "settings": settings}, *message.args)
    assert again["voucher_id"] == voucher.id and await counts(db) == before
    await set_status(db, order_id, OrderStatus.completed)
    (completed,) = await book_staged(db, settings)
    assert completed["outcome"] == "already_booked" and completed["voucher_id"] == voucher.id
    assert await counts(db) == (before[0], before[1], before[2] + 1)


async def wait_for_vouchers(db: Database, count: int) -> list[tuple[Voucher, list[Line]]]:
    """The vouchers, once the worker has written ``count`` of them."""

    async def written(session: Any) -> bool:
        return (await session.exec(select(func.count()).select_from(Voucher))).one() >= count

    await wait_for(db, written, what=f"{count} vouchers")
    return await vouchers(db)


async def test_a_partial_refund_books_the_red_letter_share_and_a_returned_unit_its_cost(server, worker, db, settings):
    """Of an order like the worked example's, shipped for real, 15.00 of the two cables is refunded (仅退款, nothing
    comes back): red 15.00 receivable, 13.27 revenue + 1.73 VAT (15.00 / 1.13), 0.75 commission; no cost. Then the
    面膜 is returned, passes quality check and is refunded 99.00: red 99.00, 90.83 + 8.17, 4.95 commission, and its
    35.00 cost back in stock. The worker books each as its event is recorded."""
    from app.domain.aftersales import services as aftersales
    from tests.integration.aftersales.test_cases import shipped_order

    await price_the_catalogue(db)
    order_id = await shipped_order(server, db, "F2", [("CABLE-C1", 2, 2900), ("MASK-10", 1, 9900)])
    await set_status(db, order_id, OrderStatus.delivered)
    ((sale, _),) = await wait_for_vouchers(db, 1)
    ids = await line_ids(db, order_id)

    case_id = await open_case(
        db, CaseRequest(CaseKind.refund_only, order_id, [LineRequest(order_id, ids["CABLE-C1"], 1, refund_fen=1500)])
    )
    await approve(db, case_id)
    red, lines = (await wait_for_vouchers(db, 2))[1]
    assert (red.kind, red.red, red.reverses_id, red.case_id, red.number) == ("refund", True, sale.id, case_id, 2)
    assert lines == [
        ("receivable", "1122", "官网收款", -1500, 0, ""),
        ("revenue", "6001", "", 0, -1327, "CABLE-C1"),
        ("output_vat", "2221.01.06", "", 0, -173, "CABLE-C1"),
        ("commission", "6601.01", "", -75, 0, ""),
        ("commission_payable", "2202.01", "官网收款", 0, -75, ""),
    ]
    assert red.debit_fen == red.credit_fen == -1575

    returned = await open_case(
        db, CaseRequest(CaseKind.return_refund, order_id, [LineRequest(order_id, ids["MASK-10"], 1)], reason="过敏")
    )
    view = await approve(db, returned)
    line_id = view.lines[0].id
    assert line_id is not None
    async with db.transaction() as session:
        await aftersales.receive(session, returned, [Receipt(line_id, passed=1)], SERVICE, expected_outstanding=1)
    _, lines = (await wait_for_vouchers(db, 3))[2]
    assert lines == [
        ("receivable", "1122", "官网收款", -9900, 0, ""),
        ("revenue", "6001", "", 0, -9083, "MASK-10"),
        ("output_vat", "2221.01.06", "", 0, -817, "MASK-10"),
        ("commission", "6601.01", "", -495, 0, ""),
        ("commission_payable", "2202.01", "官网收款", 0, -495, ""),
        ("cost_of_goods", "6401", "", -3500, 0, ""),
        ("inventory", "1405", "", 0, -3500, ""),
    ]

    # Every finance event given again (a redelivered job) writes nothing new.
    async def all_booked(session: Any) -> bool:
        return (await session.exec(select(func.count()).select_from(FinanceEvent))).one() == 3

    await wait_for(db, all_booked, what="three finance events")
    before = await counts(db)
    async with db.reading() as session:
        messages = (await session.exec(select(OutboxMessage).where(OutboxMessage.job == FINANCE_JOB))).all()
    assert len(messages) == 3
    for message in messages:
        await worker_module.JOBS[FINANCE_JOB]({"db": db, "settings": settings}, *message.args)
    assert await counts(db) == before


async def test_a_refund_made_before_the_sale_is_booked_with_it(db, settings, demo_data):
    await price_the_catalogue(db)
    await publish(db, linear_flow(*ROUTE))
    order_id = await routed_order(db, settings, "F3", [("CABLE-C1", 2, 2900), ("MASK-10", 1, 9900)])
    ids = await line_ids(db, order_id)
    case_id = await open_case(
        db, CaseRequest(CaseKind.refund_only, order_id, [LineRequest(order_id, ids["MASK-10"], 1)], reason="不想要了")
    )
    await approve(db, case_id)
    (waiting,) = await book_staged(db, settings)
    assert waiting["outcome"] == "nothing_to_book" and await counts(db) == (0, 0, 1)

    await set_status(db, order_id, OrderStatus.delivered)
    (booked,) = await book_staged(db, settings)
    (sale, sale_lines), (red, red_lines) = await vouchers(db)
    assert booked["voucher_id"] == sale.id and red.case_id == case_id and red.reverses_id == sale.id
    # The 面膜 never left (refunded before shipping): the sale books the cables' cost only, and the red letter none.
    assert [line for line in sale_lines if line[0] == "cost_of_goods"] == [("cost_of_goods", "6401", "", 2400, 0, "")]
    assert red_lines[0] == ("receivable", "1122", "官网收款", -9900, 0, "")
    assert all(line[0] != "cost_of_goods" for line in red_lines)


async def test_an_event_after_its_month_was_closed_lands_in_the_open_month_with_a_note(db, settings, demo_data):
    await price_the_catalogue(db)
    await publish(db, linear_flow(*ROUTE))
    order_id = await routed_order(db, settings, "F4", [("CABLE-C1", 1, 2900)])
    await set_status(db, order_id, OrderStatus.delivered)
    async with db.reading() as session:
        message = (await session.exec(select(OutboxMessage).where(OutboxMessage.job == FINANCE_JOB))).one()
    event = dict(message.args[0], occurred_at="2026-10-31T15:00:00Z")  # 2026-10-31 23:00 in China
    async with db.transaction() as session:
        session.add(
            Period(period="2026-10", status=PeriodStatus.closed.value, closed_by="陈静", last_numbers={"记": 7})
        )
    await worker_module.JOBS[FINANCE_JOB]({"db": db, "settings": settings}, event)
    ((voucher, _),) = await vouchers(db)
    assert (voucher.period, voucher.voucher_date, voucher.number) == ("2026-11", date(2026, 11, 1), 1)
    assert "2026-10 已结账" in voucher.note


async def test_the_worker_books_an_order_signed_for_by_the_carrier(server, worker, db, settings):
    """Through the served app and its worker: a parcel shipped and signed for by the carrier's tracking push."""
    from tests.integration.aftersales.test_cases import shipped_order
    from tests.integration.processing.test_tracking import push, push_body, signed

    await price_the_catalogue(db)
    order_id = await shipped_order(server, db, "F5", [("CABLE-C1", 1, 2900)])
    async with db.reading() as session:
        parcel = (await session.exec(select(Shipment).where(Shipment.order_id == order_id))).one()
    body = push_body(parcel.waybill_no or "", ("delivered", "2026-12-03T10:30:00+08:00", "已签收"))
    answer = await push(server, parcel.carrier_code or "", body, signed(settings, body))
    assert answer.status_code == 200, answer.text

    async def booked(session: Any) -> Voucher | None:
        return (await session.exec(select(Voucher).where(Voucher.order_id == order_id))).first()

    voucher = await wait_for(db, booked, what="the sale voucher")
    assert voucher.debit_fen == voucher.credit_fen and voucher.debit_fen >= 2900 + 1200
    async with db.reading() as session:
        event = (await session.exec(select(FinanceEvent).where(FinanceEvent.order_id == order_id))).one()
    assert event.outcome == "booked" and event.voucher_id == voucher.id


async def test_orders_finished_before_finance_was_set_up_are_booked_once_by_book_missing(db, settings, demo_data):
    """An order delivered with no finance event (as before an upgrade) gets its sale voucher from
    ``ruleflow finance book-missing``, dated the day it was delivered; a second run books nothing."""
    from datetime import UTC, datetime

    from app.domain.finance.posting import book_missing

    await price_the_catalogue(db)
    await publish(db, linear_flow(*ROUTE))
    order_id = await routed_order(db, settings, "F6", [("MASK-10", 1, 9900)])
    async with db.transaction() as session:
        order = await session.get(Order, order_id)
        assert order is not None
        order.status, order.delivered_at = OrderStatus.delivered, datetime(2026, 11, 20, 17, 0, tzinfo=UTC)
        session.add(order)
    assert await book_missing(db, batch=1) == 1
    ((voucher, lines),) = await vouchers(db)
    assert voucher.voucher_date == date(2026, 11, 21) and voucher.period == "2026-11"  # 01:00 in China
    assert lines[0] == ("receivable", "1122", "官网收款", 9900, 0, "")
    assert await book_missing(db) == 0 and len(await vouchers(db)) == 1


async def test_a_worker_books_a_batch_of_events_in_one_go_each_order_once(db, settings, demo_data):
    """The workers take finance's messages many at a time: two orders delivered then completed (four events) give
    two sale vouchers, and the same batch run again books nothing more."""
    await price_the_catalogue(db)
    await publish(db, linear_flow(*ROUTE))
    first = await routed_order(db, settings, "FB1", [("CABLE-C1", 1, 2900)])
    second = await routed_order(db, settings, "FB2", [("MASK-10", 2, 9900)])
    for order_id in (first, second):
        await set_status(db, order_id, OrderStatus.delivered)
        await set_status(db, order_id, OrderStatus.completed)
    async with db.reading() as session:
        ids = list(
            (
                await session.exec(
                    select(OutboxMessage.id).where(OutboxMessage.job == FINANCE_JOB).order_by(col(OutboxMessage.id))
                )
            ).all()
        )
    assert len(ids) == 4
    ctx = {"db": db, "settings": settings}

    results = await worker_module.run_outbox_batch(ctx, [i for i in ids if i is not None], job=FINANCE_JOB)

    assert [r["outcome"] for r in results] == ["booked", "already_booked", "booked", "already_booked"]
    found = await vouchers(db)
    assert sorted(v.source_key for v, _ in found) == sorted(f"sale:order:{i}" for i in (first, second))
    assert all(sum(x[3] for x in lines) == sum(x[4] for x in lines) for _, lines in found)
    before = await counts(db)
    assert await worker_module.run_outbox_batch(ctx, [i for i in ids if i is not None], job=FINANCE_JOB) == []
    assert await counts(db) == before

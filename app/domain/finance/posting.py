"""Booking (过账): the finance events the other domains record become vouchers, each written once.

``events.record`` gives finance every ``order.delivered``, ``order.completed`` and ``aftersale.refunded`` as an
outbox job (``book_finance_event``, ``jobs.py``) staged in the transaction of the change, so an event is booked
exactly when its change was committed and however often it is delivered:

- an order's first of delivered/completed writes its sale voucher (``sale:order:{id}``); the second finds it;
- a refund writes its red-letter voucher (``refund:case:{id}``) once the sale vouchers of all its orders exist,
  else it waits for them: booking a sale also books the refunds that were waiting for it;
- every event is kept in ``finance_events`` with what it did, and a replayed event id writes nothing.

Amounts come from the database at booking time (the order's lines, the parcels that left and their carriers'
fees, the SKUs' cost prices and categories), through the pure arithmetic of ``entries.py``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import CHINA, Database, insert_rows, utcnow
from app.domain.aftersales.models import AfterSaleCase, AfterSaleLine, RefundStatus
from app.domain.finance import ledger, margins
from app.domain.finance.entries import (
    Entry,
    Refund,
    RefundLine,
    Sale,
    SaleLine,
    apportion,
    assert_balanced,
    refund_entries,
    sale_entries,
)
from app.domain.finance.models import FinanceEvent, Voucher, VoucherKind, VoucherLine
from app.domain.fulfillment.models import Carrier, Shipment
from app.domain.inventory.models import Sku
from app.domain.orders.models import Order, OrderLine, OrderStatus
from app.domain.processing.models import OrderProcessing
from app.events import EventType

SALE_EVENTS = frozenset({EventType.order_delivered.value, EventType.order_completed.value})


class Outcome(StrEnum):
    """What booking an event did (``FinanceEvent.outcome``)."""

    booked = "booked"
    already_booked = "already_booked"
    nothing_to_book = "nothing_to_book"


def sale_key(order_id: int) -> str:
    return f"sale:order:{order_id}"


def refund_key(case_id: int) -> str:
    return f"refund:case:{case_id}"


async def book_event(session: AsyncSession, event: dict[str, Any]) -> FinanceEvent:
    """Book one recorded event (``{id, type, occurred_at, data}``) in the caller's transaction, once per event id."""
    seen = await session.get(FinanceEvent, event["id"])
    if seen is not None:
        return seen
    kind, data = event["type"], event.get("data") or {}
    day = _day_of(event.get("occurred_at"))
    order_id: int | None = None
    case_id: int | None = None
    if kind in SALE_EVENTS:
        order_id = int(data["order"]["id"])
        voucher, outcome, note = await book_sale(session, order_id, day, event_id=event["id"])
    elif kind == EventType.aftersale_refunded.value:
        case_id = int(data["case_id"])
        voucher, outcome, note = await book_refund(session, case_id, day, event_id=event["id"])
    else:
        voucher, outcome, note = None, Outcome.nothing_to_book, f"finance books no {kind}"
    row = {
        "event_id": event["id"],
        "type": kind,
        "order_id": order_id,
        "case_id": case_id,
        "voucher_id": voucher.id if voucher is not None else None,
        "outcome": outcome,
        "note": note[:300],
        "at": utcnow(),
    }
    await insert_rows(session, FinanceEvent, [row], skip_duplicates_of=("event_id",))
    recorded = await session.get(FinanceEvent, event["id"])
    assert recorded is not None
    return recorded


async def book_sale(
    session: AsyncSession, order_id: int, day: date, *, event_id: str | None = None
) -> tuple[Voucher | None, str, str]:
    """The order's sale voucher, written the first time; then the refunds of its that were waiting for it."""
    existing = await voucher_of(session, sale_key(order_id))
    if existing is not None:
        return _found(existing)
    order = await session.get(Order, order_id)
    if order is None:
        return None, Outcome.nothing_to_book, "订单不存在"
    chart = await ledger.load_chart(session)
    sale = await _sale_of(session, order, chart)
    voucher = await store_voucher(
        session,
        source_key=sale_key(order_id),
        kind=VoucherKind.sale,
        voucher_date=day,
        summary=f"销售 {sale.platform} 订单 {order.external_id}",
        entries=sale_entries(sale),
        chart=chart,
        channel=order.channel,
        shop_id=order.shop_id,
        order_id=order_id,
        source_event_id=event_id,
    )
    if voucher is None:
        return _found(await voucher_of(session, sale_key(order_id)))
    for case_id in await _refunds_waiting_for(session, order_id):
        await book_refund(session, case_id, day)
    return voucher, Outcome.booked, voucher.note


async def book_refund(
    session: AsyncSession, case_id: int, day: date, *, event_id: str | None = None
) -> tuple[Voucher | None, str, str]:
    """The case's red-letter voucher: the refunded share of its orders' sales (once; after their sales)."""
    existing = await voucher_of(session, refund_key(case_id))
    if existing is not None:
        return _found(existing)
    case = await session.get(AfterSaleCase, case_id)
    if case is None:
        return None, Outcome.nothing_to_book, "售后单不存在"
    if case.refund_status != RefundStatus.refunded.value or case.refund_fen <= 0:
        return None, Outcome.nothing_to_book, "没有退款"
    lines = (await session.exec(select(AfterSaleLine).where(AfterSaleLine.case_id == case_id))).all()
    order_ids = sorted({line.order_id for line in lines} or {case.order_id})
    sales = {o: await voucher_of(session, sale_key(o)) for o in order_ids}
    if any(v is None for v in sales.values()):
        return None, Outcome.nothing_to_book, "订单尚未确认收入：收入记账时一并冲销"
    chart = await ledger.load_chart(session)
    refund = await _refund_of(session, case, list(lines), chart)
    first = sales[case.order_id] if case.order_id in sales else sales[order_ids[0]]
    assert first is not None
    order = await session.get(Order, case.order_id)
    voucher = await store_voucher(
        session,
        source_key=refund_key(case_id),
        kind=VoucherKind.refund,
        voucher_date=day,
        summary=f"退款 {case.platform_ref} 订单 {order.external_id if order else case.order_id}",
        entries=refund_entries(refund),
        chart=chart,
        channel=case.channel,
        shop_id=case.shop_id,
        order_id=case.order_id,
        case_id=case_id,
        red=True,
        reverses_id=first.id,
        source_event_id=event_id,
    )
    if voucher is None:
        return _found(await voucher_of(session, refund_key(case_id)))
    return voucher, Outcome.booked, voucher.note


async def store_voucher(
    session: AsyncSession,
    *,
    source_key: str,
    kind: VoucherKind,
    voucher_date: date,
    summary: str,
    entries: list[Entry],
    chart: ledger.Chart | None = None,
    channel: str = "",
    shop_id: int | None = None,
    order_id: int | None = None,
    case_id: int | None = None,
    red: bool = False,
    reverses_id: int | None = None,
    source_event_id: str | None = None,
    note: str = "",
) -> Voucher | None:
    """Write a balanced voucher for ``source_key`` in the caller's transaction, numbered in the open period its date
    falls in (a closed month's voucher lands on the first day of the next open one, with a note); None, and nothing
    written, when that source has its voucher already."""
    assert_balanced(entries)
    period, moved = await ledger.open_period_for(session, voucher_date)
    # Checked under the period's lock, which every writer of this period takes first.
    if await voucher_of(session, source_key) is not None:
        return None
    if moved:
        voucher_date = date(int(period.period[:4]), int(period.period[5:7]), 1)
    chart = chart or await ledger.load_chart(session)
    voucher = Voucher(
        source_key=source_key,
        source_event_id=source_event_id,
        kind=kind.value,
        red=red,
        reverses_id=reverses_id,
        period=period.period,
        word=ledger.VOUCHER_WORD,
        number=await ledger.next_number(session, period),
        voucher_date=voucher_date,
        channel=channel,
        shop_id=shop_id,
        order_id=order_id,
        case_id=case_id,
        summary=summary[:200],
        debit_fen=sum(e.debit_fen for e in entries),
        credit_fen=sum(e.credit_fen for e in entries),
        note="；".join(n for n in (note, moved) if n)[:300],
        created_at=utcnow(),
    )
    session.add(voucher)
    await session.flush()
    assert voucher.id is not None
    for position, entry in enumerate(entries, start=1):
        code, name = chart.account(entry.kind, channel)
        session.add(
            VoucherLine(
                voucher_id=voucher.id,
                position=position,
                line_kind=entry.kind.value,
                account_code=code,
                account_name=name,
                summary=f"{summary} {entry.summary}"[:200],
                debit_fen=entry.debit_fen,
                credit_fen=entry.credit_fen,
                partner=entry.partner[:100],
                sku=entry.sku,
            )
        )
    await session.flush()
    await margins.count_voucher(session, voucher, entries)
    return voucher


def _found(voucher: Voucher | None) -> tuple[Voucher | None, str, str]:
    """Another event (or this one, before) booked the source already."""
    note = f"{voucher.word}-{voucher.number} 已记账" if voucher is not None else "已记账"
    return voucher, Outcome.already_booked, note


async def voucher_of(session: AsyncSession, source_key: str) -> Voucher | None:
    return (await session.exec(select(Voucher).where(Voucher.source_key == source_key))).first()


async def _sale_of(session: AsyncSession, order: Order, chart: ledger.Chart) -> Sale:
    """The facts of an order's sale: its paid lines, its shipping, its parcels' fees and what left the warehouse."""
    assert order.id is not None
    lines = (await session.exec(select(OrderLine).where(OrderLine.order_id == order.id))).all()
    paid_lines = [line for line in lines if not line.is_gift]
    line_paid = [line.paid_fen for line in paid_lines]
    extra = order.paid_fen - sum(line_paid)
    if extra < 0:
        # An order-level discount the platform did not spread over the lines: spread it by what each paid.
        line_paid = apportion(order.paid_fen, line_paid)
        extra = 0
    shipments, own_items = await _parcels_of(session, order)
    skus = await _skus(session, {line.sku for line in paid_lines} | {item[0] for item in own_items})
    carriers = await _carrier_names(session, {s.carrier_code for s in shipments if s.carrier_code})
    freight: dict[str, int] = defaultdict(int)
    for shipment in shipments:
        if shipment.fee_fen:
            code = shipment.carrier_code or ""
            freight[carriers.get(code, code)] += shipment.fee_fen
    return Sale(
        channel=order.channel,
        platform=chart.partner(order.channel),
        lines=[
            SaleLine(line.sku or line.seller_sku, paid, chart.tax_bp(_category(skus, line.sku)))
            for line, paid in zip(paid_lines, line_paid, strict=True)
        ],
        shipping_paid_fen=extra,
        commission_bp=chart.commission_bp(order.channel),
        freight_fen=dict(freight),
        shipping_tax_bp=chart.tax_bp(""),
        shipped=[(sku, qty, _cost(skus, sku), gift) for sku, qty, gift in own_items],
    )


async def _parcels_of(session: AsyncSession, order: Order) -> tuple[list[Shipment], list[tuple[str, int, bool]]]:
    """The parcels whose fees the order pays (none when it was merged into another order's) and its own items in
    whichever parcels carried them: (sku, qty, is_gift)."""
    assert order.id is not None
    proc = await session.get(OrderProcessing, order.id)
    home = proc.merged_into if proc is not None and proc.merged_into is not None else order.id
    shipments = (
        await session.exec(
            select(Shipment)
            .where(Shipment.order_id == home, col(Shipment.status) != "cancelled")
            .order_by(col(Shipment.seq))
        )
    ).all()
    items = [
        (str(item.get("sku") or ""), int(item.get("qty") or 0), bool(item.get("is_gift")))
        for shipment in shipments
        for item in shipment.lines
        if int(item.get("order_id") or shipment.order_id) == order.id and item.get("sku")
    ]
    return (list(shipments) if home == order.id else []), items


async def _refund_of(
    session: AsyncSession, case: AfterSaleCase, lines: list[AfterSaleLine], chart: ledger.Chart
) -> Refund:
    skus = await _skus(session, {line.sku for line in lines})
    gift_lines = set(
        (
            await session.exec(
                select(OrderLine.order_id, OrderLine.line_id).where(
                    col(OrderLine.order_id).in_({line.order_id for line in lines}), col(OrderLine.is_gift)
                )
            )
        ).all()
    )
    line_total = sum(line.refund_fen for line in lines)
    return Refund(
        platform=chart.partner(case.channel),
        lines=[
            RefundLine(
                sku=line.sku,
                refund_fen=line.refund_fen,
                tax_bp=chart.tax_bp(_category(skus, line.sku)),
                returned_qty=line.passed_qty,
                cost_fen=_cost(skus, line.sku),
                is_gift=(line.order_id, line.line_id) in gift_lines,
            )
            for line in lines
        ],
        # What the buyer got back beyond the lines: the shipping refunded (refund_fen holds both).
        shipping_refund_fen=max(case.refund_fen - line_total, 0),
        commission_bp=chart.commission_bp(case.channel),
        shipping_tax_bp=chart.tax_bp(""),
    )


async def _refunds_waiting_for(session: AsyncSession, order_id: int) -> list[int]:
    """Refunded cases of this order with no voucher yet (they waited for its sale)."""
    by_line = select(AfterSaleLine.case_id).where(AfterSaleLine.order_id == order_id)
    cases = (
        await session.exec(
            select(AfterSaleCase.id).where(
                (col(AfterSaleCase.order_id) == order_id) | col(AfterSaleCase.id).in_(by_line),
                AfterSaleCase.refund_status == RefundStatus.refunded.value,
            )
        )
    ).all()
    return [
        case_id for case_id in cases if case_id is not None and await voucher_of(session, refund_key(case_id)) is None
    ]


async def _skus(session: AsyncSession, codes: set[str]) -> dict[str, Sku]:
    codes.discard("")
    if not codes:
        return {}
    return {sku.code: sku for sku in (await session.exec(select(Sku).where(col(Sku.code).in_(codes)))).all()}


async def _carrier_names(session: AsyncSession, codes: set[str | None]) -> dict[str, str]:
    wanted = {code for code in codes if code}
    if not wanted:
        return {}
    rows = (await session.exec(select(Carrier.code, Carrier.name).where(col(Carrier.code).in_(wanted)))).all()
    return dict(rows)


def _category(skus: dict[str, Sku], code: str) -> str:
    sku = skus.get(code)
    return sku.category if sku is not None else ""


def _cost(skus: dict[str, Sku], code: str) -> int:
    sku = skus.get(code)
    return sku.cost_fen if sku is not None else 0


def _day_of(occurred_at: str | None) -> date:
    """The day (China time) an event happened: its voucher's date."""
    moment = datetime.fromisoformat(occurred_at.replace("Z", "+00:00")) if occurred_at else utcnow()
    return moment.astimezone(CHINA).date()


async def book_missing(db: Database, *, batch: int = 500) -> int:
    """Book the sale voucher of every delivered or completed order that has none (orders finished before finance
    was set up, or whose event failed for good), dated the day each was delivered, a batch per transaction; then
    the refunds waiting for them. Safe to run again: it books what is still missing. The number of sales booked."""
    booked = 0
    after = 0
    while True:
        async with db.transaction() as session:
            has_sale = select(Voucher.id).where(Voucher.order_id == Order.id, Voucher.kind == VoucherKind.sale.value)
            rows = (
                await session.exec(
                    select(Order.id, Order.delivered_at, Order.updated_at)
                    .where(
                        col(Order.status).in_([OrderStatus.delivered, OrderStatus.completed]),
                        col(Order.id) > after,
                        ~has_sale.exists(),
                    )
                    .order_by(col(Order.id))
                    .limit(batch)
                )
            ).all()
            for order_id, delivered_at, updated_at in rows:
                assert order_id is not None
                day = (delivered_at or updated_at).astimezone(CHINA).date()
                _, outcome, _ = await book_sale(session, order_id, day)
                booked += outcome == Outcome.booked
                after = order_id
        if len(rows) < batch:
            return booked

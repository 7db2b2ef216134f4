"""Small factories for the finance tests: shops, delivered orders, refund cases, commission rates, vouchers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from app.db import Database
from app.domain.aftersales.models import AfterSaleCase, CaseKind, CaseSource, CaseStatus, RefundStatus
from app.domain.finance.entries import Entry
from app.domain.finance.models import ChannelFinance, LineKind, VoucherKind
from app.domain.finance.posting import store_voucher
from app.domain.orders.models import Order, OrderStatus
from app.domain.shops.models import Channel, Shop

BILLS = Path(__file__).resolve().parents[2] / "samples" / "bills"
#: 2026-11-30 12:00 in China.
DELIVERED = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)


def bill(name: str) -> bytes:
    return (BILLS / name).read_bytes()


async def add_shop(db: Database, channel: Channel, code: str | None = None) -> int:
    async with db.transaction() as session:
        shop = Shop(channel=channel, code=code or f"{channel.value}-books", name=f"{channel.value} 财务测试店")
        session.add(shop)
        await session.flush()
        assert shop.id is not None
        return shop.id


async def set_commission(db: Database, channel: str, commission_bp: int) -> None:
    async with db.transaction() as session:
        row = await session.get(ChannelFinance, channel)
        row = row or ChannelFinance(channel=channel, updated_at=DELIVERED)
        row.commission_bp = commission_bp
        session.add(row)


async def add_order(
    db: Database,
    shop_id: int,
    channel: str,
    external_id: str,
    paid_fen: int,
    *,
    status: OrderStatus = OrderStatus.delivered,
    delivered_at: datetime | None = DELIVERED,
) -> int:
    """An order of ``channel`` paid ``paid_fen``, delivered (by default) on 2026-11-30 China time."""
    placed = DELIVERED - timedelta(days=3)
    async with db.transaction() as session:
        order = Order(
            channel=channel,
            shop_id=shop_id,
            external_id=external_id,
            status=status,
            placed_at=placed,
            paid_at=placed,
            source_updated_at=placed,
            received_at=placed,
            updated_at=placed,
            items_fen=paid_fen,
            paid_fen=paid_fen,
            delivered_at=delivered_at,
        )
        session.add(order)
        await session.flush()
        assert order.id is not None
        return order.id


async def add_refund(
    db: Database, shop_id: int, channel: str, order_id: int, platform_ref: str, refund_fen: int, shipping_fen: int = 0
) -> int:
    """A completed refund-only case of the order."""
    async with db.transaction() as session:
        case = AfterSaleCase(
            kind=CaseKind.refund_only.value,
            source=CaseSource.platform.value,
            status=CaseStatus.completed.value,
            channel=channel,
            shop_id=shop_id,
            platform_ref=platform_ref,
            order_id=order_id,
            refund_fen=refund_fen,
            shipping_refund_fen=shipping_fen,
            refund_status=RefundStatus.refunded.value,
            due_at=DELIVERED,
            created_at=DELIVERED,
            updated_at=DELIVERED,
        )
        session.add(case)
        await session.flush()
        assert case.id is not None
        return case.id


async def add_voucher(
    db: Database,
    source_key: str,
    order_id: int | None,
    channel: str,
    shop_id: int | None,
    day: date,
    lines: list[tuple[LineKind, int, int]],
    *,
    kind: VoucherKind = VoucherKind.sale,
) -> int:
    """A voucher of (kind, debit, credit) lines, stored as posting stores every voucher (it must balance)."""
    async with db.transaction() as session:
        voucher = await store_voucher(
            session,
            source_key=source_key,
            kind=kind,
            voucher_date=day,
            summary=source_key,
            entries=[Entry(line_kind, source_key, debit, credit) for line_kind, debit, credit in lines],
            channel=channel,
            shop_id=shop_id,
            order_id=order_id,
            red=any(debit < 0 or credit < 0 for _, debit, credit in lines),
        )
        assert voucher is not None and voucher.id is not None
        return voucher.id

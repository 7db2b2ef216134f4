"""财务 overview: where this month's books stand, what waits for finance, and the latest vouchers and exports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import CHINA, utcnow
from app.domain.finance import ledger
from app.domain.finance.models import LineKind, Voucher, VoucherExport, VoucherKind, VoucherLine, VoucherStatus
from app.events import FINANCE_JOB
from app.outbox import OutboxMessage, OutboxStatus


@dataclass(frozen=True)
class Overview:
    period: str
    sales: int
    refunds: int
    #: Receivables booked this month: sales less the red-letter refunds, in fen.
    receivable_fen: int
    revenue_fen: int
    drafts: int
    approved: int
    exported: int
    unbooked_events: int
    recent: list[Voucher]
    exports: list[VoucherExport]

    @property
    def empty(self) -> bool:
        return not self.recent


async def overview(session: AsyncSession, *, now: datetime | None = None) -> Overview:
    period = ledger.period_of((now or utcnow()).astimezone(CHINA).date())
    by_status = dict(
        (
            await session.exec(
                select(Voucher.status, func.count()).where(Voucher.period == period).group_by(col(Voucher.status))
            )
        ).all()
    )
    kinds = dict(
        (
            await session.exec(
                select(Voucher.kind, func.count()).where(Voucher.period == period).group_by(col(Voucher.kind))
            )
        ).all()
    )
    line = VoucherLine
    amount = col(line.debit_fen) + col(line.credit_fen)
    receivable, revenue = (
        await session.exec(
            select(
                func.coalesce(func.sum(case((col(line.line_kind) == LineKind.receivable.value, amount), else_=0)), 0),
                func.coalesce(func.sum(case((col(line.line_kind) == LineKind.revenue.value, amount), else_=0)), 0),
            )
            .join(Voucher, col(Voucher.id) == col(line.voucher_id))
            .where(Voucher.period == period)
        )
    ).one()
    unbooked = (
        await session.exec(
            select(func.count()).where(OutboxMessage.job == FINANCE_JOB, OutboxMessage.status == OutboxStatus.failed)
        )
    ).one()
    recent = (await session.exec(select(Voucher).order_by(col(Voucher.id).desc()).limit(10))).all()
    exports = (await session.exec(select(VoucherExport).order_by(col(VoucherExport.id).desc()).limit(5))).all()
    return Overview(
        period=period,
        sales=int(kinds.get(VoucherKind.sale.value, 0)),
        refunds=int(kinds.get(VoucherKind.refund.value, 0)),
        receivable_fen=int(receivable),
        revenue_fen=int(revenue),
        drafts=int(by_status.get(VoucherStatus.draft.value, 0)),
        approved=int(by_status.get(VoucherStatus.approved.value, 0)),
        exported=int(by_status.get(VoucherStatus.exported.value, 0)),
        unbooked_events=int(unbooked),
        recent=list(recent),
        exports=list(exports),
    )

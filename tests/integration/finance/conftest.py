"""Finance fixtures: the processing ones (demo data, the app served, its worker), and vouchers stored as posting
stores every voucher."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from app.db import Database
from app.domain.finance.entries import Entry
from app.domain.finance.models import LineKind, Voucher, VoucherKind
from app.domain.finance.posting import store_voucher
from tests.integration.processing.conftest import demo, demo_data, server, settings, worker

__all__ = ["demo", "demo_data", "make_voucher", "sale_lines", "server", "settings", "worker"]


def sale_lines(paid_fen: int, commission_fen: int = 0) -> list[Entry]:
    """A sale's entries: the receivable of the paid amount, revenue and its 13 % VAT, the platform's commission."""
    vat = round(paid_fen * 13 / 113)
    entries = [
        Entry(LineKind.receivable, "应收", debit_fen=paid_fen, partner="支付宝(天猫)"),
        Entry(LineKind.revenue, "收入", credit_fen=paid_fen - vat, sku="CABLE-C1"),
        Entry(LineKind.output_vat, "销项税", credit_fen=vat),
    ]
    if commission_fen:
        entries += [
            Entry(LineKind.commission, "佣金", debit_fen=commission_fen),
            Entry(LineKind.commission_payable, "佣金", credit_fen=commission_fen, partner="天猫"),
        ]
    return entries


@pytest.fixture
def make_voucher(db: Database) -> Any:
    """Store one balanced voucher through posting's ``store_voucher`` (numbered next in its open period)."""
    made = 0

    async def factory(
        day: date,
        entries: list[Entry] | None = None,
        *,
        summary: str = "销售 天猫订单",
        kind: VoucherKind = VoucherKind.sale,
        channel: str = "tmall",
        red: bool = False,
        reverses_id: int | None = None,
    ) -> Voucher:
        nonlocal made
        made += 1
        async with db.transaction() as session:
            voucher = await store_voucher(
                session,
                source_key=f"test:{made}",
                kind=kind,
                voucher_date=day,
                summary=summary,
                entries=entries if entries is not None else sale_lines(11300, 500),
                channel=channel,
                red=red,
                reverses_id=reverses_id,
            )
            assert voucher is not None
            session.expunge(voucher)
            return voucher

    return factory

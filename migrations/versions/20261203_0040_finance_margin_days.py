"""Margin days: the margins of the orders whose sale voucher is dated each day, per channel and shop, kept as vouchers
are stored, so the margin report sums days rather than every voucher line. Filled from the vouchers already written.

Revision ID: 0040_finance_margin_days
Revises: 0039_shipment_times
Create Date: 2026-12-03 08:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0040_finance_margin_days"
down_revision: str | None = "0039_shipment_times"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "finance_margin_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("revenue_fen", sa.BigInteger(), nullable=False),
        sa.Column("cost_of_goods_fen", sa.BigInteger(), nullable=False),
        sa.Column("gifts_fen", sa.BigInteger(), nullable=False),
        sa.Column("commission_fen", sa.BigInteger(), nullable=False),
        sa.Column("freight_fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "channel", "shop_id"),
    )
    # Every voucher of an order counts on the day (channel, shop) of the order's sale voucher; revenue is credit −
    # debit, the costs debit − credit.
    op.execute(
        """
        INSERT INTO finance_margin_days
            (day, channel, shop_id, orders, revenue_fen, cost_of_goods_fen, gifts_fen, commission_fen, freight_fen)
        SELECT s.voucher_date, s.channel, COALESCE(s.shop_id, 0), COUNT(DISTINCT s.order_id),
            COALESCE(SUM(CASE WHEN l.line_kind = 'revenue' THEN l.credit_fen - l.debit_fen END), 0),
            COALESCE(SUM(CASE WHEN l.line_kind = 'cost_of_goods' THEN l.debit_fen - l.credit_fen END), 0),
            COALESCE(SUM(CASE WHEN l.line_kind = 'gift_cost' THEN l.debit_fen - l.credit_fen END), 0),
            COALESCE(SUM(CASE WHEN l.line_kind = 'commission' THEN l.debit_fen - l.credit_fen END), 0),
            COALESCE(SUM(CASE WHEN l.line_kind = 'freight' THEN l.debit_fen - l.credit_fen END), 0)
        FROM vouchers s
        JOIN vouchers v ON v.order_id = s.order_id
        JOIN voucher_lines l ON l.voucher_id = v.id
        WHERE s.kind = 'sale' AND s.order_id IS NOT NULL
        GROUP BY s.voucher_date, s.channel, COALESCE(s.shop_id, 0)
        """
    )


def downgrade() -> None:
    op.drop_table("finance_margin_days")

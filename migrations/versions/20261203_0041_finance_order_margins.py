"""Order margins: each order's margin over all its vouchers, on the day (channel, shop) of its sale voucher, kept as
vouchers are stored, so 订单毛利 sorts a range's orders by an index rather than summing every voucher line. Filled
from the vouchers already written.

Revision ID: 0041_finance_order_margins
Revises: 0040_finance_margin_days
Create Date: 2026-12-03 15:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0041_finance_order_margins"
down_revision: str | None = "0040_finance_margin_days"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "finance_order_margins",
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("revenue_fen", sa.BigInteger(), nullable=False),
        sa.Column("cost_of_goods_fen", sa.BigInteger(), nullable=False),
        sa.Column("gifts_fen", sa.BigInteger(), nullable=False),
        sa.Column("commission_fen", sa.BigInteger(), nullable=False),
        sa.Column("freight_fen", sa.BigInteger(), nullable=False),
        sa.Column("margin_fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("order_id"),
    )
    # As the margin days count them: every voucher of an order, on its sale voucher's day; revenue is credit −
    # debit, the costs debit − credit.
    op.execute(
        """
        INSERT INTO finance_order_margins
            (order_id, day, channel, shop_id, revenue_fen, cost_of_goods_fen, gifts_fen, commission_fen, freight_fen,
             margin_fen)
        SELECT order_id, day, channel, shop_id, revenue, cost, gifts, commission, freight,
            revenue - cost - gifts - commission - freight
        FROM (
            SELECT s.order_id AS order_id, s.voucher_date AS day, s.channel AS channel,
                COALESCE(s.shop_id, 0) AS shop_id,
                COALESCE(SUM(CASE WHEN l.line_kind = 'revenue' THEN l.credit_fen - l.debit_fen END), 0) AS revenue,
                COALESCE(SUM(CASE WHEN l.line_kind = 'cost_of_goods' THEN l.debit_fen - l.credit_fen END), 0) AS cost,
                COALESCE(SUM(CASE WHEN l.line_kind = 'gift_cost' THEN l.debit_fen - l.credit_fen END), 0) AS gifts,
                COALESCE(SUM(CASE WHEN l.line_kind = 'commission' THEN l.debit_fen - l.credit_fen END), 0)
                    AS commission,
                COALESCE(SUM(CASE WHEN l.line_kind = 'freight' THEN l.debit_fen - l.credit_fen END), 0) AS freight
            FROM vouchers s
            JOIN vouchers v ON v.order_id = s.order_id
            JOIN voucher_lines l ON l.voucher_id = v.id
            WHERE s.kind = 'sale' AND s.order_id IS NOT NULL
            GROUP BY s.order_id, s.voucher_date, s.channel, COALESCE(s.shop_id, 0)
        ) AS counted
        """
    )
    op.create_index("ix_finance_order_margins_day_margin", "finance_order_margins", ["day", "margin_fen"])
    op.create_index("ix_finance_order_margins_margin", "finance_order_margins", ["margin_fen", "order_id"])


def downgrade() -> None:
    op.drop_index("ix_finance_order_margins_margin", table_name="finance_order_margins")
    op.drop_index("ix_finance_order_margins_day_margin", table_name="finance_order_margins")
    op.drop_table("finance_order_margins")

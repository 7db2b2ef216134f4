"""Reports' rollups: the orders of each hour and shop counted and summed; and orders' marks of the hours whose
orders changed (written with the change, taken away by the refresh that counts the hour again).

Revision ID: 0035_report_rollups
Revises: 0034_finance
Create Date: 2026-12-02 18:16:07.347962
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from app.dbtypes import UTCDateTime

revision: str = "0035_report_rollups"
down_revision: str | None = "0034_finance"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "report_order_hours",
        sa.Column("hour_start", UTCDateTime(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("paid_orders", sa.Integer(), nullable=False),
        sa.Column("cancelled_orders", sa.Integer(), nullable=False),
        sa.Column("gmv_fen", sa.BigInteger(), nullable=False),
        sa.Column("refund_fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("hour_start", "channel", "shop_id"),
    )
    with op.batch_alter_table("report_order_hours", schema=None) as batch_op:
        batch_op.create_index("ix_report_order_hours_day", ["day", "channel", "shop_id"], unique=False)

    op.create_table(
        "order_hour_marks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hour_start", UTCDateTime(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("order_hour_marks")
    with op.batch_alter_table("report_order_hours", schema=None) as batch_op:
        batch_op.drop_index("ix_report_order_hours_day")

    op.drop_table("report_order_hours")

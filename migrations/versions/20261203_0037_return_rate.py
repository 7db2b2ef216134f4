"""The return rate: the units of each SKU sold per hour and shop (counted with the shop's hour by the reports'
refresh) and per month (kept by adding what each count changed), and an index on when after-sales cases were opened,
for the cases of a range of days.

Revision ID: 0037_return_rate
Revises: 0036_voucher_export_files
Create Date: 2026-12-03 08:16:02.524150
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from app.dbtypes import UTCDateTime

revision: str = "0037_return_rate"
down_revision: str | None = "0036_voucher_export_files"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "report_sku_hours",
        sa.Column("hour_start", UTCDateTime(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("sku_code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("refunded_units", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hour_start", "channel", "shop_id", "sku_code"),
    )
    with op.batch_alter_table("report_sku_hours", schema=None) as batch_op:
        batch_op.create_index(
            "ix_report_sku_hours_day",
            ["day", "channel", "shop_id", "sku_code", "units", "refunded_units"],
            unique=False,
        )

    op.create_table(
        "report_sku_months",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("sku_code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("refunded_units", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", "channel", "shop_id", "sku_code"),
    )

    with op.batch_alter_table("aftersale_cases", schema=None) as batch_op:
        batch_op.create_index("ix_aftersale_cases_created", ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("aftersale_cases", schema=None) as batch_op:
        batch_op.drop_index("ix_aftersale_cases_created")

    op.drop_table("report_sku_months")

    with op.batch_alter_table("report_sku_hours", schema=None) as batch_op:
        batch_op.drop_index("ix_report_sku_hours_day")

    op.drop_table("report_sku_hours")

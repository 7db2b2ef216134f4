"""Finance: the chart-of-accounts mapping, commission and tax rates, accounting periods, vouchers and their
lines (balanced by a CHECK), the events finance was given, export batches, and settlement bills with their lines.

Revision ID: 0034_finance
Revises: 0033_aftersales_rules
Create Date: 2026-12-02 10:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from app.dbtypes import UTCDateTime

revision: str = "0034_finance"
down_revision: str | None = "0033_aftersales_rules"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # The users' role column is a PostgreSQL enum: the finance role (财务) joins it. (A value cannot be taken out
        # of an enum again; the downgrade leaves it, unused.)
        op.execute("ALTER TYPE role ADD VALUE IF NOT EXISTS 'finance'")
    op.create_table(
        "finance_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("line_kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("account_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("account_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("line_kind", "channel", name="uq_finance_account_kind_channel"),
    )
    op.create_table(
        "finance_channels",
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("commission_bp", sa.Integer(), nullable=False),
        sa.Column("partner", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("channel"),
    )
    op.create_table(
        "finance_periods",
        sa.Column("period", sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("last_numbers", sa.JSON(), nullable=False),
        sa.Column("closed_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("period"),
    )
    op.create_table(
        "finance_tax_rates",
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("rate_bp", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("category"),
    )
    op.create_table(
        "settlement_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("filename", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("imported_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("imported_at", UTCDateTime(), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "voucher_exports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("voucher_ids", sa.JSON(), nullable=False),
        sa.Column("voucher_count", sa.Integer(), nullable=False),
        sa.Column("debit_fen", sa.Integer(), nullable=False),
        sa.Column("credit_fen", sa.Integer(), nullable=False),
        sa.Column("re_export_of", sa.Integer(), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["re_export_of"],
            ["voucher_exports.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "settlement_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=True),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("commission_fen", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("expected_amount_fen", sa.Integer(), nullable=True),
        sa.Column("expected_commission_fen", sa.Integer(), nullable=True),
        sa.Column("result", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["aftersale_cases.id"],
        ),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["settlement_imports.id"],
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("settlement_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_settlement_lines_import_id"), ["import_id"], unique=False)
        batch_op.create_index("ix_settlement_lines_import_result", ["import_id", "result"], unique=False)

    op.create_table(
        "vouchers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_key", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("source_event_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("red", sa.Boolean(), nullable=False),
        sa.Column("reverses_id", sa.Integer(), nullable=True),
        sa.Column("period", sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
        sa.Column("word", sqlmodel.sql.sqltypes.AutoString(length=4), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("voucher_date", sa.Date(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=True),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("summary", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("debit_fen", sa.Integer(), nullable=False),
        sa.Column("credit_fen", sa.Integer(), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("approved_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("approved_at", UTCDateTime(), nullable=True),
        sa.Column("exported_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("exported_at", UTCDateTime(), nullable=True),
        sa.Column("export_batch_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("debit_fen = credit_fen", name="ck_voucher_balanced"),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["aftersale_cases.id"],
        ),
        sa.ForeignKeyConstraint(
            ["export_batch_id"],
            ["voucher_exports.id"],
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
        ),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["vouchers.id"],
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("period", "word", "number", name="uq_voucher_number"),
        sa.UniqueConstraint("source_key"),
    )
    with op.batch_alter_table("vouchers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vouchers_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_vouchers_channel"), ["channel"], unique=False)
        batch_op.create_index(batch_op.f("ix_vouchers_export_batch_id"), ["export_batch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_vouchers_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_vouchers_period"), ["period"], unique=False)
        batch_op.create_index(batch_op.f("ix_vouchers_shop_id"), ["shop_id"], unique=False)
        batch_op.create_index("ix_vouchers_status_date", ["status", "voucher_date"], unique=False)
        batch_op.create_index(batch_op.f("ix_vouchers_voucher_date"), ["voucher_date"], unique=False)

    op.create_table(
        "finance_events",
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("voucher_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["voucher_id"],
            ["vouchers.id"],
        ),
        sa.PrimaryKeyConstraint("event_id"),
    )
    with op.batch_alter_table("finance_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_finance_events_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_finance_events_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_finance_events_voucher_id"), ["voucher_id"], unique=False)

    op.create_table(
        "voucher_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("voucher_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("line_kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("account_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("account_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("summary", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("debit_fen", sa.Integer(), nullable=False),
        sa.Column("credit_fen", sa.Integer(), nullable=False),
        sa.Column("partner", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("sku", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.CheckConstraint("debit_fen = 0 OR credit_fen = 0", name="ck_voucher_line_one_side"),
        sa.ForeignKeyConstraint(
            ["voucher_id"],
            ["vouchers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("voucher_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_voucher_lines_voucher_id"), ["voucher_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("voucher_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_voucher_lines_voucher_id"))

    op.drop_table("voucher_lines")
    with op.batch_alter_table("finance_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_finance_events_voucher_id"))
        batch_op.drop_index(batch_op.f("ix_finance_events_order_id"))
        batch_op.drop_index(batch_op.f("ix_finance_events_case_id"))

    op.drop_table("finance_events")
    with op.batch_alter_table("vouchers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vouchers_voucher_date"))
        batch_op.drop_index("ix_vouchers_status_date")
        batch_op.drop_index(batch_op.f("ix_vouchers_shop_id"))
        batch_op.drop_index(batch_op.f("ix_vouchers_period"))
        batch_op.drop_index(batch_op.f("ix_vouchers_order_id"))
        batch_op.drop_index(batch_op.f("ix_vouchers_export_batch_id"))
        batch_op.drop_index(batch_op.f("ix_vouchers_channel"))
        batch_op.drop_index(batch_op.f("ix_vouchers_case_id"))

    op.drop_table("vouchers")
    with op.batch_alter_table("settlement_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_settlement_lines_import_result")
        batch_op.drop_index(batch_op.f("ix_settlement_lines_import_id"))

    op.drop_table("settlement_lines")
    op.drop_table("voucher_exports")
    op.drop_table("settlement_imports")
    op.drop_table("finance_tax_rates")
    op.drop_table("finance_periods")
    op.drop_table("finance_channels")
    op.drop_table("finance_accounts")

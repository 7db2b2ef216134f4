"""After-sales cases and their lines, defective stock (returned units that failed quality check) on the stock rows
and the ledger, and the order a reissue or an exchange sends again.

Revision ID: 0031_aftersales
Revises: 0030_interceptions
Create Date: 2026-12-02 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from app.dbtypes import UTCDateTime

revision: str = "0031_aftersales"
down_revision: str | None = "0030_interceptions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch_op:
        # No foreign key: on SQLite adding one rebuilds the orders table; the case holds the link both ways.
        batch_op.add_column(sa.Column("reissue_of", sa.Integer(), nullable=True))
    with op.batch_alter_table("stock") as batch_op:
        batch_op.add_column(sa.Column("defective", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("stock_ledger") as batch_op:
        batch_op.add_column(sa.Column("defective_delta", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "aftersale_cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", _text(16), nullable=False),
        sa.Column("source", _text(16), nullable=False),
        sa.Column("status", _text(16), nullable=False),
        sa.Column("channel", _text(32), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("platform_ref", _text(64), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("shipped", sa.Boolean(), nullable=False),
        sa.Column("reason", _text(200), nullable=False),
        sa.Column("note", _text(500), nullable=False),
        sa.Column("refund_fen", sa.Integer(), nullable=False),
        sa.Column("shipping_refund_fen", sa.Integer(), nullable=False),
        sa.Column("refund_status", _text(16), nullable=False),
        sa.Column("return_warehouse_code", _text(32), nullable=False),
        sa.Column("return_carrier", _text(32), nullable=False),
        sa.Column("return_waybill_no", _text(64), nullable=False),
        sa.Column("reissue_order_id", sa.Integer(), nullable=True),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("decided_by", _text(100), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("opened_by", _text(100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"]),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.ForeignKeyConstraint(["reissue_order_id"], ["orders.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("shop_id", "platform_ref", name="uq_aftersale_platform_ref"),
    )
    with op.batch_alter_table("aftersale_cases") as batch_op:
        batch_op.create_index("ix_aftersale_cases_status_due", ["status", "due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_aftersale_cases_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_aftersale_cases_shop_id"), ["shop_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_aftersale_cases_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_aftersale_cases_customer_id"), ["customer_id"], unique=False)
    op.create_table(
        "aftersale_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("line_id", _text(64), nullable=False),
        sa.Column("sku", _text(64), nullable=False),
        sa.Column("title", _text(300), nullable=False),
        sa.Column("qty", sa.Integer(), nullable=False),
        sa.Column("refund_fen", sa.Integer(), nullable=False),
        sa.Column("exchange_sku", _text(64), nullable=False),
        sa.Column("received_qty", sa.Integer(), nullable=False),
        sa.Column("passed_qty", sa.Integer(), nullable=False),
        sa.Column("qc_note", _text(200), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["aftersale_cases.id"]),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("aftersale_lines") as batch_op:
        batch_op.create_index(batch_op.f("ix_aftersale_lines_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_aftersale_lines_order_id"), ["order_id"], unique=False)


def downgrade() -> None:
    op.drop_table("aftersale_lines")
    op.drop_table("aftersale_cases")
    with op.batch_alter_table("stock_ledger") as batch_op:
        batch_op.drop_column("defective_delta")
    with op.batch_alter_table("stock") as batch_op:
        batch_op.drop_column("defective")
    with op.batch_alter_table("orders") as batch_op:
        batch_op.drop_column("reissue_of")

"""Interceptions (拦截): a parcel whose order was cancelled after its waybill, to be pulled by its warehouse, and
the first print of a shipping document (when and by whom), after which an intercepted parcel stays on it flagged.

Revision ID: 0030_interceptions
Revises: 0029_scan_batches
Create Date: 2026-12-02 02:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from app.dbtypes import UTCDateTime

revision: str = "0030_interceptions"
down_revision: str | None = "0029_scan_batches"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "interceptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shipment_ref", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("warehouse_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("carrier_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("waybill_no", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("void_status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("void_note", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("voided_at", UTCDateTime(), nullable=True),
        sa.Column("confirmed_at", UTCDateTime(), nullable=True),
        sa.Column("confirmed_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("shipment_ref"),
    )
    with op.batch_alter_table("interceptions") as batch_op:
        batch_op.create_index(batch_op.f("ix_interceptions_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_interceptions_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_interceptions_warehouse_code"), ["warehouse_code"], unique=False)
    with op.batch_alter_table("shipping_documents") as batch_op:
        batch_op.add_column(sa.Column("printed_at", UTCDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("printed_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("shipping_documents") as batch_op:
        batch_op.drop_column("printed_by")
        batch_op.drop_column("printed_at")
    op.drop_table("interceptions")

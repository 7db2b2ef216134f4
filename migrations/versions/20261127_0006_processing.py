"""Automatic processing: the order's processing state and shipments; same-address key and balance flag on orders

Revision ID: 0006_processing
Revises: 0005_fulfillment
Create Date: 2026-11-27 03:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from app.dbtypes import UTCDateTime

revision: str = "0006_processing"
down_revision: str | None = "0005_fulfillment"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(
            sa.Column("address_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("balance_paid", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.create_index("ix_orders_address_key_placed", ["address_key", "placed_at"], unique=False)
    op.create_table(
        "order_processing",
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "queued",
                "processed",
                "held",
                "out_of_stock",
                "awaiting_balance",
                "unpaid",
                "merged",
                "cancelled",
                name="processingstate",
            ),
            nullable=False,
        ),
        sa.Column("order_version", sa.Integer(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("hold_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("hold_code", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("flows", sa.JSON(), nullable=False),
        sa.Column("decisions", sa.JSON(), nullable=False),
        sa.Column("warehouse_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("carrier_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("priority", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("merged_into", sa.Integer(), nullable=True),
        sa.Column("approved_version", sa.Integer(), nullable=True),
        sa.Column("approved_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("hold_until", UTCDateTime(), nullable=True),
        sa.Column("queued_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["merged_into"], ["orders.id"]),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.PrimaryKeyConstraint("order_id"),
    )
    op.create_index("ix_order_processing_state_updated", "order_processing", ["state", "updated_at"], unique=False)
    op.create_index("ix_order_processing_finished", "order_processing", ["finished_at"], unique=False)
    op.create_table(
        "shipments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("ref", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("warehouse_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("carrier_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("weight_g", sa.Integer(), nullable=False),
        sa.Column("fee_fen", sa.Integer(), nullable=False),
        sa.Column("promised_days", sa.Integer(), nullable=True),
        sa.Column("waybill_no", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ref"),
    )
    op.create_index(op.f("ix_shipments_order_id"), "shipments", ["order_id"], unique=False)
    op.create_index(op.f("ix_shipments_warehouse_code"), "shipments", ["warehouse_code"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_shipments_warehouse_code"), table_name="shipments")
    op.drop_index(op.f("ix_shipments_order_id"), table_name="shipments")
    op.drop_table("shipments")
    op.drop_index("ix_order_processing_finished", table_name="order_processing")
    op.drop_index("ix_order_processing_state_updated", table_name="order_processing")
    op.drop_table("order_processing")
    sa.Enum(name="processingstate").drop(op.get_bind(), checkfirst=True)
    with op.batch_alter_table("orders") as batch:
        batch.drop_index("ix_orders_address_key_placed")
        batch.drop_column("balance_paid")
        batch.drop_column("address_key")

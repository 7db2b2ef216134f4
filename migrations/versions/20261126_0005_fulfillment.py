"""Fulfillment: carrier rate tables, waybills, shipping documents and their entries, buyer notifications

Revision ID: 0005_fulfillment
Revises: 0004_flows
Create Date: 2026-11-26 21:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from app.dbtypes import UTCDateTime

revision: str = "0005_fulfillment"
down_revision: str | None = "0004_flows"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "carrier_rates",
        sa.Column("carrier_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("origin_province", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("dest_province", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("min_weight_g", sa.Integer(), nullable=False),
        sa.Column("max_weight_g", sa.Integer(), nullable=False),
        sa.Column("temperature_zone", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("first_fee_fen", sa.Integer(), nullable=False),
        sa.Column("extra_fee_fen_per_kg", sa.Integer(), nullable=False),
        sa.Column("promised_days", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["carrier_code"], ["carriers.code"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_carrier_rates_carrier_code"), "carrier_rates", ["carrier_code"], unique=False)
    op.create_table(
        "waybills",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_key", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("order_ref", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("carrier_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("warehouse_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("waybill_no", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_key"),
        sa.UniqueConstraint("waybill_no"),
    )
    op.create_index(op.f("ix_waybills_order_ref"), "waybills", ["order_ref"], unique=False)
    op.create_table(
        "shipping_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("warehouse_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("wave", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "warehouse_code", "wave", name="uq_shipping_document_wave"),
    )
    op.create_index(op.f("ix_shipping_documents_warehouse_code"), "shipping_documents", ["warehouse_code"])
    op.create_table(
        "shipping_document_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("order_ref", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("added_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["document_id"], ["shipping_documents.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("document_id", "order_ref", name="uq_shipping_document_entry"),
    )
    op.create_index(
        op.f("ix_shipping_document_entries_order_ref"), "shipping_document_entries", ["order_ref"], unique=False
    )
    op.create_table(
        "buyer_notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
        sa.Column("order_ref", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("template", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("via", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("recipient_masked", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("body", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("provider_message_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
    )
    op.create_index(op.f("ix_buyer_notifications_order_ref"), "buyer_notifications", ["order_ref"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_buyer_notifications_order_ref"), table_name="buyer_notifications")
    op.drop_table("buyer_notifications")
    op.drop_index(op.f("ix_shipping_document_entries_order_ref"), table_name="shipping_document_entries")
    op.drop_table("shipping_document_entries")
    op.drop_index(op.f("ix_shipping_documents_warehouse_code"), table_name="shipping_documents")
    op.drop_table("shipping_documents")
    op.drop_index(op.f("ix_waybills_order_ref"), table_name="waybills")
    op.drop_table("waybills")
    op.drop_index(op.f("ix_carrier_rates_carrier_code"), table_name="carrier_rates")
    op.drop_table("carrier_rates")

"""Carrier tracking and the end of an order's life: the tracking events carriers push (``tracking_events``), when
an order was delivered (``orders.delivered_at``, for the sweeper's 自动完成) and each shop's days until then.

Revision ID: 0026_carrier_tracking
Revises: 0025_message_templates
Create Date: 2026-12-02 01:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.dbtypes import UTCDateTime

revision: str = "0026_carrier_tracking"
down_revision: str | None = "0025_message_templates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tracking_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("carrier_code", sa.String(length=32), nullable=False),
        sa.Column("event_key", sa.String(length=128), nullable=False),
        sa.Column("waybill_no", sa.String(length=64), nullable=False),
        sa.Column("shipment_ref", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.Integer(), sa.ForeignKey("orders.id"), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("location", sa.String(length=100), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("carrier_code", "event_key", name="uq_tracking_event"),
    )
    op.create_index("ix_tracking_events_waybill_no", "tracking_events", ["waybill_no"])
    op.create_index("ix_tracking_events_order_id", "tracking_events", ["order_id"])
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("delivered_at", UTCDateTime(), nullable=True))
    op.create_index("ix_orders_status_delivered", "orders", ["status", "delivered_at"])
    with op.batch_alter_table("shops") as batch:
        batch.add_column(sa.Column("complete_after_days", sa.Integer(), nullable=False, server_default="7"))


def downgrade() -> None:
    with op.batch_alter_table("shops") as batch:
        batch.drop_column("complete_after_days")
    op.drop_index("ix_orders_status_delivered", table_name="orders")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("delivered_at")
    op.drop_index("ix_tracking_events_order_id", table_name="tracking_events")
    op.drop_index("ix_tracking_events_waybill_no", table_name="tracking_events")
    op.drop_table("tracking_events")

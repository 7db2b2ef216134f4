"""Buyer messages an admin writes (设置 → 消息模板), and 已发货 messages that wait for their parcel: the
``message_templates`` table and the parcel a waiting message is about.

Revision ID: 0025_message_templates
Revises: 0024_channel_stock_push
Create Date: 2026-12-02 02:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from app.dbtypes import UTCDateTime

revision: str = "0025_message_templates"
down_revision: str | None = "0024_channel_stock_push"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "message_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("template", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("via", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("text", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("updated_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("template", "via", name="uq_message_template"),
    )
    with op.batch_alter_table("buyer_notifications") as batch:
        batch.add_column(sa.Column("shipment_ref", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    op.create_index(op.f("ix_buyer_notifications_shipment_ref"), "buyer_notifications", ["shipment_ref"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_buyer_notifications_shipment_ref"), table_name="buyer_notifications")
    with op.batch_alter_table("buyer_notifications") as batch:
        batch.drop_column("shipment_ref")
    op.drop_table("message_templates")

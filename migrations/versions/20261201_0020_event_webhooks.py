"""Event webhooks: subscriptions to outbound events, each delivery with its attempts, and the SKUs now low on stock

Revision ID: 0020_event_webhooks
Revises: 0019_community_group
Create Date: 2026-12-01 22:15:07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from app.dbtypes import UTCDateTime

revision: str = "0020_event_webhooks"
down_revision: str | None = "0019_community_group"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("kind", sa.Enum("webhook", "dingtalk", "wecom", name="subscriptionkind"), nullable=False),
        sa.Column("url_cipher", sa.Text(), nullable=False),
        sa.Column("url_shown", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("secret_cipher", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("is_enabled", sa.Boolean(), nullable=False),
        sa.Column("held_threshold", sa.Integer(), nullable=False),
        sa.Column("backlog_alerted", sa.Boolean(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "event_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("event_type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "sending", "retrying", "succeeded", "failed", name="deliverystatus"),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("claimed_at", UTCDateTime(), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_response", sqlmodel.sql.sqltypes.AutoString(length=600), nullable=False),
        sa.Column("attempt_log", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["event_subscriptions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("delivery_id"),
        sa.UniqueConstraint("subscription_id", "event_id", name="uq_event_delivery_subscription_event"),
    )
    with op.batch_alter_table("event_deliveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_deliveries_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_event_deliveries_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_event_deliveries_subscription_id"), ["subscription_id"], unique=False)

    op.create_table(
        "low_stock_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sku_code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("available", sa.Integer(), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sku_code"],
            ["skus.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sku_code"),
    )


def downgrade() -> None:
    op.drop_table("low_stock_states")
    with op.batch_alter_table("event_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_deliveries_subscription_id"))
        batch_op.drop_index(batch_op.f("ix_event_deliveries_status"))
        batch_op.drop_index(batch_op.f("ix_event_deliveries_created_at"))

    op.drop_table("event_deliveries")
    op.drop_table("event_subscriptions")
    if op.get_bind().dialect.name == "postgresql":
        sa.Enum(name="deliverystatus").drop(op.get_bind(), checkfirst=True)
        sa.Enum(name="subscriptionkind").drop(op.get_bind(), checkfirst=True)

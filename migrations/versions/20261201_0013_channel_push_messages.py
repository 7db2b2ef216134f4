"""Channel push messages: the platforms' signed push messages already taken, so that a replay is a no-op

Revision ID: 0013_channel_push_messages
Revises: 0012_flow_hits
Create Date: 2026-12-01 20:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from app.dbtypes import UTCDateTime

revision: str = "0013_channel_push_messages"
down_revision: str | None = "0012_flow_hits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channel_push_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("msg_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "msg_id", name="uq_channel_push_message"),
    )
    op.create_index("ix_channel_push_messages_shop_id", "channel_push_messages", ["shop_id"])
    op.create_index("ix_channel_push_messages_received_at", "channel_push_messages", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_channel_push_messages_received_at", table_name="channel_push_messages")
    op.drop_index("ix_channel_push_messages_shop_id", table_name="channel_push_messages")
    op.drop_table("channel_push_messages")

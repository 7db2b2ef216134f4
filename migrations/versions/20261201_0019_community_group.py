"""Community group buying: 社区团购 is a channel, and an order keeps its group leader, pickup point and route

Revision ID: 0019_community_group
Revises: 0018_carrier_api_settings
Create Date: 2026-12-01 23:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_community_group"
down_revision: str | None = "0018_carrier_api_settings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # SQLite keeps the channel as text; PostgreSQL's channel type learns the new value.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TYPE channel ADD VALUE IF NOT EXISTS 'community_group'")
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("community", sa.JSON(), nullable=True))


def downgrade() -> None:
    # The channel value is not taken back (PostgreSQL cannot drop an enum value): a shop on it keeps its channel.
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("community")

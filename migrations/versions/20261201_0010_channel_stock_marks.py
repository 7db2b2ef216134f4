"""Channel stock marks: stock changes append a mark per SKU; a job recomputes the shops' channel stock from them

Revision ID: 0010_channel_stock_marks
Revises: 0009_sealed_payloads
Create Date: 2026-12-01 12:00:37
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from app.dbtypes import UTCDateTime

revision: str = "0010_channel_stock_marks"
down_revision: str | None = "0009_sealed_payloads"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The channel stock already published was recomputed inline up to now, so no marks are owed.
    op.create_table(
        "channel_stock_marks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sku_code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("marked_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_channel_stock_marks_sku_code", "channel_stock_marks", ["sku_code"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_channel_stock_marks_sku_code", table_name="channel_stock_marks")
    op.drop_table("channel_stock_marks")

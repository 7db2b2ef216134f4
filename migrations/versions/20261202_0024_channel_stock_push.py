"""Channel stock is pushed to the platforms: what each shop's platform was last told (quantity, when, or why it
refused) and the push round on ``channel_stock``; the platform's item id on a SKU mapping.

Revision ID: 0024_channel_stock_push
Revises: 0023_pos_sale_stock
Create Date: 2026-12-02 02:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from app.dbtypes import UTCDateTime

revision: str = "0024_channel_stock_push"
down_revision: str | None = "0023_pos_sale_stock"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("channel_stock") as batch:
        batch.add_column(sa.Column("pushed_quantity", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("pushed_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("push_error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True))
        batch.add_column(sa.Column("push_round", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("sku_mappings") as batch:
        batch.add_column(
            sa.Column(
                "platform_item_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False, server_default=""
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("sku_mappings") as batch:
        batch.drop_column("platform_item_id")
    with op.batch_alter_table("channel_stock") as batch:
        batch.drop_column("push_round")
        batch.drop_column("push_error")
        batch.drop_column("pushed_at")
        batch.drop_column("pushed_quantity")

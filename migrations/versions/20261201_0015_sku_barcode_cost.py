"""SKU barcode and cost price: a retailer's own catalogue carries the barcode on the item and its cost

Revision ID: 0015_sku_barcode_cost
Revises: 0014_sku_mappings
Create Date: 2026-12-01 22:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0015_sku_barcode_cost"
down_revision: str | None = "0014_sku_mappings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("skus") as batch:
        batch.add_column(
            sa.Column("barcode", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("cost_fen", sa.Integer(), nullable=False, server_default="0"))
    op.create_index("ix_skus_barcode", "skus", ["barcode"])


def downgrade() -> None:
    op.drop_index("ix_skus_barcode", table_name="skus")
    with op.batch_alter_table("skus") as batch:
        batch.drop_column("cost_fen")
        batch.drop_column("barcode")

"""SKU mappings: a shop's platform sku id or outer id (商家编码) that is one of our SKUs

Revision ID: 0014_sku_mappings
Revises: 0013_channel_push_messages
Create Date: 2026-12-01 22:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from app.dbtypes import UTCDateTime

revision: str = "0014_sku_mappings"
down_revision: str | None = "0013_channel_push_messages"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sku_mappings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("platform_sku_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("outer_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("sku_code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("mapped_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("mapped_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("platform_sku_id <> '' OR outer_id <> ''", name="ck_sku_mapping_has_key"),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"]),
        sa.ForeignKeyConstraint(["sku_code"], ["skus.code"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sku_mappings_shop_id", "sku_mappings", ["shop_id"])
    op.create_index("ix_sku_mappings_sku_code", "sku_mappings", ["sku_code"])
    where_sku_id = sa.text("platform_sku_id <> ''")
    where_outer_id = sa.text("outer_id <> ''")
    op.create_index(
        "uq_sku_mappings_shop_sku_id",
        "sku_mappings",
        ["shop_id", "platform_sku_id"],
        unique=True,
        sqlite_where=where_sku_id,
        postgresql_where=where_sku_id,
    )
    op.create_index(
        "uq_sku_mappings_shop_outer_id",
        "sku_mappings",
        ["shop_id", "outer_id"],
        unique=True,
        sqlite_where=where_outer_id,
        postgresql_where=where_outer_id,
    )


def downgrade() -> None:
    op.drop_index("uq_sku_mappings_shop_outer_id", table_name="sku_mappings")
    op.drop_index("uq_sku_mappings_shop_sku_id", table_name="sku_mappings")
    op.drop_index("ix_sku_mappings_sku_code", table_name="sku_mappings")
    op.drop_index("ix_sku_mappings_shop_id", table_name="sku_mappings")
    op.drop_table("sku_mappings")

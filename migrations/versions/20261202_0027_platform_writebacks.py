"""发货回传: a record of each shipped parcel written back to its order's platform

Revision ID: 0027_platform_writebacks
Revises: 0026_carrier_tracking
Create Date: 2026-12-02 01:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from app.dbtypes import UTCDateTime

revision: str = "0027_platform_writebacks"
down_revision: str | None = "0026_carrier_tracking"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "platform_writebacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shipment_ref", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("waybill_no", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("carrier_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.Column("error_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("reply_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("shipment_ref", "order_id", name="uq_platform_writeback_parcel"),
    )
    with op.batch_alter_table("platform_writebacks") as batch:
        batch.create_index(batch.f("ix_platform_writebacks_order_id"), ["order_id"], unique=False)
        batch.create_index(batch.f("ix_platform_writebacks_shipment_ref"), ["shipment_ref"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("platform_writebacks") as batch:
        batch.drop_index(batch.f("ix_platform_writebacks_shipment_ref"))
        batch.drop_index(batch.f("ix_platform_writebacks_order_id"))
    op.drop_table("platform_writebacks")

"""Shipments keep when they were shipped and delivered, and the 发货时效 rollup counts shipped parcels per China day,
warehouse, carrier and shop. Parcels shipped before take their last change as both times (the best there is), and
are counted into the rollup here.

Revision ID: 0039_shipment_times
Revises: 0038_return_rate_covering
Create Date: 2026-12-03 08:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from app.dbtypes import UTCDateTime
from app.domain.fulfillment.ship_promise import clock_start
from app.domain.fulfillment.shipment_rollups import Parcel, count_parcels, row_values

revision: str = "0039_shipment_times"
down_revision: str | None = "0038_return_rate_covering"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTS = (
    "parcels",
    "in_promise",
    "delivered",
    "delivered_promised",
    "delivered_in_promise",
    "waited_12h",
    "waited_24h",
    "waited_48h",
    "waited_72h",
    "waited_longer",
)


def upgrade() -> None:
    with op.batch_alter_table("shipments") as batch:
        batch.add_column(sa.Column("shipped_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("delivered_at", UTCDateTime(), nullable=True))
    op.execute("UPDATE shipments SET shipped_at = updated_at WHERE status IN ('shipped', 'delivered')")
    op.execute("UPDATE shipments SET delivered_at = updated_at WHERE status = 'delivered'")

    rollup = op.create_table(
        "report_shipment_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("warehouse_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("carrier_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("wait_minutes", sa.BigInteger(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS),
        sa.PrimaryKeyConstraint("day", "warehouse_code", "carrier_code", "channel", "shop_id"),
    )
    shipments = sa.table(
        "shipments",
        sa.column("order_id", sa.Integer()),
        sa.column("warehouse_code", sa.String()),
        sa.column("carrier_code", sa.String()),
        sa.column("promised_days", sa.Integer()),
        sa.column("shipped_at", UTCDateTime()),
        sa.column("delivered_at", UTCDateTime()),
    )
    orders = sa.table(
        "orders",
        sa.column("id", sa.Integer()),
        sa.column("channel", sa.String()),
        sa.column("shop_id", sa.Integer()),
        sa.column("paid_at", UTCDateTime()),
        sa.column("placed_at", UTCDateTime()),
        sa.column("is_presale", sa.Boolean()),
        sa.column("balance_due_at", UTCDateTime()),
    )
    found = op.get_bind().execute(
        sa.select(
            shipments.c.warehouse_code,
            shipments.c.carrier_code,
            shipments.c.promised_days,
            shipments.c.shipped_at,
            shipments.c.delivered_at,
            orders.c.channel,
            orders.c.shop_id,
            orders.c.paid_at,
            orders.c.placed_at,
            orders.c.is_presale,
            orders.c.balance_due_at,
        )
        .select_from(shipments.join(orders, orders.c.id == shipments.c.order_id))
        .where(shipments.c.shipped_at.is_not(None))
    )
    counted = count_parcels(
        Parcel(
            warehouse_code=row.warehouse_code,
            carrier_code=row.carrier_code or "",
            channel=row.channel,
            shop_id=row.shop_id,
            clock_start=clock_start(
                row.paid_at, row.placed_at, is_presale=bool(row.is_presale), balance_due_at=row.balance_due_at
            ),
            shipped_at=row.shipped_at,
            delivered_at=row.delivered_at,
            promised_days=row.promised_days,
        )
        for row in found
    )
    if counted:
        op.bulk_insert(rollup, [row_values(key, measures) for key, measures in counted.items()])


def downgrade() -> None:
    op.drop_table("report_shipment_days")
    with op.batch_alter_table("shipments") as batch:
        batch.drop_column("delivered_at")
        batch.drop_column("shipped_at")

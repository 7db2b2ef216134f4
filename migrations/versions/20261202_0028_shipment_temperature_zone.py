"""A shipment says the temperature zone it travels at, so a split order's ambient and cold parcels are packed and
shown apart (按温层拆包).

Revision ID: 0028_shipment_temperature_zone
Revises: 0027_platform_writebacks
Create Date: 2026-12-02 02:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028_shipment_temperature_zone"
down_revision: str | None = "0027_platform_writebacks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("shipments") as batch:
        batch.add_column(sa.Column("temperature_zone", sa.String(length=16), nullable=False, server_default="ambient"))


def downgrade() -> None:
    with op.batch_alter_table("shipments") as batch:
        batch.drop_column("temperature_zone")

"""Presale deposit and default balance term: orders keep the deposit the platform reports, shops a default term
for a balance the platform gives no due time for

Revision ID: 0016_presale_deposit_term
Revises: 0015_sku_barcode_cost
Create Date: 2026-12-01 22:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_presale_deposit_term"
down_revision: str | None = "0015_sku_barcode_cost"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("deposit_fen", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("shops") as batch:
        batch.add_column(sa.Column("presale_balance_hours", sa.Integer(), nullable=False, server_default="72"))


def downgrade() -> None:
    with op.batch_alter_table("shops") as batch:
        batch.drop_column("presale_balance_hours")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("deposit_fen")

"""A store till's sale takes its units off the store warehouse: a ``pos_sale`` ledger kind, and the store
warehouse a POS shop sells from.

Revision ID: 0023_pos_sale_stock
Revises: 0022_presale_overdue_action
Create Date: 2026-12-01 23:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_pos_sale_stock"
down_revision: str | None = "0022_presale_overdue_action"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # PostgreSQL keeps the ledger kinds as an enum type; SQLite keeps plain text.
        op.execute("ALTER TYPE movekind ADD VALUE IF NOT EXISTS 'pos_sale'")
    with op.batch_alter_table("shops") as batch:
        batch.add_column(sa.Column("store_warehouse_code", sa.String(length=32), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("shops") as batch:
        batch.drop_column("store_warehouse_code")
    # PostgreSQL cannot drop a value from an enum type: pos_sale stays in movekind.

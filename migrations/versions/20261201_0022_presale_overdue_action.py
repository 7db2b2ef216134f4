"""Shops say what becomes of a presale whose balance is overdue (逾期未付尾款): 转人工审核 (the default) or 取消订单.

Revision ID: 0022_presale_overdue_action
Revises: 0021_receiver_protection
Create Date: 2026-12-01 23:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_presale_overdue_action"
down_revision: str | None = "0021_receiver_protection"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("shops") as batch:
        batch.add_column(
            sa.Column("presale_overdue_action", sa.String(length=10), nullable=False, server_default="review")
        )


def downgrade() -> None:
    with op.batch_alter_table("shops") as batch:
        batch.drop_column("presale_overdue_action")

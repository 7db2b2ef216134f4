"""What the after-sales flows (return.requested) did with a case: their runs and decisions, and the flag that
leaves a case to a supervisor with the reason.

Revision ID: 0033_aftersales_rules
Revises: 0032_aftersale_refund_writeback
Create Date: 2026-12-02 06:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0033_aftersales_rules"
down_revision: str | None = "0032_aftersale_refund_writeback"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("aftersale_cases") as batch_op:
        batch_op.add_column(sa.Column("needs_supervisor", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(
            sa.Column(
                "supervisor_reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False, server_default=""
            )
        )
        batch_op.add_column(sa.Column("flow_runs", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("flow_decisions", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("aftersale_cases") as batch_op:
        batch_op.drop_column("flow_decisions")
        batch_op.drop_column("flow_runs")
        batch_op.drop_column("supervisor_reason")
        batch_op.drop_column("needs_supervisor")

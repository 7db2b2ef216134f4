"""After-sales refunds written back to the platforms (同意退款): each case keeps the calls made, the 重试 given, the
platform's reply id and why it failed, and what the platform's own after-sale message said that the call needs.

Revision ID: 0032_aftersale_refund_writeback
Revises: 0031_aftersales
Create Date: 2026-12-02 07:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0032_aftersale_refund_writeback"
down_revision: str | None = "0031_aftersales"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("aftersale_cases") as batch_op:
        batch_op.add_column(sa.Column("refund_attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("refund_retries", sa.Integer(), nullable=False, server_default="0"))
        for name, length in (("refund_reply_id", 100), ("refund_error_code", 32), ("refund_error", 1000)):
            batch_op.add_column(
                sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), nullable=False, server_default="")
            )
        batch_op.add_column(sa.Column("platform_data", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("aftersale_cases") as batch_op:
        for name in (
            "platform_data",
            "refund_error",
            "refund_error_code",
            "refund_reply_id",
            "refund_retries",
            "refund_attempts",
        ):
            batch_op.drop_column(name)

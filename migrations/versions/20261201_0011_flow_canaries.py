"""Flow canaries: a version tried on some shops or a share of orders beside the live one, and the orders each took

Revision ID: 0011_flow_canaries
Revises: 0010_channel_stock_marks
Create Date: 2026-12-01 19:02:41
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from app.dbtypes import UTCDateTime

revision: str = "0011_flow_canaries"
down_revision: str | None = "0010_channel_stock_marks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "flow_canaries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("flow_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("live_version_id", sa.Integer(), nullable=False),
        sa.Column("shop_codes", sa.JSON(), nullable=False),
        sa.Column("percent", sa.Integer(), nullable=True),
        sa.Column("hold_threshold", sa.Integer(), nullable=False),
        sa.Column("failure_threshold", sa.Integer(), nullable=False),
        sa.Column("min_orders", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("running", "promoted", "rolled_back", "auto_rolled_back", name="canarystatus"),
            nullable=False,
        ),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("started_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("ended_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("end_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("end_stats", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["flow_id"], ["flows.id"]),
        sa.ForeignKeyConstraint(["live_version_id"], ["flow_versions.id"]),
        sa.ForeignKeyConstraint(["version_id"], ["flow_versions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("flow_canaries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_flow_canaries_flow_id"), ["flow_id"], unique=False)

    op.create_table(
        "flow_canary_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("canary_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("on_canary", sa.Boolean(), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("fee_fen", sa.Integer(), nullable=True),
        sa.Column("processed_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["canary_id"], ["flow_canaries.id"]),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("canary_id", "order_id", name="uq_flow_canary_order"),
    )

    with op.batch_alter_table("flows", schema=None) as batch_op:
        batch_op.add_column(sa.Column("canary_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("flows", schema=None) as batch_op:
        batch_op.drop_column("canary_id")
    op.drop_table("flow_canary_orders")
    with op.batch_alter_table("flow_canaries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flow_canaries_flow_id"))
    op.drop_table("flow_canaries")
    sa.Enum(name="canarystatus").drop(op.get_bind(), checkfirst=True)

"""Rule flows: flows with their draft and scope, immutable published versions, backtest runs

Revision ID: 0004_flows
Revises: 0003_inventory_pool
Create Date: 2026-11-26 21:44:36.628954
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from app.dbtypes import UTCDateTime

revision: str = "0004_flows"
down_revision: str | None = "0003_inventory_pool"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "flows",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("trigger", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("is_archived", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("shop_codes", sa.JSON(), nullable=False),
        sa.Column("draft", sa.JSON(), nullable=False),
        sa.Column("draft_revision", sa.Integer(), nullable=False),
        sa.Column("draft_saved_at", UTCDateTime(), nullable=False),
        sa.Column("draft_saved_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("live_version_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("flows", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_flows_live_version_id"), ["live_version_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_flows_priority"), ["priority"], unique=False)

    op.create_table(
        "flow_backtests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("flow_id", sa.Integer(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("baseline_version_id", sa.Integer(), nullable=True),
        sa.Column("order_limit", sa.Integer(), nullable=False),
        sa.Column("status", sa.Enum("pending", "running", "done", "failed", name="backteststatus"), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["flow_id"], ["flows.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("flow_backtests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_flow_backtests_flow_id"), ["flow_id"], unique=False)

    op.create_table(
        "flow_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("flow_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("copied_from_version_id", sa.Integer(), nullable=True),
        sa.Column("published_at", UTCDateTime(), nullable=False),
        sa.Column("published_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.ForeignKeyConstraint(["flow_id"], ["flows.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("flow_id", "number", name="uq_flow_version_number"),
    )
    with op.batch_alter_table("flow_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_flow_versions_flow_id"), ["flow_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("flow_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flow_versions_flow_id"))
    op.drop_table("flow_versions")
    with op.batch_alter_table("flow_backtests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flow_backtests_flow_id"))
    op.drop_table("flow_backtests")
    sa.Enum(name="backteststatus").drop(op.get_bind(), checkfirst=True)
    with op.batch_alter_table("flows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flows_priority"))
        batch_op.drop_index(batch_op.f("ix_flows_live_version_id"))
    op.drop_table("flows")

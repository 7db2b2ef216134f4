"""Flow hits: how many orders each flow version's runs took through each node and exit, by hour

Revision ID: 0012_flow_hits
Revises: 0011_flow_canaries
Create Date: 2026-12-01 19:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from app.dbtypes import UTCDateTime

revision: str = "0012_flow_hits"
down_revision: str | None = "0011_flow_canaries"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Runs recorded before the counters existed are not counted: the counts start when this is applied.
    op.create_table(
        "flow_hits",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("node_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("port", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("hour", UTCDateTime(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["flow_versions.id"]),
        sa.PrimaryKeyConstraint("version_id", "node_id", "port", "hour"),
    )


def downgrade() -> None:
    op.drop_table("flow_hits")

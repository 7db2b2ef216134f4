"""Export batches' files: written by a job (the batch's file status and rows written, for the progress bar) and kept
in the database, so that any web process serves the download.

Revision ID: 0036_voucher_export_files
Revises: 0035_report_rollups
Create Date: 2026-12-02 19:08:10.432581
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from app.dbtypes import UTCDateTime

revision: str = "0036_voucher_export_files"
down_revision: str | None = "0035_report_rollups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "voucher_export_files",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("filename", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("media_type", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("written_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["voucher_exports.id"]),
        sa.PrimaryKeyConstraint("batch_id"),
    )
    with op.batch_alter_table("voucher_exports", schema=None) as batch_op:
        # Batches exported before files were kept are written again when downloaded: they count as ready.
        batch_op.add_column(
            sa.Column(
                "file_status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default="ready"
            )
        )
        batch_op.add_column(sa.Column("file_rows", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("file_rows_done", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("voucher_exports", schema=None) as batch_op:
        batch_op.drop_column("file_rows_done")
        batch_op.drop_column("file_rows")
        batch_op.drop_column("file_status")
    op.drop_table("voucher_export_files")

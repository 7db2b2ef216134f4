"""Carrier API settings: each carrier's own e-waybill address, customer code, app key and encrypted secret

Revision ID: 0018_carrier_api_settings
Revises: 0017_push_message_key
Create Date: 2026-12-01 22:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0018_carrier_api_settings"
down_revision: str | None = "0017_push_message_key"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (("api_base_url", 300), ("customer_code", 64), ("api_key", 128), ("api_secret_cipher", 512))


def upgrade() -> None:
    with op.batch_alter_table("carriers") as batch:
        for name, length in COLUMNS:
            batch.add_column(
                sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), nullable=False, server_default="")
            )


def downgrade() -> None:
    with op.batch_alter_table("carriers") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)

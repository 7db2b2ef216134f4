"""Push message key: a shop keeps the key its platform encrypts its message push with (快手's 消息密钥), encrypted

Revision ID: 0017_push_message_key
Revises: 0016_presale_deposit_term
Create Date: 2026-12-01 23:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0017_push_message_key"
down_revision: str | None = "0016_presale_deposit_term"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("shops") as batch:
        batch.add_column(
            sa.Column(
                "push_message_key_cipher",
                sqlmodel.sql.sqltypes.AutoString(length=512),
                nullable=False,
                server_default="",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("shops") as batch:
        batch.drop_column("push_message_key_cipher")

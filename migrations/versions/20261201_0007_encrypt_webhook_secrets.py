"""Keep shops' webhook secrets encrypted under SECRET_KEY (webhook_secret -> webhook_secret_cipher)

Existing secrets are encrypted with the SECRET_KEY of the environment that runs the migration, so run it
with the same key the app uses (``ruleflow migrate`` does).

Revision ID: 0007_encrypt_webhook_secrets
Revises: 0006_processing
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from app.domain.orders.pii import decrypt, encrypt
from app.settings import get_settings

revision: str = "0007_encrypt_webhook_secrets"
down_revision: str | None = "0006_processing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _convert(source: str, target: str, change: Callable[[str, str], str | None]) -> None:
    """Copy every non-empty value of one column into the other through ``change(secret_key, value)``."""
    connection = op.get_bind()
    rows = connection.execute(sa.text(f"SELECT id, {source} FROM shops WHERE {source} <> ''")).all()  # noqa: S608
    if not rows:
        return  # a fresh database: no key needed
    secret_key = get_settings().secret_key
    for shop_id, value in rows:
        converted = change(secret_key, value)
        if converted is None:
            raise RuntimeError(f"shop {shop_id}: the webhook secret cannot be converted with this SECRET_KEY")
        connection.execute(
            sa.text(f"UPDATE shops SET {target} = :value WHERE id = :id"),  # noqa: S608
            {"value": converted, "id": shop_id},
        )


def upgrade() -> None:
    with op.batch_alter_table("shops") as batch:
        batch.add_column(
            sa.Column(
                "webhook_secret_cipher", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False, server_default=""
            )
        )
    _convert("webhook_secret", "webhook_secret_cipher", encrypt)
    with op.batch_alter_table("shops") as batch:
        batch.drop_column("webhook_secret")


def downgrade() -> None:
    with op.batch_alter_table("shops") as batch:
        batch.add_column(
            sa.Column("webhook_secret", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False, server_default="")
        )
    _convert("webhook_secret_cipher", "webhook_secret", decrypt)
    with op.batch_alter_table("shops") as batch:
        batch.drop_column("webhook_secret_cipher")

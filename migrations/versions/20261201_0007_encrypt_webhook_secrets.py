"""Keep shops' secrets encrypted under SECRET_KEY: the webhook secret, the app secret and the access token

``webhook_secret``, ``app_secret`` and ``access_token`` become ``*_cipher`` columns. Existing values are
encrypted with the SECRET_KEY of the environment that runs the migration, so run it with the same key the
app uses (``ruleflow migrate`` does).

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

#: clear column -> (cipher column, clear column's length, cipher column's length)
COLUMNS = {
    "webhook_secret": ("webhook_secret_cipher", 128, 300),
    "app_secret": ("app_secret_cipher", 256, 512),
    "access_token": ("access_token_cipher", 512, 1024),
}


def _convert(source: str, target: str, change: Callable[[str, str], str | None]) -> None:
    """Copy every non-empty value of one column into the other through ``change(secret_key, value)``."""
    connection = op.get_bind()
    rows = connection.execute(sa.text(f"SELECT id, {source} FROM shops WHERE {source} <> ''")).all()  # noqa: S608
    if not rows:
        return  # nothing stored (a fresh database): no key needed
    secret_key = get_settings().secret_key
    for shop_id, value in rows:
        converted = change(secret_key, value)
        if converted is None:
            raise RuntimeError(f"shop {shop_id}: {source} cannot be converted with this SECRET_KEY")
        connection.execute(
            sa.text(f"UPDATE shops SET {target} = :value WHERE id = :id"),  # noqa: S608
            {"value": converted, "id": shop_id},
        )


def _swap(columns: dict[str, tuple[str, int]], change: Callable[[str, str], str | None]) -> None:
    """Add each target column, fill it from its source through ``change``, drop the sources."""
    with op.batch_alter_table("shops") as batch:
        for target, length in columns.values():
            batch.add_column(
                sa.Column(target, sqlmodel.sql.sqltypes.AutoString(length=length), nullable=False, server_default="")
            )
    for source, (target, _) in columns.items():
        _convert(source, target, change)
    with op.batch_alter_table("shops") as batch:
        for source in columns:
            batch.drop_column(source)


def upgrade() -> None:
    _swap({clear: (cipher, length) for clear, (cipher, _, length) in COLUMNS.items()}, encrypt)


def downgrade() -> None:
    _swap({cipher: (clear, length) for clear, (cipher, length, _) in COLUMNS.items()}, decrypt)

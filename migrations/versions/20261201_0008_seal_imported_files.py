"""Keep uploaded order files encrypted, and only until they are imported (order_imports.content)

Files of finished imports are dropped: their orders (or the reason they failed) are what is kept. Files still
waiting are encrypted with the SECRET_KEY of the environment that runs the migration, so run it with the key
the app uses (``ruleflow migrate`` does).

Revision ID: 0008_seal_imported_files
Revises: 0007_encrypt_webhook_secrets
Create Date: 2026-12-01 09:30:00
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

from app.domain.orders.pii import PREFIX, seal, unseal
from app.settings import get_settings

revision: str = "0008_seal_imported_files"
down_revision: str | None = "0007_encrypt_webhook_secrets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _convert_waiting(wanted: Callable[[bytes], bool], change: Callable[[str, bytes], bytes | None]) -> None:
    """Pass the file of every import not yet finished through ``change(secret_key, content)``."""
    connection = op.get_bind()
    rows = connection.execute(
        sa.text("SELECT id, content FROM order_imports WHERE status IN ('queued', 'running')")
    ).all()
    rows = [(import_id, bytes(content)) for import_id, content in rows if content and wanted(bytes(content))]
    if not rows:
        return  # nothing waiting: no key needed
    secret_key = get_settings().secret_key
    for import_id, content in rows:
        converted = change(secret_key, content)
        if converted is None:
            raise RuntimeError(f"import {import_id}: the file cannot be converted with this SECRET_KEY")
        connection.execute(
            sa.text("UPDATE order_imports SET content = :content WHERE id = :id"),
            {"content": converted, "id": import_id},
        )


def upgrade() -> None:
    op.get_bind().execute(
        sa.text("UPDATE order_imports SET content = :empty WHERE status IN ('done', 'failed')"), {"empty": b""}
    )
    _convert_waiting(lambda content: not content.startswith(PREFIX.encode()), seal)


def downgrade() -> None:
    _convert_waiting(lambda content: content.startswith(PREFIX.encode()), unseal)

"""Sealed payloads: keep each platform payload encrypted beside a redacted copy; seal an SMS's recipient

Existing rows are converted: an order's raw payload and an error-queue payload are sealed as received (long
strings cut) and replaced by their redacted copy; buyer messages, seller memos and flow traces get the generic
pass (mobiles and the receiver's known phone, street and name masked).

Revision ID: 0009_sealed_payloads
Revises: 0008_seal_imported_files
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from app.domain.channels.adapters import adapter_for
from app.domain.channels.adapters.generic import GenericAdapter
from app.domain.orders import pii
from app.domain.orders.services import NOTE_LIMIT

revision: str = "0009_sealed_payloads"
down_revision: str | None = "0008_seal_imported_files"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ORDERS = sa.table(
    "orders",
    sa.column("id", sa.Integer),
    sa.column("channel", sa.String),
    sa.column("receiver_name", sa.String),
    sa.column("phone_cipher", sa.Text),
    sa.column("address_cipher", sa.Text),
    sa.column("buyer_message", sa.String),
    sa.column("seller_memo", sa.String),
    sa.column("raw", sa.JSON),
    sa.column("raw_cipher", sa.Text),
)
ERRORS = sa.table(
    "ingest_errors",
    sa.column("id", sa.Integer),
    sa.column("shop_id", sa.Integer),
    sa.column("source", sa.String),
    sa.column("payload", sa.Text),
    sa.column("payload_cipher", sa.Text),
    sa.column("message", sa.String),
)
SHOPS = sa.table("shops", sa.column("id", sa.Integer), sa.column("channel", sa.String))
PROCESSING = sa.table("order_processing", sa.column("order_id", sa.Integer), sa.column("flows", sa.JSON))


@cache
def secret_key() -> str:
    """The key personal data is encrypted with: asked for only when there are rows to convert."""
    from app.settings import get_settings

    return str(context.config.attributes.get("secret_key") or get_settings().secret_key)


def personal_fields(channel: str | None, source: str = "") -> Any:
    if not channel or source == "import":
        return GenericAdapter.personal_fields
    try:
        return adapter_for(channel).personal_fields
    except ValueError:
        return GenericAdapter.personal_fields


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("raw_cipher", sa.Text(), nullable=True))
    with op.batch_alter_table("ingest_errors") as batch:
        batch.add_column(sa.Column("payload_cipher", sa.Text(), nullable=True))
    with op.batch_alter_table("buyer_notifications") as batch:
        batch.add_column(sa.Column("recipient_cipher", sa.Text(), nullable=True))
    bind = op.get_bind()
    seal_orders(bind)
    seal_errors(bind)


def seal_orders(bind: sa.Connection) -> None:
    rows = bind.execute(sa.select(ORDERS).where(ORDERS.c.raw_cipher.is_(None))).mappings().all()
    for row in rows:
        key = secret_key()
        known = pii.Known.of(
            phones=[pii.decrypt(key, row["phone_cipher"])],
            streets=[pii.decrypt(key, row["address_cipher"])],
            names=[row["receiver_name"]],
        )
        raw = row["raw"] or {}
        bind.execute(
            sa.update(ORDERS)
            .where(ORDERS.c.id == row["id"])
            .values(
                raw=pii.redact(raw, personal_fields(row["channel"]), known),
                raw_cipher=pii.seal_json(key, pii.cut_strings(raw)),
                buyer_message=pii.redact_text(row["buyer_message"] or "", known, limit=NOTE_LIMIT),
                seller_memo=pii.redact_text(row["seller_memo"] or "", known, limit=NOTE_LIMIT),
            )
        )
        # The flow traces read the order (its buyer message included).
        flows = bind.execute(sa.select(PROCESSING.c.flows).where(PROCESSING.c.order_id == row["id"])).scalar()
        if flows:
            bind.execute(
                sa.update(PROCESSING)
                .where(PROCESSING.c.order_id == row["id"])
                .values(flows=pii.redact(flows, known=known))
            )


def seal_errors(bind: sa.Connection) -> None:
    query = (
        sa.select(ERRORS, SHOPS.c.channel)
        .select_from(ERRORS.outerjoin(SHOPS, SHOPS.c.id == ERRORS.c.shop_id))
        .where(ERRORS.c.payload_cipher.is_(None))
    )
    for row in bind.execute(query).mappings().all():
        kept = pii.redact_payload_text(row["payload"] or "", personal_fields(row["channel"], row["source"]))
        bind.execute(
            sa.update(ERRORS)
            .where(ERRORS.c.id == row["id"])
            .values(
                payload=kept.shown,
                payload_cipher=pii.seal_text(secret_key(), kept.original),
                message=pii.redact_text(row["message"] or "", kept.known, limit=1000),
            )
        )


def downgrade() -> None:
    # The clear payloads are not written back: the redacted copies stay, the sealed originals go.
    with op.batch_alter_table("buyer_notifications") as batch:
        batch.drop_column("recipient_cipher")
    with op.batch_alter_table("ingest_errors") as batch:
        batch.drop_column("payload_cipher")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("raw_cipher")

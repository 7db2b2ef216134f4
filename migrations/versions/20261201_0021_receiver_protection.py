"""Orders record that the platform protects the receiver and keep its tokens sealed.

``receiver_protected`` is set on the orders already kept whose phone came only masked or not at all from a
platform that hides it (Taobao/Tmall oaid trades, 快手, masked JD and 抖店 phones): the audit then treats them
as the platform's, as it does new ones. Same-address keys are not recomputed: the old ones (name + phone +
address) age out of the 24-hour window within a day, and the platform tokens of old orders were not kept.

Revision ID: 0021_receiver_protection
Revises: 0020_event_webhooks
Create Date: 2026-12-01 23:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_receiver_protection"
down_revision: str | None = "0020_event_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("receiver_protected", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("receiver_tokens_cipher", sa.Text(), nullable=True))
    orders = sa.table(
        "orders",
        sa.column("receiver_protected", sa.Boolean()),
        sa.column("phone_cipher", sa.Text()),
        sa.column("phone_masked", sa.String()),
        sa.column("channel", sa.String()),
    )
    op.execute(
        orders.update()
        .where(
            orders.c.phone_cipher.is_(None),
            sa.or_(orders.c.phone_masked.like("%*%"), orders.c.channel.in_(("taobao", "tmall", "kuaishou"))),
        )
        .values(receiver_protected=sa.true())
    )


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("receiver_tokens_cipher")
        batch.drop_column("receiver_protected")

"""Order hub: orders with lines, tags and timeline, customers and their identities, the channel inbox, the
ingest-error queue, order imports; shops get pull settings; the channel values follow the rule-flow schema.

Revision ID: 0002_order_hub
Revises: b3251cce32d3
Create Date: 2026-11-26 21:53:21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from app.dbtypes import UTCDateTime

revision: str = "0002_order_hub"
down_revision: str | None = "b3251cce32d3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("display_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "order_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("filename", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.Enum("queued", "running", "done", "failed", name="importstatus"), nullable=False),
        sa.Column("total_orders", sa.Integer(), nullable=False),
        sa.Column("processed_orders", sa.Integer(), nullable=False),
        sa.Column("ok_orders", sa.Integer(), nullable=False),
        sa.Column("failed_orders", sa.Integer(), nullable=False),
        sa.Column("message", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "channel_inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "event_id", name="uq_channel_inbox_event"),
    )
    with op.batch_alter_table("channel_inbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_channel_inbox_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_channel_inbox_shop_id"), ["shop_id"], unique=False)

    op.create_table(
        "customer_identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("value", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "value", name="uq_customer_identity"),
    )
    with op.batch_alter_table("customer_identities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customer_identities_customer_id"), ["customer_id"], unique=False)

    op.create_table(
        "ingest_errors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=True),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("field", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("message", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("status", sa.Enum("open", "replayed", "discarded", name="ingesterrorstatus"), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("ingest_errors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ingest_errors_channel"), ["channel"], unique=False)
        batch_op.create_index(batch_op.f("ix_ingest_errors_import_id"), ["import_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ingest_errors_shop_id"), ["shop_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ingest_errors_status"), ["status"], unique=False)

    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("raw_status", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "received",
                "audited",
                "on_hold",
                "routed",
                "waybilled",
                "shipped",
                "delivered",
                "completed",
                "cancelled",
                name="orderstatus",
            ),
            nullable=False,
        ),
        sa.Column("placed_at", UTCDateTime(), nullable=False),
        sa.Column("paid_at", UTCDateTime(), nullable=True),
        sa.Column("source_updated_at", UTCDateTime(), nullable=False),
        sa.Column("channel_buyer_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("buyer_nick", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("receiver_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("phone_masked", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("phone_cipher", sa.Text(), nullable=True),
        sa.Column("phone_suffix", sqlmodel.sql.sqltypes.AutoString(length=4), nullable=False),
        sa.Column("province", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("city", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("district", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("town", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("address_masked", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("address_cipher", sa.Text(), nullable=True),
        sa.Column("items_fen", sa.Integer(), nullable=False),
        sa.Column("shipping_fen", sa.Integer(), nullable=False),
        sa.Column("discount_fen", sa.Integer(), nullable=False),
        sa.Column("paid_fen", sa.Integer(), nullable=False),
        sa.Column("is_presale", sa.Boolean(), nullable=False),
        sa.Column("deposit_paid", sa.Boolean(), nullable=False),
        sa.Column("balance_due_at", UTCDateTime(), nullable=True),
        sa.Column("buyer_message", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("seller_memo", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "shop_id", "external_id", name="uq_orders_channel_shop_external"),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_orders_buyer_nick"), ["buyer_nick"], unique=False)
        batch_op.create_index("ix_orders_channel_placed", ["channel", "placed_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_external_id"), ["external_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_phone_suffix"), ["phone_suffix"], unique=False)
        batch_op.create_index("ix_orders_placed", ["placed_at", "id"], unique=False)
        batch_op.create_index("ix_orders_province_placed", ["province", "placed_at", "id"], unique=False)
        batch_op.create_index("ix_orders_shop_placed", ["shop_id", "placed_at", "id"], unique=False)
        batch_op.create_index("ix_orders_status_placed", ["status", "placed_at", "id"], unique=False)

    op.create_table(
        "order_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("order_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_events_order_id"), ["order_id"], unique=False)

    op.create_table(
        "order_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("line_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("sku", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("seller_sku", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("channel_sku_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("qty", sa.Integer(), nullable=False),
        sa.Column("unit_price_fen", sa.Integer(), nullable=False),
        sa.Column("paid_fen", sa.Integer(), nullable=False),
        sa.Column("is_gift", sa.Boolean(), nullable=False),
        sa.Column("bundle_of", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("refund_status", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_lines_order_id"), ["order_id"], unique=False)
        batch_op.create_index("ix_order_lines_sku_order", ["sku", "order_id"], unique=False)

    op.create_table(
        "order_tags",
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("tag", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
        ),
        sa.PrimaryKeyConstraint("order_id", "tag"),
    )
    with op.batch_alter_table("order_tags", schema=None) as batch_op:
        batch_op.create_index("ix_order_tags_tag_order", ["tag", "order_id"], unique=False)

    with op.batch_alter_table("shops", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "api_base_url",
                sqlmodel.sql.sqltypes.AutoString(length=300),
                nullable=False,
                server_default=sa.text("''"),
            )
        )
        batch_op.add_column(
            sa.Column(
                "app_key", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False, server_default=sa.text("''")
            )
        )
        batch_op.add_column(
            sa.Column(
                "app_secret", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False, server_default=sa.text("''")
            )
        )
        batch_op.add_column(
            sa.Column(
                "access_token",
                sqlmodel.sql.sqltypes.AutoString(length=512),
                nullable=False,
                server_default=sa.text("''"),
            )
        )
        batch_op.add_column(
            sa.Column("pull_interval_minutes", sa.Integer(), nullable=False, server_default=sa.text("'0'"))
        )
        batch_op.add_column(
            sa.Column(
                "pull_cursor",
                sqlmodel.sql.sqltypes.AutoString(length=100),
                nullable=False,
                server_default=sa.text("''"),
            )
        )
        batch_op.add_column(sa.Column("last_pulled_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("last_pull_error", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True))

    # 视频号小店 and the 小程序 shop are two channels now, and Tmall is its own channel (as in the rule-flow schema).
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TYPE channel RENAME VALUE 'wechat' TO 'wechat_miniprogram'")
        op.execute("ALTER TYPE channel ADD VALUE IF NOT EXISTS 'tmall' AFTER 'taobao'")
        op.execute("ALTER TYPE channel ADD VALUE IF NOT EXISTS 'wechat_channels' BEFORE 'wechat_miniprogram'")
    else:
        op.execute("UPDATE shops SET channel = 'wechat_miniprogram' WHERE channel = 'wechat'")
        with op.batch_alter_table("shops", schema=None) as batch_op:
            batch_op.alter_column(
                "channel",
                existing_type=sa.VARCHAR(length=8),
                type_=sa.Enum(
                    "taobao",
                    "tmall",
                    "jd",
                    "douyin",
                    "kuaishou",
                    "youzan",
                    "wechat_channels",
                    "wechat_miniprogram",
                    "pos",
                    "webshop",
                    name="channel",
                ),
                existing_nullable=False,
            )


def downgrade() -> None:
    # The channel values are not narrowed back: a shop on a new channel would have nowhere to go.
    with op.batch_alter_table("shops", schema=None) as batch_op:
        batch_op.drop_column("last_pull_error")
        batch_op.drop_column("last_pulled_at")
        batch_op.drop_column("pull_cursor")
        batch_op.drop_column("pull_interval_minutes")
        batch_op.drop_column("access_token")
        batch_op.drop_column("app_secret")
        batch_op.drop_column("app_key")
        batch_op.drop_column("api_base_url")

    with op.batch_alter_table("order_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_order_tags_tag_order")

    op.drop_table("order_tags")
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_order_lines_sku_order")
        batch_op.drop_index(batch_op.f("ix_order_lines_order_id"))

    op.drop_table("order_lines")
    with op.batch_alter_table("order_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_events_order_id"))

    op.drop_table("order_events")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_status_placed")
        batch_op.drop_index("ix_orders_shop_placed")
        batch_op.drop_index("ix_orders_province_placed")
        batch_op.drop_index("ix_orders_placed")
        batch_op.drop_index(batch_op.f("ix_orders_phone_suffix"))
        batch_op.drop_index(batch_op.f("ix_orders_external_id"))
        batch_op.drop_index(batch_op.f("ix_orders_customer_id"))
        batch_op.drop_index("ix_orders_channel_placed")
        batch_op.drop_index(batch_op.f("ix_orders_buyer_nick"))

    op.drop_table("orders")
    with op.batch_alter_table("ingest_errors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ingest_errors_status"))
        batch_op.drop_index(batch_op.f("ix_ingest_errors_shop_id"))
        batch_op.drop_index(batch_op.f("ix_ingest_errors_import_id"))
        batch_op.drop_index(batch_op.f("ix_ingest_errors_channel"))

    op.drop_table("ingest_errors")
    with op.batch_alter_table("customer_identities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_identities_customer_id"))

    op.drop_table("customer_identities")
    with op.batch_alter_table("channel_inbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channel_inbox_shop_id"))
        batch_op.drop_index(batch_op.f("ix_channel_inbox_order_id"))

    op.drop_table("channel_inbox")
    op.drop_table("order_imports")
    op.drop_table("customers")

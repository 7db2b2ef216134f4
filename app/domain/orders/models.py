"""Orders: the canonical order of every channel, its lines, tags and timeline, and customers across channels."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.dbtypes import json_field, utc_field
from app.domain.orders.schemas import REFUND_SUCCESS_STATUSES


class OrderStatus(StrEnum):
    """Internal status, one set for all channels (the rule-flow engine uses the same values)."""

    received = "received"  # 待审核
    audited = "audited"  # 已审核
    on_hold = "on_hold"  # 异常/挂起
    routed = "routed"  # 已分配
    waybilled = "waybilled"  # 已打单
    shipped = "shipped"  # 已发货
    delivered = "delivered"  # 已签收
    completed = "completed"  # 已完成
    cancelled = "cancelled"  # 已取消


class Customer(SQLModel, table=True):
    """One person across channels, found by a WeChat unionid or a phone number given in clear."""

    __tablename__ = "customers"

    id: int | None = Field(default=None, primary_key=True)
    display_name: str = Field(default="", max_length=100)
    created_at: datetime = utc_field()


class CustomerIdentity(SQLModel, table=True):
    """A key that identifies a customer: ``unionid`` or ``phone_hash`` (a keyed hash, never the phone itself).

    Taobao's ``oaid`` is never one: it changes per seller, app and week.
    """

    __tablename__ = "customer_identities"
    __table_args__ = (UniqueConstraint("kind", "value", name="uq_customer_identity"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customers.id", index=True)
    kind: str = Field(max_length=16)
    value: str = Field(max_length=128)


class Order(SQLModel, table=True):
    """The canonical order of DESIGN.md, flattened into columns; personal data as ciphertext plus a mask."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("channel", "shop_id", "external_id", name="uq_orders_channel_shop_external"),
        # Keyset pagination: newest first by (placed_at, id), alone or behind an equality filter.
        Index("ix_orders_placed", "placed_at", "id"),
        Index("ix_orders_channel_placed", "channel", "placed_at", "id"),
        Index("ix_orders_shop_placed", "shop_id", "placed_at", "id"),
        Index("ix_orders_status_placed", "status", "placed_at", "id"),
        Index("ix_orders_province_placed", "province", "placed_at", "id"),
        Index("ix_orders_address_key_placed", "address_key", "placed_at"),
        # The sweeper's 自动完成: delivered orders, longest signed for first.
        Index("ix_orders_status_delivered", "status", "delivered_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    shop_id: int = Field(foreign_key="shops.id")
    external_id: str = Field(max_length=64, index=True)
    raw_status: str = Field(default="", max_length=64)
    status: OrderStatus = Field(default=OrderStatus.received, max_length=16)
    placed_at: datetime = utc_field()
    paid_at: datetime | None = utc_field(nullable=True)
    #: The platform's own modification time: an update older than this changes nothing.
    source_updated_at: datetime = utc_field()
    channel_buyer_id: str = Field(default="", max_length=128)
    buyer_nick: str = Field(default="", max_length=100, index=True)
    customer_id: int | None = Field(default=None, foreign_key="customers.id", index=True)
    receiver_name: str = Field(default="", max_length=100)
    phone_masked: str = Field(default="", max_length=32)
    phone_cipher: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    #: The last four digits, for "search by phone suffix" (they are visible in the masked copy anyway).
    phone_suffix: str = Field(default="", max_length=4, index=True)
    province: str = Field(default="", max_length=32)
    city: str = Field(default="", max_length=64)
    district: str = Field(default="", max_length=64)
    town: str = Field(default="", max_length=64)
    address_masked: str = Field(default="", max_length=300)
    address_cipher: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    #: A keyed hash of the normalised address alone (or of the platform's address token, e.g. ``oaid``, when
    #: the address is hidden): finds orders to the same door (刷单). Empty when neither is known.
    address_key: str = Field(default="", max_length=64)
    #: The platform protects the receiver (oaid, ciphertext, virtual number): see NormalizedOrder.
    receiver_protected: bool = False
    #: The platform's receiver tokens and ciphertext as sent (a JSON object), sealed like the clear values.
    receiver_tokens_cipher: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    items_fen: int = 0
    shipping_fen: int = 0
    discount_fen: int = 0
    paid_fen: int = 0
    is_presale: bool = False
    deposit_paid: bool = False
    #: The presale's deposit (定金) in fen, as the platform reports it.
    deposit_fen: int = 0
    balance_paid: bool = False
    #: The platform's balance due time; None when it gives none.
    balance_due_at: datetime | None = utc_field(nullable=True)
    buyer_message: str = Field(default="", max_length=1000)
    seller_memo: str = Field(default="", max_length=1000)
    tags: list[str] = json_field(nullable=False, default_factory=list)
    #: A 社区团购 order's leader, pickup point and route (``CommunityGroup``'s fields); None for other orders.
    community: dict[str, str] | None = json_field()
    #: The platform's payload as shown everywhere: personal data masked, long strings cut (pii.redact).
    raw: dict[str, Any] = json_field(nullable=False, default_factory=dict)
    #: The payload as received (long strings cut), sealed; opened only by an audited reveal.
    raw_cipher: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    #: Bumped by every accepted update; the processing job is staged once per version.
    version: int = 1
    #: An order the seller sends again at no charge (补发, or the replacement of an exchange) for an after-sales
    #: case of this order: its platform knows nothing of it, so it is never written back there.
    reissue_of: int | None = None
    #: When the order was delivered (已签收: every parcel signed for, or the platform said so); the sweeper
    #: completes it its shop's ``complete_after_days`` later.
    delivered_at: datetime | None = utc_field(nullable=True)
    received_at: datetime = utc_field()
    updated_at: datetime = utc_field()


class OrderLine(SQLModel, table=True):
    """One line of an order. ``sku`` is our SKU code when the seller code maps to one, else empty."""

    __tablename__ = "order_lines"
    __table_args__ = (Index("ix_order_lines_sku_order", "sku", "order_id"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    position: int = 0
    line_id: str = Field(max_length=64)
    sku: str = Field(default="", max_length=64)
    seller_sku: str = Field(default="", max_length=64)
    channel_sku_id: str = Field(default="", max_length=64)
    title: str = Field(default="", max_length=300)
    qty: int = 1
    unit_price_fen: int = 0
    paid_fen: int = 0
    is_gift: bool = False
    bundle_of: str | None = Field(default=None, max_length=100)
    refund_status: str = Field(default="", max_length=32)

    @property
    def is_refunded(self) -> bool:
        """The line's money went back to the buyer: it is not shipped."""
        return self.refund_status in REFUND_SUCCESS_STATUSES


class OrderTag(SQLModel, table=True):
    """An order's tags as rows, so that filtering by tag uses an index at a million orders."""

    __tablename__ = "order_tags"
    __table_args__ = (Index("ix_order_tags_tag_order", "tag", "order_id"),)

    order_id: int = Field(foreign_key="orders.id", primary_key=True)
    tag: str = Field(max_length=64, primary_key=True)


class OrderEvent(SQLModel, table=True):
    """The order's timeline: received, updated, status changed, personal data revealed, processing."""

    __tablename__ = "order_events"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    at: datetime = utc_field()
    kind: str = Field(max_length=32)
    actor: str = Field(default="system", max_length=100)
    detail: dict[str, Any] | None = json_field()

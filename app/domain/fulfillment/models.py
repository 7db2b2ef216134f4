"""Fulfillment: shipments, carriers and their rate tables, waybills, shipping documents and buyer notifications."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.dbtypes import json_field, utc_field

ANY = "*"


class CarrierBase(SQLModel):
    """A courier company orders can be shipped with."""

    code: str = Field(max_length=32, unique=True, index=True)
    name: str = Field(max_length=100)
    supports_cold_chain: bool = False
    is_active: bool = True


class Carrier(CarrierBase, table=True):
    __tablename__ = "carriers"

    id: int | None = Field(default=None, primary_key=True)
    #: The carrier's own e-waybill API for this merchant: its address, the customer code (月结账号 / 客户编码) it
    #: bills, and the app key and secret it signs with; the secret kept encrypted under SECRET_KEY like the shops'
    #: (``carrier_master.api_secret_of`` reads it). No address: waybills come from CARRIER_API_URL.
    api_base_url: str = Field(default="", max_length=300)
    customer_code: str = Field(default="", max_length=64)
    api_key: str = Field(default="", max_length=128)
    api_secret_cipher: str = Field(default="", max_length=512)


class CarrierRead(CarrierBase):
    id: int


class CarrierRateBase(SQLModel):
    """One line of a carrier's rate table: price and promised days for a lane, weight band and temperature.

    ``*`` in origin, destination or temperature zone means "any"; the most specific matching line wins.
    Fee = first_fee_fen for the first kilogram + extra_fee_fen_per_kg for each further started kilogram.
    """

    carrier_code: str = Field(max_length=32, foreign_key="carriers.code", index=True)
    origin_province: str = Field(default=ANY, max_length=32)
    dest_province: str = Field(default=ANY, max_length=32)
    min_weight_g: int = 0
    max_weight_g: int = 1_000_000
    temperature_zone: str = Field(default=ANY, max_length=16)
    first_fee_fen: int
    extra_fee_fen_per_kg: int = 0
    promised_days: int = 3


class CarrierRate(CarrierRateBase, table=True):
    __tablename__ = "carrier_rates"

    id: int | None = Field(default=None, primary_key=True)


class Waybill(SQLModel, table=True):
    """A waybill number a carrier issued for one shipment. ``request_key`` makes the request idempotent."""

    __tablename__ = "waybills"

    id: int | None = Field(default=None, primary_key=True)
    request_key: str = Field(max_length=120, unique=True)
    order_ref: str = Field(max_length=64, index=True)
    carrier_code: str = Field(max_length=32)
    warehouse_code: str = Field(max_length=32)
    waybill_no: str = Field(max_length=64, unique=True)
    created_at: datetime = utc_field()
    response: dict[str, Any] | None = json_field()


class ShippingDocument(SQLModel, table=True):
    """An outbound order (出库单) or pick list (拣货单) for one warehouse and wave; its shipments are entries."""

    __tablename__ = "shipping_documents"
    __table_args__ = (UniqueConstraint("kind", "warehouse_code", "wave", name="uq_shipping_document_wave"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)  # outbound_order | pick_list
    warehouse_code: str = Field(max_length=32, index=True)
    wave: str = Field(max_length=32)  # e.g. 20261111-0930: the half hour the orders were released in
    created_at: datetime = utc_field()
    updated_at: datetime = utc_field()
    #: When and by whom it was first printed from its page: from then on the paper is in the warehouse, so a
    #: parcel intercepted later stays on it, flagged, instead of silently leaving it.
    printed_at: datetime | None = utc_field(nullable=True)
    printed_by: str = Field(default="", max_length=100, sa_column_kwargs={"server_default": ""})


class ShippingDocumentEntry(SQLModel, table=True):
    """One shipment on a document. A row each (not a list on the document), so that a wave of thousands of
    orders is written by concurrent workers without all of them waiting on one row."""

    __tablename__ = "shipping_document_entries"
    __table_args__ = (UniqueConstraint("document_id", "order_ref", name="uq_shipping_document_entry"),)

    id: int | None = Field(default=None, primary_key=True)
    document_id: int = Field(foreign_key="shipping_documents.id")
    order_ref: str = Field(max_length=64, index=True)
    added_at: datetime = utc_field()


class BuyerNotification(SQLModel, table=True):
    """A message to a buyer (SMS or WeChat), sent through a pluggable sender after commit. A 已发货 message
    decided at routing waits (``waiting``, its parcel in ``shipment_ref``) until the parcel is confirmed shipped;
    its body is written then, with the waybill number."""

    __tablename__ = "buyer_notifications"

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=160, unique=True)
    order_ref: str = Field(max_length=64, index=True)
    template: str = Field(max_length=64)
    via: str = Field(max_length=16)  # sms | wechat
    recipient_masked: str = Field(default="", max_length=64)
    #: Where the gateway sends it (an SMS's phone number), sealed; opened only by the sender.
    recipient_cipher: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    body: str = Field(default="", max_length=500)
    #: waiting (for its parcel to ship) | pending | sending | sent | failed | withdrawn (its parcel never ships)
    status: str = Field(default="pending", max_length=16)
    #: The parcel a waiting message is about (e.g. RF00000042-1); None for a message about the whole order.
    shipment_ref: str | None = Field(default=None, max_length=64, index=True)
    provider_message_id: str | None = Field(default=None, max_length=100)
    created_at: datetime = utc_field()
    sent_at: datetime | None = utc_field(nullable=True)


class MessageTemplate(SQLModel, table=True):
    """An admin's own text of one buyer message for one channel (设置 → 消息模板); a template with no row here
    uses the product's default text (``message_templates.DEFAULT_TEXTS``)."""

    __tablename__ = "message_templates"
    __table_args__ = (UniqueConstraint("template", "via", name="uq_message_template"),)

    id: int | None = Field(default=None, primary_key=True)
    template: str = Field(max_length=64)
    via: str = Field(max_length=16)  # sms | wechat
    text: str = Field(max_length=500)
    updated_by: str = Field(default="", max_length=100)
    updated_at: datetime = utc_field()


class Shipment(SQLModel, table=True):
    """What leaves one warehouse for one order (an order split across warehouses has several)."""

    __tablename__ = "shipments"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    seq: int = 1
    #: The reference on documents, waybills and notifications, e.g. RF00000042-1.
    ref: str = Field(max_length=64, unique=True)
    warehouse_code: str = Field(max_length=32, index=True)
    carrier_code: str | None = Field(default=None, max_length=32)
    #: [{line_id, sku, title, qty, is_gift, bundle_of, order_id}] as they are picked (bundles expanded if decided).
    lines: list[dict[str, Any]] = json_field(nullable=False, default_factory=list)
    weight_g: int = 0
    #: ambient | chilled | frozen: the coldest its contents need (a split order's zones leave apart, 按温层拆包).
    temperature_zone: str = Field(default="ambient", max_length=16, sa_column_kwargs={"server_default": "ambient"})
    fee_fen: int = 0
    promised_days: int | None = None
    waybill_no: str | None = Field(default=None, max_length=64)
    #: pending | waybilled | intercepted (its order was cancelled after the waybill: the warehouse is to pull it,
    #: ``interceptions.py``) | shipped (confirmed as left the warehouse, ``confirmation.py``) | delivered (the
    #: carrier's tracking says signed for, ``tracking.py``) | cancelled
    status: str = Field(default="pending", max_length=16)
    created_at: datetime = utc_field()
    updated_at: datetime = utc_field()
    #: When the warehouse confirmed it left (``confirmation.confirm_shipped``), and when its carrier said it was
    #: signed for (``confirmation.confirm_delivered``); None until then.
    shipped_at: datetime | None = utc_field(nullable=True)
    delivered_at: datetime | None = utc_field(nullable=True)


class TrackingStatus(StrEnum):
    """What a carrier's tracking event says of a parcel (the carrier's own words are in ``description``)."""

    collected = "collected"  # 揽收
    in_transit = "in_transit"  # 运输中
    out_for_delivery = "out_for_delivery"  # 派送中
    delivered = "delivered"  # 已签收
    exception = "exception"  # 异常 (refused, lost, address unknown: the description says which)


class TrackingEvent(SQLModel, table=True):
    """One tracking event a carrier pushed for a waybill (``tracking.py``). ``event_key`` is the carrier's event
    id, or a digest of what the event says when it sends none, so an event pushed again is stored once."""

    __tablename__ = "tracking_events"
    __table_args__ = (UniqueConstraint("carrier_code", "event_key", name="uq_tracking_event"),)

    id: int | None = Field(default=None, primary_key=True)
    carrier_code: str = Field(max_length=32)
    event_key: str = Field(max_length=128)
    waybill_no: str = Field(max_length=64, index=True)
    shipment_ref: str = Field(max_length=64)
    order_id: int = Field(foreign_key="orders.id", index=True)
    status: str = Field(max_length=20)
    #: The carrier's text (phone numbers masked), and where the parcel was.
    description: str = Field(default="", max_length=500)
    location: str = Field(default="", max_length=100)
    occurred_at: datetime = utc_field()
    received_at: datetime = utc_field()


class InterceptionStatus(StrEnum):
    """Where an interception (拦截) stands."""

    requested = "requested"  # the warehouse is to take the parcel off the line
    pulled = "pulled"  # the warehouse confirmed it back on the shelf; its stock was released then
    left = "left"  # it had already left: a return in transit is needed


class VoidStatus(StrEnum):
    """Where voiding an intercepted parcel's waybill at its carrier stands."""

    pending = "pending"
    voided = "voided"
    refused = "refused"  # the carrier would not (the note says why); the parcel is pulled all the same
    not_needed = "not_needed"  # the parcel had left: its waybill is in use


class Interception(SQLModel, table=True):
    """A parcel whose order was cancelled (or fully refunded) on its platform after its waybill was printed: one
    per shipment. Its reservation stays until the warehouse confirms the parcel pulled (``interceptions.py``)."""

    __tablename__ = "interceptions"

    id: int | None = Field(default=None, primary_key=True)
    shipment_ref: str = Field(max_length=64, unique=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    warehouse_code: str = Field(max_length=32, index=True)
    carrier_code: str = Field(default="", max_length=32)
    waybill_no: str = Field(default="", max_length=64)
    status: str = Field(default=InterceptionStatus.requested.value, max_length=16, index=True)  # InterceptionStatus
    reason: str = Field(default="", max_length=200)
    void_status: str = Field(default=VoidStatus.pending.value, max_length=16)  # VoidStatus
    void_note: str = Field(default="", max_length=300)
    requested_at: datetime = utc_field()
    voided_at: datetime | None = utc_field(nullable=True)
    confirmed_at: datetime | None = utc_field(nullable=True)
    confirmed_by: str = Field(default="", max_length=100)
    updated_at: datetime = utc_field()


def order_ref(order_id: int) -> str:
    """The OMS's own order reference, e.g. RF00000042 (printed on documents and messages)."""
    return f"RF{order_id:08d}"


def shipment_ref(order_id: int, seq: int) -> str:
    """One shipment of an order, e.g. RF00000042-1."""
    return f"{order_ref(order_id)}-{seq}"


class WritebackStatus(StrEnum):
    """Where a parcel's 发货回传 stands."""

    pending = "pending"  # staged or being retried by the outbox
    sent = "sent"  # the platform accepted it (or said the order was already shipped)
    failed = "failed"  # refused, or unreachable after the outbox's attempts: shown on the order with 重试
    not_needed = "not_needed"  # a channel with no platform to tell (till, web shop, 社区团购)


class PlatformWriteback(SQLModel, table=True):
    """发货回传: one shipped parcel of one order, told to the order's platform (``channels.delivery`` sends it).

    One row per parcel and order (a parcel of a merged order carries several orders); for a platform that takes
    one call per order, one row, on the parcel that shipped last."""

    __tablename__ = "platform_writebacks"
    __table_args__ = (UniqueConstraint("shipment_ref", "order_id", name="uq_platform_writeback_parcel"),)

    id: int | None = Field(default=None, primary_key=True)
    shipment_ref: str = Field(max_length=64, index=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    shop_id: int = Field(foreign_key="shops.id")
    channel: str = Field(max_length=32)
    waybill_no: str = Field(default="", max_length=64)
    carrier_code: str = Field(default="", max_length=32)
    #: One of :class:`WritebackStatus`.
    status: str = Field(default=WritebackStatus.pending.value, max_length=16)
    #: Calls made since it was staged or last retried by hand (the outbox gives up after its max attempts).
    attempts: int = 0
    #: How often a person pressed 重试 (each retry is a new outbox job).
    retries: int = 0
    #: Why it failed: a key of ``fulfillment.writebacks.ERROR_MESSAGES``; ``last_error`` holds the platform's own words.
    error_code: str = Field(default="", max_length=32)
    last_error: str | None = Field(default=None, max_length=1000)
    #: The platform's id of the accepted call (its request or log id), for a support ticket.
    reply_id: str = Field(default="", max_length=100)
    created_at: datetime = utc_field()
    updated_at: datetime = utc_field()
    sent_at: datetime | None = utc_field(nullable=True)


class ScanBatch(SQLModel, table=True):
    """Many waybill numbers confirmed in one action at the scan station (a whole wave, or an uploaded file),
    chunk by chunk: the numbers to confirm, in order, and an answer per number done so far. Kept so that the
    result can be shown while it grows and downloaded afterwards."""

    __tablename__ = "scan_batches"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # wave | file
    #: What was confirmed, as the result names it: the warehouse and wave, or the file's name.
    label: str = Field(max_length=200)
    waybill_numbers: list[str] = json_field(nullable=False, default_factory=list)
    #: One answer of :func:`confirmation.confirm_many` per number done, in the same order.
    answers: list[dict[str, Any]] = json_field(nullable=False, default_factory=list)
    created_by: str = Field(max_length=100)
    created_at: datetime = utc_field()
    updated_at: datetime = utc_field()


class ShipmentDayRollup(SQLModel, table=True):
    """The parcels shipped on one China day from one warehouse with one carrier for one shop, counted as each is
    confirmed shipped and, later, delivered (``shipment_rollups``): how long they waited from payment, how many
    kept the shipping promise (发货时效) and how many were signed for within their carrier's promised days."""

    __tablename__ = "report_shipment_days"

    day: date = Field(primary_key=True)
    warehouse_code: str = Field(max_length=32, primary_key=True)
    #: "" for a parcel shipped with no carrier named.
    carrier_code: str = Field(max_length=32, primary_key=True)
    channel: str = Field(max_length=32, primary_key=True)
    shop_id: int = Field(primary_key=True)
    parcels: int = 0
    #: Minutes from payment (a presale's balance due time) to shipment, summed over the parcels.
    wait_minutes: int = Field(default=0, sa_type=BigInteger)
    #: Parcels shipped within their channel's promise (``fulfillment.ship_promise``).
    in_promise: int = 0
    #: Parcels signed for, those of them whose carrier promised a number of days, and those delivered within it.
    delivered: int = 0
    delivered_promised: int = 0
    delivered_in_promise: int = 0
    #: Parcels by how long they waited: up to 12 hours, 12–24, 24–48, 48–72, longer.
    waited_12h: int = 0
    waited_24h: int = 0
    waited_48h: int = 0
    waited_72h: int = 0
    waited_longer: int = 0

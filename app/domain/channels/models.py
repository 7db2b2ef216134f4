"""Channels: the ingest inbox, the error queue and imports (the shops themselves are ``app.domain.shops``)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import Column, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.dbtypes import json_field, utc_field

#: How long a channel's name may be where it is stored as text (error rows keep whatever a payload named).
CHANNEL_LENGTH: Final = 32


class IngestSource(StrEnum):
    webhook = "webhook"
    pull = "pull"
    csv_import = "import"
    replay = "replay"
    #: A platform's refund / after-sale message (``channels.aftersale_messages``), not an order.
    aftersale = "aftersale"


class InboxEvent(SQLModel, table=True):
    """One delivery of one version of an order, unique per channel and event id: redelivery is a no-op."""

    __tablename__ = "channel_inbox"
    __table_args__ = (UniqueConstraint("channel", "event_id", name="uq_channel_inbox_event"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    event_id: str = Field(max_length=200)
    shop_id: int = Field(foreign_key="shops.id", index=True)
    source: str = Field(max_length=16)
    received_at: datetime = utc_field()
    order_id: int | None = Field(default=None, index=True)
    #: created | updated | stale
    outcome: str = Field(default="", max_length=16)


class PushMessage(SQLModel, table=True):
    """A platform's signed push message already taken, by the platform's own message id: the same message
    delivered again (a retry, or a replay by someone who copied it) is answered as a duplicate and changes nothing.
    Kept for ``push.SEEN_KEEP``, well past the window a push's time must fall within."""

    __tablename__ = "channel_push_messages"
    __table_args__ = (UniqueConstraint("channel", "msg_id", name="uq_channel_push_message"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    msg_id: str = Field(max_length=200)
    shop_id: int = Field(foreign_key="shops.id", index=True)
    received_at: datetime = utc_field(index=True)


class IngestErrorStatus(StrEnum):
    open = "open"
    replayed = "replayed"
    discarded = "discarded"


class IngestError(SQLModel, table=True):
    """A payload that could not be turned into an order: kept so that someone can fix and replay it."""

    __tablename__ = "ingest_errors"

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=CHANNEL_LENGTH, index=True)
    #: None when the payload named no shop we know (an import row with a wrong shop code).
    shop_id: int | None = Field(default=None, foreign_key="shops.id", index=True)
    source: str = Field(max_length=16)
    #: The payload as shown and edited for a replay: personal data masked, long strings cut (text, since it
    #: may not even be JSON).
    payload: str = Field(sa_column=Column(Text, nullable=False))
    #: The payload as received (long strings cut), sealed; opened only by an audited reveal and by a replay.
    payload_cipher: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    field: str = Field(default="", max_length=200)
    message: str = Field(default="", max_length=1000)
    status: IngestErrorStatus = Field(default=IngestErrorStatus.open, max_length=16, index=True)
    created_at: datetime = utc_field()
    resolved_at: datetime | None = utc_field(nullable=True)
    order_id: int | None = None
    import_id: int | None = Field(default=None, index=True)


class ImportStatus(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


class OrderImport(SQLModel, table=True):
    """A CSV or Excel file of orders, processed in the background; its counters drive the progress bar."""

    __tablename__ = "order_imports"

    id: int | None = Field(default=None, primary_key=True)
    filename: str = Field(max_length=200)
    #: The file itself, in the database so that any worker on any machine can read it.
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    status: ImportStatus = Field(default=ImportStatus.queued, max_length=16)
    total_orders: int = 0
    processed_orders: int = 0
    ok_orders: int = 0
    failed_orders: int = 0
    message: str = Field(default="", max_length=1000)
    created_by: str = Field(default="", max_length=100)
    created_at: datetime = utc_field()
    finished_at: datetime | None = utc_field(nullable=True)
    summary: dict[str, Any] | None = json_field()

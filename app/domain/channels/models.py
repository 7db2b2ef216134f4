"""Channels: the shops a merchant runs on each platform, the ingest inbox, the error queue and imports."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import Column, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.dbtypes import json_field, utc_field

#: How long a channel's name may be where it is stored as text (error rows keep whatever a payload named).
CHANNEL_LENGTH: Final = 32


class Channel(StrEnum):
    """Platforms orders come from; the same values as ``order.channel`` in the rule-flow context schema."""

    taobao = "taobao"  # 淘宝
    tmall = "tmall"  # 天猫 (same TOP API as Taobao)
    jd = "jd"  # 京东 POP
    douyin = "douyin"  # 抖店
    kuaishou = "kuaishou"  # 快手小店
    youzan = "youzan"  # 有赞
    wechat_channels = "wechat_channels"  # 视频号小店
    wechat_miniprogram = "wechat_miniprogram"  # 微信小程序商城
    pos = "pos"  # 门店收银
    webshop = "webshop"  # 品牌官网


class ShopBase(SQLModel):
    """One shop on one channel."""

    channel: Channel = Field(max_length=32, index=True)
    code: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=100)
    is_active: bool = True


class Shop(ShopBase, table=True):
    __tablename__ = "shops"

    id: int | None = Field(default=None, primary_key=True)
    #: The secret that verifies webhook signatures, encrypted under SECRET_KEY (``pii.encrypt``); empty when
    #: none is set. Shown once when made; read it with ``channels.services.webhook_secret_of``.
    webhook_secret_cipher: str = Field(default="", max_length=300)
    #: The platform's open-API address, app key / secret and the shop's access token, for the pull job. The
    #: app secret and the access token are kept encrypted like the webhook secret (``credentials_of`` reads
    #: them); a clear app secret may be 256 characters, a clear token 512.
    api_base_url: str = Field(default="", max_length=300)
    app_key: str = Field(default="", max_length=128)
    app_secret_cipher: str = Field(default="", max_length=512)
    access_token_cipher: str = Field(default="", max_length=1024)
    #: Pull the order list every this many minutes (0 = only when someone presses "pull now").
    pull_interval_minutes: int = 0
    #: Where the last pull stopped (the newest modification time seen), so the next one starts there.
    pull_cursor: str = Field(default="", max_length=100)
    last_pulled_at: datetime | None = utc_field(nullable=True)
    last_pull_error: str | None = Field(default=None, max_length=1000)


class ShopRead(ShopBase):
    id: int


class IngestSource(StrEnum):
    webhook = "webhook"
    pull = "pull"
    csv_import = "import"
    replay = "replay"


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

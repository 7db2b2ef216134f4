"""Shops: the shops a merchant runs on each platform, and the platforms themselves.

Every other domain may read a shop; shops import no other domain.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from app.dbtypes import utc_field

#: The default 预售尾款默认期限 of a new shop: three days after payment.
DEFAULT_PRESALE_BALANCE_HOURS = 72
#: The longest an admin may set it to: a year, the farthest a presale's balance is due (as order times allow).
MAX_PRESALE_BALANCE_HOURS = 366 * 24
#: The values of 逾期未付尾款, the default first: 转人工审核, 取消订单.
PRESALE_OVERDUE_ACTIONS = ("review", "cancel")
#: 自动确认收货: a delivered order of a new shop is completed this many days after it was signed for.
DEFAULT_COMPLETE_AFTER_DAYS = 7
#: The longest an admin may set it to (platforms confirm receipt within weeks, never months).
MAX_COMPLETE_AFTER_DAYS = 90


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
    community_group = "community_group"  # 社区团购: orders by 团长, picked up at a 自提点, delivered by route


#: Channels whose platform takes a full stock figure per SKU, so their shops are told their channel stock (库存推送).
#: The tills, the web shop and 社区团购 have no platform stock API; 快手's (``open.item.sku.stock.update``) only adds
#: or takes away units, so a repeated push would not be harmless and its shops are not pushed either.
STOCK_PUSH_CHANNELS = frozenset(
    {
        Channel.taobao,
        Channel.tmall,
        Channel.jd,
        Channel.douyin,
        Channel.youzan,
        Channel.wechat_channels,
        Channel.wechat_miniprogram,
    }
)


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
    #: The key a platform encrypts its message push with when it is not the app secret (快手's 消息密钥), encrypted
    #: like the app secret (``channels.push.message_key_of`` reads it); empty when none is set.
    push_message_key_cipher: str = Field(default="", max_length=512)
    #: Pull the order list every this many minutes (0 = only when someone presses "pull now").
    pull_interval_minutes: int = 0
    #: Where the last pull stopped (the newest modification time seen), so the next one starts there.
    pull_cursor: str = Field(default="", max_length=100)
    last_pulled_at: datetime | None = utc_field(nullable=True)
    last_pull_error: str | None = Field(default=None, max_length=1000)
    #: 预售尾款默认期限: a presale's balance is due this many hours after payment when the platform gives no due
    #: time (the flows read it as ``features.presale_default_due_at``).
    presale_balance_hours: int = DEFAULT_PRESALE_BALANCE_HOURS
    #: 逾期未付尾款: what the sweeper does with a presale whose balance is still unpaid at its due time, one of
    #: :data:`PRESALE_OVERDUE_ACTIONS` (``review``: 转人工审核, ``cancel``: 取消订单 and its stock freed).
    presale_overdue_action: str = Field(default="review", max_length=10)
    #: The store warehouse (门店仓) a POS shop's till sells from: a completed sale takes its units off there.
    store_warehouse_code: str = Field(default="", max_length=32)
    #: 自动完成天数: the processing sweeper completes a delivered order this many days after it was signed for
    #: (0: at the next sweep), unless the platform says it is finished first.
    complete_after_days: int = DEFAULT_COMPLETE_AFTER_DAYS


class ShopRead(ShopBase):
    id: int

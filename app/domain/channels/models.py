"""Channels: the shops a merchant runs on each platform. Adapters and ingest arrive with the order hub."""

from __future__ import annotations

from enum import StrEnum

from sqlmodel import Field, SQLModel


class Channel(StrEnum):
    """Platforms orders come from."""

    taobao = "taobao"  # 淘宝 / 天猫
    jd = "jd"  # 京东
    douyin = "douyin"  # 抖店
    kuaishou = "kuaishou"  # 快手
    youzan = "youzan"  # 有赞
    wechat = "wechat"  # 视频号小店 / 小程序
    pos = "pos"  # 门店收银
    webshop = "webshop"  # 品牌官网


class ShopBase(SQLModel):
    """One shop on one channel."""

    channel: Channel = Field(max_length=16, index=True)
    code: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=100)
    is_active: bool = True


class Shop(ShopBase, table=True):
    __tablename__ = "shops"

    id: int | None = Field(default=None, primary_key=True)
    #: Secret used to verify webhook signatures; never shown after it is set.
    webhook_secret: str = Field(default="", max_length=128)


class ShopRead(ShopBase):
    id: int

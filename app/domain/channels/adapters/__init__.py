"""One adapter per platform, by channel. Taobao and Tmall share TOP; both WeChat channels share order/get; the
brand's own systems (tills, web shop) and 社区团购 send the generic format."""

from __future__ import annotations

from app.domain.channels.adapters.base import Adapter, NormalizeError, PullError
from app.domain.channels.adapters.douyin import DouyinAdapter
from app.domain.channels.adapters.generic import GenericAdapter
from app.domain.channels.adapters.jd import JdAdapter
from app.domain.channels.adapters.kuaishou import KuaishouAdapter
from app.domain.channels.adapters.taobao import TaobaoAdapter
from app.domain.channels.adapters.wechat import WechatAdapter
from app.domain.channels.adapters.youzan import YouzanAdapter
from app.domain.orders.schemas import NormalizedOrder
from app.domain.shops.models import Channel

ADAPTERS: dict[Channel, Adapter] = {
    Channel.taobao: TaobaoAdapter(),
    Channel.tmall: TaobaoAdapter(),
    Channel.jd: JdAdapter(),
    Channel.douyin: DouyinAdapter(),
    Channel.kuaishou: KuaishouAdapter(),
    Channel.youzan: YouzanAdapter(),
    Channel.wechat_channels: WechatAdapter(),
    Channel.wechat_miniprogram: WechatAdapter(),
    Channel.pos: GenericAdapter(),
    Channel.webshop: GenericAdapter(),
    Channel.community_group: GenericAdapter(),
}

#: Channels whose platform has an order list the pull job can page through.
PULLABLE = frozenset(ADAPTERS) - {Channel.pos, Channel.webshop, Channel.community_group}


def adapter_for(channel: Channel | str) -> Adapter:
    """The adapter that reads this channel's payloads."""
    return ADAPTERS[Channel(channel)]


__all__ = ["ADAPTERS", "PULLABLE", "Adapter", "NormalizeError", "NormalizedOrder", "PullError", "adapter_for"]

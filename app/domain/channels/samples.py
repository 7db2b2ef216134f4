"""Realistic order payloads of every channel, in each platform's own format (see CHANNELS.md), for the load
generator: what a platform would push for a freshly paid order of the demo catalogue.

Each payload is built from a run tag and a sequence number, so that two runs never collide and the same
(run, number) always gives the same order. Receivers, phones and streets differ per order, so the same-address
audit of the four-stage flow sees ordinary traffic, not 刷单. About half the Tmall/Taobao, 抖店, 有赞 and JD orders
come privacy-protected, as those platforms send most orders today: an ``oaid`` with masked fields, ``encrypt_*``
ciphertext with masks and an ``open_address_id``, ``$…$1$`` values, a 隐私号 with an extension.
"""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.db import CHINA
from app.domain.shops.models import Channel

#: Every channel the load generator sends, in the order it cycles through them.
CHANNELS: tuple[Channel, ...] = tuple(Channel)


@dataclass(frozen=True)
class SampleSku:
    """A sellable item of the demo catalogue as a platform lists it."""

    code: str
    title: str
    price_fen: int
    #: How often it is bought, relative to the others (3C accessories and masks sell most on 11.11).
    weight: int


#: The demo catalogue (``app.seed.SKUS``) as sold; SET-SKIN is the bundle, GIFT-TOTE-01 the gift.
CATALOGUE: tuple[SampleSku, ...] = (
    SampleSku("PHONE-X1", "星河 X1 手机 8+256G", 399900, 2),
    SampleSku("EARBUD-P2", "声悦 P2 无线耳机", 49900, 5),
    SampleSku("CABLE-C1", "快充数据线 1m", 2900, 9),
    SampleSku("SERUM-30", "玻尿酸精华 30ml", 25900, 5),
    SampleSku("MASK-10", "补水面膜 10 片装", 9900, 9),
    SampleSku("TEE-BLK-L", "纯棉T恤 黑色 L", 7900, 6),
    SampleSku("YOGURT-6", "鲜酸奶 6 杯装", 3990, 2),
    SampleSku("DUMPLING-1K", "手工水饺 1kg", 4590, 2),
    SampleSku("SET-SKIN", "护肤套装（精华+面膜）", 32900, 2),
)
GIFT = SampleSku("GIFT-TOTE-01", "品牌帆布袋（赠品）", 0, 0)

#: province, city, district: every region of the country, weighted like an ordinary day's orders.
PLACES: tuple[tuple[str, str, str], ...] = (
    ("上海", "上海市", "浦东新区"),
    ("上海", "上海市", "静安区"),
    ("浙江省", "杭州市", "西湖区"),
    ("江苏省", "南京市", "鼓楼区"),
    ("江苏省", "苏州市", "工业园区"),
    ("北京", "北京市", "朝阳区"),
    ("天津", "天津市", "南开区"),
    ("辽宁省", "沈阳市", "和平区"),
    ("广东省", "广州市", "天河区"),
    ("广东省", "深圳市", "南山区"),
    ("福建省", "厦门市", "思明区"),
    ("湖北省", "武汉市", "洪山区"),
    ("湖南省", "长沙市", "岳麓区"),
    ("四川省", "成都市", "武侯区"),
    ("重庆", "重庆市", "渝北区"),
    ("陕西省", "西安市", "雁塔区"),
    ("山东省", "青岛市", "市南区"),
    ("新疆维吾尔自治区", "乌鲁木齐市", "天山区"),
)
SURNAMES = "王李张刘陈杨黄赵周吴徐孙马朱胡郭何林罗高"
GIVEN = ("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "洋", "艳", "勇", "军", "杰", "婷", "涛", "明")
STREETS = ("幸福路", "人民路", "中山路", "解放路", "建设路", "和平路", "文化路", "滨江路", "长江路", "新华路")


@dataclass(frozen=True)
class SampleLine:
    sku: SampleSku
    qty: int
    is_gift: bool = False


@dataclass(frozen=True)
class SampleOrder:
    """One order before it is dressed in a platform's format."""

    external_id: str
    at: datetime
    lines: tuple[SampleLine, ...]
    shipping_fen: int
    discount_fen: int
    name: str
    phone: str
    province: str
    city: str
    district: str
    street: str
    buyer_id: str
    buyer_message: str
    #: The platform protects this receiver (oaid, ciphertext, a virtual number) where it can.
    protected: bool = False

    @property
    def items_fen(self) -> int:
        return sum(line.sku.price_fen * line.qty for line in self.lines)

    @property
    def paid_fen(self) -> int:
        return self.items_fen + self.shipping_fen - self.discount_fen

    def line_paid_fen(self, index: int) -> int:
        """A line's share of what was paid: the discount spread over the lines by their value, the rest on the
        first line so the shares add up exactly."""
        items = self.items_fen
        shares = [
            line.sku.price_fen * line.qty - (self.discount_fen * line.sku.price_fen * line.qty // items if items else 0)
            for line in self.lines
        ]
        shares[0] += self.items_fen - self.discount_fen - sum(shares)
        return shares[index]


def sample_order(run: str, seq: int, now: datetime) -> SampleOrder:
    """The ``seq``-th order of run ``run``: one to three lines (sometimes a bundle, sometimes two of one item,
    a gift now and then), a discount on larger baskets, a receiver of its own."""
    rng = random.Random(f"{run}:{seq}")
    weights = [s.weight for s in CATALOGUE]
    picked: dict[str, SampleLine] = {}
    for _ in range(rng.choices((1, 2, 3), (6, 3, 1))[0]):
        sku = rng.choices(CATALOGUE, weights)[0]
        picked.setdefault(sku.code, SampleLine(sku, rng.choices((1, 2), (5, 1))[0]))
    lines = list(picked.values())
    if rng.random() < 0.1:
        lines.append(SampleLine(GIFT, 1, is_gift=True))
    items = sum(line.sku.price_fen * line.qty for line in lines)
    place = rng.choice(PLACES)
    digits = f"{seq:08d}"[-8:]
    return SampleOrder(
        external_id=f"{run}{seq:07d}",
        at=now,
        lines=tuple(lines),
        shipping_fen=0 if items >= 9900 else 800,
        discount_fen=(items // 20 // 100) * 100 if items >= 20000 else 0,
        name=rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(("", *GIVEN)),
        phone=f"1{rng.choice('3589')}{rng.randint(0, 9)}{digits}",
        province=place[0],
        city=place[1],
        district=place[2],
        street=f"{rng.choice(STREETS)} {seq % 997 + 1} 弄 {seq // 997 % 90 + 1} 号 {rng.randint(101, 2806)} 室",
        buyer_id=f"{run}-b{seq}",
        buyer_message=rng.choice(("", "", "", "请尽快发货", "周末送货", "不要放发票")),
        protected=rng.random() < 0.5,
    )


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _china(at: datetime) -> str:
    return at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")


def _masked(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}"


def _token(order: SampleOrder, what: str) -> str:
    """A platform token or ciphertext of the order's receiver: derived from the receiver, as an ``oaid`` is
    (the same name, phone and street in one shop give the same token), and never showing them."""
    digest = hashlib.sha256(f"{what}|{order.name}|{order.phone}|{order.street}".encode()).digest()
    return base64.b64encode(digest).decode().rstrip("=")


def _virtual(order: SampleOrder) -> str:
    """The order's virtual number, "11 + 4" as platforms hand them out."""
    return f"1{order.phone[1:3]}{order.phone[-8:]}-{int(order.phone[-4:]) % 9000 + 1000}"


def _taobao_receiver(order: SampleOrder) -> dict[str, Any]:
    if order.protected:
        return {
            "oaid": _token(order, "oaid"),
            "receiver_name": order.name[0] + "**",
            "receiver_mobile": "*******" + order.phone[-4:],
            "receiver_address": order.street[:3] + "**号***",
        }
    return {"receiver_name": order.name, "receiver_mobile": order.phone, "receiver_address": order.street}


def taobao(order: SampleOrder) -> dict[str, Any]:
    """Taobao / Tmall ``trade`` (taobao.trade.fullinfo.get): yuan strings, China-time strings."""
    at = _china(order.at)
    return {
        "tid": order.external_id,
        "status": "WAIT_SELLER_SEND_GOODS",
        "type": "fixed",
        "created": at,
        "pay_time": at,
        "modified": at,
        "buyer_nick": f"t**{order.buyer_id[-4:]}",
        "buyer_open_uid": order.buyer_id,
        "total_fee": _yuan(order.items_fen),
        "post_fee": _yuan(order.shipping_fen),
        "discount_fee": _yuan(order.discount_fen),
        "payment": _yuan(order.paid_fen),
        **_taobao_receiver(order),
        "receiver_state": order.province,
        "receiver_city": order.city,
        "receiver_district": order.district,
        "buyer_message": order.buyer_message,
        "orders": {
            "order": [
                {
                    "oid": f"{order.external_id}{i}",
                    "sku_id": f"51122{i}",
                    "outer_sku_id": line.sku.code,
                    "title": line.sku.title,
                    "num": line.qty,
                    "price": _yuan(line.sku.price_fen),
                    "total_fee": _yuan(line.sku.price_fen * line.qty),
                    "payment": _yuan(order.line_paid_fen(i)),
                    "divide_order_fee": _yuan(order.line_paid_fen(i)),
                    "is_gift": line.is_gift,
                    "refund_status": "NO_REFUND",
                    **({"item_meal_id": 7781, "item_meal_name": line.sku.title} if line.sku.code == "SET-SKIN" else {}),
                }
                for i, line in enumerate(order.lines)
            ]
        },
    }


def jd(order: SampleOrder) -> dict[str, Any]:
    """JD POP ``orderInfo``: yuan strings; a line is orderId + skuId; a line priced 0 is a gift."""
    at = _china(order.at)
    return {
        "orderId": order.external_id,
        "venderId": "10086",
        "orderType": "22",
        "orderState": "WAIT_SELLER_STOCK_OUT",
        "orderStartTime": at,
        "paymentConfirmTime": at,
        "orderEndTime": "0001-01-01 00:00:00",
        "modified": at,
        "pin": f"jd_{order.buyer_id}",
        "orderTotalPrice": _yuan(order.items_fen),
        "orderPayment": _yuan(order.paid_fen),
        "freightPrice": _yuan(order.shipping_fen),
        "sellerDiscount": _yuan(order.discount_fen),
        "orderRemark": order.buyer_message,
        "consigneeInfo": {
            "fullname": order.name[0] + "*" if order.protected else order.name,
            "mobile": _virtual(order) if order.protected else order.phone,
            "province": order.province,
            "city": order.city,
            "county": order.district,
            "fullAddress": f"{order.province}{order.city}{order.district}{order.street}",
        },
        "itemInfoList": [
            {
                "skuId": f"1000{i}",
                "outerSkuId": line.sku.code,
                "skuName": line.sku.title,
                "wareId": f"900{i}",
                "jdPrice": _yuan(line.sku.price_fen),
                "itemTotal": str(line.qty),
            }
            for i, line in enumerate(order.lines)
        ],
        "couponDetailList": [],
    }


def douyin(order: SampleOrder) -> dict[str, Any]:
    """抖店 ``shop_order_detail``: fen, unix seconds, the receiver encrypted with masked copies."""
    at = int(order.at.timestamp())
    return {
        "order_id": order.external_id,
        "order_status": 2,
        "order_status_desc": "备货中",
        "trade_type": 0,
        "create_time": at,
        "pay_time": at,
        "update_time": at,
        "order_amount": order.items_fen + order.shipping_fen,
        "pay_amount": order.paid_fen,
        "post_amount": order.shipping_fen,
        "promotion_amount": order.discount_fen,
        "doudian_open_id": order.buyer_id,
        "buyer_words": order.buyer_message,
        **_douyin_receiver(order),
        "sku_order_list": [
            {
                "order_id": f"{order.external_id}{i}",
                "parent_order_id": order.external_id,
                "sku_id": f"17000{i}",
                "out_sku_id": line.sku.code,
                "product_name": line.sku.title,
                "item_num": line.qty,
                "origin_amount": line.sku.price_fen * line.qty,
                "pay_amount": order.line_paid_fen(i),
                "given_product_type": "FREE" if line.is_gift else "MASTER",
                **(
                    {
                        "bundle_sku_info": [
                            {"code": "SERUM-30", "item_num": 1, "product_name": "精华"},
                            {"code": "MASK-10", "item_num": 1, "product_name": "面膜"},
                        ]
                    }
                    if line.sku.code == "SET-SKIN"
                    else {}
                ),
            }
            for i, line in enumerate(order.lines)
        ],
    }


def _douyin_receiver(order: SampleOrder) -> dict[str, Any]:
    area = {
        "province": {"name": order.province, "id": "0"},
        "city": {"name": order.city, "id": "0"},
        "town": {"name": order.district, "id": "0"},
    }
    masks = {
        "mask_post_receiver": order.name[0] + "*",
        "mask_post_tel": f"{order.phone[0]}********{order.phone[-2:]}",
        "mask_post_addr": {"detail": order.street[:3] + "**号***"},
    }
    if order.protected:
        return {
            **masks,
            "encrypt_post_receiver": f"##{_token(order, 'name')}#1##",
            "encrypt_post_tel": f"$${_token(order, 'tel')}$1$$",
            "open_address_id": "#" + _token(order, "address"),
            "post_addr": {**area, "detail": "", "encrypt_detail": f"##{_token(order, 'detail')}#1##"},
        }
    return {
        **masks,
        "post_receiver": order.name,
        "post_tel": order.phone,
        "encrypt_post_tel": f"$${_token(order, 'tel')}$1$$",
        "post_addr": {**area, "detail": order.street},
    }


def kuaishou(order: SampleOrder) -> dict[str, Any]:
    """快手 ``open.order.detail``: fen, unix milliseconds, the consignee only desensitised and encrypted."""
    at = int(order.at.timestamp() * 1000)
    return {
        "orderBaseInfo": {
            "oid": order.external_id,
            "status": 30,
            "createTime": at,
            "payTime": at,
            "updateTime": at,
            "totalFee": order.paid_fen,
            "expressFee": order.shipping_fen,
            "discountFee": order.discount_fen,
            "buyerOpenId": order.buyer_id,
            "buyerNick": f"快手用户{order.buyer_id[-4:]}",
            "remark": order.buyer_message,
        },
        "orderItemInfoList": [
            {
                "orderItemId": f"{order.external_id}{i}",
                "skuId": f"881{i}",
                "relSkuId": line.sku.code,
                "itemTitle": line.sku.title,
                "num": line.qty,
                "originalPrice": line.sku.price_fen,
                "price": line.sku.price_fen,
                "discountFee": line.sku.price_fen * line.qty - order.line_paid_fen(i),
            }
            for i, line in enumerate(order.lines)
        ],
        "orderAddress": {
            "desensitiseConsignee": order.name[0] + "*",
            "desensitiseMobile": _masked(order.phone),
            "encryptedMobile": f"##ks-{order.phone[-4:]}##",
            "desensitiseAddress": f"{order.province}{order.city}{order.district}{order.street[:3]}***",
            "province": order.province,
            "city": order.city,
            "district": order.district,
        },
    }


def youzan(order: SampleOrder) -> dict[str, Any]:
    """有赞 ``full_order_info``: yuan strings in ``pay_info``, presents marked ``is_present``."""
    at = _china(order.at)
    return {
        "full_order_info": {
            "order_info": {
                "tid": f"E{order.external_id}",
                "status": "WAIT_SELLER_SEND_GOODS",
                "created": at,
                "pay_time": at,
                "update_time": at,
                "type": 0,
            },
            "buyer_info": {"yz_open_id": order.buyer_id, "fans_nickname": f"有赞{order.buyer_id[-4:]}"},
            "address_info": {
                "receiver_name": f"${order.name[0]}$1${_token(order, 'name')}$1$" if order.protected else order.name,
                "receiver_tel": f"${order.phone[:3]}$1${_token(order, 'tel')}$1$" if order.protected else order.phone,
                "delivery_province": order.province,
                "delivery_city": order.city,
                "delivery_district": order.district,
                "delivery_address": (
                    f"${order.street[:3]}$1${_token(order, 'address')}$1$" if order.protected else order.street
                ),
            },
            "pay_info": {
                "total_fee": _yuan(order.items_fen),
                "post_fee": _yuan(order.shipping_fen),
                "payment": _yuan(order.paid_fen),
            },
            "remark_info": {"buyer_message": order.buyer_message, "trade_memo": ""},
            "orders": [
                {
                    "oid": f"{order.external_id}{i}",
                    "outer_sku_id": line.sku.code,
                    "title": line.sku.title,
                    "num": line.qty,
                    "price": _yuan(line.sku.price_fen),
                    "total_fee": _yuan(line.sku.price_fen * line.qty),
                    "payment": _yuan(order.line_paid_fen(i)),
                    "is_present": line.is_gift,
                }
                for i, line in enumerate(order.lines)
            ],
        }
    }


def wechat(order: SampleOrder) -> dict[str, Any]:
    """视频号小店 / 小程序 ``order/get``: fen, unix seconds, the receiver in clear, ``unionid`` across apps."""
    at = int(order.at.timestamp())
    return {
        "order_id": order.external_id,
        "status": 20,
        "create_time": at,
        "update_time": at,
        "openid": f"o_{order.buyer_id}",
        "unionid": f"oUnion_{order.buyer_id}",
        "order_detail": {
            "product_infos": [
                {
                    "product_id": f"1000{i}",
                    "sku_id": f"2000{i}",
                    "sku_cnt": line.qty,
                    "out_sku_id": line.sku.code,
                    "title": line.sku.title,
                    "sale_price": line.sku.price_fen,
                    "real_price": order.line_paid_fen(i),
                    "is_free_gift": line.is_gift,
                }
                for i, line in enumerate(order.lines)
            ],
            "price_info": {
                "product_price": order.items_fen,
                "order_price": order.paid_fen,
                "freight": order.shipping_fen,
                "discounted_price": order.discount_fen,
            },
            "pay_info": {"pay_time": at},
            "delivery_info": {
                "address_info": {
                    "user_name": order.name,
                    "tel_number": order.phone,
                    "province_name": order.province,
                    "city_name": order.city,
                    "county_name": order.district,
                    "detail_info": order.street,
                }
            },
            "ext_info": {"customer_notes": order.buyer_message, "merchant_notes": ""},
        },
    }


def generic(order: SampleOrder) -> dict[str, Any]:
    """The brand's own format (tills, the web shop): fen, ISO times."""
    at = _china(order.at)
    return {
        "order_id": order.external_id,
        "status": "paid",
        "created_at": at,
        "paid_at": at,
        "updated_at": at,
        "buyer": {"id": order.buyer_id, "nick": f"会员{order.buyer_id[-4:]}"},
        "receiver": {
            "name": order.name,
            "phone": order.phone,
            "province": order.province,
            "city": order.city,
            "district": order.district,
            "address": order.street,
        },
        "shipping_fen": order.shipping_fen,
        "discount_fen": order.discount_fen,
        "lines": [
            {
                "line_id": str(i + 1),
                "sku": line.sku.code,
                "title": line.sku.title,
                "qty": line.qty,
                "unit_price_fen": line.sku.price_fen,
                "paid_fen": order.line_paid_fen(i),
                "is_gift": line.is_gift,
            }
            for i, line in enumerate(order.lines)
        ],
        "buyer_message": order.buyer_message,
    }


#: 社区团购 leaders (id, name), the pickup point each runs (id, name, address) and the route that delivers there.
GROUP_LEADERS: tuple[tuple[str, str, str, str, str, str, str], ...] = (
    ("L-0012", "王姐", "PK-031", "幸福里东门自提点", "浦东新区幸福路 100 弄东门", "R3", "浦东 3 号线"),
    ("L-0027", "李哥", "PK-044", "和平小区便利店", "静安区和平路 25 号", "R1", "静安 1 号线"),
    ("L-0035", "张阿姨", "PK-052", "滨江花园快递柜旁", "西湖区滨江路 8 号", "R7", "杭州 7 号线"),
)


def community_group(order: SampleOrder) -> dict[str, Any]:
    """社区团购 in the generic format: the buyer as the receiver, the group leader, pickup point and route."""
    payload = generic(order)
    seq = int(order.external_id[-7:]) if order.external_id[-7:].isdigit() else 0
    leader_id, leader, point_id, point, address, route_code, route = GROUP_LEADERS[seq % len(GROUP_LEADERS)]
    payload["community"] = {
        "leader": {"id": leader_id, "name": leader},
        "pickup_point": {"id": point_id, "name": point, "address": address},
        "route": {"code": route_code, "name": route},
    }
    return payload


FORMATS: dict[Channel, Callable[[SampleOrder], dict[str, Any]]] = {
    Channel.taobao: taobao,
    Channel.tmall: taobao,
    Channel.jd: jd,
    Channel.douyin: douyin,
    Channel.kuaishou: kuaishou,
    Channel.youzan: youzan,
    Channel.wechat_channels: wechat,
    Channel.wechat_miniprogram: wechat,
    Channel.pos: generic,
    Channel.webshop: generic,
    Channel.community_group: community_group,
}


def sample_payload(channel: Channel, run: str, seq: int, now: datetime) -> dict[str, Any]:
    """The ``seq``-th order of run ``run`` as ``channel``'s platform would push it."""
    return FORMATS[channel](sample_order(run, seq, now))

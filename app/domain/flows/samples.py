"""Built-in sample orders for the simulator and the backtest, as flow contexts.

Each sample is a canonical order (DESIGN.md) with the features the processing job will compute, so a designer
can try a flow before any real order exists. The SKUs, shops and categories match the demo data.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Final

from app.db import utcnow
from app.domain.orders.features import History, build_features
from ruleflows import short_province


@dataclass(frozen=True, slots=True)
class SampleOrder:
    """A named sample: a key for forms, a label for people, and the canonical order."""

    key: str
    label_zh: str
    label_en: str
    order: dict[str, Any]
    #: The receiver's phone in clear, as the processing job would decrypt it for the features.
    phone: str = "13800000000"
    urgent: bool = False
    same_address_24h: int = 1
    customer_order_count: int = 1


def _line(
    line_id: str, sku: str, title: str, qty: int, unit_fen: int, category: str, weight_g: int, **extra: Any
) -> dict[str, Any]:
    return {
        "line_id": line_id,
        "sku": sku,
        "channel_sku_id": f"{sku}-CH",
        "title": title,
        "qty": qty,
        "unit_price_fen": unit_fen,
        "paid_fen": unit_fen * qty,
        "is_gift": False,
        "bundle_of": None,
        "category": category,
        "weight_g": weight_g,
        **extra,
    }


def _order(
    external_id: str,
    *,
    channel: str,
    shop_id: str,
    receiver: dict[str, Any],
    lines: list[dict[str, Any]],
    shipping_fen: int = 0,
    discount_fen: int = 0,
    presale: dict[str, Any] | None = None,
    buyer_message: str = "",
    tags: list[str] | None = None,
) -> dict[str, Any]:
    items = sum(int(line["paid_fen"]) for line in lines)
    return {
        "channel": channel,
        "shop_id": shop_id,
        "external_id": external_id,
        "raw_status": "WAIT_SELLER_SEND_GOODS",
        "status": "received",
        "created_at": "2026-11-11T00:05:00+08:00",
        "paid_at": "2026-11-11T00:06:00+08:00",
        "buyer": {"channel_buyer_id": f"b-{external_id}", "nick": "买家" + external_id[-4:], "customer_id": None},
        "receiver": {"phone_cipher": None, "town": "", **receiver},
        "amounts": {
            "items_fen": items,
            "shipping_fen": shipping_fen,
            "discount_fen": discount_fen,
            "paid_fen": items + shipping_fen - discount_fen,
        },
        "lines": lines,
        "presale": presale or {"is_presale": False, "deposit_paid": False, "balance_due_at": None},
        "buyer_message": buyer_message,
        "seller_memo": "",
        "tags": tags or [],
    }


_SHANGHAI = {
    "name": "陈静",
    "phone_masked": "138****5678",
    "province": "上海",
    "city": "上海市",
    "district": "静安区",
    "address": "南京西路 1266 号 恒隆广场 32 楼",
}

SAMPLE_ORDERS: Final[tuple[SampleOrder, ...]] = (
    SampleOrder(
        "east_3c",
        "华东 3C：上海买手机",
        "East China 3C: a phone to Shanghai",
        _order(
            "TM20261111000101",
            channel="tmall",
            shop_id="tmall-flagship",
            receiver=_SHANGHAI,
            lines=[
                _line("1", "PHONE-X1", "星河 X1 手机 8+256G", 1, 399900, "3C", 420),
                _line("2", "CABLE-C1", "快充数据线 1m", 1, 2900, "3C", 40),
            ],
        ),
    ),
    SampleOrder(
        "cheap_not_urgent",
        "小额不加急：北京一根数据线",
        "Small and not urgent: one cable to Beijing",
        _order(
            "JD20261111000202",
            channel="jd",
            shop_id="jd-pop",
            receiver={
                "name": "刘洋",
                "phone_masked": "139****1024",
                "province": "北京",
                "city": "北京市",
                "district": "朝阳区",
                "address": "建国路 88 号 SOHO 现代城 5 号楼",
            },
            lines=[_line("1", "CABLE-C1", "快充数据线 1m", 1, 2900, "3C", 40)],
        ),
    ),
    SampleOrder(
        "presale",
        "预售：广州定金已付的精华",
        "Presale: serum to Guangzhou, deposit paid",
        _order(
            "DY20261111000303",
            channel="douyin",
            shop_id="douyin-live",
            receiver={
                "name": "黄丽",
                "phone_masked": "137****8899",
                "province": "广东",
                "city": "广州市",
                "district": "天河区",
                "address": "天河路 208 号 天河城 12 楼",
            },
            lines=[_line("1", "SERUM-30", "玻尿酸精华 30ml", 2, 25900, "美妆", 120)],
            presale={"is_presale": True, "deposit_paid": True, "balance_due_at": "2026-11-20T23:59:59+08:00"},
        ),
    ),
    SampleOrder(
        "bundle",
        "组合商品：成都护肤套装满 299",
        "Bundle: a skincare set to Chengdu, over ¥299",
        _order(
            "WX20261111000404",
            channel="wechat_miniprogram",
            shop_id="wechat-mini",
            receiver={
                "name": "王磊",
                "phone_masked": "186****3321",
                "province": "四川",
                "city": "成都市",
                "district": "武侯区",
                "address": "人民南路四段 1 号",
            },
            lines=[_line("1", "SET-SKIN", "护肤套装（精华+面膜）", 1, 32900, "美妆", 420, bundle_of="SET-SKIN")],
        ),
    ),
    SampleOrder(
        "bad_phone",
        "手机号有误：杭州的服饰订单",
        "Bad phone number: clothes to Hangzhou",
        _order(
            "TM20261111000505",
            channel="tmall",
            shop_id="tmall-flagship",
            receiver={
                "name": "周婷",
                "phone_masked": "123456",
                "province": "浙江",
                "city": "杭州市",
                "district": "西湖区",
                "address": "文三路 478 号",
            },
            lines=[_line("1", "TEE-BLK-L", "纯棉T恤 黑色 L", 2, 7900, "服饰", 200)],
            buyer_message="请尽快发货",
        ),
        phone="123456",
    ),
    SampleOrder(
        "urgent_cold",
        "加急冷链：南京的鲜酸奶",
        "Urgent cold chain: yogurt to Nanjing",
        _order(
            "YZ20261111000606",
            channel="youzan",
            shop_id="youzan-shop",
            receiver={
                "name": "孙悦",
                "phone_masked": "135****7766",
                "province": "江苏",
                "city": "南京市",
                "district": "鼓楼区",
                "address": "中山路 321 号",
            },
            lines=[_line("1", "YOGURT-6", "鲜酸奶 6 杯装", 3, 3990, "食品", 900)],
            shipping_fen=1000,
        ),
        urgent=True,
    ),
    SampleOrder(
        "same_address_burst",
        "疑似刷单：同一地址 24 小时 5 单",
        "Suspicious: 5 orders to one address in 24 h",
        _order(
            "KS20261111000707",
            channel="kuaishou",
            shop_id="kuaishou-shop",
            receiver={
                "name": "李娜",
                "phone_masked": "150****2233",
                "province": "河南",
                "city": "郑州市",
                "district": "金水区",
                "address": "花园路 66 号",
            },
            lines=[_line("1", "EARBUD-P2", "声悦 P2 无线耳机", 1, 49900, "3C", 80)],
        ),
        same_address_24h=5,
    ),
)


def features_of(
    order: dict[str, Any],
    *,
    phone: str | None = None,
    urgent: bool = False,
    same_address_24h: int = 1,
    customer_order_count: int = 1,
) -> dict[str, Any]:
    """The features a flow reads for an order that is not stored, by the processing job's own builder: from
    the order, the receiver's phone in clear (a pasted order may give it as ``receiver.phone``) and the history
    given (no stock is known). The street is the order's own ``receiver.address`` (a masked one still shows
    whether it names a road or a building)."""
    history = History(customer_order_count=customer_order_count, same_address_24h=same_address_24h)
    found = order.get("receiver")
    receiver: dict[str, Any] = found if isinstance(found, dict) else {}
    if phone is None and isinstance(receiver.get("phone"), str):
        phone = receiver["phone"]
    street = receiver.get("address")
    return build_features(
        order,
        now=utcnow(),
        phone=phone,
        street=street if isinstance(street, str) else None,
        history=history,
        urgent=urgent or None,
    )


def context_of(sample: SampleOrder) -> dict[str, Any]:
    """The flow context of a sample: a fresh copy each time, so a run can never change the sample."""
    order = copy.deepcopy(sample.order)
    province = short_province(order["receiver"]["province"])
    if province:
        order["receiver"]["province"] = province
    features = features_of(
        order,
        phone=sample.phone,
        urgent=sample.urgent,
        same_address_24h=sample.same_address_24h,
        customer_order_count=sample.customer_order_count,
    )
    return {"order": order, "features": features, "decisions": {}}


def context_from_payload(payload: Any) -> dict[str, Any]:
    """Turn what a designer pasted into a flow context: a whole context, or just a canonical order.

    Raises ValueError with a message for the designer when it is neither.
    """
    if not isinstance(payload, dict):
        raise ValueError("expected a JSON object: an order, or {order, features}")
    if isinstance(payload.get("order"), dict):
        order = payload["order"]
        features = payload.get("features")
        if features is None:
            features = features_of(order)
        if not isinstance(features, dict):
            raise ValueError("features must be an object")
        decisions = payload.get("decisions") or {}
        if not isinstance(decisions, dict):
            raise ValueError("decisions must be an object")
        return {"order": order, "features": features, "decisions": decisions}
    if "lines" in payload or "receiver" in payload:
        return {"order": payload, "features": features_of(payload), "decisions": {}}
    raise ValueError("expected an order (with receiver and lines) or a context with an order")


def sample_by_key(key: str) -> SampleOrder | None:
    """The sample with this key, or None."""
    return next((sample for sample in SAMPLE_ORDERS if sample.key == key), None)

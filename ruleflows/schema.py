"""The context schemas: every field a flow can read, published as data for the editor's field picker.

An order flow sees ``{"order": <canonical order>, "features": {...}, "decisions": {...}}``; an after-sales
flow (trigger ``return.requested``) sees ``{"case": <the case>, "features": <the buyer's history>,
"decisions": {...}}``. Paths use dots; ``[]`` marks the items of an array (``order.lines[].sku``). ``var``
paths in rules are checked at save time against the schema of the flow's trigger; an index such as
``order.lines.0.sku`` matches ``order.lines[].sku``.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from ruleflows.document import RETURN_TRIGGERS
from ruleflows.regions import PROVINCES, REGIONS

CHANNELS: Final = (
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
    "community_group",
)
ORDER_STATUSES: Final = (
    "received",
    "audited",
    "on_hold",
    "routed",
    "waybilled",
    "shipped",
    "delivered",
    "completed",
    "cancelled",
)
WAREHOUSE_STRATEGIES: Final = ("nearest", "cheapest", "priority")
CARRIER_STRATEGIES: Final = ("cheapest", "fastest")
PRIORITY_LEVELS: Final = ("low", "normal", "high", "urgent")
DOCUMENT_KINDS: Final = ("outbound_order", "pick_list")
NOTIFY_CHANNELS: Final = ("sms", "wechat")
#: After-sales cases: 仅退款, 退货退款, 换货, 补发; opened from the platform, by our customer service, at a store.
CASE_KINDS: Final = ("refund_only", "return_refund", "exchange", "reissue")
CASE_SOURCES: Final = ("platform", "operator", "store")
FIELD_TYPES: Final = ("string", "number", "money_fen", "integer", "boolean", "datetime", "array", "object", "enum")


def _field(
    path: str,
    kind: str,
    label_zh: str,
    label_en: str,
    values: tuple[str, ...] | None = None,
    *,
    open_keys: bool = False,
) -> dict[str, Any]:
    field: dict[str, Any] = {"path": path, "type": kind, "label_zh": label_zh, "label_en": label_en}
    if values is not None:
        field["values"] = list(values)
    if open_keys:
        # An object keyed by data (e.g. warehouse codes): any key below it is accepted.
        field["open"] = True
    return field


_FIELDS: Final = [
    _field("order", "object", "订单", "order"),
    _field("order.channel", "enum", "渠道", "channel", CHANNELS),
    _field("order.shop_id", "string", "店铺", "shop id"),
    _field("order.external_id", "string", "平台订单号", "platform order id"),
    _field("order.raw_status", "string", "平台状态", "platform status"),
    _field("order.status", "enum", "订单状态", "status", ORDER_STATUSES),
    _field("order.created_at", "datetime", "下单时间", "created at"),
    _field("order.paid_at", "datetime", "付款时间", "paid at"),
    _field("order.buyer", "object", "买家", "buyer"),
    _field("order.buyer.channel_buyer_id", "string", "平台买家编号", "platform buyer id"),
    _field("order.buyer.nick", "string", "买家昵称", "buyer nickname"),
    _field("order.buyer.customer_id", "string", "客户编号", "customer id"),
    _field("order.receiver", "object", "收货人", "receiver"),
    _field("order.receiver.name", "string", "收货人姓名", "receiver name"),
    _field("order.receiver.phone_masked", "string", "收货人手机（脱敏）", "receiver phone (masked)"),
    _field(
        "order.receiver.protected",
        "boolean",
        "平台隐私保护的收货人（oaid/加密/虚拟号）",
        "receiver protected by the platform (oaid, encrypted, virtual number)",
    ),
    _field("order.receiver.province", "enum", "省份", "province", PROVINCES),
    _field("order.receiver.city", "string", "城市", "city"),
    _field("order.receiver.district", "string", "区县", "district"),
    _field("order.receiver.town", "string", "街道/乡镇", "town"),
    _field("order.receiver.address", "string", "详细地址", "street address"),
    _field("order.amounts", "object", "金额", "amounts"),
    _field("order.amounts.items_fen", "money_fen", "商品金额", "items amount"),
    _field("order.amounts.shipping_fen", "money_fen", "运费", "shipping"),
    _field("order.amounts.discount_fen", "money_fen", "优惠金额", "discount"),
    _field("order.amounts.paid_fen", "money_fen", "实付金额", "amount paid"),
    _field("order.lines", "array", "商品明细", "order lines"),
    _field("order.lines[]", "object", "商品行", "order line"),
    _field("order.lines[].line_id", "string", "行号", "line id"),
    _field("order.lines[].sku", "string", "商品编码（SKU）", "SKU"),
    _field("order.lines[].channel_sku_id", "string", "平台 SKU 编号", "platform SKU id"),
    _field("order.lines[].title", "string", "商品名称", "title"),
    _field("order.lines[].qty", "integer", "数量", "quantity"),
    _field("order.lines[].unit_price_fen", "money_fen", "单价", "unit price"),
    _field("order.lines[].paid_fen", "money_fen", "行实付金额", "line amount paid"),
    _field("order.lines[].is_gift", "boolean", "是赠品", "is a gift"),
    _field("order.lines[].bundle_of", "string", "所属组合商品/套餐", "bundle (套餐) this line is or belongs to"),
    _field("order.lines[].category", "string", "商品类目", "category"),
    _field("order.lines[].weight_g", "integer", "重量（克）", "weight (g)"),
    _field("order.presale", "object", "预售", "presale"),
    _field("order.presale.is_presale", "boolean", "是预售单", "is a presale order"),
    _field("order.presale.deposit_paid", "boolean", "已付定金", "deposit paid"),
    _field("order.presale.deposit_fen", "money_fen", "定金金额", "deposit"),
    _field("order.presale.balance_paid", "boolean", "已付尾款", "balance paid"),
    _field("order.presale.balance_due_at", "datetime", "尾款截止时间", "balance due at"),
    _field("order.community", "object", "社区团购", "community group buying"),
    _field("order.community.leader_id", "string", "团长编号", "group leader id"),
    _field("order.community.leader_name", "string", "团长", "group leader"),
    _field("order.community.pickup_point_id", "string", "自提点编号", "pickup point id"),
    _field("order.community.pickup_point_name", "string", "自提点", "pickup point"),
    _field("order.community.pickup_point_address", "string", "自提点地址", "pickup point address"),
    _field("order.community.route_code", "string", "配送线路编号", "delivery route code"),
    _field("order.community.route_name", "string", "配送线路", "delivery route"),
    _field("order.buyer_message", "string", "买家留言", "buyer message"),
    _field("order.seller_memo", "string", "卖家备注", "seller memo"),
    _field("order.tags", "array", "订单标签", "order tags"),
    _field("order.tags[]", "string", "标签", "tag"),
    _field("features", "object", "订单特征", "features"),
    _field("features.region", "enum", "收货大区", "region", REGIONS),
    _field("features.weight_g", "integer", "总重量（克）", "total weight (g)"),
    _field("features.volume_cm3", "integer", "总体积（立方厘米）", "total volume (cm³)"),
    _field("features.categories", "array", "包含的类目", "categories"),
    _field("features.categories[]", "string", "类目", "category"),
    _field("features.customer_order_count", "integer", "客户历史订单数", "customer's order count"),
    _field("features.same_address_24h", "integer", "同地址 24 小时订单数", "orders to this address in 24 h"),
    _field("features.stock_by_warehouse", "object", "各仓库存", "stock by warehouse", open_keys=True),
    _field("features.is_urgent", "boolean", "加急", "urgent"),
    _field("features.hours_since_paid", "number", "付款后小时数", "hours since paid"),
    _field("features.review_approved", "boolean", "已人工审核通过", "approved by an operator"),
    _field(
        "features.presale_default_due_at",
        "datetime",
        "默认尾款截止时间（付款后按店铺的预售尾款默认期限）",
        "default balance due time (the shop's default term after payment)",
    ),
    _field(
        "features.phone_valid",
        "boolean",
        "手机号有效（按真实号码判断，含平台虚拟号）",
        "phone valid (the real number; platform virtual numbers count)",
    ),
    _field(
        "features.address_complete",
        "boolean",
        "收货地址完整（到街道门牌）",
        "address complete (down to the street and number)",
    ),
    _field("decisions", "object", "已做的决定", "decisions so far"),
    _field("decisions.approved", "boolean", "已审核通过", "approved"),
    _field("decisions.hold", "boolean", "已挂起待审", "held for review"),
    _field("decisions.hold_reason", "string", "挂起原因", "hold reason"),
    _field("decisions.cancelled", "boolean", "已取消", "cancelled"),
    _field("decisions.cancel_reason", "string", "取消原因", "cancel reason"),
    _field("decisions.warehouse", "string", "仓库", "warehouse"),
    _field("decisions.warehouse_strategy", "enum", "分仓策略", "warehouse strategy", WAREHOUSE_STRATEGIES),
    _field("decisions.carrier", "string", "快递公司", "carrier"),
    _field("decisions.carrier_strategy", "enum", "快递策略", "carrier strategy", CARRIER_STRATEGIES),
    _field("decisions.carrier_candidates", "array", "候选快递", "carrier candidates"),
    _field("decisions.carrier_candidates[]", "string", "快递公司", "carrier"),
    _field("decisions.split_by_temperature", "boolean", "按温层拆包", "split by temperature zone"),
    _field("decisions.hold_until", "datetime", "挂起至", "held until"),
    _field("decisions.tags", "array", "新增标签", "tags added"),
    _field("decisions.tags[]", "string", "标签", "tag"),
    _field("decisions.priority", "enum", "优先级", "priority", PRIORITY_LEVELS),
    _field("decisions.gifts", "array", "赠品", "gifts"),
    _field("decisions.gifts[]", "object", "赠品", "gift"),
    _field("decisions.gifts[].sku", "string", "赠品编码", "gift SKU"),
    _field("decisions.gifts[].qty", "integer", "赠品数量", "gift quantity"),
    _field("decisions.expand_bundles", "boolean", "拆分组合商品", "expand bundles"),
    _field("decisions.split_by_warehouse", "boolean", "按仓拆单", "split by warehouse"),
    _field("decisions.merge_same_buyer", "boolean", "合并同买家订单", "merge same buyer's orders"),
    _field("decisions.presale", "boolean", "按预售处理", "handled as presale"),
    _field("decisions.documents", "array", "生成单据", "documents"),
    _field("decisions.documents[]", "enum", "单据类型", "document kind", DOCUMENT_KINDS),
    _field("decisions.waybill_requested", "boolean", "已申请面单", "waybill requested"),
    _field("decisions.notifications", "array", "通知", "notifications"),
    _field("decisions.notifications[]", "object", "通知", "notification"),
    _field("decisions.notifications[].template", "string", "通知模板", "template"),
    _field("decisions.notifications[].via", "enum", "通知方式", "sent via", NOTIFY_CHANNELS),
]

#: What an after-sales flow reads: the case, the buyer's recent history and what the flows decided so far.
_RETURN_FIELDS: Final = [
    _field("case", "object", "售后单", "after-sales case"),
    _field("case.kind", "enum", "售后类型", "case type", CASE_KINDS),
    _field("case.source", "enum", "售后来源", "opened from", CASE_SOURCES),
    _field("case.channel", "enum", "渠道", "channel", CHANNELS),
    _field("case.shop_code", "string", "店铺", "shop"),
    _field("case.reason", "string", "售后原因", "reason"),
    _field("case.shipped", "boolean", "已发货", "shipped"),
    _field("case.refund_fen", "money_fen", "退款金额", "refund amount"),
    _field("case.shipping_refund_fen", "money_fen", "退运费", "shipping refunded"),
    _field("case.paid_fen", "money_fen", "订单实付金额", "amount the order paid"),
    _field("case.line_count", "integer", "售后商品行数", "items (lines) in the case"),
    _field("case.qty", "integer", "售后件数", "units in the case"),
    _field("case.lines", "array", "售后商品", "case lines"),
    _field("case.lines[]", "object", "售后商品行", "case line"),
    _field("case.lines[].sku", "string", "商品编码（SKU）", "SKU"),
    _field("case.lines[].title", "string", "商品名称", "title"),
    _field("case.lines[].qty", "integer", "数量", "quantity"),
    _field("case.lines[].refund_fen", "money_fen", "行退款金额", "line refund"),
    _field("case.opened_at", "datetime", "申请时间", "opened at"),
    _field("features", "object", "买家近况", "the buyer's history"),
    _field("features.returns_90d", "integer", "买家近 90 天售后次数", "the buyer's cases in the last 90 days"),
    _field(
        "features.refunded_fen_90d", "money_fen", "买家近 90 天已退款金额", "refunded to the buyer in the last 90 days"
    ),
    _field("features.orders_90d", "integer", "买家近 90 天订单数", "the buyer's orders in the last 90 days"),
    _field("decisions", "object", "已做的决定", "decisions so far"),
    _field("decisions.case_approved", "boolean", "已同意售后", "case approved"),
    _field("decisions.case_refused", "boolean", "已拒绝售后", "case refused"),
    _field("decisions.refuse_reason", "string", "拒绝原因", "refusal reason"),
    _field("decisions.to_supervisor", "boolean", "已转主管审核", "sent to a supervisor"),
    _field("decisions.supervisor_reason", "string", "转主管原因", "why a supervisor decides"),
]

#: The schemas as JSON-serialisable data. Treat them as read-only; :func:`order_context_schema` and
#: :func:`context_schema` give copies.
ORDER_CONTEXT_SCHEMA: Final[dict[str, Any]] = {"version": 1, "field_types": list(FIELD_TYPES), "fields": _FIELDS}
RETURN_CONTEXT_SCHEMA: Final[dict[str, Any]] = {
    "version": 1,
    "field_types": list(FIELD_TYPES),
    "fields": _RETURN_FIELDS,
}

# Built once from the fields above, so that changing the published dicts cannot loosen validation.
_Index = dict[str, tuple[str, bool]]
_FIELD_COPIES: Final = {"order": copy.deepcopy(_FIELDS), "return": copy.deepcopy(_RETURN_FIELDS)}
_INDEXES: Final[dict[str, _Index]] = {
    context: {field["path"]: (field["type"], bool(field.get("open"))) for field in fields}
    for context, fields in _FIELD_COPIES.items()
}


def context_of_trigger(trigger: str | None) -> str:
    """Which context a flow with this trigger reads: ``return`` for an after-sales trigger, else ``order``."""
    return "return" if trigger in RETURN_TRIGGERS else "order"


def order_context_schema() -> dict[str, Any]:
    """A fresh copy of :data:`ORDER_CONTEXT_SCHEMA` that the caller may change freely."""
    return copy.deepcopy(ORDER_CONTEXT_SCHEMA)


def context_schema(trigger: str | None) -> dict[str, Any]:
    """A fresh copy of the schema a flow with this trigger reads (the order context for an unknown trigger)."""
    schema = RETURN_CONTEXT_SCHEMA if context_of_trigger(trigger) == "return" else ORDER_CONTEXT_SCHEMA
    return copy.deepcopy(schema)


def field_at(path: str, trigger: str | None = None) -> dict[str, Any] | None:
    """The schema field a ``var`` path reads (``order.lines.0.sku`` -> ``order.lines[].sku``), or None."""
    schema_path = schema_path_of(path, trigger)
    if schema_path is None:
        return None
    for field in _FIELD_COPIES[context_of_trigger(trigger)]:
        if field["path"] == schema_path:
            return dict(field)
    return None


def schema_path_of(path: str, trigger: str | None = None) -> str | None:
    """Map a ``var`` path onto a schema path of the trigger's context (the order context by default), or None if
    the context has no such field.

    The empty path (the whole context) is valid; so is anything below an open object.
    """
    if path == "":
        return ""
    index = _INDEXES[context_of_trigger(trigger)]
    current = ""
    for segment in path.split("."):
        if current and index.get(current, ("", False))[1]:
            return current  # below an open object, keys are data
        if current and index.get(current, ("", False))[0] == "array" and segment.isdigit():
            candidate = f"{current}[]"
        else:
            candidate = f"{current}.{segment}" if current else segment
        if candidate not in index:
            return None
        current = candidate
    return current


def is_known_path(path: str, trigger: str | None = None) -> bool:
    """True if ``path`` names a field (or a whole object or array) of the context a flow with ``trigger`` reads
    (the order context by default)."""
    return schema_path_of(path, trigger) is not None

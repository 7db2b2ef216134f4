"""发货回传: tell each order's platform that its parcel has shipped, with the carrier and the waybill number.

``confirm_shipped`` stages one outbox job per shipped parcel (``WRITEBACK_JOB``, keyed by the parcel), so a second
confirmation writes nothing new. The job (:func:`write_back`) records a :class:`PlatformWriteback` per parcel and
order, once (a replay finds them), and calls the platform's delivery API with the shop's credentials as the
pulls use them (``credentials_of``) and signs as the adapters sign. It is idempotent: a row already sent is
skipped, and a platform's answer meaning "already shipped / consigned" counts as sent. Transient failures (the
network, 5xx, rate limits, the platform's own system errors) are raised for the outbox to retry; a permanent
refusal (a bad signature, an unmapped carrier, a waybill the platform rejects), or the last attempt of a transient
one, fails the row with the platform's message, shown on the order's page with 重试.

What each platform is told (method names and fields from the platforms' open-API docs and their public SDK models:
TOP's TaobaoLogisticsOfflineSendRequest, JOS jingdong.pop.order.shipment, 抖店 /order/logisticsAdd
(op.jinritemai.com docs 16/389), 快手 open.seller.order.goods.deliver, 有赞 youzan.logistics.online.confirm 3.0.0,
微信小店 /channels/ec/order/delivery/send):

- 淘宝 / 天猫 ``taobao.logistics.offline.send`` (tid, out_sid, company_code): each parcel; when the order leaves
  in several, ``is_split=1`` and ``sub_tid`` names the sub-orders (oid) the parcel carries.
- 有赞 ``youzan.logistics.online.confirm`` (tid, out_stype, out_sid): each parcel; ``oids`` names its lines when
  the order is split.
- 视频号小店 / 小程序 ``/channels/ec/order/delivery/send`` (order_id, delivery_list of delivery_id + waybill_id
  with the parcel's product_infos): each parcel, with exactly the products it carries.
- 京东 POP ``jingdong.pop.order.shipment`` (order_id, logistics_id, waybill): one call per order, when its last
  parcel ships (POP ships an order whole), with every parcel's waybill number, comma-separated.
- 抖店 ``order.logisticsAdd`` (order_id, company_code, logistics_code): one call per order, when its last parcel
  ships (the API takes the parent order only: "只支持整单出库").
- 快手 ``open.seller.order.goods.deliver`` (orderId, expressNo, expressCode): one call per order, when its last
  parcel ships ("只支持整单发货"; the same waybill again is answered as a success).
- 门店收银, 品牌官网 and 社区团购 have no platform to tell: their rows are ``not_needed``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import httpx
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app import events
from app.db import Database, utcnow
from app.domain.channels.adapters import douyin, jd, kuaishou, taobao
from app.domain.channels.adapters.base import Credentials, PullError, response_json
from app.domain.channels.services import credentials_of
from app.domain.fulfillment.confirmation import LEFT
from app.domain.fulfillment.models import PlatformWriteback, Shipment, WritebackStatus
from app.domain.fulfillment.writebacks import ONCE_PER_ORDER_CHANNELS
from app.domain.orders import services as orders
from app.domain.orders.models import Order, OrderLine
from app.domain.shops.models import Channel, Shop
from app.settings import Settings

#: Calls of one write-back before it is failed for good: the outbox's own ``max_attempts``.
MAX_ATTEMPTS: Final = 5

#: Each channel's platform API (both WeChat shops share the 小店 API, Tmall shares TOP); a channel missing here has
#: nothing to write back to.
PLATFORM_OF: Final[Mapping[str, str]] = {
    Channel.taobao: "taobao",
    Channel.tmall: "taobao",
    Channel.jd: "jd",
    Channel.douyin: "douyin",
    Channel.kuaishou: "kuaishou",
    Channel.youzan: "youzan",
    Channel.wechat_channels: "wechat",
    Channel.wechat_miniprogram: "wechat",
}
#: Platforms that take one call per order, made when its last parcel ships (the others take each parcel).
ONCE_PER_ORDER: Final = frozenset(PLATFORM_OF[channel] for channel in ONCE_PER_ORDER_CHANNELS)

#: Our carrier codes (``app/seed.py``) as each platform names the company: TOP's taobao.logistics.companies.get
#: codes, JD's logistics_id (商家物流公司 ids), 抖店's logisticsCompanyList codes, 快手's expressCode numbers, 有赞's
#: youzan.logistics.express.get ids (out_stype), 微信小店's deliverycompanylist delivery_id. The JD, 快手 and 有赞
#: numbers are as their merchant back offices list them; check them against the shop's list before going live.
PLATFORM_CARRIERS: Final[Mapping[str, Mapping[str, str]]] = {
    "taobao": {"SF": "SF", "JD": "JD", "ZTO": "ZTO", "YTO": "YTO", "STO": "STO", "YUNDA": "YUNDA", "EMS": "EMS"},
    "jd": {"SF": "467", "JD": "2087", "ZTO": "1499", "YTO": "463", "STO": "470", "YUNDA": "1327", "EMS": "465"},
    "douyin": {
        "SF": "shunfeng",
        "JD": "jd",
        "ZTO": "zhongtong",
        "YTO": "yuantong",
        "STO": "shentong",
        "YUNDA": "yunda",
        "EMS": "ems",
    },
    "kuaishou": {"SF": "4", "JD": "9", "ZTO": "3", "YTO": "1", "STO": "2", "YUNDA": "6", "EMS": "8"},
    "youzan": {"SF": "7", "JD": "138", "ZTO": "3", "YTO": "2", "STO": "1", "YUNDA": "4", "EMS": "11"},
    "wechat": {"SF": "SF", "JD": "JD", "ZTO": "ZTO", "YTO": "YTO", "STO": "STO", "YUNDA": "YUNDA", "EMS": "EMS"},
}

#: Words in a platform's refusal that mean the order is already shipped: the write-back it asked for is done.
ALREADY_SHIPPED: Final = ("已发货", "已经发货", "重复发货", "已出库", "already shipped", "already consigned")
#: Words in a platform's refusal that mean "try again later" (its system is busy, a call limit was hit).
TRY_LATER: Final = ("稍后", "繁忙", "超时", "限流", "频繁", "call limited", "busy")


class DeliveryError(Exception):
    """A platform refused or could not take a write-back; ``transient`` ones are worth retrying."""

    def __init__(self, code: str, detail: str, *, transient: bool = False) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.transient = transient


@dataclass(frozen=True)
class Parcel:
    """What one write-back tells the platform about one order's parcel."""

    external_id: str
    #: The parcel's waybill number (for JD: every parcel's, comma-separated).
    waybill_no: str
    #: The platform's code of the parcel's carrier.
    company_code: str
    #: The platform's line ids (oid, sub-order ids) the parcel carries, in the order's order.
    line_ids: tuple[str, ...]
    #: Whether the order leaves in more than one parcel (TOP's is_split, 有赞's oids).
    split: bool
    #: 微信小店's product_infos of the parcel: {product_id, sku_id, product_cnt}.
    products: tuple[dict[str, Any], ...] = ()


def company_code(platform: str, carrier_code: str) -> str:
    """The platform's code for one of our carriers; an unmapped carrier is a permanent failure naming it."""
    code = PLATFORM_CARRIERS.get(platform, {}).get(carrier_code)
    if not code:
        raise DeliveryError("unmapped_carrier", carrier_code or "—")
    return code


def refusal(message: str, *, busy: bool = False, done: Sequence[str] = ALREADY_SHIPPED) -> None:
    """Raise a platform's refusal, read by its words, unless it says what was asked is ``done`` already (the order is
    already shipped: the write-back is then done). It is transient when it says to try later, or ``busy`` (the
    platform's code for its system failing)."""
    lowered = message.lower()
    if any(marker in lowered for marker in done):
        return
    transient = busy or any(marker in lowered for marker in TRY_LATER)
    raise DeliveryError("refused", message[:900], transient=transient)


async def call_platform(http: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> Any:
    """One HTTP call to a platform, its JSON answer; the network, 5xx and 429 are transient."""
    try:
        response = await http.request(method, url, timeout=15.0, **kwargs)
    except httpx.HTTPError as exc:
        raise DeliveryError("refused", f"{type(exc).__name__}: {exc}", transient=True) from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise DeliveryError("refused", f"HTTP {response.status_code}", transient=True)
    try:
        return response_json(response)
    except PullError as exc:
        raise DeliveryError("refused", f"HTTP {response.status_code}: {str(exc)[:200]}", transient=True) from exc


async def post_with_token(http: httpx.AsyncClient, creds: Credentials, path: str, request: dict[str, Any]) -> Any:
    """A JSON POST authenticated by the shop's ``access_token`` in the query (有赞, 微信小店: no signature)."""
    return await call_platform(
        http, "POST", f"{creds.base_url.rstrip('/')}{path}", params={"access_token": creds.access_token}, json=request
    )


async def send_taobao(http: httpx.AsyncClient, creds: Credentials, parcel: Parcel) -> str:
    """taobao.logistics.offline.send (自己联系物流发货): the trade, or with is_split its sub-orders, becomes shipped."""
    business = {"tid": parcel.external_id, "out_sid": parcel.waybill_no, "company_code": parcel.company_code}
    if parcel.split:
        business["is_split"] = "1"
        business["sub_tid"] = ",".join(parcel.line_ids)
    params = taobao.signed_params(creds, "taobao.logistics.offline.send", business)
    body = await call_platform(http, "POST", f"{creds.base_url.rstrip('/')}/router/rest", data=params)
    error = body.get("error_response")
    if isinstance(error, dict):
        words = " ".join(str(error.get(k) or "") for k in ("sub_msg", "msg", "sub_code", "code")).strip()
        # An isp.* sub-code: TOP's own service failed, not the request.
        refusal(words, busy=str(error.get("sub_code") or "").startswith("isp."))
        return str(error.get("request_id") or "")
    answer = body.get("logistics_offline_send_response") or {}
    if not (answer.get("shipping") or {}).get("is_success"):
        raise DeliveryError("refused", json.dumps(answer, ensure_ascii=False)[:300])
    return str(answer.get("request_id") or "")


async def send_jd(http: httpx.AsyncClient, creds: Credentials, parcel: Parcel) -> str:
    """jingdong.pop.order.shipment (POP 订单出库): the whole order, with every parcel's waybill number."""
    business = {"order_id": parcel.external_id, "logistics_id": parcel.company_code, "waybill": parcel.waybill_no}
    params = jd.signed_params(creds, "jingdong.pop.order.shipment", business)
    body = await call_platform(http, "POST", f"{creds.base_url.rstrip('/')}/routerjson", data=params)
    error = body.get("error_response")
    if isinstance(error, dict):
        refusal(f"{error.get('zh_desc') or error.get('en_desc') or ''} ({error.get('code')})")
        return ""
    result = (body.get("jingdong_pop_order_shipment_responce") or {}).get("sopjosshipment_result") or {}
    if not result.get("success"):
        refusal(f"{result.get('chineseErrCode') or ''} ({result.get('errorCode') or ''})")
    return str(body.get("request_id") or "")


async def send_douyin(http: httpx.AsyncClient, creds: Credentials, parcel: Parcel) -> str:
    """抖店 order.logisticsAdd: the parent order leaves with one waybill."""
    business = {
        "company_code": parcel.company_code,
        "logistics_code": parcel.waybill_no,
        "order_id": parcel.external_id,
    }
    return await call_douyin(http, creds, "order.logisticsAdd", "/order/logisticsAdd", business)


async def call_douyin(
    http: httpx.AsyncClient,
    creds: Credentials,
    method: str,
    path: str,
    business: Mapping[str, Any],
    *,
    done: Sequence[str] = ALREADY_SHIPPED,
) -> str:
    """One signed 抖店 call (its business parameters in the query and as the body); its log id, or the refusal raised
    as :func:`refusal` reads it (``done``: the words that mean it is done already)."""
    param_json = json.dumps(business, separators=(",", ":"), sort_keys=True)
    params = douyin.signed_params(creds, method, param_json)
    body = await call_platform(http, "POST", f"{creds.base_url.rstrip('/')}{path}", params=params, content=param_json)
    if body.get("code") != 10000:
        words = f"{body.get('sub_msg') or body.get('msg') or ''} ({body.get('code')} {body.get('sub_code') or ''})"
        # 抖店's 系统错误 (20000, isp.*): "请稍后重试".
        busy = body.get("code") == 20000 or str(body.get("sub_code") or "").startswith("isp.")
        refusal(words, busy=busy, done=done)
    return str(body.get("log_id") or "")


async def send_kuaishou(http: httpx.AsyncClient, creds: Credentials, parcel: Parcel) -> str:
    """快手 open.seller.order.goods.deliver: the whole order leaves with one waybill (a form POST, signed)."""
    try:
        order_id, express_code = int(parcel.external_id), int(parcel.company_code)
    except ValueError as exc:
        raise DeliveryError("refused", f"orderId / expressCode must be numbers: {exc}") from exc
    param = json.dumps(
        {"expressCode": express_code, "expressNo": parcel.waybill_no, "orderId": order_id},
        separators=(",", ":"),
        sort_keys=True,
    )
    params = kuaishou.signed_params(creds, "open.seller.order.goods.deliver", param)
    url = f"{creds.base_url.rstrip('/')}/open/seller/order/goods/deliver"
    body = await call_platform(http, "POST", url, data=params)
    if body.get("result") != 1:
        refusal(f"{body.get('error_msg') or ''} ({body.get('result')})")
    return str(body.get("requestId") or "")


async def send_youzan(http: httpx.AsyncClient, creds: Credentials, parcel: Parcel) -> str:
    """有赞 youzan.logistics.online.confirm 3.0.0: the parcel's lines (oids, when split) become shipped."""
    request: dict[str, Any] = {
        "tid": parcel.external_id,
        "out_stype": parcel.company_code,
        "out_sid": parcel.waybill_no,
    }
    if parcel.split:
        request["oids"] = ",".join(parcel.line_ids)
    return await call_youzan(http, creds, "/api/youzan.logistics.online.confirm/3.0.0", request)


async def call_youzan(
    http: httpx.AsyncClient,
    creds: Credentials,
    path: str,
    request: Mapping[str, Any],
    *,
    done: Sequence[str] = ALREADY_SHIPPED,
) -> str:
    """One 有赞 call (the shop's token in the query); its trace id, or the gateway's or the API's refusal raised as
    :func:`refusal` reads it (``done``: the words that mean it is done already)."""
    body = await post_with_token(http, creds, path, dict(request))
    gateway = body.get("gw_err_resp")
    if isinstance(gateway, dict):
        refusal(f"{gateway.get('err_msg') or ''} ({gateway.get('err_code')})", done=done)
        return ""
    if not body.get("success") or not (body.get("data") or {}).get("is_success", True):
        refusal(f"{body.get('message') or ''} ({body.get('code')})", done=done)
    return str(body.get("trace_id") or "")


async def send_wechat(http: httpx.AsyncClient, creds: Credentials, parcel: Parcel) -> str:
    """微信小店 /channels/ec/order/delivery/send: one delivery (快递, deliver_type 1) with the parcel's products."""
    request = {
        "order_id": parcel.external_id,
        "delivery_list": [
            {
                "delivery_id": parcel.company_code,
                "waybill_id": parcel.waybill_no,
                "deliver_type": 1,
                "product_infos": list(parcel.products),
            }
        ],
    }
    body = await post_with_token(http, creds, "/channels/ec/order/delivery/send", request)
    code = body.get("errcode")
    if code != 0:
        # -1 系统繁忙, 45009 the API's call limit reached.
        refusal(f"{body.get('errmsg') or ''} ({code})", busy=code in (-1, 45009))
    return ""


SENDERS: Final = {
    "taobao": send_taobao,
    "jd": send_jd,
    "douyin": send_douyin,
    "kuaishou": send_kuaishou,
    "youzan": send_youzan,
    "wechat": send_wechat,
}


# --- the rows of a shipped parcel ------------------------------------------------------------------------


def _order_of_line(line: Mapping[str, Any], primary: int) -> int:
    return int(line.get("order_id") or primary)


async def record_writebacks(session: AsyncSession, shipment_ref: str) -> list[int]:
    """The write-backs a shipped parcel calls for, recorded once: one per order it carries (the order, and any merged
    into it), ``not_needed`` for a channel with no platform to tell. For a platform that takes one call per order,
    none until every parcel of the order is shipped, then one, on the order's last parcel (by sequence, whichever
    parcel's job sees it first). Returns the ids of the pending ones this parcel's job sends."""
    shipment = (await session.exec(select(Shipment).where(Shipment.ref == shipment_ref))).first()
    if shipment is None or shipment.status not in LEFT:
        return []
    parcels = [
        s
        for s in (await session.exec(select(Shipment).where(Shipment.order_id == shipment.order_id))).all()
        if s.status != "cancelled"
    ]
    carried = sorted({_order_of_line(line, shipment.order_id) for line in shipment.lines} or {shipment.order_id})
    now = utcnow()
    ids: list[int] = []
    for order_id in carried:
        order = await session.get(Order, order_id)
        if order is None:
            continue
        # A reissue or an exchange's replacement is ours alone: its platform has no such order to be told of.
        platform = PLATFORM_OF.get(order.channel) if order.reissue_of is None else None
        parcel = shipment
        if platform in ONCE_PER_ORDER:
            own = [s for s in parcels if any(_order_of_line(line, s.order_id) == order_id for line in s.lines or [{}])]
            if any(s.status not in LEFT for s in own):
                continue
            parcel = max(own, key=lambda s: s.seq)
        row = (
            await session.exec(
                select(PlatformWriteback).where(
                    PlatformWriteback.shipment_ref == parcel.ref, PlatformWriteback.order_id == order_id
                )
            )
        ).first()
        if row is None:
            row = PlatformWriteback(
                shipment_ref=parcel.ref,
                order_id=order_id,
                shop_id=order.shop_id,
                channel=order.channel,
                waybill_no=parcel.waybill_no or "",
                carrier_code=parcel.carrier_code or "",
                status=WritebackStatus.pending if platform else WritebackStatus.not_needed,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            await session.flush()
        if row.status == WritebackStatus.pending and row.id is not None:
            ids.append(row.id)
    return ids


# --- the job -----------------------------------------------------------------------------------------------


def _products(order: Order, lines: Sequence[OrderLine]) -> tuple[dict[str, Any], ...]:
    """微信小店's product_infos for these lines: the product id comes from the order as the platform sent it (the
    line id is ``<sku_id>-<index in product_infos>``)."""
    infos = (order.raw.get("order_detail") or {}).get("product_infos") or []
    products = []
    for line in lines:
        index = line.line_id.rsplit("-", 1)[-1]
        info = infos[int(index)] if index.isdigit() and int(index) < len(infos) else {}
        product_id = str(info.get("product_id") or "") if isinstance(info, dict) else ""
        products.append({"product_id": product_id, "sku_id": line.channel_sku_id, "product_cnt": line.qty})
    return tuple(products)


async def _parcel_of(session: AsyncSession, row: PlatformWriteback, order: Order, platform: str) -> Parcel:
    """What the platform is told for this row, read from the parcel, its order's lines and its siblings."""
    shipment = (await session.exec(select(Shipment).where(Shipment.ref == row.shipment_ref))).one()
    siblings = [
        s
        for s in (await session.exec(select(Shipment).where(Shipment.order_id == shipment.order_id))).all()
        if s.status != "cancelled"
        and any(_order_of_line(line, shipment.order_id) == row.order_id for line in s.lines or [{}])
    ]
    order_lines = list(
        (
            await session.exec(
                select(OrderLine).where(OrderLine.order_id == row.order_id).order_by(col(OrderLine.position))
            )
        ).all()
    )
    carried = {
        str(line.get("line_id")) for line in shipment.lines if _order_of_line(line, shipment.order_id) == row.order_id
    }
    lines = [line for line in order_lines if line.line_id in carried]
    waybill = row.waybill_no
    if platform in ONCE_PER_ORDER:
        numbers = [s.waybill_no for s in sorted(siblings, key=lambda s: s.seq) if s.waybill_no]
        waybill = ",".join(numbers) if platform == "jd" else waybill
        lines = order_lines
    return Parcel(
        external_id=order.external_id,
        waybill_no=waybill,
        company_code=company_code(platform, row.carrier_code),
        line_ids=tuple(line.line_id for line in lines),
        split=len(siblings) > 1,
        products=_products(order, lines) if platform == "wechat" else (),
    )


async def write_back(
    db: Database, settings: Settings, shipment_ref: str, http: httpx.AsyncClient | None = None
) -> dict[str, Any]:
    """The job of a shipped parcel: record its write-backs (once), then send each pending one (see the module).
    A transient failure of any is raised after the others were sent, so that the outbox runs the job again; what
    was sent is then skipped."""
    async with db.transaction() as session:
        ids = await record_writebacks(session, shipment_ref)
    results: list[dict[str, Any]] = []
    retry: DeliveryError | None = None
    for writeback_id in ids:
        try:
            results.append(await write_one(db, settings, writeback_id, http))
        except DeliveryError as exc:
            retry = exc
    if retry is not None:
        raise retry
    return {"shipment": shipment_ref, "writebacks": results}


async def write_one(
    db: Database, settings: Settings, writeback_id: int, http: httpx.AsyncClient | None = None
) -> dict[str, Any]:
    """Write one parcel of one order back to its platform. Returns what happened; raises :class:`DeliveryError`
    for a transient failure while attempts remain."""
    async with db.reading() as session:
        row = await session.get(PlatformWriteback, writeback_id)
        if row is None or row.status != WritebackStatus.pending:
            return {"skipped": "no such write-back, or not pending", "status": row.status if row else None}
        order = await session.get(Order, row.order_id)
        shop = await session.get(Shop, row.shop_id)
        assert order is not None and shop is not None
        platform = PLATFORM_OF[row.channel]
        creds = credentials_of(shop, settings.secret_key)
        try:
            if not shop.api_base_url:
                raise DeliveryError("no_api", shop.code)
            parcel = await _parcel_of(session, row, order, platform)
        except DeliveryError as exc:
            unsendable: DeliveryError | None = exc
        else:
            unsendable = None
    if unsendable is not None:
        return await _record(db, writeback_id, error=unsendable)
    try:
        if http is not None:
            reply = await SENDERS[platform](http, creds, parcel)
        else:
            async with httpx.AsyncClient() as client:
                reply = await SENDERS[platform](client, creds, parcel)
    except DeliveryError as exc:
        outcome = await _record(db, writeback_id, error=exc)
        if outcome["status"] == WritebackStatus.pending:
            raise
        return outcome
    return await _record(db, writeback_id, reply=reply)


async def _record(
    db: Database, writeback_id: int, *, reply: str | None = None, error: DeliveryError | None = None
) -> dict[str, Any]:
    """Keep the outcome of one call on its row, with the order's timeline and the event, in one transaction."""
    async with db.transaction() as session:
        row = await session.get(PlatformWriteback, writeback_id, with_for_update=True)
        assert row is not None
        if row.status != WritebackStatus.pending:  # another delivery of the job got there first
            return {"status": row.status}
        order = await session.get(Order, row.order_id)
        assert order is not None
        now = utcnow()
        row.attempts += 1
        row.updated_at = now
        data = {
            "order_id": str(row.order_id),
            "external_id": order.external_id,
            "channel": row.channel,
            "shipment": row.shipment_ref,
            "waybill_no": row.waybill_no,
        }
        if error is None:
            row.status = WritebackStatus.sent
            row.reply_id = (reply or "")[:100]
            row.sent_at = now
            row.error_code, row.last_error = "", None
            await orders.add_event(
                session, order, "written_back", {"shipment": row.shipment_ref, "waybill_no": row.waybill_no}
            )
            await events.record(
                session,
                events.EventType.shipment_written_back,
                {**data, "platform_reply_id": row.reply_id},
                key=f"shipment.written_back:{row.id}",
            )
        else:
            row.last_error = error.detail[:1000]
            if error.transient and row.attempts < MAX_ATTEMPTS:
                row.error_code = error.code
            else:
                row.status = WritebackStatus.failed
                row.error_code = "unreachable" if error.transient else error.code
                detail = {"shipment": row.shipment_ref, "error": row.error_code}
                await orders.add_event(session, order, "write_back_failed", detail)
                await events.record(
                    session,
                    events.EventType.shipment_write_back_failed,
                    {**data, "error": row.error_code, "message": row.last_error},
                    key=f"shipment.write_back_failed:{row.id}:{row.retries}",
                )
        session.add(row)
        return {"status": row.status, "attempts": row.attempts, "reply_id": row.reply_id, "error": row.error_code}


__all__ = [
    "ONCE_PER_ORDER",
    "PLATFORM_CARRIERS",
    "PLATFORM_OF",
    "DeliveryError",
    "Parcel",
    "call_douyin",
    "call_platform",
    "call_youzan",
    "company_code",
    "post_with_token",
    "record_writebacks",
    "refusal",
    "write_back",
    "write_one",
]

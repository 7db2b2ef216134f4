"""The platforms' refund and after-sale messages (售后消息), each made one after-sales case.

A message names the platform's own refund / after-sale id (``platform_ref``), so the same message delivered twice, or
pulled and pushed, finds the case it opened; a later message of that id moves the case on (the buyer withdrew it:
撤销; the seller refused it in the platform's back office; the platform made the refund itself). A message that
cannot be read, or names an order or an item we do not have, goes to the ingest-error queue like an order that
cannot be read, and changes nothing.

How each platform tells us, and what its message carries (field names from the platforms' open docs and public SDK
models; where a field is unverified it says so):

- 淘宝 / 天猫: TOP's message service (TMC) is pulled, not pushed, so a relay delivers ``taobao.refund.get``'s
  ``refund`` object to our webhook, signed like an order (bububa/opentaobao model/refund/Refund.go): ``refund_id``,
  ``tid``, ``oid`` (the sub-order), ``num``, ``refund_fee`` (yuan string), ``has_good_return``, ``status``
  (WAIT_SELLER_AGREE, WAIT_BUYER_RETURN_GOODS, WAIT_SELLER_CONFIRM_GOODS, SELLER_REFUSE_BUYER, CLOSED, SUCCESS),
  ``reason``, ``desc``, ``refund_version`` and ``refund_phase`` (what ``taobao.rp.refunds.agree`` takes back),
  ``dispute_type`` (TMALL_EXCHANGE / TAOBAO_EXCHANGE: 换货; unverified).
- 京东 POP: JOS messages are pulled too; the webhook takes ``jingdong.pop.afs.soa.refundapply.queryById``'s
  ``RefundApplyVo`` (售前退款审核单, the whole order): ``id``, ``orderId``, ``applyRefundSum`` (fen: the SDKs'
  users divide it by 100), ``status`` (0 未审核, 1 审核通过, 2 审核不通过, 3 京东财务审核通过, 4 京东财务审核不通过,
  5 人工审核通过, 6 拦截并退款, 9 强制关单并退款, 11 用户撤销), ``reason`` (unverified). JD's 售后服务单 (afs
  service orders for returns and exchanges after shipping) are not read yet.
- 抖店: its signed push (``channels.push``), tags 200 买家发起售后申请, 208 买家修改售后申请, 201 同意退款, 204 拒绝
  退款, 206 退款成功, 207 售后关闭 (bububa/jinritemai-go message/refund, zsmhub/doudian-sdk message/). ``data``:
  ``aftersale_id``, ``p_id`` (the order), ``s_id`` (its sku order, our line), ``aftersale_type`` (0 退货退款,
  1 已发货仅退款, 2 未发货仅退款, 3 换货), ``refund_amount`` (fen, shipping included), ``refund_post_amount``,
  ``reason_code``, ``aftersale_status``; ``item_num`` when given (else the whole line).
- 快手: its encrypted push, events ``kwaishop_aftersales_addRefund`` / ``kwaishop_aftersales_updateRefund``
  (open.kwaixiaodian.com msg docs): ``info`` = ``refundId``, ``orderId``, ``handlingWay`` (1 退货退款, 10 仅退款,
  3 换货, 4 补寄), ``status``, ``createTime``; ``refundFee`` (fen) and ``orderItemId`` when the detail
  (``open.seller.order.refund.detail``) is delivered instead, else the whole order at what was paid. The status
  codes read here (60 退款成功, 70 售后关闭) are unverified.
- 有赞: its signed push, a refund event ``msg`` (youzan push TRADE_ORDER_REFUND; hesi726/youzan_CSharp):
  ``refund_id``, ``tid``, ``oid``, ``refund_state`` (SAFE_NEW, SAFE_HANDLED, SAFE_REJECT, SAFE_INVOLVED,
  SAFE_ACCEPT, SAFE_SEND, SAFE_NO_RECEIVE, SAFE_CLOSE, SAFE_FINISHED), ``refunded_fee`` / ``refund_fee`` (yuan),
  ``refund_type`` (REFUND_ONLY, REFUND_AND_RETURN), ``refund_reason``, ``version`` (what
  ``youzan.trade.refund.agree`` takes back).
- 视频号小店: orders come by webhook, and so do after-sales: ``/channels/ec/aftersale/getaftersaleorder``'s
  ``after_sale_order``: ``after_sale_order_id``, ``order_id``, ``product_info{product_id, sku_id, count}``,
  ``refund_info{amount}`` (fen), ``type`` (REFUND, RETURN), ``status`` (USER_CANCELD, MERCHANT_PROCESSING,
  MERCHANT_REJECT_REFUND, MERCHANT_REJECT_RETURN, USER_WAIT_RETURN, RETURN_CLOSED, MERCHANT_WAIT_RECEIPT,
  MERCHANT_REFUND_SUCCESS, MERCHANT_RETURN_SUCCESS, ...), ``reason``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import Database
from app.domain.aftersales import services as aftersales
from app.domain.aftersales.models import AfterSaleCase, CaseKind, CaseSource
from app.domain.channels import services
from app.domain.channels.adapters.base import NormalizeError, as_object, fen, integer, text, yuan
from app.domain.channels.models import IngestSource
from app.domain.orders.models import Order, OrderLine
from app.domain.shops.models import Channel, Shop
from app.errors import DomainError
from app.i18n import gettext
from app.settings import Settings


class Told(StrEnum):
    """What a message says of its case."""

    open = "open"  # applied for (or changed): waits for the seller
    agreed = "agreed"  # in progress on the platform (agreed, goods on their way): nothing to change here
    refused = "refused"  # the seller refused it in the platform's back office
    cancelled = "cancelled"  # the buyer withdrew it, or the platform closed it
    refunded = "refunded"  # the platform made the refund


@dataclass(frozen=True)
class ToldLine:
    """One item a message names: the platform's line id (or SKU id), the units (None: the whole line) and their refund
    in fen (None: what was paid for them)."""

    key: str
    qty: int | None = None
    refund_fen: int | None = None


@dataclass(frozen=True)
class PlatformCase:
    """One after-sale message, read: the case it is about and what it says of it."""

    ref: str
    order: str
    told: Told
    kind: CaseKind
    #: The items; empty: every item of the order.
    lines: tuple[ToldLine, ...] = ()
    #: The items' refund in fen when the message gives one total for them (None: as ``lines`` say, or what was paid).
    refund_fen: int | None = None
    #: Shipping refunded with them (fen).
    shipping_fen: int = 0
    reason: str = ""
    #: What the platform's agree-refund call takes back (its status, the refund's version and phase).
    data: dict[str, Any] = field(default_factory=dict)


def _kind(value: Any, kinds: Mapping[Any, CaseKind], name: str) -> CaseKind:
    kind = kinds.get(value)
    if kind is None:
        raise NormalizeError(name, gettext("%(field)s: this after-sales type is not handled here"), {})
    return kind


def _told(value: Any, states: Mapping[Any, Told], default: Told = Told.agreed) -> Told:
    return states.get(value, default)


def _unit(value: Any, name: str) -> int | None:
    """A quantity a message gives (None when it gives none)."""
    if value in (None, ""):
        return None
    qty = integer(value, name)
    if qty < 1:
        raise NormalizeError(name, gettext("%(field)s must be a whole number from 1"), {})
    return qty


TAOBAO_STATES: Final = {
    "WAIT_SELLER_AGREE": Told.open,
    "SELLER_REFUSE_BUYER": Told.refused,
    "CLOSED": Told.cancelled,
    "SUCCESS": Told.refunded,
}


def read_taobao(payload: dict[str, Any]) -> PlatformCase:
    """淘宝 / 天猫 ``taobao.refund.get``'s ``refund`` (or the whole answer): one sub-order's refund."""
    refund = payload.get("refund_get_response", payload)
    refund = refund.get("refund", refund) if isinstance(refund, dict) else refund
    refund = as_object(refund, "refund")
    returned = str(refund.get("has_good_return", "")).lower() in ("true", "1")
    dispute = str(refund.get("dispute_type") or "")
    kind = CaseKind.exchange if dispute.endswith("EXCHANGE") else CaseKind.return_refund if returned else None
    return PlatformCase(
        ref=text(refund, "refund_id"),
        order=text(refund, "tid"),
        told=_told(text(refund, "status"), TAOBAO_STATES),
        kind=kind or CaseKind.refund_only,
        lines=(ToldLine(text(refund, "oid"), _unit(refund.get("num"), "num"), yuan(refund, "refund_fee")),),
        reason=" ".join(str(refund.get(k) or "") for k in ("reason", "desc")).strip(),
        data={
            "status": text(refund, "status"),
            "refund_version": text(refund, "refund_version", ""),
            "refund_phase": text(refund, "refund_phase", "") or "onsale",
        },
    )


#: JD 退款审核单 status: 0 waits; 2/4 refused; 11 the buyer withdrew; 3/6/9 refunded; the rest in progress.
JD_STATES: Final = {0: Told.open, 2: Told.refused, 4: Told.refused, 11: Told.cancelled, 3: Told.refunded}
JD_STATES_MORE: Final = {6: Told.refunded, 9: Told.refunded}


def read_jd(payload: dict[str, Any]) -> PlatformCase:
    """京东 POP ``RefundApplyVo`` (售前退款: the whole order is refunded)."""
    refund = as_object(payload.get("refundApplyVo", payload), "refundApplyVo")
    status = integer(refund.get("status", 0), "status")
    return PlatformCase(
        ref=text(refund, "id"),
        order=text(refund, "orderId"),
        told=_told(status, {**JD_STATES, **JD_STATES_MORE}),
        kind=CaseKind.refund_only,
        refund_fen=fen(refund, "applyRefundSum"),
        reason=text(refund, "reason", ""),
        data={"status": status},
    )


DOUYIN_KINDS: Final = {
    0: CaseKind.return_refund,
    1: CaseKind.refund_only,
    2: CaseKind.refund_only,
    3: CaseKind.exchange,
}
#: 抖店's after-sale message tags, and what each says.
DOUYIN_TAGS: Final = {
    "200": Told.open,
    "208": Told.open,
    "201": Told.agreed,
    "202": Told.agreed,
    "203": Told.agreed,
    "204": Told.refused,
    "205": Told.agreed,
    "206": Told.refunded,
    "207": Told.cancelled,
}


def read_douyin(payload: dict[str, Any]) -> PlatformCase:
    """抖店's after-sale push message (its ``data`` with the message's ``tag``): one sku order of a parent order."""
    amount = fen(payload, "refund_amount", 0)
    post = fen(payload, "refund_post_amount", 0)
    if post > amount:
        raise NormalizeError("refund_post_amount", gettext("%(field)s is more than the refund"), {})
    return PlatformCase(
        ref=text(payload, "aftersale_id"),
        order=text(payload, "p_id"),
        told=_told(str(payload.get("tag") or ""), DOUYIN_TAGS),
        kind=_kind(integer(payload.get("aftersale_type", 0), "aftersale_type"), DOUYIN_KINDS, "aftersale_type"),
        lines=(ToldLine(text(payload, "s_id"), _unit(payload.get("item_num"), "item_num"), amount - post),),
        shipping_fen=post,
        reason=text(payload, "reason", "") or text(payload, "reason_code", ""),
        data={"tag": str(payload.get("tag") or ""), "aftersale_status": payload.get("aftersale_status")},
    )


KUAISHOU_KINDS: Final = {
    1: CaseKind.return_refund,
    10: CaseKind.refund_only,
    3: CaseKind.exchange,
    4: CaseKind.reissue,
}
KUAISHOU_STATES: Final = {60: Told.refunded, 70: Told.cancelled}


def read_kuaishou(payload: dict[str, Any]) -> PlatformCase:
    """快手's after-sale push ``info`` (with its ``event``), or the refund detail."""
    status = integer(payload.get("status", 0), "status")
    event = str(payload.get("event") or "")
    told = Told.open if event.endswith("addRefund") else _told(status, KUAISHOU_STATES)
    item = text(payload, "orderItemId", "")
    refund = fen(payload, "refundFee") if payload.get("refundFee") is not None else None
    return PlatformCase(
        ref=text(payload, "refundId"),
        order=text(payload, "orderId"),
        told=told,
        kind=_kind(integer(payload.get("handlingWay", 0), "handlingWay"), KUAISHOU_KINDS, "handlingWay"),
        lines=(ToldLine(item, None, refund),) if item else (),
        refund_fen=None if item else refund,
        reason=text(payload, "reason", ""),
        data={"status": status},
    )


YOUZAN_KINDS: Final = {"REFUND_ONLY": CaseKind.refund_only, "REFUND_AND_RETURN": CaseKind.return_refund}
YOUZAN_STATES: Final = {
    "SAFE_NEW": Told.open,
    "SAFE_HANDLED": Told.open,
    "SAFE_REJECT": Told.refused,
    "SAFE_CLOSE": Told.cancelled,
    "SAFE_FINISHED": Told.refunded,
}


def read_youzan(payload: dict[str, Any]) -> PlatformCase:
    """有赞's refund event: one line (``oid``) of a trade."""
    amount = "refunded_fee" if payload.get("refunded_fee") is not None else "refund_fee"
    return PlatformCase(
        ref=text(payload, "refund_id"),
        order=text(payload, "tid"),
        told=_told(text(payload, "refund_state"), YOUZAN_STATES),
        kind=_kind(text(payload, "refund_type"), YOUZAN_KINDS, "refund_type"),
        lines=(ToldLine(text(payload, "oid"), None, yuan(payload, amount)),),
        reason=text(payload, "refund_reason", ""),
        data={"refund_state": text(payload, "refund_state"), "version": text(payload, "version", "")},
    )


WECHAT_KINDS: Final = {"REFUND": CaseKind.refund_only, "RETURN": CaseKind.return_refund}
WECHAT_STATES: Final = {
    "USER_CANCELD": Told.cancelled,
    "RETURN_CLOSED": Told.cancelled,
    "MERCHANT_PROCESSING": Told.open,
    "MERCHANT_REJECT_REFUND": Told.refused,
    "MERCHANT_REJECT_RETURN": Told.refused,
    "MERCHANT_REFUND_SUCCESS": Told.refunded,
    "MERCHANT_RETURN_SUCCESS": Told.refunded,
}


def read_wechat(payload: dict[str, Any]) -> PlatformCase:
    """视频号小店's ``after_sale_order``: one product of an order."""
    order = as_object(payload.get("after_sale_order", payload), "after_sale_order")
    product = as_object(order.get("product_info") or {}, "product_info")
    refund = as_object(order.get("refund_info") or {}, "refund_info")
    return PlatformCase(
        ref=text(order, "after_sale_order_id"),
        order=text(order, "order_id"),
        told=_told(text(order, "status"), WECHAT_STATES),
        kind=_kind(text(order, "type"), WECHAT_KINDS, "type"),
        lines=(
            ToldLine(
                text(product, "sku_id"),
                _unit(product.get("count"), "product_info.count"),
                fen(refund, "amount") if refund.get("amount") is not None else None,
            ),
        ),
        reason=text(order, "reason", "") or text(order, "reason_text", ""),
        data={"status": text(order, "status")},
    )


READERS: Final[Mapping[Channel, Callable[[dict[str, Any]], PlatformCase]]] = {
    Channel.taobao: read_taobao,
    Channel.tmall: read_taobao,
    Channel.jd: read_jd,
    Channel.douyin: read_douyin,
    Channel.kuaishou: read_kuaishou,
    Channel.youzan: read_youzan,
    Channel.wechat_channels: read_wechat,
}


def read_message(channel: Channel, body: bytes | str | dict[str, Any]) -> PlatformCase:
    """The message as a case, or NormalizeError naming the field that cannot be read."""
    reader = READERS.get(channel)
    if reader is None:
        raise NormalizeError("channel", gettext("This platform sends no after-sales messages here."))
    payload = as_object(body)
    told = reader(payload)
    if not told.ref or not told.order:
        raise NormalizeError("refund_id", gettext("The message names no after-sales number or no order."))
    return told


# --- taking a message ------------------------------------------------------------------------------------------


class Unmatched(Exception):
    """The message names something we do not have: kept in the error queue as the field and the reason."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _request(told: PlatformCase, order: Order, lines: list[OrderLine]) -> aftersales.CaseRequest:
    """The case a message asks for, its items matched to the order's lines (by line id, else the platform's SKU id)
    and its refund spread over them as the platform says, never more than each was paid."""
    assert order.id is not None
    by_key = {line.line_id: line for line in lines}
    by_sku = {line.channel_sku_id: line for line in lines if line.channel_sku_id}
    wanted: list[aftersales.LineRequest] = []
    for item in told.lines or tuple(ToldLine(line.line_id) for line in lines):
        line = by_key.get(item.key) or by_sku.get(item.key)
        if line is None:
            raise Unmatched(
                "lines",
                gettext("Order %(order)s has no item %(line)s") % {"order": order.external_id, "line": item.key},
            )
        wanted.append(aftersales.LineRequest(order.id, line.line_id, item.qty or line.qty, item.refund_fen))
    refund_shipping = told.shipping_fen > 0
    if told.refund_fen is not None:
        # One total for the items: each takes what it was paid, in order, until the total is spent.
        left, spread = told.refund_fen, []
        for want, line in zip(wanted, (by_key[w.line_id] for w in wanted), strict=True):
            share = aftersales.line_share(line, want.qty)
            spread.append(aftersales.LineRequest(want.order_id, want.line_id, want.qty, min(share, left)))
            left -= min(share, left)
        wanted = spread
        refund_shipping = refund_shipping or (left > 0 and left == order.shipping_fen)
    elif len(wanted) == 1 and wanted[0].refund_fen is not None:
        # A one-line refund may carry the order's freight (TOP: a lone line's payment includes it).
        line = by_key[wanted[0].line_id]
        share = aftersales.line_share(line, wanted[0].qty)
        over = wanted[0].refund_fen - share
        if over > 0 and over == order.shipping_fen:
            wanted = [aftersales.LineRequest(order.id, line.line_id, wanted[0].qty, share)]
            refund_shipping = True
    return aftersales.CaseRequest(
        kind=told.kind,
        order_id=order.id,
        lines=wanted,
        reason=told.reason,
        source=CaseSource.platform,
        refund_shipping=refund_shipping,
        platform_ref=told.ref,
    )


async def _apply(session: AsyncSession, shop: Shop, told: PlatformCase) -> services.IngestResult:
    """Open the case the message is about, or move the one it opened before on; in the caller's transaction."""
    actor = aftersales.SYSTEM_ACTOR
    case = (
        await session.exec(
            select(AfterSaleCase).where(AfterSaleCase.shop_id == shop.id, AfterSaleCase.platform_ref == told.ref)
        )
    ).first()
    outcome = "updated"
    if case is None:
        if told.told in (Told.refused, Told.cancelled):
            # Closed before we heard of it: there is nothing to open.
            return services.IngestResult("ignored")
        order = (
            await session.exec(
                select(Order).where(
                    Order.channel == shop.channel, Order.shop_id == shop.id, Order.external_id == told.order
                )
            )
        ).first()
        if order is None or order.id is None:
            raise Unmatched("order", gettext("There is no order %(order)s of this shop") % {"order": told.order})
        lines = list(
            (
                await session.exec(
                    select(OrderLine).where(OrderLine.order_id == order.id).order_by(col(OrderLine.position))
                )
            ).all()
        )
        view = await aftersales.open_case(session, actor, _request(told, order, lines))
        case, outcome = view.case, "created"
    assert case.id is not None
    before = (case.status, case.refund_status)
    case.platform_data = {**(case.platform_data or {}), **told.data}
    session.add(case)
    if told.told == Told.cancelled:
        await aftersales.withdraw(session, case.id, actor, gettext("Withdrawn or closed on the platform"))
    elif told.told == Told.refused and case.status == "requested":
        await aftersales.refuse(session, case.id, actor, gettext("Refused in the platform's back office"))
    elif told.told == Told.refunded:
        await aftersales.refunded_by_platform(session, case.id, actor)
    if outcome == "updated" and (case.status, case.refund_status) == before:
        outcome = "unchanged"
    return services.IngestResult(outcome, order_id=case.order_id, case_id=case.id)


async def take(
    db: Database, settings: Settings, shop: Shop, body: bytes | str | dict[str, Any]
) -> services.IngestResult:
    """One after-sale message, from the webhook or the platform's push: a case opened or moved on, or the message kept
    in the ingest-error queue with the reason. Safe to take any number of times."""
    try:
        told = read_message(shop.channel, body)
    except NormalizeError as exc:
        return await _keep(db, settings, shop, body, exc.field, exc.message)
    try:
        return await services.racing(db, lambda session: _apply(session, shop, told))
    except Unmatched as exc:
        return await _keep(db, settings, shop, body, exc.field, exc.message)
    except DomainError as exc:
        return await _keep(db, settings, shop, body, exc.field or "lines", exc.message)


async def _keep(
    db: Database, settings: Settings, shop: Shop, body: bytes | str | dict[str, Any], field: str, message: str
) -> services.IngestResult:
    return await services.record_error(
        db, shop, body, IngestSource.aftersale, field, message, secret_key=settings.secret_key
    )


__all__ = ["READERS", "PlatformCase", "Told", "ToldLine", "read_message", "take"]

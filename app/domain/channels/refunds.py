"""退款回传: tell a platform's after-sales case's platform that its refund is agreed (同意退款), so that the platform
makes it.

Approving such a case (or receiving the goods of a return) leaves it 退款中 with the refund pending and stages one
outbox job per case (``aftersales.REFUND_JOB``, keyed by the case; a 重试 stages another). The job
(:func:`write_back_refund`) calls the platform's agree-refund API with the shop's credentials and signs as the
delivery write-back does (``channels.delivery``: the same client, the same transient / permanent reading of the
answer). On success the case is refunded and completes (``aftersale.refunded``, ``aftersale.completed``); a
platform that answers that the refund is already agreed or made counts as success. A transient failure is raised
for the outbox to retry; a permanent refusal, or the last attempt of a transient one, leaves the refund failed with
the platform's words, shown on the case and the orders' timelines until someone retries. It is idempotent: a case
whose refund is no longer pending is skipped.

What each platform is told (method names and fields from the platforms' open-API docs and their public SDK models):

- 淘宝 / 天猫 ``taobao.rp.refunds.agree`` (bububa/opentaobao model/refund): ``refund_infos`` =
  ``refund_id|amount in fen|refund_version|refund_phase``; the answer's ``succ`` / ``msg_code`` OP_SUCC.
- 京东 POP ``jingdong.pop.afs.soa.refundapply.replyRefund`` (JOS api 923): ``status`` 1 (审核通过), ``id``,
  ``checkUserName``, ``remark``, ``outWareStatus`` (1 shipped, 2 not); the answer's ``replyResult.success``.
- 抖店 ``afterSale.operate`` (op.jinritemai.com docs 17/560): ``type`` 201 (同意退款), ``items[{aftersale_id}]``;
  code 10000.
- 快手 ``open.seller.order.refund.approve``: ``refundId``, ``refundAmount`` (fen), ``status`` (the refund's
  status as last told), ``desc``; result 1.
- 有赞 ``youzan.trade.refund.agree`` 3.0.0: ``refund_id``, ``version`` (the refund's, as its message gave it).
- 视频号小店 ``/channels/ec/aftersale/acceptapply``: ``after_sale_order_id`` (``accept_type`` 2 for a return whose
  goods came back: 确认收货并退款); errcode 0.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import httpx

from app.db import Database
from app.domain.aftersales import services as aftersales
from app.domain.aftersales.models import AfterSaleCase, CaseKind, CaseStatus, RefundStatus
from app.domain.channels.adapters import jd, kuaishou, taobao
from app.domain.channels.adapters.base import Credentials
from app.domain.channels.delivery import (
    MAX_ATTEMPTS,
    PLATFORM_OF,
    DeliveryError,
    call_douyin,
    call_platform,
    call_youzan,
    post_with_token,
    refusal,
)
from app.domain.channels.services import credentials_of
from app.domain.shops.models import Shop
from app.settings import Settings

#: Words in a platform's refusal that mean the refund is agreed or made already: the write-back is done.
ALREADY_REFUNDED: Final = ("已退款", "退款成功", "已同意", "重复操作", "already refunded", "already agreed")


@dataclass(frozen=True)
class Agreement:
    """What one write-back tells the platform about one case."""

    ref: str
    external_id: str
    refund_fen: int
    kind: str
    shipped: bool
    #: What the platform's own message said (status, the refund's version and phase).
    data: dict[str, Any]


def _refused(message: str, *, busy: bool = False) -> None:
    refusal(message, busy=busy, done=ALREADY_REFUNDED)


async def agree_taobao(http: httpx.AsyncClient, creds: Credentials, agreement: Agreement) -> str:
    """taobao.rp.refunds.agree: the refund (by id, amount in fen, its version and phase) is agreed."""
    data = agreement.data
    info = "|".join(
        (
            agreement.ref,
            str(agreement.refund_fen),
            str(data.get("refund_version") or ""),
            str(data.get("refund_phase") or "onsale"),
        )
    )
    params = taobao.signed_params(creds, "taobao.rp.refunds.agree", {"refund_infos": info})
    body = await call_platform(http, "POST", f"{creds.base_url.rstrip('/')}/router/rest", data=params)
    error = body.get("error_response")
    if isinstance(error, dict):
        words = " ".join(str(error.get(k) or "") for k in ("sub_msg", "msg", "sub_code", "code")).strip()
        _refused(words, busy=str(error.get("sub_code") or "").startswith("isp."))
        return str(error.get("request_id") or "")
    answer = body.get("rp_refunds_agree_response") or {}
    if not answer.get("succ") and answer.get("msg_code") != "OP_SUCC":
        _refused(str(answer.get("message") or json.dumps(answer, ensure_ascii=False))[:300])
    return str(answer.get("request_id") or "")


async def agree_jd(http: httpx.AsyncClient, creds: Credentials, agreement: Agreement) -> str:
    """jingdong.pop.afs.soa.refundapply.replyRefund: the 退款审核单 passes (status 1)."""
    business = {
        "status": 1,
        "id": agreement.ref,
        "checkUserName": "ruleflow",
        "remark": "同意退款",
        "outWareStatus": 1 if agreement.shipped else 2,
    }
    params = jd.signed_params(creds, "jingdong.pop.afs.soa.refundapply.replyRefund", business)
    body = await call_platform(http, "POST", f"{creds.base_url.rstrip('/')}/routerjson", data=params)
    error = body.get("error_response")
    if isinstance(error, dict):
        _refused(f"{error.get('zh_desc') or error.get('en_desc') or ''} ({error.get('code')})")
        return ""
    # JOS names the answer ``<method>_responce`` (its spelling), some SDKs ``_response``.
    answers = [v for k, v in body.items() if k.startswith("jingdong_pop_afs_soa_refundapply_replyRefund")]
    answer: dict[str, Any] = answers[0] if answers and isinstance(answers[0], dict) else {}
    result = answer.get("replyResult") or {}
    if not result.get("success"):
        _refused(f"{result.get('errorMessage') or result.get('chineseErrCode') or ''} ({result.get('errorCode')})")
    return str(body.get("request_id") or "")


async def agree_douyin(http: httpx.AsyncClient, creds: Credentials, agreement: Agreement) -> str:
    """抖店 afterSale.operate, type 201: the refund of the after-sale order is agreed."""
    business = {"items": [{"aftersale_id": agreement.ref}], "type": 201}
    return await call_douyin(http, creds, "afterSale.operate", "/afterSale/operate", business, done=ALREADY_REFUNDED)


async def agree_kuaishou(http: httpx.AsyncClient, creds: Credentials, agreement: Agreement) -> str:
    """快手 open.seller.order.refund.approve: the refund (its amount in fen, its status as told) is agreed."""
    try:
        refund_id = int(agreement.ref)
    except ValueError as exc:
        raise DeliveryError("refused", f"refundId must be a number: {exc}") from exc
    param = json.dumps(
        {
            "desc": "同意退款",
            "refundAmount": agreement.refund_fen,
            "refundId": refund_id,
            "status": int(agreement.data.get("status") or 0),
        },
        separators=(",", ":"),
        sort_keys=True,
    )
    params = kuaishou.signed_params(creds, "open.seller.order.refund.approve", param)
    body = await call_platform(
        http, "POST", f"{creds.base_url.rstrip('/')}/open/seller/order/refund/approve", data=params
    )
    if body.get("result") != 1:
        _refused(f"{body.get('error_msg') or ''} ({body.get('result')})")
    return str(body.get("requestId") or "")


async def agree_youzan(http: httpx.AsyncClient, creds: Credentials, agreement: Agreement) -> str:
    """有赞 youzan.trade.refund.agree 3.0.0: the refund (at the version last told) is agreed."""
    request = {"refund_id": agreement.ref, "version": str(agreement.data.get("version") or "")}
    return await call_youzan(http, creds, "/api/youzan.trade.refund.agree/3.0.0", request, done=ALREADY_REFUNDED)


async def agree_wechat(http: httpx.AsyncClient, creds: Credentials, agreement: Agreement) -> str:
    """视频号小店 /channels/ec/aftersale/acceptapply: the after-sale order is accepted (a return: received, refund)."""
    request: dict[str, Any] = {"after_sale_order_id": agreement.ref}
    if agreement.kind == CaseKind.return_refund.value:
        request["accept_type"] = 2
    body = await post_with_token(http, creds, "/channels/ec/aftersale/acceptapply", request)
    code = body.get("errcode")
    if code != 0:
        _refused(f"{body.get('errmsg') or ''} ({code})", busy=code in (-1, 45009))
    return ""


AGREERS: Final[dict[str, Callable[[httpx.AsyncClient, Credentials, Agreement], Awaitable[str]]]] = {
    "taobao": agree_taobao,
    "jd": agree_jd,
    "douyin": agree_douyin,
    "kuaishou": agree_kuaishou,
    "youzan": agree_youzan,
    "wechat": agree_wechat,
}


async def write_back_refund(
    db: Database, settings: Settings, case_id: int, http: httpx.AsyncClient | None = None
) -> dict[str, Any]:
    """The job of an agreed refund (see the module). Returns what happened; raises :class:`DeliveryError` for a
    transient failure while attempts remain, for the outbox to run it again."""
    async with db.reading() as session:
        case = await session.get(AfterSaleCase, case_id)
        if (
            case is None
            or case.status != CaseStatus.refunding.value
            or case.refund_status != RefundStatus.pending.value
        ):
            return {"skipped": "no such case, or its refund is not pending", "case": case_id}
        shop = await session.get(Shop, case.shop_id)
        assert shop is not None
        creds = credentials_of(shop, settings.secret_key)
        platform = PLATFORM_OF.get(case.channel, "")
        order = await aftersales.order_of(session, case)
        told = dict(case.platform_data or {})
        agreement = Agreement(case.platform_ref, order.external_id, case.refund_fen, case.kind, case.shipped, told)
        attempts = case.refund_attempts
    agree = AGREERS.get(platform)
    try:
        if agree is None or not shop.api_base_url:
            raise DeliveryError("no_api", shop.code)
        if http is not None:
            reply = await agree(http, creds, agreement)
        else:
            async with httpx.AsyncClient() as client:
                reply = await agree(client, creds, agreement)
    except DeliveryError as exc:
        final = not exc.transient or attempts + 1 >= MAX_ATTEMPTS
        code = "unreachable" if exc.transient and final else exc.code
        async with db.transaction() as session:
            view = await aftersales.refund_failed(session, case_id, code, exc.detail, final=final)
        if not final:
            raise
        return {"case": case_id, "refund_status": view.case.refund_status, "error": code}
    async with db.transaction() as session:
        view = await aftersales.refund_made(session, case_id, aftersales.SYSTEM_ACTOR, reply_id=reply)
    return {"case": case_id, "refund_status": view.case.refund_status, "reply_id": reply}


__all__ = ["AGREERS", "ALREADY_REFUNDED", "Agreement", "write_back_refund"]

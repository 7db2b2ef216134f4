"""Kuaishou 快手小店: open.order.detail (``orderBaseInfo``, ``orderItemInfo``, ``orderAddress``).

Money in integer fen, times in unix milliseconds; consignee, mobile and address come encrypted with
desensitised copies; a line priced 0 is a gift (Kuaishou marks none). Status codes are unverified against the
platform (see CHANNELS.md): 10 unpaid, 30 paid, 40 shipped, 50 received, 70 finished, 80 closed. Requests are
signed with MD5 over the sorted query string followed by ``signSecret``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

import httpx

from app.domain.channels.adapters.base import (
    Credentials,
    NormalizeError,
    PresalePayments,
    PullError,
    PullPage,
    as_list,
    as_object,
    fen,
    get,
    integer,
    object_at,
    quantity,
    required_time,
    response_json,
    text,
    unix_time,
    within,
)
from app.domain.orders.schemas import NormalizedLine, NormalizedOrder

#: Where 快手 sends the receiver's ciphertext, and what each holds.
ENCRYPTED = {"encryptedConsignee": "name", "encryptedMobile": "phone", "encryptedAddress": "address"}
STATUS = {10: "received", 30: "received", 40: "shipped", 50: "delivered", 70: "completed", 80: "cancelled"}


def read_steps(value: Any, where: str) -> PresalePayments | None:
    """The steps by ``payStepNo``: ``paymentFee`` in fen, ``payTime`` once paid and ``endPayTime``, the step's
    last moment to pay (unix milliseconds); None when there are no steps. Field names as public SDK models show
    them (unverified against the platform, like the status codes)."""
    steps = []
    for i, item in enumerate(as_list(value, where)):
        item = object_at(item, f"{where}[{i}]")
        with within(f"{where}[{i}]"):
            steps.append(
                (
                    integer(item.get("payStepNo") or i + 1, "payStepNo"),
                    fen(item, "paymentFee", 0) or fen(item, "stepTotalPrice", 0),
                    unix_time(item.get("payTime"), "payTime", millis=True) is not None,
                    unix_time(item.get("endPayTime"), "endPayTime", millis=True),
                )
            )
    if not steps:
        return None
    steps.sort(key=lambda step: step[0])
    (_, deposit, deposit_paid, _), (_, _, balance_paid, due) = steps[0], steps[-1]
    if len(steps) == 1:
        return PresalePayments(deposit, deposit_paid, None, False)
    return PresalePayments(deposit, deposit_paid, due, balance_paid)


def kuaishou_sign(params: dict[str, str], secret: str) -> str:
    """快手开放平台 MD5 sign: sorted ``k=v`` pairs joined by ``&``, then ``&signSecret=<secret>``."""
    joined = "&".join(f"{key}={params[key]}" for key in sorted(params) if key != "sign")
    return hashlib.md5(f"{joined}&signSecret={secret}".encode()).hexdigest()  # noqa: S324 - the platform's scheme


def signed_params(creds: Credentials, method: str, param: str) -> dict[str, str]:
    """The parameters of a signed 快手 call (version 1, MD5) with its business ``param`` JSON."""
    params = {
        "appkey": creds.app_key,
        "method": method,
        "version": "1",
        "access_token": creds.access_token,
        "timestamp": str(int(datetime.now().timestamp() * 1000)),
        "signMethod": "MD5",
        "param": param,
    }
    params["sign"] = kuaishou_sign(params, creds.app_secret)
    return params


class KuaishouAdapter:
    #: Kuaishou sends the receiver only encrypted (``encrypted*``) and masked (``desensitise*``): nothing clear to
    #: name here; the generic pass still masks any mobile number found elsewhere in the payload.
    personal_fields: ClassVar[Mapping[str, str]] = {}

    def unwrap(self, body: Any) -> dict[str, Any]:
        data = as_object(body)
        return data["data"] if isinstance(data.get("data"), dict) and "orderBaseInfo" in data["data"] else data

    def normalize(self, payload: dict[str, Any]) -> NormalizedOrder:
        base = object_at(get(payload, "orderBaseInfo"), "orderBaseInfo")
        with within("orderBaseInfo"):
            code = integer(get(base, "status"), "status")
            if code not in STATUS:
                raise NormalizeError("status", f"unknown Kuaishou order status {code}")
            created = required_time(unix_time(get(base, "createTime"), "createTime", millis=True), "createTime")
            updated = unix_time(base.get("updateTime"), "updateTime", millis=True) or created
            paid_at = unix_time(base.get("payTime"), "payTime", millis=True)
            external_id = text(base, "oid")
            shipping = fen(base, "expressFee", 0)
            discount = fen(base, "discountFee", 0)
            paid = fen(base, "totalFee")
            presale = bool(base.get("preSale"))
        raw_items = payload.get("orderItemInfoList") or payload.get("orderItemInfo")
        items = [raw_items] if isinstance(raw_items, dict) else as_list(raw_items, "orderItemInfo")
        lines = []
        for i, item in enumerate(items):
            item = object_at(item, f"orderItemInfo[{i}]")
            with within(f"orderItemInfo[{i}]" if len(items) > 1 else "orderItemInfo"):
                qty = quantity(get(item, "num"), "num", i + 1)
                lines.append(
                    NormalizedLine(
                        line_id=text(item, "orderItemId"),
                        seller_sku=str(item.get("relSkuId") or ""),
                        channel_sku_id=str(item.get("skuId") or ""),
                        title=str(item.get("itemTitle") or ""),
                        qty=qty,
                        unit_price_fen=fen(item, "originalPrice"),
                        paid_fen=fen(item, "price") * qty - fen(item, "discountFee", 0),
                        # Kuaishou marks no gifts; a line at 0 fen is the 赠品 the seller added.
                        is_gift=fen(item, "originalPrice") == 0,
                    )
                )
        if not lines:
            raise NormalizeError("orderItemInfo", "the order has no lines")
        address = payload.get("orderAddress") or {}
        if not isinstance(address, dict):
            raise NormalizeError("orderAddress", "must be an object")
        if "orderPaymentStepInfos" in base:
            steps = read_steps(base.get("orderPaymentStepInfos"), "orderBaseInfo.orderPaymentStepInfos")
        else:
            steps = read_steps(payload.get("orderPaymentStepInfos"), "orderPaymentStepInfos")
        return NormalizedOrder(
            external_id=external_id,
            raw_status=str(code),
            status=STATUS[code],
            created_at=created,
            updated_at=updated,
            paid_at=paid_at,
            channel_buyer_id=str(base.get("buyerOpenId") or ""),
            buyer_nick=str(base.get("buyerNick") or ""),
            receiver_name=str(address.get("desensitiseConsignee") or ""),
            phone=None,  # Kuaishou only sends it encrypted
            phone_masked=str(address.get("desensitiseMobile") or ""),
            receiver_protected=True,
            receiver_tokens={kind: str(address[key]) for key, kind in ENCRYPTED.items() if address.get(key)},
            province=str(address.get("province") or ""),
            city=str(address.get("city") or ""),
            district=str(address.get("district") or ""),
            town=str(address.get("town") or ""),
            address=None,
            address_masked=str(address.get("desensitiseAddress") or ""),
            items_fen=sum(line.unit_price_fen * line.qty for line in lines),
            shipping_fen=shipping,
            discount_fen=discount,
            paid_fen=paid,
            is_presale=presale or steps is not None,
            deposit_paid=(presale or steps is not None) and (bool(steps and steps.deposit_paid) or paid_at is not None),
            deposit_fen=steps.deposit_fen if steps else 0,
            # A presale without payment steps (全款预售) was paid in full: no balance to wait for.
            balance_paid=steps.balance_paid if steps else presale,
            balance_due_at=steps.balance_due_at if steps else None,
            buyer_message=str(base.get("remark") or ""),
            seller_memo=str(base.get("sellerNote") or ""),
            tags=["unpaid"] if code == 10 else [],
            lines=lines,
            raw=payload,
        )

    async def pull_page(
        self, client: httpx.AsyncClient, creds: Credentials, since: datetime, until: datetime, token: str | None
    ) -> PullPage:
        param = json.dumps(
            {
                "beginTime": int(since.timestamp() * 1000),
                "endTime": int(until.timestamp() * 1000),
                "queryType": 2,  # by update time
                "pcursor": token or "",
                "pageSize": 50,
            },
            separators=(",", ":"),
            sort_keys=True,
        )
        params = signed_params(creds, "open.order.cursor.list", param)
        response = await client.get(f"{creds.base_url.rstrip('/')}/open/order/cursor/list", params=params)
        body = response_json(response)
        if body.get("result") != 1:
            raise PullError(f"Kuaishou refused the order list: {body.get('error_msg') or body.get('result')}")
        data = body.get("data") or {}
        cursor = str(data.get("pcursor") or "nomore")
        return PullPage(as_list(data.get("orderList", []), "orderList"), None if cursor == "nomore" else cursor)

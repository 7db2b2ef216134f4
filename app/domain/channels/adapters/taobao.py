"""Taobao / Tmall: the TOP ``trade`` object (taobao.trade.fullinfo.get, taobao.trades.sold.increment.get).

Money comes as yuan strings, times as China-time strings. Pulls are signed the TOP way: MD5 of the app secret,
the sorted parameters concatenated as key+value, and the secret again, in upper-case hex.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

import httpx

from app.domain.channels.adapters.base import (
    CHINA,
    Credentials,
    NormalizeError,
    PullError,
    PullPage,
    as_list,
    as_object,
    china_now,
    china_time,
    clear_text,
    get,
    masked_text,
    object_at,
    partial_refund_tag,
    quantity,
    required_time,
    response_json,
    text,
    within,
    yuan,
)
from app.domain.orders.schemas import NormalizedLine, NormalizedOrder

STATUS = {
    "TRADE_NO_CREATE_PAY": "received",
    "WAIT_BUYER_PAY": "received",
    "PAY_PENDING": "received",
    "WAIT_PRE_AUTH_CONFIRM": "received",
    "WAIT_SELLER_SEND_GOODS": "received",
    "PAID_FORBID_CONSIGN": "on_hold",
    "SELLER_CONSIGNED_PART": "shipped",
    "WAIT_BUYER_CONFIRM_GOODS": "shipped",
    "TRADE_BUYER_SIGNED": "delivered",
    "TRADE_FINISHED": "completed",
    "TRADE_CLOSED": "cancelled",
    "TRADE_CLOSED_BY_TAOBAO": "cancelled",
}
UNPAID = {"TRADE_NO_CREATE_PAY", "WAIT_BUYER_PAY", "PAY_PENDING", "WAIT_PRE_AUTH_CONFIRM"}
#: A step trade (``type`` step, 定金预售)'s ``step_trade_status``: FRONT_NOPAID_FINAL_NOPAID (nothing paid yet),
#: FRONT_PAID_FINAL_NOPAID (deposit paid, balance not), FRONT_PAID_FINAL_PAID (both). ``step_paid_fee`` is what has
#: been paid in steps so far, in yuan (TOP's Trade model). TOP gives no balance due time: the shop's default applies.
DEPOSIT_ONLY = "FRONT_PAID_FINAL_NOPAID"
ALL_PAID = "FRONT_PAID_FINAL_PAID"
#: The trade fields the pull asks for (``fields`` of taobao.trades.sold.increment.get; taobao.trade.fullinfo.get takes
#: the same names): TOP returns only these, so every field :meth:`TaobaoAdapter.normalize` reads is here — the
#: receiver (with its ``oaid`` under privacy), the buyer, the notes and the step trade's — and ``orders`` brings
#: the sub-orders whole.
TRADE_FIELDS = (
    "tid",
    "type",
    "status",
    "created",
    "pay_time",
    "modified",
    "total_fee",
    "post_fee",
    "discount_fee",
    "payment",
    "step_trade_status",
    "step_paid_fee",
    "buyer_nick",
    "buyer_open_uid",
    "buyer_message",
    "seller_memo",
    "receiver_name",
    "receiver_state",
    "receiver_city",
    "receiver_district",
    "receiver_town",
    "receiver_address",
    "receiver_zip",
    "receiver_mobile",
    "receiver_phone",
    "oaid",
    "orders",
)
FIELDS = ",".join(TRADE_FIELDS)


def top_sign(params: dict[str, str], secret: str) -> str:
    """TOP's md5 signature over the sorted parameters (the ``sign`` parameter itself excluded)."""
    joined = "".join(f"{key}{params[key]}" for key in sorted(params) if key != "sign")
    return hashlib.md5(f"{secret}{joined}{secret}".encode()).hexdigest().upper()  # noqa: S324 - the platform's scheme


def signed_params(creds: Credentials, method: str, business: Mapping[str, str]) -> dict[str, str]:
    """The form of a TOP call: the system parameters (the app, the method, the shop's session, China time, JSON,
    v2.0, md5), the business parameters, and their sign."""
    params = {
        "method": method,
        "app_key": creds.app_key,
        "session": creds.access_token,
        "timestamp": china_now(),
        "format": "json",
        "v": "2.0",
        "sign_method": "md5",
        **business,
    }
    params["sign"] = top_sign(params, creds.app_secret)
    return params


class TaobaoAdapter:
    """Taobao and Tmall share one API and one payload."""

    #: Where a TOP trade carries the receiver in clear (see CHANNELS.md). Under privacy the trade carries an
    #: ``oaid`` (收件人ID, "Open Addressee ID": taobao.trade.fullinfo.get, decrypted by taobao.top.oaid.decrypt)
    #: and masked copies of these fields instead.
    personal_fields: ClassVar[Mapping[str, str]] = {
        "receiver_name": "name",
        "receiver_mobile": "phone",
        "receiver_phone": "phone",
        "receiver_address": "address",
        "oaid": "token",
    }

    def unwrap(self, body: Any) -> dict[str, Any]:
        data = as_object(body)
        for wrapper in ("trade_fullinfo_get_response", "trade"):
            if isinstance(data.get(wrapper), dict):
                data = data[wrapper]
        return data["trade"] if isinstance(data.get("trade"), dict) else data

    def normalize(self, payload: dict[str, Any]) -> NormalizedOrder:
        raw_status = text(payload, "status")
        if raw_status not in STATUS:
            raise NormalizeError("status", f"unknown Taobao trade status {raw_status!r}")
        lines = [self._line(item, i) for i, item in enumerate(as_list(payload.get("orders"), "orders"))]
        if not lines:
            raise NormalizeError("orders", "the trade has no lines")
        step = str(payload.get("step_trade_status") or "")
        tags = partial_refund_tag(lines, {"SUCCESS"})
        if raw_status in UNPAID:
            tags.append("unpaid")
        receiver = self._receiver(payload)
        return NormalizedOrder(
            external_id=text(payload, "tid"),
            raw_status=raw_status,
            status=STATUS[raw_status],
            created_at=required_time(china_time(get(payload, "created"), "created"), "created"),
            updated_at=required_time(china_time(get(payload, "modified"), "modified"), "modified"),
            paid_at=china_time(payload.get("pay_time"), "pay_time"),
            channel_buyer_id=str(payload.get("buyer_open_uid") or ""),
            buyer_nick=str(payload.get("buyer_nick") or ""),
            **receiver,
            items_fen=yuan(payload, "total_fee"),
            shipping_fen=yuan(payload, "post_fee", "0"),
            discount_fen=yuan(payload, "discount_fee", "0"),
            paid_fen=yuan(payload, "payment"),
            is_presale=bool(step),
            deposit_paid=step in (DEPOSIT_ONLY, ALL_PAID),
            # Once the balance is in too, step_paid_fee is the whole payment, no longer the deposit.
            deposit_fen=yuan(payload, "step_paid_fee", "0") if step == DEPOSIT_ONLY else 0,
            balance_paid=step == ALL_PAID,
            buyer_message=str(payload.get("buyer_message") or ""),
            seller_memo=str(payload.get("seller_memo") or ""),
            tags=tags,
            lines=lines,
            raw=payload,
        )

    def _receiver(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The receiver fields of the normalised order. An ``oaid`` means the platform protects the receiver:
        it also names the address (the same receiver in the same shop within a week has the same oaid)."""
        oaid = str(payload.get("oaid") or "").strip()
        mobile, phone = payload.get("receiver_mobile"), payload.get("receiver_phone")
        name = payload.get("receiver_name")
        return {
            "receiver_name": str(clear_text(name) or masked_text(name)),
            "phone": clear_text(mobile) or clear_text(phone),
            "phone_masked": masked_text(mobile) or masked_text(phone),
            "province": str(payload.get("receiver_state") or ""),
            "city": str(payload.get("receiver_city") or ""),
            "district": str(payload.get("receiver_district") or ""),
            "town": str(payload.get("receiver_town") or ""),
            "address": clear_text(payload.get("receiver_address")),
            "address_masked": masked_text(payload.get("receiver_address")),
            "receiver_protected": bool(oaid),
            "receiver_tokens": {"oaid": oaid} if oaid else {},
            "address_token": oaid,
        }

    def _line(self, item: Any, index: int) -> NormalizedLine:
        where = f"orders[{index}]"
        item = object_at(item, where)
        with within(where):
            paid_source = "divide_order_fee" if item.get("divide_order_fee") not in (None, "") else "payment"
            meal = str(item.get("item_meal_name") or "") if item.get("item_meal_id") else ""
            return NormalizedLine(
                line_id=text(item, "oid"),
                seller_sku=str(item.get("outer_sku_id") or item.get("outer_iid") or ""),
                channel_sku_id=str(item.get("sku_id") or item.get("num_iid") or ""),
                title=str(item.get("title") or ""),
                qty=quantity(get(item, "num"), "num", index + 1),
                unit_price_fen=yuan(item, "price"),
                paid_fen=yuan(item, paid_source),
                is_gift=bool(item.get("is_gift")),
                bundle_of=meal or (str(item.get("assembly")) if item.get("assembly") else None),
                refund_status=str(item.get("refund_status") or ""),
            )

    async def pull_page(
        self, client: httpx.AsyncClient, creds: Credentials, since: datetime, until: datetime, token: str | None
    ) -> PullPage:
        page_no = int(token or "1")
        business = {
            "fields": FIELDS,
            "start_modified": since.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S"),
            "end_modified": until.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S"),
            "page_no": str(page_no),
            "page_size": "50",
            "use_has_next": "true",
        }
        params = signed_params(creds, "taobao.trades.sold.increment.get", business)
        response = await client.post(f"{creds.base_url.rstrip('/')}/router/rest", data=params)
        body = response_json(response)
        if "error_response" in body or response.status_code != 200:
            raise PullError(f"Taobao refused the order list: {body.get('error_response', response.status_code)}")
        result = body.get("trades_sold_increment_get_response", {})
        trades = as_list((result.get("trades") or {}).get("trade", []), "trades")
        return PullPage(trades, str(page_no + 1) if result.get("has_next") else None)

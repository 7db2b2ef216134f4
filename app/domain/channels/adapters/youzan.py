"""Youzan 有赞: ``full_order_info`` from youzan.trade.get / youzan.trades.sold.get.

Yuan strings in ``pay_info``; China-time strings; gifts are ``is_present``; presale shows as
``pay_info.phase_payments``. Encrypted receiver values look like ``$…$1$`` and are never treated as clear.
The open API authenticates by the shop's OAuth ``access_token`` (no request signature).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

import httpx

from app.domain.channels.adapters.base import (
    CHINA,
    HIDDEN_ADDRESS,
    Credentials,
    NormalizeError,
    PullError,
    PullPage,
    as_list,
    as_object,
    china_time,
    clear_text,
    get,
    integer,
    is_ciphertext,
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
    "WAIT_BUYER_PAY": "received",
    "TRADE_PAID": "received",
    "WAIT_CONFIRM": "received",
    "WAIT_SELLER_SEND_GOODS": "received",
    "WAIT_BUYER_CONFIRM_GOODS": "shipped",
    "TRADE_SUCCESS": "completed",
    "TRADE_CLOSE": "cancelled",
}


class YouzanAdapter:
    #: The receiver in clear; 有赞's ``$…$1$`` ciphertext in the same fields is shown masked (sealed whole).
    personal_fields: ClassVar[Mapping[str, str]] = {
        "address_info.receiver_name": "name",
        "address_info.receiver_tel": "phone",
        "address_info.delivery_address": "address",
    }
    #: The receiver fields 有赞 encrypts for a protected buyer, and what each holds.
    ENCRYPTED: ClassVar[Mapping[str, str]] = {
        "receiver_name": "name",
        "receiver_tel": "phone",
        "delivery_address": "address",
    }

    def unwrap(self, body: Any) -> dict[str, Any]:
        data = as_object(body)
        if isinstance(data.get("data"), dict):
            data = data["data"]
        return data["full_order_info"] if isinstance(data.get("full_order_info"), dict) else data

    def normalize(self, payload: dict[str, Any]) -> NormalizedOrder:
        info = object_at(get(payload, "order_info"), "order_info")
        pay = object_at(get(payload, "pay_info"), "pay_info")
        with within("order_info"):
            raw_status = text(info, "status")
            if raw_status not in STATUS:
                raise NormalizeError("status", f"unknown Youzan trade status {raw_status!r}")
            created = required_time(china_time(get(info, "created"), "created"), "created")
            updated = china_time(info.get("update_time"), "update_time") or created
            paid_at = china_time(info.get("pay_time"), "pay_time")
            external_id = text(info, "tid")
        with within("pay_info"):
            total = yuan(pay, "total_fee")
            post = yuan(pay, "post_fee", "0")
            payment = yuan(pay, "payment")
            phases = as_list(pay.get("phase_payments"), "phase_payments")
        lines = []
        for i, item in enumerate(as_list(get(payload, "orders"), "orders")):
            item = object_at(item, f"orders[{i}]")
            with within(f"orders[{i}]"):
                lines.append(
                    NormalizedLine(
                        line_id=text(item, "oid"),
                        seller_sku=str(item.get("outer_sku_id") or item.get("outer_item_id") or ""),
                        channel_sku_id=str(item.get("sku_id") or item.get("item_id") or ""),
                        title=str(item.get("title") or ""),
                        qty=quantity(get(item, "num"), "num", i + 1),
                        unit_price_fen=yuan(item, "price"),
                        paid_fen=yuan(item, "payment"),
                        is_gift=bool(item.get("is_present")),
                        refund_status=str(item.get("refund_status") or ""),
                    )
                )
        if not lines:
            raise NormalizeError("orders", "the order has no lines")
        address = payload.get("address_info") or {}
        buyer = payload.get("buyer_info") or {}
        remark = payload.get("remark_info") or {}
        balance_due = None
        deposit = 0
        for phase in phases:
            number = integer(phase.get("phase") or 0, "pay_info.phase_payments.phase") if isinstance(phase, dict) else 0
            if number == 1:
                deposit = yuan(phase, "real_price", "0")
            elif number == 2:
                balance_due = china_time(phase.get("pay_end_time"), "pay_info.phase_payments.pay_end_time")
        tags = partial_refund_tag(lines, {"REFUND_SUCCESS"})
        if raw_status == "WAIT_BUYER_PAY":
            tags.append("unpaid")
        receiver = self._receiver(address if isinstance(address, dict) else {})
        return NormalizedOrder(
            external_id=external_id,
            raw_status=raw_status,
            status=STATUS[raw_status],
            created_at=created,
            updated_at=updated,
            paid_at=paid_at,
            channel_buyer_id=str(buyer.get("yz_open_id") or buyer.get("fans_id") or ""),
            buyer_nick=str(buyer.get("fans_nickname") or ""),
            unionid=str(buyer.get("union_id") or ""),
            **receiver,
            items_fen=total,
            shipping_fen=post,
            discount_fen=max(total + post - payment, 0),
            paid_fen=payment,
            is_presale=bool(phases),
            deposit_paid=bool(phases) and paid_at is not None,
            deposit_fen=deposit,
            balance_due_at=balance_due,
            buyer_message=str(remark.get("buyer_message") or ""),
            seller_memo=str(remark.get("trade_memo") or ""),
            tags=tags,
            lines=lines,
            raw=payload,
        )

    def _receiver(self, address: dict[str, Any]) -> dict[str, Any]:
        """The receiver fields of the normalised order: clear values, or 有赞's masks (``张**``) for showing; its
        ``$…$`` ciphertext kept as tokens, and then the platform protects the receiver."""
        tokens = {
            kind: str(address[key]).strip() for key, kind in self.ENCRYPTED.items() if is_ciphertext(address.get(key))
        }
        street = address.get("delivery_address")
        name = address.get("receiver_name")
        return {
            "receiver_name": str(clear_text(name) or masked_text(name)),
            "phone": clear_text(address.get("receiver_tel")),
            "phone_masked": masked_text(address.get("receiver_tel")),
            "province": str(address.get("delivery_province") or ""),
            "city": str(address.get("delivery_city") or ""),
            "district": str(address.get("delivery_district") or ""),
            "address": clear_text(street),
            "address_masked": masked_text(street) or (HIDDEN_ADDRESS if "address" in tokens else ""),
            "receiver_protected": bool(tokens),
            "receiver_tokens": tokens,
        }

    async def pull_page(
        self, client: httpx.AsyncClient, creds: Credentials, since: datetime, until: datetime, token: str | None
    ) -> PullPage:
        page = int(token or "1")
        response = await client.post(
            f"{creds.base_url.rstrip('/')}/api/youzan.trades.sold.get/4.0.4",
            params={"access_token": creds.access_token},
            json={
                "start_update": since.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S"),
                "end_update": until.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S"),
                "page_no": page,
                "page_size": 50,
            },
        )
        body = response_json(response)
        if not body.get("success"):
            raise PullError(f"Youzan refused the order list: {body.get('gw_err_resp') or body.get('message')}")
        data = body.get("data") or {}
        orders = [item.get("full_order_info", item) for item in as_list(data.get("full_order_info_list", []), "list")]
        total = int(data.get("total_results") or 0)
        return PullPage(orders, str(page + 1) if page * 50 < total else None)

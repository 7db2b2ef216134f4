"""Douyin 抖店: ``shop_order_detail`` from order.orderDetail / order.searchList.

Money in integer fen, times in unix seconds. The receiver comes encrypted (``encrypt_*``) with masked copies
(``mask_*``); a clear ``post_tel`` is used only when present. Requests are signed with HMAC-SHA256 of the
app secret over "app_key…method…param_json…timestamp…v…" wrapped in the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

import httpx

from app.domain.channels.adapters.base import (
    HIDDEN_ADDRESS,
    Credentials,
    NormalizeError,
    PresalePayments,
    PullError,
    PullPage,
    as_list,
    as_object,
    china_now,
    clear_text,
    fen,
    get,
    integer,
    is_ciphertext,
    object_at,
    partial_refund_tag,
    quantity,
    required_time,
    response_json,
    text,
    unix_time,
    within,
)
from app.domain.orders.receivers import is_virtual_number
from app.domain.orders.schemas import NormalizedLine, NormalizedOrder

STATUS = {1: "received", 105: "received", 2: "received", 101: "shipped", 3: "shipped", 4: "cancelled", 5: "completed"}
DEPOSIT_PRESALE = 2  # trade_type 2: 定金预售
NOT_PRESALE = 0  # a line's pre_sale_type 0: 现货; any other (1 全款预售, …) is paid in full and shipped later


def read_phases(value: Any) -> PresalePayments:
    """Each entry is one phase of one line: ``current_phase`` (1 定金, 2 尾款) of ``total_phase``, ``pay_success``,
    ``phase_pay_amount`` / ``phase_payable_price`` in fen and ``phase_close_time`` (unix seconds), when the phase's
    payment closes: for the balance, its due time."""
    deposit, balance = [], []
    for i, item in enumerate(as_list(value, "order_phase_list")):
        item = object_at(item, f"order_phase_list[{i}]")
        with within(f"order_phase_list[{i}]"):
            phase = integer(get(item, "current_phase"), "current_phase")
            paid = bool(item.get("pay_success"))
            if phase <= 1:
                amount = fen(item, "phase_pay_amount", 0) or fen(item, "phase_payable_price", 0)
                deposit.append((amount, paid))
            else:
                balance.append((unix_time(item.get("phase_close_time"), "phase_close_time"), paid))
    due = [moment for moment, _ in balance if moment is not None]
    return PresalePayments(
        deposit_fen=sum(amount for amount, _ in deposit),
        deposit_paid=bool(deposit) and all(paid for _, paid in deposit),
        balance_due_at=min(due) if due else None,
        balance_paid=bool(balance) and all(paid for _, paid in balance),
    )


def douyin_sign(app_key: str, method: str, param_json: str, timestamp: str, version: str, secret: str) -> str:
    """抖店 sign (sign_method=hmac-sha256)."""
    plain = f"{secret}app_key{app_key}method{method}param_json{param_json}timestamp{timestamp}v{version}{secret}"
    return hmac.new(secret.encode(), plain.encode(), hashlib.sha256).hexdigest()


def signed_params(creds: Credentials, method: str, param_json: str) -> dict[str, str]:
    """The query string of a 抖店 call: the app, the method, the shop's token, the business parameters (also sent
    as the body) and their sign."""
    timestamp = china_now()
    return {
        "app_key": creds.app_key,
        "method": method,
        "access_token": creds.access_token,
        "param_json": param_json,
        "timestamp": timestamp,
        "v": "2",
        "sign_method": "hmac-sha256",
        "sign": douyin_sign(creds.app_key, method, param_json, timestamp, "2", creds.app_secret),
    }


def _name(value: Any) -> str:
    """Douyin address parts are {"name", "id"} objects."""
    if isinstance(value, dict):
        return str(value.get("name") or "")
    return str(value or "")


class DouyinAdapter:
    #: The clear receiver when Douyin sends one; ``encrypt_*`` ciphertext and ``open_address_id`` are shown
    #: masked (sealed whole), ``mask_*`` copies as sent.
    personal_fields: ClassVar[Mapping[str, str]] = {
        "post_receiver": "name",
        "post_tel": "phone",
        "post_addr.detail": "address",
        **dict.fromkeys(("encrypt_post_receiver", "encrypt_post_tel", "encrypt_detail", "open_address_id"), "token"),
    }

    def unwrap(self, body: Any) -> dict[str, Any]:
        data = as_object(body)
        if isinstance(data.get("data"), dict):
            data = data["data"]
        return data["shop_order_detail"] if isinstance(data.get("shop_order_detail"), dict) else data

    def normalize(self, payload: dict[str, Any]) -> NormalizedOrder:
        code = integer(get(payload, "order_status"), "order_status")
        if code not in STATUS:
            raise NormalizeError("order_status", f"unknown Douyin order status {code}")
        lines: list[NormalizedLine] = []
        deposit_presale = integer(payload.get("trade_type") or 0, "trade_type") == DEPOSIT_PRESALE
        full_presale = False
        for i, item in enumerate(as_list(get(payload, "sku_order_list"), "sku_order_list")):
            item = object_at(item, f"sku_order_list[{i}]")
            with within(f"sku_order_list[{i}]"):
                qty = quantity(get(item, "item_num"), "item_num", i + 1)
                origin = fen(item, "origin_amount")
                bundle = as_list(item.get("bundle_sku_info"), "bundle_sku_info")
                after_sale = item.get("after_sale_info") or {}
                seller_sku = str(item.get("out_sku_id") or item.get("code") or "")
                line_type = integer(item.get("trade_type") or 0, "trade_type")
                deposit_presale = deposit_presale or line_type == DEPOSIT_PRESALE
                sale_type = integer(item.get("pre_sale_type") or 0, "pre_sale_type")
                full_presale = full_presale or sale_type != NOT_PRESALE
                lines.append(
                    NormalizedLine(
                        line_id=text(item, "order_id"),
                        seller_sku=seller_sku,
                        channel_sku_id=str(item.get("sku_id") or ""),
                        title=str(item.get("product_name") or ""),
                        qty=qty,
                        unit_price_fen=origin // qty if qty else origin,
                        paid_fen=fen(item, "pay_amount"),
                        is_gift=str(item.get("given_product_type") or "") == "FREE",
                        bundle_of=seller_sku if bundle else None,
                        refund_status=str(after_sale.get("refund_status") or "")
                        if isinstance(after_sale, dict)
                        else "",
                    )
                )
        if not lines:
            raise NormalizeError("sku_order_list", "the order has no lines")
        tags = partial_refund_tag(lines, {"3"})  # refund_status 3: 退款成功
        paid_at = unix_time(payload.get("pay_time"), "pay_time")
        phases = read_phases(payload.get("order_phase_list")) if deposit_presale else PresalePayments()
        if code == 1:
            tags.append("unpaid")
        address = payload.get("post_addr") or {}
        if not isinstance(address, dict):
            raise NormalizeError("post_addr", "must be an object")
        receiver = self._receiver(payload, address)
        return NormalizedOrder(
            external_id=text(payload, "order_id"),
            raw_status=str(code),
            status=STATUS[code],
            created_at=required_time(unix_time(get(payload, "create_time"), "create_time"), "create_time"),
            updated_at=required_time(
                unix_time(payload.get("update_time") or get(payload, "create_time"), "update_time"), "update_time"
            ),
            paid_at=paid_at,
            channel_buyer_id=str(payload.get("doudian_open_id") or ""),
            buyer_nick=str(payload.get("user_nick") or payload.get("mask_post_receiver") or ""),
            **receiver,
            items_fen=sum(fen(item, "origin_amount") for item in payload["sku_order_list"]),
            shipping_fen=fen(payload, "post_amount", 0),
            discount_fen=fen(payload, "promotion_amount", 0),
            paid_fen=fen(payload, "pay_amount"),
            is_presale=deposit_presale or full_presale,
            deposit_paid=(deposit_presale or full_presale) and (phases.deposit_paid or paid_at is not None),
            deposit_fen=phases.deposit_fen,
            # A 全款预售 was paid in full: there is no balance to wait for, only a later shipping date.
            balance_paid=phases.balance_paid if deposit_presale else full_presale,
            balance_due_at=phases.balance_due_at,
            buyer_message=str(payload.get("buyer_words") or ""),
            seller_memo=str(payload.get("seller_words") or ""),
            tags=tags,
            lines=lines,
            raw=payload,
        )

    def _receiver(self, payload: dict[str, Any], address: dict[str, Any]) -> dict[str, Any]:
        """The receiver fields of the normalised order: clear values when 抖店 sends them (a clear ``post_tel``
        may be a virtual number), else its masked copies; its ciphertext kept as tokens. Any ciphertext, or a
        virtual number, means the platform protects the receiver."""
        # 抖店's ciphertext (order.orderDetail): the phone "$…$…$1$$", the name and the street "#…#…#1##" (older
        # payloads put the street's in ``detail`` itself), decrypted by order.batchDecrypt, where a protected
        # phone decrypts to a virtual number "phone_no_a-phone_no_b"; ``open_address_id`` names the address.
        sent = {
            "name": payload.get("encrypt_post_receiver"),
            "phone": payload.get("encrypt_post_tel"),
            "address": address.get("encrypt_detail") or address.get("detail"),
        }
        tokens = {kind: str(value).strip() for kind, value in sent.items() if is_ciphertext(value)}
        address_id = str(payload.get("open_address_id") or "").strip()
        if address_id:
            tokens["address_id"] = address_id
        detail = address.get("detail")
        masks = payload.get("mask_post_addr") if isinstance(payload.get("mask_post_addr"), dict) else {}
        phone = clear_text(payload.get("post_tel"))
        masked_street = str((masks or {}).get("detail") or "") or (HIDDEN_ADDRESS if "address" in tokens else "")
        return {
            "receiver_name": str(clear_text(payload.get("post_receiver")) or payload.get("mask_post_receiver") or ""),
            "phone": phone,
            "phone_masked": str(payload.get("mask_post_tel") or ""),
            "province": _name(address.get("province")),
            "city": _name(address.get("city")),
            "district": _name(address.get("town")),
            "town": _name(address.get("street")),
            "address": clear_text(detail),
            "address_masked": masked_street,
            "receiver_protected": bool(tokens) or is_virtual_number(phone),
            "receiver_tokens": tokens,
            "address_token": address_id,
        }

    async def pull_page(
        self, client: httpx.AsyncClient, creds: Credentials, since: datetime, until: datetime, token: str | None
    ) -> PullPage:
        page = int(token or "0")  # 抖店 pages from 0
        method = "order.searchList"
        param_json = json.dumps(
            {
                "update_time_start": int(since.timestamp()),
                "update_time_end": int(until.timestamp()),
                "page": page,
                "size": 50,
            },
            separators=(",", ":"),
            sort_keys=True,
        )
        params = signed_params(creds, method, param_json)
        response = await client.post(
            f"{creds.base_url.rstrip('/')}/order/searchList", params=params, content=param_json
        )
        body = response_json(response)
        if body.get("code") != 10000:
            raise PullError(f"Douyin refused the order list: {body.get('code')} {body.get('msg', '')}")
        data = body.get("data") or {}
        orders = as_list(data.get("shop_order_list", []), "shop_order_list")
        total = int(data.get("total") or 0)
        return PullPage(orders, str(page + 1) if (page + 1) * 50 < total else None)

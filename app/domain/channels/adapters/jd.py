"""JD POP: ``orderInfo`` from jingdong.pop.order.get / jingdong.pop.order.search.

Yuan strings; China-time strings where ``0001-01-01 00:00:00`` means unset; lines have no id of their own (the
line key is orderId + skuId); a line priced 0 is a gift. Requests are signed like TOP: MD5 of secret + sorted
key+value pairs + secret, upper-case.
"""

from __future__ import annotations

import hashlib
import json
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
    quantity,
    required_time,
    response_json,
    text,
    within,
    yuan,
)
from app.domain.orders.receivers import is_virtual_number
from app.domain.orders.schemas import NormalizedLine, NormalizedOrder

STATUS = {
    "WAIT_SELLER_STOCK_OUT": "received",
    "WAIT_SELLER_DELIVERY": "received",
    "PAUSE": "on_hold",
    "LOCKED": "on_hold",
    "WAIT_GOODS_RECEIVE_CONFIRM": "shipped",
    "FINISHED_L": "completed",
    "TRADE_CANCELED": "cancelled",
}


def jd_sign(params: dict[str, str], secret: str) -> str:
    """JD's md5 signature over the sorted parameters."""
    joined = "".join(f"{key}{params[key]}" for key in sorted(params) if key != "sign")
    return hashlib.md5(f"{secret}{joined}{secret}".encode()).hexdigest().upper()  # noqa: S324 - the platform's scheme


def signed_params(creds: Credentials, method: str, business: Mapping[str, Any]) -> dict[str, str]:
    """The form of a JD call: the app, the method, the shop's token, China time, v2.0, the business parameters as
    ``360buy_param_json``, and their sign."""
    params = {
        "method": method,
        "app_key": creds.app_key,
        "access_token": creds.access_token,
        "timestamp": china_now(),
        "v": "2.0",
        "360buy_param_json": json.dumps(business, separators=(",", ":"), sort_keys=True),
    }
    params["sign"] = jd_sign(params, creds.app_secret)
    return params


class JdAdapter:
    #: The consignee in clear (隐私号 virtual mobiles, an 11-digit number with an extension, included).
    personal_fields: ClassVar[Mapping[str, str]] = {
        "consigneeInfo.fullname": "name",
        "consigneeInfo.mobile": "phone",
        "consigneeInfo.telephone": "phone",
        "consigneeInfo.fullAddress": "address",
    }

    def unwrap(self, body: Any) -> dict[str, Any]:
        data = as_object(body)
        for wrapper in ("jingdong_pop_order_get_responce", "orderDetailInfo", "orderInfo"):
            if isinstance(data.get(wrapper), dict):
                data = data[wrapper]
        return data

    def normalize(self, payload: dict[str, Any]) -> NormalizedOrder:
        raw_status = text(payload, "orderState")
        if raw_status not in STATUS:
            raise NormalizeError("orderState", f"unknown JD order state {raw_status!r}")
        order_id = text(payload, "orderId")
        coupons: dict[str, int] = {}
        for i, coupon in enumerate(as_list(payload.get("couponDetailList"), "couponDetailList")):
            coupon = object_at(coupon, f"couponDetailList[{i}]")
            with within(f"couponDetailList[{i}]"):
                sku = str(coupon.get("skuId") or "")
                coupons[sku] = coupons.get(sku, 0) + yuan(coupon, "couponPrice")
        lines = []
        for i, item in enumerate(as_list(get(payload, "itemInfoList"), "itemInfoList")):
            item = object_at(item, f"itemInfoList[{i}]")
            with within(f"itemInfoList[{i}]"):
                sku_id = text(item, "skuId")
                qty = quantity(get(item, "itemTotal"), "itemTotal", i + 1)
                unit = yuan(item, "jdPrice")
                lines.append(
                    NormalizedLine(
                        line_id=sku_id,
                        seller_sku=str(item.get("outerSkuId") or ""),
                        channel_sku_id=sku_id,
                        title=str(item.get("skuName") or ""),
                        qty=qty,
                        unit_price_fen=unit,
                        paid_fen=max(unit * qty - coupons.get(sku_id, 0), 0),
                        is_gift=unit == 0,
                    )
                )
        if not lines:
            raise NormalizeError("itemInfoList", "the order has no lines")
        consignee = payload.get("consigneeInfo") or {}
        if not isinstance(consignee, dict):
            raise NormalizeError("consigneeInfo", "must be an object")
        receiver = self._receiver(consignee)
        return NormalizedOrder(
            external_id=order_id,
            raw_status=raw_status,
            status=STATUS[raw_status],
            created_at=required_time(china_time(get(payload, "orderStartTime"), "orderStartTime"), "orderStartTime"),
            updated_at=required_time(
                china_time(payload.get("modified") or payload.get("orderStartTime"), "modified"), "modified"
            ),
            paid_at=china_time(payload.get("paymentConfirmTime"), "paymentConfirmTime"),
            channel_buyer_id=str(payload.get("pin") or payload.get("open_id_buyer") or ""),
            buyer_nick=str(payload.get("pin") or ""),
            **receiver,
            items_fen=yuan(payload, "orderTotalPrice"),
            shipping_fen=yuan(payload, "freightPrice", "0"),
            discount_fen=yuan(payload, "sellerDiscount", "0"),
            paid_fen=yuan(payload, "orderPayment"),
            buyer_message=str(payload.get("orderRemark") or ""),
            seller_memo=str(payload.get("venderRemark") or ""),
            lines=lines,
            raw=payload,
        )

    def _receiver(self, consignee: dict[str, Any]) -> dict[str, Any]:
        """The consignee fields of the normalised order. A 隐私号 (JD's virtual mobile, "17161234567-1234") is
        the phone the courier calls, kept like a phone; it, or a mobile JD sends only masked, means the platform
        protects the receiver."""
        mobile, telephone = consignee.get("mobile"), consignee.get("telephone")
        phone = clear_text(mobile) or clear_text(telephone)
        masked = masked_text(mobile) or masked_text(telephone)
        name = consignee.get("fullname")
        return {
            "receiver_name": str(clear_text(name) or masked_text(name)),
            "phone": phone,
            "phone_masked": masked,
            "province": str(consignee.get("province") or ""),
            "city": str(consignee.get("city") or ""),
            "district": str(consignee.get("county") or ""),
            "town": str(consignee.get("town") or ""),
            "address": clear_text(consignee.get("fullAddress")),
            "address_masked": masked_text(consignee.get("fullAddress")),
            "receiver_protected": is_virtual_number(phone) or (phone is None and bool(masked)),
        }

    async def pull_page(
        self, client: httpx.AsyncClient, creds: Credentials, since: datetime, until: datetime, token: str | None
    ) -> PullPage:
        page = int(token or "1")
        business = {
            "start_date": since.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S"),
            "end_date": until.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S"),
            "dateType": "1",  # by modification time
            "page": str(page),
            "page_size": "50",
        }
        params = signed_params(creds, "jingdong.pop.order.search", business)
        response = await client.post(f"{creds.base_url.rstrip('/')}/routerjson", data=params)
        body = response_json(response)
        if "error_response" in body or response.status_code != 200:
            raise PullError(f"JD refused the order list: {body.get('error_response', response.status_code)}")
        result = (body.get("jingdong_pop_order_search_responce") or {}).get("searchorderinfo_result") or {}
        orders = as_list(result.get("orderInfoList", []), "orderInfoList")
        total = int(result.get("orderTotal") or 0)
        return PullPage(orders, str(page + 1) if page * 50 < total else None)

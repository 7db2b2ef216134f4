"""WeChat 视频号小店 and the 小程序 shop on the same order API (``order/get``): one adapter for both channels.

Money in integer fen, times in unix seconds; ``unionid`` identifies a customer across the brand's WeChat
apps. Calls authenticate with the shop's ``access_token`` in the query; the list call returns order ids and
each order is then fetched with ``order/get``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

import httpx

from app.domain.channels.adapters.base import (
    Credentials,
    NormalizeError,
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

STATUS = {
    10: "received",
    20: "received",
    21: "shipped",
    30: "shipped",
    100: "completed",
    200: "cancelled",
    250: "cancelled",
}


class WechatAdapter:
    #: ``order_detail.delivery_info.address_info``: the receiver in clear.
    personal_fields: ClassVar[Mapping[str, str]] = {
        "address_info.user_name": "name",
        "address_info.tel_number": "phone",
        "address_info.detail_info": "address",
    }

    def unwrap(self, body: Any) -> dict[str, Any]:
        data = as_object(body)
        return data["order"] if isinstance(data.get("order"), dict) else data

    def normalize(self, payload: dict[str, Any]) -> NormalizedOrder:
        code = integer(get(payload, "status"), "status")
        if code not in STATUS:
            raise NormalizeError("status", f"unknown WeChat order status {code}")
        detail = object_at(get(payload, "order_detail"), "order_detail")
        lines = []
        for i, item in enumerate(as_list(get(detail, "product_infos"), "order_detail.product_infos")):
            item = object_at(item, f"order_detail.product_infos[{i}]")
            with within(f"order_detail.product_infos[{i}]"):
                sku_id = text(item, "sku_id")
                qty = quantity(get(item, "sku_cnt"), "sku_cnt", i + 1)
                lines.append(
                    NormalizedLine(
                        line_id=f"{sku_id}-{i}",
                        seller_sku=str(item.get("out_sku_id") or ""),
                        channel_sku_id=sku_id,
                        title=str(item.get("title") or ""),
                        qty=qty,
                        unit_price_fen=fen(item, "sale_price"),
                        paid_fen=fen(item, "real_price"),
                        is_gift=bool(item.get("is_free_gift")),
                    )
                )
        if not lines:
            raise NormalizeError("order_detail.product_infos", "the order has no lines")
        with within("order_detail.price_info"):
            price = object_at(get(detail, "price_info"), "price_info")
            items = fen(price, "product_price")
            freight = fen(price, "freight", 0)
            paid = fen(price, "order_price")
        pay = detail.get("pay_info") or {}
        delivery = detail.get("delivery_info") or {}
        address = delivery.get("address_info") or {} if isinstance(delivery, dict) else {}
        ext = detail.get("ext_info") or {}
        paid_at = unix_time(pay.get("pay_time"), "order_detail.pay_info.pay_time") if isinstance(pay, dict) else None
        created = required_time(unix_time(get(payload, "create_time"), "create_time"), "create_time")
        phone = str(address.get("tel_number") or "").strip()
        street = str(address.get("detail_info") or "").strip()
        return NormalizedOrder(
            external_id=text(payload, "order_id"),
            raw_status=str(code),
            status=STATUS[code],
            created_at=created,
            updated_at=unix_time(payload.get("update_time"), "update_time") or created,
            paid_at=paid_at,
            channel_buyer_id=str(payload.get("openid") or ""),
            unionid=str(payload.get("unionid") or ""),
            receiver_name=str(address.get("user_name") or ""),
            phone=phone if phone and "*" not in phone else None,
            phone_masked=phone if "*" in phone else "",
            province=str(address.get("province_name") or ""),
            city=str(address.get("city_name") or ""),
            district=str(address.get("county_name") or ""),
            address=street if street and "*" not in street else None,
            address_masked=street if "*" in street else "",
            # 视频号小店 masks what it protects (a virtual number stands behind a masked tel_number).
            receiver_protected="*" in phone or "*" in street,
            items_fen=items,
            shipping_fen=freight,
            discount_fen=max(items + freight - paid, 0),
            paid_fen=paid,
            buyer_message=str(ext.get("customer_notes") or "") if isinstance(ext, dict) else "",
            seller_memo=str(ext.get("merchant_notes") or "") if isinstance(ext, dict) else "",
            tags=["unpaid"] if code == 10 else [],
            lines=lines,
            raw=payload,
        )

    async def pull_page(
        self, client: httpx.AsyncClient, creds: Credentials, since: datetime, until: datetime, token: str | None
    ) -> PullPage:
        base = creds.base_url.rstrip("/")
        query = {"access_token": creds.access_token}
        request: dict[str, Any] = {
            "update_time_range": {"start_time": int(since.timestamp()), "end_time": int(until.timestamp())},
            "page_size": 50,
        }
        if token:
            request["next_key"] = token
        listing = response_json(await client.post(f"{base}/channels/ec/order/list/get", params=query, json=request))
        if listing.get("errcode") != 0:
            raise PullError(f"WeChat refused the order list: {listing.get('errcode')} {listing.get('errmsg', '')}")
        orders = []
        for order_id in as_list(listing.get("order_id_list", []), "order_id_list"):
            one = response_json(
                await client.post(f"{base}/channels/ec/order/get", params=query, json={"order_id": order_id})
            )
            if one.get("errcode") != 0:
                raise PullError(f"WeChat refused order {order_id}: {one.get('errcode')} {one.get('errmsg', '')}")
            orders.append(one["order"])
        return PullPage(orders, str(listing["next_key"]) if listing.get("has_more") else None)

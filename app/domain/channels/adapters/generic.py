"""The brand's own systems (POS tills, the web shop) and CSV/Excel imports: one documented JSON format.

```json
{"order_id": "POS-20261111-0001", "status": "paid", "created_at": "2026-11-11 10:00:00",
 "paid_at": "…", "updated_at": "…", "buyer": {"id": "…", "nick": "…", "unionid": "…"},
 "receiver": {"name": "…", "phone": "13800001111", "province": "上海", "city": "上海市",
              "district": "静安区", "town": "", "address": "南京西路 1 号"},
 "shipping_fen": 0, "discount_fen": 0, "paid_fen": 12900,
 "lines": [{"line_id": "1", "sku": "TEE-BLK-L", "title": "…", "qty": 1, "unit_price_fen": 7900,
            "paid_fen": 7900, "is_gift": false, "bundle_of": null}],
 "presale": {"is_presale": false, "deposit_paid": false, "deposit_fen": 0, "balance_paid": false,
             "balance_due_at": null},
 "buyer_message": "", "seller_memo": "", "tags": [],
 "community": {"leader": {"id": "L-0012", "name": "王姐"},
               "pickup_point": {"id": "PK-031", "name": "幸福里东门自提点", "address": "幸福路 100 弄东门"},
               "route": {"code": "R3", "name": "浦东 3 号线"}}}
```
Money is integer fen. Times are ISO-8601 (a zone-less time is China time). ``status`` is one of paid,
unpaid, shipped, delivered, completed, cancelled. ``community`` is for 社区团购 orders only: the group leader (团长,
an id or a name), the pickup point (自提点, its name) and, optionally, the delivery route (线路).
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
    china_time,
    fen,
    get,
    object_at,
    quantity,
    required_time,
    text,
    within,
)
from app.domain.orders.schemas import CommunityGroup, NormalizedLine, NormalizedOrder
from app.i18n import gettext

STATUS = {
    "unpaid": "received",
    "paid": "received",
    "shipped": "shipped",
    "delivered": "delivered",
    "completed": "completed",
    "cancelled": "cancelled",
}


#: The longest value of each 社区团购 field kept (ids like line ids, names like titles, the address like a street).
COMMUNITY_LIMITS = {"id": 64, "name": 100, "address": 300, "code": 64}


def _part(data: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    return object_at(data.get(key) or {}, f"{where}.{key}")


def _value(part: dict[str, Any], key: str, where: str) -> str:
    value = text(part, key, "")
    if len(value) > COMMUNITY_LIMITS[key]:
        raise NormalizeError(
            f"{where}.{key}",
            gettext("%(field)s has more than %(max)s characters"),
            {"max": COMMUNITY_LIMITS[key]},
        )
    return value


def community_of(value: Any) -> CommunityGroup | None:
    """A 社区团购 order's leader, pickup point and route, or None when the payload has none. A leader (its id or
    name) and a pickup point (its name) are required; the route may be left out."""
    if value is None:
        return None
    data = object_at(value, "community")
    leader, pickup, route = (_part(data, key, "community") for key in ("leader", "pickup_point", "route"))
    found = CommunityGroup(
        leader_id=_value(leader, "id", "community.leader"),
        leader_name=_value(leader, "name", "community.leader"),
        pickup_point_id=_value(pickup, "id", "community.pickup_point"),
        pickup_point_name=_value(pickup, "name", "community.pickup_point"),
        pickup_point_address=_value(pickup, "address", "community.pickup_point"),
        route_code=_value(route, "code", "community.route"),
        route_name=_value(route, "name", "community.route"),
    )
    if not (found.leader_id or found.leader_name):
        raise NormalizeError("community.leader", gettext("%(field)s is missing"), {})
    if not found.pickup_point_name:
        raise NormalizeError("community.pickup_point.name", gettext("%(field)s is missing"), {})
    return found


class GenericAdapter:
    #: The generic format's receiver.
    personal_fields: ClassVar[Mapping[str, str]] = {
        "receiver.name": "name",
        "receiver.phone": "phone",
        "receiver.address": "address",
    }

    def unwrap(self, body: Any) -> dict[str, Any]:
        data = as_object(body)
        return data["order"] if isinstance(data.get("order"), dict) else data

    def normalize(self, payload: dict[str, Any]) -> NormalizedOrder:
        raw_status = text(payload, "status", "paid").lower()
        if raw_status not in STATUS:
            raise NormalizeError("status", f"must be one of {', '.join(STATUS)}, got {raw_status!r}")
        created = required_time(china_time(get(payload, "created_at"), "created_at"), "created_at")
        lines = []
        for i, item in enumerate(as_list(get(payload, "lines"), "lines")):
            item = object_at(item, f"lines[{i}]")
            with within(f"lines[{i}]"):
                qty = quantity(get(item, "qty"), "qty", i + 1)
                unit = fen(item, "unit_price_fen")
                lines.append(
                    NormalizedLine(
                        line_id=text(item, "line_id", str(i + 1)),
                        seller_sku=text(item, "sku"),
                        channel_sku_id=str(item.get("channel_sku_id") or ""),
                        title=str(item.get("title") or ""),
                        qty=qty,
                        unit_price_fen=unit,
                        paid_fen=fen(item, "paid_fen", unit * qty),
                        is_gift=bool(item.get("is_gift")),
                        bundle_of=str(item["bundle_of"]) if item.get("bundle_of") else None,
                    )
                )
        if not lines:
            raise NormalizeError("lines", "the order has no lines")
        buyer = object_at(payload.get("buyer") or {}, "buyer")
        receiver = object_at(payload.get("receiver") or {}, "receiver")
        presale = object_at(payload.get("presale") or {}, "presale")
        items = sum(line.unit_price_fen * line.qty for line in lines)
        shipping = fen(payload, "shipping_fen", 0)
        discount = fen(payload, "discount_fen", 0)
        tags = [str(tag) for tag in as_list(payload.get("tags"), "tags")]
        if raw_status == "unpaid":
            tags.append("unpaid")
        return NormalizedOrder(
            external_id=text(payload, "order_id"),
            raw_status=raw_status,
            status=STATUS[raw_status],
            created_at=created,
            updated_at=china_time(payload.get("updated_at"), "updated_at") or created,
            paid_at=china_time(payload.get("paid_at"), "paid_at"),
            channel_buyer_id=str(buyer.get("id") or ""),
            buyer_nick=str(buyer.get("nick") or ""),
            unionid=str(buyer.get("unionid") or ""),
            receiver_name=str(receiver.get("name") or ""),
            phone=str(receiver.get("phone") or "").strip() or None,
            province=str(receiver.get("province") or ""),
            city=str(receiver.get("city") or ""),
            district=str(receiver.get("district") or ""),
            town=str(receiver.get("town") or ""),
            address=str(receiver.get("address") or "").strip() or None,
            items_fen=items,
            shipping_fen=shipping,
            discount_fen=discount,
            paid_fen=fen(payload, "paid_fen", items + shipping - discount),
            is_presale=bool(presale.get("is_presale")),
            deposit_paid=bool(presale.get("deposit_paid")),
            deposit_fen=fen(presale, "deposit_fen", 0),
            balance_paid=bool(presale.get("balance_paid")),
            balance_due_at=china_time(presale.get("balance_due_at"), "presale.balance_due_at"),
            buyer_message=str(payload.get("buyer_message") or ""),
            seller_memo=str(payload.get("seller_memo") or ""),
            tags=tags,
            community=community_of(payload.get("community")),
            lines=lines,
            raw=payload,
        )

    async def pull_page(
        self, client: httpx.AsyncClient, creds: Credentials, since: datetime, until: datetime, token: str | None
    ) -> PullPage:
        raise PullError("POS and web-shop orders arrive by webhook or import; there is no order list to pull")

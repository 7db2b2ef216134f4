"""The normalised order: what orders accepts from every source (the channel adapters, imports, replays).

Money in fen, times in UTC, phone and address in clear (ingest seals them); the raw status and payload kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.json_input import UNSTORABLE

#: Line refund statuses that mean the money went back (Taobao/Tmall SUCCESS, Douyin 3, Youzan REFUND_SUCCESS):
#: such a line is not shipped. Other statuses (NO_REFUND, a refund still being decided) leave it shippable.
REFUND_SUCCESS_STATUSES = frozenset({"SUCCESS", "3", "REFUND_SUCCESS"})


def safe_text(text: str) -> str:
    """The text with any lone surrogate or NUL written as its JSON escape (``\\ud800``, ``\\u0000``), so that
    it can be stored: no encoding holds a lone surrogate, and PostgreSQL's text holds no NUL."""
    if not UNSTORABLE.search(text):
        return text
    return text.replace("\x00", "\\u0000").encode("utf-8", "backslashreplace").decode("utf-8")


@dataclass
class NormalizedLine:
    line_id: str
    seller_sku: str
    channel_sku_id: str
    title: str
    qty: int
    unit_price_fen: int
    paid_fen: int
    is_gift: bool = False
    bundle_of: str | None = None
    refund_status: str = ""


@dataclass(frozen=True)
class CommunityGroup:
    """社区团购: the group leader (团长) the order came through, the pickup point (自提点) it waits at, and the delivery
    route (线路) that takes it there."""

    leader_id: str = ""
    leader_name: str = ""
    pickup_point_id: str = ""
    pickup_point_name: str = ""
    pickup_point_address: str = ""
    route_code: str = ""
    route_name: str = ""


@dataclass
class NormalizedOrder:
    """One platform order in our terms. Phone and address are clear here; ingest encrypts them."""

    external_id: str
    raw_status: str
    status: str
    created_at: datetime
    updated_at: datetime
    paid_at: datetime | None = None
    channel_buyer_id: str = ""
    buyer_nick: str = ""
    unionid: str = ""
    receiver_name: str = ""
    #: The phone in clear when the platform gives it, else None (then ``phone_masked`` is the platform's mask).
    phone: str | None = None
    phone_masked: str = ""
    province: str = ""
    city: str = ""
    district: str = ""
    town: str = ""
    address: str | None = None
    address_masked: str = ""
    #: The platform protects this receiver: it sends tokens, ciphertext, masks or a virtual number instead of
    #: some of the clear values (Taobao/Tmall ``oaid``, 抖店 ``encrypt_*``, 快手 ``encrypted*``, 有赞 ``$…$``,
    #: JD 隐私号). Such an order is a normal order: the audit does not hold it for what the platform hides.
    receiver_protected: bool = False
    #: The platform's own tokens and ciphertext of the receiver (``oaid``, ``encrypt_post_tel``, …) as sent,
    #: to decrypt or print through the platform later; ingest seals them like the clear values.
    receiver_tokens: dict[str, str] = field(default_factory=dict)
    #: The platform's token of the address when it hides the address itself (``oaid``, ``open_address_id``):
    #: what finds orders to the same door when there is no clear address.
    address_token: str = ""
    items_fen: int = 0
    shipping_fen: int = 0
    discount_fen: int = 0
    paid_fen: int = 0
    is_presale: bool = False
    deposit_paid: bool = False
    #: The presale's deposit (定金) in fen, as the platform reports it; 0 when not a presale or not said.
    deposit_fen: int = 0
    balance_paid: bool = False
    #: When the balance (尾款) is due, as the platform gives it; None when it does not (the flow then uses the
    #: shop's default term, ``features.presale_default_due_at``).
    balance_due_at: datetime | None = None
    buyer_message: str = ""
    seller_memo: str = ""
    tags: list[str] = field(default_factory=list)
    #: A 社区团购 order's leader, pickup point and route; None for every other order.
    community: CommunityGroup | None = None
    lines: list[NormalizedLine] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

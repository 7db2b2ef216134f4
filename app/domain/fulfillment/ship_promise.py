"""发货时效: the hours within which a paid order must leave the warehouse, and the moment that clock starts.

The platforms' usual promise is 48 hours from payment, so every channel has 48 h here; a channel whose shops
promise less (a faster service they signed up for) gets its own entry. A presale (预售) order's clock starts when
its balance falls due (``balance_due_at``), or at payment when that is later: the deposit promises no shipment.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from app.domain.orders.models import Order
from app.domain.shops.models import Channel

#: The promise when a channel has none of its own, in hours.
DEFAULT_PROMISE_HOURS = 48
#: Each channel's promise, in hours.
PROMISE_HOURS: Mapping[str, int] = {channel.value: DEFAULT_PROMISE_HOURS for channel in Channel}


def promise_hours(channel: str) -> int:
    """The hours a paid order of this channel must be shipped within."""
    return PROMISE_HOURS.get(channel, DEFAULT_PROMISE_HOURS)


def clock_start(
    paid_at: datetime | None, placed_at: datetime, *, is_presale: bool = False, balance_due_at: datetime | None = None
) -> datetime:
    """When the promise starts to run: payment (placing, for an order paid on delivery or at the till); for a
    presale, its balance's due time when that comes later."""
    start = paid_at or placed_at
    if is_presale and balance_due_at is not None and balance_due_at > start:
        return balance_due_at
    return start


def clock_start_of(order: Order) -> datetime:
    """:func:`clock_start` of a stored order."""
    return clock_start(order.paid_at, order.placed_at, is_presale=order.is_presale, balance_due_at=order.balance_due_at)


def ship_by(order: Order) -> datetime:
    """The latest moment the order may leave the warehouse and still keep the promise."""
    return clock_start_of(order) + timedelta(hours=promise_hours(order.channel))


__all__ = ["DEFAULT_PROMISE_HOURS", "PROMISE_HOURS", "clock_start", "clock_start_of", "promise_hours", "ship_by"]

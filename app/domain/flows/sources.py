"""Where the simulator and the backtest get orders from.

An :class:`OrderSource` hands out flow contexts (``{"order", "features", "decisions"}``) with a key and a
label: recent real orders (exactly the context the processing job gives the flows) and the built-in samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import utcnow
from app.domain.flows.samples import SAMPLE_ORDERS, context_of
from app.domain.fulfillment import routing
from app.domain.orders import pii
from app.domain.orders import services as orders
from app.domain.orders.features import flow_contexts
from app.domain.orders.models import Order
from app.i18n import current_locale
from app.params import parse_id

#: Stored orders read at once when many are wanted (a backtest): a few queries per chunk, not per order.
CHUNK = 500


@dataclass(frozen=True, slots=True)
class OrderContext:
    """One order as a flow sees it, with how to name it: ``key`` is unique within its source.

    A stored order also carries what routing ships of it (``items``: its lines with a SKU whose money was
    not refunded; ``unmatched``: lines without a known SKU) and its id; a sample carries None.
    """

    key: str
    label: str
    context: dict[str, Any]
    order_id: int | None = None
    items: tuple[routing.Item, ...] | None = None
    unmatched: tuple[str, ...] = ()


class OrderSource(Protocol):
    """Something that can list recent orders as flow contexts."""

    #: Short machine name, used as the prefix of keys in forms ("sample:east_3c").
    name: str

    async def recent_contexts(self, session: AsyncSession, limit: int, *, shown: bool = True) -> list[OrderContext]:
        """Up to ``limit`` orders, newest first; ``shown`` when people will see the contexts (names masked)."""
        ...

    async def context_for(self, session: AsyncSession, key: str, *, shown: bool = True) -> OrderContext | None:
        """One order by its key, or None when there is no such order."""
        ...


class SampleOrders:
    """The built-in sample orders (华东 3C, small and not urgent, presale, bundle, bad phone…)."""

    name = "sample"

    async def recent_contexts(self, session: AsyncSession, limit: int, *, shown: bool = True) -> list[OrderContext]:
        return [self._context(sample.key) for sample in SAMPLE_ORDERS[: max(limit, 0)]]

    async def context_for(self, session: AsyncSession, key: str, *, shown: bool = True) -> OrderContext | None:
        if not any(sample.key == key for sample in SAMPLE_ORDERS):
            return None
        return self._context(key)

    def _context(self, key: str) -> OrderContext:
        sample = next(sample for sample in SAMPLE_ORDERS if sample.key == key)
        label = sample.label_zh if current_locale.get() != "en" else sample.label_en
        return OrderContext(key=f"{self.name}:{sample.key}", label=label, context=context_of(sample))


class RecentOrders:
    """The newest orders in the hub, with the features the processing job computes for them."""

    name = "order"

    async def recent_contexts(self, session: AsyncSession, limit: int, *, shown: bool = True) -> list[OrderContext]:
        query = select(Order.id).order_by(col(Order.placed_at).desc(), col(Order.id).desc()).limit(max(limit, 0))
        ids = list((await session.exec(query)).all())
        found: list[OrderContext] = []
        for start in range(0, len(ids), CHUNK):
            found.extend(await self._contexts(session, [i for i in ids[start : start + CHUNK] if i], shown=shown))
        return found

    async def context_for(self, session: AsyncSession, key: str, *, shown: bool = True) -> OrderContext | None:
        order_id = parse_id(key)
        if order_id is None:
            return None
        found = await self._contexts(session, [order_id], shown=shown)
        return found[0] if found else None

    async def _contexts(self, session: AsyncSession, ids: list[int], *, shown: bool) -> list[OrderContext]:
        """The contexts of these orders, read set-based, in the order given."""
        views = await orders.load_order_views(session, ids)
        present = [views[order_id] for order_id in ids if order_id in views]
        found = []
        for view, context in zip(present, await flow_contexts(session, present, now=utcnow()), strict=True):
            order_id = view.order.id
            assert order_id is not None
            if shown:
                # What a simulation shows goes to people without the reveal permission: the name, masked.
                receiver = context["order"]["receiver"]
                receiver["name"] = pii.mask_name(receiver["name"])
            label = f"{view.shop.name} · {view.order.external_id} · {view.order.province or '—'}"
            found.append(
                OrderContext(
                    key=f"{self.name}:{order_id}",
                    label=label,
                    context=context,
                    order_id=order_id,
                    items=tuple(routing.items_of(order_id, view.lines)),
                    unmatched=tuple(routing.unmatched_lines(view.lines)),
                )
            )
        return found


def order_sources() -> list[OrderSource]:
    """The sources the simulator offers, most useful first: recent real orders, then the samples."""
    return [RecentOrders(), SampleOrders()]


async def recent_contexts(session: AsyncSession, limit: int, *, shown: bool = True) -> list[OrderContext]:
    """Up to ``limit`` orders across all sources, in source order: what a backtest replays (``shown=False``: it
    shows outcomes, not orders, so it sees the orders as production does) and the simulator offers."""
    found: list[OrderContext] = []
    for source in order_sources():
        if len(found) >= limit:
            break
        found.extend(await source.recent_contexts(session, limit - len(found), shown=shown))
    return found[:limit]


async def context_for(session: AsyncSession, key: str) -> OrderContext | None:
    """The order behind a key such as ``sample:east_3c``, or None."""
    prefix, _, inner = key.partition(":")
    for source in order_sources():
        if source.name == prefix:
            return await source.context_for(session, inner)
    return None

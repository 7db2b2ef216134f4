"""Where the simulator and the backtest get orders from.

An :class:`OrderSource` hands out flow contexts (``{"order", "features", "decisions"}``) with a key and a
label: recent real orders (exactly the context the processing job gives the flows) and the built-in samples.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import utcnow
from app.domain.flows.samples import SAMPLE_ORDERS, context_of
from app.domain.fulfillment import routing
from app.domain.orders import pii
from app.domain.orders import services as orders
from app.domain.orders.features import StoredContexts, read_contexts
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
    """The newest orders in the hub, with the features the processing job computes for them (``secret_key``
    opens their phones and streets for those features, as it does for the processing job)."""

    name = "order"

    def __init__(self, secret_key: str) -> None:
        self.secret_key = secret_key

    async def recent_ids(self, session: AsyncSession, limit: int) -> list[int]:
        """The ids of up to ``limit`` orders, newest first."""
        query = select(Order.id).order_by(col(Order.placed_at).desc(), col(Order.id).desc()).limit(max(limit, 0))
        return [order_id for order_id in (await session.exec(query)).all() if order_id]

    async def recent_contexts(self, session: AsyncSession, limit: int, *, shown: bool = True) -> list[OrderContext]:
        ids = await self.recent_ids(session, limit)
        found: list[OrderContext] = []
        for start in range(0, len(ids), CHUNK):
            found.extend((await self.read(session, ids[start : start + CHUNK], shown=shown)).contexts())
        return found

    async def context_for(self, session: AsyncSession, key: str, *, shown: bool = True) -> OrderContext | None:
        order_id = parse_id(key)
        if order_id is None:
            return None
        return next((await self.read(session, [order_id], shown=shown)).contexts(), None)

    async def read(self, session: AsyncSession, ids: Sequence[int], *, shown: bool) -> StoredChunk:
        """These orders (those that exist, in the order given) read set-based as rows, with what their features
        need; building their contexts is left to :meth:`StoredChunk.contexts`."""
        views = await orders.load_order_rows(session, ids)
        present = [views[order_id] for order_id in ids if order_id in views]
        return StoredChunk(self.name, await read_contexts(session, present, secret_key=self.secret_key), shown)


@dataclass(frozen=True, slots=True)
class StoredChunk:
    """Stored orders read for their contexts (:meth:`RecentOrders.read`); building them is CPU work only."""

    prefix: str
    stored: StoredContexts
    #: People will see the contexts: the receiver's name masked.
    shown: bool

    def contexts(self) -> Iterator[OrderContext]:
        """The orders as flow contexts, with their keys, labels and what routing ships of them, each built as it
        is asked for."""
        for view, context in zip(self.stored.views, self.stored.build(utcnow()), strict=True):
            order = view.order
            if self.shown:
                # What a simulation shows goes to people without the reveal permission: the name, masked.
                receiver = context["order"]["receiver"]
                receiver["name"] = pii.mask_name(receiver["name"])
            yield OrderContext(
                key=f"{self.prefix}:{order.id}",
                label=f"{view.shop.name} · {order.external_id} · {order.province or '—'}",
                context=context,
                order_id=order.id,
                items=tuple(routing.items_of(order.id, view.lines)),
                unmatched=tuple(routing.unmatched_lines(view.lines)),
            )


def order_sources(secret_key: str) -> list[OrderSource]:
    """The sources the simulator offers, most useful first: recent real orders, then the samples."""
    return [RecentOrders(secret_key), SampleOrders()]


async def recent_contexts(
    session: AsyncSession, limit: int, *, secret_key: str, shown: bool = True
) -> list[OrderContext]:
    """Up to ``limit`` orders across all sources, in source order: what a backtest replays (``shown=False``: it
    shows outcomes, not orders, so it sees the orders as production does) and the simulator offers."""
    found: list[OrderContext] = []
    for source in order_sources(secret_key):
        if len(found) >= limit:
            break
        found.extend(await source.recent_contexts(session, limit - len(found), shown=shown))
    return found[:limit]


@dataclass(frozen=True, slots=True)
class ReplayedOrders:
    """What a backtest replays (:func:`replayed_orders`): the stored orders in the order they arrived, read a turn
    at a time, then the samples that make up the number asked for."""

    order_ids: list[int]
    samples: list[OrderContext]
    secret_key: str

    def __len__(self) -> int:
        return len(self.order_ids) + len(self.samples)

    async def turns(self, session: AsyncSession, size: int) -> AsyncGenerator[Iterable[OrderContext]]:
        """Each turn of up to ``size`` orders, its contexts built one by one as they are iterated (CPU work, for a
        worker thread). The next turn is read while this one is replayed, so at most two turns' rows are held,
        however many orders there are. Close it (``aclosing``) when leaving early."""
        source = RecentOrders(self.secret_key)
        ids = self.order_ids

        def read(start: int) -> asyncio.Future[StoredChunk]:
            return asyncio.ensure_future(source.read(session, ids[start : start + size], shown=False))

        ahead = read(0) if ids else None
        try:
            for start in range(0, len(ids), size):
                assert ahead is not None
                chunk = await ahead
                ahead = read(start + size) if start + size < len(ids) else None
                yield chunk.contexts()
        finally:
            if ahead is not None:
                # Left early (the replay ran out of time): let the read finish with the session it uses.
                await asyncio.wait([ahead])
        if self.samples:
            yield self.samples


async def replayed_orders(session: AsyncSession, limit: int, *, secret_key: str) -> ReplayedOrders:
    """The orders a backtest of ``limit`` orders replays: those :func:`recent_contexts` gives, seen as production
    sees them (it shows outcomes, not orders), the stored ones in the order they arrived, so that each routed
    order takes the stock the earlier ones left."""
    order_ids = sorted(await RecentOrders(secret_key).recent_ids(session, limit))
    samples = await SampleOrders().recent_contexts(session, limit - len(order_ids), shown=False)
    return ReplayedOrders(order_ids, samples, secret_key)


async def context_for(session: AsyncSession, key: str, *, secret_key: str) -> OrderContext | None:
    """The order behind a key such as ``sample:east_3c``, or None."""
    prefix, _, inner = key.partition(":")
    for source in order_sources(secret_key):
        if source.name == prefix:
            return await source.context_for(session, inner)
    return None

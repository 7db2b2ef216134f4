"""The pure work of a backtest: the draft and the live version replayed over orders, with routing.

Each side decides on every order what processing would: the flow runs, and what it decides about
warehouses, carriers and gifts goes through ``fulfillment.routing`` against a stock pool of its own that
each routed order takes from, in the order the orders arrived — so a backtest predicts exactly what
publishing would do to the same orders and stock (a test proves it). Stored orders start from the stock
as it was before they were routed (what they hold counts as available); the built-in samples are not
stock, so they are routed as if every warehouse had what they ask for.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, Final

import ruleflows
from app.domain.flows.sources import OrderContext
from app.domain.fulfillment import routing
from app.domain.inventory.pool import StockPool, Taken
from ruleflows import CompiledFlow, RunResult


class OutOfTime(Exception):
    """The whole replay went past its wall-clock budget."""


@dataclass(frozen=True, slots=True)
class SkuFact:
    """A SKU as routing weighs it, for a sample's line the SKU master does not know."""

    weight_g: int
    temperature_zone: str = "ambient"
    name: str = ""


class UnlimitedStock(StockPool):
    """The stock a sample order is routed against: every warehouse has what it asks for."""

    def __init__(self) -> None:
        super().__init__({}, {})

    def fits(self, code: str, items: Any) -> bool:
        return True

    def take(self, plan: Any, items: Any) -> Taken:
        return []


@dataclass
class World:
    """What routing needs for a replay: the network, the stock before the replayed orders, the SKU master."""

    network: routing.Network
    pool: StockPool
    skus: Mapping[str, Any]

    @cached_property
    def titles(self) -> dict[str, str]:
        """The SKU master's names by code, what routing names a gift by (read once, not per order)."""
        return gift_titles(self.skus)

    def side(self) -> StockPool:
        """A pool of its own for one side of the comparison."""
        return StockPool(copy.deepcopy(self.pool.available), self.pool.bundles)


#: What the live side of a backtest decides when nothing is published yet.
NOTHING_LIVE: Final = {
    "status": "none",
    "hold": False,
    "warehouse": None,
    "carrier": None,
    "gifts": [],
    "parcels": [],
    "split": [],
    "cost_fen": None,
}


def gift_titles(skus: Mapping[str, Any]) -> dict[str, str]:
    """What routing names a gift by: each SKU's name, or its code."""
    return {code: str(getattr(sku, "name", code)) for code, sku in skus.items()}


def sample_items(context: Mapping[str, Any]) -> tuple[list[routing.Item], list[str], dict[str, SkuFact]]:
    """A sample's (or pasted order's) lines as routing items, the lines without a SKU, and what its lines
    say of their SKUs' weight."""
    items: list[routing.Item] = []
    unmatched: list[str] = []
    facts: dict[str, SkuFact] = {}
    order = context.get("order") if isinstance(context.get("order"), dict) else {}
    for line in (order or {}).get("lines") or []:
        if not isinstance(line, dict):
            continue
        sku, qty = line.get("sku"), line.get("qty")
        if not isinstance(sku, str) or not sku:
            unmatched.append(str(line.get("line_id")))
            continue
        items.append(
            routing.Item(
                str(line.get("line_id")),
                sku,
                qty if isinstance(qty, int) else 1,
                str(line.get("title") or ""),
                is_gift=line.get("is_gift") is True,
            )
        )
        weight = line.get("weight_g")
        facts[sku] = SkuFact(weight if isinstance(weight, int) else 0, name=str(line.get("title") or sku))
    return items, unmatched, facts


def outcome(result: RunResult, order: OrderContext, world: World, pool: StockPool) -> dict[str, Any]:
    """What processing would do with one order given the flow's result, taking routed stock from ``pool``:
    the same sequence as the processing job (a failed run or a hold goes to review; a cancel ships nothing;
    a decided warehouse is routed; a presale order is routed, then waits for its balance)."""
    decisions = result.decisions
    held = {**NOTHING_LIVE, "status": result.status, "hold": True}
    if not result.ok or decisions.hold:
        return held
    if decisions.cancelled:
        return {**held, "status": "cancelled", "hold": False}
    routed: dict[str, Any] = {**held, "hold": decisions.presale}
    if not (decisions.warehouse or decisions.warehouse_strategy):
        return routed
    context = order.context
    if order.items is None:
        items, unmatched, facts = sample_items(context)
        skus: Mapping[str, Any] = {**facts, **world.skus}
        titles = gift_titles(skus)
        pool = UnlimitedStock()
    else:
        items, unmatched, skus, titles = list(order.items), list(order.unmatched), world.skus, world.titles
    if unmatched or not items:
        return {**held, "status": "unknown_sku" if unmatched else "failed"}
    receiver = context["order"].get("receiver") or {}
    request = routing.request_for(decisions, context.get("features") or {}, str(receiver.get("province") or ""))
    try:
        decided = routing.route(world.network, pool, request, items, skus, gift_titles=titles)
    except routing.RoutingError:
        return {**held, "status": "failed"}
    if not decided.routed:
        return {**held, "status": decided.status}
    pool.take(decided.plan, items)
    if decided.gifts:
        pool.take({gift.key: decided.parcels[0].warehouse for gift in decided.gifts}, decided.gifts)
    return {
        **routed,
        "warehouse": decided.parcels[0].warehouse,
        "carrier": decided.parcels[0].carrier,
        "gifts": sorted(f"{gift.sku}×{gift.qty}" for gift in decided.gifts),
        "parcels": parcels_shown(decided.parcels),
        # How the order is parcelled, whatever the warehouse: a zone per parcel (["ambient", "frozen"] when split).
        "split": [parcel.temperature_zone for parcel in decided.parcels],
        "cost_fen": decided.fee_fen,
    }


def parcels_shown(parcels: Iterable[routing.Parcel]) -> list[dict[str, Any]]:
    """Each parcel as a backtest lists it: warehouse, carrier, temperature zone and fee (a split order has several)."""
    return [
        {
            "warehouse": parcel.warehouse,
            "carrier": parcel.carrier,
            "temperature_zone": parcel.temperature_zone,
            "fee_fen": parcel.fee_fen,
        }
        for parcel in parcels
    ]


class Replay:
    """The draft and the baseline on each order, each side with its own stock, within one wall-clock
    budget for the whole replay. Orders must come in the order they arrived."""

    def __init__(
        self,
        draft_doc: Any,
        baseline_doc: Any,
        world: World,
        now: datetime,
        time_limit: float,
        per_order_limit: float,
    ) -> None:
        self.draft = compile_or_none(draft_doc)
        # An invalid draft fails the same way on every order (before reading it): run it once.
        self.invalid_draft = ruleflows.run(draft_doc, {}, now=now) if self.draft is None else None
        self.live = compile_or_none(baseline_doc) if baseline_doc is not None else None
        self.world = world
        self.pools = {"live": world.side(), "draft": world.side()}
        self.now = now
        self.time_limit = time_limit
        self.per_order_limit = per_order_limit
        self.deadline = time.monotonic() + time_limit

    def compare(self, orders: Sequence[OrderContext]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(live outcome, draft outcome) for each order."""
        return [(before, after) for _, before, after in self.outcomes(orders)]

    def outcomes(self, orders: Iterable[OrderContext]) -> Iterator[tuple[OrderContext, dict[str, Any], dict[str, Any]]]:
        """(order, live outcome, draft outcome) for each order, replayed as it is asked for."""
        for order in orders:
            yield order, self._live(order), self._draft(order)

    def _live(self, order: OrderContext) -> dict[str, Any]:
        return self._run(self.live, order, "live") if self.live is not None else dict(NOTHING_LIVE)

    def _draft(self, order: OrderContext) -> dict[str, Any]:
        if self.draft is None:
            assert self.invalid_draft is not None
            return outcome(self.invalid_draft, order, self.world, self.pools["draft"])
        return self._run(self.draft, order, "draft")

    def _run(self, flow: CompiledFlow, order: OrderContext, side: str) -> dict[str, Any]:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise OutOfTime
        # Decisions and path are what a replay compares: no per-node trace (its limits are charged all the same).
        result = ruleflows.run(
            flow, order.context, now=self.now, time_limit=min(left, self.per_order_limit), trace=False
        )
        return outcome(result, order, self.world, self.pools[side])


def compile_or_none(doc: Any) -> CompiledFlow | None:
    """The compiled flow, or None when the document has problems."""
    try:
        return ruleflows.compile_flow(doc)
    except ruleflows.InvalidFlowError:
        return None

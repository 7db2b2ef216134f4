"""Routing: which warehouse(s) an order ships from, split or whole, with which carrier, at what fee.

A pure module: it decides from data already loaded — the warehouses, carriers and rate tables (a
:class:`Network`), the stock (a :class:`StockPool`) and the SKU master (:class:`SkuFacts`) — and never
touches the database. Production processing, the simulator and the backtest all call :func:`route`, so a
backtest predicts exactly what publishing a flow would do; production then only has to make the plan true
with the guarded reservation (and asks again with fresh stock when a concurrent order took it first).

Strategies: a warehouse is fixed, or ranked ``nearest`` (same province first, then those serving the
region; others are not candidates), ``cheapest`` (handling plus the cheapest carrier's fee to the
receiver) or ``priority`` (those serving the region by priority, then the rest). The order ships whole from
the first ranked warehouse that has every line; else, when the flow allows it, split (拆单) line by line;
else it is short (缺货). A carrier is fixed, ``cheapest`` (an urgent order only takes one promising two days
or less) or ``fastest``; a chilled or frozen parcel only goes with a cold-chain carrier.

按温层拆包 (``split_by_temperature`` on the flow's carrier action): each warehouse's share of the order leaves as
one parcel per temperature zone — ambient, chilled, frozen, in that order — each with its own carrier and fee,
so an ambient book is not packed in dry ice at cold-chain prices and a frozen cake never travels ambient.
Chilled (0–4 °C) and frozen (−18 °C) never share a parcel: they are packed differently (ice packs, dry ice)
and carriers price them on separate lines. The split changes parcels, not warehouses: an order still ships
from one warehouse unless 按仓拆单 allows more, and waits whole when any zone is short. A bundle is one line,
reserved and deducted as one: it stays in one parcel, at the coldest zone of the bundle and its parts. A gift
never travels alone: it goes in the parcel of its zone, else in the least cold parcel cold enough for it (an
ambient tote in a frozen-only order rides in the frozen parcel), else in the coldest one, which then travels
at the gift's zone as it would without the split.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from app.domain.inventory.pool import StockPool
from ruleflows import REGIONS, Decisions, region_of, short_province

ANY = "*"
ZONE_RANK = {"ambient": 0, "chilled": 1, "frozen": 2}
#: How the review queue names a temperature zone.
ZONE_LABELS = {"ambient": "常温", "chilled": "冷藏", "frozen": "冷冻"}
#: Days an urgent order's carrier may promise at most under the ``cheapest`` strategy.
URGENT_DAYS = 2
#: What "cheapest" counts for a warehouse no carrier serves: far more than any real parcel.
UNSERVED_FEE_FEN = 1_000_000


class RoutingError(Exception):
    """A decision cannot be carried out (a fixed warehouse or carrier that does not exist…); ``reason`` is
    the Chinese text the review queue shows."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SkuFacts(Protocol):
    """What routing needs of a SKU master row (the inventory model satisfies it)."""

    @property
    def weight_g(self) -> int: ...

    @property
    def temperature_zone(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Site:
    """A warehouse as routing sees it."""

    code: str
    name: str
    province: str
    priority: int
    serves_regions: tuple[str, ...] = ()
    per_order_fen: int = 0
    per_item_fen: int = 0

    def serves(self, region: str | None) -> bool:
        """Whether the warehouse ships to the region (an empty list means everywhere)."""
        return not self.serves_regions or (region is not None and region in self.serves_regions)


@dataclass(frozen=True, slots=True)
class Courier:
    """A carrier as routing sees it."""

    code: str
    name: str
    supports_cold_chain: bool = False
    is_active: bool = True


@dataclass(frozen=True, slots=True)
class Rate:
    """One line of a carrier's rate table (``*`` means any); the most specific matching line wins. The
    destination is a province or a region (华东…, the zone tables carriers quote by); a province beats its
    region, which beats any."""

    carrier_code: str
    first_fee_fen: int
    origin_province: str = ANY
    dest_province: str = ANY
    min_weight_g: int = 0
    max_weight_g: int = 1_000_000
    temperature_zone: str = ANY
    extra_fee_fen_per_kg: int = 0
    promised_days: int = 3

    @property
    def specificity(self) -> int:
        dest = 0 if self.dest_province == ANY else 1 if self.dest_province in REGIONS else 2
        return dest * 4 + (self.origin_province != ANY) * 2 + (self.temperature_zone != ANY)

    def fee(self, weight_g: int) -> int:
        """First kilogram at the first fee, every further started kilogram at the extra fee."""
        extra_kg = max(0, math.ceil((max(weight_g, 1) - 1000) / 1000))
        return self.first_fee_fen + extra_kg * self.extra_fee_fen_per_kg


@dataclass(frozen=True, slots=True)
class Quote:
    """What shipping one parcel with one carrier costs and how long it is promised to take."""

    carrier_code: str
    fee_fen: int
    promised_days: int


def quotes_from(
    rates: Iterable[Rate], *, origin_province: str, dest_province: str, weight_g: int, temperature_zone: str
) -> list[Quote]:
    """Each carrier's price for a parcel from rate lines: cheapest first (ties: faster, then by code).
    Provinces are compared as given (short names, as :meth:`Network.quotes` passes them); a line for a region
    serves each of its provinces. A chilled or frozen parcel takes the carrier's line for its zone when there
    is one; only a carrier without one prices it on its any-temperature lines."""
    best: dict[str, Rate] = {}
    dest_region = region_of(dest_province) or ANY
    cold = temperature_zone != "ambient"

    def rank(rate: Rate) -> tuple[bool, int]:
        # A cold parcel is priced on its cold-chain line wherever the carrier has one: an any-temperature line
        # (an ambient price) never wins over it, however specific its lane.
        return (cold and rate.temperature_zone == temperature_zone, rate.specificity)

    for rate in rates:
        if rate.origin_province not in (ANY, origin_province):
            continue
        if rate.dest_province not in (ANY, dest_province, dest_region):
            continue
        if rate.temperature_zone not in (ANY, temperature_zone):
            continue
        if not rate.min_weight_g <= weight_g < rate.max_weight_g:
            continue
        current = best.get(rate.carrier_code)
        if current is None or rank(rate) > rank(current):
            best[rate.carrier_code] = rate
    found = [Quote(code, rate.fee(weight_g), rate.promised_days) for code, rate in best.items()]
    return sorted(found, key=lambda q: (q.fee_fen, q.promised_days, q.carrier_code))


#: How many distinct quotes a network remembers before it starts again.
QUOTE_MEMO_SIZE = 50_000


@dataclass(frozen=True)
class Network:
    """The warehouses (active ones, by priority), carriers and rate lines routing chooses among."""

    sites: tuple[Site, ...]
    couriers: tuple[Courier, ...]
    rates: tuple[Rate, ...]
    by_code: Mapping[str, Site] = field(init=False)
    couriers_by_code: Mapping[str, Courier] = field(init=False)
    rates_by_carrier: Mapping[str, tuple[Rate, ...]] = field(init=False)
    #: Quotes asked for before: the network does not change, and a batch or a backtest asks for the same
    #: lanes and weights over and over.
    _quoted: dict[tuple[Any, ...], tuple[Quote, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        grouped: dict[str, list[Rate]] = defaultdict(list)
        for rate in self.rates:
            grouped[rate.carrier_code].append(rate)
        object.__setattr__(self, "by_code", {site.code: site for site in self.sites})
        object.__setattr__(self, "couriers_by_code", {c.code: c for c in self.couriers})
        object.__setattr__(self, "rates_by_carrier", {code: tuple(lines) for code, lines in grouped.items()})
        object.__setattr__(self, "_quoted", {})

    def quotes(
        self,
        *,
        origin_province: str,
        dest_province: str,
        weight_g: int,
        temperature_zone: str = "ambient",
        carriers: Sequence[str] | None = None,
    ) -> list[Quote]:
        """Every active carrier's price for this parcel (cold-chain carriers only for a cold parcel),
        optionally among ``carriers``; cheapest first."""
        key = (origin_province, dest_province, weight_g, temperature_zone, tuple(carriers) if carriers else None)
        found = self._quoted.get(key)
        if found is None:
            if len(self._quoted) >= QUOTE_MEMO_SIZE:
                self._quoted.clear()
            found = self._quoted[key] = tuple(self._quote(*key))
        return list(found)

    def _quote(
        self,
        origin_province: str,
        dest_province: str,
        weight_g: int,
        temperature_zone: str,
        carriers: Sequence[str] | None,
    ) -> list[Quote]:
        wanted = set(carriers) if carriers else None
        origin_province = short_province(origin_province) or origin_province
        dest_province = short_province(dest_province) or dest_province
        lines = [
            rate
            for courier in self.couriers
            if courier.is_active
            and (temperature_zone == "ambient" or courier.supports_cold_chain)
            and (wanted is None or courier.code in wanted)
            for rate in self.rates_by_carrier.get(courier.code, ())
        ]
        return quotes_from(
            lines,
            origin_province=origin_province,
            dest_province=dest_province,
            weight_g=weight_g,
            temperature_zone=temperature_zone,
        )


@dataclass(frozen=True, slots=True)
class Item:
    """One thing to reserve and ship: an order line, a merged order's line, or a gift."""

    key: str
    sku: str
    qty: int
    title: str = ""
    order_id: int = 0
    is_gift: bool = False


class Line(Protocol):
    """What routing reads of an order line (the orders model satisfies it)."""

    @property
    def line_id(self) -> str: ...

    @property
    def sku(self) -> str: ...

    @property
    def qty(self) -> int: ...

    @property
    def title(self) -> str: ...

    @property
    def is_gift(self) -> bool: ...

    @property
    def is_refunded(self) -> bool: ...


def items_of(order_id: int, lines: Iterable[Line], *, prefix: str = "") -> list[Item]:
    """What an order ships: its lines with a SKU code whose money was not refunded (a platform's gift line
    stays a gift)."""
    return [
        Item(prefix + line.line_id, line.sku, line.qty, line.title, order_id, line.is_gift)
        for line in lines
        if line.sku and not line.is_refunded
    ]


def unmatched_lines(lines: Iterable[Line]) -> list[str]:
    """The lines that should ship but whose SKU is unknown (routing cannot place them)."""
    return [line.line_id for line in lines if not line.sku and not line.is_refunded]


# --- the decision ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    """What a flow decided about routing, and where the order goes."""

    dest_province: str
    region: str | None
    warehouse: str | None = None
    warehouse_strategy: str = "priority"
    allow_split: bool = False
    carrier: str | None = None
    carrier_strategy: str | None = None
    carrier_candidates: tuple[str, ...] = ()
    urgent: bool = False
    gifts: tuple[tuple[str, int], ...] = ()  # (SKU, qty), in the order the flow added them
    split_by_temperature: bool = False

    @property
    def wants_carrier(self) -> bool:
        return bool(self.carrier or self.carrier_strategy)

    @property
    def gift_skus(self) -> set[str]:
        return {sku for sku, _ in self.gifts}


def request_for(decisions: Decisions, features: Mapping[str, Any], dest_province: str) -> Request:
    """The routing request of a flow's decisions for an order going to ``dest_province``."""
    return Request(
        dest_province=dest_province,
        region=features.get("region"),
        warehouse=decisions.warehouse or None,
        warehouse_strategy=decisions.warehouse_strategy or "priority",
        allow_split=decisions.split_by_warehouse,
        carrier=decisions.carrier or None,
        carrier_strategy=decisions.carrier_strategy or None,
        carrier_candidates=decisions.carrier_candidates,
        urgent=bool(features.get("is_urgent")),
        gifts=tuple((gift.sku, gift.qty) for gift in decisions.gifts),
        split_by_temperature=decisions.split_by_temperature,
    )


@dataclass(frozen=True, slots=True)
class Parcel:
    """One shipment of the plan: where from, what, how heavy and cold, with whom, for how much."""

    warehouse: str
    items: tuple[Item, ...]
    weight_g: int
    temperature_zone: str
    carrier: str | None
    fee_fen: int
    promised_days: int | None


@dataclass(frozen=True, slots=True)
class Route:
    """The routing decision for one order.

    ``status`` is ``routed`` (``plan`` maps every item key to its warehouse and ``parcels`` are the
    shipments), ``out_of_stock`` or ``no_carrier`` (``reason`` says why, in Chinese).
    """

    status: str
    ranked: tuple[str, ...] = ()
    plan: Mapping[str, str] = field(default_factory=dict)
    gifts: tuple[Item, ...] = ()
    parcels: tuple[Parcel, ...] = ()
    split: bool = False
    reason: str = ""
    notes: tuple[str, ...] = ()

    @property
    def routed(self) -> bool:
        return self.status == "routed"

    @property
    def fee_fen(self) -> int:
        return sum(parcel.fee_fen for parcel in self.parcels)


def parcel_weight(items: Iterable[tuple[str, int]], skus: Mapping[str, SkuFacts]) -> int:
    """Total weight in grams of (SKU, qty) pairs; unknown SKUs weigh nothing."""
    return sum(skus[code].weight_g * qty for code, qty in items if code in skus)


def temperature_zone(codes: Iterable[str], skus: Mapping[str, SkuFacts]) -> str:
    """The coldest zone any of these SKUs needs (a chilled item makes the parcel chilled)."""
    return coldest(str(skus[code].temperature_zone) for code in codes if code in skus)


def coldest(zones: Iterable[str]) -> str:
    """The coldest of these zones (ambient when there are none)."""
    return max(zones, key=lambda zone: ZONE_RANK.get(zone, 0), default="ambient")


def item_zone(sku: str, skus: Mapping[str, SkuFacts], bundles: Mapping[str, Sequence[tuple[str, int]]]) -> str:
    """The zone one SKU travels at: a bundle at the coldest of its own and its parts' zones (a hot-pot set with
    frozen meat is frozen, whatever its master row says)."""
    return temperature_zone([sku, *(part for part, _ in bundles.get(sku, ()))], skus)


def parcel_zone(
    items: Iterable[Item], skus: Mapping[str, SkuFacts], bundles: Mapping[str, Sequence[tuple[str, int]]]
) -> str:
    """The zone a parcel of these items travels at: the coldest any of them needs."""
    return coldest(item_zone(i.sku, skus, bundles) for i in items)


def by_temperature(
    items: Sequence[Item], skus: Mapping[str, SkuFacts], bundles: Mapping[str, Sequence[tuple[str, int]]]
) -> list[tuple[Item, ...]]:
    """按温层拆包: one warehouse's items as one group per zone they travel at, warmest first (ambient, chilled,
    frozen). Gifts (a platform's gift lines and the flow's) never make a group of their own when there are goods:
    each goes with the goods of its zone, else the least cold group cold enough for it, else the coldest group."""
    goods = [i for i in items if not i.is_gift] or list(items)
    gifts = [i for i in items if i.is_gift] if len(goods) < len(items) else []
    grouped: dict[int, list[Item]] = defaultdict(list)
    for i in goods:
        grouped[ZONE_RANK.get(item_zone(i.sku, skus, bundles), 0)].append(i)
    ranks = sorted(grouped)
    for gift in gifts:
        need = ZONE_RANK.get(item_zone(gift.sku, skus, bundles), 0)
        grouped[next((rank for rank in ranks if rank >= need), ranks[-1])].append(gift)
    return [tuple(grouped[rank]) for rank in ranks]


def rank_warehouses(
    network: Network,
    request: Request,
    items: Sequence[Item],
    skus: Mapping[str, SkuFacts],
    bundles: Mapping[str, Sequence[tuple[str, int]]] | None = None,
) -> list[Site]:
    """The candidate warehouses in the order the decision prefers them, before looking at stock (``cheapest``
    counts the fee of each parcel the order would make)."""
    bundles = bundles or {}
    if request.warehouse:
        site = network.by_code.get(request.warehouse)
        if site is None:
            raise RoutingError(f"规则流指定的仓库 {request.warehouse} 不存在或已停用")
        return [site]
    sites = network.sites
    if request.warehouse_strategy == "nearest":
        # Sites carry short province names; a receiver may be given as "上海市".
        dest = short_province(request.dest_province) or request.dest_province
        return sorted(
            (s for s in sites if s.serves(request.region)),
            key=lambda s: (s.province != dest, s.priority, s.code),
        )
    if request.warehouse_strategy == "cheapest":
        groups = by_temperature(items, skus, bundles) if request.split_by_temperature else [tuple(items)]
        # (weight, zone) of each parcel the order would make
        shapes = [
            (parcel_weight([(i.sku, i.qty) for i in group], skus), parcel_zone(group, skus, bundles))
            for group in groups
        ]
        count = sum(i.qty for i in items)

        def fee(site: Site, weight: int, zone: str) -> int:
            found = network.quotes(
                origin_province=site.province,
                dest_province=request.dest_province,
                weight_g=weight,
                temperature_zone=zone,
            )
            return found[0].fee_fen if found else UNSERVED_FEE_FEN

        def cost(site: Site) -> int:
            return site.per_order_fen + site.per_item_fen * count + sum(fee(site, w, z) for w, z in shapes)

        costs = {site.code: cost(site) for site in sites}
        return sorted(sites, key=lambda s: (costs[s.code], s.priority, s.code))
    return sorted(sites, key=lambda s: (not s.serves(request.region), s.priority, s.code))


def split_plan(pool: StockPool, ranked: Sequence[str], items: Sequence[Item]) -> dict[str, str] | None:
    """拆单: each item from the first warehouse (in preference order) that still has it, largest items first;
    None when an item fits nowhere."""
    left = StockPool({code: pool.available.get(code, {}) for code in ranked}, pool.bundles)
    plan: dict[str, str] = {}
    for item in sorted(items, key=lambda i: -i.qty):
        code = next((code for code in ranked if left.fits(code, [item])), None)
        if code is None:
            return None
        left.take({item.key: code}, [item])
        plan[item.key] = code
    return plan


@dataclass(frozen=True, slots=True)
class Pick:
    """The carrier chosen for a parcel, its fee, and its promise (None: a fixed carrier without a rate line)."""

    carrier: str
    fee_fen: int
    promised_days: int | None


def choose_carrier(network: Network, request: Request, origin: Site, weight_g: int, zone: str) -> Pick | None:
    """The carrier for one parcel: the fixed one (with its fee when it has a rate for the lane), or the
    cheapest / fastest that serves the lane. None when the decision names none or none serves."""
    if request.carrier:
        courier = network.couriers_by_code.get(request.carrier)
        if courier is None or not courier.is_active:
            raise RoutingError(f"规则流指定的快递 {request.carrier} 不存在或已停用")
        found = network.quotes(
            origin_province=origin.province,
            dest_province=request.dest_province,
            weight_g=weight_g,
            temperature_zone=zone,
            carriers=[courier.code],
        )
        if zone != "ambient" and not found:
            raise RoutingError(f"快递 {request.carrier} 不承运{ZONE_LABELS.get(zone, zone)}温层商品")
        return Pick(courier.code, found[0].fee_fen, found[0].promised_days) if found else Pick(courier.code, 0, None)
    if not request.carrier_strategy:
        return None
    found = network.quotes(
        origin_province=origin.province,
        dest_province=request.dest_province,
        weight_g=weight_g,
        temperature_zone=zone,
        carriers=list(request.carrier_candidates) or None,
    )
    if request.carrier_strategy == "fastest":
        best = min(found, key=lambda q: (q.promised_days, q.fee_fen, q.carrier_code), default=None)
    else:
        within = URGENT_DAYS if request.urgent else None
        best = next((q for q in found if within is None or q.promised_days <= within), None)
    return Pick(best.carrier_code, best.fee_fen, best.promised_days) if best else None


def shortage_reason(pool: StockPool, ranked: Sequence[str], items: Sequence[Item], *, allow_split: bool) -> str:
    """Why no plan fits, for the review queue: the SKUs no candidate warehouse has enough of."""
    short = sorted({item.sku for item in items if not any(pool.fits(code, [item]) for code in ranked)})
    return (
        "缺货：" + ("、".join(short) if short else "没有一个仓能整单发货") + ("" if allow_split else "（未允许拆单）")
    )


def route(
    network: Network,
    pool: StockPool,
    request: Request,
    items: Sequence[Item],
    skus: Mapping[str, SkuFacts],
    *,
    gift_titles: Mapping[str, str] | None = None,
) -> Route:
    """Decide the whole routing of one order against ``pool`` (which is not changed).

    Raises RoutingError when a decision cannot be carried out (unknown warehouse, carrier or gift SKU).
    """
    ranked = [site.code for site in rank_warehouses(network, request, items, skus, pool.bundles)]
    plan = next(({i.key: code for i in items} for code in ranked if pool.fits(code, items)), None)
    split = False
    if plan is None and request.allow_split and not request.warehouse:
        plan = split_plan(pool, ranked, items)
        split = plan is not None
    if plan is None:
        reason = shortage_reason(pool, ranked, items, allow_split=request.allow_split)
        return Route("out_of_stock", tuple(ranked), reason=reason)

    order_of = {code: ranked.index(code) for code in set(plan.values())}
    warehouses = sorted(order_of, key=order_of.__getitem__)
    left = StockPool({code: pool.available.get(code, {}) for code in warehouses}, pool.bundles)
    left.take(plan, items)
    gifts, notes = _gifts(left, request, warehouses[0], skus, gift_titles or {}, sent=items)

    parcels: list[Parcel] = []
    for code in warehouses:
        contents = tuple(item for item in items if plan[item.key] == code)
        given = gifts if code == warehouses[0] else ()
        groups = (
            by_temperature(contents + given, skus, pool.bundles) if request.split_by_temperature else [contents + given]
        )
        parcels.extend(_parcel(network, request, code, group, skus, pool.bundles) for group in groups)
    if request.wants_carrier and any(parcel.carrier is None for parcel in parcels):
        return Route("no_carrier", tuple(ranked), reason="没有能在承诺时效内送达的快递")
    return Route(
        "routed",
        tuple(ranked),
        plan=plan,
        gifts=gifts,
        parcels=tuple(parcels),
        split=split,
        notes=(("按仓拆单",) if split else ()) + (("按温层拆包",) if len(parcels) > len(warehouses) else ()) + notes,
    )


def _parcel(
    network: Network,
    request: Request,
    code: str,
    contents: tuple[Item, ...],
    skus: Mapping[str, SkuFacts],
    bundles: Mapping[str, Sequence[tuple[str, int]]],
) -> Parcel:
    """One parcel from warehouse ``code``: its weight, its zone (the coldest its contents need) and its carrier."""
    weight = parcel_weight([(i.sku, i.qty) for i in contents], skus)
    zone = parcel_zone(contents, skus, bundles)
    pick = choose_carrier(network, request, network.by_code[code], weight, zone)
    return Parcel(
        warehouse=code,
        items=contents,
        weight_g=weight,
        temperature_zone=zone,
        carrier=pick.carrier if pick else None,
        fee_fen=pick.fee_fen if pick else 0,
        promised_days=pick.promised_days if pick else None,
    )


def _gifts(
    left: StockPool,
    request: Request,
    warehouse: str,
    skus: Mapping[str, SkuFacts],
    titles: Mapping[str, str],
    *,
    sent: Sequence[Item] = (),
) -> tuple[tuple[Item, ...], tuple[str, ...]]:
    """满赠: each gift SKU (quantities added up) from the first parcel's warehouse while its stock lasts; a gift
    out of stock is left out with a note, never a reason to hold the order. Units of a gift the platform
    already sent on the order as a gift line (``sent``) are not added a second time."""
    wanted: dict[str, int] = defaultdict(int)
    for sku, qty in request.gifts:
        wanted[sku] += qty
    unknown = sorted(sku for sku in wanted if sku not in skus)
    if unknown:
        raise RoutingError(f"赠品 {'、'.join(unknown)} 不是已登记的商品")
    on_order: dict[str, int] = defaultdict(int)
    for line in sent:
        if line.is_gift:
            on_order[line.sku] += line.qty
    given: list[Item] = []
    notes: list[str] = []
    for sku, flow_qty in sorted(wanted.items()):
        qty = flow_qty - on_order[sku]
        if qty <= 0:
            notes.append(f"赠品 {sku} 平台已随单赠送，未重复赠送")
            continue
        item = Item(f"gift:{sku}", sku, qty, titles.get(sku, sku), 0, True)
        if left.fits(warehouse, [item]):
            left.take({item.key: warehouse}, [item])
            given.append(item)
        else:
            notes.append(f"赠品 {sku} 库存不足，未赠送")
    return tuple(given), tuple(notes)

"""按温层拆包: a mixed-temperature order leaves as one parcel per zone when the flow's carrier action says so.

Worked example on the seeded network and rate table (SH01 上海仓 → a receiver in 上海), one 补水面膜 (MASK-10,
ambient, 300 g) and one 手工水饺 (DUMPLING-1K, frozen, 1,050 g), carrier ``cheapest``:

- split: the ambient parcel (300 g) goes with STO at its in-province price, ¥4.50 − ¥1.50 = 300 fen; the frozen
  parcel (1,050 g) with JD on its cold-chain line, ¥20 first kilogram + ¥5 for the second started one = 2,500 fen
  (SF's cold line would be 2,200 + 500 = 2,700). Two shipments, 2,800 fen.
- not split (today's behaviour): one frozen parcel of 1,350 g with JD, 2,000 + 500 = 2,500 fen — the mask rides in
  dry ice.

Splitting costs a second first-kilogram fee and saves the cold-chain surcharge on the ambient weight: with four
masks (1,200 g) the split costs 410 + 2,500 = 2,910 fen against 3,000 for one 2,250 g frozen parcel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from app.domain.fulfillment.models import CarrierRate
from app.domain.fulfillment.routing import Courier, Item, Network, Request, Route, request_for, route
from app.domain.fulfillment.services import rate_of, site_of
from app.domain.inventory.pool import StockPool
from app.seed import CARRIERS, SKUS, WAREHOUSES, demo_sku, demo_warehouse, seed_carrier_rates
from ruleflows import Decisions
from tests.unit.app.test_routing import Sku, item, network, site, stock

MASK, DUMPLING, YOGURT, TOTE = "MASK-10", "DUMPLING-1K", "YOGURT-6", "GIFT-TOTE-01"


class Collected:
    """Stands in for a session: keeps what the seed adds."""

    def __init__(self) -> None:
        self.rows: list[Any] = []

    def add(self, row: Any) -> None:
        self.rows.append(row)


async def seeded_network() -> Network:
    """The demo warehouses, carriers and rate table, as routing sees them."""
    collected = Collected()
    await seed_carrier_rates(collected)  # type: ignore[arg-type]
    rates = tuple(rate_of(row) for row in collected.rows if isinstance(row, CarrierRate))
    sites = tuple(site_of(demo_warehouse(row)) for row in WAREHOUSES)
    return Network(sites, tuple(Courier(code, name, cold) for code, name, cold in CARRIERS), rates)


SEEDED_SKUS = {row[0]: demo_sku(row) for row in SKUS}


def plenty() -> StockPool:
    return StockPool({"SH01": {code: 100 for code in SEEDED_SKUS}}, {})


def shanghai(**fields: Any) -> Request:
    fields.setdefault("warehouse", "SH01")
    fields.setdefault("carrier_strategy", "cheapest")
    return Request(dest_province="上海", region="华东", **fields)


def parcels_of(decided: Route) -> list[tuple[str, str | None, list[str], int, int]]:
    """(zone, carrier, SKUs, weight, fee) of each parcel, in shipment order."""
    return [(p.temperature_zone, p.carrier, [i.sku for i in p.items], p.weight_g, p.fee_fen) for p in decided.parcels]


async def test_a_mixed_order_leaves_as_an_ambient_parcel_on_the_cheapest_carrier_and_a_frozen_one_on_cold_chain() -> (
    None
):
    decided = route(
        await seeded_network(),
        plenty(),
        shanghai(split_by_temperature=True),
        [item(MASK), item(DUMPLING)],
        SEEDED_SKUS,
    )

    assert decided.routed
    assert parcels_of(decided) == [
        ("ambient", "STO", [MASK], 300, 300),
        ("frozen", "JD", [DUMPLING], 1050, 2500),
    ]
    assert decided.fee_fen == 2800
    assert [p.warehouse for p in decided.parcels] == ["SH01", "SH01"]
    assert [p.promised_days for p in decided.parcels] == [1, 2]
    assert "按温层拆包" in decided.notes


async def test_without_the_split_the_mixed_order_stays_one_parcel_priced_on_the_cold_chain_line() -> None:
    decided = route(await seeded_network(), plenty(), shanghai(), [item(MASK), item(DUMPLING)], SEEDED_SKUS)

    assert parcels_of(decided) == [("frozen", "JD", [MASK, DUMPLING], 1350, 2500)]
    assert "按温层拆包" not in decided.notes


async def test_splitting_saves_the_cold_chain_surcharge_on_heavier_ambient_goods() -> None:
    net, lines = await seeded_network(), [item(MASK, 4), item(DUMPLING)]

    split = route(net, plenty(), shanghai(split_by_temperature=True), lines, SEEDED_SKUS)
    whole = route(net, plenty(), shanghai(), lines, SEEDED_SKUS)

    assert [p.fee_fen for p in split.parcels] == [300 + 110, 2500]
    assert [p.fee_fen for p in whole.parcels] == [2000 + 2 * 500]


async def test_chilled_and_frozen_goods_never_share_a_parcel() -> None:
    decided = route(
        await seeded_network(),
        plenty(),
        shanghai(split_by_temperature=True),
        [item(DUMPLING), item(YOGURT), item(MASK)],
        SEEDED_SKUS,
    )

    # Warmest first; the yoghurt (900 g) on JD's chilled line at its first kilogram.
    assert parcels_of(decided) == [
        ("ambient", "STO", [MASK], 300, 300),
        ("chilled", "JD", [YOGURT], 900, 2000),
        ("frozen", "JD", [DUMPLING], 1050, 2500),
    ]


async def test_an_order_of_one_zone_is_one_parcel_whether_or_not_the_flow_splits() -> None:
    net = await seeded_network()
    lines = [item(YOGURT, 2)]

    split = route(net, plenty(), shanghai(split_by_temperature=True), lines, SEEDED_SKUS)
    whole = route(net, plenty(), shanghai(), lines, SEEDED_SKUS)

    assert parcels_of(split) == parcels_of(whole) == [("chilled", "JD", [YOGURT], 1800, 2500)]
    assert split.notes == ()


async def test_a_flow_gift_goes_in_the_parcel_of_its_zone() -> None:
    decided = route(
        await seeded_network(),
        plenty(),
        shanghai(split_by_temperature=True, gifts=((TOTE, 1),)),
        [item(MASK), item(DUMPLING)],
        SEEDED_SKUS,
    )

    assert parcels_of(decided) == [
        ("ambient", "STO", [MASK, TOTE], 450, 300),
        ("frozen", "JD", [DUMPLING], 1050, 2500),
    ]


async def test_an_ambient_gift_with_a_frozen_only_order_rides_in_the_frozen_parcel_rather_than_alone() -> None:
    decided = route(
        await seeded_network(),
        plenty(),
        shanghai(split_by_temperature=True, gifts=((TOTE, 1),)),
        [item(DUMPLING)],
        SEEDED_SKUS,
    )

    # 1,050 g + the 150 g tote: still within the second kilogram, 2,000 + 500.
    assert parcels_of(decided) == [("frozen", "JD", [DUMPLING, TOTE], 1200, 2500)]


async def test_a_platforms_gift_line_does_not_make_a_parcel_of_its_own_either() -> None:
    gift_line = Item("L-TOTE", TOTE, 1, "帆布袋", is_gift=True)

    decided = route(
        await seeded_network(),
        plenty(),
        shanghai(split_by_temperature=True),
        [item(YOGURT), item(DUMPLING), gift_line],
        SEEDED_SKUS,
    )

    # No ambient parcel: the least cold one, the chilled, takes the tote.
    assert [(p.temperature_zone, [i.sku for i in p.items]) for p in decided.parcels] == [
        ("chilled", [YOGURT, TOTE]),
        ("frozen", [DUMPLING]),
    ]


def facts(**zones: str) -> dict[str, Sku]:
    return {code: Sku(500, zone) for code, zone in zones.items()}


def one_site(available: Mapping[str, int], bundles: Mapping[str, Sequence[tuple[str, int]]] | None = None) -> Any:
    return network([site("SH")]), stock({"SH": available}, bundles)


def test_a_cold_gift_with_an_ambient_only_order_makes_that_parcel_cold_as_without_the_split() -> None:
    net, pool = one_site({"BOOK": 5, "ICE": 5})
    request = Request("上海", "华东", split_by_temperature=True, gifts=(("ICE", 1),))

    decided = route(net, pool, request, [item("BOOK")], facts(BOOK="ambient", ICE="chilled"))

    assert [(p.temperature_zone, [i.sku for i in p.items]) for p in decided.parcels] == [("chilled", ["BOOK", "ICE"])]


def test_a_bundle_whose_parts_differ_in_zone_stays_in_one_parcel_at_its_coldest_part() -> None:
    bundles = {"HOTPOT": [("BEEF", 1), ("SAUCE", 1)]}
    net, pool = one_site({"BEEF": 5, "SAUCE": 5, "BOOK": 5}, bundles)
    skus = facts(HOTPOT="ambient", BEEF="frozen", SAUCE="ambient", BOOK="ambient")

    decided = route(net, pool, Request("上海", "华东", split_by_temperature=True), [item("HOTPOT"), item("BOOK")], skus)

    # The set is one line, reserved and deducted as one: its ambient sauce travels frozen with the beef.
    assert [(p.temperature_zone, [i.sku for i in p.items]) for p in decided.parcels] == [
        ("ambient", ["BOOK"]),
        ("frozen", ["HOTPOT"]),
    ]


def test_an_order_with_one_zone_out_of_stock_waits_whole() -> None:
    net, pool = one_site({"BOOK": 5, "CAKE": 0})

    decided = route(
        net,
        pool,
        Request("上海", "华东", split_by_temperature=True),
        [item("BOOK"), item("CAKE")],
        facts(BOOK="ambient", CAKE="frozen"),
    )

    assert decided.status == "out_of_stock"
    assert decided.parcels == ()
    assert decided.reason == "缺货：CAKE（未允许拆单）"


def test_a_split_across_warehouses_splits_each_warehouses_share_by_zone() -> None:
    net = network([site("SH", priority=1), site("BJ", "北京", priority=2)])
    pool = stock({"SH": {"BOOK": 1, "CAKE": 1}, "BJ": {"PEN": 1, "MILK": 1}})
    skus = facts(BOOK="ambient", CAKE="frozen", PEN="ambient", MILK="chilled")
    request = Request("上海", "华东", allow_split=True, split_by_temperature=True)

    decided = route(net, pool, request, [item("BOOK"), item("CAKE"), item("PEN"), item("MILK")], skus)

    assert [(p.warehouse, p.temperature_zone, [i.sku for i in p.items]) for p in decided.parcels] == [
        ("SH", "ambient", ["BOOK"]),
        ("SH", "frozen", ["CAKE"]),
        ("BJ", "ambient", ["PEN"]),
        ("BJ", "chilled", ["MILK"]),
    ]
    assert decided.notes == ("按仓拆单", "按温层拆包")


async def test_a_cold_parcel_no_cold_chain_candidate_carries_holds_the_order_for_no_carrier() -> None:
    request = shanghai(split_by_temperature=True, carrier_candidates=("ZTO", "STO"))

    decided = route(await seeded_network(), plenty(), request, [item(MASK), item(DUMPLING)], SEEDED_SKUS)

    assert decided.status == "no_carrier"


def test_the_carrier_actions_switch_becomes_the_routing_requests_split() -> None:
    decisions = Decisions().apply("assign_carrier", {"strategy": "cheapest", "split_by_temperature": True})

    assert request_for(decisions, {}, "上海").split_by_temperature
    assert not request_for(Decisions().apply("assign_carrier", {"code": "SF"}), {}, "上海").split_by_temperature
    # Decisions stored before the switch existed read as not splitting.
    assert not request_for(Decisions.from_dict({"carrier": "SF"}), {}, "上海").split_by_temperature

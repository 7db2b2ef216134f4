"""The pure routing module: which warehouse an order ships from, whole or split, with which carrier, at what fee."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from app.domain.fulfillment.routing import (
    Courier,
    Item,
    Network,
    Rate,
    Request,
    Route,
    RoutingError,
    Site,
    request_for,
    route,
)
from app.domain.inventory.pool import StockPool
from ruleflows import Decisions, Gift

# --- small factories --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sku:
    """A SKU master row as routing reads it."""

    weight_g: int = 500
    temperature_zone: str = "ambient"


def site(
    code: str,
    province: str = "上海",
    *,
    priority: int = 1,
    serves: Sequence[str] = (),
    per_order_fen: int = 0,
    per_item_fen: int = 0,
) -> Site:
    return Site(code, f"{code} 仓", province, priority, tuple(serves), per_order_fen, per_item_fen)


def courier(code: str, *, cold: bool = False, active: bool = True) -> Courier:
    return Courier(code, f"{code} 快递", supports_cold_chain=cold, is_active=active)


def rate(carrier: str, first_fee_fen: int, **fields: Any) -> Rate:
    return Rate(carrier, first_fee_fen, **fields)


def network(sites: Sequence[Site], couriers: Sequence[Courier] = (), rates: Sequence[Rate] = ()) -> Network:
    return Network(tuple(sites), tuple(couriers), tuple(rates))


def stock(
    available: Mapping[str, Mapping[str, int]], bundles: Mapping[str, Sequence[tuple[str, int]]] | None = None
) -> StockPool:
    return StockPool(available, bundles or {})


def item(sku: str, qty: int = 1, key: str | None = None) -> Item:
    return Item(key or f"L-{sku}", sku, qty, sku)


def request(**fields: Any) -> Request:
    fields.setdefault("dest_province", "上海")
    fields.setdefault("region", "华东")
    return Request(**fields)


def skus(*codes: str, weight_g: int = 500, zone: str = "ambient") -> dict[str, Sku]:
    return {code: Sku(weight_g, zone) for code in codes}


def decide(
    net: Network,
    pool: StockPool,
    items: Sequence[Item],
    facts: Mapping[str, Sku] | None = None,
    **fields: Any,
) -> Route:
    return route(net, pool, request(**fields), items, facts if facts is not None else skus(*{i.sku for i in items}))


def warehouses_of(decided: Route) -> list[str]:
    return [parcel.warehouse for parcel in decided.parcels]


# --- warehouse strategies ---------------------------------------------------------------------------------


def test_nearest_ships_from_the_warehouse_in_the_receivers_province_first() -> None:
    net = network([site("BJ", "北京", priority=1), site("SH", "上海", priority=9)])
    pool = stock({"BJ": {"A": 5}, "SH": {"A": 5}})

    decided = decide(net, pool, [item("A")], warehouse_strategy="nearest")

    assert warehouses_of(decided) == ["SH"]
    assert decided.ranked == ("SH", "BJ")


def test_nearest_ranks_the_other_serving_warehouses_by_priority() -> None:
    net = network([site("GZ", "广东", priority=3), site("BJ", "北京", priority=2), site("SH", "上海", priority=9)])
    pool = stock({"BJ": {"A": 5}, "GZ": {"A": 5}})

    decided = decide(net, pool, [item("A")], warehouse_strategy="nearest")

    assert decided.ranked == ("SH", "BJ", "GZ")
    assert warehouses_of(decided) == ["BJ"]


def test_nearest_never_ships_from_a_warehouse_that_does_not_serve_the_region() -> None:
    net = network([site("BJ", "北京", serves=["华北"]), site("GZ", "广东", serves=["华南", "华东"], priority=5)])
    pool = stock({"BJ": {"A": 5}, "GZ": {"A": 5}})

    decided = decide(net, pool, [item("A")], warehouse_strategy="nearest")

    assert decided.ranked == ("GZ",)
    assert warehouses_of(decided) == ["GZ"]


def test_nearest_finds_the_same_province_warehouse_for_a_receiver_given_by_full_province_name() -> None:
    net = network([site("BJ", "北京", priority=1), site("SH", "上海", priority=9)])
    pool = stock({"BJ": {"A": 5}, "SH": {"A": 5}})

    decided = decide(net, pool, [item("A")], warehouse_strategy="nearest", dest_province="上海市")

    assert warehouses_of(decided) == ["SH"]


def test_cheapest_ships_from_the_warehouse_whose_handling_and_carrier_fee_cost_least() -> None:
    net = network(
        [site("SH", "上海", per_order_fen=500), site("HZ", "浙江", per_order_fen=100, per_item_fen=100)],
        [courier("ZTO")],
        [rate("ZTO", 800, origin_province="上海"), rate("ZTO", 1000, origin_province="浙江")],
    )
    pool = stock({"SH": {"A": 9}, "HZ": {"A": 9}})

    # SH: 500 + 800 = 1300; HZ: 100 + 2 × 100 + 1000 = 1300 → tie broken by priority then code: HZ.
    assert decide(net, pool, [item("A", 2)], warehouse_strategy="cheapest").ranked == ("HZ", "SH")
    # One more unit costs HZ another 100 of handling: SH is cheaper.
    assert warehouses_of(decide(net, pool, [item("A", 3)], warehouse_strategy="cheapest")) == ["SH"]


def test_cheapest_ranks_a_warehouse_no_carrier_serves_last_however_cheap_its_handling() -> None:
    net = network(
        [site("XJ", "新疆", priority=1), site("SH", "上海", priority=2, per_order_fen=5000)],
        [courier("ZTO")],
        [rate("ZTO", 800, origin_province="上海")],
    )
    pool = stock({"XJ": {"A": 9}, "SH": {"A": 9}})

    decided = decide(net, pool, [item("A")], warehouse_strategy="cheapest")

    assert decided.ranked == ("SH", "XJ")
    assert warehouses_of(decided) == ["SH"]


def test_priority_ranks_the_warehouses_serving_the_region_first_then_the_rest_by_priority_and_code() -> None:
    net = network(
        [
            site("BJ", "北京", priority=1, serves=["华北"]),
            site("SZ", "广东", priority=5),
            site("GZ", "广东", priority=5),
            site("SH", "上海", priority=7, serves=["华东"]),
        ]
    )
    pool = stock({code: {"A": 1} for code in ("BJ", "SZ", "GZ", "SH")})

    decided = decide(net, pool, [item("A")], warehouse_strategy="priority")

    assert decided.ranked == ("GZ", "SZ", "SH", "BJ")
    assert warehouses_of(decided) == ["GZ"]


def test_priority_falls_back_to_a_warehouse_outside_the_region_when_only_it_has_the_stock() -> None:
    net = network([site("SH", "上海", priority=1, serves=["华东"]), site("BJ", "北京", priority=2, serves=["华北"])])
    pool = stock({"SH": {"A": 0}, "BJ": {"A": 3}})

    assert warehouses_of(decide(net, pool, [item("A")])) == ["BJ"]


def test_a_fixed_warehouse_ships_the_order_whatever_the_strategy() -> None:
    net = network([site("SH", "上海", priority=1), site("BJ", "北京", priority=9)])
    pool = stock({"SH": {"A": 5}, "BJ": {"A": 5}})

    decided = decide(net, pool, [item("A")], warehouse="BJ", warehouse_strategy="nearest")

    assert decided.ranked == ("BJ",)
    assert warehouses_of(decided) == ["BJ"]


def test_a_fixed_warehouse_that_is_unknown_or_inactive_is_refused_with_a_reason() -> None:
    # The network holds only active warehouses, so an inactive one is simply not in it.
    net = network([site("SH")])

    with pytest.raises(RoutingError) as refused:
        decide(net, stock({"SH": {"A": 5}}), [item("A")], warehouse="OLD")

    assert refused.value.reason == "规则流指定的仓库 OLD 不存在或已停用"


# --- whole order or split (拆单) ---------------------------------------------------------------------------


def test_an_order_ships_whole_from_a_later_warehouse_rather_than_split() -> None:
    net = network([site("SH", priority=1), site("BJ", "北京", priority=2)])
    pool = stock({"SH": {"A": 5}, "BJ": {"A": 5, "B": 5}})

    decided = decide(net, pool, [item("A"), item("B")], allow_split=True)

    assert decided.routed
    assert not decided.split
    assert warehouses_of(decided) == ["BJ"]
    assert decided.plan == {"L-A": "BJ", "L-B": "BJ"}


def test_an_order_no_warehouse_can_ship_whole_is_split_when_the_flow_allows_it() -> None:
    net = network([site("SH", priority=1), site("BJ", "北京", priority=2)])
    pool = stock({"SH": {"A": 5}, "BJ": {"B": 5}})

    decided = decide(net, pool, [item("A"), item("B")], allow_split=True)

    assert decided.routed
    assert decided.split
    assert decided.plan == {"L-A": "SH", "L-B": "BJ"}
    assert [[i.sku for i in parcel.items] for parcel in decided.parcels] == [["A"], ["B"]]
    assert "按仓拆单" in decided.notes


def test_a_split_keeps_the_largest_line_in_the_preferred_warehouse() -> None:
    net = network([site("SH", priority=1), site("BJ", "北京", priority=2)])
    # SH could hold either line but not both; the 4 units stay there, the single unit goes to BJ.
    pool = stock({"SH": {"P": 4}, "BJ": {"P": 4}})
    lines = [item("P", 1, key="small"), item("P", 4, key="large")]

    decided = decide(net, pool, lines, allow_split=True)

    assert decided.plan == {"large": "SH", "small": "BJ"}
    assert warehouses_of(decided) == ["SH", "BJ"]


def test_an_order_that_would_need_a_split_is_short_when_the_flow_does_not_allow_splitting() -> None:
    net = network([site("SH", priority=1), site("BJ", "北京", priority=2)])
    pool = stock({"SH": {"A": 5}, "BJ": {"B": 5}})

    decided = decide(net, pool, [item("A"), item("B")])

    assert decided.status == "out_of_stock"
    assert decided.reason == "缺货：没有一个仓能整单发货（未允许拆单）"


def test_a_fixed_warehouse_never_splits() -> None:
    net = network([site("SH", priority=1), site("BJ", "北京", priority=2)])
    pool = stock({"SH": {"A": 5}, "BJ": {"B": 5}})

    decided = decide(net, pool, [item("A"), item("B")], warehouse="SH", allow_split=True)

    assert decided.status == "out_of_stock"
    assert decided.reason == "缺货：B"


def test_the_shortage_reason_lists_the_skus_no_warehouse_has_enough_of() -> None:
    net = network([site("SH", priority=1), site("BJ", "北京", priority=2)])
    pool = stock({"SH": {"A": 5, "C": 1}, "BJ": {"B": 1}})

    decided = decide(net, pool, [item("A"), item("C", 2), item("B", 3)], allow_split=True)

    assert decided.status == "out_of_stock"
    assert decided.reason == "缺货：B、C"
    assert not decided.parcels


def test_the_shortage_reason_says_splitting_was_not_allowed() -> None:
    net = network([site("SH")])

    decided = decide(net, stock({"SH": {}}), [item("A")])

    assert decided.reason == "缺货：A（未允许拆单）"


def test_routing_never_changes_the_pool_it_is_given() -> None:
    net = network([site("SH", priority=1), site("BJ", "北京", priority=2)])
    pool = stock({"SH": {"A": 5}, "BJ": {"B": 5}})

    decide(net, pool, [item("A", 5), item("B", 5)], allow_split=True, gifts=(("A", 1),))

    assert pool.available == {"SH": {"A": 5}, "BJ": {"B": 5}}


# --- bundles ----------------------------------------------------------------------------------------------


def test_a_bundle_ships_from_the_warehouse_that_has_all_its_components() -> None:
    net = network([site("SH", priority=1), site("BJ", "北京", priority=2)])
    bundles = {"SET": [("CUP", 2), ("LID", 1)]}
    pool = stock({"SH": {"CUP": 3, "LID": 5}, "BJ": {"CUP": 4, "LID": 2}}, bundles)

    decided = decide(net, pool, [item("SET", 2)])

    assert warehouses_of(decided) == ["BJ"]


def test_two_lines_sharing_a_component_are_counted_together() -> None:
    net = network([site("SH", priority=1), site("BJ", "北京", priority=2)])
    bundles = {"SET": [("CUP", 2)]}
    pool = stock({"SH": {"CUP": 3}, "BJ": {"CUP": 5}}, bundles)

    # 2 cups for the set plus 2 loose ones: SH's 3 would do for either line alone, not for both.
    decided = decide(net, pool, [item("SET", 1), item("CUP", 2)])

    assert warehouses_of(decided) == ["BJ"]


def test_an_order_whose_lines_together_need_more_of_a_component_than_anyone_has_is_short() -> None:
    net = network([site("SH")])
    pool = stock({"SH": {"CUP": 3}}, {"SET": [("CUP", 2)]})

    decided = decide(net, pool, [item("SET", 1), item("CUP", 2)])

    assert decided.status == "out_of_stock"
    assert decided.reason == "缺货：没有一个仓能整单发货（未允许拆单）"


# --- gifts (满赠) -----------------------------------------------------------------------------------------


def test_a_gift_ships_from_the_first_parcels_warehouse() -> None:
    net = network([site("SH", priority=1), site("BJ", "北京", priority=2)])
    pool = stock({"SH": {"A": 5, "G": 5}, "BJ": {"B": 5, "G": 5}})
    facts = skus("A", "B", "G")

    decided = decide(net, pool, [item("A"), item("B")], facts, allow_split=True, gifts=(("G", 1), ("G", 1)))

    assert [(gift.sku, gift.qty, gift.is_gift) for gift in decided.gifts] == [("G", 2, True)]
    assert [[i.sku for i in parcel.items] for parcel in decided.parcels] == [["A", "G"], ["B"]]


def test_a_gift_out_of_stock_is_left_out_with_a_note_and_the_order_still_ships() -> None:
    net = network([site("SH")])
    pool = stock({"SH": {"A": 1, "G": 1}})

    decided = decide(net, pool, [item("A")], skus("A", "G"), gifts=(("G", 2),))

    assert decided.routed
    assert decided.gifts == ()
    assert decided.notes == ("赠品 G 库存不足，未赠送",)


def test_a_gift_only_takes_what_the_order_itself_left() -> None:
    net = network([site("SH")])
    pool = stock({"SH": {"A": 3}})

    decided = decide(net, pool, [item("A", 3)], skus("A"), gifts=(("A", 1),))

    assert decided.gifts == ()
    assert decided.notes == ("赠品 A 库存不足，未赠送",)


def test_a_gift_that_is_not_a_known_sku_is_refused_with_a_reason() -> None:
    net = network([site("SH")])

    with pytest.raises(RoutingError) as refused:
        decide(net, stock({"SH": {"A": 1}}), [item("A")], skus("A"), gifts=(("NOPE", 1), ("GHOST", 1)))

    assert refused.value.reason == "赠品 GHOST、NOPE 不是已登记的商品"


def test_a_gifts_weight_counts_in_its_parcels_weight_and_fee() -> None:
    net = network([site("SH")], [courier("ZTO")], [rate("ZTO", 800, extra_fee_fen_per_kg=200)])
    pool = stock({"SH": {"A": 1, "G": 1}})
    facts = {"A": Sku(900), "G": Sku(300)}

    decided = decide(net, pool, [item("A")], facts, gifts=(("G", 1),), carrier_strategy="cheapest")

    assert decided.parcels[0].weight_g == 1200
    assert decided.fee_fen == 1000


def test_a_gift_title_comes_from_the_sku_master() -> None:
    net = network([site("SH")])
    pool = stock({"SH": {"A": 1, "G": 1}})

    decided = route(net, pool, request(gifts=(("G", 1),)), [item("A")], skus("A", "G"), gift_titles={"G": "小样"})

    assert decided.gifts[0].title == "小样"


# --- carriers ---------------------------------------------------------------------------------------------


def one_warehouse() -> tuple[list[Site], StockPool]:
    return [site("SH", "上海")], stock({"SH": {"A": 9, "COLD": 9}})


def lanes(**offers: tuple[int, int]) -> tuple[Network, StockPool]:
    """One warehouse and one rate line per carrier: ``CODE=(fee_fen, promised_days)``."""
    sites, pool = one_warehouse()
    rates = [rate(code, fee, promised_days=days) for code, (fee, days) in offers.items()]
    return network(sites, [courier(code) for code in offers], rates), pool


def test_a_fixed_carrier_ships_the_parcel_at_its_rate() -> None:
    sites, pool = one_warehouse()
    net = network(sites, [courier("SF"), courier("ZTO")], [rate("SF", 2300, promised_days=1), rate("ZTO", 800)])

    parcel = decide(net, pool, [item("A")], carrier="SF").parcels[0]

    assert (parcel.carrier, parcel.fee_fen, parcel.promised_days) == ("SF", 2300, 1)


def test_a_fixed_carrier_without_a_rate_line_ships_at_no_fee_and_no_promise() -> None:
    sites, pool = one_warehouse()
    net = network(sites, [courier("EMS")], [])

    decided = decide(net, pool, [item("A")], carrier="EMS")

    assert decided.routed
    assert (decided.parcels[0].carrier, decided.fee_fen, decided.parcels[0].promised_days) == ("EMS", 0, None)


@pytest.mark.parametrize("carriers", [[], [courier("SF", active=False)]], ids=["unknown", "inactive"])
def test_a_fixed_carrier_that_is_unknown_or_inactive_is_refused_with_a_reason(carriers: list[Courier]) -> None:
    sites, pool = one_warehouse()
    net = network(sites, carriers, [rate("SF", 2300)])

    with pytest.raises(RoutingError) as refused:
        decide(net, pool, [item("A")], carrier="SF")

    assert refused.value.reason == "规则流指定的快递 SF 不存在或已停用"


def test_a_chilled_parcel_is_refused_by_a_fixed_carrier_without_cold_chain() -> None:
    sites, pool = one_warehouse()
    net = network(sites, [courier("ZTO")], [rate("ZTO", 800)])

    with pytest.raises(RoutingError) as refused:
        decide(net, pool, [item("COLD")], skus("COLD", zone="chilled"), carrier="ZTO")

    assert refused.value.reason == "快递 ZTO 不承运冷藏温层商品"


def test_cheapest_takes_the_carrier_with_the_lowest_fee() -> None:
    net, pool = lanes(SF=(2300, 1), ZTO=(800, 3), YTO=(900, 2))

    parcel = decide(net, pool, [item("A")], carrier_strategy="cheapest").parcels[0]

    assert (parcel.carrier, parcel.fee_fen, parcel.promised_days) == ("ZTO", 800, 3)


def test_cheapest_chooses_only_among_the_flows_candidates() -> None:
    net, pool = lanes(SF=(2300, 3), ZTO=(800, 3), YTO=(900, 3))

    decided = decide(net, pool, [item("A")], carrier_strategy="cheapest", carrier_candidates=("SF", "YTO"))

    assert decided.parcels[0].carrier == "YTO"


def test_cheapest_never_picks_an_inactive_carrier() -> None:
    sites, pool = one_warehouse()
    net = network(sites, [courier("ZTO", active=False), courier("SF")], [rate("ZTO", 800), rate("SF", 2300)])

    assert decide(net, pool, [item("A")], carrier_strategy="cheapest").parcels[0].carrier == "SF"


def test_fastest_takes_the_carrier_with_the_shortest_promise_then_the_lower_fee() -> None:
    net, pool = lanes(SF=(2300, 1), JD=(1800, 1), ZTO=(800, 3))

    parcel = decide(net, pool, [item("A")], carrier_strategy="fastest").parcels[0]

    assert (parcel.carrier, parcel.fee_fen, parcel.promised_days) == ("JD", 1800, 1)


def test_an_urgent_order_takes_the_cheapest_carrier_promising_two_days_or_less() -> None:
    net, pool = lanes(SF=(2300, 1), YTO=(1200, 2), ZTO=(800, 3))

    assert decide(net, pool, [item("A")], carrier_strategy="cheapest").parcels[0].carrier == "ZTO"
    assert decide(net, pool, [item("A")], carrier_strategy="cheapest", urgent=True).parcels[0].carrier == "YTO"


def test_an_urgent_order_no_carrier_can_deliver_in_two_days_is_held_for_no_carrier() -> None:
    sites, pool = one_warehouse()
    net = network(sites, [courier("ZTO")], [rate("ZTO", 800, promised_days=3)])

    decided = decide(net, pool, [item("A")], carrier_strategy="cheapest", urgent=True)

    assert decided.status == "no_carrier"
    assert decided.reason == "没有能在承诺时效内送达的快递"
    assert not decided.routed


def test_a_chilled_parcel_goes_only_with_a_cold_chain_carrier() -> None:
    sites, pool = one_warehouse()
    net = network(sites, [courier("ZTO"), courier("SFC", cold=True)], [rate("ZTO", 800), rate("SFC", 3000)])
    facts = {"A": Sku(), "COLD": Sku(temperature_zone="chilled")}

    chilled = decide(net, pool, [item("A"), item("COLD")], facts, carrier_strategy="cheapest").parcels[0]
    ambient = decide(net, pool, [item("A")], facts, carrier_strategy="cheapest").parcels[0]

    assert (chilled.temperature_zone, chilled.carrier) == ("chilled", "SFC")
    assert (ambient.temperature_zone, ambient.carrier) == ("ambient", "ZTO")


def test_a_frozen_parcel_with_no_cold_chain_carrier_is_held_for_no_carrier() -> None:
    sites, pool = one_warehouse()
    net = network(sites, [courier("ZTO")], [rate("ZTO", 800)])

    decided = decide(net, pool, [item("COLD")], skus("COLD", zone="frozen"), carrier_strategy="fastest")

    assert decided.status == "no_carrier"


def test_an_order_no_carrier_serves_is_held_for_no_carrier() -> None:
    sites, pool = one_warehouse()
    net = network(sites, [courier("ZTO")], [rate("ZTO", 800, dest_province="北京")])

    decided = decide(net, pool, [item("A")], carrier_strategy="cheapest")

    assert decided.status == "no_carrier"
    assert decided.ranked == ("SH",)


def test_every_parcel_of_a_split_gets_its_own_carrier_from_its_own_warehouse() -> None:
    net = network(
        [site("SH", "上海", priority=1), site("BJ", "北京", priority=2)],
        [courier("ZTO"), courier("SF")],
        [rate("ZTO", 800, origin_province="上海"), rate("SF", 1500, origin_province="北京")],
    )
    pool = stock({"SH": {"A": 1}, "BJ": {"B": 1}})

    decided = decide(net, pool, [item("A"), item("B")], allow_split=True, carrier_strategy="cheapest")

    assert [(p.warehouse, p.carrier, p.fee_fen) for p in decided.parcels] == [("SH", "ZTO", 800), ("BJ", "SF", 1500)]
    assert decided.fee_fen == 2300


def test_a_split_with_one_parcel_no_carrier_serves_is_held_for_no_carrier() -> None:
    net = network(
        [site("SH", "上海", priority=1), site("BJ", "北京", priority=2)],
        [courier("ZTO")],
        [rate("ZTO", 800, origin_province="上海")],
    )
    pool = stock({"SH": {"A": 1}, "BJ": {"B": 1}})

    decided = decide(net, pool, [item("A"), item("B")], allow_split=True, carrier_strategy="cheapest")

    assert decided.status == "no_carrier"


def test_an_order_whose_flow_names_no_carrier_is_routed_without_one() -> None:
    sites, pool = one_warehouse()
    net = network(sites, [courier("ZTO")], [rate("ZTO", 800)])

    decided = decide(net, pool, [item("A")])

    assert decided.routed
    assert (decided.parcels[0].carrier, decided.fee_fen) == (None, 0)


# --- fees from the rate tables ----------------------------------------------------------------------------


def fee_for(
    weight_g: int, rates: Sequence[Rate], *, origin: str = "上海", dest: str = "上海", zone: str = "ambient"
) -> int:
    carriers = sorted({r.carrier_code for r in rates})
    net = network([site("W", origin)], [courier(code, cold=True) for code in carriers], rates)
    quotes = net.quotes(origin_province=origin, dest_province=dest, weight_g=weight_g, temperature_zone=zone)
    assert quotes, "no carrier quoted"
    return quotes[0].fee_fen


@pytest.mark.parametrize(
    ("weight_g", "fee"),
    [(0, 800), (1000, 800), (1001, 1000), (2000, 1000), (2001, 1200), (5500, 1800)],
)
def test_a_fee_is_the_first_kilogram_plus_every_further_started_kilogram(weight_g: int, fee: int) -> None:
    assert fee_for(weight_g, [rate("ZTO", 800, extra_fee_fen_per_kg=200)]) == fee


def test_a_parcel_is_priced_by_the_weight_band_it_falls_in() -> None:
    rates = [
        rate("ZTO", 800, max_weight_g=3000, extra_fee_fen_per_kg=200),
        rate("ZTO", 2000, min_weight_g=3000, extra_fee_fen_per_kg=100),
    ]

    assert fee_for(2999, rates) == 800 + 2 * 200
    assert fee_for(3000, rates) == 2000 + 2 * 100


def test_a_parcel_heavier_than_every_band_has_no_quote() -> None:
    net = network([site("W")], [courier("ZTO")], [rate("ZTO", 800, max_weight_g=3000)])

    assert net.quotes(origin_province="上海", dest_province="上海", weight_g=3000) == []


def test_the_most_specific_rate_line_wins() -> None:
    rates = [
        rate("ZTO", 1000),
        rate("ZTO", 900, temperature_zone="chilled"),
        rate("ZTO", 700, origin_province="上海"),
        rate("ZTO", 600, dest_province="北京"),
        rate("ZTO", 500, origin_province="上海", dest_province="北京"),
    ]

    assert fee_for(500, rates, dest="广东") == 700
    assert fee_for(500, rates, origin="浙江", dest="广东") == 1000
    assert fee_for(500, rates, origin="浙江", dest="广东", zone="chilled") == 900
    assert fee_for(500, rates, origin="浙江", dest="北京") == 600
    assert fee_for(500, rates, dest="北京") == 500


def test_a_destination_line_outranks_an_origin_line() -> None:
    rates = [rate("ZTO", 700, origin_province="上海"), rate("ZTO", 600, dest_province="北京")]

    assert fee_for(500, rates, dest="北京") == 600


def test_a_cold_parcel_takes_its_cold_chain_line_over_a_more_specific_any_temperature_line() -> None:
    rates = [
        rate("SF", 1000, origin_province="上海", dest_province="上海"),
        rate("SF", 2200, temperature_zone="chilled"),
        rate("SF", 2600, temperature_zone="frozen"),
    ]

    assert fee_for(500, rates, zone="chilled") == 2200
    assert fee_for(500, rates, zone="frozen") == 2600
    assert fee_for(500, rates) == 1000


def test_a_cold_chain_carrier_without_a_line_for_the_zone_prices_it_on_its_any_temperature_lines() -> None:
    assert fee_for(500, [rate("SFC", 3000), rate("SFC", 1800, dest_province="上海")], zone="frozen") == 1800


def test_a_full_province_name_matches_a_rate_line_written_with_the_short_name() -> None:
    rates = [rate("ZTO", 1000), rate("ZTO", 600, origin_province="上海", dest_province="北京")]

    assert fee_for(500, rates, origin="上海市", dest="北京市") == 600


def test_a_receiver_given_by_full_province_name_pays_the_same_fee_as_by_short_name() -> None:
    net = network([site("SH", "上海")], [courier("ZTO")], [rate("ZTO", 1000), rate("ZTO", 600, dest_province="北京")])
    pool = stock({"SH": {"A": 1}})

    long = decide(net, pool, [item("A")], carrier_strategy="cheapest", dest_province="北京市", region="华北")
    short = decide(net, pool, [item("A")], carrier_strategy="cheapest", dest_province="北京", region="华北")

    assert long.fee_fen == short.fee_fen == 600


# --- the stock pool ---------------------------------------------------------------------------------------


def test_taking_from_the_pool_lowers_each_component_and_giving_back_restores_it() -> None:
    pool = stock({"SH": {"CUP": 5, "LID": 5}}, {"SET": [("CUP", 2), ("LID", 1)]})
    items = [item("SET", 2), item("CUP", 1)]

    taken = pool.take({"L-SET": "SH", "L-CUP": "SH"}, items)

    assert pool.available == {"SH": {"CUP": 0, "LID": 3}}
    assert not pool.fits("SH", [item("CUP", 1)])
    pool.give_back(taken)
    assert pool.available == {"SH": {"CUP": 5, "LID": 5}}


def test_the_pool_shows_a_bundle_as_the_number_of_whole_bundles_its_components_make() -> None:
    pool = stock({"SH": {"CUP": 5, "LID": 4}, "BJ": {"CUP": 1}}, {"SET": [("CUP", 2), ("LID", 1)]})

    assert pool.by_warehouse(["SET", "CUP", "SET"], ["SH", "BJ", "GZ"]) == {
        "SH": {"CUP": 5, "SET": 2},
        "BJ": {"CUP": 1, "SET": 0},
        "GZ": {"CUP": 0, "SET": 0},
    }


def test_a_pool_is_a_copy_of_the_stock_it_was_built_from() -> None:
    available = {"SH": {"A": 2}}
    pool = stock(available)

    pool.take({"L-A": "SH"}, [item("A", 2)])

    assert available == {"SH": {"A": 2}}


# --- the request of a flow's decisions --------------------------------------------------------------------


def test_a_flows_decisions_become_a_routing_request() -> None:
    decisions = Decisions(
        warehouse="SH",
        warehouse_strategy="nearest",
        split_by_warehouse=True,
        carrier="SF",
        carrier_strategy="fastest",
        carrier_candidates=("SF", "JD"),
        gifts=(Gift("G1", 2), Gift("G2", 1)),
    )

    made = request_for(decisions, {"region": "华东", "is_urgent": True}, "上海")

    assert made == Request(
        dest_province="上海",
        region="华东",
        warehouse="SH",
        warehouse_strategy="nearest",
        allow_split=True,
        carrier="SF",
        carrier_strategy="fastest",
        carrier_candidates=("SF", "JD"),
        urgent=True,
        gifts=(("G1", 2), ("G2", 1)),
    )
    assert made.wants_carrier
    assert made.gift_skus == {"G1", "G2"}


def test_a_flow_that_decided_nothing_about_routing_ranks_by_priority_with_no_carrier() -> None:
    made = request_for(Decisions(), {}, "北京")

    assert made == Request(dest_province="北京", region=None)
    assert made.warehouse_strategy == "priority"
    assert not made.allow_split
    assert not made.wants_carrier

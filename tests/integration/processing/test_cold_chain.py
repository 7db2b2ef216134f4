"""Cold-chain fees through processing: a chilled or frozen parcel is priced on its carrier's cold-chain line, even
where an in-province line (an ambient price) is more specific; an ambient parcel on the same lane keeps it.

The demo network: SF charges ¥10 + ¥2/kg within 上海 and ¥22 + ¥5/kg chilled or frozen; JD ¥8 + ¥2/kg within
上海 and ¥20 + ¥5/kg cold; only SF and JD carry cold goods."""

from __future__ import annotations

import pytest
from sqlmodel import select

from app.domain.fulfillment.models import Shipment
from tests.integration.processing.conftest import generic_order
from tests.integration.processing.test_actions import ROUTE, land, linear_flow, process, publish

WAREHOUSE = ("assign_warehouse", {"strategy": "nearest"})


async def parcels(db, order_id: int) -> list[tuple[str | None, int, int]]:
    """(carrier, fee in fen, weight in grams) of each of the order's shipments."""
    async with db.reading() as session:
        shipments = (await session.exec(select(Shipment).where(Shipment.order_id == order_id))).all()
    return [(s.carrier_code, s.fee_fen, s.weight_g) for s in shipments]


@pytest.mark.parametrize(
    ("sku", "weight_g"),
    [("YOGURT-6", 1800), ("DUMPLING-1K", 2100)],
)
async def test_a_cold_parcel_with_a_fixed_carrier_is_priced_on_its_cold_chain_line(
    db, settings, demo_data, sku, weight_g
):
    await publish(db, linear_flow(("approve", {}), WAREHOUSE, ("assign_carrier", {"code": "SF"})))
    order_id = await land(db, settings, generic_order(f"C-{sku}", lines=[(sku, 2, 3990)], province="上海"))

    assert (await process(db, settings, order_id))["state"] == "processed"

    # ¥22 first kilogram + ¥5 for each further started one, not SF's ¥10 + ¥2 in-province ambient price.
    extra_kg = (weight_g - 1) // 1000
    assert await parcels(db, order_id) == [("SF", 2200 + 500 * extra_kg, weight_g)]


async def test_the_cheapest_carrier_for_a_chilled_parcel_is_chosen_among_cold_chain_prices(db, settings, demo_data):
    await publish(db, linear_flow(*ROUTE))
    chilled = await land(db, settings, generic_order("C1", lines=[("YOGURT-6", 2, 3990)], province="上海"))
    ambient = await land(db, settings, generic_order("C2", lines=[("MASK-10", 6, 9900)], province="上海"))

    assert (await process(db, settings, chilled))["state"] == "processed"
    assert (await process(db, settings, ambient))["state"] == "processed"

    # JD's cold line (¥20 + ¥5) undercuts SF's (¥22 + ¥5); neither in-province ambient price (¥12, ¥10) applies.
    assert await parcels(db, chilled) == [("JD", 2500, 1800)]
    # The same lane's ambient parcel keeps the in-province price of the cheapest carrier (STO ¥3.00 + ¥1.10/kg).
    assert await parcels(db, ambient) == [("STO", 300 + 110, 1800)]

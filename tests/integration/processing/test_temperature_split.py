"""按温层拆包 through processing: a flow whose carrier action splits by temperature sends a mixed order's ambient and
frozen goods as two shipments, each with its own carrier, fee and waybill from the sandbox carrier; without the
switch the order stays one parcel, priced cold-chain. The shipped four-stage flow splits.

The demo network (上海仓 SH01 to a receiver in 上海): a 300 g mask goes with STO in-province at ¥3.00, a 1,050 g bag of
frozen dumplings with JD on its cold-chain line at ¥20 + ¥5; together, in one frozen parcel of 1,350 g, ¥25.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from app.db import Database
from app.domain.accounts.models import TokenScope
from app.domain.accounts.services import SYSTEM
from app.domain.flows import services as flows
from app.domain.flows.models import Flow, FlowBacktest
from app.domain.fulfillment.models import Shipment, Waybill
from app.domain.orders.models import Order, OrderStatus
from tests.integration.conftest import serving
from tests.integration.processing.conftest import deliver, generic_order, wait_for
from tests.integration.processing.test_actions import held_stock, land, linear_flow, process, publish
from tests.integration.processing.test_backtest_predicts_production import carried_out, predicted

MIXED = [("MASK-10", 1, 9900), ("DUMPLING-1K", 1, 4590)]


def route(*, split: bool | None) -> list[tuple[str, dict[str, Any]]]:
    carrier: dict[str, Any] = {"strategy": "cheapest"}
    if split is not None:
        carrier["split_by_temperature"] = split
    return [("approve", {}), ("assign_warehouse", {"strategy": "nearest"}), ("assign_carrier", carrier)]


async def shipments_of(db: Database, order_id: int) -> list[Shipment]:
    async with db.reading() as session:
        query = select(Shipment).where(Shipment.order_id == order_id).order_by(col(Shipment.seq))
        return list((await session.exec(query)).all())


def parcels(shipments: list[Shipment]) -> list[tuple[int, str, str | None, str, int, int | None, list[str]]]:
    """(seq, warehouse, carrier, zone, fee, promised days, SKUs) of each shipment."""
    return [
        (
            s.seq,
            s.warehouse_code,
            s.carrier_code,
            s.temperature_zone,
            s.fee_fen,
            s.promised_days,
            [line["sku"] for line in s.lines],
        )
        for s in shipments
    ]


async def test_a_mixed_order_routes_into_an_ambient_and_a_frozen_shipment_each_with_its_waybill(
    db, settings, demo_data, arq_worker
):
    await publish(db, linear_flow(*route(split=True), ("request_waybill", {})))
    async with serving(settings) as server:
        order_id = (await deliver(server, "webshop", "webshop", generic_order("T1", lines=MIXED, province="上海")))[
            "order_id"
        ]

        async def waybilled(session):
            order = await session.get(Order, order_id)
            return order is not None and order.status == OrderStatus.waybilled

        await wait_for(db, waybilled, what="both parcels waybilled")

    shipments = await shipments_of(db, order_id)
    assert parcels(shipments) == [
        (1, "SH01", "STO", "ambient", 300, 1, ["MASK-10"]),
        (2, "SH01", "JD", "frozen", 2500, 2, ["DUMPLING-1K"]),
    ]
    async with db.reading() as session:
        waybills = (await session.exec(select(Waybill).order_by(col(Waybill.order_ref)))).all()
    # One number per parcel, each from the carrier that carries it.
    assert [(w.order_ref, w.carrier_code, w.warehouse_code) for w in waybills] == [
        (f"RF{order_id:08d}-1", "STO", "SH01"),
        (f"RF{order_id:08d}-2", "JD", "SH01"),
    ]
    assert [s.waybill_no for s in shipments] == [w.waybill_no for w in waybills]
    assert len({w.waybill_no for w in waybills}) == 2
    # The stock is reserved line by line in the parcels' warehouse, as for any order.
    assert await held_stock(db, order_id) == [("1", "SH01", "MASK-10", 1), ("2", "SH01", "DUMPLING-1K", 1)]


async def test_without_the_switch_the_mixed_order_stays_one_cold_chain_parcel(db, settings, demo_data):
    # A document written before the switch existed, and one that says no: the same single parcel.
    for n, split in enumerate((None, False)):
        await publish(db, linear_flow(*route(split=split)))
        order_id = await land(db, settings, generic_order(f"T2-{n}", lines=MIXED, province="上海", buyer=f"b{n}"))

        assert (await process(db, settings, order_id))["state"] == "processed"

        assert parcels(await shipments_of(db, order_id)) == [
            (1, "SH01", "JD", "frozen", 2500, 2, ["MASK-10", "DUMPLING-1K"]),
        ]


async def test_the_shipped_four_stage_flow_sends_ambient_and_frozen_goods_apart(db, settings, demo):
    order_id = await land(db, settings, generic_order("T3", lines=MIXED, province="上海"))

    assert (await process(db, settings, order_id))["state"] == "processed"

    # The default route: 上海仓 by priority, the cheapest carrier for each zone.
    assert parcels(await shipments_of(db, order_id)) == [
        (1, "SH01", "STO", "ambient", 300, 1, ["MASK-10"]),
        (2, "SH01", "JD", "frozen", 2500, 2, ["DUMPLING-1K"]),
    ]


async def test_a_mixed_order_whose_frozen_goods_are_out_of_stock_waits_whole(db, settings, demo_data):
    await publish(db, linear_flow(*route(split=True)))
    # Far more dumplings than any warehouse has: the mask is not sent ahead on its own.
    lines = [("MASK-10", 1, 9900), ("DUMPLING-1K", 500, 4590)]
    order_id = await land(db, settings, generic_order("T4", lines=lines, province="上海"))

    assert (await process(db, settings, order_id))["state"] == "out_of_stock"

    assert [s for s in await shipments_of(db, order_id) if s.status != "cancelled"] == []
    assert await held_stock(db, order_id) == []


async def test_a_backtest_and_the_simulator_show_the_split_processing_then_makes(
    db, settings, demo_data, client, make_token
):
    doc = linear_flow(*route(split=True))
    await publish(db, doc)
    async with db.reading() as session:
        flow_id = (await session.exec(select(Flow.id).where(Flow.name == doc["name"]))).one()
    admin = {"Authorization": f"Bearer {await make_token(TokenScope.admin)}"}
    order_id = await land(db, settings, generic_order("T5", lines=MIXED, province="上海"))
    expected = [
        {"warehouse": "SH01", "carrier": "STO", "temperature_zone": "ambient", "fee_fen": 300},
        {"warehouse": "SH01", "carrier": "JD", "temperature_zone": "frozen", "fee_fen": 2500},
    ]

    prediction = await predicted(db, settings, doc)
    simulated = await client.post(
        f"/api/v1/flows/{flow_id}/simulate", json={"document": doc, "sample": f"order:{order_id}"}, headers=admin
    )
    await process(db, settings, order_id)

    assert prediction[order_id]["parcels"] == expected
    assert (await carried_out(db, [order_id]))[order_id] == prediction[order_id]
    assert simulated.status_code == 200, simulated.text
    assert simulated.json()["routing"]["parcels"] == expected


async def test_a_backtest_of_turning_the_split_on_lists_the_parcels_each_side_makes(db, settings, demo_data):
    live = linear_flow(*route(split=None))
    await publish(db, live)
    order_id = await land(db, settings, generic_order("T6", lines=MIXED, province="上海"))
    async with db.transaction() as session:
        flow_id = (await session.exec(select(Flow.id).where(Flow.name == live["name"]))).one()
        await flows.save_draft(session, SYSTEM, flow_id, linear_flow(*route(split=True)))
        backtest_id = (await flows.start_backtest(session, SYSTEM, flow_id, 50)).id
    assert backtest_id is not None

    await flows.run_backtest(db, backtest_id, secret_key=settings.secret_key, time_limit=60)

    async with db.reading() as session:
        run = await session.get(FlowBacktest, backtest_id)
    assert run is not None and run.result is not None
    (row,) = [row for row in run.result["rows"] if row["key"] == f"order:{order_id}"]
    # The same warehouse on both sides: the order is parcelled otherwise, its first parcel now with STO.
    assert row["changed"] == ["carrier", "split"]
    assert [p["temperature_zone"] for p in row["before"]["parcels"]] == ["frozen"]
    assert [(p["carrier"], p["temperature_zone"], p["fee_fen"]) for p in row["after"]["parcels"]] == [
        ("STO", "ambient", 300),
        ("JD", "frozen", 2500),
    ]
    assert (row["before"]["cost_fen"], row["after"]["cost_fen"]) == (2500, 2800)
    assert run.result["changed_by_field"]["split"] >= 1

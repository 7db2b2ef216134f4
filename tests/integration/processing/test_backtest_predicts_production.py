"""A backtest predicts exactly what publishing does: for the same orders and stock, the warehouse, carrier, gifts,
parcels (a split by warehouse or by temperature zone included), fee and hold that the backtest replays are what
the processing job then carries out, order after order.

Random orders (a seeded generator: provinces, SKUs including a bundle and a chilled one, quantities) against
scarce random stock, so that orders run out, split, lose their gift or find no carrier; several flows, one per
routing strategy, and the shipped four-stage template.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from sqlmodel import col, select

from app.db import Database, utcnow
from app.domain.accounts.services import SYSTEM
from app.domain.flows import services as flows
from app.domain.flows import sources
from app.domain.flows.backtest import Replay
from app.domain.flows.models import Flow
from app.domain.fulfillment.models import Shipment
from app.domain.inventory import services as inventory
from app.domain.processing.models import OrderProcessing, ProcessingState
from app.settings import Settings
from tests.integration.processing.conftest import generic_order
from tests.integration.processing.test_actions import land, linear_flow, process

PROVINCES = [
    ("浙江", "杭州市"),
    ("北京", "北京市"),
    ("广东", "广州市"),
    ("四川", "成都市"),
    ("上海", "上海市"),
    ("湖北", "武汉市"),
]
SKUS = ["PHONE-X1", "EARBUD-P2", "SERUM-30", "MASK-10", "SET-SKIN", "YOGURT-6", "TEE-BLK-L"]
WAREHOUSES = ["SH01", "BJ01", "GZ01", "WH01", "CD01", "SH-F01"]
HELD = {ProcessingState.held, ProcessingState.out_of_stock, ProcessingState.awaiting_balance}

FLOWS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "nearest, split, fastest, gift": [
        ("assign_warehouse", {"strategy": "nearest"}),
        ("split_by_warehouse", {}),
        ("assign_carrier", {"strategy": "fastest"}),
        ("add_gift", {"sku": "GIFT-TOTE-01", "qty": 2}),
    ],
    "cheapest, whole orders, cheapest of three": [
        ("assign_warehouse", {"strategy": "cheapest"}),
        ("assign_carrier", {"strategy": "cheapest", "candidates": ["ZTO", "YTO", "SF"]}),
    ],
    "priority, split, cheapest, bundles": [
        ("assign_warehouse", {"strategy": "priority"}),
        ("split_by_warehouse", {}),
        ("assign_carrier", {"strategy": "cheapest"}),
        ("expand_bundles", {}),
        ("add_gift", {"sku": "GIFT-TOTE-01", "qty": 1}),
    ],
    "nearest, split by warehouse and temperature, cheapest, gift": [
        ("assign_warehouse", {"strategy": "nearest"}),
        ("split_by_warehouse", {}),
        ("assign_carrier", {"strategy": "cheapest", "split_by_temperature": True}),
        ("add_gift", {"sku": "GIFT-TOTE-01", "qty": 1}),
    ],
    "fixed warehouse and carrier": [
        ("assign_warehouse", {"code": "BJ01"}),
        ("assign_carrier", {"code": "ZTO"}),
    ],
}


async def scarce_stock(db: Database, rng: random.Random) -> None:
    """Count every warehouse's stock of the SKUs down to a few units (zero often), the gift too."""
    async with db.transaction() as session:
        for warehouse in WAREHOUSES:
            counted = {sku: rng.choice([0, 0, 1, 2, 3, 5, 8]) for sku in [*SKUS, "GIFT-TOTE-01", "DUMPLING-1K"]}
            counted.pop("SET-SKIN")  # a bundle has no stock of its own: its components do
            await inventory.record_count(session, warehouse, counted, SYSTEM, note="回测测试")


async def random_orders(db: Database, settings: Settings, rng: random.Random, count: int) -> list[int]:
    ids = []
    for n in range(count):
        province, city = rng.choice(PROVINCES)
        lines = [(sku, rng.randint(1, 3), 9900) for sku in rng.sample(SKUS, rng.randint(1, 3))]
        payload = generic_order(
            f"BT-{n:03d}",
            lines=lines,
            province=province,
            city=city,
            buyer=f"buyer-{n}",
            phone=f"1380000{n:04d}",
            address=f"测试路 {n + 1} 号",
        )
        ids.append(await land(db, settings, payload))
    return ids


async def predicted(db: Database, settings: Settings, doc: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """What a backtest of ``doc`` says each stored order would get, before any of them is processed."""
    async with db.reading() as session:
        found = await sources.recent_contexts(session, 1000, secret_key=settings.secret_key, shown=False)
        stored = [o for o in found if o.order_id is not None]
        stored.sort(key=lambda o: o.order_id or 0)
        world = await flows.backtest_world(session, stored)
    replay = Replay(doc, None, world, utcnow(), 60.0, 5.0)
    outcomes = {o.order_id: after for o, (_, after) in zip(stored, replay.compare(stored), strict=True)}
    return {order_id: _comparable(outcome) for order_id, outcome in outcomes.items() if order_id is not None}


def _comparable(outcome: dict[str, Any]) -> dict[str, Any]:
    return {key: outcome[key] for key in ("hold", "warehouse", "carrier", "gifts", "parcels", "cost_fen")}


async def carried_out(db: Database, order_ids: list[int]) -> dict[int, dict[str, Any]]:
    """What processing did to each order."""
    found = {}
    async with db.reading() as session:
        for order_id in order_ids:
            proc = await session.get(OrderProcessing, order_id)
            assert proc is not None and proc.state != ProcessingState.queued
            shipments = (
                await session.exec(
                    select(Shipment)
                    .where(Shipment.order_id == order_id, col(Shipment.status) != "cancelled")
                    .order_by(col(Shipment.seq))
                )
            ).all()
            gifts = sorted(f"{line['sku']}×{line['qty']}" for s in shipments for line in s.lines if line.get("is_gift"))
            found[order_id] = {
                "hold": proc.state in HELD,
                "warehouse": shipments[0].warehouse_code if shipments else None,
                "carrier": shipments[0].carrier_code if shipments else None,
                "gifts": gifts,
                "parcels": [
                    {
                        "warehouse": s.warehouse_code,
                        "carrier": s.carrier_code,
                        "temperature_zone": s.temperature_zone,
                        "fee_fen": s.fee_fen,
                    }
                    for s in shipments
                ],
                "cost_fen": sum(s.fee_fen for s in shipments) if shipments else None,
            }
    return found


async def publish(db: Database, doc: dict[str, Any] | None) -> dict[str, Any]:
    """Publish ``doc`` (None: the shipped four-stage template, already a draft) and return the document."""
    async with db.transaction() as session:
        if doc is None:
            flow = (await session.exec(select(Flow))).one()
        else:
            flow = await flows.create_flow(session, SYSTEM, doc["name"], document=doc, priority=10)
        assert flow.id is not None
        await flows.publish(session, SYSTEM, flow.id, "回测对照")
        return dict(flow.draft)


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("flow_name", [*FLOWS, "four-stage template"])
async def test_a_backtest_predicts_what_processing_then_does_order_for_order(
    db: Database, settings: Settings, demo_data: None, flow_name: str, seed: int
) -> None:
    rng = random.Random(f"{flow_name}:{seed}")
    await scarce_stock(db, rng)
    order_ids = await random_orders(db, settings, rng, 24)
    doc = await publish(db, linear_flow(*FLOWS[flow_name]) if flow_name in FLOWS else None)

    prediction = await predicted(db, settings, doc)
    for order_id in sorted(order_ids):
        await process(db, settings, order_id)
    actual = await carried_out(db, order_ids)

    assert prediction == actual
    # The random world must exercise routing, not only hold everything: some orders ship, some do not.
    assert any(o["warehouse"] for o in actual.values())
    assert any(o["warehouse"] is None for o in actual.values())

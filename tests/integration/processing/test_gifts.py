"""Gifts through processing: a platform's gift line stays a gift on the shipment and the printed pick list, and a
flow's 满赠 gift is not packed a second time when the platform already sent that gift on the order."""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import col, select

from app.domain.fulfillment.models import Shipment, ShippingDocument, ShippingDocumentEntry
from tests.integration.forms import login
from tests.integration.processing.conftest import generic_order
from tests.integration.processing.test_actions import ROUTE, held_stock, land, linear_flow, process, publish

GIFT = "GIFT-TOTE-01"
PICK_LIST = ("generate_documents", {"kinds": ["pick_list"]})


def with_platform_gift(payload: dict[str, Any], qty: int = 1) -> dict[str, Any]:
    """The order with the platform's own free gift line (the tote, at no charge) added."""
    line = {"line_id": "g1", "sku": GIFT, "title": "帆布袋", "qty": qty, "unit_price_fen": 0, "paid_fen": 0}
    payload["lines"].append({**line, "is_gift": True, "bundle_of": None})
    return payload


async def shipment_lines(db, order_id: int) -> list[tuple[str, int, bool]]:
    async with db.reading() as session:
        shipments = (await session.exec(select(Shipment).where(Shipment.order_id == order_id))).all()
    return sorted((line["sku"], line["qty"], line["is_gift"]) for s in shipments for line in s.lines)


async def printed_pick_rows(client, db, order_id: int) -> list[tuple[str, str, int]]:
    """The pick-total rows of the pick list the order's parcel is on, as printed: (SKU, name cell, qty)."""
    async with db.reading() as session:
        document_id = (
            await session.exec(
                select(ShippingDocument.id)
                .join(ShippingDocumentEntry, col(ShippingDocument.id) == col(ShippingDocumentEntry.document_id))
                .where(ShippingDocument.kind == "pick_list", ShippingDocumentEntry.order_ref == f"RF{order_id:08d}-1")
            )
        ).one()
    await login(client, "operator", "operator-demo-123")
    response = await client.get(f"/fulfillment/documents/{document_id}")
    assert response.status_code == 200
    rows = re.findall(
        r'data-testid="pick-row"[^>]*data-sku="([^"]+)"><td>[^<]*</td><td>([^<]*)</td><td class="n">(\d+)</td>',
        response.text,
    )
    return sorted((sku, name, int(qty)) for sku, name, qty in rows)


async def test_a_platform_gift_line_is_a_gift_on_the_shipment_and_the_pick_list(db, settings, demo_data, client):
    await publish(db, linear_flow(*ROUTE, PICK_LIST))
    order_id = await land(
        db, settings, with_platform_gift(generic_order("G1", lines=[("MASK-10", 1, 9900)], province="上海"))
    )

    assert (await process(db, settings, order_id))["state"] == "processed"

    assert await shipment_lines(db, order_id) == [(GIFT, 1, True), ("MASK-10", 1, False)]
    assert await printed_pick_rows(client, db, order_id) == [
        (GIFT, "品牌帆布袋（赠品） (赠品)", 1),
        ("MASK-10", "补水面膜 10 片装", 1),
    ]


async def test_a_flow_gift_the_platform_already_sent_is_not_packed_twice(db, settings, demo_data):
    await publish(db, linear_flow(*ROUTE, ("add_gift", {"sku": GIFT, "qty": 1})))
    order_id = await land(
        db, settings, with_platform_gift(generic_order("G2", lines=[("MASK-10", 1, 9900)], province="上海"))
    )

    outcome = await process(db, settings, order_id)

    assert outcome["state"] == "processed"
    assert await shipment_lines(db, order_id) == [(GIFT, 1, True), ("MASK-10", 1, False)]
    # One tote is held for the order (the platform's line), none for the flow's gift.
    assert [(line, sku, qty) for line, _, sku, qty in await held_stock(db, order_id)] == [
        ("1", "MASK-10", 1),
        ("g1", GIFT, 1),
    ]
    assert f"赠品 {GIFT} 平台已随单赠送，未重复赠送" in outcome["notes"]


async def test_a_flow_gift_tops_up_what_the_platform_sent_and_a_bought_tote_is_no_gift(db, settings, demo_data):
    await publish(db, linear_flow(*ROUTE, ("add_gift", {"sku": GIFT, "qty": 2})))
    gifted = await land(
        db, settings, with_platform_gift(generic_order("G3", lines=[("MASK-10", 1, 9900)], province="上海"))
    )
    bought = await land(db, settings, generic_order("G4", lines=[(GIFT, 1, 1500)], province="上海"))

    assert (await process(db, settings, gifted))["state"] == "processed"
    assert (await process(db, settings, bought))["state"] == "processed"

    assert await shipment_lines(db, gifted) == [(GIFT, 1, True), (GIFT, 1, True), ("MASK-10", 1, False)]
    assert await shipment_lines(db, bought) == [(GIFT, 1, False), (GIFT, 2, True)]

"""Where an order goes, as the read API tells an integrator: after the real worker ran the shipped four-stage
flow, ``GET /api/v1/orders/{id}`` gives the state, hold, warehouse, carrier, waybill numbers, shipments with
their lines, and the flow run with its version number and the path it took."""

from __future__ import annotations

import httpx
from sqlmodel import col, select

from app.domain.accounts.models import TokenScope
from app.domain.fulfillment.models import Shipment
from tests.integration.processing.conftest import deliver, generic_order, wait_for, wait_until_settled

PHONE = "13800001111"


async def test_the_order_api_says_where_the_processed_order_goes(server, worker, db, make_token):
    routed = (await deliver(server, "webshop", "webshop", generic_order("API-1", lines=[("PHONE-X1", 1, 399900)])))[
        "order_id"
    ]
    held = (
        await deliver(server, "webshop", "webshop", generic_order("API-2", lines=[("MASK-10", 1, 9900)], address=None))
    )["order_id"]
    await wait_until_settled(db, 2)

    async def waybilled(session):
        rows = (await session.exec(select(Shipment).where(col(Shipment.order_id) == routed))).all()
        return rows if rows and all(s.waybill_no for s in rows) else None

    (shipment,) = await wait_for(db, waybilled, what="the routed order's waybill")
    token = await make_token(TokenScope.read)
    async with httpx.AsyncClient(base_url=server, headers={"Authorization": f"Bearer {token}"}) as client:
        answer = await client.get(f"/api/v1/orders/{routed}")
        held_answer = await client.get(f"/api/v1/orders/{held}")
    assert answer.status_code == 200, answer.text
    order = answer.json()
    assert order["external_id"] == "API-1"
    processing = order["processing"]
    # 华东 + 3C → 上海仓 + 顺丰, waybilled; paid ≥ ¥299 → the tote bag ships with it.
    assert processing["state"] == "processed"
    assert processing["hold_code"] is None and processing["hold_reason"] is None
    assert processing["warehouse"] == {"code": "SH01", "name": "上海仓"}
    assert processing["carrier"] == {"code": "SF", "name": "顺丰速运"}
    assert processing["waybill_numbers"] == [shipment.waybill_no]
    assert shipment.waybill_no.startswith("SF")
    (shipped,) = processing["shipments"]
    assert shipped["ref"] == shipment.ref and shipped["waybill_no"] == shipment.waybill_no
    assert shipped["warehouse"]["code"] == "SH01" and shipped["carrier"]["code"] == "SF"
    assert sorted((line["sku"], line["qty"], line["is_gift"]) for line in shipped["lines"]) == [
        ("GIFT-TOTE-01", 1, True),
        ("PHONE-X1", 1, False),
    ]
    (run,) = processing["flows"]
    assert run["version_number"] == 1 and run["status"] == "ok" and run["version_id"] is not None
    path = [step["node_id"] for step in run["path"]]
    assert path[0] == "start" and path[-1] == "end"
    assert path.index("audit_address") < path.index("route") < path.index("wh_shanghai") < path.index("carrier_sf")
    route = next(step for step in run["path"] if step["node_id"] == "route")
    assert route["type"] == "switch" and route["branch"]
    assert "hold_address" not in path
    # Personal data masked, in the order and in what processing kept.
    assert order["receiver"]["name"] == "张*" and order["receiver"]["phone_masked"] == "138****1111"
    assert PHONE not in answer.text and "文三路 100 号" not in answer.text

    assert held_answer.status_code == 200, held_answer.text
    waiting = held_answer.json()["processing"]
    assert waiting["state"] == "held" and waiting["hold_code"] == "review"
    assert waiting["hold_reason"] == "收货地址不完整"
    assert waiting["warehouse"] is None and waiting["carrier"] is None
    assert waiting["shipments"] == [] and waiting["waybill_numbers"] == []
    (held_run,) = waiting["flows"]
    held_path = [step["node_id"] for step in held_run["path"]]
    assert "hold_address" in held_path and held_path[-1] == "end_held" and "route" not in held_path

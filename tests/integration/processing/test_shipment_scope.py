"""The ``shipments`` API scope a WMS gets from ``ruleflow create-token``: it may confirm parcels as shipped (and ask
who it is), and nothing else: no master data changed, no order (nor its buyer's personal data) read."""

from __future__ import annotations

import asyncio

import httpx
from click.testing import CliRunner
from sqlmodel import col, select

from app.cli import main as ruleflow
from app.db import Database
from app.domain.accounts.models import ApiToken, AuditEntry
from app.domain.fulfillment.models import Carrier, Shipment
from app.settings import get_settings
from tests.integration.processing.conftest import deliver, generic_order, wait_for, wait_until_settled
from tests.integration.processing.test_shipment_confirmation import confirm


async def waybilled_orders(server: str, db: Database, names: list[str]) -> dict[str, Shipment]:
    """Deliver a cable order to 杭州 per name and wait until each has its waybill; their parcels by name."""
    ids = {}
    for n, name in enumerate(names, start=1):
        # Each to its own buyer and door: the flow sends repeated same-address orders to review.
        payload = generic_order(
            name,
            lines=[("CABLE-C1", n, 2900)],
            buyer=f"buyer-{name}",
            phone=f"1380000{n:04d}",
            address=f"文三路 {100 + n} 号",
        )
        ids[name] = (await deliver(server, "webshop", "webshop", payload))["order_id"]
    await wait_until_settled(db, len(ids))

    async def parcels(session):
        found = (await session.exec(select(Shipment).where(col(Shipment.order_id).in_(list(ids.values()))))).all()
        return found if len(found) == len(ids) and all(s.status == "waybilled" for s in found) else None

    by_order = {s.order_id: s for s in await wait_for(db, parcels, what="every order waybilled")}
    return {name: by_order[order_id] for name, order_id in ids.items()}


async def test_a_shipments_token_may_confirm_parcels_and_nothing_else(server, worker, db, settings, monkeypatch):
    parcels = await waybilled_orders(server, db, ["T1"])
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("SECRET_KEY", settings.secret_key)
    get_settings.cache_clear()
    try:
        made = await asyncio.to_thread(CliRunner().invoke, ruleflow, ["create-token", "WMS", "--scope", "shipments"])
    finally:
        get_settings.cache_clear()
    assert made.exit_code == 0, made.output
    token = made.output.strip().splitlines()[-1]
    async with db.reading() as session:
        stored = (await session.exec(select(ApiToken).where(ApiToken.name == "WMS"))).one()
    assert stored.scope_set == {"shipments"}

    answer = await confirm(server, token, [parcels["T1"].waybill_no])
    assert answer.status_code == 200, answer.text
    assert [i["outcome"] for i in answer.json()["items"]] == ["shipped"]
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server, headers=headers) as wms:
        assert (await wms.get("/api/v1/whoami")).json()["scopes"] == ["shipments"]
        carrier = await wms.post("/api/v1/carriers/", json={"code": "WMSX", "name": "越权快递"})
        order = await wms.get(f"/api/v1/orders/{parcels['T1'].order_id}")
        listing = await wms.get("/api/v1/orders")
        stock = await wms.get("/api/v1/stock")
    assert [r.status_code for r in (carrier, order, listing, stock)] == [403] * 4
    assert "13800000001" not in order.text and "文三路" not in order.text
    async with db.reading() as session:
        assert (await session.exec(select(Carrier).where(Carrier.code == "WMSX"))).first() is None
        denied = (await session.exec(select(AuditEntry).where(AuditEntry.action == "access.denied"))).all()
        shipped = (await session.exec(select(AuditEntry).where(AuditEntry.action == "shipment.shipped"))).all()
    assert len(denied) == 4 and {d.actor_name for d in denied} == {"token:WMS"}
    assert [a.actor_name for a in shipped] == ["token:WMS"]

"""已发货 at ship time: a flow's 已发货 message decided at routing waits for its parcel and goes out when the parcel
is confirmed shipped, with the carrier's name and the waybill number; once per parcel, however often the parcel is
confirmed or the send job runs; never for a cancelled order. The routing notice goes out at routing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import col, select

from app.db import Database, utcnow
from app.domain.accounts.services import SYSTEM
from app.domain.fulfillment import confirmation, message_templates
from app.domain.fulfillment import jobs as fulfillment_jobs
from app.domain.fulfillment.models import BuyerNotification, Carrier, Shipment, order_ref
from app.domain.inventory import services as inventory
from app.domain.processing import jobs as processing_jobs
from app.outbox import OutboxMessage
from app.settings import Settings
from tests.integration.conftest import serving
from tests.integration.processing.conftest import generic_order
from tests.integration.processing.test_actions import ROUTE, land, linear_flow, process, publish

NOTIFY = [
    ("notify", {"template": "order_processed", "via": "sms"}),
    ("notify", {"template": "order_shipped", "via": "sms"}),
    ("notify", {"template": "order_shipped", "via": "wechat"}),
]


async def messages_of(db: Database, order_id: int) -> list[BuyerNotification]:
    async with db.reading() as session:
        query = (
            select(BuyerNotification)
            .where(BuyerNotification.order_ref == order_ref(order_id))
            .order_by(col(BuyerNotification.id))
        )
        return list((await session.exec(query)).all())


async def sends_staged(db: Database) -> list[int]:
    """The buyer messages the outbox was asked to send, one entry per staged send."""
    async with db.reading() as session:
        rows = (await session.exec(select(OutboxMessage).where(OutboxMessage.job == "send_notification"))).all()
    return sorted(int(row.args[0]) for row in rows)


async def waybilled_parcels(db: Database, settings: Settings, order_id: int) -> list[Shipment]:
    """Ask the sandbox carrier (served on the settings' port) for the order's waybills, as the worker would."""
    async with db.reading() as session:
        parcels = (await session.exec(select(Shipment).where(Shipment.order_id == order_id))).all()
    async with serving(settings):
        await processing_jobs.request_waybills({"db": db, "settings": settings}, [s.id for s in parcels if s.id])
    async with db.reading() as session:
        query = select(Shipment).where(Shipment.order_id == order_id).order_by(col(Shipment.seq))
        shipped = list((await session.exec(query)).all())
    assert shipped and all(s.waybill_no for s in shipped), [(s.ref, s.status) for s in shipped]
    return shipped


async def confirm(db: Database, waybill_no: str) -> confirmation.ShipConfirmation:
    async with db.transaction() as session:
        return await confirmation.confirm_shipped(session, waybill_no, SYSTEM, utcnow())


async def carrier_name(db: Database, code: str | None) -> str:
    async with db.reading() as session:
        carrier = (await session.exec(select(Carrier).where(Carrier.code == (code or "")))).one()
    return carrier.name


async def send(db: Database, settings: Settings, ids: list[int]) -> list[dict[str, Any]]:
    """Run the send job over these messages, as the worker would."""
    return await fulfillment_jobs.send_notifications({"db": db, "settings": settings}, ids)


async def test_routing_sends_the_arranged_notice_and_keeps_the_shipped_message_for_the_parcel(db, settings, demo_data):
    await publish(db, linear_flow(*ROUTE, *NOTIFY))
    order_id = await land(db, settings, generic_order("M1", lines=[("MASK-10", 1, 9900)]))
    assert (await process(db, settings, order_id))["state"] == "processed"

    notes = await messages_of(db, order_id)
    by_template = {(n.template, n.via): n for n in notes}
    arranged = by_template[("order_processed", "sms")]
    assert "已安排发货" in arranged.body and "已发货" not in arranged.body
    waiting = [n for n in notes if n.template == "order_shipped"]
    assert [(n.via, n.status, n.body) for n in waiting] == [("sms", "waiting", ""), ("wechat", "waiting", "")]
    assert {n.shipment_ref for n in waiting} == {f"{order_ref(order_id)}-1"}
    assert await sends_staged(db) == [arranged.id]  # only the routing notice is handed to the sender


async def test_confirming_the_parcel_sends_the_shipped_message_once_with_its_waybill_and_carrier(
    db, settings, demo_data
):
    await publish(db, linear_flow(*ROUTE, *NOTIFY))
    order_id = await land(db, settings, generic_order("M2", lines=[("MASK-10", 1, 9900)]))
    await process(db, settings, order_id)
    (parcel,) = await waybilled_parcels(db, settings, order_id)
    assert parcel.waybill_no is not None
    name = await carrier_name(db, parcel.carrier_code)

    assert (await confirm(db, parcel.waybill_no)).outcome == confirmation.Confirmed.shipped
    again = await confirm(db, parcel.waybill_no)
    assert again.outcome == confirmation.Confirmed.already_shipped

    shipped = [n for n in await messages_of(db, order_id) if n.template == "order_shipped"]
    assert [n.status for n in shipped] == ["pending", "pending"]
    for note in shipped:
        assert parcel.waybill_no in note.body and name in note.body and "已发货" in note.body, note.body
    staged = await sends_staged(db)
    assert all(staged.count(n.id) == 1 for n in shipped)  # one send each, not two

    ids = [n.id for n in shipped if n.id is not None]
    first, second = await send(db, settings, ids), await send(db, settings, ids)
    assert all("provider_message_id" in answer for answer in first)
    assert second == [fulfillment_jobs.SKIPPED] * 2  # the job run again sends nothing
    await send(db, settings, await sends_staged(db))  # the routing notice too, if the served app has not yet
    assert {n.status for n in await messages_of(db, order_id)} == {"sent"}


async def test_a_split_order_sends_one_shipped_message_per_parcel_naming_its_own_waybill(db, settings, demo_data):
    async with db.transaction() as session:
        await inventory.record_count(session, "SH01", {"YOGURT-6": 0, "TEE-BLK-L": 0}, SYSTEM)
    await publish(db, linear_flow(*ROUTE, ("split_by_warehouse", {}), NOTIFY[1]))
    order_id = await land(
        db, settings, generic_order("M3", lines=[("YOGURT-6", 2, 3990), ("TEE-BLK-L", 1, 7900)], province="上海")
    )
    assert (await process(db, settings, order_id))["state"] == "processed"
    first, second = await waybilled_parcels(db, settings, order_id)
    assert first.waybill_no and second.waybill_no

    await confirm(db, first.waybill_no)
    notes = {n.shipment_ref: n for n in await messages_of(db, order_id)}
    assert notes[first.ref].status == "pending" and first.waybill_no in notes[first.ref].body
    assert notes[second.ref].status == "waiting"  # the other parcel has not left yet

    await confirm(db, second.waybill_no)
    notes = {n.shipment_ref: n for n in await messages_of(db, order_id)}
    assert second.waybill_no in notes[second.ref].body and first.waybill_no not in notes[second.ref].body
    assert second.waybill_no not in notes[first.ref].body
    assert sorted(await sends_staged(db)) == sorted(n.id for n in notes.values() if n.id is not None)


async def test_a_cancelled_order_never_sends_its_shipped_message(db, settings, demo_data):
    """Cancelled after its waybill, the parcel is intercepted: its waiting 已发货 message is withdrawn, and a scan
    of its waybill is refused with 拦截."""
    await publish(db, linear_flow(*ROUTE, NOTIFY[1]))
    payload = generic_order("M4", lines=[("MASK-10", 1, 9900)])
    order_id = await land(db, settings, payload)
    await process(db, settings, order_id)
    (parcel,) = await waybilled_parcels(db, settings, order_id)
    cancel = generic_order("M4", lines=[("MASK-10", 1, 9900)], status="cancelled", updated_at="2026-11-11 12:00:00")
    await land(db, settings, cancel)
    await process(db, settings, order_id)

    assert parcel.waybill_no is not None
    with pytest.raises(confirmation.ShipmentRefused) as refused:
        await confirm(db, parcel.waybill_no)
    assert refused.value.code == "intercepted"
    assert [(n.status, n.body) for n in await messages_of(db, order_id)] == [("withdrawn", "")]
    assert await sends_staged(db) == []


async def test_an_edited_template_is_used_for_the_next_shipped_message(db, settings, demo_data):
    await publish(db, linear_flow(*ROUTE, NOTIFY[1]))
    order_id = await land(db, settings, generic_order("M5", lines=[("MASK-10", 1, 9900)]))
    await process(db, settings, order_id)
    (parcel,) = await waybilled_parcels(db, settings, order_id)
    async with db.transaction() as session:
        await message_templates.save_text(
            session, "order_shipped", "sms", "【{shop}】{external_id} 出发啦！{carrier} {waybill_no}", SYSTEM
        )
    assert parcel.waybill_no is not None
    await confirm(db, parcel.waybill_no)
    (note,) = await messages_of(db, order_id)
    name = await carrier_name(db, parcel.carrier_code)
    assert note.body.endswith(f"M5 出发啦！{name} {parcel.waybill_no}"), note.body

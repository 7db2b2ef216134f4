"""Choosing a carrier from the rate tables, getting waybills from a carrier API, sending buyer messages."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import select

from app import outbox
from app.domain.accounts.models import Role
from app.domain.fulfillment import jobs as fulfillment_jobs
from app.domain.fulfillment import services
from app.domain.fulfillment.carriers import CarrierError, HttpCarrierClient, WaybillRequest
from app.domain.fulfillment.models import BuyerNotification, CarrierRate
from app.outbox import OutboxMessage, OutboxStatus
from tests.integration.forms import login, post_form


async def test_the_cheapest_carrier_for_an_ordinary_parcel_is_the_cheapest_rate_line(db, carriers):
    async with db.reading() as session:
        quote = await services.cheapest_carrier(session, origin_province="上海", dest_province="浙江省", weight_g=800)
    assert quote is not None
    assert (quote.carrier_code, quote.fee_fen) == ("STO", 450)


async def test_further_kilograms_are_charged_per_started_kilogram(db, carriers):
    async with db.reading() as session:
        found = {
            q.carrier_code: q.fee_fen
            for q in await services.quotes(session, origin_province="上海", dest_province="北京", weight_g=2500)
        }
    assert found["SF"] == 1200 + 2 * 200
    assert found["ZTO"] == 500 + 2 * 100


async def test_a_remote_province_uses_its_own_dearer_line(db, carriers):
    async with db.reading() as session:
        quote = await services.cheapest_carrier(
            session, origin_province="上海", dest_province="新疆维吾尔自治区", weight_g=500
        )
    assert quote is not None
    assert (quote.carrier_code, quote.fee_fen, quote.promised_days) == ("STO", 900, 7)


async def test_chilled_goods_go_only_with_cold_chain_carriers(db, carriers):
    async with db.reading() as session:
        found = await services.quotes(
            session, origin_province="上海", dest_province="江苏", weight_g=900, temperature_zone="chilled"
        )
    assert [q.carrier_code for q in found] == ["JD", "SF"]


async def test_a_promised_time_rules_out_slow_carriers(db, carriers):
    async with db.reading() as session:
        quote = await services.cheapest_carrier(
            session, origin_province="上海", dest_province="广东", weight_g=900, within_days=2
        )
    assert quote is not None and quote.carrier_code == "JD"


async def test_the_admin_adds_a_rate_line_in_yuan_and_it_is_stored_in_fen(client, make_user, db, carriers):
    await make_user(Role.admin, "boss")
    await login(client, "boss")
    response = await post_form(
        client,
        "/settings/carrier-rates",
        "/settings/carrier-rates/",
        {
            "carrier_code": "ZTO",
            "dest_province": "海南",
            "first_fee_yuan": "7.5",
            "extra_fee_yuan": "1.2",
            "promised_days": "4",
        },
    )
    assert response.status_code == 200
    async with db.reading() as session:
        line = (await session.exec(select(CarrierRate).where(CarrierRate.dest_province == "海南"))).one()
    assert (line.first_fee_fen, line.extra_fee_fen_per_kg, line.promised_days) == (750, 120, 4)


async def test_a_rate_line_with_a_bad_fee_is_refused_and_changes_nothing(client, make_user, db, carriers):
    await make_user(Role.admin, "boss")
    await login(client, "boss")
    async with db.reading() as session:
        before = len((await session.exec(select(CarrierRate))).all())
    response = await post_form(
        client,
        "/settings/carrier-rates",
        "/settings/carrier-rates/",
        {"carrier_code": "ZTO", "first_fee_yuan": "七块", "promised_days": "4"},
    )
    assert response.status_code == 400
    assert "请填写" in response.text
    async with db.reading() as session:
        assert len((await session.exec(select(CarrierRate))).all()) == before


def shipment(key: str = "order-1:SH01") -> WaybillRequest:
    return WaybillRequest(
        request_key=key,
        order_ref="order-1",
        carrier_code="SF",
        warehouse_code="SH01",
        origin_province="上海",
        dest_province="浙江",
        dest_city="杭州",
        receiver_masked="张*",
        weight_g=1200,
    )


async def test_a_waybill_comes_from_the_carrier_api_and_a_retry_gets_the_same_one(db, carrier_server):
    client = HttpCarrierClient(
        carrier_server.carrier_api_url, carrier_server.carrier_api_key, carrier_server.carrier_api_secret
    )
    async with db.transaction() as session:
        first = await services.request_waybill(session, client, shipment())
    async with db.transaction() as session:
        again = await services.request_waybill(session, client, shipment())
    assert first.waybill_no.startswith("SF") and len(first.waybill_no) == 14
    assert again.id == first.id


async def test_the_carrier_refuses_a_request_with_a_wrong_signature(db, carrier_server):
    client = HttpCarrierClient(carrier_server.carrier_api_url, carrier_server.carrier_api_key, "wrong-secret")
    with pytest.raises(CarrierError) as refused:
        await client.create_waybill(shipment())
    assert refused.value.transient is False


async def test_an_unreachable_carrier_is_a_transient_error(settings):
    client = HttpCarrierClient("http://127.0.0.1:9/sandbox/carrier", "k", "s", timeout=1)
    with pytest.raises(CarrierError) as failed:
        await client.create_waybill(shipment())
    assert failed.value.transient is True


async def test_a_buyer_notification_is_sent_once_through_the_outbox(client, db, arq_worker):
    async with db.transaction() as session:
        note = await services.stage_notification(
            session,
            order_ref="TB-1",
            template="shipped",
            via="sms",
            recipient_masked="138****5678",
            body="您的订单已发货",
        )
        twice = await services.stage_notification(
            session,
            order_ref="TB-1",
            template="shipped",
            via="sms",
            recipient_masked="138****5678",
            body="您的订单已发货",
        )
        assert twice.id == note.id
        message = await outbox.stage(session, "send_notification", note.id)
        repeat = await outbox.stage(session, "send_notification", note.id)
    client.app.state.background.kick()
    for _ in range(300):
        async with db.reading() as session:
            done = [await session.get(OutboxMessage, m.id) for m in (message, repeat)]
        if all(m is not None and m.status == OutboxStatus.done for m in done):
            break
        await asyncio.sleep(0.1)
    async with db.reading() as session:
        sent = (await session.exec(select(BuyerNotification))).all()
    assert [(n.status, n.provider_message_id) for n in sent] == [("sent", f"sandbox-sms-{note.id}")]
    results = sorted((m.result for m in done if m is not None), key=str)
    assert results == [{"provider_message_id": f"sandbox-sms-{note.id}"}, {"skipped": "already sent or being sent"}]


async def test_documents_messages_and_rate_tables_are_reachable_from_the_pages_people_use(client, make_user, carriers):
    await make_user(Role.admin, "boss")
    await login(client, "boss")
    orders = (await client.get("/orders/")).text
    settings = (await client.get("/settings/")).text
    assert 'data-testid="documents-link"' in orders and 'data-testid="messages-link"' in orders
    assert 'data-testid="carrier-rates-link"' in settings
    for url in ("/fulfillment/documents", "/fulfillment/messages", "/settings/carrier-rates/"):
        assert (await client.get(url)).status_code == 200, url


async def test_a_batch_of_messages_whose_gateway_fails_midway_sends_the_rest_on_the_retry(db, settings, monkeypatch):
    async with db.transaction() as session:
        notes = [
            await services.stage_notification(
                session,
                order_ref=f"TB-{n}",
                template="shipped",
                via="sms",
                recipient_masked="138****5678",
                body="已发货",
            )
            for n in range(3)
        ]
    ids = [note.id for note in notes]
    delivered: list[int] = []
    failures = [ids[1]]  # the gateway goes away once, at the second message

    class FlakyGateway:
        async def send(self, notification: BuyerNotification, recipient: str | None) -> str:
            if notification.id in failures:
                failures.remove(notification.id)
                raise ConnectionError("gateway went away")
            delivered.append(notification.id)
            return f"gw-{notification.id}"

    monkeypatch.setattr(fulfillment_jobs, "sender_for", lambda via: FlakyGateway())
    ctx = {"db": db, "settings": settings}
    with pytest.raises(ConnectionError):
        await fulfillment_jobs.send_notifications(ctx, ids)
    async with db.reading() as session:
        states = {n.id: n.status for n in (await session.exec(select(BuyerNotification))).all()}
    assert states == {ids[0]: "sent", ids[1]: "pending", ids[2]: "pending"}

    answers = await fulfillment_jobs.send_notifications(ctx, ids)
    assert answers == [
        {"skipped": "already sent or being sent"},
        {"provider_message_id": f"gw-{ids[1]}"},
        {"provider_message_id": f"gw-{ids[2]}"},
    ]
    assert delivered == ids  # each message reached the gateway once

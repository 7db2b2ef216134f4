"""The webhooks API: an integrator with an admin token lists the subscriptions (never a secret) and pages through
the deliveries with their answers; other tokens are refused, bad parameters named."""

from __future__ import annotations

from typing import Any

from app.db import Database
from app.domain.accounts.models import TokenScope
from app.domain.accounts.services import SYSTEM
from app.domain.webhooks import services
from app.events import EventType, event_body
from app.settings import Settings


async def subscribed_with_deliveries(db: Database, settings: Settings, count: int) -> str:
    """A subscription to order.received and ``count`` recorded events fanned out to it; returns its secret. (Nothing
    listens on its port: the app's worker may try them meanwhile, and they wait for a retry.)"""
    form = services.SubscriptionForm("ERP", "webhook", "http://127.0.0.1:9/h?token=abcdef", ["order.received"])
    async with db.transaction() as session:
        _, secret = await services.create_subscription(session, settings, form, SYSTEM)
        events = [event_body(EventType.order_received, {"order": {"id": n}}, key=f"api:{n}") for n in range(count)]
        assert await services.fan_out(session, events) == count
    assert secret is not None
    return secret


async def get(client: Any, token: str, url: str) -> Any:
    return await client.get(url, headers={"Authorization": f"Bearer {token}"})


async def test_an_admin_token_lists_subscriptions_without_their_secret(client, db, settings, make_token):
    secret = await subscribed_with_deliveries(db, settings, 1)
    response = await get(client, await make_token(TokenScope.admin), "/api/v1/webhooks")
    assert response.status_code == 200
    (item,) = response.json()["items"]
    assert item["kind"] == "webhook" and item["events"] == ["order.received"] and item["enabled"] is True
    assert item["url"] == "http://127.0.0.1:9/h?token=abcd****"
    assert secret not in response.text and "abcdef" not in response.text


async def test_deliveries_are_paged_newest_first(client, db, settings, make_token):
    await subscribed_with_deliveries(db, settings, 3)
    token = await make_token(TokenScope.admin)
    first = (await get(client, token, "/api/v1/webhooks/deliveries?limit=2")).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    assert all(d["type"] == "order.received" and d["status"] != "succeeded" for d in first["items"])
    rest = (await get(client, token, f"/api/v1/webhooks/deliveries?limit=2&cursor={first['next_cursor']}")).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    ids = [d["delivery_id"] for d in first["items"] + rest["items"]]
    assert len(set(ids)) == 3


async def test_a_read_token_is_refused_and_a_bad_parameter_is_named(client, db, settings, make_token):
    await subscribed_with_deliveries(db, settings, 1)
    assert (await get(client, await make_token(TokenScope.read), "/api/v1/webhooks")).status_code == 403
    token = await make_token(TokenScope.admin)
    bad = await get(client, token, "/api/v1/webhooks/deliveries?status=lost")
    assert bad.status_code == 400 and bad.json()["field"] == "status" and "lost" in bad.json()["message"]
    unknown = await get(client, token, "/api/v1/webhooks/deliveries?subscription=999")
    assert unknown.status_code == 400 and unknown.json()["field"] == "subscription"

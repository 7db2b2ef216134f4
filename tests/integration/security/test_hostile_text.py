"""Hostile text in every field a channel, a file or a user controls is shown as text, never run or choked on.

Each value is ``<img src=x onerror=alert(1)>`` followed by the field's name and a bare ``50%off`` (which
``%``-formatting chokes on). Attacks covered, each through the entry point a real attacker would use:
- a buyer's order delivered by webhook with markup in the tags, buyer nick, receiver name, address, line
  titles, SKU codes, buyer message and seller memo: the order list, search, the order page and its timeline;
- a tag ``50%off``, ``%d`` or ``%(x)s``: the order pages do not turn into a 500 for everyone;
- a CSV row whose ``channel`` is markup or ``100%pure``, and a webhook whose status is markup: the error
  queue and each error's page show them escaped;
- a shop name, a warehouse name (the warehouse form), a carrier name, a SKU code and title, a stock note
  (the receipt form): the inventory pages, counts, warehouses, carrier rates;
- a user's display name (the settings form) and an API token's name: settings and every page's header;
- a rule flow (the editor's own forms and draft endpoint) with markup in its name, node names, switch branch
  labels, a hold reason, a tag it adds and a buyer notification template, published with a markup note and
  run by the worker on delivered orders: the flows list, editor, versions, diff, every node's panel, the
  simulation, the review queue, the processing monitor, the order's trace, documents and buyer messages;
- the audit log, which records all of the above;
- a link with markup in its path or query (reflected text: search boxes, filters, ``next``, a 404's path).
Every page must answer (no 500), contain no live ``<img src=x onerror=`` and show each value escaped, and
carry no inline script the Content-Security-Policy would have to block.
"""

from __future__ import annotations

import json
import re
from itertools import pairwise
from typing import Any
from urllib.parse import quote

import pytest
from sqlmodel import col, select

from app.db import Database
from app.domain.accounts.models import Role
from app.domain.channels.models import IngestError
from app.domain.channels.services import SHOP_HEADER, SIGNATURE_HEADER, set_webhook_secret, sign_body
from app.domain.flows.models import Flow
from app.domain.fulfillment.models import Carrier, ShippingDocument
from app.domain.inventory.models import Sku
from app.domain.processing.models import OrderProcessing, ProcessingState
from app.domain.shops.models import Shop
from app.security import SECURITY_HEADERS
from app.seed import seed_demo
from app.settings import Settings
from tests.integration.forms import PASSWORD, csrf_from, login, post_form
from tests.integration.orders import conftest as orders_fixtures
from tests.integration.orders.conftest import deliver, wait_for_jobs
from tests.integration.orders.test_import import HEADER, upload
from tests.integration.security.markup import inline_code
from tests.samples import channels as samples

#: One shop per channel, as the order tests have them.
shops = orders_fixtures.shops

MARKUP = "<img src=x onerror=alert(1)>"
#: The two ways a page may show it as text: HTML-escaped, or escaped inside JSON (``tojson``).
ESCAPED = ("&lt;img src=x onerror=alert(1)&gt;", "\\u003cimg src=x onerror=alert(1)\\u003e")
#: What must never come back: the start of a live tag.
LIVE = "<img src=x onerror="


def hostile(field: str) -> str:
    """A value that is markup, names its field (so a test knows which field it sees) and holds a bare ``%``."""
    return f"{MARKUP}{field} 50%off"


def assert_safe(response: Any, *fields: str) -> None:
    """The page answered, no live markup came back, each named field is there as escaped text, the security
    headers are on, and nothing on the page needs inline script."""
    url = response.request.url
    assert response.status_code == 200, f"{url}: {response.status_code} {response.text[:1000]}"
    assert LIVE not in response.text, f"{url} returns live markup"
    for field in fields:
        assert any(f"{escaped}{field} 50%off" in response.text for escaped in ESCAPED), f"{url}: {field} not shown"
    assert response.headers.get("Content-Security-Policy") == SECURITY_HEADERS["Content-Security-Policy"]
    if "html" in response.headers.get("content-type", ""):
        assert inline_code(response.text) == [], url


def hostile_order(order_id: str, *, memo: str = "") -> dict[str, Any]:
    """A till order (generic format) with markup in every free-text field."""
    order = samples.pos_order(order_id=order_id)
    order["status"] = "paid"
    order["buyer"]["nick"] = hostile("nick")
    order["receiver"]["name"] = hostile("receiver")
    order["receiver"]["address"] = hostile("address")
    order["buyer_message"] = hostile("buyer-message")
    order["seller_memo"] = f"{memo}{hostile('seller-memo')}"
    order["tags"] = [hostile("tag"), "50%off", "%(state)s"]
    order["lines"][0]["title"] = hostile("title")
    return order


# --- the order hub alone -----------------------------------------------------------------------------------


async def test_markup_in_a_delivered_order_is_shown_as_text_on_the_list_and_the_order_page(
    client, db, shops, make_user
):
    order = hostile_order("POS-HOSTILE-1")
    order["lines"].append({"line_id": "2", "sku": hostile("sku"), "title": "赠品", "qty": 1, "unit_price_fen": 0})
    delivered = await deliver(client, "pos", order)
    assert delivered.status_code == 200, delivered.text
    order_id = delivered.json()["order_id"]
    await make_user(Role.admin, username="admin")
    await login(client, "admin")

    # The receiver's name is masked for everyone (a first character and stars), so only its mask is there.
    assert_safe(await client.get("/orders/"), "tag")
    assert_safe(await client.get("/orders/?q=POS-HOSTILE-1"), "tag")
    assert_safe(await client.get("/orders/", headers={"HX-Request": "true"}), "tag")
    assert_safe(await client.get(f"/orders/?tag={quote(hostile('tag'))}"), "tag")
    detail = await client.get(f"/orders/{order_id}")
    assert_safe(detail, "tag", "nick", "buyer-message", "seller-memo", "title", "sku")
    assert "50%off" in detail.text and "%(state)s" in detail.text
    # The admin's audited reveal shows the name and address whole: as text.
    revealed = await post_form(client, f"/orders/{order_id}", f"/orders/{order_id}/reveal", {})
    assert_safe(revealed, "receiver", "address")


async def test_a_tag_with_a_bare_percent_does_not_break_the_order_pages(client, db, shops, make_user):
    order = samples.pos_order(order_id="POS-PERCENT")
    order["tags"] = ["50%off", "100%", "%d", "%(x)s"]
    order_id = (await deliver(client, "pos", order)).json()["order_id"]
    await make_user(Role.viewer, username="viewer")
    await login(client, "viewer")
    for url in ("/orders/", f"/orders/{order_id}", "/orders/?tag=50%25off"):
        response = await client.get(url)
        assert response.status_code == 200, url
        assert "50%off" in response.text and "%(x)s" in response.text


async def test_a_csv_channel_with_markup_or_a_percent_is_shown_as_text_in_the_error_queue(
    client, db, shops, make_user, arq_worker
):
    rows = [
        HEADER + ",channel",
        f"nowhere-shop,X-1,paid,2026-11-11 12:00:00,,,,,,,,,MASK-10,面膜,1,99.00,0,0,,{hostile('channel')}",
        "nowhere-shop,X-2,paid,2026-11-11 12:00:00,,,,,,,,,MASK-10,面膜,1,99.00,0,0,,100%pure",
    ]
    await make_user(Role.admin, username="admin")
    await login(client, "admin")
    assert (await upload(client, "hostile.csv", "\n".join(rows).encode())).status_code == 200
    order = hostile_order("POS-BAD-STATUS")
    order["status"] = hostile("status")
    assert 400 <= (await deliver(client, "pos", order)).status_code < 500
    await wait_for_jobs(db)
    async with db.reading() as session:
        errors = (await session.exec(select(IngestError))).all()
    # A channel longer than any real one is kept cut to its column, on every database, so the row is not lost.
    assert {e.channel for e in errors} == {hostile("channel")[:32], "100%pure", "pos"}

    queue = await client.get("/orders/errors")
    assert_safe(queue)
    assert any(f"{escaped}chan" in queue.text for escaped in ESCAPED)
    assert "100%pure" in queue.text
    for error in errors:
        assert_safe(await client.get(f"/orders/errors/{error.id}"))


# --- everything at once: demo data renamed through the forms, a hostile flow run by the worker ----------------


def hostile_flow_document() -> dict[str, Any]:
    """start → switch (memo says HOLD?) → hold for review | approve → tag → route → documents → notify → end."""

    def node(node_id: str, kind: str, x: int, config: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"id": node_id, "type": kind, "name": hostile(f"node-{node_id}"), "position": {"x": x, "y": 0}}

    nodes = [
        node("start", "start", 0),
        {
            **node("s1", "switch", 200),
            "config": {
                "branches": [
                    {"id": "b1", "label": hostile("branch"), "logic": {"in": ["HOLD", {"var": "order.seller_memo"}]}}
                ]
            },
        },
        {**node("hold", "action", 400), "config": {"action": "hold_for_review", "params": {"reason": hostile("hold")}}},
        {**node("ok", "action", 400), "config": {"action": "approve", "params": {}}},
        {**node("tag", "action", 600), "config": {"action": "add_tag", "params": {"tag": hostile("flow-tag")}}},
        {**node("wh", "action", 800), "config": {"action": "assign_warehouse", "params": {"strategy": "nearest"}}},
        {**node("ca", "action", 1000), "config": {"action": "assign_carrier", "params": {"code": "SF"}}},
        {
            **node("docs", "action", 1200),
            "config": {"action": "generate_documents", "params": {"kinds": ["outbound_order", "pick_list"]}},
        },
        {
            **node("tell", "action", 1400),
            "config": {"action": "notify", "params": {"template": hostile("notify"), "via": "sms"}},
        },
        node("end", "end", 1600),
    ]
    chain = ["ok", "tag", "wh", "ca", "docs", "tell", "end"]
    edges = [
        ("start", "s1", "next"),
        ("s1", "hold", "b1"),
        ("s1", "ok", "default"),
        ("hold", "end", "next"),
        *((a, b, "next") for a, b in pairwise(chain)),
    ]
    return {
        "schema": 1,
        "name": hostile("flow"),
        "trigger": "order.received",
        "nodes": nodes,
        "edges": [{"id": f"e{n}", "source": s, "target": t, "port": p} for n, (s, t, p) in enumerate(edges, 1)],
    }


async def wait_until_processed(db: Database, count: int) -> dict[int, OrderProcessing]:
    """Wait for the worker to finish ``count`` orders (their waybill and message jobs may still be running)."""
    import asyncio

    for _ in range(400):
        async with db.reading() as session:
            rows = {p.order_id: p for p in (await session.exec(select(OrderProcessing))).all()}
        if len(rows) >= count and all(p.state is not ProcessingState.queued for p in rows.values()):
            return rows
        await asyncio.sleep(0.1)
    raise AssertionError(f"orders not processed: {[(k, v.state) for k, v in rows.items()]}")


async def deliver_to(client: Any, shop: Shop, payload: dict[str, Any]) -> int:
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {SHOP_HEADER: shop.code, SIGNATURE_HEADER: sign_body(orders_fixtures.SECRET, body)}
    response = await client.post(f"/api/v1/channels/{shop.channel.value}/orders", content=body, headers=headers)
    assert response.status_code == 200, response.text
    return int(response.json()["order_id"])


@pytest.fixture
async def hostile_world(client, db: Database, settings: Settings, arq_worker: Any) -> dict[str, Any]:
    """The demo data, then hostile text put in through the forms an admin and a designer use, a hostile flow
    published, and two hostile orders delivered and processed by the worker (one held, one routed)."""
    async with db.transaction() as session:
        await seed_demo(session)
        shop = (await session.exec(select(Shop).where(Shop.code == "pos-sh-nanjingxilu"))).one()
        shop.name = hostile("shop")  # shops are named when they are connected; there is no form for it
        set_webhook_secret(shop, settings.secret_key, orders_fixtures.SECRET)
        session.add(shop)
        carrier = (await session.exec(select(Carrier).where(Carrier.code == "SF"))).one()
        carrier.name = hostile("carrier")
        session.add(carrier)
        session.add(Sku(code=hostile("sku-code"), name=hostile("sku-title")))
    await login(client, "admin", "admin-demo-123")
    made = await post_form(
        client,
        "/settings/",
        "/settings/users",
        {"username": "mallory", "display_name": hostile("display-name"), "role": "admin", "password": PASSWORD},
    )
    assert made.status_code == 200 and "mallory" in made.text
    await login(client, "mallory")
    assert (
        await post_form(client, "/settings/", "/settings/tokens", {"name": hostile("token"), "scopes": ["read"]})
    ).status_code == 200
    warehouse = {
        "code": "XSS1",
        "name": hostile("warehouse"),
        "kind": "regional",
        "province": "上海",
        "city": "上海",
        "priority": "1",
        "serves_regions": "华东",
        "is_active": "on",
    }
    assert (await post_form(client, "/inventory/warehouses", "/inventory/warehouses", warehouse)).status_code == 303
    sku_page = f"/inventory/sku/{quote(hostile('sku-code'), safe='')}"
    for sku_url, sku in ((sku_page, None), ("/inventory/sku/TEE-BLK-L", "TEE-BLK-L")):
        received = await post_form(
            client, sku_url, f"{sku_url}/receive", {"warehouse": "XSS1", "qty": "50", "note": hostile("note")}
        )
        assert received.status_code == 303, (sku, received.text[:500])

    created = await post_form(client, "/flows/", "/flows/", {"name": hostile("flow")})
    assert created.status_code == 303
    async with db.reading() as session:
        flow = (await session.exec(select(Flow).where(Flow.name == hostile("flow")))).one()
    editor = await client.get(f"/flows/{flow.id}")
    saved = await client.post(
        f"/flows/{flow.id}/draft",
        json={"document": hostile_flow_document(), "base_revision": flow.draft_revision},
        headers={"X-CSRFToken": csrf_from(editor.text)},
    )
    assert saved.status_code == 200 and saved.json()["problems"] == [], saved.text
    published = await post_form(
        client, f"/flows/{flow.id}/versions", f"/flows/{flow.id}/publish", {"note": hostile("publish-note")}
    )
    assert published.status_code == 200 and LIVE not in published.text, published.text[:500]

    held = await deliver_to(client, shop, hostile_order("POS-HOLD", memo="HOLD "))
    routed = await deliver_to(client, shop, hostile_order("POS-ROUTE"))
    rows = await wait_until_processed(db, 2)
    assert rows[held].state is ProcessingState.held and rows[held].hold_reason == hostile("hold")
    assert rows[routed].state is ProcessingState.processed, rows[routed].hold_reason
    async with db.reading() as session:
        documents = list((await session.exec(select(ShippingDocument).order_by(col(ShippingDocument.id)))).all())
    assert documents, "the routed order is on no shipping document"
    return {"flow": flow, "held": held, "routed": routed, "documents": documents, "sku_page": sku_page}


async def test_orders_the_worker_held_and_routed_show_hostile_text_escaped_everywhere(client, hostile_world):
    held, routed = hostile_world["held"], hostile_world["routed"]
    assert_safe(await client.get("/"))
    assert_safe(await client.get("/orders/"), "tag", "shop")
    assert_safe(await client.get(f"/orders/{held}"), "tag", "nick", "title", "hold", "node-s1", "branch", "shop")
    assert_safe(await client.get(f"/orders/{routed}"), "tag", "flow-tag", "title", "node-tell", "carrier")
    assert_safe(await client.get("/orders/review"), "hold", "shop")
    assert_safe(await client.get("/orders/review?code=review"), "hold")
    assert_safe(await client.get("/orders/review", headers={"HX-Request": "true"}), "hold")
    assert_safe(await client.get(f"/orders/review/{held}/address", headers={"HX-Request": "true"}))
    assert_safe(await client.get("/orders/processing"))
    assert_safe(await client.get("/orders/processing", headers={"HX-Request": "true"}))


async def test_inventory_and_fulfillment_pages_show_hostile_names_escaped(client, hostile_world):
    assert_safe(await client.get("/inventory/"), "warehouse", "sku-code")
    assert_safe(await client.get("/inventory/?q=img"), "sku-code")
    assert_safe(await client.get(hostile_world["sku_page"]), "sku-code", "sku-title", "note", "warehouse")
    assert_safe(await client.get("/inventory/sku/TEE-BLK-L"), "note")
    assert_safe(await client.get("/inventory/counts"), "warehouse")
    assert_safe(await client.get("/inventory/warehouses"), "warehouse", "shop")
    assert_safe(await client.get("/settings/carrier-rates/"), "carrier")
    assert_safe(await client.get("/fulfillment/documents"))
    for document in hostile_world["documents"]:
        assert_safe(await client.get(f"/fulfillment/documents/{document.id}"))
    messages = await client.get("/fulfillment/messages")
    assert_safe(messages)
    assert 'data-testid="message-row"' in messages.text
    assert_safe(await client.get("/channels/"), "shop")


async def test_the_flow_pages_and_every_node_panel_show_hostile_names_and_labels_escaped(client, hostile_world):
    flow = hostile_world["flow"]
    assert_safe(await client.get("/flows/"), "flow")
    editor = await client.get(f"/flows/{flow.id}")
    assert_safe(editor, "flow", "node-s1", "branch", "hold")
    assert_safe(await client.get(f"/flows/{flow.id}/versions"), "publish-note")
    assert_safe(await client.get(f"/flows/{flow.id}/diff?left=v1&right=draft"), "node-s1")
    token = csrf_from(editor.text)
    for node in hostile_flow_document()["nodes"]:
        panel = await client.post(
            f"/flows/{flow.id}/panel",
            data={"_csrf_token": token, "node": json.dumps(node), "intent": "open"},
            headers={"HX-Request": "true"},
        )
        assert_safe(panel, f"node-{node['id']}", *(["carrier"] if node["id"] == "ca" else []))
    simulated = await client.post(
        f"/flows/{flow.id}/simulate",
        data={"_csrf_token": token, "payload": json.dumps(hostile_order("SIM-1", memo="HOLD "))},
        headers={"HX-Request": "true"},
    )
    assert_safe(simulated, "hold", "node-s1")
    exported = await client.get(f"/flows/{flow.id}/export")
    assert exported.status_code == 200 and "html" not in exported.headers["content-type"]


async def test_settings_and_the_audit_log_show_hostile_names_and_details_escaped(client, hostile_world):
    assert_safe(await client.get("/settings/"), "display-name", "token")
    audit = await client.get("/settings/audit")
    assert_safe(audit, "warehouse", "publish-note", "flow")
    assert re.search(r'data-testid="audit-row"', audit.text)
    assert_safe(await client.get("/settings/audit", headers={"HX-Request": "true"}))


@pytest.mark.parametrize(
    ("path", "echoed"),
    [
        ("/orders/?q={x}&tag={x}&sku={x}&province={x}", True),
        ("/orders/?channel={x}&shop={x}&status={x}", False),
        ("/orders/?date_from={x}&date_to={x}&after={x}", True),
        ("/orders/review?code={x}", False),
        ("/inventory/?q={x}&category={x}&warehouse={x}&live={x}", False),
        ("/inventory/sku/{x}", True),
        ("/settings/audit?action={x}", True),
        ("/flows/1/diff?left={x}&right={x}", False),
        ("/login?next={x}", False),
        ("/no-such-page/{x}", True),
    ],
)
async def test_a_link_with_markup_in_it_is_echoed_as_text_or_refused(client, db, make_user, path, echoed):
    await make_user(Role.admin, username="admin")
    await login(client, "admin")
    url = path.replace("{x}", quote(hostile("link"), safe=""))
    for headers in ({}, {"HX-Request": "true"}):
        response = await client.get(url, headers=headers)
        assert response.status_code in (200, 400, 404), (url, response.status_code)
        assert LIVE not in response.text, url
        if not headers:  # the full page, with its search form filled in again
            assert any(f"{escaped}link 50%off" in response.text for escaped in ESCAPED) is echoed, url
        assert response.headers.get("Content-Security-Policy") == SECURITY_HEADERS["Content-Security-Policy"]

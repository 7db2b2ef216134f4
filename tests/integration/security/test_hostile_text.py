"""Hostile text in every field a channel, a file or a user controls is shown as text, never run or choked on.

Attacks covered:
- a tag, buyer nick, receiver name, address, line title, SKU code, buyer message or seller memo delivered by
  webhook as ``<img src=x onerror=alert(1)>`` runs nothing on the order list or the order page;
- a CSV row whose ``channel`` is markup lands in the error queue and is shown escaped there;
- a tag ``50%off`` or a channel ``100%pure`` (which ``%``-formatting chokes on) does not turn a page into a 500.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from app.domain.accounts.models import Role
from app.domain.channels.models import IngestError
from tests.integration.forms import login
from tests.integration.orders import conftest as orders_fixtures
from tests.integration.orders.conftest import deliver, wait_for_jobs
from tests.integration.orders.test_import import HEADER, upload
from tests.samples import channels as samples

#: One shop per channel, as the order tests have them.
shops = orders_fixtures.shops

MARKUP = "<img src=x onerror=alert(1)>"
#: What a page must contain instead: the same text, escaped.
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"
#: What must never come back: the start of a live tag.
LIVE = "<img src=x onerror="


def hostile(field: str) -> str:
    """A value that is markup, names its field (so a test knows which field it sees) and holds a bare ``%``."""
    return f"{MARKUP}{field} 50%off"


def shown(field: str) -> str:
    return f"{ESCAPED}{field} 50%off"


def assert_safe(response: Any, *fields: str) -> None:
    """The page answered, no live markup came back, and each named field is there as escaped text."""
    assert response.status_code == 200, response.text[:2000]
    assert LIVE not in response.text
    for field in fields:
        assert shown(field) in response.text, f"{field} is not shown escaped"


def hostile_order(order_id: str = "POS-HOSTILE-1") -> dict[str, Any]:
    """A till order (generic format) with markup in every free-text field."""
    order = samples.pos_order(order_id=order_id)
    order["buyer"]["nick"] = hostile("nick")
    order["receiver"]["name"] = hostile("receiver")
    order["receiver"]["address"] = hostile("address")
    order["buyer_message"] = hostile("buyer-message")
    order["seller_memo"] = hostile("seller-memo")
    order["tags"] = [hostile("tag"), "50%off", "%(state)s"]
    order["lines"][0]["title"] = hostile("title")
    order["lines"].append({"line_id": "2", "sku": hostile("sku"), "title": "赠品", "qty": 1, "unit_price_fen": 0})
    return order


async def test_markup_in_a_delivered_order_is_shown_as_text_on_the_list_and_the_order_page(
    client, db, shops, make_user
):
    delivered = await deliver(client, "pos", hostile_order())
    assert delivered.status_code == 200, delivered.text
    order_id = delivered.json()["order_id"]
    await make_user(Role.admin, username="admin")
    await login(client, "admin")

    assert_safe(await client.get("/orders/"), "tag", "receiver")
    assert_safe(await client.get("/orders/?q=POS-HOSTILE-1"), "tag")
    assert_safe(await client.get("/orders/", headers={"HX-Request": "true"}), "tag")
    detail = await client.get(f"/orders/{order_id}")
    assert_safe(detail, "tag", "receiver", "nick", "buyer-message", "seller-memo", "title", "sku")
    assert "50%off" in detail.text and "%(state)s" in detail.text


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
        f"nowhere-shop,X-1,paid,2026-11-11 12:00:00,,,,,,,,,MASK-10,面膜,1,99.00,0,0,,{MARKUP}channel",
        "nowhere-shop,X-2,paid,2026-11-11 12:00:00,,,,,,,,,MASK-10,面膜,1,99.00,0,0,,100%pure",
    ]
    await make_user(Role.admin, username="admin")
    await login(client, "admin")
    assert (await upload(client, "hostile.csv", "\n".join(rows).encode())).status_code == 200
    await wait_for_jobs(db)
    async with db.reading() as session:
        errors = {e.channel: e for e in (await session.exec(select(IngestError))).all()}
    assert set(errors) == {f"{MARKUP}channel", "100%pure"}

    queue = await client.get("/orders/errors")
    assert queue.status_code == 200 and LIVE not in queue.text
    assert f"{ESCAPED}channel" in queue.text and "100%pure" in queue.text
    for error in errors.values():
        one = await client.get(f"/orders/errors/{error.id}")
        assert one.status_code == 200 and LIVE not in one.text

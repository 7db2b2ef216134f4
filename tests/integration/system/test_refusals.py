"""Every domain's refusals reach the user through one error model: in Chinese by default and in English with the
language switch, on pages and in the API; and a refused write leaves the database as it was."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from html import unescape
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import func, select

from app.db import Database
from app.domain.accounts.models import Role, TokenScope
from app.domain.accounts.services import SYSTEM
from app.domain.flows import services as flows
from app.domain.inventory import services as inventory
from app.domain.inventory.models import Sku, StockCount, StockMove, Warehouse
from app.domain.shops.models import Channel, Shop
from tests.integration.forms import csrf_from, login

Client = AsyncTestClient[Litestar]
CJK = re.compile(r"[\u4e00-\u9fff]")


@dataclass
class World:
    """What the refused requests act on: the admin's client, an admin API token, a shop, a flow."""

    client: Client
    token: str
    shop_id: int
    flow_id: int


@pytest.fixture
async def world(client: Client, db: Database, make_user: Any, make_token: Any) -> World:
    async with db.transaction() as session:
        session.add(Warehouse(code="SH01", name="上海仓", province="上海", city="上海"))
        session.add(Sku(code="A", name="商品 A"))
        session.add(Sku(code="B", name="商品 B"))
        shop = Shop(channel=Channel.tmall, code="tmall-flagship", name="天猫旗舰店")
        session.add(shop)
        await session.flush()
        await inventory.receive(session, "SH01", "A", 10, SYSTEM)
        await inventory.receive(session, "SH01", "B", 10, SYSTEM)
        flow = await flows.create_flow(session, SYSTEM, "blank")
    await make_user(Role.admin, "boss")
    await login(client, "boss")
    assert shop.id is not None and flow.id is not None
    return World(client, await make_token(TokenScope.admin, TokenScope.read), shop.id, flow.id)


def _language(english: bool) -> dict[str, str]:
    return {"Accept-Language": "en-GB,en" if english else "zh-CN,zh"}


async def _form(world: World, page_url: str, url: str, data: dict[str, Any], english: bool) -> Any:
    page = await world.client.get(page_url, headers=_language(english))
    return await world.client.post(
        url, data={"_csrf_token": csrf_from(page.text), **data}, headers=_language(english), follow_redirects=False
    )


async def _api(world: World, method: str, url: str, english: bool, **options: Any) -> Any:
    headers = {"Authorization": f"Bearer {world.token}", **_language(english)}
    return await world.client.request(method, url, headers=headers, **options)


def _shown(html: str, testid: str) -> str:
    match = re.search(rf'data-testid="{testid}"[^>]*>(.*?)</', html, re.S)
    assert match, f"no {testid} on the page"
    return unescape(match.group(1)).strip()


@dataclass
class Refusal:
    """One refused request: how to send it, the status it gets, where its message is shown."""

    send: Callable[[World, bool], Awaitable[Any]]
    status: int
    #: The testid of the element showing the message; None for the API (the JSON ``message``).
    testid: str | None


REFUSALS = {
    "accounts: a token without a name (page)": Refusal(
        lambda w, en: _form(w, "/settings/", "/settings/tokens", {"name": "", "scopes": "read"}, en),
        400,
        "settings-error",
    ),
    "flows: an unknown template (page)": Refusal(
        lambda w, en: _form(w, "/flows/", "/flows/", {"name": "x", "template": "no-such"}, en), 400, "flows-error"
    ),
    "flows: an unknown template (API)": Refusal(
        lambda w, en: _api(w, "POST", "/api/v1/flows/", en, json={"name": "x", "template": "no-such"}), 400, None
    ),
    "flows: publishing a draft with problems (API)": Refusal(
        lambda w, en: _api(w, "POST", f"/api/v1/flows/{w.flow_id}/publish", en, json={"note": "first"}), 422, None
    ),
    "flows: a node the panel cannot read (fragment)": Refusal(
        lambda w, en: _form(w, f"/flows/{w.flow_id}", f"/flows/{w.flow_id}/panel", {"node": "garbage"}, en),
        400,
        "panel-error",
    ),
    "inventory: a negative stock count (page)": Refusal(
        lambda w, en: _form(
            w, "/inventory/counts", "/inventory/counts", {"warehouse": "SH01", "lines": "A 5\nB -1"}, en
        ),
        400,
        "inventory-error",
    ),
    "channels: a pull address that is not http (page)": Refusal(
        lambda w, en: _form(w, "/channels/", f"/channels/{w.shop_id}/settings", {"api_base_url": "ftp://x"}, en),
        400,
        "shop-error",
    ),
    "processing: approving an order that is not waiting for review (page)": Refusal(
        lambda w, en: _form(w, "/orders/review", "/orders/review/999999/approve", {}, en), 400, "review-error"
    ),
    "fulfillment: a rate line without a carrier (page)": Refusal(
        lambda w, en: _form(w, "/settings/carrier-rates/", "/settings/carrier-rates/", {"carrier_code": ""}, en),
        400,
        "rates-error",
    ),
    "orders: an order that does not exist (API)": Refusal(
        lambda w, en: _api(w, "GET", "/api/v1/orders/999999", en), 404, None
    ),
    "parameters: a NUL in the address (API)": Refusal(
        lambda w, en: _api(w, "GET", "/api/v1/inventory/channel-stock?shop=a%00", en), 400, None
    ),
    "parameters: a NUL in the address (page)": Refusal(
        lambda w, en: w.client.get("/orders/?tag=%00", headers=_language(en)), 400, "error-page"
    ),
}


@pytest.mark.parametrize("english", [False, True], ids=["chinese", "english"])
@pytest.mark.parametrize("case", list(REFUSALS), ids=list(REFUSALS))
async def test_each_refusal_is_told_in_the_language_the_user_reads(world: World, case: str, english: bool) -> None:
    refusal = REFUSALS[case]
    response = await refusal.send(world, english)
    assert response.status_code == refusal.status, response.text
    if refusal.testid is None:
        body = response.json()
        message = body["message"]
        assert body["error"] and body["detail"] == message
    elif refusal.testid == "error-page":
        message = _page_text(response.text)
    else:
        message = _shown(response.text, refusal.testid)
    assert message
    if english:
        assert not CJK.search(message), message
    else:
        assert CJK.search(message), message


def _page_text(html: str) -> str:
    match = re.search(r'data-testid="error-page".*?<p>(.*?)</p>', html, re.S)
    assert match, "no error page"
    return unescape(match.group(1))


async def test_a_refused_stock_count_changes_nothing_it_had_already_counted(world: World, db: Database) -> None:
    # A is counted (and adjusted) before B's negative count is refused: the whole count is undone.
    response = await _form(
        world, "/inventory/counts", "/inventory/counts", {"warehouse": "SH01", "lines": "A 5\nB -1"}, False
    )
    assert response.status_code == 400
    assert _shown(response.text, "inventory-error") == "B 的盘点数量不能为负数"
    async with db.reading() as session:
        stock = await inventory.sku_stock(session, "A")
        moves = (await session.exec(select(func.count()).select_from(StockMove))).one()
        counts = (await session.exec(select(func.count()).select_from(StockCount))).one()
    assert [(row.warehouse_code, row.on_hand) for row in stock] == [("SH01", 10)]
    assert (moves, counts) == (2, 0)  # the two receipts only
    # The page shows the stock as stored, and the lines as typed to correct them.
    assert "A 5\nB -1" in unescape(response.text)

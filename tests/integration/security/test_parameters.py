"""Hostile parameters, each of which answered 500 before: the attacks an admin's URL bar or a crafted form can make.

- a path id beyond the database's integer range (``/orders/99999999999999999999999``), on pages and the API;
- ``shop=²``: a superscript digit that ``str.isdigit()`` accepts and ``int()`` refuses;
- a day at the calendar's ends (``date_to=9999-12-31`` overflows adding a day, ``date_from=0001-01-01`` going to
  UTC) and a keyset cursor without a time zone, or one we never wrote (the orders list, a hit count's orders);
- a version reference, an audit cursor or a shop id in Unicode digits or beyond the integer range;
- a NUL byte in a static file name, the query string, a stored form field (warehouse, stock note, token, carrier
  rate, flow, publish note), the public login form, or a JSON body under any Content-Type (PostgreSQL refuses it);
- stock quantities that overflow the columns (receive, transfer, safety stock, count lines, channel buffers,
  warehouse costs), and carrier fees, days and weights that do (``1e309`` yuan, ``10^30`` grams).

Each gets a 400 with a message in Chinese (or the API's JSON error) or a 404, and changes nothing.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import func, select

from app.db import Database
from app.domain.accounts.models import ApiToken, Role, TokenScope
from app.domain.accounts.services import SYSTEM
from app.domain.flows import services as flows
from app.domain.flows.models import Flow, FlowVersion
from app.domain.flows.services import EXPORT_FORMAT
from app.domain.fulfillment.models import Carrier, CarrierRate
from app.domain.inventory import services as inventory
from app.domain.inventory.models import ChannelStockRule, Sku, Stock, StockMove, Warehouse
from app.domain.shops.models import Channel, Shop
from tests.integration.forms import login, post_form

Client = AsyncTestClient[Litestar]
HUGE = "99999999999999999999999"


@pytest.fixture
async def admin(client: Client, db: Database, make_user: Any) -> Client:
    """Two warehouses, a phone with 120 in SH01 (10 held as safety stock), a shop, a carrier and a flow; the
    admin logged in."""
    async with db.transaction() as session:
        for code, name in (("SH01", "上海仓"), ("BJ01", "北京仓")):
            session.add(Warehouse(code=code, name=name, province=name[:2], city=name[:2]))
        session.add(Sku(code="PHONE-X1", name="星河 X1 手机", weight_g=420))
        session.add(Shop(channel=Channel.tmall, code="tmall-flagship", name="天猫旗舰店"))
        session.add(Carrier(code="ZTO", name="中通快递"))
        await session.flush()
        await inventory.receive(session, "SH01", "PHONE-X1", 120, SYSTEM)
        await inventory.set_safety_stock(session, "SH01", "PHONE-X1", 10, SYSTEM)
        await flows.create_flow(session, SYSTEM, "标准四段订单处理", template="standard_four_stage")
    await make_user(Role.admin, "boss")
    await login(client, "boss")
    return client


def cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


async def count(db: Database, model: Any) -> int:
    async with db.reading() as session:
        return int((await session.exec(select(func.count()).select_from(model))).one())


async def test_a_path_id_beyond_the_integer_range_is_simply_not_found(admin: Client) -> None:
    for url in (
        f"/orders/{HUGE}",
        "/orders/2147483648",  # one past PostgreSQL's integer
        "/orders/9223372036854775808",  # one past SQLite's
        "/orders/0",
        f"/orders/errors/{HUGE}",
        f"/orders/review/{HUGE}/address",
        f"/flows/{HUGE}",
        f"/flows/1/backtests/{HUGE}",
        f"/fulfillment/documents/{HUGE}",
    ):
        response = await admin.get(url)
        assert response.status_code == 404, url
        assert "此地址没有内容" in response.text


async def test_the_api_answers_a_huge_id_with_its_json_404(admin: Client, make_token: Any) -> None:
    token = await make_token(TokenScope.read, TokenScope.admin)
    for url in (f"/api/v1/orders/{HUGE}", f"/api/v1/flows/{HUGE}/versions", f"/api/v1/system/outbox/{HUGE}"):
        response = await admin.get(url, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 404, url
        assert response.json()["status_code"] == 404


async def test_a_shop_filter_in_superscript_digits_is_refused_with_a_message(admin: Client) -> None:
    response = await admin.get("/orders/?shop=²")
    assert response.status_code == 400
    assert "没有这个店铺" in response.text
    assert (await admin.get(f"/orders/?shop={HUGE}")).status_code == 400
    assert (await admin.get("/orders/?shop=1")).status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        "date_to=9999-12-31",
        "date_from=0001-01-01",
        "date_from=1999-12-31",
        "date_to=2026-02-30",
        "date_from=２０２６-01-01",  # fullwidth digits
    ],
)
async def test_a_day_off_the_calendar_we_keep_is_refused_with_a_message(admin: Client, query: str) -> None:
    response = await admin.get(f"/orders/?{query}")
    assert response.status_code == 400
    assert "不是 2000-01-01 至 2099-12-31 之间的日期" in response.text


@pytest.mark.parametrize(
    "after",
    [
        cursor("2026-11-11T10:00:00|5"),  # no time zone
        cursor("0001-01-01T00:00:00+14:00|5"),  # before the calendar once moved to UTC
        cursor(f"2026-11-11T10:00:00+00:00|{HUGE}"),
        cursor("2026-11-11T10:00:00+00:00|²"),
        "not-a-cursor",
    ],
)
async def test_a_page_cursor_we_did_not_write_is_refused_rather_than_repeating_the_first_page(
    admin: Client, after: str
) -> None:
    response = await admin.get(f"/orders/?after={after}", headers={"HX-Request": "true"})
    assert response.status_code == 400
    assert "翻页链接已失效" in response.text


@pytest.mark.parametrize(
    "before",
    [
        "before_at=2026-11-11T10:00:00&before_id=5",  # no time zone
        "before_at=9999-12-31T23:59:59-23:59&before_id=5",  # past the calendar's end once moved to UTC
        f"before_at=2026-11-11T10:00:00%2B00:00&before_id={HUGE}",
        "before_at=2026-11-11T10:00:00%2B00:00&before_id=-5",
        "before_at=yesterday&before_id=5",
        "before_id=5",
    ],
)
async def test_a_hit_count_page_link_we_did_not_write_is_refused(admin: Client, db: Database, before: str) -> None:
    async with db.transaction() as session:
        await flows.publish(session, SYSTEM, 1, "上线")
    response = await admin.get(f"/flows/1/hits/orders?node=start&{before}")
    assert response.status_code == 400
    assert "翻页链接已失效" in response.text
    first = await admin.get("/flows/1/hits/orders?node=start&before_at=2026-11-11T10:00:00%2B08:00&before_id=5")
    assert first.status_code == 200


async def test_a_version_reference_in_unicode_digits_names_no_version(admin: Client, make_token: Any) -> None:
    token = await make_token(TokenScope.read)
    for left in ("²", HUGE):
        page = await admin.get(f"/flows/1/diff?left={left}")
        assert page.status_code == 200
        assert "该版本不存在" in page.text
        api = await admin.get(f"/api/v1/flows/1/diff?left={left}", headers={"Authorization": f"Bearer {token}"})
        assert api.status_code == 404
        assert api.json()["error"] == "version_not_found"


async def test_an_audit_cursor_beyond_the_integer_range_is_refused(admin: Client) -> None:
    assert (await admin.get(f"/settings/audit?before={HUGE}")).status_code == 400
    assert (await admin.get("/settings/audit?before=5")).status_code == 200


async def test_the_channel_stock_api_finds_no_shop_by_a_huge_or_superscript_id(admin: Client, make_token: Any) -> None:
    token = await make_token(TokenScope.read)
    for shop in (HUGE, "²", "1" * 5000):
        response = await admin.get(
            "/api/v1/inventory/channel-stock", params={"shop": shop}, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 404
        assert response.json()["field"] == "shop"


# --- forms: stock quantities ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "form", "message"),
    [
        ("receive", {"warehouse": "SH01", "qty": "1" + "0" * 30}, "数量不能超过 10,000,000"),
        ("receive", {"warehouse": "SH01", "qty": "9999999"}, "库存将超过上限 10,000,000"),
        ("receive", {"warehouse": "SH01", "qty": "²"}, "qty 须为整数"),
        ("transfer", {"from_warehouse": "SH01", "to_warehouse": "BJ01", "qty": "3000000000"}, "数量不能超过"),
        ("safety", {"warehouse": "SH01", "safety_stock": "2147483648"}, "数量不能超过"),
        ("threshold", {"low_stock_threshold": "9" * 40}, "数量不能超过"),
    ],
)
async def test_an_overflowing_stock_quantity_is_refused_with_a_message_and_changes_nothing(
    admin: Client, db: Database, action: str, form: dict[str, str], message: str
) -> None:
    moves = await count(db, StockMove)
    response = await post_form(admin, "/inventory/sku/PHONE-X1", f"/inventory/sku/PHONE-X1/{action}", form)
    assert response.status_code == 400
    assert message in response.text
    assert await count(db, StockMove) == moves
    async with db.reading() as session:
        stock = (
            await session.exec(select(Stock).where(Stock.warehouse_code == "SH01", Stock.sku_code == "PHONE-X1"))
        ).one()
    assert (stock.on_hand, stock.safety_stock) == (120, 10)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (f"PHONE-X1 {HUGE}", "盘点数量不能超过 10,000,000"),
        ("PHONE-X1 ²", "第 1 行应为「SKU 数量」"),
        ("PHONE-X1 ٣", "第 1 行应为「SKU 数量」"),  # int() reads Arabic-Indic digits; a count form should not
    ],
)
async def test_a_stock_count_line_that_overflows_or_is_not_ascii_digits_is_refused(
    admin: Client, db: Database, lines: str, message: str
) -> None:
    moves = await count(db, StockMove)
    response = await post_form(admin, "/inventory/counts", "/inventory/counts", {"warehouse": "SH01", "lines": lines})
    assert response.status_code == 400
    assert message in response.text
    assert await count(db, StockMove) == moves


async def test_a_channel_rule_for_a_huge_shop_id_or_buffer_is_refused(admin: Client, db: Database) -> None:
    rules = await count(db, ChannelStockRule)
    for form in ({"shop_id": HUGE, "ratio_pct": "50"}, {"shop_id": "1", "ratio_pct": "50", "buffer": HUGE}):
        response = await post_form(admin, "/inventory/warehouses", "/inventory/channel-rules", form)
        assert response.status_code == 400
    assert await count(db, ChannelStockRule) == rules


async def test_a_warehouse_with_an_overflowing_handling_cost_is_refused(admin: Client, db: Database) -> None:
    response = await post_form(
        admin,
        "/inventory/warehouses",
        "/inventory/warehouses",
        {"code": "XX01", "name": "溢出仓", "kind": "regional", "province": "上海", "per_order_fen": HUGE},
    )
    assert response.status_code == 400
    assert "操作费不能超过 10,000 元" in response.text
    async with db.reading() as session:
        assert (await session.exec(select(Warehouse).where(Warehouse.code == "XX01"))).first() is None


# --- forms: carrier rates -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"first_fee_yuan": "1e309"}, "请填写快递公司"),
        ({"first_fee_yuan": "nan"}, "请填写快递公司"),
        ({"first_fee_yuan": "99999999999"}, "费用须为不超过 10,000 元"),
        ({"extra_fee_yuan": "10000.01"}, "费用须为不超过 10,000 元"),
        ({"promised_days": "²"}, "请填写快递公司"),
        ({"promised_days": HUGE}, "承诺时效须为不超过 90"),
        ({"min_weight_g": "1" + "0" * 30}, "重量须为不超过 1,000,000 克"),
        ({"min_weight_g": "500", "max_weight_g": "100"}, "截止重量须大于起始重量"),
        ({"dest_province": "省" * 40}, "既不是省份，也不是华东这样的大区"),
    ],
)
async def test_an_overflowing_carrier_fee_or_band_is_refused_with_a_message_and_stores_nothing(
    admin: Client, db: Database, form: dict[str, str], message: str
) -> None:
    rates = await count(db, CarrierRate)
    full = {"carrier_code": "ZTO", "first_fee_yuan": "7.5", "extra_fee_yuan": "1", "promised_days": "3", **form}
    response = await post_form(admin, "/settings/carrier-rates/", "/settings/carrier-rates/", full)
    assert response.status_code == 400
    assert message in response.text
    assert await count(db, CarrierRate) == rates


async def test_a_rate_at_the_bounds_is_kept_to_the_fen(admin: Client, db: Database) -> None:
    form = {"carrier_code": "ZTO", "first_fee_yuan": "10000", "extra_fee_yuan": "0.05", "promised_days": "90"}
    response = await post_form(admin, "/settings/carrier-rates/", "/settings/carrier-rates/", form)
    assert response.status_code == 200
    async with db.reading() as session:
        rate = (await session.exec(select(CarrierRate).where(CarrierRate.first_fee_fen == 1_000_000))).one()
    assert (rate.extra_fee_fen_per_kg, rate.promised_days) == (5, 90)


async def test_a_static_file_name_with_a_nul_byte_or_too_long_for_a_file_system_is_not_found(admin: Client) -> None:
    for url in ("/static/%00", "/static/css/a%00b.css", "/static/" + "x" * 300, f"/inventory/sku/{'x' * 300}"):
        assert (await admin.get(url)).status_code == 404, url
    assert (await admin.get("/static/css/app.css")).status_code == 200


async def test_a_nul_byte_in_the_query_string_is_refused_with_a_message(admin: Client, make_token: Any) -> None:
    page = await admin.get("/orders/?tag=%00")
    assert page.status_code == 400
    assert "此地址包含无法使用的字符" in page.text
    token = await make_token(TokenScope.read)
    api = await admin.get("/api/v1/inventory/channel-stock?shop=a%00", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 400
    assert api.json()["field"] == "shop"


@pytest.mark.parametrize(
    "form",
    [
        {"do": "remove:c.²", "rows": ["c", "c.0"], "kind:c": "group"},
        {"do": "add_rule:c.٣", "rows": ["c", "c.0"], "kind:c": "group"},
        {"do": "", "rows": ["c", "c.0", "c.²"], "kind:c": "group", "field:c.²": "order.amounts.paid_fen"},
        {"do": "remove:c.99999999999999999999999", "rows": ["c", "c.0"], "kind:c": "group"},
    ],
)
async def test_a_condition_builder_row_path_in_unicode_digits_is_ignored(admin: Client, form: dict[str, Any]) -> None:
    node = '{"id": "n2", "type": "condition", "name": "金额", "config": {}}'
    response = await post_form(admin, "/flows/1", "/flows/1/panel", {"node": node, "intent": "apply", **form})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("page", "action", "form"),
    [
        (
            "/inventory/sku/PHONE-X1",
            "/inventory/sku/PHONE-X1/receive",
            {"warehouse": "SH01", "qty": "1", "note": "a\x00"},
        ),
        ("/inventory/warehouses", "/inventory/warehouses", {"code": "Z\x00", "name": "仓", "kind": "regional"}),
        ("/flows", "/flows", {"name": "流程\x00"}),
        ("/settings/", "/settings/tokens", {"name": "对账\x00", "scopes": "read"}),
        (
            "/settings/carrier-rates/",
            "/settings/carrier-rates/",
            {"carrier_code": "ZTO", "first_fee_yuan": "7.5", "extra_fee_yuan": "1", "dest_province": "上海\x00"},
        ),
        ("/flows/1/versions", "/flows/1/publish", {"note": "上线\x00"}),
        ("/flows/1/versions", "/flows/1/publish", {"note\x00": "上线"}),
    ],
)
async def test_a_nul_byte_in_a_form_field_is_refused_with_a_message_and_changes_nothing(
    admin: Client, db: Database, page: str, action: str, form: dict[str, str]
) -> None:
    tables = (StockMove, Warehouse, Flow, FlowVersion, ApiToken, CarrierRate)
    before = [await count(db, table) for table in tables]
    response = await post_form(admin, page, action, form)
    assert response.status_code == 400
    assert "表单包含无法使用的字符" in response.text
    assert [await count(db, table) for table in tables] == before


@pytest.mark.parametrize("form", [{"username": "admin\x00"}, {"username": "ad\x00min"}, {"password": "x\x00"}])
async def test_a_nul_byte_in_the_login_form_is_refused(client: Client, form: dict[str, str]) -> None:
    response = await post_form(client, "/login", "/login", {"username": "admin", "password": "x", **form})
    assert response.status_code == 400
    assert "表单包含无法使用的字符" in response.text


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "application/vnd.api+json", ""])
async def test_a_nul_escape_in_a_json_body_is_refused_whatever_its_content_type_and_a_quoted_backslash_is_not(
    admin: Client, db: Database, make_token: Any, content_type: str
) -> None:
    token = await make_token(TokenScope.read, TokenScope.admin)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
    flows_before = await count(db, Flow)
    refused = await admin.post("/api/v1/flows/", content=b'{"name": "a\\u0000b"}', headers=headers)
    assert refused.status_code == 400
    assert refused.json()["field"] == "body"
    assert await count(db, Flow) == flows_before
    kept = await admin.post("/api/v1/flows/", content=b'{"name": "a\\\\u0000b"}', headers=headers)
    assert kept.status_code == 201
    assert kept.json()["name"] == "a\\u0000b"


async def test_a_flow_priority_or_version_id_beyond_the_integer_range_in_a_json_body_is_refused(
    admin: Client, db: Database, make_token: Any
) -> None:
    token = await make_token(TokenScope.read, TokenScope.admin)
    headers = {"Authorization": f"Bearer {token}"}
    flows_before = await count(db, Flow)
    created = await admin.post("/api/v1/flows/", json={"name": "大数", "priority": int(HUGE)}, headers=headers)
    assert created.status_code == 400
    assert created.json()["field"] == "priority"
    assert "-100,000 到 100,000" in created.json()["detail"]
    imported = await admin.post(
        "/api/v1/flows/import",
        json={
            "format": EXPORT_FORMAT,
            "flow": {"name": "大数", "priority": int(HUGE)},
            "document": {"schema": 1, "nodes": [], "edges": []},
        },
        headers=headers,
    )
    assert imported.status_code == 400
    assert await count(db, Flow) == flows_before
    rollback = await admin.post("/api/v1/flows/1/rollback", json={"version_id": int(HUGE)}, headers=headers)
    assert rollback.status_code == 404
    assert rollback.json()["error"] == "version_not_found"

"""Carriers as master data: an admin adds, edits, disables and enables carriers with their own API settings and
keeps their rate lines; bad input is refused in Chinese and changes nothing; routing follows at once (a disabled
carrier is never chosen, a region's line prices its provinces); the API reads both without a secret; a carrier
with its own API gets its waybills from it, signed with its own key."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlmodel import col, func, select

from app.domain.accounts.models import AuditEntry, Role, TokenScope
from app.domain.accounts.services import SYSTEM
from app.domain.fulfillment import carrier_master, services
from app.domain.fulfillment import jobs as fulfillment_jobs
from app.domain.fulfillment.carriers import HttpCarrierClient, sign
from app.domain.fulfillment.models import Carrier, CarrierRate, Shipment
from app.domain.processing import jobs as processing_jobs
from tests.integration.forms import login, post_form
from tests.integration.processing.conftest import demo_data, generic_order
from tests.integration.processing.test_actions import ROUTE, land, linear_flow, process, publish

__all__ = ["demo_data"]  # the processing tests' demo network, used below

NEW_CARRIER = {
    "code": "DBKD",
    "name": "德邦快递",
    "supports_cold_chain": "",
    "api_base_url": "https://open.deppon.example/api",
    "customer_code": "DB-88001",
    "api_key": "deppon-key",
    "api_secret": "deppon-very-secret",
    "is_active": "on",
}


async def count(db, model, *where) -> int:
    async with db.reading() as session:
        return int((await session.exec(select(func.count()).select_from(model).where(*where))).one())


async def carrier(db, code: str) -> Carrier | None:
    async with db.reading() as session:
        return (await session.exec(select(Carrier).where(Carrier.code == code))).first()


async def audit_rows(db, action: str) -> list[AuditEntry]:
    async with db.reading() as session:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(col(AuditEntry.id))
        return list((await session.exec(query)).all())


async def quoted(db, dest: str, *, zone: str = "ambient", weight_g: int = 800) -> dict[str, int]:
    async with db.reading() as session:
        found = await services.quotes(
            session, origin_province="上海", dest_province=dest, weight_g=weight_g, temperature_zone=zone
        )
    return {q.carrier_code: q.fee_fen for q in found}


@pytest.fixture
async def admin(client, make_user):
    await make_user(Role.admin, username="boss")
    await login(client, "boss")


async def test_an_admin_adds_a_carrier_with_its_api_settings_kept_encrypted_and_audited(
    client, db, settings, carriers, admin
):
    response = await post_form(client, "/settings/carriers/", "/settings/carriers/new", NEW_CARRIER)
    assert response.status_code == 303 and response.headers["location"] == "/settings/carriers#carrier-DBKD"
    saved = await carrier(db, "DBKD")
    assert (saved.name, saved.supports_cold_chain, saved.is_active, saved.customer_code) == (
        "德邦快递",
        False,
        True,
        "DB-88001",
    )
    assert "very-secret" not in saved.api_secret_cipher
    assert carrier_master.api_secret_of(saved, settings.secret_key) == "deppon-very-secret"
    [entry] = await audit_rows(db, "carrier.created")
    assert entry.target_id == "DBKD" and entry.after["api_secret_set"] is True and "very-secret" not in str(entry.after)
    page = (await client.get("/settings/carriers/")).text
    assert 'data-testid="carrier-DBKD"' in page and "very-secret" not in page
    assert 'data-testid="settings-carriers-link"' in (await client.get("/settings/")).text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"code": "SF"}, "快递编码 SF 已被使用。"),
        ({"code": "sf"}, "快递编码 sf 已被使用。"),
        ({"code": "德邦"}, "快递编码 德邦 只能包含字母、数字、- 和 _"),
        ({"code": ""}, "请填写快递编码。"),
        ({"name": " "}, "请填写快递公司名称。"),
        ({"api_base_url": "deppon.example"}, "API 地址须以 http:// 或 https:// 开头。"),
        ({"customer_code": "9" * 65}, "customer_code 最多 64 个字符。"),
    ],
)
async def test_a_new_carrier_is_refused_in_chinese_and_nothing_is_added(client, db, carriers, admin, change, message):
    before = await count(db, Carrier)
    response = await post_form(client, "/settings/carriers/", "/settings/carriers/new", NEW_CARRIER | change)
    assert response.status_code in (400, 409)
    assert message in response.text and 'data-testid="carrier-error"' in response.text
    assert "deppon-very-secret" not in response.text
    assert await count(db, Carrier) == before


async def test_a_disabled_carrier_is_no_longer_quoted_and_comes_back_when_enabled(client, db, carriers, admin):
    assert "STO" in await quoted(db, "浙江")
    form = {"name": "申通快递", "api_base_url": "", "customer_code": "", "api_key": ""}
    response = await post_form(client, "/settings/carriers/", "/settings/carriers/STO/save", form)
    assert response.status_code == 303
    assert (await carrier(db, "STO")).is_active is False
    assert "STO" not in await quoted(db, "浙江")
    [entry] = await audit_rows(db, "carrier.disabled")
    assert (entry.before["is_active"], entry.after["is_active"]) == (True, False)
    page = (await client.get("/settings/carriers/")).text
    assert 'data-testid="carrier-disabled-STO"' in page
    await post_form(client, "/settings/carriers/", "/settings/carriers/STO/save", form | {"is_active": "on"})
    assert "STO" in await quoted(db, "浙江")


async def test_a_carrier_made_cold_chain_carries_chilled_parcels_and_unticking_takes_it_away(
    client, db, carriers, admin
):
    assert "ZTO" not in await quoted(db, "江苏", zone="chilled")
    form = {"name": "中通冷链", "is_active": "on"}
    await post_form(client, "/settings/carriers/", "/settings/carriers/ZTO/save", form | {"supports_cold_chain": "on"})
    assert (await carrier(db, "ZTO")).name == "中通冷链"
    assert "ZTO" in await quoted(db, "江苏", zone="chilled")  # its national line is for any zone
    await post_form(client, "/settings/carriers/", "/settings/carriers/ZTO/save", form)
    assert (await carrier(db, "ZTO")).supports_cold_chain is False
    assert "ZTO" not in await quoted(db, "江苏", zone="chilled")


async def test_a_region_line_prices_its_provinces_and_a_province_line_beats_it(client, db, carriers, admin):
    line = {"carrier_code": "ZTO", "first_fee_yuan": "3.20", "promised_days": "2"}
    response = await post_form(
        client, "/settings/carrier-rates/", "/settings/carrier-rates/", line | {"dest_province": "华东"}
    )
    assert response.status_code == 200
    assert (await quoted(db, "浙江省"))["ZTO"] == 320
    assert (await quoted(db, "北京"))["ZTO"] == 500  # 华北: the national line
    await post_form(
        client,
        "/settings/carrier-rates/",
        "/settings/carrier-rates/",
        line | {"dest_province": "浙江省", "first_fee_yuan": "2.80"},
    )
    assert (await quoted(db, "浙江"))["ZTO"] == 280 and (await quoted(db, "江苏"))["ZTO"] == 320
    async with db.reading() as session:
        stored = (await session.exec(select(CarrierRate).where(CarrierRate.first_fee_fen == 280))).one()
    assert stored.dest_province == "浙江"  # kept by its short name, as routing compares


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"dest_province": "华东区"}, "华东区 既不是省份，也不是华东这样的大区"),
        ({"origin_province": "华东"}, "华东 不是省份"),
        ({"temperature_zone": "warm"}, "warm 不是温层"),
        ({"carrier_code": "NOPE"}, "没有编码为 NOPE 的快递公司。"),
        ({"min_weight_g": "3000", "max_weight_g": "1000"}, "截止重量须大于起始重量"),
        ({"first_fee_yuan": "-1"}, "请填写"),
    ],
)
async def test_a_bad_rate_line_is_refused_in_chinese_and_changes_nothing(client, db, carriers, admin, change, message):
    before = await count(db, CarrierRate)
    line = {"carrier_code": "ZTO", "first_fee_yuan": "3", "promised_days": "2"}
    response = await post_form(client, "/settings/carrier-rates/", "/settings/carrier-rates/", line | change)
    assert response.status_code == 400
    assert message in response.text and 'data-testid="rates-error"' in response.text
    assert await count(db, CarrierRate) == before


async def test_an_admin_deletes_a_rate_line(client, db, carriers, admin):
    async with db.reading() as session:
        line = (await session.exec(select(CarrierRate).where(CarrierRate.carrier_code == "EMS"))).first()
    before = await count(db, CarrierRate)
    response = await post_form(client, "/settings/carrier-rates/", f"/settings/carrier-rates/{line.id}/delete", {})
    assert response.status_code == 303
    assert await count(db, CarrierRate) == before - 1
    [entry] = await audit_rows(db, "carrier_rate.delete")
    assert entry.before["carrier_code"] == "EMS"
    shown = (await client.get("/settings/carrier-rates/?carrier=EMS")).text
    table = shown.split('data-testid="rates-table"')[1].split("</table>")[0]
    assert f'data-testid="rate-{line.id}"' not in table and "<td>SF</td>" not in table and "<td>EMS</td>" in table


# --- the API -----------------------------------------------------------------------------------------------


async def test_the_api_lists_carriers_and_their_rates_without_secrets(client, db, settings, carriers, make_token):
    async with db.transaction() as session:
        await carrier_master.create_carrier(session, settings.secret_key, NEW_CARRIER | {"is_active": True}, SYSTEM)
    headers = {"Authorization": f"Bearer {await make_token(TokenScope.read)}"}
    listed = await client.get("/api/v1/carriers", headers=headers)
    assert listed.status_code == 200
    by_code = {item["code"]: item for item in listed.json()["items"]}
    assert sorted(by_code) == ["DBKD", "EMS", "JD", "SF", "STO", "YTO", "YUNDA", "ZTO"]
    assert (by_code["DBKD"]["customer_code"], by_code["DBKD"]["api_secret_set"]) == ("DB-88001", True)
    assert by_code["SF"]["supports_cold_chain"] is True and "very-secret" not in listed.text
    rates = await client.get("/api/v1/carriers/SF/rates", headers=headers)
    lines = rates.json()["items"]
    assert rates.json()["carrier"] == "SF" and len(lines) == 12
    national = next(r for r in lines if r["dest_province"] == "*" and r["temperature_zone"] == "*")
    assert (national["first_fee_fen"], national["extra_fee_fen_per_kg"], national["promised_days"]) == (1200, 200, 1)
    missing = await client.get("/api/v1/carriers/NOPE/rates", headers=headers)
    assert missing.status_code == 404 and missing.json()["message"] == "没有编码为 NOPE 的快递公司。"


async def test_the_api_adds_and_disables_a_carrier_with_an_admin_token_only(client, db, carriers, make_token):
    admin = {"Authorization": f"Bearer {await make_token(TokenScope.admin)}"}
    reader = {"Authorization": f"Bearer {await make_token(TokenScope.read, name='wms')}"}
    body = {"code": "JTSD", "name": "极兔速递", "api_secret": "jt-s3cret"}
    assert (await client.post("/api/v1/carriers", json=body, headers=reader)).status_code == 403
    created = await client.post("/api/v1/carriers", json=body, headers=admin)
    assert created.status_code == 201 and created.json()["api_secret_set"] is True and "jt-s3cret" not in created.text
    changed = await client.patch("/api/v1/carriers/JTSD", json={"is_active": False}, headers=admin)
    assert changed.status_code == 200 and changed.json()["is_active"] is False
    refused = await client.patch("/api/v1/carriers/JTSD", json={"code": "JT"}, headers=admin)
    assert refused.status_code == 400 and refused.json()["field"] == "code"
    duplicate = await client.post("/api/v1/carriers", json={"code": "SF", "name": "x"}, headers=admin)
    assert duplicate.status_code == 409 and duplicate.json()["message"] == "快递编码 SF 已被使用。"
    assert await count(db, Carrier) == 8


# --- the carrier's own waybill API --------------------------------------------------------------------------


class FakeCarrierApi(BaseHTTPRequestHandler):
    """A carrier's e-waybill API: checks the app key and the body's signature as the real one would."""

    key = "deppon-key"
    secret = "deppon-very-secret"
    received: list[dict[str, Any]] = []  # noqa: RUF012

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        good = self.headers["X-App-Key"] == self.key and self.headers["X-Sign"] == sign(self.secret, body)
        if self.path != "/api/waybills" or not good:
            self.send_response(403)
            self.end_headers()
            return
        request = json.loads(body)
        self.received.append(request)
        answer = json.dumps({"waybill_no": f"DPK{len(self.received):09d}"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def carrier_api() -> Iterator[str]:
    FakeCarrierApi.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeCarrierApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api"
    server.shutdown()


async def test_a_carrier_with_its_own_api_gets_the_waybills_of_orders_routed_to_it_there(
    db, settings, demo_data, carrier_api
):
    async with db.transaction() as session:
        values = NEW_CARRIER | {"api_base_url": carrier_api, "is_active": True, "supports_cold_chain": False}
        await carrier_master.create_carrier(session, settings.secret_key, values, SYSTEM)
    await publish(db, linear_flow(*ROUTE[:2], ("assign_carrier", {"code": "DBKD"}), ("request_waybill", {})))
    order_id = await land(db, settings, generic_order("W1", lines=[("MASK-10", 1, 9900)]))
    assert (await process(db, settings, order_id))["state"] == "processed"
    async with db.reading() as session:
        shipment = (await session.exec(select(Shipment).where(Shipment.order_id == order_id))).one()
    answer = await processing_jobs.request_waybill({"db": db, "settings": settings}, shipment.id)
    assert answer.get("waybill_no") == "DPK000000001", answer
    async with db.reading() as session:
        assert (await session.get(Shipment, shipment.id)).waybill_no == "DPK000000001"
    # Signed with the carrier's own key and secret (the fake refuses anything else), with its customer code.
    [request] = FakeCarrierApi.received
    assert (request["carrier_code"], request["customer_code"]) == ("DBKD", "DB-88001")


async def test_a_carrier_without_its_own_api_keeps_the_configured_one(db, settings, carriers):
    async with db.reading() as session:
        sf = await carrier_master.carrier_named(session, "SF")
    client = fulfillment_jobs.client_for(sf, settings, {})
    assert isinstance(client, HttpCarrierClient) and client.base_url == settings.carrier_api_url.rstrip("/")

"""Buyers' personal data (PIPL), tried as someone who wants a buyer's phone number or street address:

- read the database file and its WAL byte by byte after an order was delivered by webhook, processed by the
  published flow (reservation, waybill from the carrier, SMS) and another one failed into the error queue;
- open the order page, the error queue and an error as a viewer, or call the order API with a read token;
- have the buyer type the phone and street into the buyer message, or a carrier echo them back (in its
  answer or in a refusal);
- deliver any platform's own payload format (the adapters' fields) and look for clear mobiles in what is kept;
- reveal the original payload as a viewer (refused) or as an admin (shown, and audited with a timeline entry);
- replay an error as an operator who only sees the masked copy (the real phone survives the replay);
- deliver a 5 MB buyer message (cut, never kept whole);
- put a phone into a line title (刻字 139…), the buyer's nick or a tag: masked in the lines, the trace, the
  payload, the pages and the file; read a masked street for its lane or house number (none is kept);
- deliver a body that is not JSON (a trailing comma, cut short, single quotes, a 5,000-digit number): every
  value is masked without knowing the fields, the admin still sees the original, a huge one is sealed cut;
- replay the masked copy of such a body with its syntax fixed (refused: it would be an order of stars; the
  sealed original stays);
- look for the receiver's full name as a viewer (order page, list), an operator (review queue, address form),
  in the stored trace of the published flow (which reads it) and in a read token's simulation of the order;
- upgrade a database whose rows were written in clear before (the migration seals and redacts them).
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine
from sqlalchemy import text as sql
from sqlmodel import select

from app.db import Database
from app.domain.accounts.models import AuditEntry, Role, TokenScope
from app.domain.accounts.services import SYSTEM
from app.domain.channels import services as channels
from app.domain.channels.adapters import adapter_for
from app.domain.channels.models import IngestError, IngestSource
from app.domain.channels.services import SHOP_HEADER, SIGNATURE_HEADER, sign_body
from app.domain.flows import services as flow_services
from app.domain.fulfillment.carriers import CarrierError, WaybillRequest, WaybillResult
from app.domain.fulfillment.models import BuyerNotification, Shipment, Waybill
from app.domain.orders import pii
from app.domain.orders.models import Order, OrderEvent, OrderLine, OrderStatus
from app.domain.processing import jobs as processing_jobs
from app.domain.processing.models import OrderProcessing, ProcessingState
from app.domain.shops.models import Shop
from app.settings import PROJECT_ROOT, Settings
from tests.integration.conftest import BACKEND
from tests.integration.forms import PASSWORD, csrf_from, login, post_form
from tests.integration.processing import conftest as processing
from tests.integration.processing.conftest import deliver, generic_order, wait_for, wait_until_settled
from tests.samples import channels as samples

# The processing fixtures: the demo data and flow, the app served on a real port with its worker.
settings = processing.settings
demo_data = processing.demo_data
demo = processing.demo
server = processing.server
worker = processing.worker

PHONE = "13912345678"
STREET = "南京西路1788号"
NAME = "李晓娜"


def forms_of(value: str) -> list[bytes]:
    """The ways a value can sit in the file: UTF-8 text, and JSON's \\u escapes (SQLAlchemy's JSON columns)."""
    return [value.encode(), json.dumps(value)[1:-1].encode()]


def file_bytes(path: Path) -> bytes:
    """The file's bytes, or nothing when it does not exist (a WAL after a truncating checkpoint may not)."""
    return path.read_bytes() if path.exists() else b""


def checkpoint(path: Path) -> None:
    """Copy the WAL into the database file (and empty it when no one is reading)."""
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


def assert_absent(data: bytes | str, where: str) -> None:
    blob = data.encode() if isinstance(data, str) else data
    for value in (PHONE, STREET):
        for form in forms_of(value):
            assert form not in blob, f"{value} found in {where}"


def webshop_order(order_id: str, **changes: Any) -> dict[str, Any]:
    order = generic_order(
        order_id,
        lines=[("PHONE-X1", 1, 399900)],
        province="上海",
        city="上海市",
        district="静安区",
        address=STREET,
        name=NAME,
        phone=PHONE,
    )
    order["buyer_message"] = f"到了打我电话 {PHONE[:3]} {PHONE[3:7]} {PHONE[7:]}，送到{STREET}后门"
    order.update(changes)
    return order


def tmall_order(tid: str, **changes: Any) -> dict[str, Any]:
    trade = samples.taobao_multi_line_with_gift()
    trade.update(
        tid=tid,
        receiver_name=NAME,
        receiver_mobile=PHONE,
        receiver_phone=f"+86 {PHONE}",
        receiver_address=STREET,
        buyer_message=f"送{STREET}",
    )
    trade.update(changes)
    return trade


async def shop(db: Database, code: str) -> Shop:
    async with db.reading() as session:
        return (await session.exec(select(Shop).where(Shop.code == code))).one()


async def land(db: Database, settings: Settings, code: str, payload: Any) -> channels.IngestResult:
    return await channels.ingest(db, settings, await shop(db, code), payload, IngestSource.webhook)


# --- the database file and its WAL ------------------------------------------------------------------------


async def test_no_clear_phone_or_street_is_left_in_the_database_file_or_its_wal(server, worker, db, settings):
    order_id = (await deliver(server, "webshop", "webshop", webshop_order("PII-1")))["order_id"]
    await deliver(server, "tmall", "tmall-flagship", tmall_order("880001"))
    failed = await deliver_invalid(server, "tmall", "tmall-flagship", tmall_order("880002", status="NOT_A_STATUS"))
    await wait_until_settled(db, 2)

    async def waybilled_and_told(session: Any) -> bool:
        shipments = (await session.exec(select(Shipment).where(Shipment.order_id == order_id))).all()
        notes = (await session.exec(select(BuyerNotification))).all()
        return bool(shipments) and all(s.waybill_no for s in shipments) and any(n.status == "sent" for n in notes)

    await wait_for(db, waybilled_and_told, what="the waybill and the SMS")
    # An admin looks at everything there is to look at: that writes audit rows and timeline entries too.
    async with httpx.AsyncClient(base_url=server, timeout=30) as browser:
        await admin_session(db, browser)
        for url in (
            f"/orders/{order_id}/reveal",
            f"/orders/{order_id}/payload",
            f"/orders/errors/{failed['error_id']}/payload",
        ):
            page = await browser.get(f"/orders/{order_id}")
            response = await browser.post(url, data={"_csrf_token": csrf_from(page.text)})
            assert response.status_code == 200 and PHONE in response.text, url

    async with db.reading() as session:
        note = (await session.exec(select(BuyerNotification).where(BuyerNotification.via == "sms"))).first()
        waybill = (await session.exec(select(Waybill))).first()
    # The SMS gateway can still reach the buyer, and the carrier got the receiver (it echoed it back, masked here).
    assert note is not None and pii.decrypt(settings.secret_key, note.recipient_cipher) == PHONE
    assert waybill is not None and "139****5678" in json.dumps(waybill.response)

    if BACKEND == "postgres":
        return  # the byte-level check is about the SQLite file; PostgreSQL got the same rows, checked above
    path = Path(settings.database_url.split("///", 1)[1])
    wal = Path(f"{path}-wal")
    assert len(file_bytes(wal)) > 0  # the WAL holds every page written in this test
    assert_absent(file_bytes(wal), "the WAL")
    assert_absent(file_bytes(path), "the database file")
    checkpoint(path)
    assert_absent(file_bytes(path), "the database file after a checkpoint")
    assert_absent(file_bytes(wal), "the WAL after a checkpoint")


async def deliver_invalid(base_url: str, channel: str, shop_code: str, payload: Any) -> dict[str, Any]:
    """POST an order the pipeline cannot read: it is refused and kept in the error queue."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {SHOP_HEADER: shop_code, SIGNATURE_HEADER: sign_body(processing.SECRET, body)}
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.post(f"/api/v1/channels/{channel}/orders", content=body, headers=headers)
    assert response.status_code == 422, response.text
    assert_absent(response.text, "the webhook's answer")
    return dict(response.json())


async def admin_session(db: Database, browser: httpx.AsyncClient) -> None:
    from app.domain.accounts import services as accounts
    from app.domain.accounts.models import UserCreate
    from app.domain.accounts.services import SYSTEM

    async with db.transaction() as session:
        await accounts.create_user(
            session, UserCreate(username="pii-admin", display_name="管理员", role=Role.admin, password=PASSWORD), SYSTEM
        )
    page = await browser.get("/login")
    await browser.post(
        "/login", data={"_csrf_token": csrf_from(page.text), "username": "pii-admin", "password": PASSWORD}
    )


async def test_the_carrier_gets_the_receiver_in_clear_and_a_refusal_quoting_it_is_kept_masked(
    db,
    settings,
    demo,
):
    order = await land(db, settings, "webshop", webshop_order("PII-6"))
    assert order.order_id is not None
    outcome = await processing_jobs.process_order({"db": db, "settings": settings}, order.order_id)
    assert outcome["state"] == "processed", outcome
    async with db.reading() as session:
        shipment = (await session.exec(select(Shipment).where(Shipment.order_id == order.order_id))).one()
    sent: list[WaybillRequest] = []

    class RefusingCarrier:
        async def create_waybill(self, request: WaybillRequest) -> WaybillResult:
            sent.append(request)
            raise CarrierError(f"收件人 {request.receiver_name} {request.receiver_phone} 地址不可达", transient=False)

    ctx = {"db": db, "settings": settings, "carrier_client": RefusingCarrier()}
    answer = await processing_jobs.request_waybill(ctx, shipment.id)
    assert sent[0].receiver_phone == PHONE and STREET in sent[0].receiver_address  # on the wire, in clear
    async with db.reading() as session:
        proc = await session.get(OrderProcessing, order.order_id)
    assert proc is not None and "拒绝出面单" in proc.hold_reason and "139****5678" in proc.hold_reason
    assert_absent(proc.hold_reason + json.dumps(answer, ensure_ascii=False), "the kept refusal")


# --- what a viewer and a read token see -------------------------------------------------------------------


async def test_a_viewer_sees_only_masked_phone_and_street_on_the_order_and_error_pages(
    client,
    db,
    settings,
    demo_data,
    make_user,
):
    order = await land(db, settings, "webshop", webshop_order("PII-2"))
    error = await land(db, settings, "tmall-flagship", tmall_order("880003", status="NOT_A_STATUS"))
    await make_user(Role.viewer, username="pii-viewer")
    await login(client, "pii-viewer")
    detail = await client.get(f"/orders/{order.order_id}")
    assert detail.status_code == 200
    assert "139****5678" in detail.text and 'data-testid="raw-redacted"' in detail.text
    assert 'data-testid="reveal-payload"' not in detail.text
    assert_absent(detail.text, "the order page")
    for url in ("/orders/errors", f"/orders/errors/{error.error_id}"):
        page = await client.get(url)
        assert page.status_code == 200
        assert_absent(page.text, url)
    assert "139****5678" in (await client.get(f"/orders/errors/{error.error_id}")).text


async def test_a_viewer_cannot_reveal_an_original_payload(client, db, settings, demo_data, make_user):
    order = await land(db, settings, "webshop", webshop_order("PII-3"))
    error = await land(db, settings, "tmall-flagship", tmall_order("880004", status="NOT_A_STATUS"))
    await make_user(Role.viewer, username="pii-viewer")
    await login(client, "pii-viewer")
    page = f"/orders/{order.order_id}"
    assert (await post_form(client, page, f"/orders/{order.order_id}/payload", {})).status_code == 403
    assert (await post_form(client, page, f"/orders/errors/{error.error_id}/payload", {})).status_code == 403
    async with db.reading() as session:
        assert (await session.exec(select(AuditEntry).where(AuditEntry.action == "pii.reveal_payload"))).all() == []


async def test_a_read_token_gets_masked_values_only_from_the_order_api(client, db, settings, demo_data, make_token):
    result = await land(db, settings, "tmall-flagship", tmall_order("880005"))
    token = await make_token(TokenScope.read)
    response = await client.get(f"/api/v1/orders/{result.order_id}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert_absent(response.text, "the API answer")
    order = response.json()
    assert "phone_cipher" not in response.text and "address_cipher" not in response.text
    assert order["receiver"]["phone_masked"] == "139****5678"
    assert order["receiver"]["name"] == "李**"
    assert order["raw"]["receiver_mobile"] == "139****5678" and order["raw"]["receiver_name"] == "李**"
    assert order["raw"]["receiver_address"] == pii.mask_address(STREET)
    assert "v1:" not in response.text  # no ciphertext of any kind


async def test_every_platform_payload_is_kept_without_a_clear_mobile_or_street(db, settings, demo_data):
    deliveries = [
        ("tmall-flagship", samples.taobao_multi_line_with_gift()),
        ("jd-pop", samples.jd_order_with_coupon_and_gift()),
        ("douyin-live", samples.douyin_presale_bundle_gift_refund()),
        ("kuaishou-shop", samples.kuaishou_paid()),
        ("youzan-shop", samples.youzan_presale_with_present()),
        ("wechat-channels", samples.wechat_channels_order()),
        ("pos-sh-nanjingxilu", samples.pos_order()),
    ]
    for code, payload in deliveries:
        result = await land(db, settings, code, payload)
        assert result.order_id is not None, (code, result)
        async with db.reading() as session:
            order = await session.get(Order, result.order_id)
        assert order is not None
        kept = json.dumps(order.raw, ensure_ascii=False)
        assert re.search(r"(?<!\d)1[3-9]\d{9}(?!\d)", kept) is None, (code, kept)
        street = pii.decrypt(settings.secret_key, order.address_cipher)
        if street:
            assert street not in kept, code
        # The sealed original is exactly what came (the audited reveal returns it).
        unwrapped = adapter_for(order.channel).unwrap(payload)
        assert pii.unseal_json(settings.secret_key, order.raw_cipher) == unwrapped, code


# --- seeing the original ----------------------------------------------------------------------------------


async def test_an_admin_sees_the_original_payload_and_the_look_is_audited(client, db, settings, demo_data, make_user):
    order = await land(db, settings, "webshop", webshop_order("PII-4"))
    await make_user(Role.admin, username="pii-admin")
    await login(client, "pii-admin")
    page = f"/orders/{order.order_id}"
    assert 'data-testid="reveal-payload"' in (await client.get(page)).text
    revealed = await post_form(client, page, f"/orders/{order.order_id}/payload", {})
    assert revealed.status_code == 200
    assert PHONE in revealed.text and STREET in revealed.text and 'data-testid="raw-original"' in revealed.text
    async with db.reading() as session:
        entry = (await session.exec(select(AuditEntry).where(AuditEntry.action == "pii.reveal_payload"))).one()
        events = (await session.exec(select(OrderEvent).where(OrderEvent.order_id == order.order_id))).all()
    assert (entry.actor_name, entry.target_type, entry.target_id) == ("pii-admin", "order", str(order.order_id))
    assert "payload_revealed" in {event.kind for event in events}
    assert_absent(json.dumps([entry.after, [e.detail for e in events]], ensure_ascii=False), "the audit and timeline")


async def test_an_admin_reveals_an_error_payload_and_the_look_is_audited(client, db, settings, demo_data, make_user):
    error = await land(db, settings, "tmall-flagship", tmall_order("880006", status="NOT_A_STATUS"))
    await make_user(Role.admin, username="pii-admin")
    await login(client, "pii-admin")
    page = f"/orders/errors/{error.error_id}"
    assert_absent((await client.get(page)).text, "the error page before the reveal")
    revealed = await post_form(client, page, f"/orders/errors/{error.error_id}/payload", {})
    assert revealed.status_code == 200 and PHONE in revealed.text and STREET in revealed.text
    async with db.reading() as session:
        entry = (await session.exec(select(AuditEntry).where(AuditEntry.action == "pii.reveal_payload"))).one()
    assert (entry.target_type, entry.target_id) == ("ingest_error", str(error.error_id))


# --- replaying what one cannot see ------------------------------------------------------------------------


async def test_an_operator_fixes_the_masked_copy_and_the_replayed_order_keeps_the_real_phone(
    client,
    db,
    settings,
    demo_data,
    make_user,
):
    error = await land(db, settings, "tmall-flagship", tmall_order("880007", status="NOT_A_STATUS"))
    await make_user(Role.operator, username="pii-operator")
    await login(client, "pii-operator")
    page = await client.get(f"/orders/errors/{error.error_id}")
    assert 'data-testid="reveal-payload"' not in page.text  # an operator cannot see the original...
    shown = re.search(r'data-testid="error-payload">([^<]*)</textarea>', page.text)
    assert shown is not None
    masked = shown.group(1).replace("&#34;", '"').replace("&quot;", '"').replace("&amp;", "&")
    assert_absent(masked, "the replay form")
    fixed = masked.replace('"NOT_A_STATUS"', '"WAIT_SELLER_SEND_GOODS"')
    replayed = await client.post(
        f"/orders/errors/{error.error_id}/replay",
        data={"_csrf_token": csrf_from(page.text), "payload": fixed},
    )
    assert replayed.status_code == 200, replayed.text  # ...but can still fix the status and replay
    assert_absent(replayed.text, "the replay answer")
    async with db.reading() as session:
        row = await session.get(IngestError, error.error_id)
        assert row is not None and row.order_id is not None and row.status.value == "replayed"
        order = await session.get(Order, row.order_id)
    assert order is not None and order.raw_status == "WAIT_SELLER_SEND_GOODS"
    assert pii.decrypt(settings.secret_key, order.phone_cipher) == PHONE
    assert pii.decrypt(settings.secret_key, order.address_cipher) == STREET
    assert order.receiver_name == NAME
    assert_absent(row.payload + json.dumps(order.raw), "the replayed rows")


# --- oversized fields -------------------------------------------------------------------------------------


async def test_a_five_megabyte_buyer_message_is_stored_cut(db, settings, demo_data):
    huge = "好" * 5_000_000
    order = await land(db, settings, "webshop", webshop_order("PII-5", buyer_message=huge))
    error = await land(db, settings, "tmall-flagship", tmall_order("880008", status="NOT_A_STATUS", buyer_message=huge))
    async with db.reading() as session:
        row = await session.get(Order, order.order_id)
        failed = await session.get(IngestError, error.error_id)
    assert row is not None and failed is not None
    assert len(row.buyer_message) == 1000 and row.buyer_message.endswith(pii.TRUNCATED)
    assert row.raw["buyer_message"].endswith(pii.TRUNCATED) and len(row.raw["buyer_message"]) == 2000
    original = pii.unseal_json(settings.secret_key, row.raw_cipher)
    assert len(original["buyer_message"]) == 2000
    assert len(row.raw_cipher or "") < 50_000
    assert pii.TRUNCATED in failed.payload and len(failed.payload) < 50_000
    assert len(failed.payload_cipher or "") < 50_000


# --- rows written before ----------------------------------------------------------------------------------


def alembic(url: str, secret_key: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.attributes.update(database_url=url, configure_logging=False, secret_key=secret_key)
    return config


def defaults(connection: Any, table: str) -> dict[str, Any]:
    """Some value for every required column of a table, as the schema stands."""
    filled: dict[str, Any] = {}
    for _, name, kind, notnull, default, pk in connection.execute(sql(f"PRAGMA table_info({table})")).all():
        if pk or not notnull or default is not None:
            continue
        kind = kind.upper()
        filled[name] = 0 if ("INT" in kind or "BOOL" in kind) else "2026-11-11 00:00:00" if "DATETIME" in kind else ""
    return filled


def test_the_migration_seals_payloads_that_were_stored_in_clear(tmp_path):
    # Its own SQLite file whatever the backend: an older database written in clear, upgraded in place.
    secret = "m" * 48
    path = tmp_path / "legacy.db"
    url = f"sqlite+aiosqlite:///{path}"
    command.upgrade(alembic(url, secret), "0006_processing")
    payload = tmall_order("770001")
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        shop_id = connection.execute(
            sql(
                "INSERT INTO shops (channel, code, name, is_active, webhook_secret, api_base_url, app_key,"
                " app_secret, access_token, pull_interval_minutes, pull_cursor)"
                " VALUES ('tmall', 't', 't', 1, '', '', '', '', '', 0, '')"
            )
        ).lastrowid
        order_row = {
            **defaults(connection, "orders"),
            "channel": "tmall",
            "shop_id": shop_id,
            "external_id": "770001",
            "status": "received",
            "receiver_name": NAME,
            "phone_cipher": pii.encrypt(secret, PHONE),
            "address_cipher": pii.encrypt(secret, STREET),
            "buyer_message": f"电话{PHONE}",
            "tags": "[]",
            "raw": json.dumps(payload, ensure_ascii=False),
        }
        connection.execute(
            sql(f"INSERT INTO orders ({', '.join(order_row)}) VALUES ({', '.join(':' + k for k in order_row)})"),
            order_row,
        )
        error_row = {
            **defaults(connection, "ingest_errors"),
            "channel": "tmall",
            "shop_id": shop_id,
            "source": "webhook",
            "status": "open",
            "payload": json.dumps(payload, ensure_ascii=False),
            "message": f"status: unknown Taobao trade status {PHONE!r}",
        }
        connection.execute(
            sql(f"INSERT INTO ingest_errors ({', '.join(error_row)}) VALUES ({', '.join(':' + k for k in error_row)})"),
            error_row,
        )
    command.upgrade(alembic(url, secret), "heads")
    with engine.connect() as connection:
        raw, raw_cipher, message = connection.execute(sql("SELECT raw, raw_cipher, buyer_message FROM orders")).one()
        shown, sealed, reason = connection.execute(
            sql("SELECT payload, payload_cipher, message FROM ingest_errors")
        ).one()
    engine.dispose()
    assert_absent(raw + message + shown + reason, "the migrated rows")
    assert json.loads(raw)["receiver_mobile"] == "139****5678"
    assert pii.unseal_json(secret, raw_cipher) == payload
    assert json.loads(pii.unseal_text(secret, sealed) or "") == payload
    assert_absent(file_bytes(path), "the migrated database file")
    assert file_bytes(Path(f"{path}-wal")) == b""  # the migration emptied the WAL it wrote the clear rows to


# --- a body that is not JSON ------------------------------------------------------------------------------

BROKEN_STREET = "明珠路 66 弄 3 号 808 室"
BROKEN_NAME = "钱多多"
BROKEN_PHONE = "13912345678"
BROKEN_ORDER = (
    '{"order_id":"P-1","receiver":{"name":"钱多多","phone":"13912345678","address":"明珠路 66 弄 3 号 808 室"},'
    '"buyer_message":"备用电话 13800001111","lines":[]'
)
BROKEN_BODIES = {
    "a trailing comma": BROKEN_ORDER + ",}",
    "a truncated body": BROKEN_ORDER[:-12],
    "single quotes": BROKEN_ORDER.replace('"order_id"', "'order_id'") + "}",
    "a 5,000-digit number": BROKEN_ORDER.replace('"lines":[]', '"lines":[], "n": ' + "9" * 5000) + "}",
}


async def post_body(client: httpx.AsyncClient, token: str, body: str) -> httpx.Response:
    """Deliver a body to the web shop's webhook exactly as written, with an ingest token."""
    headers = {"Authorization": f"Bearer {token}"}
    return await client.post("/api/v1/channels/webshop/orders?shop=webshop", content=body.encode(), headers=headers)


async def test_a_body_that_is_not_json_is_shown_with_every_value_masked(client, db, demo_data, make_token, make_user):
    token = await make_token(TokenScope.ingest)
    await make_user(Role.viewer, username="pii-viewer")
    error_ids = {}
    for name, body in BROKEN_BODIES.items():
        response = await post_body(client, token, body)
        assert response.status_code in (400, 422), (name, response.text)
        error_ids[name] = response.json()["error_id"]
    await login(client, "pii-viewer")
    for name, error_id in error_ids.items():
        async with db.reading() as session:
            kept = await session.get(IngestError, error_id)
        assert kept is not None
        page = (await client.get(f"/orders/errors/{error_id}")).text
        for where, text in (("the stored copy", kept.payload), ("the error page", page)):
            for secret in (BROKEN_STREET, "明珠路", "808", BROKEN_NAME, BROKEN_PHONE, "13800001111", "9999"):
                assert secret not in text, (name, where, secret)
        # The operator still sees the keys and the punctuation, so where the syntax breaks.
        assert '"receiver":{"name":"***","phone":' in kept.payload, (name, kept.payload)


async def test_an_admin_sees_a_broken_body_as_it_came(client, db, settings, demo_data, make_token, make_user):
    token = await make_token(TokenScope.ingest)
    body = BROKEN_BODIES["a trailing comma"]
    response = await post_body(client, token, body)
    error_id = response.json()["error_id"]
    await make_user(Role.admin, username="pii-admin")
    await login(client, "pii-admin")
    page = f"/orders/errors/{error_id}"
    revealed = await post_form(client, page, f"/orders/errors/{error_id}/payload", {})
    assert revealed.status_code == 200 and BROKEN_STREET in revealed.text and BROKEN_NAME in revealed.text


async def test_a_huge_body_that_is_not_json_is_sealed_cut(client, db, settings, demo_data, make_token):
    token = await make_token(TokenScope.ingest)
    body = BROKEN_ORDER.replace('"lines":[]', '"lines":[], "pad": "' + "x" * 1_500_000 + '",') + "}"
    response = await post_body(client, token, body)
    assert response.status_code in (400, 422), response.text
    async with db.reading() as session:
        kept = await session.get(IngestError, response.json()["error_id"])
    assert kept is not None
    original = pii.unseal_text(settings.secret_key, kept.payload_cipher)
    assert original is not None and original.startswith(BROKEN_ORDER[:40])
    assert len(original) <= pii.MAX_BROKEN_PAYLOAD and original.endswith(pii.TRUNCATED)
    assert len(kept.payload_cipher) < 2 * pii.MAX_BROKEN_PAYLOAD


async def test_a_fixed_masked_copy_of_a_broken_body_is_refused_and_the_original_kept(
    client, db, settings, demo_data, make_token, make_user
):
    token = await make_token(TokenScope.ingest)
    error_id = (await post_body(client, token, BROKEN_BODIES["a trailing comma"])).json()["error_id"]
    await make_user(Role.operator, username="pii-operator")
    await login(client, "pii-operator")
    async with db.reading() as session:
        before = await session.get(IngestError, error_id)
    assert before is not None
    # The syntax is fixed, but every value is still a mask: replaying it would make an order of stars.
    page = f"/orders/errors/{error_id}"
    fixed = before.payload.replace(",}", "}")
    replayed = await post_form(client, page, f"/orders/errors/{error_id}/replay", {"payload": fixed})
    assert replayed.status_code == 422 and "原始内容" in replayed.text
    async with db.reading() as session:
        after = await session.get(IngestError, error_id)
        orders = (await session.exec(select(Order))).all()
    assert after is not None and orders == []
    assert (after.payload, after.status.value) == (before.payload, "open")
    assert pii.unseal_text(settings.secret_key, after.payload_cipher) == BROKEN_BODIES["a trailing comma"]


# --- what the masks keep ----------------------------------------------------------------------------------


async def test_the_masked_street_keeps_no_lane_or_house_number(client, db, settings, demo_data, make_user, make_token):
    order = webshop_order("PII-MASK")
    order["receiver"]["address"] = order["buyer_message"] = "幸福路 88 弄 3 号"
    result = await land(db, settings, "webshop", order)
    token = await make_token(TokenScope.read)
    api = (await client.get(f"/api/v1/orders/{result.order_id}", headers={"Authorization": f"Bearer {token}"})).json()
    assert api["receiver"]["address"] == "幸福路****"
    await make_user(Role.viewer, username="pii-viewer")
    await login(client, "pii-viewer")
    page = (await client.get(f"/orders/{result.order_id}")).text
    assert "幸福路****" in page and "幸福路 8" not in page and "88 弄" not in page


# --- free text a buyer or a platform wrote ----------------------------------------------------------------

TITLE_PHONE, NICK_PHONE, TAG_PHONE = "13977778888", "13966667777", "13955556666"


async def test_a_phone_in_a_line_title_nick_or_tag_is_masked_wherever_it_is_kept_or_shown(
    server, worker, db, settings, make_user
):
    order = webshop_order("PII-TEXT")
    order["lines"][0]["title"] = f"刻字 {TITLE_PHONE}"
    order["buyer"]["nick"] = NICK_PHONE
    order["tags"] = [f"call {TAG_PHONE}"]
    order_id = (await deliver(server, "webshop", "webshop", order))["order_id"]
    await wait_until_settled(db, 1)
    async with db.reading() as session:
        kept = await session.get(Order, order_id)
        lines = (await session.exec(select(OrderLine).where(OrderLine.order_id == order_id))).all()
        processing_row = (await session.exec(select(OrderProcessing).where(OrderProcessing.order_id == order_id))).one()
    assert kept is not None
    stored = {
        "the line title": [line.title for line in lines],
        "the nick and tags": [kept.buyer_nick, kept.tags],
        "the redacted payload": kept.raw,
        "the processing trace": processing_row.flows,
    }
    async with httpx.AsyncClient(base_url=server, timeout=30) as browser:
        await make_user(Role.viewer, username="pii-viewer")
        await login(browser, "pii-viewer")
        stored["the order page"] = (await browser.get(f"/orders/{order_id}")).text
    assert "刻字 139****8888" in stored["the order page"]
    for where, value in stored.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        for phone in (TITLE_PHONE, NICK_PHONE, TAG_PHONE):
            assert phone not in text, (where, phone)
    if BACKEND == "postgres":
        return
    path = Path(settings.database_url.split("///", 1)[1])
    for blob, where in ((file_bytes(Path(f"{path}-wal")), "the WAL"), (file_bytes(path), "the database file")):
        for phone in (TITLE_PHONE, NICK_PHONE, TAG_PHONE):
            assert phone.encode() not in blob, (where, phone)


# --- the receiver's name ----------------------------------------------------------------------------------


#: A published flow that reads the receiver's name (the shipped audit reads only whether the address is complete).
NAME_FLOW = {
    "schema": 1,
    "name": "收货人姓名检查",
    "trigger": "order.received",
    "nodes": [
        {"id": "start", "type": "start", "name": "开始", "position": {"x": 0, "y": 0}},
        {
            "id": "has_name",
            "type": "condition",
            "name": "有收货人姓名？",
            "position": {"x": 240, "y": 0},
            "config": {"logic": {"!!": {"var": "order.receiver.name"}}},
        },
        {"id": "end", "type": "end", "name": "结束", "position": {"x": 480, "y": 0}},
    ],
    "edges": [
        {"id": "e1", "source": "start", "target": "has_name", "port": "next"},
        {"id": "e2", "source": "has_name", "target": "end", "port": "true"},
        {"id": "e3", "source": "has_name", "target": "end", "port": "false"},
    ],
}


async def test_the_receiver_name_is_masked_on_the_pages_in_the_trace_and_in_a_simulation(
    server, worker, db, settings, make_user, make_token
):
    async with db.transaction() as session:
        flow = await flow_services.create_flow(session, SYSTEM, NAME_FLOW["name"], document=NAME_FLOW, priority=10)
        await flow_services.publish(session, SYSTEM, flow.id, "读收货人姓名")
    order_id = (await deliver(server, "webshop", "webshop", webshop_order("PII-NAME")))["order_id"]
    await wait_until_settled(db, 1)
    async with db.reading() as session:
        processing_row = (await session.exec(select(OrderProcessing).where(OrderProcessing.order_id == order_id))).one()
    trace = json.dumps(processing_row.flows, ensure_ascii=False)
    # The flow reads the name (the engine sees it); the trace keeps what it read, masked.
    assert '"order.receiver.name": "李**"' in trace and NAME not in trace
    token = await make_token(TokenScope.read)
    async with httpx.AsyncClient(base_url=server, timeout=30) as browser:
        simulated = await browser.post(
            f"/api/v1/flows/{flow.id}/simulate",
            json={"sample": f"order:{order_id}"},
            headers={"Authorization": f"Bearer {token}"},
        )
        await make_user(Role.viewer, username="pii-viewer")
        await login(browser, "pii-viewer")
        page = (await browser.get(f"/orders/{order_id}")).text
        listed = (await browser.get("/orders")).text
    assert simulated.status_code == 200, simulated.text
    assert NAME not in simulated.text and '"order.receiver.name":"李**"' in simulated.text.replace(" ", "")
    assert "李**" in page and NAME not in page
    assert NAME not in listed


async def test_the_review_queue_shows_the_name_masked_and_an_untouched_name_survives_an_address_fix(
    client, db, settings, demo_data, make_user
):
    result = await land(db, settings, "webshop", webshop_order("PII-REVIEW"))
    async with db.transaction() as session:
        order = await session.get(Order, result.order_id)
        assert order is not None
        order.status = OrderStatus.on_hold
        session.add(order)
        processing_row = await session.get(OrderProcessing, order.id)
        assert processing_row is not None
        processing_row.state, processing_row.hold_code = ProcessingState.held, "review"
        session.add(processing_row)
    await make_user(Role.operator, username="pii-operator")
    await login(client, "pii-operator")
    queue = (await client.get("/orders/review")).text
    form = (await client.get(f"/orders/review/{result.order_id}/address", headers={"HX-Request": "true"})).text
    assert "李**" in queue and NAME not in queue
    assert 'value="李**"' in form and NAME not in form
    fields = {"receiver_name": "李**", "phone": PHONE, "province": "上海", "city": "上海市", "district": "静安区"}
    fields["address"] = "南京西路 1 号"
    response = await post_form(client, "/orders/review", f"/orders/review/{result.order_id}/address", fields)
    assert response.status_code in (200, 303), response.text
    async with db.reading() as session:
        order = await session.get(Order, result.order_id)
    assert order is not None and order.receiver_name == NAME


async def test_a_backtest_decides_on_the_real_name_as_production_would_and_shows_only_outcomes(
    client, db, settings, demo_data, make_token, arq_worker
):
    result = await land(db, settings, "webshop", webshop_order("PII-BACKTEST"))
    hold_by_name = {
        "schema": 1,
        "name": "按收件人挂起",
        "trigger": "order.received",
        "nodes": [
            {"id": "s", "type": "start", "name": "开始", "position": {"x": 0, "y": 0}},
            {
                "id": "c",
                "type": "condition",
                "name": "收件人是她？",
                "position": {"x": 200, "y": 0},
                "config": {"logic": {"==": [{"var": "order.receiver.name"}, NAME]}},
            },
            {
                "id": "h",
                "type": "action",
                "name": "挂起",
                "position": {"x": 400, "y": 0},
                "config": {"action": "hold_for_review", "params": {"reason": "指定收件人"}},
            },
            {"id": "e", "type": "end", "name": "结束", "position": {"x": 600, "y": 0}},
        ],
        "edges": [
            {"id": "e1", "source": "s", "target": "c", "port": "next"},
            {"id": "e2", "source": "c", "target": "h", "port": "true"},
            {"id": "e3", "source": "c", "target": "e", "port": "false"},
            {"id": "e4", "source": "h", "target": "e", "port": "next"},
        ],
    }
    admin = {"Authorization": f"Bearer {await make_token(TokenScope.admin, name='admin')}"}
    created = await client.post("/api/v1/flows", json={"name": "按收件人", "document": hold_by_name}, headers=admin)
    assert created.status_code == 201, created.text
    flow_id = created.json()["id"]
    started = await client.post(f"/api/v1/flows/{flow_id}/backtests", json={"orders": 5}, headers=admin)
    url = f"/api/v1/flows/{flow_id}/backtests/{started.json()['id']}"
    deadline = time.monotonic() + 30
    while (status := (await client.get(url, headers=admin)).json())["status"] not in ("done", "failed"):
        assert time.monotonic() < deadline, status
        await asyncio.sleep(0.2)
    assert status["status"] == "done", status["error"]
    held = [row for row in status["result"]["rows"] if "PII-BACKTEST" in row["label"]]
    # The replay read the real name, as processing does, so the rule fires; what it shows carries no name.
    assert held and held[0]["after"]["hold"], status["result"]
    assert result.order_id is not None and NAME not in json.dumps(status, ensure_ascii=False)

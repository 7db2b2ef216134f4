"""Attacks on the secrets the app keeps and the doors meant only for demos.

- A copy of the database (a backup, a leaked file) used to sign orders for a shop: webhook secrets are kept
  encrypted under SECRET_KEY, so neither the file nor its WAL holds the secret, and the stored value
  signs nothing. Secrets stored in clear before the upgrade are encrypted by the migration.
- The sandbox carrier hands out waybill numbers to whoever signs with its demo secret, which is in the
  source: in production it is not served at all unless switched on, and the demo secret is refused there.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from alembic import command
from litestar.testing import AsyncTestClient
from sqlalchemy import create_engine, inspect, text

from app.domain.accounts.models import Role
from app.domain.channels.models import Channel, Shop
from app.domain.channels.services import SHOP_HEADER, SIGNATURE_HEADER, sign_body, webhook_secret_of
from app.domain.fulfillment.carriers import sign
from app.main import create_app
from app.settings import SANDBOX_CARRIER_SECRET, Settings, get_settings
from tests.integration.conftest import BACKEND, migration_config
from tests.integration.forms import login, post_form
from tests.samples import channels as samples

WAYBILL_REQUEST = json.dumps({"carrier_code": "SF", "request_key": "order-1"}).encode()


async def ask_for_a_waybill(settings: Settings, secret: str) -> int:
    async with AsyncTestClient(create_app(settings), base_url="http://testserver.local") as client:
        response = await client.post(
            "/sandbox/carrier/waybills",
            content=WAYBILL_REQUEST,
            headers={"x-app-key": settings.carrier_api_key, "x-sign": sign(secret, WAYBILL_REQUEST)},
        )
        return response.status_code


async def test_the_sandbox_carrier_is_not_served_in_production(settings: Settings, db):
    production = replace(settings, env="production", carrier_api_secret="contract-secret", sandbox_carrier=False)
    assert await ask_for_a_waybill(production, SANDBOX_CARRIER_SECRET) == 404
    assert await ask_for_a_waybill(production, "contract-secret") == 404


async def test_a_staging_site_that_switches_the_sandbox_on_needs_its_own_secret(settings: Settings, db):
    staging = replace(settings, env="production", carrier_api_secret="staging-secret", sandbox_carrier=True)
    assert await ask_for_a_waybill(staging, SANDBOX_CARRIER_SECRET) == 403
    assert await ask_for_a_waybill(staging, "staging-secret") == 200


# --- webhook secrets -----------------------------------------------------------------------------


async def deliver_signed(client, secret: str) -> int:
    body = json.dumps(samples.pos_order(), ensure_ascii=False).encode()
    headers = {SHOP_HEADER: "pos-1", SIGNATURE_HEADER: sign_body(secret, body), "Content-Type": "application/json"}
    return (await client.post("/api/v1/channels/pos/orders", content=body, headers=headers)).status_code


async def test_a_copy_of_the_database_does_not_let_anyone_sign_orders(client, make_user, db, settings: Settings):
    await make_user(Role.admin, "boss")
    async with db.transaction() as session:
        shop = Shop(channel=Channel.pos, code="pos-1", name="南京西路店")
        session.add(shop)
        await session.flush()
        shop_id = shop.id
    await login(client, "boss")
    rotated = await post_form(client, "/channels/", f"/channels/{shop_id}/secret", {})
    secret = rotated.text.split('<code class="secret">')[1].split("<")[0]
    assert len(secret) == 48
    async with db.engine.connect() as connection:
        stored = (await connection.execute(text("SELECT webhook_secret_cipher FROM shops"))).scalar_one()
    async with db.reading() as session:
        row = await session.get(Shop, shop_id)
        assert row is not None and webhook_secret_of(row, settings.secret_key) == secret
    assert secret not in stored
    if BACKEND == "sqlite":
        files = [Path(settings.database_url.removeprefix("sqlite+aiosqlite:///"))]
        files.append(files[0].with_name(files[0].name + "-wal"))
        assert all(secret.encode() not in path.read_bytes() for path in files if path.exists())
    assert await deliver_signed(client, stored) == 401
    assert await deliver_signed(client, secret) != 401


def test_the_upgrade_encrypts_secrets_stored_in_clear(tmp_path, monkeypatch):
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    monkeypatch.setenv("SECRET_KEY", "m" * 40)
    get_settings.cache_clear()
    try:
        command.upgrade(migration_config(url), "0006_processing")
        engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO shops (channel, code, name, is_active, webhook_secret, api_base_url, app_key, "
                    "app_secret, access_token, pull_interval_minutes, pull_cursor) "
                    "VALUES ('pos', 'pos-1', '店', 1, 'old-clear-secret', '', '', '', '', 0, '')"
                )
            )
        command.upgrade(migration_config(url), "heads")
        with engine.connect() as connection:
            columns = {c["name"] for c in inspect(connection).get_columns("shops")}
            cipher = connection.execute(text("SELECT webhook_secret_cipher FROM shops")).one()[0]
        engine.dispose()
    finally:
        get_settings.cache_clear()
    assert "webhook_secret" not in columns
    assert "old-clear-secret" not in cipher
    assert webhook_secret_of(Shop(channel=Channel.pos, code="x", name="x", webhook_secret_cipher=cipher), "m" * 40) == (
        "old-clear-secret"
    )

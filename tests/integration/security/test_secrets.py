"""Attacks on the secrets the app keeps and the doors meant only for demos.

- A copy of the database (a backup, a leaked file) used to sign orders for a shop: webhook secrets are kept
  encrypted under SECRET_KEY, so neither the file nor its WAL holds the secret, and the stored value
  signs nothing. The same for a shop's pull credentials (app secret, access token), which would let anyone
  pull the shop's orders, buyers' details included, from the platform. Secrets stored in clear before the
  upgrade are encrypted by the migration.
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
from app.domain.channels.services import (
    SHOP_HEADER,
    SIGNATURE_HEADER,
    credentials_of,
    sign_body,
    webhook_secret_of,
)
from app.domain.fulfillment.carriers import sign
from app.domain.shops.models import Channel, Shop
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


def database_files(settings: Settings) -> list[Path]:
    """The SQLite file and its WAL, as a copy of the server's disk would have them (none on PostgreSQL)."""
    if BACKEND != "sqlite":
        return []
    path = Path(settings.database_url.removeprefix("sqlite+aiosqlite:///"))
    return [p for p in (path, path.with_name(path.name + "-wal")) if p.exists()]


async def stored_shop_columns(db) -> str:
    async with db.engine.connect() as connection:
        row = (await connection.execute(text("SELECT * FROM shops"))).one()
    return " ".join(str(value) for value in row)


async def make_shop(db, channel: Channel, code: str) -> int:
    async with db.transaction() as session:
        shop = Shop(channel=channel, code=code, name="南京西路店")
        session.add(shop)
        await session.flush()
        assert shop.id is not None
        return shop.id


async def test_a_copy_of_the_database_does_not_let_anyone_sign_orders(client, make_user, db, settings: Settings):
    await make_user(Role.admin, "boss")
    shop_id = await make_shop(db, Channel.pos, "pos-1")
    await login(client, "boss")
    rotated = await post_form(client, "/channels/", f"/channels/{shop_id}/secret", {})
    secret = rotated.text.split('<code class="secret">')[1].split("<")[0]
    assert len(secret) == 48
    async with db.engine.connect() as connection:
        stored = (await connection.execute(text("SELECT webhook_secret_cipher FROM shops"))).scalar_one()
    async with db.reading() as session:
        row = await session.get(Shop, shop_id)
        assert row is not None and webhook_secret_of(row, settings.secret_key) == secret
    assert secret not in await stored_shop_columns(db)
    assert all(secret.encode() not in path.read_bytes() for path in database_files(settings))
    assert await deliver_signed(client, stored) == 401
    assert await deliver_signed(client, secret) != 401


async def test_a_rotated_webhook_secret_is_refused_at_once_though_the_shop_just_delivered_with_it(
    client, make_user, db
):
    await make_user(Role.admin, "boss")
    shop_id = await make_shop(db, Channel.pos, "pos-1")
    await login(client, "boss")
    first = await post_form(client, "/channels/", f"/channels/{shop_id}/secret", {})
    old = first.text.split('<code class="secret">')[1].split("<")[0]
    assert await deliver_signed(client, old) == 200
    second = await post_form(client, "/channels/", f"/channels/{shop_id}/secret", {})
    new = second.text.split('<code class="secret">')[1].split("<")[0]
    assert await deliver_signed(client, old) == 401
    assert await deliver_signed(client, new) == 200


async def test_a_copy_of_the_database_does_not_hold_a_shops_pull_credentials(client, make_user, db, settings):
    await make_user(Role.admin, "boss")
    shop_id = await make_shop(db, Channel.jd, "jd-1")
    await login(client, "boss")
    app_secret, access_token = "jd-app-secret-7f3a9c", "jd-access-token-51be02"
    form = {"api_base_url": "https://api.jd.example", "app_key": "k1", "pull_interval_minutes": "0"}
    saved = await post_form(
        client,
        "/channels/",
        f"/channels/{shop_id}/settings",
        {**form, "app_secret": app_secret, "access_token": access_token},
    )
    assert saved.status_code == 200
    stored = await stored_shop_columns(db)
    assert app_secret not in stored and access_token not in stored
    assert all(app_secret.encode() not in path.read_bytes() for path in database_files(settings))
    async with db.reading() as session:
        row = await session.get(Shop, shop_id)
        assert row is not None
        creds = credentials_of(row, settings.secret_key)
    assert (creds.app_secret, creds.access_token) == (app_secret, access_token)
    too_long = await post_form(
        client, "/channels/", f"/channels/{shop_id}/settings", {**form, "access_token": "x" * 513}
    )
    assert too_long.status_code == 400
    assert "access_token" in too_long.text
    async with db.reading() as session:
        row = await session.get(Shop, shop_id)
        assert row is not None and credentials_of(row, settings.secret_key).access_token == access_token


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
                    "VALUES ('jd', 'jd-1', '店', 1, 'old-clear-secret', '', '', 'old-app-secret', 'old-token', 0, '')"
                )
            )
        command.upgrade(migration_config(url), "heads")
        with engine.connect() as connection:
            columns = {c["name"] for c in inspect(connection).get_columns("shops")}
            ciphers = connection.execute(
                text("SELECT webhook_secret_cipher, app_secret_cipher, access_token_cipher FROM shops")
            ).one()
        engine.dispose()
    finally:
        get_settings.cache_clear()
    assert not {"webhook_secret", "app_secret", "access_token"} & columns
    shop = Shop(channel=Channel.jd, code="jd-1", name="店")
    shop.webhook_secret_cipher, shop.app_secret_cipher, shop.access_token_cipher = ciphers
    assert webhook_secret_of(shop, "m" * 40) == "old-clear-secret"
    creds = credentials_of(shop, "m" * 40)
    assert (creds.app_secret, creds.access_token) == ("old-app-secret", "old-token")
    for path in tmp_path.glob("old.db*"):
        assert b"old-clear-secret" not in path.read_bytes(), path.name

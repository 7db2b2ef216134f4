"""`ruleflow demo-traffic` against a live demo server: orders placed now land in the demo's own shops in the
demo's mix of channels; refused in production and, with a clear message, when no server answers, when a rate is
out of range or when the database was never upgraded."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import select

from app.db import Database
from app.domain.channels import services as channels
from app.domain.orders.models import Order
from app.domain.shops.models import Shop
from app.seed import CHANNEL_SHARES
from app.settings import Settings
from tests.integration.conftest import free_port, seed_demo_data
from tests.integration.loadtest.conftest import run_ruleflow


def as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def orders_by_shop(db: Database) -> Counter[str]:
    async with db.reading() as session:
        codes = {s.id: s.code for s in (await session.exec(select(Shop))).all()}
        return Counter(codes[o.shop_id] for o in (await session.exec(select(Order))).all())


async def secrets_of(db: Database, settings: Settings) -> dict[str, str | None]:
    async with db.reading() as session:
        return {s.code: channels.webhook_secret_of(s, settings.secret_key) for s in (await session.exec(select(Shop)))}


async def test_orders_at_a_rate_land_in_the_demo_shops_in_the_demo_mix_placed_now(
    db: Database, settings: Settings, server: str
) -> None:
    await seed_demo_data(db)
    before = datetime.now(UTC)

    # 50 a second for 2.4 s: 120 orders (however fast the server takes them).
    status, out, err = await run_ruleflow(settings, "demo-traffic", "--rate", "50", "--minutes", "0.04")

    assert status == 0, out + err
    assert "sent 120 · accepted 120" in out
    assert "by channel:" in out and "demo orders" in err
    by_shop = await orders_by_shop(db)
    assert sum(by_shop.values()) == 120
    # Any hundred orders in a row are the mix exactly; the other twenty go to some of the shops.
    for _, code, share in CHANNEL_SHARES:
        assert share <= by_shop[code] <= share + 20, (code, by_shop)
    assert set(by_shop) == {code for _, code, _ in CHANNEL_SHARES}
    async with db.reading() as session:
        placed = [as_utc(o.placed_at) for o in (await session.exec(select(Order))).all()]
        shops = (await session.exec(select(Shop))).all()
    assert all(before.replace(microsecond=0) <= moment <= datetime.now(UTC) for moment in placed)
    assert all(channels.webhook_secret_of(s, settings.secret_key) for s in shops)


async def test_a_second_run_keeps_the_shops_secrets(db: Database, settings: Settings, server: str) -> None:
    await seed_demo_data(db)
    status, out, err = await run_ruleflow(settings, "demo-traffic", "--rate", "10", "--minutes", "0.01")
    assert status == 0, out + err
    first = await secrets_of(db, settings)

    status, out, err = await run_ruleflow(settings, "demo-traffic", "--rate", "10", "--minutes", "0.01")

    assert status == 0, out + err
    assert "webhook secrets set 0" in out and "a flow was already live" in out
    assert await secrets_of(db, settings) == first
    assert sum((await orders_by_shop(db)).values()) == 12


async def test_it_is_refused_in_production_and_changes_nothing(db: Database, settings: Settings) -> None:
    await seed_demo_data(db)

    production = {"RULEFLOW_ENV": "production", "PASSWORD_HASHING": "standard", "CARRIER_API_SECRET": "c" * 40}

    status, _, err = await run_ruleflow(settings, "demo-traffic", "--rate", "10", "--minutes", "0.01", **production)

    assert status != 0
    assert "refuses to run in production" in err and "Traceback" not in err
    assert not await orders_by_shop(db)
    assert not any((await secrets_of(db, settings)).values())


async def test_no_server_is_a_clear_message_not_a_traceback(db: Database, settings: Settings) -> None:
    await seed_demo_data(db)
    nobody = f"http://127.0.0.1:{free_port()}"

    status, _, err = await run_ruleflow(settings, "demo-traffic", "--rate", "10", "--url", nobody)

    assert status == 1
    assert f"the demo server at {nobody} is not reachable" in err and "dev.py run" in err
    assert "Traceback" not in err
    assert not any((await secrets_of(db, settings)).values())


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--rate", "nan"), "nan is not a number"),
        (("--rate", "inf"), "0.1<=x<=1000"),
        (("--rate", "100000"), "0.1<=x<=1000"),
        (("--rate", "10", "--minutes", "inf"), "0.01<=x<=1440"),
        (("--rate", "10", "--minutes", "nan"), "nan is not a number"),
    ],
)
async def test_a_rate_or_length_out_of_range_is_refused_before_anything_changes(
    db: Database, settings: Settings, args: tuple[str, ...], said: str
) -> None:
    await seed_demo_data(db)

    status, _, err = await run_ruleflow(settings, "demo-traffic", *args)

    assert status == 2 and said in err and "Traceback" not in err
    assert not any((await secrets_of(db, settings)).values())


@pytest.mark.parametrize("command", [("seed-demo",), ("reports", "rebuild"), ("demo-traffic", "--rate", "1")])
async def test_a_database_never_upgraded_is_told_to_run_db_upgrade(
    settings: Settings, tmp_path: Path, command: tuple[str, ...]
) -> None:
    empty = tmp_path / "never-upgraded.db"

    status, _, err = await run_ruleflow(settings, *command, DATABASE_URL=f"sqlite+aiosqlite:///{empty}")

    assert status == 1 and "Traceback" not in err
    assert "run `ruleflow db upgrade` first" in err

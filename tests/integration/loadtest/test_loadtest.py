"""`ruleflow loadtest` against a live server: every order of every channel processed, nothing oversold,
nothing done twice; and its preparation, which is idempotent and refused in production."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from sqlmodel import col, select

from app import loadtest
from app.db import Database
from app.domain.channels import services as channels
from app.domain.flows.models import Flow
from app.domain.shops.models import Channel, Shop
from app.settings import Settings
from tests.integration.loadtest.conftest import run_ruleflow


async def run_cli(settings: Settings, *args: str) -> tuple[int, str, str]:
    return await run_ruleflow(settings, "loadtest", *args)


async def test_sixty_orders_over_every_channel_are_all_processed_with_nothing_oversold_or_done_twice(
    settings: Settings, server: str
) -> None:
    status, out, err = await run_cli(settings, "--count", "60", "--concurrency", "6", "--timeout", "240", "--json")

    assert status == 0, out + err
    report = json.loads(out)
    assert report["sent"] == report["accepted"] == 60, report
    assert report["http_errors"] == {}
    assert set(report["by_channel"]) == {c.value for c in Channel}
    assert report["timed_out"] is False
    assert report["processed"] == 60 and report["unprocessed"] == 0, report["outcomes"]
    assert report["held_for_failure"] == {}, report["outcomes"]
    assert report["jobs_failed"] == {}
    assert report["oversold_units"] == 0 and report["ledger_mismatches"] == 0
    assert report["duplicated_effects"] == 0, report["duplicates"]
    assert set(report["duplicates"]) >= {"line_reserved_twice", "shipments_twice", "waybill_twice", "message_twice"}
    assert report["outcomes"].get("processed", 0) > 0
    assert 0 < report["latency_ms"]["p50"] <= report["latency_ms"]["p95"] <= report["latency_ms"]["p99"]
    assert report["accepted_per_s"] > 0 and report["processed_per_s"] > 0
    assert report["safe"] is True


async def test_the_table_names_what_a_user_checks_after_a_run(settings: Settings, server: str) -> None:
    status, out, err = await run_cli(settings, "--count", "10", "--timeout", "240")

    assert status == 0, out + err
    for figure in ("accepted/s", "processed/s", "p50 / p95 / p99", "oversold units", "duplicated effects"):
        assert figure in out
    assert "发送订单" in err  # the progress bar goes to stderr, leaving stdout to the table (or the JSON)


async def test_ingest_only_reports_accepted_orders_without_waiting_for_them(settings: Settings, server: str) -> None:
    status, out, err = await run_cli(settings, "--count", "20", "--ingest-only", "--json")

    assert status == 0, out + err
    report = json.loads(out)
    assert report["mode"] == "ingest-only" and report["accepted"] == 20 and report["waited"] is False


async def test_preparing_twice_changes_nothing_the_second_time(db: Database, settings: Settings) -> None:
    first = await loadtest.prepare(db, settings, stock_level=100)
    async with db.reading() as session:
        secrets = {
            s.code: channels.webhook_secret_of(s, settings.secret_key)
            for s in (await session.exec(select(Shop).where(col(Shop.code).startswith("loadtest-")))).all()
        }

    second = await loadtest.prepare(db, settings, stock_level=100)

    assert first.shops == len(Channel) and first.published_flow is not None
    assert (second.shops, second.secrets, second.warehouses, second.skus, second.carriers) == (0, 0, 0, 0, 0)
    assert second.stock_rows_topped_up == 0 and second.published_flow is None
    async with db.reading() as session:
        shops = (await session.exec(select(Shop).where(col(Shop.code).startswith("loadtest-")))).all()
        live = [f for f in (await session.exec(select(Flow))).all() if f.live_version_id is not None]
    assert {s.code: channels.webhook_secret_of(s, settings.secret_key) for s in shops} == secrets
    assert len(live) == 1


async def test_preparing_is_refused_in_production_and_changes_nothing(db: Database, settings: Settings) -> None:
    with pytest.raises(loadtest.LoadtestRefused, match="production"):
        await loadtest.prepare(db, replace(settings, env="production"), stock_level=100)

    async with db.reading() as session:
        assert (await session.exec(select(Shop))).first() is None
        assert (await session.exec(select(Flow))).first() is None

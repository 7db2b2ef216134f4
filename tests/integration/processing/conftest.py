"""Processing fixtures: the demo data with the four-stage flow published, the app served on a real port (its
webhook, its sandbox carrier and, on SQLite, its embedded worker), on PostgreSQL a real arq worker, and the fake
platforms' delivery APIs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from app.db import Database
from app.domain.accounts.services import SYSTEM
from app.domain.channels.services import SHOP_HEADER, SIGNATURE_HEADER, set_webhook_secret, sign_body
from app.domain.flows import services as flows
from app.domain.flows.models import Flow
from app.domain.processing.models import OrderProcessing, ProcessingState
from app.domain.shops.models import Shop
from app.settings import PROJECT_ROOT, Settings
from tests.integration.conftest import BACKEND, REDIS_URL, free_port, seed_demo_data, serving
from tests.integration.fulfillment.fake_delivery import FakeDelivery, running

SECRET = "processing-webhook-secret"
#: States an order leaves the queue for; a batch is done when every order is in one of them.
SETTLED = {s.value for s in ProcessingState} - {ProcessingState.queued.value}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test settings with a fixed port, so that the app's own sandbox carrier answers waybill requests."""
    port = free_port()
    return replace(
        settings, port=port, carrier_api_url=f"http://127.0.0.1:{port}/sandbox/carrier", processing_stuck_seconds=3
    )


@pytest.fixture
async def demo_data(db: Database, settings: Settings) -> None:
    """The demo data: warehouses, SKUs, stock, carriers and rates, shops (with a known webhook secret), and the
    four-stage flow as an unpublished draft."""
    await seed_demo_data(db)
    async with db.transaction() as session:
        for shop in (await session.exec(select(Shop))).all():
            set_webhook_secret(shop, settings.secret_key, SECRET)
            session.add(shop)


@pytest.fixture
async def demo(db: Database, demo_data: None) -> None:
    """The demo data with the four-stage flow published."""
    async with db.transaction() as session:
        flow = (await session.exec(select(Flow))).one()
        assert flow.id is not None
        await flows.publish(session, SYSTEM, flow.id, "发布标准四段流程")


@pytest.fixture
async def server(settings: Settings, demo: None) -> AsyncIterator[str]:
    """The app on a real port; yields its base URL."""
    async with serving(settings) as url:
        yield url


@pytest.fixture
def worker(demo: None, arq_worker: subprocess.Popen[bytes] | None) -> subprocess.Popen[bytes] | None:
    """On PostgreSQL a real arq worker process, started after the demo data; on SQLite None (the served
    app's embedded worker runs the jobs)."""
    return arq_worker


@pytest.fixture
def fake() -> Iterator[FakeDelivery]:
    """The platforms' delivery APIs (发货回传), faked on a local port."""
    with running(FakeDelivery()) as served:
        yield served


def generic_order(
    order_id: str,
    *,
    lines: list[tuple[str, int, int]],
    province: str = "浙江",
    city: str = "杭州市",
    district: str = "西湖区",
    address: str | None = "文三路 100 号",
    name: str = "张伟",
    phone: str = "13800001111",
    buyer: str = "buyer-1",
    created_at: str = "2026-11-11 10:00:00",
    updated_at: str | None = None,
    presale: dict[str, Any] | None = None,
    bundle_of: str | None = None,
    status: str = "paid",
) -> dict[str, Any]:
    """An order in the generic JSON format (web shop, tills): lines are (SKU, qty, unit price in fen)."""
    receiver = {"name": name, "phone": phone, "province": province, "city": city, "district": district}
    if address is not None:
        receiver["address"] = address
    return {
        "order_id": order_id,
        "status": status,
        "created_at": created_at,
        "paid_at": created_at,
        "updated_at": updated_at or created_at,
        "buyer": {"id": buyer, "nick": f"买家{buyer}"},
        "receiver": receiver,
        "lines": [
            {
                "line_id": str(i),
                "sku": sku,
                "title": sku,
                "qty": qty,
                "unit_price_fen": price,
                "paid_fen": price * qty,
                "bundle_of": bundle_of,
            }
            for i, (sku, qty, price) in enumerate(lines, start=1)
        ],
        "presale": presale or {"is_presale": False},
    }


async def deliver(base_url: str, channel: str, shop: str, payload: Any) -> dict[str, Any]:
    """POST one order to the webhook of a shop, signed like the platform would."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {SHOP_HEADER: shop, SIGNATURE_HEADER: sign_body(SECRET, body), "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.post(f"/api/v1/channels/{channel}/orders", content=body, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def wait_until_settled(db: Database, expected: int, *, within: float = 90) -> dict[int, OrderProcessing]:
    """Wait until ``expected`` orders have left the processing queue; returns their processing rows."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        async with db.reading() as session:
            rows = {p.order_id: p for p in (await session.exec(select(OrderProcessing))).all()}
        settled = {k: v for k, v in rows.items() if v.state.value in SETTLED}
        if len(settled) >= expected and len(rows) == len(settled):
            return rows
        assert asyncio.get_running_loop().time() < deadline, (
            f"{len(settled)} of {expected} orders settled: {sorted((k, v.state.value) for k, v in rows.items())}"
        )
        await asyncio.sleep(0.2)


async def wait_for(db: Database, check: Any, *, within: float = 60, what: str = "condition") -> Any:
    """Poll ``check(session)`` until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        async with db.reading() as session:
            found = await check(session)
        if found:
            return found
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


def serve_process(settings: Settings, **extra_env: str) -> subprocess.Popen[bytes]:
    """`ruleflow serve` as its own process (on SQLite it carries the embedded worker): for the kill tests."""
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "SECRET_KEY": settings.secret_key,
        "RULEFLOW_VAR_DIR": str(settings.var_dir),
        "CARRIER_API_URL": settings.carrier_api_url,
        "PROCESSING_STUCK_SECONDS": "3",
        "OUTBOX_STUCK_SECONDS": "3",
        **extra_env,
    }
    if "REDIS_URL" not in extra_env:
        env.pop("REDIS_URL", None)
    log = Path(settings.var_dir) / "serve.log"
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(Path(sys.executable).parent / "ruleflow"), "serve", "--port", str(settings.port)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def wait_for_http(base_url: str, *, within: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + within
    async with httpx.AsyncClient(base_url=base_url, timeout=2) as client:
        while True:
            try:
                if (await client.get("/healthz")).status_code in (200, 503):
                    return
            except httpx.HTTPError:
                pass
            assert asyncio.get_running_loop().time() < deadline, f"{base_url} did not come up"
            await asyncio.sleep(0.1)


def kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL: no shutdown hook runs, whatever the process held in hand is simply gone."""
    process.send_signal(signal.SIGKILL)
    process.wait()


async def processed_count(db: Database) -> int:
    async with db.reading() as session:
        rows = (await session.exec(select(OrderProcessing).where(col(OrderProcessing.runs) > 0))).all()
    return len(rows)


__all__ = ["BACKEND", "REDIS_URL"]

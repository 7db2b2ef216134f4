"""Order-hub fixtures: one shop per channel with a known webhook secret, the demo SKUs, delivery helpers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlmodel import col, select

from app.db import Database
from app.domain.channels.services import SHOP_HEADER, SIGNATURE_HEADER, set_webhook_secret, sign_body
from app.domain.inventory.models import Sku
from app.domain.shops.models import Channel, Shop
from app.outbox import OutboxMessage, OutboxStatus
from app.settings import Settings

SECRET = "webhook-secret-for-tests"
SHOP_CODES = {channel: f"{channel.value.replace('_', '-')}-shop" for channel in Channel}
SKU_CODES = [
    "PHONE-X1",
    "EARBUD-P2",
    "CABLE-C1",
    "SERUM-30",
    "MASK-10",
    "TEE-BLK-L",
    "YOGURT-6",
    "GIFT-TOTE-01",
    "SET-SKIN",
]


@pytest.fixture
async def shops(db: Database, settings: Settings) -> dict[Channel, Shop]:
    """One active shop per channel (webhook secret SECRET), and the SKUs the sample payloads use."""
    async with db.transaction() as session:
        rows = {
            channel: Shop(channel=channel, code=code, name=f"{channel.value} 测试店")
            for channel, code in SHOP_CODES.items()
        }
        for shop in rows.values():
            set_webhook_secret(shop, settings.secret_key, SECRET)
            session.add(shop)
        for code in SKU_CODES:
            session.add(Sku(code=code, name=code))
    return rows


async def deliver(client: Any, channel: str, payload: Any, *, shop: str | None = None, secret: str = SECRET) -> Any:
    """POST a payload to the webhook, signed with the shop's secret."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
    headers = {
        SHOP_HEADER: shop or SHOP_CODES[Channel(channel)],
        SIGNATURE_HEADER: sign_body(secret, body),
        "Content-Type": "application/json",
    }
    return await client.post(f"/api/v1/channels/{channel}/orders", content=body, headers=headers)


async def wait_for_jobs(db: Database, within: float = 40) -> list[OutboxMessage]:
    """Wait until the outbox has nothing left to run; returns every message."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        async with db.reading() as session:
            rows = list((await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all())
        busy = [r for r in rows if r.status in (OutboxStatus.pending, OutboxStatus.queued, OutboxStatus.running)]
        if not busy:
            return rows
        assert asyncio.get_running_loop().time() < deadline, f"jobs still busy: {[(r.job, r.status) for r in busy]}"
        await asyncio.sleep(0.1)


async def disable_shop(db: Database, shop: Shop) -> None:
    """Switch the shop off, as an admin does on 渠道与店铺."""
    async with db.transaction() as session:
        stored = await session.get(Shop, shop.id)
        assert stored is not None
        stored.is_active = False
        session.add(stored)

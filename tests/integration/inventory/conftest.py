"""Inventory fixtures: a small pool of warehouses and SKUs with stock received through the ledger."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlmodel import select

from app.db import Database
from app.domain.accounts.services import SYSTEM
from app.domain.inventory import catalogue
from app.domain.inventory import services as inventory
from app.domain.inventory.jobs import refresh_channel_stock
from app.domain.inventory.models import Sku, Stock, Warehouse, WarehouseKind
from app.domain.shops.models import Channel, Shop

Receive = Callable[[str, str, int], Awaitable[None]]


@pytest.fixture
async def pool(db: Database) -> Database:
    """Warehouses SH01 (华东, first), BJ01 (华北) and a store; SKUs A…E, SERUM, MASK and the bundle SET-SKIN;
    one shop, so every change also marks its SKUs for the channel-stock job."""
    async with db.transaction() as session:
        for code, kind, province, priority, regions in (
            ("SH01", WarehouseKind.regional, "上海", 10, ["华东"]),
            ("BJ01", WarehouseKind.regional, "北京", 20, ["华北"]),
            ("SH-S01", WarehouseKind.store, "上海", 50, []),
        ):
            session.add(
                Warehouse(
                    code=code,
                    name=f"{code} 仓",
                    kind=kind,
                    province=province,
                    priority=priority,
                    serves_regions=regions,
                )
            )
        for code, category in (
            ("A", "3C"),
            ("B", "3C"),
            ("C", "3C"),
            ("D", "美妆"),
            ("E", "美妆"),
            ("SERUM-30", "美妆"),
            ("MASK-10", "美妆"),
            ("SET-SKIN", "美妆"),
        ):
            session.add(Sku(code=code, name=f"商品 {code}", category=category))
        session.add(Shop(channel=Channel.tmall, code="tmall-test", name="天猫测试店"))
        await session.flush()
        await catalogue.set_bundle(session, "SET-SKIN", {"SERUM-30": 1, "MASK-10": 2}, SYSTEM)
    return db


@pytest.fixture
def receive(pool: Database) -> Receive:
    async def factory(warehouse: str, sku: str, qty: int) -> None:
        async with pool.transaction() as session:
            await inventory.receive(session, warehouse, sku, qty, SYSTEM, note="test receipt")

    return factory


async def stock_of(db: Database, warehouse: str, sku: str) -> Stock:
    async with db.reading() as session:
        return (await session.exec(select(Stock).where(Stock.warehouse_code == warehouse, Stock.sku_code == sku))).one()


async def assert_ledger_matches(db: Database) -> None:
    async with db.reading() as session:
        assert await inventory.ledger_mismatches(session) == []


async def publish_channel_stock(db: Database) -> dict[str, Any]:
    """Run the channel-stock job once, as the workers do every second; returns what it did."""
    return await refresh_channel_stock({"db": db})

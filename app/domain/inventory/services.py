"""Inventory services."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.domain.inventory.models import Sku, Warehouse


async def list_warehouses(session: AsyncSession) -> list[Warehouse]:
    return list((await session.exec(select(Warehouse).order_by(col(Warehouse.priority), col(Warehouse.code)))).all())


async def list_skus(session: AsyncSession) -> list[Sku]:
    return list((await session.exec(select(Sku).order_by(col(Sku.code)))).all())

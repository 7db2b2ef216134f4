"""Inventory: warehouses and SKUs. Stock levels and the ledger arrive with the inventory pool."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlmodel import Field, SQLModel

from app.dbtypes import json_field


class WarehouseKind(StrEnum):
    regional = "regional"  # 区域仓
    store = "store"  # 门店仓
    front = "front"  # 前置仓


class TemperatureZone(StrEnum):
    ambient = "ambient"  # 常温
    chilled = "chilled"  # 冷藏
    frozen = "frozen"  # 冷冻


class WarehouseBase(SQLModel):
    """A place stock is kept and shipped from."""

    code: str = Field(max_length=32, unique=True, index=True)
    name: str = Field(max_length=100)
    kind: WarehouseKind = Field(default=WarehouseKind.regional, max_length=16)
    province: str = Field(max_length=32)
    city: str = Field(default="", max_length=32)
    priority: int = 100
    is_active: bool = True


class Warehouse(WarehouseBase, table=True):
    __tablename__ = "warehouses"

    id: int | None = Field(default=None, primary_key=True)
    #: Regions served (华东, 华北…); empty means everywhere.
    serves_regions: list[str] = json_field(nullable=False, default_factory=list)
    #: Cost profile: handling fee per order and per extra item, in fen.
    cost_profile: dict[str, Any] = json_field(nullable=False, default_factory=dict)


class WarehouseRead(WarehouseBase):
    id: int
    serves_regions: list[str]


class SkuBase(SQLModel):
    """A sellable item as the merchant codes it (the channels' seller SKU maps to ``code``)."""

    code: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=200)
    category: str = Field(default="", max_length=64, index=True)
    weight_g: int = 0
    volume_cm3: int = 0
    temperature_zone: TemperatureZone = Field(default=TemperatureZone.ambient, max_length=16)
    price_fen: int = 0
    is_bundle: bool = False
    is_active: bool = True


class Sku(SkuBase, table=True):
    __tablename__ = "skus"

    id: int | None = Field(default=None, primary_key=True)


class SkuRead(SkuBase):
    id: int

"""Warehouses as master data for the API and the sheet: an API body or a sheet row becomes the warehouse form
``services.save_warehouse`` checks and saves (the one home of a warehouse's rules), and a warehouse is read back
as the API and the sheet give it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.domain.accounts.services import Actor
from app.domain.inventory import services
from app.domain.inventory.models import Warehouse
from app.domain.inventory.services import MAX_HANDLING_FEN, MAX_PRIORITY, InventoryError, WarehouseForm
from app.errors import excerpt
from app.sheets import FLAG, CellError, Choice, Column, Outcome, Sheet, Text, Whole, Yuan

#: What an API body may name.
WAREHOUSE_FIELDS = (
    "code",
    "name",
    "kind",
    "province",
    "city",
    "priority",
    "serves_regions",
    "per_order_fen",
    "per_item_fen",
    "is_active",
)
#: Between regions as people type them: 华东,华北 / 华东、华北 / 华东，华北 / 华东 华北.
REGION_SEPARATORS = re.compile(r"[,，、;；\s]+")


def split_regions(text: str) -> list[str]:
    """The regions typed in one field, in the order typed."""
    return [part for part in REGION_SEPARATORS.split(text.strip()) if part]


def warehouse_read(warehouse: Warehouse) -> dict[str, Any]:
    """A warehouse as the API gives it (handling fees in fen) and the sheet writes it."""
    profile = warehouse.cost_profile or {}
    return {
        "id": warehouse.id,
        "code": warehouse.code,
        "name": warehouse.name,
        "kind": str(warehouse.kind),
        "province": warehouse.province,
        "city": warehouse.city,
        "priority": warehouse.priority,
        "serves_regions": list(warehouse.serves_regions or ()),
        "per_order_fen": int(profile.get("per_order_fen", 0)),
        "per_item_fen": int(profile.get("per_item_fen", 0)),
        "is_active": warehouse.is_active,
    }


def _whole(value: Any, field: str) -> int:
    """A whole number of an API body: a JSON integer (not true/false) or its ASCII digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = value if isinstance(value, str) else ""
    if text.strip().lstrip("-").isascii() and text.strip().lstrip("-").isdigit() and len(text.strip()) <= 12:
        return int(text.strip())
    raise InventoryError("bad_number", "not_whole", field=field, name=field)


def form_of(values: Mapping[str, Any], current: Warehouse | None) -> WarehouseForm:
    """The warehouse form of an API body or a sheet row: what it names over what is stored (a new warehouse's
    defaults otherwise). Refuses a field it does not know and values of the wrong kind, naming the field."""
    unknown = [name for name in values if name not in WAREHOUSE_FIELDS]
    if unknown:
        raise InventoryError("bad_field", field=excerpt(unknown[0], 30), name=excerpt(unknown[0], 30))
    merged: dict[str, Any] = {
        "code": "",
        "name": "",
        "kind": "regional",
        "province": "",
        "city": "",
        "priority": 100,
        "serves_regions": [],
        "per_order_fen": 0,
        "per_item_fen": 0,
        "is_active": True,
    }
    if current is not None:
        merged.update(warehouse_read(current))
    merged.update(values)
    text = {}
    for name in ("code", "name", "kind", "province", "city"):
        if not isinstance(merged[name], str):
            raise InventoryError("bad_field", "not_text", field=name, name=name)
        text[name] = merged[name]
    regions = merged["serves_regions"]
    if isinstance(regions, str):
        regions = split_regions(regions)
    if not isinstance(regions, list) or not all(isinstance(r, str) for r in regions):
        raise InventoryError("bad_field", "not_text", field="serves_regions", name="serves_regions")
    if not isinstance(merged["is_active"], bool):
        raise InventoryError("bad_field", "not_flag", field="is_active", name="is_active")
    return WarehouseForm(
        code=text["code"],
        name=text["name"],
        kind=text["kind"],
        province=text["province"],
        city=text["city"],
        priority=_whole(merged["priority"], "priority"),
        serves_regions=regions,
        per_order_fen=_whole(merged["per_order_fen"], "per_order_fen"),
        per_item_fen=_whole(merged["per_item_fen"], "per_item_fen"),
        is_active=merged["is_active"],
    )


async def warehouse_named(session: AsyncSession, code: str) -> Warehouse:
    """The warehouse with this code, or InventoryError (404)."""
    warehouse = await services.get_warehouse(session, code)
    if warehouse is None:
        raise InventoryError("unknown_warehouse", field="code", status=404, warehouse=excerpt(code))
    return warehouse


async def create_warehouse(
    session: AsyncSession, values: Mapping[str, Any], actor: Actor, ip: str | None = None
) -> Warehouse:
    """Add a warehouse from an API body; a code that exists is refused."""
    await services.save_warehouse(session, form_of(values, None), actor, ip=ip, creating=True)
    return await warehouse_named(session, str(values.get("code", "")).strip())


async def update_warehouse(
    session: AsyncSession, warehouse: Warehouse, values: Mapping[str, Any], actor: Actor, ip: str | None = None
) -> Warehouse:
    """Change what an API body names of a warehouse; its code stays."""
    if "code" in values and values["code"] != warehouse.code:
        raise InventoryError("bad_field", "fixed", field="code", name="code")
    await services.save_warehouse(session, form_of(values, warehouse), actor, ip=ip, creating=False)
    return warehouse


# --- the sheet ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Regions:
    """The regions a warehouse serves, typed 华东、华北 (or with commas); blank means everywhere."""

    def read(self, text: str) -> list[str]:
        regions = split_regions(text)
        if len(text) > 200:
            raise CellError("too_long", max=200)
        return regions

    def write(self, value: Any) -> str:
        return "、".join(value or ())


async def save_row(session: AsyncSession, values: dict[str, Any], actor: Actor) -> Outcome:
    """One row of the warehouses sheet: a new code adds the warehouse, a known one changes what the row names."""
    current = await services.get_warehouse(session, str(values.get("code", "")).strip())
    return await services.save_warehouse(session, form_of(values, current), actor)


async def sheet_rows(session: AsyncSession) -> list[dict[str, Any]]:
    return [warehouse_read(w) for w in await services.list_warehouses(session)]


WAREHOUSE_SHEET = Sheet(
    name="warehouses",
    columns=(
        Column("code", "仓库编码", Text(32, required=True), "HZ01", required=True),
        Column("name", "仓库名称", Text(100, required=True), "杭州仓"),
        Column(
            "kind",
            "类型",
            Choice({"regional": ("区域仓",), "store": ("门店仓",), "front": ("前置仓",)}, default="regional"),
            "区域仓",
        ),
        Column("province", "省份", Text(32), "浙江"),
        Column("city", "城市", Text(32), "杭州"),
        Column("priority", "优先级", Whole(0, MAX_PRIORITY, default=100), "20"),
        Column("serves_regions", "服务大区", Regions(), "华东、华中", aliases=("regions",)),
        Column("per_order_fen", "每单操作费(元)", Yuan(MAX_HANDLING_FEN), "1.50"),
        Column("per_item_fen", "每件操作费(元)", Yuan(MAX_HANDLING_FEN), "0.30"),
        Column("is_active", "状态", FLAG, "启用"),
    ),
    key=("code",),
    save=save_row,
    rows=sheet_rows,
    audit_action="inventory.warehouses_imported",
)

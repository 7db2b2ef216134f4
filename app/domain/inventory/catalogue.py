"""The catalogue (商品): SKUs as master data and bundles (组合商品) as their components, entered by the retailer.

One home for every way a SKU is written: the 商品 pages, ``/api/v1/skus`` and the spreadsheet import all read
their values through :data:`SKU_COLUMNS` (money typed in yuan, kept in fen) and save through :func:`save_sku`,
which checks what no single cell can (a code already taken, a barcode another SKU has) and writes one audit row
per change. Bundle components go through :func:`save_component` / :func:`set_bundle` the same way.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Literal

from sqlalchemy import delete, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.domain.accounts.services import Actor, audit
from app.domain.inventory import services
from app.domain.inventory.models import BundleComponent, Sku, Stock, TemperatureZone
from app.errors import DomainError, excerpt
from app.i18n import N_
from app.params import ParameterError
from app.sheets import FLAG, Choice, Column, Digits, Outcome, Sheet, Text, Whole, Yuan, read_values

#: A SKU code: letters, digits, - _ . (it is part of the SKU's page address and of platform mappings).
CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: The most a list or cost price may be: ¥1,000,000.
MAX_PRICE_FEN = 100_000_000
#: The most one bundle may hold of one component.
MAX_COMPONENT_QTY = 1_000

ZONE = Choice(
    {
        TemperatureZone.ambient.value: ("常温",),
        TemperatureZone.chilled.value: ("冷藏",),
        TemperatureZone.frozen.value: ("冷冻",),
    },
    default=TemperatureZone.ambient.value,
)

#: The SKU's fields as forms, the API and sheets read them (the key is the field; the header is the sheet's).
SKU_COLUMNS: tuple[Column, ...] = (
    Column("code", "商品编码", Text(64, required=True), "TEA-OOLONG-250", required=True, aliases=("sku", "编码")),
    Column("name", "商品名称", Text(200, required=True), "乌龙茶 250g", required=True, aliases=("名称",)),
    Column("category", "类目", Text(64), "茶叶", aliases=("分类",)),
    Column("barcode", "条码", Digits(32), "6901234567892", aliases=("条形码",)),
    Column("weight_g", "重量(g)", Whole(0, 1_000_000), "260", aliases=("重量", "weight")),
    Column("volume_cm3", "体积(cm³)", Whole(0, 100_000_000), "1200", aliases=("体积", "体积(cm3)", "volume")),
    Column("temperature_zone", "温区", ZONE, "常温", aliases=("zone",)),
    Column("price_fen", "售价(元)", Yuan(MAX_PRICE_FEN), "59.00", aliases=("售价", "吊牌价", "price", "list_price")),
    Column("cost_fen", "成本价(元)", Yuan(MAX_PRICE_FEN), "21.50", aliases=("成本价", "成本", "cost", "cost_price")),
    Column("is_active", "状态", FLAG, "启用", aliases=("启用", "active")),
)
EDITABLE = tuple(c.key for c in SKU_COLUMNS if c.key != "code")
#: The API takes money in fen, as it gives it.
FEN = Whole(0, MAX_PRICE_FEN)
API_COLUMNS = tuple(Column(c.key, c.header, FEN) if c.key in ("price_fen", "cost_fen") else c for c in SKU_COLUMNS)

#: A bundle's components as a sheet: one row per (bundle, component).
COMPONENT_COLUMNS: tuple[Column, ...] = (
    Column("bundle_code", "组合商品编码", Text(64, required=True), "GIFTBOX-TEA", required=True, aliases=("bundle",)),
    Column(
        "component_code", "子商品编码", Text(64, required=True), "TEA-OOLONG-250", required=True, aliases=("component",)
    ),
    Column("qty", "数量", Whole(1, MAX_COMPONENT_QTY, default=None), "2", required=True, aliases=("quantity",)),
)


class CatalogueError(DomainError):
    """A refused catalogue change; ``field`` names the field (a column key) at fault."""

    messages: ClassVar[Mapping[str, str]] = {
        "bad_code": N_("%(code)s is not a SKU code: use letters, digits, - _ . (at most 64 characters)"),
        "duplicate_code": N_("SKU code %(code)s is already taken"),
        "duplicate_barcode": N_("barcode %(barcode)s already belongs to SKU %(code)s"),
        "unknown_sku": N_("there is no SKU %(code)s"),
        "name_required": N_("a new SKU needs a name"),
        "self_component": N_("a bundle cannot contain itself"),
        "nested_bundle": N_("%(code)s is a bundle itself; a bundle is made of single SKUs"),
        "is_component": N_("%(code)s is a component of the bundle %(bundle)s, so it cannot be a bundle"),
        "has_stock": N_("%(code)s holds stock in a warehouse, so it cannot become a bundle"),
        "not_object": N_("the body must be a JSON object"),
        "unknown_field": N_("%(field)s is not a field of a SKU"),
        "bad_type.text": N_("%(field)s must be text"),
        "bad_type.whole": N_("%(field)s must be a whole number"),
        "bad_type.bool": N_("%(field)s must be true or false"),
        "bad_type.components": N_('components must be a list of {"sku": code, "qty": number}'),
    }
    fields: ClassVar[Mapping[str, str]] = {"bad_code": "code", "duplicate_code": "code", "name_required": "name"}
    statuses: ClassVar[Mapping[str, int]] = {"unknown_sku": 404}


# --- reading ---------------------------------------------------------------------------------------------


def sku_values(sku: Sku) -> dict[str, Any]:
    """A SKU's fields by column key: what the export writes and the audit log keeps."""
    return {
        "code": sku.code,
        "name": sku.name,
        "category": sku.category,
        "barcode": sku.barcode,
        "weight_g": sku.weight_g,
        "volume_cm3": sku.volume_cm3,
        "temperature_zone": TemperatureZone(sku.temperature_zone).value,
        "price_fen": sku.price_fen,
        "cost_fen": sku.cost_fen,
        "is_active": sku.is_active,
    }


#: SKUs in one page of the catalogue list and of the API: by default, and at most.
PAGE = 100
API_PAGE = 50
API_LIMIT = 200


def _cursor(code: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([code]).encode()).decode().rstrip("=")


def _after(cursor: str) -> str:
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        position = None
    if not (isinstance(position, list) and len(position) == 1 and isinstance(position[0], str)):
        raise ParameterError("stale_page", field="cursor")
    return position[0]


@dataclass(frozen=True)
class SkuPage:
    skus: list[Sku]
    next_cursor: str | None
    categories: list[str]


async def search_skus(
    session: AsyncSession, *, q: str = "", category: str = "", status: str = "", cursor: str = "", limit: int = PAGE
) -> SkuPage:
    """SKUs by code in keyset pages: ``q`` in the code, name or barcode; one category; ``active`` / ``inactive``."""
    query = select(Sku)
    text = q.strip()
    if text:
        lowered = text.lower()
        query = query.where(
            or_(
                *(func.lower(column).contains(lowered, autoescape=True) for column in (Sku.code, Sku.name, Sku.barcode))
            )
        )
    if category:
        query = query.where(Sku.category == category)
    if status in ("active", "inactive"):
        query = query.where(col(Sku.is_active).is_(status == "active"))
    if cursor:
        query = query.where(col(Sku.code) > _after(cursor))
    rows = list((await session.exec(query.order_by(col(Sku.code)).limit(limit + 1))).all())
    categories = (await session.exec(select(Sku.category).where(Sku.category != "").distinct())).all()
    return SkuPage(
        skus=rows[:limit],
        next_cursor=_cursor(rows[limit - 1].code) if len(rows) > limit else None,
        categories=sorted(categories),
    )


async def bundles_containing(session: AsyncSession, code: str) -> list[str]:
    """The bundles that have this SKU as a component."""
    rows = await session.exec(
        select(BundleComponent.bundle_code)
        .where(BundleComponent.component_code == code)
        .order_by(col(BundleComponent.bundle_code))
    )
    return list(rows.all())


def api_sku(sku: Sku, parts: list[tuple[str, int]]) -> dict[str, Any]:
    """A SKU as the API gives it: its fields (money in fen), whether it is a bundle, its components."""
    return {
        **sku_values(sku),
        "is_bundle": sku.is_bundle,
        "components": [{"sku": code, "qty": qty} for code, qty in parts],
    }


async def api_skus(
    session: AsyncSession, *, q: str, category: str, status: str, cursor: str, limit: int
) -> dict[str, Any]:
    found = await search_skus(session, q=q, category=category, status=status, cursor=cursor, limit=limit)
    parts = await services.bundle_components(session, [s.code for s in found.skus if s.is_bundle])
    return {"items": [api_sku(s, parts.get(s.code, [])) for s in found.skus], "next_cursor": found.next_cursor}


async def api_sku_of(session: AsyncSession, code: str) -> dict[str, Any]:
    sku = await services.get_sku(session, code)
    if sku is None:
        raise CatalogueError("unknown_sku", field="code", code=excerpt(code))
    return api_sku(sku, (await services.bundle_components(session, [code])).get(code, []))


# --- writing SKUs ----------------------------------------------------------------------------------------


def form_values(data: Mapping[str, str]) -> dict[str, Any]:
    """A SKU form's fields as typed values (money typed in yuan, as in a sheet)."""
    return read_values(SKU_COLUMNS, {key: value for key, value in data.items() if key in EDITABLE or key == "code"})


def api_values(body: Any, *, keys: tuple[str, ...]) -> dict[str, Any]:
    """An API body's SKU fields as typed values, checked as a sheet's cells are (money in fen, whole numbers)."""
    if not isinstance(body, dict):
        raise CatalogueError("not_object", field="body")
    texts: dict[str, str] = {}
    for key, value in body.items():
        if key == "components":
            continue
        if key not in keys:
            raise CatalogueError("unknown_field", field=excerpt(key, 40))
        cell = FEN if key in ("price_fen", "cost_fen") else next(c.cell for c in SKU_COLUMNS if c.key == key)
        if key == "is_active":
            if not isinstance(value, bool):
                raise CatalogueError("bad_type", "bool", field=key)
            texts[key] = "1" if value else "0"
        elif isinstance(cell, Whole):
            if isinstance(value, bool) or not isinstance(value, int):
                raise CatalogueError("bad_type", "whole", field=key)
            texts[key] = str(value)
        else:
            if not isinstance(value, str):
                raise CatalogueError("bad_type", "text", field=key)
            texts[key] = value
    return read_values(API_COLUMNS, texts)


def api_components(body: Any) -> dict[str, int] | None:
    """The ``components`` of an API body ({sku: qty}), or None when it names none."""
    if not isinstance(body, dict) or "components" not in body:
        return None
    raw = body["components"]
    if not isinstance(raw, list) or not all(
        isinstance(p, dict) and isinstance(p.get("sku"), str) and type(p.get("qty")) is int for p in raw
    ):
        raise CatalogueError("bad_type", "components", field="components")
    return {p["sku"]: p["qty"] for p in raw}


def _action(before: dict[str, Any] | None, after: dict[str, Any]) -> str:
    if before is None:
        return "inventory.sku_created"
    if before["is_active"] != after["is_active"]:
        return "inventory.sku_enabled" if after["is_active"] else "inventory.sku_disabled"
    return "inventory.sku_updated"


async def save_sku(
    session: AsyncSession,
    code: str,
    values: Mapping[str, Any],
    actor: Actor,
    *,
    mode: Literal["create", "update", "upsert"] = "upsert",
    ip: str | None = None,
) -> tuple[Sku, Outcome]:
    """Create the SKU ``code`` or change the fields ``values`` names (typed, as :data:`SKU_COLUMNS` reads them);
    one audit row when anything changed. ``mode`` says whether the code must be new or must exist."""
    sku = await services.get_sku(session, code)
    if sku is None and mode == "update":
        raise CatalogueError("unknown_sku", field="code", code=excerpt(code))
    if sku is not None and mode == "create":
        raise CatalogueError("duplicate_code", code=excerpt(code))
    if sku is None:
        if not CODE.fullmatch(code):
            raise CatalogueError("bad_code", code=excerpt(code or "—"))
        if not values.get("name"):
            raise CatalogueError("name_required")
    barcode = values.get("barcode")
    if barcode and (sku is None or barcode != sku.barcode):
        holder = (await session.exec(select(Sku.code).where(Sku.barcode == barcode, Sku.code != code).limit(1))).first()
        if holder is not None:
            raise CatalogueError("duplicate_barcode", field="barcode", barcode=barcode, code=holder)
    before = sku_values(sku) if sku is not None else None
    sku = sku or Sku(code=code, name=str(values["name"]))
    for key in EDITABLE:
        if key in values:
            setattr(sku, key, TemperatureZone(values[key]) if key == "temperature_zone" else values[key])
    after = sku_values(sku)
    if after == before:
        return sku, Outcome.unchanged
    session.add(sku)
    await session.flush()
    changed = {k: v for k, v in after.items() if before is None or before[k] != v}
    await audit(
        session,
        actor,
        _action(before, after),
        target_type="sku",
        target_id=code,
        before={k: before[k] for k in changed} if before else None,
        after=changed,
        ip=ip,
    )
    return sku, Outcome.created if before is None else Outcome.updated


async def set_active(session: AsyncSession, code: str, active: bool, actor: Actor, *, ip: str | None = None) -> Sku:
    """Enable or disable a SKU (kept with its history; a disabled one is marked so in every list)."""
    sku, _ = await save_sku(session, code, {"is_active": active}, actor, mode="update", ip=ip)
    return sku


# --- bundles ---------------------------------------------------------------------------------------------


async def _check_component(session: AsyncSession, bundle: Sku, component_code: str) -> None:
    if component_code == bundle.code:
        raise CatalogueError("self_component", field="component_code")
    component = await services.get_sku(session, component_code)
    if component is None:
        raise CatalogueError("unknown_sku", field="component_code", status=400, code=excerpt(component_code))
    if component.is_bundle:
        raise CatalogueError("nested_bundle", field="component_code", code=component.code)


async def _check_can_be_bundle(session: AsyncSession, bundle: Sku) -> None:
    if bundle.is_bundle:
        return
    containing = await bundles_containing(session, bundle.code)
    if containing:
        raise CatalogueError("is_component", field="bundle_code", code=bundle.code, bundle=containing[0])
    held = (
        await session.exec(
            select(func.coalesce(func.sum(col(Stock.on_hand) + col(Stock.reserved)), 0)).where(
                Stock.sku_code == bundle.code
            )
        )
    ).one()
    if held:
        raise CatalogueError("has_stock", field="bundle_code", code=bundle.code)


async def _bundle(session: AsyncSession, code: str) -> Sku:
    bundle = await services.get_sku(session, code)
    if bundle is None:
        raise CatalogueError("unknown_sku", field="bundle_code", status=400, code=excerpt(code))
    return bundle


async def _component_row(session: AsyncSession, bundle_code: str, component_code: str) -> BundleComponent | None:
    query = select(BundleComponent).where(
        BundleComponent.bundle_code == bundle_code, BundleComponent.component_code == component_code
    )
    return (await session.exec(query)).first()


async def _mark_bundle(session: AsyncSession, bundle: Sku) -> None:
    """Keep ``is_bundle`` in step with whether the SKU has components, and what the shops may publish of it."""
    has_parts = (
        await session.exec(select(BundleComponent.id).where(BundleComponent.bundle_code == bundle.code).limit(1))
    ).first() is not None
    if bundle.is_bundle != has_parts:
        bundle.is_bundle = has_parts
        session.add(bundle)
        await session.flush()
    await services.mark_channel_stock(session, [bundle.code])


async def save_component(
    session: AsyncSession, values: Mapping[str, Any], actor: Actor, *, ip: str | None = None
) -> Outcome:
    """Add a component to a bundle or change how many of it one bundle takes (``bundle_code``,
    ``component_code``, ``qty`` as :data:`COMPONENT_COLUMNS` reads them)."""
    bundle = await _bundle(session, str(values["bundle_code"]))
    component_code, qty = str(values["component_code"]), int(values["qty"])
    await _check_component(session, bundle, component_code)
    await _check_can_be_bundle(session, bundle)
    row = await _component_row(session, bundle.code, component_code)
    if row is not None and row.qty == qty:
        return Outcome.unchanged
    before = None if row is None else {"qty": row.qty}
    row = row or BundleComponent(bundle_code=bundle.code, component_code=component_code, qty=qty)
    row.qty = qty
    session.add(row)
    await session.flush()
    await _mark_bundle(session, bundle)
    await audit(
        session,
        actor,
        "inventory.bundle_component_saved",
        target_type="sku",
        target_id=bundle.code,
        before={component_code: before["qty"]} if before else None,
        after={component_code: qty},
        ip=ip,
    )
    return Outcome.created if before is None else Outcome.updated


async def remove_component(
    session: AsyncSession, bundle_code: str, component_code: str, actor: Actor, *, ip: str | None = None
) -> None:
    """Take a component out of a bundle; a bundle left without components is a single SKU again."""
    bundle = await _bundle(session, bundle_code)
    row = await _component_row(session, bundle_code, component_code)
    if row is None:
        raise CatalogueError("unknown_sku", field="component_code", code=excerpt(component_code))
    await session.delete(row)
    await session.flush()
    await _mark_bundle(session, bundle)
    await audit(
        session,
        actor,
        "inventory.bundle_component_removed",
        target_type="sku",
        target_id=bundle_code,
        before={component_code: row.qty},
        ip=ip,
    )


async def set_bundle(
    session: AsyncSession, bundle_code: str, parts: Mapping[str, int], actor: Actor, *, ip: str | None = None
) -> None:
    """Define a bundle (组合商品) as exactly these components; selling one bundle then reserves its parts."""
    bundle = await _bundle(session, bundle_code)
    for code, qty in parts.items():
        await _check_component(session, bundle, code)
        read_values(COMPONENT_COLUMNS[2:], {"qty": str(qty)})
    if parts:
        await _check_can_be_bundle(session, bundle)
    before = dict((await services.bundle_components(session, [bundle_code])).get(bundle_code, []))
    await session.exec(delete(BundleComponent).where(col(BundleComponent.bundle_code) == bundle_code))
    for code, qty in sorted(parts.items()):
        session.add(BundleComponent(bundle_code=bundle_code, component_code=code, qty=qty))
    await session.flush()
    await _mark_bundle(session, bundle)
    await audit(
        session,
        actor,
        "inventory.bundle_set",
        target_type="sku",
        target_id=bundle_code,
        before=before,
        after=dict(parts),
        ip=ip,
    )


# --- sheets ----------------------------------------------------------------------------------------------


async def _save_sku_row(session: AsyncSession, values: dict[str, Any], actor: Actor) -> Outcome:
    code = values.pop("code")
    return (await save_sku(session, code, values, actor))[1]


async def _sku_rows(session: AsyncSession) -> list[dict[str, Any]]:
    return [sku_values(sku) for sku in await services.list_skus(session)]


async def _save_component_row(session: AsyncSession, values: dict[str, Any], actor: Actor) -> Outcome:
    return await save_component(session, values, actor)


async def _component_rows(session: AsyncSession) -> list[dict[str, Any]]:
    rows = await session.exec(
        select(BundleComponent).order_by(col(BundleComponent.bundle_code), col(BundleComponent.component_code))
    )
    return [{"bundle_code": r.bundle_code, "component_code": r.component_code, "qty": r.qty} for r in rows.all()]


SKU_SHEET = Sheet(
    name="skus",
    columns=SKU_COLUMNS,
    key=("code",),
    save=_save_sku_row,
    rows=_sku_rows,
    audit_action="inventory.skus_imported",
)
BUNDLE_SHEET = Sheet(
    name="bundles",
    columns=COMPONENT_COLUMNS,
    key=("bundle_code", "component_code"),
    save=_save_component_row,
    rows=_component_rows,
    audit_action="inventory.bundles_imported",
)
SHEETS = {sheet.name: sheet for sheet in (SKU_SHEET, BUNDLE_SHEET)}
#: Who sees cost prices on the catalogue's pages and in its export: those who read finance (admins); a viewer or
#: an operator reads the catalogue without the margins.
COST_PERMISSION = "finance.read"


def sheet_without_cost(sheet: Sheet) -> Sheet:
    """The sheet as exported to someone who may not see cost prices: without the cost column (a file without it
    imports leaving every cost price as it is)."""
    return replace(sheet, columns=tuple(c for c in sheet.columns if c.key != "cost_fen"))

"""Platform SKU mapping: which of our SKUs (or bundles) a shop's platform SKU is.

An order line carries the platform's sku id (``channel_sku_id``) and the seller's outer id (商家编码,
``seller_sku``). :func:`resolve` says which of our SKUs each is, in this order: the outer id is one of our
codes; the shop maps the sku id; the shop maps the outer id. Ingest, processing and the backtest all resolve
through it, set-based (one query for any number of lines).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from sqlalchemy import func, literal, or_, union_all
from sqlalchemy import select as select_columns
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import iso_utc, utcnow
from app.domain.accounts.services import Actor, audit
from app.domain.inventory.models import Sku, SkuMapping
from app.domain.shops import services as shop_readers
from app.domain.shops.models import Shop
from app.errors import DomainError, excerpt
from app.i18n import N_
from app.params import ParameterError, parse_id
from app.sheets import Column, Outcome, Sheet, Text

#: The longest platform sku id or outer id kept (the order line's columns are as long).
KEY_LENGTH: Final = 64
#: Mappings one page of the mapping list shows.
PAGE_SIZE: Final = 100


class SkuMappingError(DomainError):
    """A mapping that cannot be saved or removed; ``field`` names the input at fault."""

    messages: ClassVar[Mapping[str, str]] = {
        "unknown_shop": N_("There is no such shop."),
        "no_key": N_("Give the platform SKU id or the outer id (seller code), or both"),
        "key_too_long": N_("The platform SKU id, the outer id and the platform item id are at most 64 characters"),
        "no_sku": N_("Choose one of our SKUs"),
        "unknown_sku": N_("There is no SKU with the code %(sku)s"),
        "inactive_sku": N_("The SKU %(sku)s is disabled"),
        "taken_outer_id": N_("The outer id %(outer_id)s is already mapped to %(sku)s in this shop"),
        "not_found": N_("The mapping no longer exists (someone else may have removed it)"),
        "not_text": N_("%(field)s must be text"),
    }
    statuses: ClassVar[Mapping[str, int]] = {"not_found": 404}


@dataclass(frozen=True, slots=True)
class PlatformSku:
    """A SKU as one shop's platform names it on an order line."""

    shop_id: int
    #: The platform's own id of the SKU (``channel_sku_id``), or empty.
    sku_id: str
    #: The seller's code on the platform (``seller_sku``, 商家编码), or empty.
    outer_id: str


async def resolve(session: AsyncSession, wanted: Iterable[PlatformSku]) -> dict[PlatformSku, str]:
    """Our SKU code for each of these platform SKUs that is ours (the others are left out), in one query:
    the outer id is our code, else the shop maps the sku id, else the shop maps the outer id."""
    keys = set(wanted)
    outer_ids = {key.outer_id for key in keys if key.outer_id}
    sku_ids = {key.sku_id for key in keys if key.sku_id}
    shop_ids = {key.shop_id for key in keys}
    if not outer_ids and not sku_ids:
        return {}
    parts = []
    if outer_ids:
        parts.append(
            select_columns(literal("code"), literal(0), col(Sku.code), col(Sku.code)).where(
                col(Sku.code).in_(outer_ids)
            )
        )
        parts.append(
            select_columns(
                literal("outer_id"), col(SkuMapping.shop_id), col(SkuMapping.outer_id), col(SkuMapping.sku_code)
            ).where(col(SkuMapping.shop_id).in_(shop_ids), col(SkuMapping.outer_id).in_(outer_ids))
        )
    if sku_ids:
        parts.append(
            select_columns(
                literal("sku_id"), col(SkuMapping.shop_id), col(SkuMapping.platform_sku_id), col(SkuMapping.sku_code)
            ).where(col(SkuMapping.shop_id).in_(shop_ids), col(SkuMapping.platform_sku_id).in_(sku_ids))
        )
    connection = await session.connection()
    rows = (await connection.execute(union_all(*parts))).all()
    ours = {key for kind, _, key, _ in rows if kind == "code"}
    by_sku_id = {(shop_id, key): code for kind, shop_id, key, code in rows if kind == "sku_id"}
    by_outer_id = {(shop_id, key): code for kind, shop_id, key, code in rows if kind == "outer_id"}
    found: dict[PlatformSku, str] = {}
    for key in keys:
        code = key.outer_id if key.outer_id in ours else None
        code = code or by_sku_id.get((key.shop_id, key.sku_id)) or by_outer_id.get((key.shop_id, key.outer_id))
        if code:
            found[key] = code
    return found


# --- the mappings as master data ------------------------------------------------------------------------


def snapshot(mapping: SkuMapping) -> dict[str, Any]:
    """A mapping as the audit log and the undo of a removal keep it."""
    return {
        "shop_id": mapping.shop_id,
        "platform_sku_id": mapping.platform_sku_id,
        "outer_id": mapping.outer_id,
        "sku": mapping.sku_code,
        "platform_item_id": mapping.platform_item_id,
    }


async def _mapping_by(session: AsyncSession, shop_id: int, column: Any, value: str) -> SkuMapping | None:
    if not value:
        return None
    query = select(SkuMapping).where(SkuMapping.shop_id == shop_id, column == value)
    return (await session.exec(query)).first()


async def check_sku(session: AsyncSession, sku_code: str) -> Sku:
    """The active SKU (or bundle) of this code, or a SkuMappingError saying why it cannot be mapped to."""
    code = sku_code.strip()
    if not code:
        raise SkuMappingError("no_sku", field="sku")
    sku = (await session.exec(select(Sku).where(Sku.code == code))).first()
    if sku is None:
        raise SkuMappingError("unknown_sku", field="sku", sku=excerpt(code))
    if not sku.is_active:
        raise SkuMappingError("inactive_sku", field="sku", sku=code)
    return sku


@dataclass(frozen=True)
class Saved:
    """A saved mapping and whether it was new, changed or already so."""

    mapping: SkuMapping
    outcome: Outcome


async def save_mapping(
    session: AsyncSession,
    shop_id: int,
    platform_sku_id: str,
    outer_id: str,
    sku_code: str,
    actor: Actor,
    *,
    item_id: str | None = None,
    ip: str | None = None,
) -> Saved:
    """Map the shop's platform SKU to one of our SKUs, audited. The mapping is found by its sku id when one is
    given, else by its outer id, and changed in place; an outer id another mapping of the shop holds is refused.
    ``item_id`` is the platform's item (listing) id the stock push names; None keeps the one it has."""
    sku_id, outer = platform_sku_id.strip(), outer_id.strip()
    item = item_id.strip() if item_id is not None else None
    if await shop_readers.shop_of(session, shop_id) is None:
        raise SkuMappingError("unknown_shop", field="shop")
    if not sku_id and not outer:
        raise SkuMappingError("no_key", field="platform_sku_id")
    if len(sku_id) > KEY_LENGTH or len(outer) > KEY_LENGTH:
        raise SkuMappingError("key_too_long", field="platform_sku_id" if len(sku_id) > KEY_LENGTH else "outer_id")
    if item is not None and len(item) > KEY_LENGTH:
        raise SkuMappingError("key_too_long", field="platform_item_id")
    sku = await check_sku(session, sku_code)
    mapping = await _mapping_by(session, shop_id, col(SkuMapping.platform_sku_id), sku_id)
    if mapping is None and not sku_id:
        mapping = await _mapping_by(session, shop_id, col(SkuMapping.outer_id), outer)
    holder = await _mapping_by(session, shop_id, col(SkuMapping.outer_id), outer)
    if holder is not None and holder is not mapping:
        raise SkuMappingError("taken_outer_id", field="outer_id", outer_id=outer, sku=holder.sku_code)
    before = snapshot(mapping) if mapping is not None else None
    if mapping is None:
        mapping = SkuMapping(shop_id=shop_id, sku_code=sku.code, mapped_by=actor.name, mapped_at=utcnow())
    mapping.platform_sku_id, mapping.outer_id, mapping.sku_code = sku_id, outer, sku.code
    if item is not None:
        mapping.platform_item_id = item
    if before == snapshot(mapping):
        return Saved(mapping, Outcome.unchanged)
    mapping.mapped_by, mapping.mapped_at = actor.name[:100], utcnow()
    session.add(mapping)
    await session.flush()
    await audit(
        session,
        actor,
        "sku_mapping.save",
        target_type="sku_mapping",
        target_id=mapping.id,
        before=before,
        after=snapshot(mapping),
        ip=ip,
    )
    return Saved(mapping, Outcome.created if before is None else Outcome.updated)


async def delete_mapping(
    session: AsyncSession, shop_id: int, mapping_id: int, actor: Actor, *, ip: str | None = None
) -> dict[str, Any]:
    """Remove one of the shop's mappings, audited; returns what it was (for an undo)."""
    mapping = await session.get(SkuMapping, mapping_id)
    if mapping is None or mapping.shop_id != shop_id:
        raise SkuMappingError("not_found")
    removed = snapshot(mapping)
    await session.delete(mapping)
    await session.flush()
    await audit(
        session, actor, "sku_mapping.delete", target_type="sku_mapping", target_id=mapping_id, before=removed, ip=ip
    )
    return removed


async def list_mappings(
    session: AsyncSession, shop_id: int, *, q: str = "", limit: int = PAGE_SIZE, after_id: int | None = None
) -> tuple[list[SkuMapping], int | None]:
    """The shop's mappings by id, a page at a time (the next page's ``after_id``, or None on the last);
    ``q`` finds a sku id, outer id or SKU code containing it."""
    query = select(SkuMapping).where(SkuMapping.shop_id == shop_id)
    term = q.strip()
    if term:
        columns = (col(SkuMapping.platform_sku_id), col(SkuMapping.outer_id), col(SkuMapping.sku_code))
        query = query.where(or_(*(column.icontains(term, autoescape=True) for column in columns)))
    if after_id is not None:
        query = query.where(col(SkuMapping.id) > after_id)
    rows = list((await session.exec(query.order_by(col(SkuMapping.id)).limit(limit + 1))).all())
    next_after = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_after


async def mapped_pairs(
    session: AsyncSession, shop_ids: Iterable[int], sku_codes: Iterable[str]
) -> set[tuple[int, str]]:
    """Which (shop, our SKU) pairs among these shops and SKUs a mapping names."""
    shops, codes = set(shop_ids), set(sku_codes)
    if not shops or not codes:
        return set()
    rows = await session.exec(
        select(SkuMapping.shop_id, SkuMapping.sku_code).where(
            col(SkuMapping.shop_id).in_(shops), col(SkuMapping.sku_code).in_(codes)
        )
    )
    return set(rows.all())


async def push_targets(session: AsyncSession, pairs: Iterable[tuple[int, str]]) -> dict[tuple[int, str], SkuMapping]:
    """For each (shop, our SKU) pair that a mapping names, the mapping a stock push addresses the platform SKU
    by (the first one made, when a shop maps several platform SKUs to one of ours)."""
    wanted = set(pairs)
    if not wanted:
        return {}
    query = (
        select(SkuMapping)
        .where(col(SkuMapping.shop_id).in_({shop for shop, _ in wanted}))
        .where(col(SkuMapping.sku_code).in_({code for _, code in wanted}))
        .order_by(col(SkuMapping.id))
    )
    found: dict[tuple[int, str], SkuMapping] = {}
    for mapping in (await session.exec(query)).all():
        pair = (mapping.shop_id, mapping.sku_code)
        if pair in wanted:
            found.setdefault(pair, mapping)
    return found


async def counts_by_shop(session: AsyncSession) -> dict[int, int]:
    """How many mappings each shop has (shops without any left out)."""
    query = select(SkuMapping.shop_id, func.count()).group_by(col(SkuMapping.shop_id))
    return {shop_id: int(count) for shop_id, count in (await session.exec(query)).all()}


async def _shop_mappings(session: AsyncSession, shop_id: int) -> list[SkuMapping]:
    query = select(SkuMapping).where(SkuMapping.shop_id == shop_id).order_by(col(SkuMapping.id))
    return list((await session.exec(query)).all())


# --- as a spreadsheet -------------------------------------------------------------------------------------

#: The columns of a shop's mapping sheet: either key (or both) and our SKU.
COLUMNS: Final = (
    Column("platform_sku_id", "平台SKU编号", Text(KEY_LENGTH), "1234567890123", aliases=("平台 SKU 编号", "sku_id")),
    Column("outer_id", "商家编码", Text(KEY_LENGTH), "TM-MASK-10", aliases=("outer id", "外部编码")),
    Column("sku", "我们的商品编码", Text(64, required=True), "MASK-10", required=True, aliases=("商品编码", "our sku")),
    Column("platform_item_id", "平台商品ID", Text(KEY_LENGTH), "620011223344", aliases=("平台商品 ID", "item_id")),
)


def mapping_sheet(shop: Shop) -> Sheet:
    """One shop's mappings as a spreadsheet, imported and exported by the master-data sheet engine."""
    assert shop.id is not None
    shop_id = shop.id

    async def save(session: AsyncSession, values: dict[str, Any], actor: Actor) -> Outcome:
        saved = await save_mapping(
            session,
            shop_id,
            values.get("platform_sku_id", ""),
            values.get("outer_id", ""),
            values["sku"],
            actor,
            item_id=values.get("platform_item_id"),
        )
        return saved.outcome

    async def rows(session: AsyncSession) -> list[dict[str, Any]]:
        return [
            {
                "platform_sku_id": m.platform_sku_id,
                "outer_id": m.outer_id,
                "sku": m.sku_code,
                "platform_item_id": m.platform_item_id,
            }
            for m in await _shop_mappings(session, shop_id)
        ]

    return Sheet(
        name=f"sku-mappings-{shop.code}",
        columns=COLUMNS,
        key=("platform_sku_id", "outer_id"),
        save=save,
        rows=rows,
        audit_action="sku_mapping.import",
    )


# --- the API ----------------------------------------------------------------------------------------------

#: The most mappings one page of the API gives, and how many by default.
API_LIMIT: Final = 500
API_PAGE: Final = 100


def mapping_read(mapping: SkuMapping, shop: Shop) -> dict[str, Any]:
    """A mapping as the API gives it."""
    return {
        "id": mapping.id,
        "shop": shop.code,
        "platform_sku_id": mapping.platform_sku_id,
        "outer_id": mapping.outer_id,
        "sku": mapping.sku_code,
        "platform_item_id": mapping.platform_item_id,
        "mapped_by": mapping.mapped_by,
        "mapped_at": iso_utc(mapping.mapped_at),
    }


async def _named_shop(session: AsyncSession, code: Any) -> Shop:
    shop = await shop_readers.shop_by_code(session, code) if isinstance(code, str) and code.strip() else None
    if shop is None or shop.id is None:
        raise ParameterError("unknown_shop", field="shop")
    return shop


async def api_mappings(session: AsyncSession, *, shop: str, q: str, cursor: str, limit: int) -> dict[str, Any]:
    """One page of a shop's mappings (by id; ``next_cursor`` pages on, None on the last)."""
    found = await _named_shop(session, shop.strip())
    after = parse_id(cursor) if cursor.strip() else None
    if cursor.strip() and after is None:
        raise ParameterError("stale_page", field="cursor")
    assert found.id is not None
    rows, next_after = await list_mappings(session, found.id, q=q, limit=limit, after_id=after)
    return {
        "items": [mapping_read(m, found) for m in rows],
        "next_cursor": str(next_after) if next_after is not None else None,
    }


async def api_save(
    session: AsyncSession, data: Mapping[str, Any], actor: Actor, ip: str | None = None
) -> tuple[dict[str, Any], Outcome]:
    """Save a mapping from the API's JSON: ``shop`` (code), ``platform_sku_id`` and/or ``outer_id``, ``sku``, and
    optionally ``platform_item_id``."""
    shop = await _named_shop(session, data.get("shop"))
    values = {}
    for name in ("platform_sku_id", "outer_id", "sku", "platform_item_id"):
        value = data.get(name) if data.get(name) is not None else ""
        if not isinstance(value, str):
            raise SkuMappingError("not_text", field=name)
        values[name] = value
    assert shop.id is not None
    saved = await save_mapping(
        session,
        shop.id,
        values["platform_sku_id"],
        values["outer_id"],
        values["sku"],
        actor,
        item_id=values["platform_item_id"] if data.get("platform_item_id") is not None else None,
        ip=ip,
    )
    return mapping_read(saved.mapping, shop), saved.outcome

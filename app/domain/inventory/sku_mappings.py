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

from sqlalchemy import literal, or_, union_all
from sqlalchemy import select as select_columns
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import utcnow
from app.domain.accounts.services import Actor, audit
from app.domain.inventory.models import Sku, SkuMapping
from app.domain.shops import services as shop_readers
from app.errors import DomainError, excerpt
from app.i18n import N_

#: The longest platform sku id or outer id kept (the order line's columns are as long).
KEY_LENGTH: Final = 64
#: Mappings one page of the mapping list shows.
PAGE_SIZE: Final = 100


class SkuMappingError(DomainError):
    """A mapping that cannot be saved or removed; ``field`` names the input at fault."""

    messages: ClassVar[Mapping[str, str]] = {
        "unknown_shop": N_("There is no such shop."),
        "no_key": N_("Give the platform SKU id or the outer id (seller code), or both"),
        "key_too_long": N_("The platform SKU id and the outer id are at most 64 characters"),
        "no_sku": N_("Choose one of our SKUs"),
        "unknown_sku": N_("There is no SKU with the code %(sku)s"),
        "inactive_sku": N_("The SKU %(sku)s is disabled"),
        "taken_outer_id": N_("The outer id %(outer_id)s is already mapped to %(sku)s in this shop"),
        "not_found": N_("The mapping no longer exists (someone else may have removed it)"),
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


async def save_mapping(
    session: AsyncSession,
    shop_id: int,
    platform_sku_id: str,
    outer_id: str,
    sku_code: str,
    actor: Actor,
    *,
    ip: str | None = None,
) -> SkuMapping:
    """Map the shop's platform SKU to one of our SKUs, audited. The mapping is found by its sku id when one is
    given, else by its outer id, and changed in place; an outer id another mapping of the shop holds is refused."""
    sku_id, outer = platform_sku_id.strip(), outer_id.strip()
    if await shop_readers.shop_of(session, shop_id) is None:
        raise SkuMappingError("unknown_shop", field="shop")
    if not sku_id and not outer:
        raise SkuMappingError("no_key", field="platform_sku_id")
    if len(sku_id) > KEY_LENGTH or len(outer) > KEY_LENGTH:
        raise SkuMappingError("key_too_long", field="platform_sku_id" if len(sku_id) > KEY_LENGTH else "outer_id")
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
    return mapping


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

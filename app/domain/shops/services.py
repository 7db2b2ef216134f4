"""Reading shops: the one place the other domains ask for them (shops import no other domain)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.domain.shops.models import Shop


async def shop_of(session: AsyncSession, shop_id: int) -> Shop | None:
    """The shop with this id."""
    return await session.get(Shop, shop_id)


async def shop_by_code(session: AsyncSession, code: str) -> Shop | None:
    """The shop with this code."""
    return (await session.exec(select(Shop).where(Shop.code == code))).first()


async def list_shops(session: AsyncSession, *, order: Literal["channel", "id"] = "channel") -> list[Shop]:
    """Every shop: by platform then code (for pickers and lists), or by id."""
    ordering = (col(Shop.channel), col(Shop.code)) if order == "channel" else (col(Shop.id),)
    return list((await session.exec(select(Shop).order_by(*ordering))).all())


async def shops_by_id(session: AsyncSession, shop_ids: Iterable[int] | None = None) -> dict[int, Shop]:
    """These shops (None: every shop) by id."""
    query = select(Shop).order_by(col(Shop.id))
    if shop_ids is not None:
        query = query.where(col(Shop.id).in_(set(shop_ids)))
    return {shop.id: shop for shop in (await session.exec(query)).all() if shop.id is not None}


async def existing_codes(session: AsyncSession, codes: Iterable[str] | None = None) -> set[str]:
    """Which of these shop codes exist (None: every shop's code)."""
    query = select(Shop.code)
    if codes is not None:
        query = query.where(col(Shop.code).in_(set(codes)))
    return set((await session.exec(query)).all())


async def active_shop_ids(session: AsyncSession) -> list[int]:
    """The ids of the shops that are on, in id order."""
    query = select(Shop.id).where(col(Shop.is_active).is_(True)).order_by(col(Shop.id))
    return [shop_id for shop_id in (await session.exec(query)).all() if shop_id is not None]

"""Shops as master data: an admin adds a shop (channel, code, name, credentials, pull schedule), renames it and
turns it off or on, on 渠道与店铺 or through the API; the API reads shops without their secrets.

A disabled shop's webhooks are refused and its pulls stop (``services``). Every change forgets the shops the
webhook keeps, so it takes effect at once in this process and within ``WEBHOOK_SHOP_SECONDS`` in the others.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import iso_utc
from app.domain.accounts.services import Actor, audit
from app.domain.channels import services
from app.domain.shops import services as shop_readers
from app.domain.shops.models import Channel, Shop
from app.errors import DomainError, excerpt
from app.forms import one
from app.i18n import N_
from app.sheets import FLAG, Choice, Column, Outcome, Sheet, Text, Whole
from ruleflows import without_bidi_controls

#: A shop code: what webhooks name the shop by (``?shop=``, ``X-Ruleflow-Shop``), so plain ASCII only.
SHOP_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
NAME_LIMIT = 100
#: What an API body may set when it creates a shop; a change may set the same but the channel and the code.
CREATE_FIELDS = frozenset(
    {"channel", "code", "name", "is_active", *services.SHOP_SETTING_LIMITS, "pull_interval_minutes"}
)
FIXED_FIELDS = frozenset({"channel", "code"})


class ShopError(DomainError, ValueError):
    """A shop that cannot be added or changed as asked; ``field`` names what to correct."""

    messages: ClassVar[Mapping[str, str]] = {
        "code_required": N_("Enter the shop code."),
        "bad_code": N_(
            "The shop code %(value)s may hold only letters, digits, - and _, start with a letter or digit and have "
            "at most 64 characters."
        ),
        "duplicate_code": N_("A shop with the code %(value)s already exists."),
        "channel_required": N_("Choose the shop's channel."),
        "unknown_channel": N_("There is no channel %(value)s."),
        "name_required": N_("Enter the shop name."),
        "name_too_long": N_("The shop name may have at most %(limit)s characters."),
        "fixed": N_("%(field)s cannot be changed once the shop exists."),
        "not_text": N_("%(field)s must be text."),
        "not_flag": N_("%(field)s must be true or false."),
        "unknown_field": N_("There is no field %(field)s."),
        "not_found": N_("There is no shop %(value)s."),
    }
    fields: ClassVar[Mapping[str, str]] = {
        "code_required": "code",
        "bad_code": "code",
        "duplicate_code": "code",
        "channel_required": "channel",
        "unknown_channel": "channel",
        "name_required": "name",
        "name_too_long": "name",
        "not_found": "code",
    }
    statuses: ClassVar[Mapping[str, int]] = {"duplicate_code": 409, "not_found": 404}


def check_code(value: str) -> str:
    """A new shop's code as typed, or ShopError saying what is wrong with it."""
    code = value.strip()
    if not code:
        raise ShopError("code_required")
    if not SHOP_CODE.fullmatch(code):
        raise ShopError("bad_code", value=excerpt(code))
    return code


def check_channel(value: str) -> Channel:
    """The channel a form or body names, or ShopError."""
    if not value.strip():
        raise ShopError("channel_required")
    if value.strip() not in Channel.__members__:
        raise ShopError("unknown_channel", value=excerpt(value.strip()))
    return Channel(value.strip())


def check_name(value: str) -> str:
    """A shop name as it is kept: without bidi controls (which would show it reversed), within its length."""
    name = without_bidi_controls(value).strip()
    if not name:
        raise ShopError("name_required")
    if len(name) > NAME_LIMIT:
        raise ShopError("name_too_long", limit=NAME_LIMIT)
    return name


def snapshot(shop: Shop) -> dict[str, Any]:
    """What the audit log keeps of a shop: everything but its secrets, of which only whether they are set."""
    return {
        "channel": shop.channel.value,
        "code": shop.code,
        "name": shop.name,
        "is_active": shop.is_active,
        "api_base_url": shop.api_base_url,
        "app_key": shop.app_key,
        "app_secret_set": bool(shop.app_secret_cipher),
        "access_token_set": bool(shop.access_token_cipher),
        "webhook_secret_set": bool(shop.webhook_secret_cipher),
        "pull_interval_minutes": shop.pull_interval_minutes,
    }


def shop_read(shop: Shop) -> dict[str, Any]:
    """A shop as the API gives it: never a secret (only whether it is set), nor the last pull's error text, which
    may quote a platform's answer."""
    return {
        "id": shop.id,
        **snapshot(shop),
        "last_pulled_at": iso_utc(shop.last_pulled_at),
        "last_pull_failed": bool(shop.last_pull_error),
    }


def _flag(value: Any, field: str) -> bool:
    """A yes/no from an API body (true/false) or a form (a ticked box sends ``on``)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("on", "true", "1", ""):
        return value.strip() != ""
    if isinstance(value, str) and value.strip().lower() in ("false", "0", "off"):
        return False
    raise ShopError("not_flag", field=field)


def _plain(values: Mapping[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    """The fields of a form or body as text (the first of repeated form fields), refusing unknown fields and
    values that are neither text nor, where it fits, a number or a yes/no."""
    plain: dict[str, Any] = {}
    for name, value in values.items():
        if name not in allowed:
            raise ShopError("unknown_field", field=excerpt(name))
        if name == "is_active":
            plain[name] = value
        elif isinstance(value, str) or (isinstance(value, int) and name == "pull_interval_minutes"):
            plain[name] = str(value)
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):
            plain[name] = one({name: value}, name, strip=False)
        else:
            raise ShopError("not_text", field=name)
    return plain


async def _code_taken(session: AsyncSession, code: str) -> bool:
    """Whether a shop already has this code, in any letter case (``Tmall`` beside ``tmall`` would only confuse)."""
    query = select(Shop.id).where(func.lower(col(Shop.code)) == code.lower())
    return (await session.exec(query)).first() is not None


async def create_shop(
    session: AsyncSession, secret_key: str, values: Mapping[str, Any], actor: Actor, ip: str | None
) -> Shop:
    """Add a shop from the admin's form or an API body, audited; a refusal (ShopError, ShopSettingsError) adds
    nothing. Blank credentials are left unset; the webhook secret is made later (rotate, shown once)."""
    plain = _plain(values, CREATE_FIELDS)
    channel = check_channel(plain.get("channel", ""))
    code = check_code(plain.get("code", ""))
    name = check_name(plain.get("name", ""))
    pull = services.read_pull_settings(plain)
    active = _flag(plain.get("is_active", True), "is_active")
    if await _code_taken(session, code):
        raise ShopError("duplicate_code", value=code)
    shop = Shop(channel=channel, code=code, name=name, is_active=active)
    services.apply_pull_settings(shop, secret_key, pull)
    try:
        async with session.begin_nested():
            session.add(shop)
            await session.flush()
    except IntegrityError as exc:  # another admin took the code a moment ago
        raise ShopError("duplicate_code", value=code) from exc
    assert shop.id is not None
    services.forget_webhook_shops()
    await services.schedule_next_pull(session, shop.id)
    await audit(session, actor, "shop.created", target_type="shop", target_id=shop.id, after=snapshot(shop), ip=ip)
    return shop


async def update_shop(
    session: AsyncSession, secret_key: str, shop: Shop, values: Mapping[str, Any], actor: Actor, ip: str | None
) -> Outcome:
    """Change what ``values`` names of a shop (its name, whether it is on, its pull settings), audited with the
    shop before and after. Fields left out keep their values; blank secrets keep the stored ones."""
    plain = _plain(values, CREATE_FIELDS)
    for name in FIXED_FIELDS & plain.keys():
        if plain[name].strip() != str(getattr(shop, name).value if name == "channel" else shop.code):
            raise ShopError("fixed", field=name)
    before = snapshot(shop)
    if "name" in plain:
        shop.name = check_name(plain["name"])
    if "is_active" in plain:
        shop.is_active = _flag(plain["is_active"], "is_active")
    if services.SHOP_SETTING_LIMITS.keys() & plain.keys() or "pull_interval_minutes" in plain:
        current = {"api_base_url": shop.api_base_url, "app_key": shop.app_key}
        current["pull_interval_minutes"] = str(shop.pull_interval_minutes)
        services.apply_pull_settings(shop, secret_key, services.read_pull_settings({**current, **plain}))
    after = snapshot(shop)
    new_secrets = {k for k in ("app_secret", "access_token") if isinstance(plain.get(k), str) and plain[k].strip()}
    if after == before and not new_secrets:
        return Outcome.unchanged
    session.add(shop)
    await session.flush()
    services.forget_webhook_shops()
    assert shop.id is not None
    await services.schedule_next_pull(session, shop.id)
    changed = sorted(k for k in after if after[k] != before[k])
    action = {"is_active": "shop.enabled" if shop.is_active else "shop.disabled"}.get(",".join(changed), "shop.updated")
    await audit(session, actor, action, target_type="shop", target_id=shop.id, before=before, after=after, ip=ip)
    return Outcome.updated


async def shop_named(session: AsyncSession, code: str) -> Shop:
    """The shop with this code, or ShopError (404)."""
    shop = await shop_readers.shop_by_code(session, code)
    if shop is None:
        raise ShopError("not_found", value=excerpt(code))
    return shop


async def shop_with_id(session: AsyncSession, shop_id: int) -> Shop:
    """The shop with this id, or ShopNotFound (404)."""
    shop = await shop_readers.shop_of(session, shop_id)
    if shop is None:
        raise services.ShopNotFound(shop_id)
    return shop


# --- the sheet ----------------------------------------------------------------------------------------------

#: The channels as a sheet names them (the first name is written back).
CHANNEL_NAMES: dict[str, tuple[str, ...]] = {
    Channel.taobao.value: ("淘宝",),
    Channel.tmall.value: ("天猫",),
    Channel.jd.value: ("京东",),
    Channel.douyin.value: ("抖店", "抖音"),
    Channel.kuaishou.value: ("快手",),
    Channel.youzan.value: ("有赞",),
    Channel.wechat_channels.value: ("视频号小店", "视频号"),
    Channel.wechat_miniprogram.value: ("微信小程序",),
    Channel.pos.value: ("门店收银",),
    Channel.webshop.value: ("品牌官网",),
    Channel.community_group.value: ("社区团购",),
}


def shop_sheet(secret_key: str) -> Sheet:
    """渠道与店铺 as a sheet: one row a shop, a new code added, a known one changed (its channel stays). Secrets are
    never written out; a blank secret cell keeps the stored one."""

    async def save(session: AsyncSession, values: dict[str, Any], actor: Actor) -> Outcome:
        shop = await shop_readers.shop_by_code(session, str(values.get("code", "")))
        if shop is None:
            await create_shop(session, secret_key, values, actor, None)
            return Outcome.created
        return await update_shop(session, secret_key, shop, values, actor, None)

    async def rows(session: AsyncSession) -> list[dict[str, Any]]:
        return [
            {**snapshot(shop), "app_secret": "", "access_token": ""} for shop in await shop_readers.list_shops(session)
        ]

    return Sheet(
        name="shops",
        columns=(
            Column("channel", "渠道", Choice(CHANNEL_NAMES), "京东", required=True),
            Column("code", "店铺编码", Text(64, required=True), "jd-flagship", required=True),
            Column("name", "店铺名称", Text(NAME_LIMIT), "京东旗舰店"),
            Column("api_base_url", "API 地址", Text(300), "https://api.jd.com/routerjson"),
            Column("app_key", "App key", Text(128), ""),
            Column("app_secret", "App secret", Text(256), ""),
            Column("access_token", "Access token", Text(512), ""),
            Column("pull_interval_minutes", "拉单间隔(分钟)", Whole(0, 1440, default=0), "15"),
            Column("is_active", "状态", FLAG, "启用"),
        ),
        key=("code",),
        save=save,
        rows=rows,
        audit_action="shops.imported",
    )

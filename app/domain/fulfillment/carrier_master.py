"""Carriers and their rate tables as master data: an admin adds and edits carriers (code, name, cold chain, the
carrier's own API settings), turns them off or on, and keeps each carrier's rate lines (typed on the page or
imported from a sheet); the API reads both, never a secret.

Routing reads the same rows (``services.load_network``): a disabled carrier is never chosen, and a rate line for a
region (华东…) prices each of its provinces.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.domain.accounts.services import Actor, audit
from app.domain.fulfillment.models import ANY, Carrier, CarrierRate
from app.domain.orders.pii import decrypt, encrypt
from app.errors import DomainError, excerpt
from app.forms import one
from app.i18n import N_
from app.params import parse_fen, parse_int
from app.sheets import FLAG, Choice, Column, Outcome, Sheet, Text, Whole, Yuan
from ruleflows import REGIONS, short_province, without_bidi_controls

#: A carrier code: what flows, rate tables and waybills name the carrier by (SF, ZTO, JD…).
CARRIER_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
NAME_LIMIT = 100
#: The longest clear value each API setting takes (what its column, or its ciphertext's, can hold).
API_SETTING_LIMITS = {"api_base_url": 300, "customer_code": 64, "api_key": 128, "api_secret": 256}
CARRIER_FIELDS = frozenset({"code", "name", "supports_cold_chain", "is_active", *API_SETTING_LIMITS})
#: Bounds of a rate line: ¥10,000 per kilogram is no parcel rate, a tonne is no parcel, a quarter is no promise.
#: All far below what the integer columns hold.
MAX_RATE_FEE_FEN = 1_000_000
MAX_PARCEL_WEIGHT_G = 1_000_000
MAX_PROMISED_DAYS = 90
TEMPERATURE_ZONES = (ANY, "ambient", "chilled", "frozen")


class CarrierError(DomainError, ValueError):
    """A carrier that cannot be added or changed as asked; ``field`` names what to correct."""

    messages: ClassVar[Mapping[str, str]] = {
        "code_required": N_("Enter the carrier code."),
        "bad_code": N_(
            "The carrier code %(value)s may hold only letters, digits, - and _, start with a letter or digit and "
            "have at most 32 characters."
        ),
        "duplicate_code": N_("A carrier with the code %(value)s already exists."),
        "name_required": N_("Enter the carrier name."),
        "name_too_long": N_("The carrier name may have at most %(limit)s characters."),
        "bad_url": N_("The API address must start with http:// or https://."),
        "too_long": N_("%(field)s may have at most %(limit)s characters."),
        "fixed": N_("%(field)s cannot be changed once the carrier exists."),
        "not_text": N_("%(field)s must be text."),
        "not_flag": N_("%(field)s must be true or false."),
        "unknown_field": N_("There is no field %(field)s."),
        "not_found": N_("There is no carrier %(value)s."),
    }
    fields: ClassVar[Mapping[str, str]] = {
        "code_required": "code",
        "bad_code": "code",
        "duplicate_code": "code",
        "name_required": "name",
        "name_too_long": "name",
        "bad_url": "api_base_url",
        "not_found": "code",
    }
    statuses: ClassVar[Mapping[str, int]] = {"duplicate_code": 409, "not_found": 404}


class RateFormError(DomainError, ValueError):
    """A rate line that cannot be saved; the message says what to correct and ``field`` names it."""

    messages: ClassVar[Mapping[str, str]] = {
        "incomplete": N_("Fill in the carrier, the fees in yuan and the promised days."),
        "out_of_bounds": N_(
            "Fees are amounts in yuan up to %(yuan)s, promised days a whole number up to %(days)s, weights "
            "whole grams up to %(grams)s."
        ),
        "unknown_carrier": N_("There is no carrier %(value)s."),
        "bad_origin": N_("%(value)s is not a province (or * for any)."),
        "bad_dest": N_("%(value)s is neither a province nor a region such as 华东 (or * for any)."),
        "bad_zone": N_("%(value)s is not a temperature zone (常温, 冷藏, 冷冻 or * for any)."),
        "bad_band": N_("The weight band must end above where it starts, at most %(grams)s grams."),
        "not_found": N_("There is no such rate line."),
    }
    fields: ClassVar[Mapping[str, str]] = {
        "unknown_carrier": "carrier_code",
        "bad_origin": "origin_province",
        "bad_dest": "dest_province",
        "bad_zone": "temperature_zone",
        "bad_band": "max_weight_g",
    }
    statuses: ClassVar[Mapping[str, int]] = {"not_found": 404}


# --- carriers ------------------------------------------------------------------------------------------------


def check_code(value: str) -> str:
    """A new carrier's code as typed, or CarrierError saying what is wrong with it."""
    code = value.strip()
    if not code:
        raise CarrierError("code_required")
    if not CARRIER_CODE.fullmatch(code):
        raise CarrierError("bad_code", value=excerpt(code))
    return code


def check_name(value: str) -> str:
    """A carrier name as it is kept: without bidi controls, within its length."""
    name = without_bidi_controls(value).strip()
    if not name:
        raise CarrierError("name_required")
    if len(name) > NAME_LIMIT:
        raise CarrierError("name_too_long", limit=NAME_LIMIT)
    return name


def _flag(value: Any, field: str) -> bool:
    """A yes/no from an API body (true/false), a form (a ticked box sends ``on``) or a sheet (already typed)."""
    if isinstance(value, bool):
        return value
    text = value.strip().lower() if isinstance(value, str) else None
    if text in ("on", "true", "1", "yes", "是"):
        return True
    if text in ("", "off", "false", "0", "no", "否"):
        return False
    raise CarrierError("not_flag", field=field)


def _plain(values: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a form, body or sheet row: text, or a yes/no for the flags; unknown fields refused."""
    plain: dict[str, Any] = {}
    for name, value in values.items():
        if name not in CARRIER_FIELDS:
            raise CarrierError("unknown_field", field=excerpt(name))
        if name in ("supports_cold_chain", "is_active"):
            plain[name] = _flag(value, name)
        elif isinstance(value, str):
            plain[name] = value.strip()
        else:
            raise CarrierError("not_text", field=name)
    return plain


def _apply_api_settings(carrier: Carrier, secret_key: str, plain: Mapping[str, Any]) -> None:
    """The API settings ``plain`` names, checked; a blank secret keeps the stored one (it is never shown back)."""
    for name, limit in API_SETTING_LIMITS.items():
        if len(plain.get(name, "")) > limit:
            raise CarrierError("too_long", field=name, limit=limit)
    url = plain.get("api_base_url", carrier.api_base_url)
    if url and not url.startswith(("http://", "https://")):
        raise CarrierError("bad_url")
    carrier.api_base_url = url
    carrier.customer_code = plain.get("customer_code", carrier.customer_code)
    carrier.api_key = plain.get("api_key", carrier.api_key)
    if plain.get("api_secret"):
        carrier.api_secret_cipher = encrypt(secret_key, plain["api_secret"]) or ""


def api_secret_of(carrier: Carrier, secret_key: str) -> str:
    """The carrier API's secret in clear ('' when none is set, or SECRET_KEY no longer opens it)."""
    return decrypt(secret_key, carrier.api_secret_cipher) or ""


def snapshot(carrier: Carrier) -> dict[str, Any]:
    """A carrier as the audit log and the API keep it: everything but its secret, of which only whether it is set."""
    return {
        "code": carrier.code,
        "name": carrier.name,
        "supports_cold_chain": carrier.supports_cold_chain,
        "is_active": carrier.is_active,
        "api_base_url": carrier.api_base_url,
        "customer_code": carrier.customer_code,
        "api_key": carrier.api_key,
        "api_secret_set": bool(carrier.api_secret_cipher),
    }


def carrier_read(carrier: Carrier) -> dict[str, Any]:
    """A carrier as the API gives it."""
    return {"id": carrier.id, **snapshot(carrier)}


async def list_carriers(session: AsyncSession) -> list[Carrier]:
    """Every carrier, by code."""
    return list((await session.exec(select(Carrier).order_by(col(Carrier.code)))).all())


async def carrier_named(session: AsyncSession, code: str) -> Carrier:
    """The carrier with this code, or CarrierError (404)."""
    carrier = (await session.exec(select(Carrier).where(Carrier.code == code))).first()
    if carrier is None:
        raise CarrierError("not_found", value=excerpt(code))
    return carrier


async def _code_taken(session: AsyncSession, code: str) -> bool:
    query = select(Carrier.id).where(func.lower(col(Carrier.code)) == code.lower())
    return (await session.exec(query)).first() is not None


async def create_carrier(
    session: AsyncSession, secret_key: str, values: Mapping[str, Any], actor: Actor, ip: str | None = None
) -> Carrier:
    """Add a carrier, audited; a CarrierError adds nothing. It has no rate lines yet: routing quotes it once it
    has some (a flow that names it fixes it with no fee until then)."""
    plain = _plain(values)
    code = check_code(plain.get("code", ""))
    carrier = Carrier(
        code=code,
        name=check_name(plain.get("name", "")),
        supports_cold_chain=plain.get("supports_cold_chain", False),
        is_active=plain.get("is_active", True),
    )
    _apply_api_settings(carrier, secret_key, plain)
    if await _code_taken(session, code):
        raise CarrierError("duplicate_code", value=code)
    try:
        async with session.begin_nested():
            session.add(carrier)
            await session.flush()
    except IntegrityError as exc:  # another admin took the code a moment ago
        raise CarrierError("duplicate_code", value=code) from exc
    await audit(
        session, actor, "carrier.created", target_type="carrier", target_id=code, after=snapshot(carrier), ip=ip
    )
    return carrier


async def update_carrier(
    session: AsyncSession,
    secret_key: str,
    carrier: Carrier,
    values: Mapping[str, Any],
    actor: Actor,
    ip: str | None = None,
) -> Outcome:
    """Change what ``values`` names of a carrier (name, cold chain, on/off, API settings), audited with the carrier
    before and after; fields left out keep their values, a blank secret keeps the stored one."""
    plain = _plain(values)
    if "code" in plain and plain["code"] != carrier.code:
        raise CarrierError("fixed", field="code")
    before = snapshot(carrier)
    secret_before = carrier.api_secret_cipher
    if "name" in plain:
        carrier.name = check_name(plain["name"])
    for name in ("supports_cold_chain", "is_active"):
        if name in plain:
            setattr(carrier, name, plain[name])
    _apply_api_settings(carrier, secret_key, plain)
    after = snapshot(carrier)
    if after == before and carrier.api_secret_cipher == secret_before:
        return Outcome.unchanged
    session.add(carrier)
    await session.flush()
    changed = sorted(k for k in after if after[k] != before[k])
    action = {"is_active": "carrier.enabled" if carrier.is_active else "carrier.disabled"}.get(
        ",".join(changed), "carrier.updated"
    )
    await audit(
        session, actor, action, target_type="carrier", target_id=carrier.code, before=before, after=after, ip=ip
    )
    return Outcome.updated


async def save_carrier_row(session: AsyncSession, secret_key: str, values: Mapping[str, Any], actor: Actor) -> Outcome:
    """One row of the carriers sheet: a new code adds the carrier, a known one changes it."""
    code = str(values.get("code", "")).strip()
    found = (await session.exec(select(Carrier).where(Carrier.code == code))).first() if code else None
    if found is None:
        await create_carrier(session, secret_key, values, actor)
        return Outcome.created
    return await update_carrier(session, secret_key, found, values, actor)


# --- rate lines ---------------------------------------------------------------------------------------------

#: The temperature zones as people type them.
ZONE_NAMES = {"常温": "ambient", "冷藏": "chilled", "冷冻": "frozen", "全部": ANY, "任意": ANY, "": ANY}


def check_lane(values: Mapping[str, Any]) -> dict[str, str]:
    """The origin, destination and zone of a rate line as kept: short province names, a region, a zone code,
    ``*`` for any (blank too)."""
    origin = str(values.get("origin_province") or ANY).strip() or ANY
    dest = str(values.get("dest_province") or ANY).strip() or ANY
    zone_typed = str(values.get("temperature_zone") or ANY).strip()
    if origin != ANY:
        short = short_province(origin)
        if short is None:
            raise RateFormError("bad_origin", value=excerpt(origin, 30))
        origin = short
    if dest != ANY and dest not in REGIONS:
        short = short_province(dest)
        if short is None:
            raise RateFormError("bad_dest", value=excerpt(dest, 30))
        dest = short
    zone = ZONE_NAMES.get(zone_typed, zone_typed.lower())
    if zone not in TEMPERATURE_ZONES:
        raise RateFormError("bad_zone", value=excerpt(zone_typed, 30))
    return {"origin_province": origin, "dest_province": dest, "temperature_zone": zone}


def rate_from_values(values: Mapping[str, Any]) -> CarrierRate:
    """A rate line from typed values (fees in fen, weights in grams, days), every number within its bounds."""
    lane = check_lane(values)
    low = int(values.get("min_weight_g", 0))
    high = int(values.get("max_weight_g", MAX_PARCEL_WEIGHT_G))
    first, extra = int(values.get("first_fee_fen", 0)), int(values.get("extra_fee_fen_per_kg", 0))
    days = int(values.get("promised_days", 3))
    for name, value, limit in (
        ("first_fee_fen", first, MAX_RATE_FEE_FEN),
        ("extra_fee_fen_per_kg", extra, MAX_RATE_FEE_FEN),
        ("promised_days", days, MAX_PROMISED_DAYS),
        ("min_weight_g", low, MAX_PARCEL_WEIGHT_G),
    ):
        if not 0 <= value <= limit:
            raise RateFormError(
                "out_of_bounds",
                field=name,
                yuan=f"{MAX_RATE_FEE_FEN // 100:,}",
                days=MAX_PROMISED_DAYS,
                grams=f"{MAX_PARCEL_WEIGHT_G:,}",
            )
    if not low < high <= MAX_PARCEL_WEIGHT_G:
        raise RateFormError("bad_band", grams=f"{MAX_PARCEL_WEIGHT_G:,}")
    return CarrierRate(
        carrier_code=str(values.get("carrier_code", "")).strip(),
        min_weight_g=low,
        max_weight_g=high,
        first_fee_fen=first,
        extra_fee_fen_per_kg=extra,
        promised_days=days,
        origin_province=lane["origin_province"],
        dest_province=lane["dest_province"],
        temperature_zone=lane["temperature_zone"],
    )


def rate_from_form(data: dict[str, Any]) -> CarrierRate:
    """A rate line from the admin's form: fees typed in yuan, stored in fen; every number within its bounds."""
    first = parse_fen(one(data, "first_fee_yuan"), maximum=10**14)
    extra = parse_fen(one(data, "extra_fee_yuan") or "0", maximum=10**14)
    days = parse_int(one(data, "promised_days"))
    low = parse_int(one(data, "min_weight_g") or "0")
    high = parse_int(one(data, "max_weight_g") or str(MAX_PARCEL_WEIGHT_G))
    carrier = one(data, "carrier_code")
    if not carrier or first is None or extra is None or days is None or low is None or high is None:
        raise RateFormError("incomplete")
    lane = {name: one(data, name)[:40] for name in ("origin_province", "dest_province", "temperature_zone")}
    return rate_from_values(
        {
            "carrier_code": carrier[:40],
            "first_fee_fen": first,
            "extra_fee_fen_per_kg": extra,
            "promised_days": days,
            "min_weight_g": low,
            "max_weight_g": high,
            **lane,
        }
    )


def rate_snapshot(rate: CarrierRate) -> dict[str, Any]:
    """A rate line as the audit log and the API keep it."""
    return rate.model_dump(exclude={"id"})


def rate_read(rate: CarrierRate) -> dict[str, Any]:
    """A rate line as the API gives it (fees in fen, weights in grams)."""
    return {"id": rate.id, **rate_snapshot(rate)}


async def _check_carrier(session: AsyncSession, code: str) -> None:
    if not code or (await session.exec(select(Carrier.id).where(Carrier.code == code))).first() is None:
        raise RateFormError("unknown_carrier", value=excerpt(code or "—", 30))


async def add_rate(session: AsyncSession, data: dict[str, Any], actor: Actor) -> CarrierRate:
    """Add a line to the rate table from the admin's form, audited; a RateFormError changes nothing."""
    rate = rate_from_form(data)
    await _check_carrier(session, rate.carrier_code)
    session.add(rate)
    await session.flush()
    await audit(
        session, actor, "carrier_rate.create", target_type="carrier_rate", target_id=rate.id, after=rate_snapshot(rate)
    )
    return rate


LANE = ("carrier_code", "origin_province", "dest_province", "temperature_zone", "min_weight_g", "max_weight_g")


async def save_rate_row(session: AsyncSession, values: Mapping[str, Any], actor: Actor) -> Outcome:
    """One row of the rates sheet: the line for its carrier, lane, zone and weight band, added or its prices and
    promise changed (a file exported and imported again changes nothing)."""
    wanted = rate_from_values(values)
    await _check_carrier(session, wanted.carrier_code)
    query = select(CarrierRate).where(*(getattr(CarrierRate, name) == getattr(wanted, name) for name in LANE))
    found = (await session.exec(query.order_by(col(CarrierRate.id)))).first()
    if found is None:
        session.add(wanted)
        await session.flush()
        await audit(
            session,
            actor,
            "carrier_rate.create",
            target_type="carrier_rate",
            target_id=wanted.id,
            after=rate_snapshot(wanted),
        )
        return Outcome.created
    before = rate_snapshot(found)
    for name in ("first_fee_fen", "extra_fee_fen_per_kg", "promised_days"):
        setattr(found, name, getattr(wanted, name))
    if rate_snapshot(found) == before:
        return Outcome.unchanged
    session.add(found)
    await session.flush()
    await audit(
        session,
        actor,
        "carrier_rate.update",
        target_type="carrier_rate",
        target_id=found.id,
        before=before,
        after=rate_snapshot(found),
    )
    return Outcome.updated


async def delete_rate(session: AsyncSession, rate_id: int, actor: Actor, ip: str | None = None) -> None:
    """Take a line out of the rate table, audited."""
    rate = await session.get(CarrierRate, rate_id)
    if rate is None:
        raise RateFormError("not_found")
    before = rate_snapshot(rate)
    await session.delete(rate)
    await session.flush()
    await audit(
        session, actor, "carrier_rate.delete", target_type="carrier_rate", target_id=rate_id, before=before, ip=ip
    )


async def list_rates(session: AsyncSession, carrier_code: str | None = None) -> list[CarrierRate]:
    """The rate lines (of one carrier), by carrier, then as they were added."""
    query = select(CarrierRate).order_by(col(CarrierRate.carrier_code), col(CarrierRate.id))
    if carrier_code is not None:
        query = query.where(CarrierRate.carrier_code == carrier_code)
    return list((await session.exec(query)).all())


# --- sheets -------------------------------------------------------------------------------------------------

ZONE_CHOICE = Choice(
    {ANY: ("全部", "任意", "any"), "ambient": ("常温",), "chilled": ("冷藏",), "frozen": ("冷冻",)}, default=ANY
)


async def rate_rows(session: AsyncSession) -> list[dict[str, Any]]:
    return [rate_snapshot(rate) for rate in await list_rates(session)]


#: 快递价格表 as a sheet: one row a line; a row names its carrier, so one file holds every carrier's table. A row
#: for a lane, zone and weight band already there changes its prices; the export reads back unchanged.
RATE_SHEET = Sheet(
    name="carrier-rates",
    columns=(
        Column("carrier_code", "快递编码", Text(32, required=True), "ZTO", required=True, aliases=("carrier",)),
        Column("origin_province", "始发省份", Text(32), "*", aliases=("from",)),
        Column("dest_province", "目的省份或大区", Text(32), "华东", aliases=("目的省份", "目的地", "to")),
        Column("temperature_zone", "温层", ZONE_CHOICE, "全部"),
        Column("min_weight_g", "起始重量(克)", Whole(0, MAX_PARCEL_WEIGHT_G, default=0), "0"),
        Column(
            "max_weight_g",
            "截止重量(克)",
            Whole(1, MAX_PARCEL_WEIGHT_G, default=MAX_PARCEL_WEIGHT_G),
            str(MAX_PARCEL_WEIGHT_G),
        ),
        Column("first_fee_fen", "首重价格(元)", Yuan(MAX_RATE_FEE_FEN), "5.00", required=True, aliases=("首重(元)",)),
        Column("extra_fee_fen_per_kg", "续重每公斤(元)", Yuan(MAX_RATE_FEE_FEN), "1.00", aliases=("续重(元)",)),
        Column("promised_days", "承诺时效(天)", Whole(0, MAX_PROMISED_DAYS, default=3), "3"),
    ),
    key=LANE,
    save=save_rate_row,
    rows=rate_rows,
    audit_action="carrier_rates.imported",
)


YES_NO = Choice({"yes": ("是", "true", "1"), "no": ("否", "false", "0")}, default="no")


def carrier_sheet(secret_key: str) -> Sheet:
    """快递公司 as a sheet: one row a carrier, a new code added, a known one changed. The secret is never written
    out; a blank secret cell keeps the stored one."""

    async def save(session: AsyncSession, values: dict[str, Any], actor: Actor) -> Outcome:
        return await save_carrier_row(session, secret_key, values, actor)

    async def rows(session: AsyncSession) -> list[dict[str, Any]]:
        return [
            {**snapshot(c), "supports_cold_chain": "yes" if c.supports_cold_chain else "no", "api_secret": ""}
            for c in await list_carriers(session)
        ]

    return Sheet(
        name="carriers",
        columns=(
            Column("code", "快递编码", Text(32, required=True), "DBKD", required=True),
            Column("name", "快递名称", Text(NAME_LIMIT), "德邦快递"),
            Column("supports_cold_chain", "冷链", YES_NO, "否"),
            Column("api_base_url", "API 地址", Text(300), ""),
            Column("customer_code", "客户编码", Text(64), ""),
            Column("api_key", "App key", Text(128), ""),
            Column("api_secret", "App secret", Text(256), ""),
            Column("is_active", "状态", FLAG, "启用"),
        ),
        key=("code",),
        save=save,
        rows=rows,
        audit_action="carriers.imported",
    )

"""Inventory services: the central stock pool.

Every change to the ``stock`` table goes through this module and writes one row per warehouse and SKU to the
append-only ``stock_ledger`` in the same transaction, so the stock table is always the ledger's sum.

Reservation never oversells: each order line takes stock with one guarded ``UPDATE … WHERE on_hand −
reserved − safety_stock >= qty`` (the database's CHECK ``reserved <= on_hand`` is the last guard). Rows are
always taken in one fixed (SKU, warehouse) order, so two orders touching the same SKUs cannot deadlock on
PostgreSQL; on SQLite the write transaction already holds the database lock from its first statement.

What each shop may publish (channel stock) is not recomputed inside the changing transaction, where it would
hold the hot SKU's row lock for a dozen more statements: every change appends a mark for its SKUs, and the
channel-stock job (``app/domain/inventory/jobs.py``) recomputes each marked SKU once, within seconds.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Final

from sqlalchemy import and_, case, delete, func, or_, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app import events, outbox
from app.db import deferred_of, insert_new, insert_rows, iso_utc, utcnow
from app.domain.accounts.services import Actor, audit
from app.domain.inventory import sku_mappings
from app.domain.inventory.models import (
    BundleComponent,
    ChannelStock,
    ChannelStockMark,
    ChannelStockRule,
    LowStockState,
    MoveKind,
    Reservation,
    ReservationStatus,
    Sku,
    Stock,
    StockCount,
    StockMove,
    Warehouse,
    WarehouseKind,
)
from app.domain.inventory.pool import StockPool
from app.domain.shops import services as shop_readers
from app.domain.shops.models import STOCK_PUSH_CHANNELS, Shop
from app.errors import DomainError, excerpt
from app.i18n import N_, gettext
from app.params import ParameterError, is_row_id, parse_id
from app.sheets import Outcome
from ruleflows import REGIONS, short_province

#: The most units of one SKU an entry (a receipt, transfer, count line or setting) may name, and the most one
#: warehouse may hold: far above real stock (a typo, not a delivery), far below the integer columns' 2³¹.
MAX_UNITS = 10_000_000
#: The most a warehouse's handling cost per order or per item may be, in fen (¥10,000).
MAX_HANDLING_FEN = 1_000_000
#: Priorities are small ranks (lower first); anything past this is a typo.
MAX_PRIORITY = 1_000_000


class InventoryError(DomainError):
    """A refused stock operation; ``code`` (and a variant where one code has several texts) picks the
    message, ``field`` names the bad input."""

    messages: ClassVar[Mapping[str, str]] = {
        "unknown_sku": N_("Unknown SKU %(sku)s"),
        "unknown_warehouse": N_("Unknown warehouse %(warehouse)s"),
        "unknown_shop": N_("Unknown shop %(shop)s"),
        "bad_qty.negative": N_("The quantity cannot be negative"),
        "bad_qty.not_positive": N_("The quantity must be greater than 0"),
        "bad_qty.too_large": N_("The quantity cannot exceed %(max)s"),
        "bad_qty.safety_negative": N_("Safety stock cannot be negative"),
        "bad_qty.line_not_positive": N_("The quantity of order line %(line)s must be greater than 0"),
        "bad_qty.return_not_positive": N_("The returned quantity must be greater than 0"),
        "bad_qty.count_negative": N_("The counted quantity of %(sku)s cannot be negative"),
        "bad_qty.count_too_large": N_("The counted quantity of %(sku)s cannot exceed %(max)s"),
        "bad_qty.threshold_negative": N_("The low-stock threshold cannot be negative"),
        "too_much": N_("The stock of %(sku)s in %(warehouse)s would exceed the limit of %(max)s"),
        "duplicate_line": N_("Order line numbers repeat"),
        "no_warehouse": N_("Order line %(line)s has no warehouse"),
        "not_shipped": N_("Order line %(line)s has no stock that was shipped"),
        "too_many": N_("The returned quantity exceeds the shipped quantity (%(sku)s)"),
        "same_warehouse": N_("The source and the destination warehouse cannot be the same"),
        "out_of_stock": N_("%(warehouse)s has fewer than %(qty)s of %(sku)s available"),
        "empty_count": N_("A stock count needs at least one SKU"),
        "below_reserved": N_(
            "The count of %(sku)s (%(qty)s) is below what is reserved (%(reserved)s): release or reroute orders first"
        ),
        "bad_ratio": N_("The sync ratio must be between 0 and 100%%"),
        "bad_buffer": N_("The buffer cannot be negative"),
        "bad_code": N_("The warehouse code is required, at most 32 characters"),
        "bad_name": N_("The warehouse name is required"),
        "bad_kind": N_("The warehouse type is not valid"),
        "bad_province": N_("The province is required"),
        "bad_code.charset": N_(
            "The warehouse code %(value)s may hold only letters, digits, - and _, start with a letter or digit and "
            "have at most 32 characters"
        ),
        "duplicate_warehouse": N_("A warehouse with the code %(value)s already exists"),
        "bad_province.unknown": N_("%(value)s is not a province"),
        "bad_regions": N_("%(value)s is not a region (华东, 华北, 华南, 华中, 西南, 西北 or 东北)"),
        "bad_name.too_long": N_("The warehouse name may have at most %(max)s characters"),
        "bad_city": N_("The city may have at most %(max)s characters"),
        "bad_field": N_("There is no field %(name)s"),
        "bad_field.not_text": N_("%(name)s must be text"),
        "bad_field.not_flag": N_("%(name)s must be true or false"),
        "bad_field.fixed": N_("%(name)s cannot be changed once the warehouse exists"),
        "bad_number.negative": N_("Priority and fees cannot be negative"),
        "bad_number.priority_too_large": N_("The priority cannot exceed %(max)s"),
        "bad_number.fee_too_large": N_("The handling fee cannot exceed %(max)s yuan"),
        "bad_number.not_whole": N_("%(name)s must be a whole number"),
        "bad_line": N_("Line %(line)s should read “SKU quantity”"),
        "not_pushed.no_api": N_("%(shop)s has no platform stock API: its stock is not pushed"),
        "not_pushed.disabled": N_("%(shop)s is disabled: its stock is not pushed"),
        "not_pushed.unmapped": N_("%(shop)s does not map this SKU (未映射): map it before pushing its stock"),
    }


# --- reads: warehouses, SKUs, bundles ------------------------------------------------------------


async def list_warehouses(session: AsyncSession, *, active_only: bool = False) -> list[Warehouse]:
    """Warehouses by priority (lower first), then code."""
    query = select(Warehouse).order_by(col(Warehouse.priority), col(Warehouse.code))
    if active_only:
        query = query.where(col(Warehouse.is_active).is_(True))
    return list((await session.exec(query)).all())


async def skus_by_code(session: AsyncSession, codes: Iterable[str]) -> dict[str, Sku]:
    """The SKU master rows of these codes, by code (unknown codes are left out)."""
    wanted = set(codes)
    if not wanted:
        return {}
    return {sku.code: sku for sku in (await session.exec(select(Sku).where(col(Sku.code).in_(wanted)))).all()}


async def list_skus(session: AsyncSession, *, category: str | None = None) -> list[Sku]:
    """SKUs by code, optionally of one category."""
    query = select(Sku).order_by(col(Sku.code))
    if category:
        query = query.where(Sku.category == category)
    return list((await session.exec(query)).all())


async def get_sku(session: AsyncSession, code: str) -> Sku | None:
    return (await session.exec(select(Sku).where(Sku.code == code))).first()


async def get_warehouse(session: AsyncSession, code: str) -> Warehouse | None:
    return (await session.exec(select(Warehouse).where(Warehouse.code == code))).first()


async def bundle_components(session: AsyncSession, bundle_codes: Iterable[str]) -> dict[str, list[tuple[str, int]]]:
    """For each bundle among ``bundle_codes``: its (component SKU, units per bundle), by component code."""
    codes = set(bundle_codes)
    if not codes:
        return {}
    rows = (
        await session.exec(
            select(BundleComponent)
            .where(col(BundleComponent.bundle_code).in_(codes))
            .order_by(col(BundleComponent.component_code))
        )
    ).all()
    parts: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for row in rows:
        parts[row.bundle_code].append((row.component_code, row.qty))
    return dict(parts)


# --- the ledger ----------------------------------------------------------------------------------


def _move(
    kind: MoveKind,
    warehouse_code: str,
    sku_code: str,
    actor: Actor,
    *,
    on_hand: int = 0,
    reserved: int = 0,
    defective: int = 0,
    order_key: str | None = None,
    line_key: str | None = None,
    ref: str | None = None,
    note: str = "",
) -> StockMove:
    return StockMove(
        at=utcnow(),
        kind=kind,
        warehouse_code=warehouse_code,
        sku_code=sku_code,
        on_hand_delta=on_hand,
        reserved_delta=reserved,
        defective_delta=defective,
        order_key=order_key,
        line_key=line_key,
        ref=ref,
        actor_type=actor.kind,
        actor_name=actor.name,
        note=note[:500],
    )


async def ledger(
    session: AsyncSession,
    *,
    sku_code: str | None = None,
    order_key: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[StockMove]:
    """Ledger rows newest first (keyset-paginated by id), for one SKU and/or one order."""
    query = select(StockMove).order_by(col(StockMove.id).desc()).limit(limit)
    if sku_code:
        query = query.where(StockMove.sku_code == sku_code)
    if order_key:
        query = query.where(StockMove.order_key == order_key)
    if before_id is not None:
        query = query.where(col(StockMove.id) < before_id)
    return list((await session.exec(query)).all())


@dataclass(frozen=True)
class LedgerMismatch:
    warehouse_code: str
    sku_code: str
    on_hand: int
    ledger_on_hand: int
    reserved: int
    ledger_reserved: int


async def ledger_mismatches(session: AsyncSession) -> list[LedgerMismatch]:
    """Stock rows whose on hand or reserved differ from the sum of their ledger rows (should be none)."""
    sums = (
        await session.exec(
            select(
                StockMove.warehouse_code,
                StockMove.sku_code,
                func.sum(StockMove.on_hand_delta),
                func.sum(StockMove.reserved_delta),
            ).group_by(col(StockMove.warehouse_code), col(StockMove.sku_code))
        )
    ).all()
    by_key = {(w, s): (int(o or 0), int(r or 0)) for w, s, o, r in sums}
    problems = []
    for stock in (await session.exec(select(Stock))).all():
        on_hand, reserved = by_key.pop((stock.warehouse_code, stock.sku_code), (0, 0))
        if (on_hand, reserved) != (stock.on_hand, stock.reserved):
            problems.append(
                LedgerMismatch(stock.warehouse_code, stock.sku_code, stock.on_hand, on_hand, stock.reserved, reserved)
            )
    for (warehouse, sku), (on_hand, reserved) in by_key.items():
        if on_hand or reserved:
            problems.append(LedgerMismatch(warehouse, sku, 0, on_hand, 0, reserved))
    return problems


# --- stock rows ----------------------------------------------------------------------------------


async def _ensure_stock_rows(session: AsyncSession, pairs: Iterable[tuple[str, str]]) -> None:
    """Create missing (warehouse, SKU) stock rows at zero; concurrent creators do not collide."""
    wanted = sorted(set(pairs))
    if not wanted:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    now = utcnow()
    statement = (
        insert(Stock)
        .values(
            [
                {"warehouse_code": w, "sku_code": s, "on_hand": 0, "reserved": 0, "safety_stock": 0, "updated_at": now}
                for w, s in wanted
            ]
        )
        .on_conflict_do_nothing(index_elements=["warehouse_code", "sku_code"])
    )
    await session.exec(statement)


async def _check_known(session: AsyncSession, *, warehouses: Iterable[str] = (), skus: Iterable[str] = ()) -> None:
    wanted_w, wanted_s = set(warehouses), set(skus)
    if wanted_w:
        found = set((await session.exec(select(Warehouse.code).where(col(Warehouse.code).in_(wanted_w)))).all())
        for code in sorted(wanted_w - found):
            raise InventoryError("unknown_warehouse", field="warehouse", warehouse=code)
    if wanted_s:
        found = set((await session.exec(select(Sku.code).where(col(Sku.code).in_(wanted_s)))).all())
        for code in sorted(wanted_s - found):
            raise InventoryError("unknown_sku", field="sku", sku=code)


async def _locked_stock(session: AsyncSession, warehouse_code: str, sku_code: str) -> Stock:
    """The stock row, locked for this transaction on PostgreSQL (created at zero if missing)."""
    await _ensure_stock_rows(session, [(warehouse_code, sku_code)])
    row = (
        await session.exec(
            select(Stock)
            .where(Stock.warehouse_code == warehouse_code, Stock.sku_code == sku_code)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one()
    return row


async def _apply(session: AsyncSession, move: StockMove) -> None:
    """Add a ledger row and the same deltas to the stock row (the caller has checked they are allowed)."""
    await session.exec(
        update(Stock)
        .where(col(Stock.warehouse_code) == move.warehouse_code, col(Stock.sku_code) == move.sku_code)
        .values(
            on_hand=Stock.on_hand + move.on_hand_delta,
            reserved=Stock.reserved + move.reserved_delta,
            defective=Stock.defective + move.defective_delta,
            updated_at=move.at,
        )
    )
    session.add(move)


def _check_units(qty: int, field: str, *, allow_zero: bool = False) -> None:
    """A quantity typed into a stock form: positive (or zero where that means "none"), at most MAX_UNITS."""
    if qty < 0 or (qty == 0 and not allow_zero):
        raise InventoryError("bad_qty", "negative" if allow_zero else "not_positive", field=field)
    if qty > MAX_UNITS:
        raise InventoryError("bad_qty", "too_large", field=field, max=f"{MAX_UNITS:,}")


def _check_room(stock: Stock, qty: int) -> None:
    if stock.on_hand + qty > MAX_UNITS:
        raise InventoryError(
            "too_much", field="qty", warehouse=stock.warehouse_code, sku=stock.sku_code, max=f"{MAX_UNITS:,}"
        )


async def receive(
    session: AsyncSession,
    warehouse_code: str,
    sku_code: str,
    qty: int,
    actor: Actor,
    *,
    ref: str | None = None,
    note: str = "",
) -> StockMove:
    """Goods in (入库): on hand grows by ``qty``."""
    _check_units(qty, "qty")
    await _check_known(session, warehouses=[warehouse_code], skus=[sku_code])
    _check_room(await _locked_stock(session, warehouse_code, sku_code), qty)
    move = _move(MoveKind.receipt, warehouse_code, sku_code, actor, on_hand=qty, ref=ref, note=note)
    await _apply(session, move)
    await session.flush()
    await mark_channel_stock(session, [sku_code])
    return move


async def set_safety_stock(
    session: AsyncSession, warehouse_code: str, sku_code: str, qty: int, actor: Actor, *, ip: str | None = None
) -> Stock:
    """Safety stock (安全库存) is held back from sale in this warehouse; it is a setting, not a ledger move."""
    if qty < 0:
        raise InventoryError("bad_qty", "safety_negative", field="safety_stock")
    _check_units(qty, "safety_stock", allow_zero=True)
    await _check_known(session, warehouses=[warehouse_code], skus=[sku_code])
    stock = await _locked_stock(session, warehouse_code, sku_code)
    before = stock.safety_stock
    stock.safety_stock = qty
    stock.updated_at = utcnow()
    session.add(stock)
    await session.flush()
    await audit(
        session,
        actor,
        "inventory.safety_stock",
        target_type="stock",
        target_id=f"{warehouse_code}/{sku_code}",
        before={"safety_stock": before},
        after={"safety_stock": qty},
        ip=ip,
    )
    await mark_channel_stock(session, [sku_code])
    return stock


# --- reservation ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReservationLine:
    """One order line to reserve: a key unique within the order, the SKU sold (maybe a bundle), the quantity."""

    line_key: str
    sku_code: str
    qty: int


class LineOutcome(StrEnum):
    reserved = "reserved"  # taken now
    already_reserved = "already_reserved"  # taken by an earlier run for this order line (idempotent)
    out_of_stock = "out_of_stock"  # 缺货: this line does not fit in its warehouse
    not_attempted = "not_attempted"  # fits, but another line of the same all-or-nothing order did not


REFUSAL_REASONS = {LineOutcome.out_of_stock: "缺货", LineOutcome.not_attempted: "同单其他商品缺货"}


@dataclass(frozen=True)
class LineResult:
    line_key: str
    sku_code: str
    qty: int
    warehouse_code: str
    outcome: LineOutcome
    #: For a refused line: the components (or the SKU itself) that were short.
    short: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.outcome in (LineOutcome.reserved, LineOutcome.already_reserved)

    @property
    def reason(self) -> str:
        return REFUSAL_REASONS.get(self.outcome, "")


@dataclass
class ReservationResult:
    order_key: str
    lines: list[LineResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every line holds its stock."""
        return all(line.ok for line in self.lines)

    @property
    def reserved_now(self) -> int:
        return sum(1 for line in self.lines if line.outcome == LineOutcome.reserved)


@dataclass
class _Take:
    """One guarded UPDATE: ``units`` of ``sku`` in ``warehouse`` for one order line."""

    line: ReservationLine
    warehouse: str
    sku: str
    units: int
    taken: bool = False
    short: bool = False


def _guarded_reserve(warehouse: str, sku: str, units: int) -> Any:
    return (
        update(Stock)
        .where(
            col(Stock.warehouse_code) == warehouse,
            col(Stock.sku_code) == sku,
            col(Stock.on_hand) - col(Stock.reserved) - col(Stock.safety_stock) >= units,
        )
        .values(reserved=Stock.reserved + units, updated_at=utcnow())
    )


async def _write_reservations(
    session: AsyncSession, order_key: str, takes: Sequence[_Take], existing: Sequence[Reservation], actor: Actor
) -> None:
    """The reservation rows, ledger rows and channel-stock marks for ``takes``, one INSERT per table (as
    parameter lists, so each statement is compiled once per process rather than once per call)."""
    # A line released earlier (a cancelled order reopened) keeps one row per SKU: the old released row goes
    # before the new one is written, so the unique key (order, line, SKU) holds. The ledger keeps both.
    retaken = {(t.line.line_key, t.sku) for t in takes}
    stale = [r for r in existing if r.status == ReservationStatus.released and (r.line_key, r.sku_code) in retaken]
    if stale:
        await session.exec(delete(Reservation).where(col(Reservation.id).in_([r.id for r in stale])))
        for row in stale:  # SQLite may hand a deleted id to the new row: the session must not keep the old one
            if row in session:
                session.expunge(row)
    now = utcnow()
    rows = [
        {
            "order_key": order_key,
            "line_key": t.line.line_key,
            "sku_code": t.sku,
            "line_sku_code": t.line.sku_code,
            "warehouse_code": t.warehouse,
            "qty": t.units,
            "line_qty": t.line.qty,
            "status": ReservationStatus.reserved,
            "returned_qty": 0,
            "created_at": now,
            "updated_at": now,
        }
        for t in takes
    ]
    await insert_rows(session, Reservation, rows)
    moves = [
        _move(
            MoveKind.reservation,
            t.warehouse,
            t.sku,
            actor,
            reserved=t.units,
            order_key=order_key,
            line_key=t.line.line_key,
        ).model_dump(exclude={"id"})
        for t in takes
    ]
    await insert_rows(session, StockMove, moves)
    await mark_channel_stock(session, {t.sku for t in takes})


async def reserve(
    session: AsyncSession,
    order_key: str,
    lines: Sequence[ReservationLine],
    warehouse: str | Mapping[str, str],
    actor: Actor,
    *,
    all_or_nothing: bool = True,
    sync_channels: bool = True,
    routed_in: StockPool | None = None,
    under_lock: Collection[str] = (),
) -> ReservationResult:
    """Reserve an order's lines in one warehouse (``warehouse`` a code) or split (a map line_key → code).

    Idempotent per order line: a line already holding stock is reported ``already_reserved`` and not taken
    again. With ``all_or_nothing`` (the default) nothing is reserved unless every line fits; otherwise each
    line that fits is reserved and the rest are refused (缺货) for the caller to backorder or split.
    A bundle line reserves each of its components; it is reserved only if all of them fit.
    The SKUs taken are marked for the channel-stock job; ``sync_channels`` is accepted for callers written
    when the recompute ran here and no longer changes anything. ``routed_in`` is the stock pool the caller
    planned against: its warehouses and SKUs exist and its bundles' recipes are the ones to take, so they are
    not read again.

    ``under_lock``: the (component) SKUs whose stock rows the caller holds locked and read its plan from (a
    processing batch). When every take is among them and the session defers its writes, the takes cannot fall
    short: the rows are written with the batch's others and the stock is taken by one guarded UPDATE per SKU
    and warehouse for the whole batch, at its end.
    """
    if not lines:
        return ReservationResult(order_key)
    keys = [line.line_key for line in lines]
    if len(set(keys)) != len(keys):
        raise InventoryError("duplicate_line", field="lines")
    for line in lines:
        if line.qty <= 0:
            raise InventoryError("bad_qty", "line_not_positive", field="qty", line=line.line_key)
    plan = {line.line_key: warehouse if isinstance(warehouse, str) else warehouse.get(line.line_key) for line in lines}
    for key, code in plan.items():
        if not code:
            raise InventoryError("no_warehouse", field="warehouse", line=key)
    if routed_in is None:
        await _check_known(session, warehouses={c for c in plan.values() if c}, skus={line.sku_code for line in lines})

    # The caller's pending changes need not be written first: a reservation changed in this session is read
    # back as the session holds it.
    with session.no_autoflush:
        existing = (await session.exec(select(Reservation).where(Reservation.order_key == order_key))).all()
    held = {r.line_key for r in existing if r.status != ReservationStatus.released}
    todo = [line for line in lines if line.line_key not in held]
    if routed_in is None:
        parts = await bundle_components(session, {line.sku_code for line in todo})
    else:
        parts = {line.sku_code: routed_in.bundles[line.sku_code] for line in todo if line.sku_code in routed_in.bundles}
    takes: list[_Take] = []
    for line in todo:
        for sku, per_unit in parts.get(line.sku_code, [(line.sku_code, 1)]):
            takes.append(_Take(line, str(plan[line.line_key]), sku, line.qty * per_unit))
    # The fixed lock order: by SKU, then warehouse, whatever order the lines came in.
    takes.sort(key=lambda t: (t.sku, t.warehouse, t.line.line_key))

    later = deferred_of(session)
    if later is not None and takes and all(t.sku in under_lock for t in takes):
        await _write_reservations(session, order_key, takes, existing, actor)
        later.step(_take_locked_stock, [(t.warehouse, t.sku, t.units) for t in takes])
        for take in takes:
            take.taken = True
        short_lines: set[str] = set()
    else:
        short_lines = await _take_now(session, order_key, takes, existing, actor, all_or_nothing=all_or_nothing)

    outcome: list[LineResult] = []
    for line in lines:
        code = str(plan[line.line_key])
        if line.line_key in held:
            outcome.append(LineResult(line.line_key, line.sku_code, line.qty, code, LineOutcome.already_reserved))
        elif line.line_key in short_lines:
            short = tuple(sorted({t.sku for t in takes if t.line is line and t.short}))
            outcome.append(LineResult(line.line_key, line.sku_code, line.qty, code, LineOutcome.out_of_stock, short))
        elif short_lines and all_or_nothing:
            outcome.append(LineResult(line.line_key, line.sku_code, line.qty, code, LineOutcome.not_attempted))
        else:
            outcome.append(LineResult(line.line_key, line.sku_code, line.qty, code, LineOutcome.reserved))
    return ReservationResult(order_key, outcome)


async def _take_now(
    session: AsyncSession,
    order_key: str,
    takes: list[_Take],
    existing: Sequence[Reservation],
    actor: Actor,
    *,
    all_or_nothing: bool,
) -> set[str]:
    """Write the reservation rows and take the stock with a guarded UPDATE per take, in a savepoint that is
    rolled back when a take falls short. Returns the lines that fell short."""
    # The rows are written first and the guarded UPDATEs come last, so that a hot SKU's stock row is locked
    # only from its UPDATE to the caller's commit. A savepoint undoes the rows when a take falls short; the
    # statements inside it are Core ones, so the session holds no object the rollback would leave stale.
    await session.flush()
    connection = await session.connection()
    short_lines: set[str] = set()
    later = deferred_of(session)
    attempt = takes
    while attempt:
        written = later.mark() if later is not None else 0
        await connection.exec_driver_sql("SAVEPOINT inventory_reserve")
        await _write_reservations(session, order_key, attempt, existing, actor)
        for take in attempt:
            result = await session.exec(_guarded_reserve(take.warehouse, take.sku, take.units))
            take.taken = result.rowcount == 1
            take.short = not take.taken
        if not any(t.short for t in attempt):
            break
        # Rolling back also gives back the rows taken so far and their locks.
        await connection.exec_driver_sql("ROLLBACK TO SAVEPOINT inventory_reserve")
        if later is not None:
            later.undo(written)
        for take in attempt:
            take.taken = False
        short_lines |= {t.line.line_key for t in attempt if t.short}
        attempt = [] if all_or_nothing else [t for t in attempt if t.line.line_key not in short_lines]
    # A warehouse that never held the SKU gets its stock row at zero, as a receipt would create it.
    await _ensure_stock_rows(session, {(t.warehouse, t.sku) for t in takes if t.short})
    return short_lines


class StockMoved(RuntimeError):
    """Stock a batch read under lock was not there when it took it: the batch's view of stock was wrong."""


async def _take_locked_stock(session: AsyncSession, takes: list[list[tuple[str, str, int]]]) -> None:
    """A batch's reservations of locked stock: one guarded UPDATE per SKU and warehouse, in the lock order."""
    units: dict[tuple[str, str], int] = defaultdict(int)
    for order_takes in takes:
        for warehouse, sku, count in order_takes:
            units[(sku, warehouse)] += count
    for (sku, warehouse), count in sorted(units.items()):
        result = await session.exec(_guarded_reserve(warehouse, sku, count))
        if result.rowcount != 1:
            raise StockMoved(f"{warehouse}/{sku}: {count} units were not available")


async def reservations(session: AsyncSession, order_key: str, *, lock: bool = False) -> list[Reservation]:
    """What an order holds, line by line (locked on PostgreSQL when ``lock``)."""
    query = (
        select(Reservation)
        .where(Reservation.order_key == order_key)
        .order_by(col(Reservation.sku_code), col(Reservation.warehouse_code), col(Reservation.line_key))
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return list((await session.exec(query)).all())


async def release(
    session: AsyncSession,
    order_key: str,
    actor: Actor,
    *,
    line_keys: Iterable[str] | None = None,
    keeping: Iterable[str] = (),
    note: str = "",
) -> list[Reservation]:
    """Give back what an order (or some of its lines) holds, e.g. on cancel, but the lines it is ``keeping`` (an
    intercepted parcel's, until the warehouse pulls it). Lines already released or shipped are left alone, so
    releasing twice releases once. Returns the rows released now."""
    return await _settle(session, order_key, actor, ReservationStatus.released, line_keys, note, keeping=set(keeping))


async def ship(
    session: AsyncSession, order_key: str, actor: Actor, *, line_keys: Iterable[str] | None = None
) -> list[Reservation]:
    """Deduct on shipment (出库): what the lines hold leaves both reserved and on hand. Idempotent."""
    return await _settle(session, order_key, actor, ReservationStatus.shipped, line_keys, "")


async def _settle(
    session: AsyncSession,
    order_key: str,
    actor: Actor,
    outcome: ReservationStatus,
    line_keys: Iterable[str] | None,
    note: str,
    *,
    keeping: set[str] | None = None,
) -> list[Reservation]:
    """End the reservations an order (or some of its lines) still holds: released gives the units back to
    available stock; shipped takes them off hand as well. Rows already ended are left alone."""
    wanted = None if line_keys is None else set(line_keys)
    shipped = outcome == ReservationStatus.shipped
    done = []
    for row in await reservations(session, order_key, lock=True):
        if row.status != ReservationStatus.reserved or (wanted is not None and row.line_key not in wanted):
            continue
        if keeping and row.line_key in keeping:
            continue
        move = _move(
            MoveKind.shipment if shipped else MoveKind.release,
            row.warehouse_code,
            row.sku_code,
            actor,
            on_hand=-row.qty if shipped else 0,
            reserved=-row.qty,
            order_key=order_key,
            line_key=row.line_key,
            note=note,
        )
        await _apply(session, move)
        row.status = outcome
        row.updated_at = move.at
        session.add(row)
        done.append(row)
    await session.flush()
    if done:
        await mark_channel_stock(session, {r.sku_code for r in done})
    return done


async def restock_return(
    session: AsyncSession,
    order_key: str,
    line_key: str,
    qty: int,
    passed_qc: bool,
    actor: Actor,
    *,
    ref: str | None = None,
    warehouse_code: str | None = None,
    reason: str = "",
) -> list[StockMove]:
    """A return of ``qty`` units of a shipped line arrives, at the warehouse it shipped from or at
    ``warehouse_code`` (a store that took it back at its counter). If it passes quality check it is back on hand
    there, sellable at once; if not, it goes to that warehouse's defective stock (次品) with the ``reason``, never
    sold. A bundle line returns its components.

    ``ref`` (the return's id) makes a retry harmless: a reference already booked books nothing.
    """
    if qty <= 0:
        raise InventoryError("bad_qty", "return_not_positive", field="qty")
    rows = [
        r
        for r in await reservations(session, order_key, lock=True)
        if r.line_key == line_key and r.status == ReservationStatus.shipped
    ]
    if not rows:
        raise InventoryError("not_shipped", field="line_key", line=line_key)
    if warehouse_code is not None:
        await _check_known(session, warehouses=[warehouse_code])
    if ref is not None:
        seen = (
            await session.exec(
                select(StockMove).where(
                    StockMove.kind == MoveKind.returned, StockMove.ref == ref, StockMove.order_key == order_key
                )
            )
        ).first()
        if seen is not None:
            return []
    moves = []
    for row in sorted(rows, key=lambda r: r.sku_code):  # in SKU order, as reservation locks rows
        units = qty * row.qty // row.line_qty
        if row.returned_qty + units > row.qty:
            raise InventoryError("too_many", field="qty", sku=row.sku_code)
        into = warehouse_code or row.warehouse_code
        note = "质检合格，重新入库" if passed_qc else "质检不合格，入次品" + (f"：{reason}" if reason else "")
        move = _move(
            MoveKind.returned,
            into,
            row.sku_code,
            actor,
            on_hand=units if passed_qc else 0,
            defective=0 if passed_qc else units,
            order_key=order_key,
            line_key=line_key,
            ref=ref,
            note=note,
        )
        await _locked_stock(session, into, row.sku_code)
        await _apply(session, move)
        row.returned_qty += units
        row.updated_at = move.at
        session.add(row)
        moves.append(move)
    await session.flush()
    if passed_qc:
        await mark_channel_stock(session, {r.sku_code for r in rows})
    return moves


@dataclass(frozen=True)
class TillSale:
    """What a store till's sale took off the store warehouse: the ledger rows, and per SKU the units the
    book was short of (sold off the shelf but not on the book: the store's next count should find why)."""

    moves: list[StockMove]
    short: dict[str, int]


async def sell_at_till(
    session: AsyncSession, warehouse_code: str, order_key: str, lines: Sequence[ReservationLine], actor: Actor
) -> TillSale:
    """A completed POS sale (门店销售): each line's units (a bundle's components) leave the store's on hand at
    once, one ``pos_sale`` row each. The till sold what was on the shelf, so a sale is never refused: where
    the book has fewer units free than were sold, it takes what it has (on hand never falls below what
    online orders reserve there) and the difference is noted on the row and returned, for the store's count.
    A line already booked for this order books nothing, so a sale delivered twice deducts once."""
    booked = set(
        (
            await session.exec(
                select(StockMove.line_key).where(StockMove.kind == MoveKind.pos_sale, StockMove.order_key == order_key)
            )
        ).all()
    )
    wanted = [line for line in lines if line.line_key not in booked and line.qty > 0]
    parts = await bundle_components(session, {line.sku_code for line in wanted})
    takes = sorted(
        (sku, line.line_key, line.qty * per)
        for line in wanted
        for sku, per in parts.get(line.sku_code, [(line.sku_code, 1)])
    )
    await _check_known(session, warehouses=[warehouse_code], skus={sku for sku, _, _ in takes})
    moves, short = [], dict[str, int]()
    for sku, line_key, qty in takes:  # in SKU order, as reservation locks rows
        stock = await _locked_stock(session, warehouse_code, sku)
        taken = max(0, min(qty, stock.on_hand - stock.reserved))
        note = "门店收银销售"
        if taken < qty:
            short[sku] = short.get(sku, 0) + qty - taken
            note = f"门店收银销售 {qty} 件，账面仅可扣 {taken} 件，差 {qty - taken} 件待盘点"
        move = _move(
            MoveKind.pos_sale,
            warehouse_code,
            sku,
            actor,
            on_hand=-taken,
            order_key=order_key,
            line_key=line_key,
            note=note,
        )
        await _apply(session, move)  # the next line of the same SKU reads the row again
        moves.append(move)
    await session.flush()
    await mark_channel_stock(session, {move.sku_code for move in moves})
    return TillSale(moves, short)


# --- transfers and counts ------------------------------------------------------------------------


async def transfer(
    session: AsyncSession,
    from_warehouse: str,
    to_warehouse: str,
    sku_code: str,
    qty: int,
    actor: Actor,
    *,
    note: str = "",
) -> str:
    """Move sellable stock between warehouses (调拨); returns the transfer reference on both ledger rows."""
    _check_units(qty, "qty")
    if from_warehouse == to_warehouse:
        raise InventoryError("same_warehouse", field="to_warehouse")
    await _check_known(session, warehouses=[from_warehouse, to_warehouse], skus=[sku_code])
    await _ensure_stock_rows(session, [(from_warehouse, sku_code), (to_warehouse, sku_code)])
    # Same SKU: lock in warehouse-code order, as reservation does.
    for code in sorted((from_warehouse, to_warehouse)):
        locked = await _locked_stock(session, code, sku_code)
        if code == to_warehouse:
            _check_room(locked, qty)
    taken = await session.exec(
        update(Stock)
        .where(
            col(Stock.warehouse_code) == from_warehouse,
            col(Stock.sku_code) == sku_code,
            col(Stock.on_hand) - col(Stock.reserved) - col(Stock.safety_stock) >= qty,
        )
        .values(on_hand=Stock.on_hand - qty, updated_at=utcnow())
    )
    if taken.rowcount != 1:
        raise InventoryError("out_of_stock", field="qty", warehouse=from_warehouse, sku=sku_code, qty=qty)
    ref = f"T-{uuid.uuid4().hex[:12]}"
    session.add(_move(MoveKind.transfer_out, from_warehouse, sku_code, actor, on_hand=-qty, ref=ref, note=note))
    await _apply(session, _move(MoveKind.transfer_in, to_warehouse, sku_code, actor, on_hand=qty, ref=ref, note=note))
    await session.flush()
    await mark_channel_stock(session, [sku_code])
    return ref


async def record_count(
    session: AsyncSession, warehouse_code: str, counted: Mapping[str, int], actor: Actor, *, note: str = ""
) -> StockCount:
    """A stock count (盘点): set on hand to what was counted, one adjustment row per difference."""
    if not counted:
        raise InventoryError("empty_count", field="lines")
    await _check_known(session, warehouses=[warehouse_code], skus=counted.keys())
    lines = []
    for sku_code in sorted(counted):
        qty = counted[sku_code]
        if qty < 0:
            raise InventoryError("bad_qty", "count_negative", field="qty", sku=sku_code)
        if qty > MAX_UNITS:
            raise InventoryError("bad_qty", "count_too_large", field="qty", sku=sku_code, max=f"{MAX_UNITS:,}")
        stock = await _locked_stock(session, warehouse_code, sku_code)
        if qty < stock.reserved:
            raise InventoryError("below_reserved", field="qty", sku=sku_code, qty=qty, reserved=stock.reserved)
        delta = qty - stock.on_hand
        lines.append({"sku": sku_code, "expected": stock.on_hand, "counted": qty, "delta": delta})
        if delta:
            await _apply(
                session,
                _move(MoveKind.adjustment, warehouse_code, sku_code, actor, on_hand=delta, note=note or "盘点调整"),
            )
    count = StockCount(
        warehouse_code=warehouse_code, counted_at=utcnow(), actor_name=actor.name, note=note[:500], lines=lines
    )
    session.add(count)
    await session.flush()
    await mark_channel_stock(session, counted.keys())
    return count


async def recent_counts(session: AsyncSession, limit: int = 10) -> list[StockCount]:
    return list((await session.exec(select(StockCount).order_by(col(StockCount.id).desc()).limit(limit))).all())


# --- availability for routing --------------------------------------------------------------------


def order_key(order_id: int) -> str:
    """The reservation key of an order (what it holds in the stock pool)."""
    return f"order:{order_id}"


async def load_pool(
    session: AsyncSession, sku_codes: Iterable[str] | None, *, holders: Iterable[str] = ()
) -> StockPool:
    """The available units of these SKUs (a bundle's components included; None: every SKU) in every active
    warehouse, as a :class:`StockPool`. What the ``holders`` (order keys) hold themselves counts as available
    again, as when they are routed anew."""
    codes = set(sku_codes) if sku_codes is not None else None
    bundles = select(BundleComponent)
    if codes is not None:
        bundles = bundles.where(col(BundleComponent.bundle_code).in_(codes))
    parts: dict[str, list[tuple[str, int]]] = defaultdict(list)
    if codes is None or codes:
        for part in (await session.exec(bundles.order_by(col(BundleComponent.component_code)))).all():
            parts[part.bundle_code].append((part.component_code, part.qty))
    warehouses = [w.code for w in await list_warehouses(session, active_only=True)]
    available: dict[str, dict[str, int]] = {code: {} for code in warehouses}
    plain = None if codes is None else _components(codes, parts)
    read: set[str] = set()
    if plain is None or plain:
        stock = select(Stock) if plain is None else select(Stock).where(col(Stock.sku_code).in_(plain))
        for row in (await session.exec(stock)).all():
            read.add(row.sku_code)
            if row.warehouse_code in available:
                available[row.warehouse_code][row.sku_code] = row.available
    known = read | set(parts) if codes is None else codes | (plain or set())
    pool = StockPool(available, parts, known)
    for held in (await holdings(session, holders)).values():
        for code, sku, units in held:
            if code in available:
                pool.add(code, sku, units)
    return pool


def _components(codes: set[str], parts: Mapping[str, list[tuple[str, int]]]) -> set[str]:
    """The stock rows these SKUs take: plain SKUs themselves, bundles their components."""
    return {c for c in codes if c not in parts} | {p for c in codes for p, _ in parts.get(c, [])}


#: Order keys one query of :func:`holdings` asks for.
HOLDINGS_CHUNK: Final = 10_000


async def holdings(session: AsyncSession, order_keys: Iterable[str]) -> dict[str, list[tuple[str, str, int]]]:
    """What each of these orders holds now: (warehouse, SKU, units) per order key, one query per
    HOLDINGS_CHUNK orders (a backtest asks for a hundred thousand; PostgreSQL takes 32,767 parameters)."""
    keys = sorted(set(order_keys))
    found: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
    for start in range(0, len(keys), HOLDINGS_CHUNK):
        query = select(Reservation).where(
            col(Reservation.order_key).in_(keys[start : start + HOLDINGS_CHUNK]),
            Reservation.status == ReservationStatus.reserved,
        )
        for hold in (await session.exec(query)).all():
            found[hold.order_key].append((hold.warehouse_code, hold.sku_code, hold.qty))
    return dict(found)


async def lock_stock(session: AsyncSession, sku_codes: Iterable[str]) -> None:
    """Lock the stock rows of these SKUs (bundles: their components) in every warehouse, in the fixed order
    (SKU, warehouse), until the transaction ends. A batch that locks all it may take first never deadlocks
    with another; on SQLite the one writer already holds everything."""
    codes = set(sku_codes)
    if not codes or session.bind is None or session.bind.dialect.name != "postgresql":
        return
    parts = await bundle_components(session, codes)
    await session.exec(
        select(Stock.id)
        .where(col(Stock.sku_code).in_(_components(codes, parts)))
        .order_by(col(Stock.sku_code), col(Stock.warehouse_code))
        .with_for_update()
    )


async def stock_by_warehouse(session: AsyncSession, sku_codes: Iterable[str]) -> dict[str, dict[str, int]]:
    """Available stock per active warehouse and SKU: ``{warehouse: {sku: available}}``. A bundle's
    availability in a warehouse is how many whole bundles its components there make."""
    codes = set(sku_codes)
    if not codes:
        return {}
    pool = await load_pool(session, codes)
    return pool.by_warehouse(codes, pool.available)


async def warehouses_that_can_fill(
    session: AsyncSession, lines: Sequence[ReservationLine], region: str | None
) -> list[str]:
    """Active warehouses serving ``region`` (or everywhere) with every line available, by priority."""
    needed: dict[str, int] = defaultdict(int)
    for line in lines:
        needed[line.sku_code] += line.qty
    available = await stock_by_warehouse(session, needed)
    fits = []
    for warehouse in await list_warehouses(session, active_only=True):
        if region and warehouse.serves_regions and region not in warehouse.serves_regions:
            continue
        if all(available.get(warehouse.code, {}).get(sku, 0) >= qty for sku, qty in needed.items()):
            fits.append(warehouse.code)
    return fits


async def pool_available(session: AsyncSession, sku_codes: Iterable[str]) -> dict[str, int]:
    """Available stock of each SKU summed over all active warehouses (bundles counted per warehouse)."""
    per_warehouse = await stock_by_warehouse(session, sku_codes)
    totals: dict[str, int] = defaultdict(int)
    for stock in per_warehouse.values():
        for sku, qty in stock.items():
            totals[sku] += qty
    return {sku: totals.get(sku, 0) for sku in sku_codes}


async def available_by_sku(session: AsyncSession) -> dict[str, int]:
    """Every plain SKU's available stock (``Stock.available``) summed over the active warehouses, in one aggregate:
    for reports over the whole range of SKUs, where :func:`pool_available` would load each stock row."""
    free = col(Stock.on_hand) - col(Stock.reserved) - col(Stock.safety_stock)
    query = (
        select(Stock.sku_code, func.sum(case((free > 0, free), else_=0)))
        .join(Warehouse, col(Warehouse.code) == col(Stock.warehouse_code))
        .where(col(Warehouse.is_active).is_(True))
        .group_by(col(Stock.sku_code))
    )
    return {sku: int(units or 0) for sku, units in (await session.exec(query)).all()}


async def units_sold_since(session: AsyncSession, since: datetime) -> dict[str, int]:
    """Units of each SKU that left since ``since`` to buyers (shipped, or sold at a till), from the ledger."""
    query = (
        select(StockMove.sku_code, func.sum(StockMove.on_hand_delta))
        .where(col(StockMove.at) >= since, col(StockMove.kind).in_([MoveKind.shipment, MoveKind.pos_sale]))
        .group_by(col(StockMove.sku_code))
    )
    return {sku: -int(delta or 0) for sku, delta in (await session.exec(query)).all()}


# --- channel stock sync (库存同步) ---------------------------------------------------------------


def publishable(available: int, ratio_pct: int, buffer: int) -> tuple[int, int]:
    """What a shop may show: (quantity, shortfall). quantity = available × ratio − buffer, never negative;
    shortfall is how far the shop's share falls short of its buffer (the shop then shows sold out)."""
    share = max(0, available) * ratio_pct // 100
    return max(0, share - buffer), max(0, buffer - share)


async def _bundles_using(session: AsyncSession, sku_codes: set[str]) -> set[str]:
    rows = (
        await session.exec(
            select(BundleComponent.bundle_code).where(col(BundleComponent.component_code).in_(sku_codes))
        )
    ).all()
    return set(rows)


@dataclass(frozen=True)
class ChannelPlan:
    """What a channel-stock recompute needs that does not change with stock levels, read before any stock row
    is locked so the lock is held for as few statements as possible."""

    codes: list[str]  # the SKUs to recompute, with the bundles made of them
    shop_ids: list[int]
    rules: dict[int, dict[str | None, tuple[int, int]]]  # shop → SKU (None: default) → (ratio %, buffer)
    parts: dict[str, list[tuple[str, int]]]
    warehouses: list[str]  # active warehouses: the pool
    #: (shop, SKU) pairs whose platform is told the shop's figure: a shop with a platform stock API that maps it.
    pushed: frozenset[tuple[int, str]] = frozenset()


async def plan_channel_stock(session: AsyncSession, sku_codes: Iterable[str]) -> ChannelPlan | None:
    """Prepare a recompute for these SKUs (a bundle's code counts as its parts); None when there is nothing
    to publish to (no SKUs or no shops)."""
    codes = set(sku_codes)
    if not codes:
        return None
    # A bundle has no stock of its own: what moved is its parts, and every bundle made of them.
    codes |= {part for parts in (await bundle_components(session, codes)).values() for part, _ in parts}
    codes |= await _bundles_using(session, codes)
    shop_ids = await shop_readers.active_shop_ids(session)
    if not shop_ids:
        return None
    rules: dict[int, dict[str | None, tuple[int, int]]] = defaultdict(dict)
    for rule in (await session.exec(select(ChannelStockRule).where(col(ChannelStockRule.shop_id).in_(shop_ids)))).all():
        rules[rule.shop_id][rule.sku_code] = (rule.ratio_pct, rule.buffer)
    warehouses = list((await session.exec(select(Warehouse.code).where(col(Warehouse.is_active).is_(True)))).all())
    parts = await bundle_components(session, codes)
    pushed = await _pushed_pairs(session, shop_ids, codes)
    return ChannelPlan(sorted(codes), [i for i in shop_ids if i is not None], dict(rules), parts, warehouses, pushed)


async def _pushed_pairs(session: AsyncSession, shop_ids: list[int], codes: set[str]) -> frozenset[tuple[int, str]]:
    """Which of these active shops' SKUs are pushed to their platform: the shop's channel has a stock API and the
    shop maps the SKU (an unmapped SKU is not on that platform, as far as we know)."""
    shops = await shop_readers.shops_by_id(session, shop_ids)
    pushing = [shop_id for shop_id, shop in shops.items() if shop.channel in STOCK_PUSH_CHANNELS]
    return frozenset(await sku_mappings.mapped_pairs(session, pushing, codes))


async def apply_channel_stock(session: AsyncSession, plan: ChannelPlan) -> None:
    """Write what every shop publishes for the planned SKUs from the stock as it is now."""
    dialect = session.get_bind().dialect.name
    insert_for = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # Two jobs may recompute one SKU at once: each locks the rows it rewrites and only then reads the stock,
    # so whichever writes last read last. Rows a shop never had are created first, so there is a row to lock.
    await session.exec(
        insert_for(ChannelStock)
        .values(
            [
                {"shop_id": i, "sku_code": c, "available": 0, "quantity": 0, "shortfall": 0, "computed_at": utcnow()}
                for c in plan.codes
                for i in plan.shop_ids
            ]
        )
        .on_conflict_do_nothing(index_elements=["shop_id", "sku_code"])
    )
    locked = await session.exec(
        select(ChannelStock.shop_id, ChannelStock.sku_code, ChannelStock.quantity, ChannelStock.push_round)
        .where(col(ChannelStock.sku_code).in_(plan.codes))
        .order_by(col(ChannelStock.sku_code), col(ChannelStock.shop_id))
        .with_for_update()
    )
    before = {(shop_id, sku): (quantity, push_round) for shop_id, sku, quantity, push_round in locked.all()}
    plain = {c for c in plan.codes if c not in plan.parts} | {p for comps in plan.parts.values() for p, _ in comps}
    pool = set(plan.warehouses)
    have: dict[str, dict[str, int]] = defaultdict(dict)
    rows = await session.exec(
        select(Stock.warehouse_code, Stock.sku_code, Stock.on_hand - Stock.reserved - Stock.safety_stock).where(
            col(Stock.sku_code).in_(plain)
        )
    )
    for warehouse, sku, free in rows.all():
        if warehouse in pool:
            have[warehouse][sku] = max(0, int(free))
    available: dict[str, int] = {}
    for sku in plan.codes:
        if sku in plan.parts:
            available[sku] = sum(min(have[w].get(p, 0) // n for p, n in plan.parts[sku]) for w in plan.warehouses)
        else:
            available[sku] = sum(have[w].get(sku, 0) for w in plan.warehouses)
    now = utcnow()
    values: list[dict[str, Any]] = []
    for sku in plan.codes:
        for shop_id in plan.shop_ids:
            shop_rules = plan.rules.get(shop_id, {})
            ratio, buffer = shop_rules.get(sku) or shop_rules.get(None) or (100, 0)
            quantity, shortfall = publishable(available[sku], ratio, buffer)
            values.append(
                {
                    "shop_id": shop_id,
                    "sku_code": sku,
                    "available": available[sku],
                    "quantity": quantity,
                    "shortfall": shortfall,
                    "computed_at": now,
                }
            )
    # A shop's platform is told a changed figure by one push per (shop, SKU) and round: ten changes before the
    # push reads the figure are one push of the last one.
    pushes: list[tuple[list[Any], str]] = []
    for row in values:
        pair = (row["shop_id"], row["sku_code"])
        quantity_then, push_round = before.get(pair, (0, 0))
        if pair in plan.pushed and quantity_then != row["quantity"]:
            pushes.append(([list(pair)], push_key(*pair, push_round)))
    await outbox.stage_many(session, STOCK_PUSH_JOB, pushes)
    statement = insert_for(ChannelStock).values(values)
    statement = statement.on_conflict_do_update(
        index_elements=["shop_id", "sku_code"],
        set_={
            "available": statement.excluded.available,
            "quantity": statement.excluded.quantity,
            "shortfall": statement.excluded.shortfall,
            "computed_at": statement.excluded.computed_at,
        },
    )
    await session.exec(statement)


async def recompute_channel_stock(session: AsyncSession, sku_codes: Iterable[str]) -> None:
    """Recompute what every active shop publishes for these SKUs (and the bundles made of them), in the
    caller's transaction. The channel-stock job calls it for the SKUs stock changes marked."""
    plan = await plan_channel_stock(session, sku_codes)
    if plan is not None:
        await apply_channel_stock(session, plan)


#: How stale published channel stock may become: the job runs every second, so a change still waiting after
#: this long is late (the stock page flags it).
CHANNEL_STOCK_MAX_LAG = timedelta(seconds=2)
#: Marks one transaction of the channel-stock job claims: one recompute per SKU among them.
CHANNEL_MARK_BATCH = 5000


async def mark_channel_stock(session: AsyncSession, sku_codes: Iterable[str]) -> None:
    """Note, in the caller's transaction, that these SKUs' stock changed: the channel-stock job recomputes
    what the shops publish for them once this commits. One plain INSERT with no unique key, so concurrent
    transactions marking the same SKU never wait on or conflict with each other."""
    codes = sorted(set(sku_codes))
    if codes:
        now = utcnow()
        await insert_rows(session, ChannelStockMark, [{"sku_code": c, "marked_at": now} for c in codes])


@dataclass(frozen=True)
class ChannelRefresh:
    """What one pass of the channel-stock job did: marks consumed and SKUs recomputed (each once)."""

    marks: int = 0
    skus: int = 0

    def __add__(self, other: ChannelRefresh) -> ChannelRefresh:
        return ChannelRefresh(self.marks + other.marks, self.skus + other.skus)


async def channel_marks_pending(session: AsyncSession) -> bool:
    """Whether any stock change still waits for its channel-stock recompute."""
    return (await session.exec(select(ChannelStockMark.id).limit(1))).first() is not None


async def refresh_marked_channel_stock(session: AsyncSession, *, limit: int = CHANNEL_MARK_BATCH) -> ChannelRefresh:
    """Claim up to ``limit`` marks, recompute each SKU they name once and delete them, in the caller's
    transaction. On PostgreSQL marks another worker has claimed are skipped (``FOR UPDATE SKIP LOCKED``);
    a mark appended meanwhile is a new row, left for the next pass; if this transaction fails, its marks stay.
    """
    claimable = (
        select(ChannelStockMark.id).order_by(col(ChannelStockMark.id)).limit(limit).with_for_update(skip_locked=True)
    )
    claimed = await session.exec(
        delete(ChannelStockMark)
        .where(col(ChannelStockMark.id).in_(claimable))
        .returning(col(ChannelStockMark.sku_code))
    )
    marked = list(claimed.scalars().all())
    # The stock is read by the statements after the claim, so it includes every change whose mark was claimed.
    await recompute_channel_stock(session, marked)
    await note_low_stock(session, marked)
    return ChannelRefresh(len(marked), len(set(marked)))


async def note_low_stock(session: AsyncSession, sku_codes: Iterable[str]) -> list[str]:
    """For these SKUs (whose stock changed): record ``stock.low`` for each that is now at or below its low-stock
    threshold and was above it before, and forget those above it again. Returns the SKUs that crossed down."""
    codes = set(sku_codes)
    if not codes:
        return []
    watched = {
        sku.code: sku
        for sku in (
            await session.exec(
                select(Sku).where(
                    col(Sku.code).in_(codes),
                    col(Sku.low_stock_threshold) > 0,
                    col(Sku.is_active).is_(True),
                    col(Sku.is_bundle).is_(False),
                )
            )
        ).all()
    }
    per_warehouse = await stock_by_warehouse(session, watched)
    available = {code: sum(stock.get(code, 0) for stock in per_warehouse.values()) for code in watched}
    low = {code for code, sku in watched.items() if available[code] <= sku.low_stock_threshold}
    await session.exec(
        delete(LowStockState).where(col(LowStockState.sku_code).in_(codes - low))  # above again (or unwatched)
    )
    crossed = []
    names: dict[str, str] | None = None
    now = utcnow()
    for code in sorted(low):
        row = {"sku_code": code, "available": available[code], "since": now}
        state_id = await insert_new(session, LowStockState, row, unique=("sku_code",))
        if state_id is None:  # low already: announced when it crossed
            continue
        if names is None:
            names = {w.code: w.name for w in await list_warehouses(session)}
        sku = watched[code]
        data = {
            "sku": {"code": code, "name": sku.name},
            "threshold": sku.low_stock_threshold,
            "available": available[code],
            "warehouses": [
                {"code": warehouse, "name": names.get(warehouse, ""), "available": stock.get(code, 0)}
                for warehouse, stock in sorted(per_warehouse.items())
            ],
        }
        await events.record(session, events.EventType.stock_low, data, key=f"stock.low:{code}:{state_id}")
        crossed.append(code)
    return crossed


@dataclass(frozen=True)
class ChannelFreshness:
    """How current a SKU's published channel stock is: when it was last computed (the oldest shop's row) and
    since when a stock change has been waiting for the job, if one is."""

    computed_at: datetime | None
    waiting_since: datetime | None

    def age_seconds(self, now: datetime) -> int | None:
        """Whole seconds since the published figures were computed."""
        return None if self.computed_at is None else max(0, int((now - self.computed_at).total_seconds()))

    def late(self, now: datetime) -> bool:
        """A change has waited longer than the job promises."""
        return self.waiting_since is not None and now - self.waiting_since > CHANNEL_STOCK_MAX_LAG


async def channel_freshness(session: AsyncSession, sku_codes: Iterable[str]) -> dict[str, ChannelFreshness]:
    """For each SKU (a bundle counts its parts' changes): its :class:`ChannelFreshness`."""
    codes = set(sku_codes)
    if not codes:
        return {}
    parts = await bundle_components(session, codes)
    computed = dict(
        (
            await session.exec(
                select(ChannelStock.sku_code, func.min(ChannelStock.computed_at))
                .where(col(ChannelStock.sku_code).in_(codes))
                .group_by(col(ChannelStock.sku_code))
            )
        ).all()
    )
    watched = codes | {p for comps in parts.values() for p, _ in comps}
    waiting = dict(
        (
            await session.exec(
                select(ChannelStockMark.sku_code, func.min(ChannelStockMark.marked_at))
                .where(col(ChannelStockMark.sku_code).in_(watched))
                .group_by(col(ChannelStockMark.sku_code))
            )
        ).all()
    )
    out = {}
    for code in codes:
        since = [waiting[c] for c in [code, *(p for p, _ in parts.get(code, []))] if c in waiting]
        out[code] = ChannelFreshness(computed.get(code), min(since) if since else None)
    return out


async def set_channel_rule(
    session: AsyncSession, shop_id: int, sku_code: str | None, ratio_pct: int, buffer: int, actor: Actor
) -> ChannelStockRule:
    """Set a shop's share of the pool (for one SKU, or its default when ``sku_code`` is None)."""
    if not 0 <= ratio_pct <= 100:
        raise InventoryError("bad_ratio", field="ratio_pct")
    if buffer < 0:
        raise InventoryError("bad_buffer", field="buffer")
    _check_units(buffer, "buffer", allow_zero=True)
    if not is_row_id(shop_id) or await shop_readers.shop_of(session, shop_id) is None:
        raise InventoryError("unknown_shop", field="shop", shop=shop_id)
    if sku_code is not None:
        await _check_known(session, skus=[sku_code])
    existing = (
        await session.exec(
            select(ChannelStockRule).where(
                ChannelStockRule.shop_id == shop_id,
                col(ChannelStockRule.sku_code).is_(None) if sku_code is None else ChannelStockRule.sku_code == sku_code,
            )
        )
    ).first()
    rule = existing or ChannelStockRule(shop_id=shop_id, sku_code=sku_code)
    rule.ratio_pct, rule.buffer = ratio_pct, buffer
    session.add(rule)
    await session.flush()
    await audit(
        session,
        actor,
        "inventory.channel_rule",
        target_type="shop",
        target_id=shop_id,
        after={"sku": sku_code, "ratio_pct": ratio_pct, "buffer": buffer},
    )
    skus = [sku_code] if sku_code else [s.code for s in await list_skus(session)]
    await mark_channel_stock(session, skus)
    return rule


async def find_shop(session: AsyncSession, shop: str) -> Shop | None:
    """A shop by id or by code."""
    shop_id = parse_id(shop)
    if shop_id is not None:
        found = await shop_readers.shop_of(session, shop_id)
        if found is not None:
            return found
    return await shop_readers.shop_by_code(session, shop)


async def channel_stock(session: AsyncSession, shop_id: int) -> list[ChannelStock]:
    """What one shop should publish, per SKU."""
    return list(
        (
            await session.exec(
                select(ChannelStock).where(ChannelStock.shop_id == shop_id).order_by(col(ChannelStock.sku_code))
            )
        ).all()
    )


async def channel_stock_for_sku(session: AsyncSession, sku_code: str) -> list[ChannelStock]:
    """What every shop publishes for one SKU."""
    return list(
        (
            await session.exec(
                select(ChannelStock).where(ChannelStock.sku_code == sku_code).order_by(col(ChannelStock.shop_id))
            )
        ).all()
    )


async def channel_rules(session: AsyncSession) -> list[ChannelStockRule]:
    """Every shop's sync ratio and buffer rules (a rule without a SKU is the shop's default)."""
    query = select(ChannelStockRule).order_by(col(ChannelStockRule.shop_id), col(ChannelStockRule.sku_code))
    return list((await session.exec(query)).all())


async def channel_shortfalls(session: AsyncSession) -> list[tuple[ChannelStock, Shop]]:
    """Shops that show a SKU sold out because their buffer eats their whole share: the alert list."""
    rows = (
        await session.exec(
            select(ChannelStock, Shop)
            .join(Shop, and_(col(Shop.id) == ChannelStock.shop_id))
            .where(col(ChannelStock.shortfall) > 0, col(Shop.is_active).is_(True))
            .order_by(col(ChannelStock.sku_code), col(Shop.code))
        )
    ).all()
    return [(c, s) for c, s in rows]


# --- telling the platforms (库存推送) ---------------------------------------------------------------

#: The outbox job that tells one shop's platform its figure for one SKU (``app/domain/channels/stock_push.py``).
STOCK_PUSH_JOB: Final = "push_channel_stock"

#: Why a push did not land, by the code the push client records in ``push_error`` (``code:detail``).
PUSH_ERRORS: Final[Mapping[str, str]] = {
    "refused": N_("The platform refused the stock update: %(detail)s"),
    "unreachable": N_("The platform could not be reached, retrying: %(detail)s"),
    "no_item_id": N_("The SKU mapping has no platform item id, which this platform needs to update stock"),
    "no_sku_id": N_("The SKU mapping has no platform SKU id, which this platform needs to update stock"),
    "no_api": N_("The shop has no API address or app key set on 渠道与店铺"),
}


def push_key(shop_id: int, sku_code: str, push_round: int) -> str:
    """The dedupe key of the push a change of this (shop, SKU) waits for in this round."""
    return f"stock_push:{shop_id}:{sku_code}:{push_round}"


def push_error_text(stored: str) -> str:
    """A recorded push error in the reader's language (``code:detail`` as the push client records it)."""
    code, _, detail = stored.partition(":")
    message = PUSH_ERRORS.get(code)
    return gettext(message) % {"detail": detail} if message is not None else stored


async def take_channel_push(session: AsyncSession, pairs: Iterable[tuple[int, str]]) -> dict[tuple[int, str], int]:
    """The figures to push now for these (shop, SKU) pairs, read under the lock the recompute takes, with each
    pair's push round moved on in the caller's transaction: a change committed after this read is a new round and
    stages the next push, so none is lost, while the changes before it are all carried by this one."""
    wanted = sorted(set(pairs), key=lambda pair: (pair[1], pair[0]))
    if not wanted:
        return {}
    rows = (
        await session.exec(
            select(ChannelStock.id, ChannelStock.shop_id, ChannelStock.sku_code, ChannelStock.quantity)
            .where(tuple_(col(ChannelStock.shop_id), col(ChannelStock.sku_code)).in_(wanted))
            .order_by(col(ChannelStock.sku_code), col(ChannelStock.shop_id))
            .with_for_update()
        )
    ).all()
    if rows:
        await session.exec(
            update(ChannelStock)
            .where(col(ChannelStock.id).in_([row_id for row_id, *_ in rows]))
            .values(push_round=ChannelStock.push_round + 1)
        )
    return {(shop_id, sku): quantity for _, shop_id, sku, quantity in rows}


@dataclass(frozen=True)
class PushOutcome:
    """What one push of one (shop, SKU) came to: the figure sent and, when it did not land, why (``code:detail``)."""

    quantity: int
    error: str | None = None


async def record_channel_push(session: AsyncSession, outcomes: Mapping[tuple[int, str], PushOutcome]) -> None:
    """Record, on each (shop, SKU)'s channel stock, the figure its platform accepted and when, or why it did not."""
    now = utcnow()
    for (shop_id, sku), outcome in sorted(outcomes.items(), key=lambda item: (item[0][1], item[0][0])):
        if outcome.error is None:
            values: dict[str, Any] = {"pushed_quantity": outcome.quantity, "pushed_at": now, "push_error": None}
        else:
            values = {"push_error": outcome.error[:500]}
        await session.exec(
            update(ChannelStock)
            .where(col(ChannelStock.shop_id) == shop_id, col(ChannelStock.sku_code) == sku)
            .values(**values)
        )


class PushState(StrEnum):
    """What a SKU's page says of one shop's platform figure."""

    no_api = "no_api"  # the channel has no platform stock API: not pushed
    disabled = "disabled"  # the shop is disabled: not pushed
    unmapped = "unmapped"  # 未映射: the shop does not map the SKU, so it is not pushed there
    failed = "failed"  # the last push did not land (push_error says why)
    synced = "synced"  # the platform has the published figure
    waiting = "waiting"  # the published figure changed and its push has not landed yet


def push_state(row: ChannelStock, shop: Shop | None, mapped: bool) -> PushState:
    """What the stock page says of the platform's figure for this channel-stock row."""
    if shop is None or shop.channel not in STOCK_PUSH_CHANNELS:
        return PushState.no_api
    if not shop.is_active:
        return PushState.disabled
    if not mapped:
        return PushState.unmapped
    if row.push_error:
        return PushState.failed
    return PushState.synced if row.pushed_quantity == row.quantity else PushState.waiting


async def push_again(
    session: AsyncSession, shop_id: int, sku_code: str, actor: Actor, *, ip: str | None = None
) -> None:
    """Stage a push of the shop's current figure for this SKU (重新推送), audited; nothing new when one is waiting."""
    shop = await shop_readers.shop_of(session, shop_id) if is_row_id(shop_id) else None
    row = (
        await session.exec(
            select(ChannelStock).where(ChannelStock.shop_id == shop_id, ChannelStock.sku_code == sku_code)
        )
    ).first()
    if shop is None or row is None:
        raise InventoryError("unknown_shop", field="shop", shop=shop_id)
    mapped = bool(await sku_mappings.mapped_pairs(session, [shop_id], [sku_code]))
    state = push_state(row, shop, mapped)
    if state in (PushState.no_api, PushState.disabled, PushState.unmapped):
        raise InventoryError("not_pushed", state.value, field="shop", shop=shop.name)
    await outbox.stage_many(
        session, STOCK_PUSH_JOB, [([[shop_id, sku_code]], push_key(shop_id, sku_code, row.push_round))]
    )
    await audit(
        session,
        actor,
        "inventory.push_again",
        target_type="shop",
        target_id=shop_id,
        after={"sku": sku_code, "quantity": row.quantity},
        ip=ip,
    )


# --- the stock page ------------------------------------------------------------------------------


@dataclass
class GridRow:
    sku: Sku
    cells: dict[str, Stock | None]
    available: int
    reserved: int
    on_hand: int
    low: bool


@dataclass
class StockGrid:
    warehouses: list[Warehouse]
    rows: list[GridRow]
    totals: dict[str, dict[str, int]]
    grand: dict[str, int]
    categories: list[str]


async def stock_grid(session: AsyncSession, *, category: str | None = None, warehouse: str | None = None) -> StockGrid:
    """SKU × warehouse with available / reserved per cell, row totals, column totals and the grand total."""
    all_warehouses = await list_warehouses(session)
    warehouses = [w for w in all_warehouses if not warehouse or w.code == warehouse]
    skus = [s for s in await list_skus(session, category=category) if not s.is_bundle]
    codes = [s.code for s in skus]
    rows = (await session.exec(select(Stock).where(col(Stock.sku_code).in_(codes)))).all() if codes else []
    cells: dict[tuple[str, str], Stock] = {(r.sku_code, r.warehouse_code): r for r in rows}
    totals = {w.code: {"available": 0, "reserved": 0, "on_hand": 0} for w in warehouses}
    grand = {"available": 0, "reserved": 0, "on_hand": 0}
    grid_rows = []
    for sku in skus:
        row_cells = {w.code: cells.get((sku.code, w.code)) for w in warehouses}
        sums = {"available": 0, "reserved": 0, "on_hand": 0}
        for code, stock in row_cells.items():
            if stock is None:
                continue
            for name, value in (
                ("available", stock.available),
                ("reserved", stock.reserved),
                ("on_hand", stock.on_hand),
            ):
                sums[name] += value
                totals[code][name] += value
                grand[name] += value
        low = sku.low_stock_threshold > 0 and sums["available"] <= sku.low_stock_threshold
        grid_rows.append(GridRow(sku, row_cells, sums["available"], sums["reserved"], sums["on_hand"], low))
    categories = sorted({s.category for s in await list_skus(session) if s.category})
    return StockGrid(warehouses, grid_rows, totals, grand, categories)


@dataclass(frozen=True)
class LowStock:
    sku: Sku
    available: int


async def low_stock_alerts(session: AsyncSession) -> list[LowStock]:
    """SKUs whose available stock across active warehouses is at or below their threshold (低库存预警)."""
    skus = [s for s in await list_skus(session) if s.low_stock_threshold > 0 and s.is_active]
    if not skus:
        return []
    available = await pool_available(session, [s.code for s in skus])
    return [LowStock(s, available[s.code]) for s in skus if available[s.code] <= s.low_stock_threshold]


async def set_low_stock_threshold(session: AsyncSession, sku_code: str, threshold: int, actor: Actor) -> Sku:
    """The level at or below which a SKU raises a low-stock alert (0 turns it off)."""
    if threshold < 0:
        raise InventoryError("bad_qty", "threshold_negative", field="low_stock_threshold")
    _check_units(threshold, "low_stock_threshold", allow_zero=True)
    sku = await get_sku(session, sku_code)
    if sku is None:
        raise InventoryError("unknown_sku", field="sku", sku=sku_code)
    before = sku.low_stock_threshold
    sku.low_stock_threshold = threshold
    session.add(sku)
    await session.flush()
    await mark_channel_stock(session, [sku_code])  # the next pass sees whether it is low now
    await audit(
        session,
        actor,
        "inventory.low_stock_threshold",
        target_type="sku",
        target_id=sku_code,
        before={"low_stock_threshold": before},
        after={"low_stock_threshold": threshold},
    )
    return sku


async def sku_stock(session: AsyncSession, sku_code: str) -> list[Stock]:
    """The SKU's stock rows, by warehouse."""
    return list(
        (await session.exec(select(Stock).where(Stock.sku_code == sku_code).order_by(col(Stock.warehouse_code)))).all()
    )


def _stock_cursor(stock: Stock) -> str:
    """An opaque "after this row" cursor: the row's (SKU, warehouse)."""
    raw = json.dumps([stock.sku_code, stock.warehouse_code], ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _stock_position(cursor: str) -> tuple[str, str]:
    """The (SKU, warehouse) a stock cursor names; a ParameterError for a cursor we did not write."""
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        position = None
    if not (isinstance(position, list) and len(position) == 2 and all(isinstance(p, str) for p in position)):
        raise ParameterError("stale_page", field="cursor")
    return position[0], position[1]


async def stock_page(
    session: AsyncSession, *, sku: str = "", warehouse: str = "", after: str = "", limit: int = 100
) -> tuple[list[Stock], str | None]:
    """Stock rows by SKU, then warehouse, keyset-paginated on (SKU, warehouse); narrowed to one SKU and/or one
    warehouse code when given. Returns the page and the cursor of the next one (None on the last page)."""
    query = select(Stock)
    if sku:
        query = query.where(Stock.sku_code == sku)
    if warehouse:
        query = query.where(Stock.warehouse_code == warehouse)
    if after:
        last_sku, last_warehouse = _stock_position(after)
        query = query.where(
            or_(
                col(Stock.sku_code) > last_sku,
                and_(col(Stock.sku_code) == last_sku, col(Stock.warehouse_code) > last_warehouse),
            )
        )
    query = query.order_by(col(Stock.sku_code), col(Stock.warehouse_code)).limit(limit + 1)
    rows = list((await session.exec(query)).all())
    next_cursor = _stock_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


#: Stock rows in one page of the read API: by default, and at most.
API_STOCK_PAGE = 100
API_STOCK_LIMIT = 200


async def api_stock(session: AsyncSession, *, sku: str, warehouse: str, cursor: str, limit: int) -> dict[str, Any]:
    """One page of stock by SKU and warehouse as the read API gives it, and the cursor of the next page."""
    sku, warehouse = sku.strip(), warehouse.strip()
    rows, next_cursor = await stock_page(session, sku=sku, warehouse=warehouse, after=cursor, limit=limit)
    return {
        "items": [
            {
                "sku": row.sku_code,
                "warehouse": row.warehouse_code,
                "on_hand": row.on_hand,
                "reserved": row.reserved,
                "safety_stock": row.safety_stock,
                "available": row.available,
                "updated_at": iso_utc(row.updated_at),
            }
            for row in rows
        ],
        "next_cursor": next_cursor,
    }


# --- warehouse settings --------------------------------------------------------------------------


@dataclass(frozen=True)
class WarehouseForm:
    code: str
    name: str
    kind: str
    province: str
    city: str
    priority: int
    serves_regions: list[str]
    per_order_fen: int
    per_item_fen: int
    is_active: bool


#: A warehouse code: what flows, stock rows, shipments and documents name the warehouse by.
WAREHOUSE_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")


def _check_warehouse_form(form: WarehouseForm) -> None:
    code = form.code.strip()
    if not code or len(code) > 32:
        raise InventoryError("bad_code", field="code")
    if not WAREHOUSE_CODE.fullmatch(code):
        raise InventoryError("bad_code", "charset", field="code", value=excerpt(code))
    if not form.name.strip():
        raise InventoryError("bad_name", field="name")
    if len(form.name.strip()) > 100:
        raise InventoryError("bad_name", "too_long", field="name", max=100)
    if form.kind not in {k.value for k in WarehouseKind}:
        raise InventoryError("bad_kind", field="kind")
    if not form.province.strip():
        raise InventoryError("bad_province", field="province")
    if short_province(form.province) is None:
        raise InventoryError("bad_province", "unknown", field="province", value=excerpt(form.province.strip(), 30))
    if len(form.city.strip()) > 32:
        raise InventoryError("bad_city", field="city", max=32)
    unknown = [r for r in (x.strip() for x in form.serves_regions) if r and r not in REGIONS]
    if unknown:
        raise InventoryError("bad_regions", field="serves_regions", value=excerpt(unknown[0], 30))
    if form.priority < 0 or form.per_order_fen < 0 or form.per_item_fen < 0:
        raise InventoryError("bad_number", "negative", field="priority")
    if form.priority > MAX_PRIORITY:
        raise InventoryError("bad_number", "priority_too_large", field="priority", max=f"{MAX_PRIORITY:,}")
    if max(form.per_order_fen, form.per_item_fen) > MAX_HANDLING_FEN:
        raise InventoryError("bad_number", "fee_too_large", field="per_order_fen", max=f"{MAX_HANDLING_FEN // 100:,}")


def _warehouse_snapshot(warehouse: Warehouse) -> dict[str, Any]:
    return {
        "name": warehouse.name,
        "kind": str(warehouse.kind),
        "province": warehouse.province,
        "city": warehouse.city,
        "priority": warehouse.priority,
        "serves_regions": list(warehouse.serves_regions),
        # Read as routing reads it (a missing fee is 0), so that saving the same fees again changes nothing.
        "cost_profile": {
            key: int((warehouse.cost_profile or {}).get(key, 0)) for key in ("per_order_fen", "per_item_fen")
        },
        "is_active": warehouse.is_active,
    }


async def save_warehouse(
    session: AsyncSession, form: WarehouseForm, actor: Actor, *, ip: str | None = None, creating: bool | None = None
) -> Outcome:
    """Create a warehouse or update the one with this code (its regions, priority, cost profile, status), audited;
    ``creating`` True refuses a code that exists, False one that does not (None: either). Nothing is written
    when nothing changes."""
    _check_warehouse_form(form)
    code = form.code.strip()
    warehouse = await get_warehouse(session, code)
    if creating is True and warehouse is not None:
        raise InventoryError("duplicate_warehouse", field="code", status=409, value=code)
    if creating is False and warehouse is None:
        raise InventoryError("unknown_warehouse", field="code", status=404, warehouse=excerpt(code))
    before = _warehouse_snapshot(warehouse) if warehouse else None
    wanted = {
        "name": form.name.strip(),
        "kind": WarehouseKind(form.kind),
        "province": form.province.strip(),
        "city": form.city.strip(),
        "priority": form.priority,
        "serves_regions": [r for r in (x.strip() for x in form.serves_regions) if r],
        "cost_profile": {"per_order_fen": form.per_order_fen, "per_item_fen": form.per_item_fen},
        "is_active": form.is_active,
    }
    if before is not None and {**wanted, "kind": str(wanted["kind"])} == before:
        return Outcome.unchanged
    warehouse = warehouse or Warehouse(code=code, name=form.name, province=form.province)
    for name, value in wanted.items():
        setattr(warehouse, name, value)
    session.add(warehouse)
    await session.flush()
    await audit(
        session,
        actor,
        "inventory.warehouse_saved",
        target_type="warehouse",
        target_id=warehouse.code,
        before=before,
        after=_warehouse_snapshot(warehouse),
        ip=ip,
    )
    # Whether a warehouse counts towards the pool changes what every shop may publish.
    if before is None or before["is_active"] != warehouse.is_active:
        await mark_channel_stock(session, [s.code for s in await list_skus(session)])
    return Outcome.created if before is None else Outcome.updated

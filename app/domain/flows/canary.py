"""Canary publish: the draft published as a version that takes one shop's orders, or a stable share of all
orders, while the live version keeps the rest; the side-by-side of the two since the canary started; promote,
roll back, and the automatic rollback when the canary holds or fails too many more orders than live.

Which version an order takes is decided where processing reads the flows (``services.LiveFlow.for_order``);
processing hands each order a flow with a canary ran on to :func:`record_orders`, in its batch's transaction,
and the side-by-side is a sum over those rows.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import case, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import Database, utcnow
from app.domain.accounts.services import SYSTEM, Actor, audit
from app.domain.flows.models import CanaryStatus, Flow, FlowCanary, FlowCanaryOrder, FlowVersion
from app.domain.flows.services import (
    FlowError,
    checked_note,
    diff_documents,
    fingerprint,
    get_flow,
    refuse_while_canary,
    validate,
    write_version,
)
from app.domain.shops import services as shop_readers
from app.errors import excerpt
from app.params import parse_int

log = logging.getLogger(__name__)

#: The most orders an admin may ask the canary to process before it is judged.
MAX_MIN_ORDERS: Final = 100_000
#: Ended canaries the versions panel lists.
HISTORY_SHOWN: Final = 10
#: What an order's latest run came to, as the side-by-side counts it.
PROCESSED, HELD, FAILED = "processed", "held", "failed"


@dataclass(frozen=True, slots=True)
class CanaryOrder:
    """One order processed by a flow with a running canary: which version took it and how its run ended."""

    canary_id: int
    order_id: int
    version_id: int
    on_canary: bool
    #: PROCESSED, HELD (in the review queue for a hold, stock or carrier) or FAILED (a node or an action failed)
    outcome: str
    #: What its parcels' carriers charge, in fen; None when it was not routed.
    fee_fen: int | None


async def record_orders(session: AsyncSession, entries: Sequence[CanaryOrder], now: datetime) -> None:
    """Keep each order's latest outcome under its canary (in the caller's transaction: the processing batch's).
    An order processed again (a new version of it, an approval) replaces its row, so it counts once."""
    if not entries:
        return
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    latest = {(entry.canary_id, entry.order_id): entry for entry in entries}
    statement = insert(FlowCanaryOrder).values([{**asdict(entry), "processed_at": now} for entry in latest.values()])
    statement = statement.on_conflict_do_update(
        index_elements=["canary_id", "order_id"],
        set_={
            name: getattr(statement.excluded, name)
            for name in ("version_id", "on_canary", "outcome", "fee_fen", "processed_at")
        },
    )
    await session.exec(statement)


# ------------------------------------------------------------------------------------------- side by side


@dataclass
class SideStats:
    """One version's orders since the canary started."""

    version_id: int
    number: int
    orders: int = 0
    held: int = 0
    failed: int = 0
    routed: int = 0
    fee_fen_total: int = 0

    @staticmethod
    def _rate(count: int, orders: int) -> float | None:
        return round(100 * count / orders, 1) if orders else None

    @property
    def hold_rate(self) -> float | None:
        """Held for review, as a percentage of the orders processed (None before any)."""
        return self._rate(self.held, self.orders)

    @property
    def failure_rate(self) -> float | None:
        """Failed runs, as a percentage of the orders processed (None before any)."""
        return self._rate(self.failed, self.orders)

    @property
    def mean_fee_fen(self) -> int | None:
        """The mean carrier fee of the routed orders, in fen (None before any)."""
        return round(self.fee_fen_total / self.routed) if self.routed else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "version_id": self.version_id,
            "number": self.number,
            "orders": self.orders,
            "held": self.held,
            "failed": self.failed,
            "hold_rate": self.hold_rate,
            "failure_rate": self.failure_rate,
            "mean_fee_fen": self.mean_fee_fen,
        }


@dataclass
class CanaryStats:
    """The live version and the canary side by side, over the orders processed since the canary started."""

    live: SideStats
    canary: SideStats

    def to_dict(self) -> dict[str, Any]:
        return {"live": self.live.to_dict(), "canary": self.canary.to_dict()}


async def stats_of(session: AsyncSession, canary: FlowCanary) -> CanaryStats:
    """The side-by-side of a canary: one grouped sum over the orders it recorded."""
    numbers = dict(
        (
            await session.exec(
                select(FlowVersion.id, FlowVersion.number).where(
                    col(FlowVersion.id).in_([canary.version_id, canary.live_version_id])
                )
            )
        ).all()
    )
    stats = CanaryStats(
        live=SideStats(canary.live_version_id, numbers.get(canary.live_version_id, 0)),
        canary=SideStats(canary.version_id, numbers.get(canary.version_id, 0)),
    )
    row = FlowCanaryOrder
    columns = [
        col(row.on_canary),
        func.count(),
        func.sum(case((col(row.outcome) == HELD, 1), else_=0)),
        func.sum(case((col(row.outcome) == FAILED, 1), else_=0)),
        func.count(col(row.fee_fen)),
        func.coalesce(func.sum(col(row.fee_fen)), 0),
    ]
    query = select(*columns).where(row.canary_id == canary.id).group_by(col(row.on_canary))
    for on_canary, orders, held, failed, routed, fees in (await session.exec(query)).all():
        side = stats.canary if on_canary else stats.live
        side.orders, side.held, side.failed = int(orders), int(held or 0), int(failed or 0)
        side.routed, side.fee_fen_total = int(routed), int(fees)
    return stats


@dataclass(frozen=True, slots=True)
class Breach:
    """The rate by which the canary did worse than live past its threshold: why it is rolled back."""

    rate: str  # hold | failure
    canary: float
    live: float
    threshold: int

    def reason(self, stats: CanaryStats) -> str:
        """Why, in Chinese, for the audit log and the timeline."""
        what = "待审核率" if self.rate == "hold" else "失败率"
        return (
            f"自动回滚：灰度版本 v{stats.canary.number} 的{what} {self.canary:.1f}% 比线上版本 v{stats.live.number} 的 "
            f"{self.live:.1f}% 高 {self.canary - self.live:.1f} 个百分点，超过阈值 {self.threshold} 个百分点"
            f"（灰度 {stats.canary.orders} 单，线上 {stats.live.orders} 单）"
        )


def breach_of(canary: FlowCanary, stats: CanaryStats) -> Breach | None:
    """The breach that rolls the canary back, or None while it may keep running: it is judged once it has
    processed ``min_orders`` orders and live at least one, on its hold rate and then its failure rate."""
    if stats.canary.orders < canary.min_orders or not stats.live.orders:
        return None
    for rate, threshold in (("hold", canary.hold_threshold), ("failure", canary.failure_threshold)):
        ours = getattr(stats.canary, f"{rate}_rate")
        theirs = getattr(stats.live, f"{rate}_rate")
        if ours - theirs > threshold:
            return Breach(rate, ours, theirs, threshold)
    return None


# --------------------------------------------------------------------------------------------- lifecycle


def _whole(value: str | int | None, low: int, high: int, code: str, **params: Any) -> int:
    number = value if isinstance(value, int) and not isinstance(value, bool) else parse_int(value or "")
    if number is None or not low <= number <= high:
        raise FlowError(code, **params)
    return number


async def _checked_scope(
    session: AsyncSession, flow: Flow, shop_codes: Sequence[str], percent: str | int | None
) -> tuple[list[str], int | None]:
    codes = sorted({code.strip() for code in shop_codes if code.strip()})
    share = None if percent is None or str(percent).strip() == "" else percent
    if codes and share is not None:
        raise FlowError("canary_scope_both")
    if not codes and share is None:
        raise FlowError("canary_scope_missing")
    if share is not None:
        return [], _whole(share, 1, 99, "bad_percent")
    shops = {code: await shop_readers.shop_by_code(session, code) for code in codes}
    unknown = [code for code, shop in shops.items() if shop is None]
    if unknown:
        raise FlowError("unknown_shop", value=excerpt(", ".join(unknown)))
    outside = [
        code
        for code, shop in shops.items()
        if shop is not None
        and ((flow.shop_codes and code not in flow.shop_codes) or (flow.channels and shop.channel not in flow.channels))
    ]
    if outside:
        raise FlowError("shop_outside_flow", value=excerpt(", ".join(outside)))
    return codes, None


def _settings_of(canary: FlowCanary) -> dict[str, Any]:
    return {
        "canary_id": canary.id,
        "version_id": canary.version_id,
        "live_version_id": canary.live_version_id,
        "shop_codes": list(canary.shop_codes),
        "percent": canary.percent,
        "hold_threshold": canary.hold_threshold,
        "failure_threshold": canary.failure_threshold,
        "min_orders": canary.min_orders,
    }


async def publish_canary(
    session: AsyncSession,
    actor: Actor,
    flow_id: int,
    note: str,
    *,
    shop_codes: Sequence[str] = (),
    percent: str | int | None = None,
    hold_threshold: str | int = 5,
    failure_threshold: str | int = 2,
    min_orders: str | int = 50,
    expected_revision: int | None = None,
    ip: str | None = None,
) -> FlowCanary:
    """Publish the draft as a new version that takes the orders of ``shop_codes``, or ``percent`` % of orders
    (by a stable bucket of the order id), while the live version keeps the rest. Refused, with nothing
    written, when the input is wrong, nothing is live yet, a canary already runs, the draft behaves as the live
    version does (the two sides would compare the same rules) or the draft has problems."""
    flow = await get_flow(session, flow_id, for_update=True)
    await refuse_while_canary(session, flow)
    if flow.live_version_id is None:
        raise FlowError("canary_needs_live")
    note = checked_note(note)
    if expected_revision is not None and expected_revision != flow.draft_revision:
        raise FlowError("conflict", revision=flow.draft_revision, saved_by=flow.draft_saved_by)
    codes, share = await _checked_scope(session, flow, shop_codes, percent)
    holds = _whole(hold_threshold, 0, 100, "bad_threshold", field="hold_threshold")
    failures = _whole(failure_threshold, 0, 100, "bad_threshold", field="failure_threshold")
    minimum = _whole(min_orders, 1, MAX_MIN_ORDERS, "bad_min_orders", limit=MAX_MIN_ORDERS)
    live = await session.get(FlowVersion, flow.live_version_id)
    if live is not None and diff_documents(live.document, flow.draft).is_empty:
        raise FlowError("canary_unchanged")
    problems = validate(flow.draft)
    if problems:
        raise FlowError("has_problems", problems=problems, count=len(problems))
    document = copy.deepcopy(flow.draft)
    version = await write_version(session, actor, flow, document, note)
    assert version.id is not None and flow.id is not None
    canary = FlowCanary(
        flow_id=flow.id,
        version_id=version.id,
        live_version_id=flow.live_version_id,
        shop_codes=codes,
        percent=share,
        hold_threshold=holds,
        failure_threshold=failures,
        min_orders=minimum,
        started_at=utcnow(),
        started_by=actor.name,
    )
    session.add(canary)
    await session.flush()
    flow.canary_id = canary.id
    session.add(flow)
    await audit(
        session,
        actor,
        "flows.canary_published",
        target_type="flow",
        target_id=str(flow.id),
        before={"live_version_id": flow.live_version_id, "canary_id": None},
        after={**_settings_of(canary), "number": version.number, "note": note, "fingerprint": fingerprint(document)},
        ip=ip,
    )
    return canary


async def running_canary(session: AsyncSession, flow: Flow) -> FlowCanary | None:
    """The canary running beside the flow's live version, if any."""
    return await session.get(FlowCanary, flow.canary_id) if flow.canary_id is not None else None


async def _running(session: AsyncSession, flow_id: int) -> tuple[Flow, FlowCanary]:
    flow = await get_flow(session, flow_id, for_update=True)
    canary = await running_canary(session, flow)
    if canary is None or canary.status != CanaryStatus.running:
        raise FlowError("no_canary")
    return flow, canary


async def _end(
    session: AsyncSession,
    actor: Actor,
    flow: Flow,
    canary: FlowCanary,
    status: CanaryStatus,
    action: str,
    *,
    reason: str = "",
    extra: dict[str, Any] | None = None,
    ip: str | None = None,
) -> FlowCanary:
    stats = await stats_of(session, canary)
    before = {"live_version_id": flow.live_version_id, "canary_id": canary.id}
    if status == CanaryStatus.promoted:
        flow.live_version_id = canary.version_id
    flow.canary_id = None
    session.add(flow)
    canary.status = status
    canary.ended_at = utcnow()
    canary.ended_by = actor.name
    canary.end_reason = reason[:500]
    canary.end_stats = {**stats.to_dict(), **(extra or {})}
    session.add(canary)
    await audit(
        session,
        actor,
        action,
        target_type="flow",
        target_id=str(flow.id),
        before=before,
        after={
            **_settings_of(canary),
            "live_version_id": flow.live_version_id,
            "reason": canary.end_reason,
            "stats": stats.to_dict(),
        },
        ip=ip,
    )
    return canary


async def promote(session: AsyncSession, actor: Actor, flow_id: int, *, ip: str | None = None) -> FlowCanary:
    """Make the canary's version the live one for every order; the canary ends."""
    flow, canary = await _running(session, flow_id)
    version = await session.get(FlowVersion, canary.version_id)
    assert version is not None
    problems = validate(version.document)
    if problems:  # the engine may have grown stricter since it was published
        raise FlowError("has_problems", problems=problems, count=len(problems))
    action, reason = "flows.canary_promoted", "灰度版本转为线上版本"
    return await _end(session, actor, flow, canary, CanaryStatus.promoted, action, reason=reason, ip=ip)


async def roll_back(session: AsyncSession, actor: Actor, flow_id: int, *, ip: str | None = None) -> FlowCanary:
    """End the canary: the live version takes every order again. Orders the canary processed stay as they are."""
    flow, canary = await _running(session, flow_id)
    action, reason = "flows.canary_rolled_back", "管理员回滚灰度"
    return await _end(session, actor, flow, canary, CanaryStatus.rolled_back, action, reason=reason, ip=ip)


async def auto_roll_back(session: AsyncSession, canary_id: int) -> FlowCanary | None:
    """Roll the canary back if it still runs and still breaches a threshold (judged afresh under the flow's
    lock, so two workers judging at once roll it back once); None when it is left running or already ended."""
    canary = await session.get(FlowCanary, canary_id)
    if canary is None or canary.status != CanaryStatus.running:
        return None
    flow = await get_flow(session, canary.flow_id, for_update=True)
    await session.refresh(canary)
    if flow.canary_id != canary.id or canary.status != CanaryStatus.running:
        return None
    stats = await stats_of(session, canary)
    breach = breach_of(canary, stats)
    if breach is None:
        return None
    return await _end(
        session,
        SYSTEM,
        flow,
        canary,
        CanaryStatus.auto_rolled_back,
        "flows.canary_auto_rolled_back",
        reason=breach.reason(stats),
        extra={"breach": asdict(breach)},
    )


async def judge_running(db: Database) -> list[int]:
    """Judge every running canary and roll back those past a threshold (after each processing batch, and by
    the sweeper in case a batch's judging was lost). Safe to run twice, or in two workers at once. Returns
    the ids of the canaries it rolled back."""
    async with db.reading() as session:
        running = (await session.exec(select(FlowCanary).where(FlowCanary.status == CanaryStatus.running))).all()
        due = [canary.id for canary in running if breach_of(canary, await stats_of(session, canary))]
    rolled: list[int] = []
    for canary_id in due:
        assert canary_id is not None
        async with db.transaction() as session:
            ended = await auto_roll_back(session, canary_id)
        if ended is not None:
            log.warning("canary %s of flow %s rolled back: %s", canary_id, ended.flow_id, ended.end_reason)
            rolled.append(canary_id)
    return rolled


async def history(session: AsyncSession, flow_id: int, *, limit: int = HISTORY_SHOWN) -> list[FlowCanary]:
    """The flow's canaries, newest first (the running one among them)."""
    query = select(FlowCanary).where(FlowCanary.flow_id == flow_id).order_by(col(FlowCanary.id).desc()).limit(limit)
    return list((await session.exec(query)).all())

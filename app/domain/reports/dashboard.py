"""The home dashboard (工作台): what each role decides from at a glance, each figure linking to where it is handled.

Today's orders and GMV by channel (from the report rollups, beside yesterday's at the same hour), the processing
queue and its throughput, orders held for someone and why, SKUs at or below their alert level, the failures that
need a person (jobs given up, orders processing could not finish, write-backs and refunds a platform refused,
subscriptions that stopped answering), and for finance the vouchers waiting for approval or export. A card is
only read for a role that may open where it links.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import may
from app.db import CHINA, utcnow
from app.domain.accounts.services import Actor
from app.domain.aftersales.models import AfterSaleCase, RefundStatus
from app.domain.finance.models import Voucher, VoucherStatus
from app.domain.fulfillment import writebacks
from app.domain.inventory import services as inventory
from app.domain.processing import queries as processing
from app.domain.reports.models import OrderHourRollup
from app.domain.webhooks.models import DeliveryStatus, EventDelivery
from app.i18n import N_
from app.outbox import OutboxMessage, OutboxStatus

#: Write-back failures that are counted apart: a platform's refusal, and a shop with no open API set (not a failure
#: of a parcel but of a setting, shown as a note for whoever keeps the shops).
NOT_REFUSALS = frozenset({"refused", "no_api"})


@dataclass(frozen=True)
class ChannelToday:
    channel: str
    orders: int
    gmv_fen: int
    #: Yesterday up to the same hour, to compare with.
    yesterday_orders: int
    yesterday_gmv_fen: int


@dataclass(frozen=True)
class Attention:
    """Something a person has to look at: how many, what, and the page where it is handled."""

    key: str  # of ATTENTION_LABELS
    count: int
    route: str
    query: str = ""


#: What each kind of failure is called on the dashboard.
ATTENTION_LABELS = {
    "failed_jobs": N_("Background jobs given up"),
    "failed_orders": N_("Orders processing could not finish"),
    "writebacks": N_("Shipments a platform refused"),
    "writebacks_unsent": N_("Shipments that could not be written back"),
    "refunds": N_("Refunds a platform refused"),
    "webhooks": N_("Event deliveries given up"),
    "finance_jobs": N_("Finance events not booked"),
}


@dataclass
class Dashboard:
    at: datetime
    channels: list[ChannelToday] | None = None
    queue_depth: int = 0
    processed_last_30: int = 0
    peak_per_minute: int = 0
    per_minute: list[int] = field(default_factory=list)
    holds: list[processing.HoldGroup] | None = None
    #: Whether the holds open the review queue (a reviewer's) or the processing monitor (everyone else's).
    reviews: bool = False
    low_stock: list[inventory.LowStock] | None = None
    attention: list[Attention] = field(default_factory=list)
    vouchers_to_approve: int | None = None
    vouchers_to_export: int | None = None
    #: Shops whose shipments are not written back because no open API is set: a setting, not a failure.
    shops_without_api: list[writebacks.ShopWithoutApi] = field(default_factory=list)

    @property
    def today_orders(self) -> int:
        return sum(c.orders for c in self.channels or [])

    @property
    def today_gmv_fen(self) -> int:
        return sum(c.gmv_fen for c in self.channels or [])

    @property
    def yesterday_gmv_fen(self) -> int:
        return sum(c.yesterday_gmv_fen for c in self.channels or [])

    @property
    def held_total(self) -> int:
        return sum(group.count for group in self.holds or [])

    @property
    def attention_total(self) -> int:
        return sum(item.count for item in self.attention)


async def dashboard_for(session: AsyncSession, actor: Actor, *, now: datetime | None = None) -> Dashboard:
    """The cards this actor may see, read now."""
    now = now or utcnow()
    board = Dashboard(at=now)
    if may(actor, "reports.read"):
        board.channels = await today_by_channel(session, now)
    if may(actor, "orders.read"):
        stats = await processing.monitor_stats(session, now=now, recent=0)
        board.queue_depth, board.per_minute = stats.queue_depth, stats.per_minute
        board.processed_last_30, board.peak_per_minute = stats.processed_last_30, stats.peak_per_minute
        board.holds, board.reviews = stats.held, may(actor, "review.work")
        failed_writebacks = await writebacks.failed_by_reason(session)
        if board.reviews:
            board.attention += [
                Attention("failed_jobs", stats.failed_jobs_count, "processing:monitor"),
                Attention("failed_orders", stats.failed_orders_count, "orders:review", "code=failed"),
            ]
        board.attention += [
            Attention("writebacks", failed_writebacks.get("refused", 0), "orders:index"),
            Attention(
                "writebacks_unsent",
                sum(n for code, n in failed_writebacks.items() if code not in NOT_REFUSALS),
                "orders:index",
            ),
            Attention(
                "refunds",
                await _count(session, AfterSaleCase, AfterSaleCase.refund_status == RefundStatus.failed.value),
                "aftersales:index",
            ),
        ]
    if may(actor, "inventory.read"):
        board.low_stock = await inventory.low_stock_alerts(session)
    if may(actor, "settings.manage"):
        board.shops_without_api = await writebacks.shops_without_api(session)
        board.attention.append(
            Attention(
                "webhooks",
                await _count(session, EventDelivery, EventDelivery.status == DeliveryStatus.failed.value),
                "webhooks:index",
            )
        )
    if may(actor, "finance.read"):
        board.vouchers_to_approve = await _count(session, Voucher, Voucher.status == VoucherStatus.draft.value)
        board.vouchers_to_export = await _count(session, Voucher, Voucher.status == VoucherStatus.approved.value)
        finance_failed = await _count(
            session,
            OutboxMessage,
            OutboxMessage.status == OutboxStatus.failed,
            OutboxMessage.job == "book_finance_event",
        )
        if not board.reviews:  # a reviewer sees every job given up, finance's among them
            board.attention.append(Attention("finance_jobs", finance_failed, "processing:monitor"))
    board.attention = [item for item in board.attention if item.count]
    return board


async def today_by_channel(session: AsyncSession, now: datetime) -> list[ChannelToday]:
    """Orders and GMV placed today (China), per channel, beside yesterday's up to the same hour."""
    local = now.astimezone(CHINA)
    today, yesterday = local.date(), local.date() - timedelta(days=1)
    rollup = OrderHourRollup
    rows = (
        await session.exec(
            select(
                col(rollup.day),
                col(rollup.channel),
                func.sum(rollup.paid_orders),
                func.sum(rollup.gmv_fen),
            )
            .where(
                (col(rollup.day) == today) | ((col(rollup.day) == yesterday) & (col(rollup.hour) <= local.hour)),
            )
            .group_by(col(rollup.day), col(rollup.channel))
        )
    ).all()
    figures: dict[str, list[int]] = {}
    for day, channel, orders, gmv in rows:
        at = 0 if day == today else 2
        figures.setdefault(channel, [0, 0, 0, 0])[at : at + 2] = [int(orders or 0), int(gmv or 0)]
    found = [ChannelToday(channel, *values) for channel, values in figures.items()]
    return sorted(found, key=lambda c: (-c.gmv_fen, -c.yesterday_gmv_fen, c.channel))


async def _count(session: AsyncSession, model: type, *where: ColumnElement[bool] | bool) -> int:
    return int((await session.exec(select(func.count()).select_from(model).where(*where))).one())

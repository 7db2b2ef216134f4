"""发货回传 records: what each shipped parcel's platform was told, as the order's page and API show it, and 重试.

The platform clients and the job that fills these rows are ``channels.delivery`` (the channels domain sits above
this one); ``confirm_shipped`` stages that job, and :func:`retry_writeback` stages it again for a failed row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app import outbox
from app.db import iso_utc, utcnow
from app.domain.accounts.services import Actor, audit
from app.domain.fulfillment.confirmation import LEFT, WRITEBACK_JOB
from app.domain.fulfillment.models import PlatformWriteback, Shipment, WritebackStatus
from app.domain.orders import services as orders
from app.domain.orders.models import Order
from app.domain.shops import services as shop_readers
from app.errors import DomainError
from app.i18n import N_, gettext

#: Channels whose platform takes one write-back per order, sent when its last parcel ships (京东 POP, 抖店, 快手: see
#: ``channels.delivery`` for why); the others take each parcel as it ships.
ONCE_PER_ORDER_CHANNELS: Final = frozenset({"jd", "douyin", "kuaishou"})

#: Why a write-back failed, by ``PlatformWriteback.error_code``; ``%(detail)s`` is the platform's own message.
ERROR_MESSAGES: Final[Mapping[str, str]] = {
    "unmapped_carrier": N_(
        "Carrier %(detail)s has no company code on this platform: add it to the write-back carrier table, then retry."
    ),
    "no_api": N_("The shop has no open-API address or credentials (渠道与店铺): set them, then retry."),
    "refused": N_("The platform refused the write-back: %(detail)s"),
    "unreachable": N_("The platform could not be reached after several attempts: %(detail)s"),
}
STATUS_LABELS: Final[Mapping[str, str]] = {
    WritebackStatus.pending: N_("Writing back"),
    WritebackStatus.sent: N_("Written back"),
    WritebackStatus.failed: N_("Write-back failed"),
    WritebackStatus.not_needed: N_("Nothing to write back"),
}


class WritebackRefused(DomainError):
    """A 重试 that cannot be done; nothing was changed."""

    messages: ClassVar[Mapping[str, str]] = {
        "unknown_writeback": N_("This order has no such write-back."),
        "not_failed": N_("Only a failed write-back can be retried: this one is %(state)s."),
    }
    statuses: ClassVar[Mapping[str, int]] = {"unknown_writeback": 404, "not_failed": 409}


async def writebacks_of(session: AsyncSession, order_id: int) -> list[PlatformWriteback]:
    """An order's write-backs, oldest first."""
    query = select(PlatformWriteback).where(PlatformWriteback.order_id == order_id).order_by(col(PlatformWriteback.id))
    return list((await session.exec(query)).all())


async def failed_by_reason(session: AsyncSession) -> dict[str, int]:
    """How many write-backs failed, by why (``error_code``)."""
    rows = await session.exec(
        select(PlatformWriteback.error_code, func.count())
        .where(PlatformWriteback.status == WritebackStatus.failed.value)
        .group_by(col(PlatformWriteback.error_code))
    )
    return {str(code): int(n) for code, n in rows.all()}


@dataclass(frozen=True)
class ShopWithoutApi:
    """A shop whose parcels were not written back because it has no open API set (``no_api``)."""

    shop_id: int
    name: str
    unsent: int


async def shops_without_api(session: AsyncSession) -> list[ShopWithoutApi]:
    """The shops with write-backs failed for want of an open API, most parcels first."""
    unsent = func.count().label("unsent")
    rows = (
        await session.exec(
            select(col(PlatformWriteback.shop_id), unsent)
            .where(PlatformWriteback.status == WritebackStatus.failed.value, PlatformWriteback.error_code == "no_api")
            .group_by(col(PlatformWriteback.shop_id))
            .order_by(unsent.desc(), col(PlatformWriteback.shop_id))
        )
    ).all()
    shops = await shop_readers.shops_by_id(session, [int(shop_id) for shop_id, _ in rows])
    return [
        ShopWithoutApi(int(shop_id), shops[shop_id].name if shop_id in shops else f"#{shop_id}", int(n))
        for shop_id, n in rows
    ]


def error_message(row: PlatformWriteback) -> str:
    """Why a write-back failed, in the reader's language, with the platform's own words (plain text)."""
    if not row.error_code:
        return row.last_error or ""
    template = ERROR_MESSAGES.get(row.error_code)
    if template is None:
        return row.last_error or row.error_code
    return gettext(template) % {"detail": row.last_error or ""}


def status_label(status: str) -> str:
    template = STATUS_LABELS.get(status)
    return gettext(template) if template else status


@dataclass(frozen=True)
class WritebackSection:
    """The 发货回传 section of an order's page: its rows, and whether its platform waits for the last parcel."""

    rows: list[PlatformWriteback]
    waits_for_last_parcel: bool

    @staticmethod
    def status_label(status: str) -> str:
        return status_label(status)

    @staticmethod
    def error(row: PlatformWriteback) -> str:
        return error_message(row)


async def writeback_section(session: AsyncSession, order: Order) -> WritebackSection:
    """What the order's page shows under 发货回传."""
    assert order.id is not None
    rows = await writebacks_of(session, order.id)
    waits = False
    if not rows and order.channel in ONCE_PER_ORDER_CHANNELS:
        shipped = await session.exec(
            select(Shipment.id).where(Shipment.order_id == order.id, col(Shipment.status).in_(LEFT))
        )
        waits = shipped.first() is not None
    return WritebackSection(rows, waits)


def api_writebacks(rows: Sequence[PlatformWriteback]) -> list[dict[str, Any]]:
    """The write-backs as the order API gives them (codes for machines, ``message`` for people)."""
    return [
        {
            "id": str(row.id),
            "shipment": row.shipment_ref,
            "channel": row.channel,
            "waybill_no": row.waybill_no,
            "carrier": row.carrier_code,
            "status": row.status,
            "attempts": row.attempts,
            "retries": row.retries,
            "error": row.error_code or None,
            "message": error_message(row) or None,
            "platform_reply_id": row.reply_id or None,
            "sent_at": iso_utc(row.sent_at),
            "updated_at": iso_utc(row.updated_at),
        }
        for row in rows
    ]


async def retry_writeback(
    session: AsyncSession, order_id: int, writeback_id: int, actor: Actor, ip: str | None = None
) -> PlatformWriteback:
    """重试: a failed write-back is pending again, with a new outbox job; audited and on the order's timeline."""
    query = (
        select(PlatformWriteback)
        .where(PlatformWriteback.id == writeback_id, PlatformWriteback.order_id == order_id)
        .with_for_update()
    )
    row = (await session.exec(query)).first()
    if row is None:
        raise WritebackRefused("unknown_writeback")
    if row.status != WritebackStatus.failed:
        raise WritebackRefused("not_failed", state=status_label(row.status))
    before = {"status": row.status, "error": row.error_code, "attempts": row.attempts}
    row.status = WritebackStatus.pending
    row.attempts = 0
    row.retries += 1
    row.updated_at = utcnow()
    session.add(row)
    await outbox.stage(
        session,
        WRITEBACK_JOB,
        row.shipment_ref,
        dedupe_key=f"writeback:{row.shipment_ref}:retry:{row.id}:{row.retries}",
    )
    order = await session.get(Order, order_id)
    assert order is not None
    await orders.add_event(session, order, "write_back_retried", {"shipment": row.shipment_ref}, actor=actor.name)
    await audit(
        session,
        actor,
        "writeback.retry",
        target_type="shipment",
        target_id=row.shipment_ref,
        before=before,
        after={"status": row.status, "retries": row.retries},
        ip=ip,
    )
    return row


__all__ = [
    "ERROR_MESSAGES",
    "ONCE_PER_ORDER_CHANNELS",
    "STATUS_LABELS",
    "WritebackRefused",
    "WritebackSection",
    "api_writebacks",
    "error_message",
    "retry_writeback",
    "status_label",
    "writeback_section",
    "writebacks_of",
]

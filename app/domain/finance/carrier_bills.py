"""Carrier bills (快递月结账单) → payables: a carrier's monthly bill against the fees we booked for its parcels.

Each line of the bill (waybill number, day, fee) is matched to our shipment of that carrier with that waybill
number. The sale voucher booked the shipment's fee (``Shipment.fee_fen``) as freight payable to the carrier; a
bill that asks more adds the difference (Dr 销售费用—快递运费 / Cr 应付账款—快递费, the carrier as 往来单位), a bill
that asks less takes it back in red. Each waybill's adjustment is one voucher (``carrier_bill:{carrier}:{waybill}``)
for the shipment's order, so importing the bill again, or a later bill naming the same parcel, writes nothing
new and says so. Waybills we have no shipment for are listed. All of it is the caller's transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import ClassVar

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app import sheets
from app.db import CHINA, utcnow
from app.domain.accounts.services import Actor, audit
from app.domain.finance import posting
from app.domain.finance.bill_formats import clean, day_of, fen_of, header_key
from app.domain.finance.entries import Entry
from app.domain.finance.models import LineKind, VoucherKind
from app.domain.fulfillment import carrier_master
from app.domain.fulfillment.models import Carrier, Shipment
from app.domain.orders.models import Order
from app.errors import DomainError, excerpt
from app.i18n import N_

#: Our column -> the header names carriers' bills use for it (中通, 圆通, 韵达, 申通, 顺丰 月结账单 exports).
COLUMNS: Mapping[str, tuple[str, ...]] = {
    "waybill_no": ("运单号", "运单编号", "快递单号", "单号", "waybill_no"),
    "day": ("日期", "发货日期", "寄件日期", "揽收日期", "揽收时间", "寄件时间", "date"),
    "fee": ("运费", "费用", "金额", "应付金额", "结算金额", "总费用", "fee"),
}
REQUIRED = ("waybill_no", "fee")


class CarrierBillError(DomainError):
    messages: ClassVar[Mapping[str, str]] = {
        "file": N_("This bill cannot be read: %(reason)s"),
        "no_carrier": N_("Choose the carrier whose bill this is."),
        "unknown_carrier": N_("There is no carrier %(carrier)s."),
        "no_file": N_("Choose the carrier's bill (CSV or Excel) to import."),
        "columns": N_("The bill's first row lacks the column(s) %(columns)s; a carrier bill has %(expected)s."),
        "repeated": N_("Row %(row)s repeats waybill %(waybill)s of row %(first)s."),
        "no_rows": N_("The bill has a header row but no waybill below it."),
    }


class LineOutcome(StrEnum):
    booked = "booked"  # a voucher for the difference was written
    agrees = "agrees"  # the bill asks what we booked
    already = "already"  # this waybill's difference was booked by an earlier bill
    unknown = "unknown"  # no shipment of this carrier has this waybill number


OUTCOME_LABELS = {
    LineOutcome.booked.value: N_("Difference booked"),
    LineOutcome.agrees.value: N_("Agrees"),
    LineOutcome.already.value: N_("Booked before"),
    LineOutcome.unknown.value: N_("Unknown waybill"),
}


@dataclass(frozen=True)
class BillLine:
    row_no: int
    waybill_no: str
    day: date | None
    fee_fen: int


@dataclass(frozen=True)
class CheckedLine:
    line: BillLine
    outcome: LineOutcome
    booked_fee_fen: int | None = None
    order_external_id: str = ""
    order_id: int | None = None
    voucher_id: int | None = None

    @property
    def difference_fen(self) -> int | None:
        return None if self.booked_fee_fen is None else self.line.fee_fen - self.booked_fee_fen


@dataclass
class CarrierBillResult:
    carrier: Carrier
    filename: str
    lines: list[CheckedLine] = field(default_factory=list)

    def count(self, outcome: LineOutcome) -> int:
        return sum(1 for line in self.lines if line.outcome is outcome)

    @property
    def billed_fen(self) -> int:
        return sum(line.line.fee_fen for line in self.lines)

    @property
    def booked_difference_fen(self) -> int:
        return sum(line.difference_fen or 0 for line in self.lines if line.outcome is LineOutcome.booked)


def read_bill(filename: str, content: bytes) -> list[BillLine]:
    """The bill's lines (waybill, day, fee in fen); blocking: run it in a thread."""
    try:
        sheets.check_upload(filename, content)
        table = sheets.read_table(filename, content)
        first = next(table, None)
        if first is None:
            raise CarrierBillError("no_rows")
        keys = [header_key(cell) for cell in first[1]]
        positions = {
            name: next((keys.index(alias) for alias in aliases if alias in keys), None)
            for name, aliases in COLUMNS.items()
        }
        missing = [COLUMNS[name][0] for name in REQUIRED if positions[name] is None]
        if missing:
            expected = "、".join(COLUMNS[name][0] for name in COLUMNS)
            raise CarrierBillError("columns", columns="、".join(missing), expected=expected)

        def cell(values: Sequence[str], name: str) -> str:
            position = positions[name]
            return clean(values[position]) if position is not None and position < len(values) else ""

        lines: list[BillLine] = []
        seen: dict[str, int] = {}
        for number, values in table:
            waybill = cell(values, "waybill_no")
            if not waybill:
                continue
            if waybill in seen:
                raise CarrierBillError("repeated", row=number, waybill=waybill[:64], first=seen[waybill])
            seen[waybill] = number
            lines.append(
                BillLine(number, waybill[:64], day_of(cell(values, "day")), fen_of(cell(values, "fee"), number, "运费"))
            )
    except sheets.SheetFileError as exc:
        raise CarrierBillError("file", reason=exc.message) from exc
    except DomainError as exc:
        if isinstance(exc, CarrierBillError):
            raise
        raise CarrierBillError("file", reason=exc.message) from exc
    if not lines:
        raise CarrierBillError("no_rows")
    return lines


def checked(
    line: BillLine, outcome: LineOutcome, shipment: Shipment, order: Order | None, voucher_id: int | None = None
) -> CheckedLine:
    """A bill line matched to our shipment (and its order)."""
    return CheckedLine(
        line,
        outcome,
        booked_fee_fen=shipment.fee_fen,
        order_external_id=order.external_id if order else "",
        order_id=shipment.order_id,
        voucher_id=voucher_id,
    )


def source_key(carrier_code: str, waybill_no: str) -> str:
    return f"carrier_bill:{carrier_code}:{waybill_no}"[:120]


def adjustment_entries(difference_fen: int, carrier_name: str, waybill_no: str) -> list[Entry]:
    """Dr freight / Cr freight payable to the carrier for the difference (negative amounts: a red-letter credit)."""
    summary = f"快递账单差额 {waybill_no}"[:200]
    return [
        Entry(LineKind.freight, summary, debit_fen=difference_fen),
        Entry(LineKind.freight_payable, summary, credit_fen=difference_fen, partner=carrier_name),
    ]


async def import_carrier_bill(
    session: AsyncSession,
    actor: Actor,
    carrier_code: str,
    filename: str,
    content: bytes,
    *,
    ip: str | None = None,
) -> CarrierBillResult:
    """Match the carrier's bill to its shipments and book each difference once (the caller's transaction)."""
    if not carrier_code:
        raise CarrierBillError("no_carrier")
    carrier = next((c for c in await carrier_master.list_carriers(session) if c.code == carrier_code), None)
    if carrier is None:
        raise CarrierBillError("unknown_carrier", carrier=excerpt(carrier_code, 32))
    lines = await asyncio.to_thread(read_bill, filename, content)
    shipments: dict[str, Shipment] = {}
    waybills = [line.waybill_no for line in lines]
    for start in range(0, len(waybills), 500):
        query = select(Shipment).where(
            Shipment.carrier_code == carrier.code, col(Shipment.waybill_no).in_(waybills[start : start + 500])
        )
        for found in (await session.exec(query.order_by(col(Shipment.id)))).all():
            shipments.setdefault(found.waybill_no or "", found)
    orders = {
        order.id: order
        for order in (
            await session.exec(select(Order).where(col(Order.id).in_({s.order_id for s in shipments.values()})))
        ).all()
    }
    last_day = max((line.day for line in lines if line.day is not None), default=utcnow().astimezone(CHINA).date())
    result = CarrierBillResult(carrier, filename)
    for line in lines:
        shipment = shipments.get(line.waybill_no)
        if shipment is None:
            result.lines.append(CheckedLine(line, LineOutcome.unknown))
            continue
        order = orders.get(shipment.order_id)

        difference = line.fee_fen - shipment.fee_fen
        if difference == 0:
            result.lines.append(checked(line, LineOutcome.agrees, shipment, order))
            continue
        key = source_key(carrier.code, line.waybill_no)
        voucher = await posting.store_voucher(
            session,
            source_key=key,
            kind=VoucherKind.carrier_bill,
            voucher_date=line.day or last_day,
            summary=f"{carrier.name} 快递账单差额 {line.waybill_no}",
            entries=adjustment_entries(difference, carrier.name, line.waybill_no),
            channel=order.channel if order else "",
            shop_id=order.shop_id if order else None,
            order_id=shipment.order_id,
            red=difference < 0,
        )
        if voucher is None:
            earlier = await posting.voucher_of(session, key)
            result.lines.append(checked(line, LineOutcome.already, shipment, order, earlier.id if earlier else None))
        else:
            result.lines.append(checked(line, LineOutcome.booked, shipment, order, voucher.id))
    await audit(
        session,
        actor,
        "finance.carrier_bill_import",
        target_type="carrier",
        target_id=carrier.code,
        after={
            "filename": filename[-200:],
            "lines": len(result.lines),
            **{outcome.value: result.count(outcome) for outcome in LineOutcome},
            "booked_difference_fen": result.booked_difference_fen,
        },
        ip=ip,
    )
    return result


__all__ = [
    "OUTCOME_LABELS",
    "CarrierBillError",
    "CarrierBillResult",
    "CheckedLine",
    "LineOutcome",
    "adjustment_entries",
    "import_carrier_bill",
    "read_bill",
    "source_key",
]

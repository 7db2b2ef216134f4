"""Many parcels confirmed in one action at the scan station: a whole wave, or a file of waybill numbers.

A batch (:class:`ScanBatch`) keeps the numbers to confirm and is worked through :data:`MAX_WAYBILLS` at a time,
each chunk one request and one transaction through :func:`confirmation.confirm_many` (a savepoint per parcel), so
that a wave of thousands shows its progress and a chunk that fails leaves the chunks before it done. Working a
chunk again is harmless: a parcel already shipped says so and changes nothing. The answers are kept on the batch,
where the result page and its CSV/Excel download read them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.domain.accounts.services import Actor, audit
from app.domain.fulfillment import services
from app.domain.fulfillment.confirmation import MAX_WAYBILLS, confirm_many
from app.domain.fulfillment.models import ScanBatch, Shipment, ShippingDocument
from app.errors import DomainError, excerpt
from app.i18n import N_, gettext
from app.sheets import SheetFileError, check_upload, read_table

#: The headers a file's column of waybill numbers may have (compared without case).
WAYBILL_HEADERS = frozenset({"运单号", "快递单号", "waybill_no"})
#: How the result names each outcome, and the columns of its download.
OUTCOME_LABELS = {"shipped": N_("Shipped"), "already_shipped": N_("Already shipped"), "refused": N_("Refused")}
RESULT_COLUMNS = (N_("Waybill number"), N_("Result"), N_("Parcel"), N_("Units deducted"), N_("Reason"))


class ScanBatchRefused(DomainError):
    """A wave or a file that cannot be confirmed as a whole; nothing was changed."""

    messages: ClassVar[Mapping[str, str]] = {
        "unknown_wave": N_("Warehouse %(warehouse)s has no wave %(wave)s."),
        "empty_wave": N_("Wave %(wave)s of warehouse %(warehouse)s has no waybilled parcel."),
        "wave_changed": N_(
            "Wave %(wave)s of warehouse %(warehouse)s now has %(count)s waybilled parcels: check the number and "
            "confirm again."
        ),
        "file_required": N_("Choose a CSV or Excel file of waybill numbers."),
        "bad_file": N_("This file cannot be read: %(reason)s"),
        "no_waybill_column": N_("The header row (row 1) needs a column 运单号 (or waybill_no)."),
        "no_numbers": N_("The file has no waybill numbers below its header row."),
        "unknown_batch": N_("This confirmation no longer exists."),
    }
    statuses: ClassVar[Mapping[str, int]] = {"unknown_batch": 404, "wave_changed": 409}
    fields: ClassVar[Mapping[str, str]] = {
        "file_required": "file",
        "bad_file": "file",
        "no_waybill_column": "file",
        "no_numbers": "file",
    }


@dataclass(frozen=True)
class WavePreview:
    """What confirming a wave would send: its parcels with waybill numbers, and how many of them wait to leave."""

    warehouse_code: str
    wave: str
    shipments: list[Shipment]

    @property
    def count(self) -> int:
        return len(self.shipments)

    @property
    def waiting(self) -> int:
        return sum(1 for s in self.shipments if s.status == "waybilled")


@dataclass(frozen=True)
class BatchProgress:
    """How far a batch is, and what its answers say so far."""

    total: int
    done: int
    shipped: int
    already_shipped: int
    refused: int

    @property
    def finished(self) -> bool:
        return self.done >= self.total


async def preview_wave(session: AsyncSession, warehouse_code: str, wave: str) -> WavePreview:
    """The wave's parcels that confirming it would send; refused when the warehouse has no such wave."""
    known = await session.exec(
        select(ShippingDocument.id).where(
            ShippingDocument.warehouse_code == warehouse_code, ShippingDocument.wave == wave
        )
    )
    if known.first() is None:
        raise ScanBatchRefused("unknown_wave", warehouse=excerpt(warehouse_code), wave=excerpt(wave))
    return WavePreview(warehouse_code, wave, await services.wave_shipments(session, warehouse_code, wave))


async def start_wave(
    session: AsyncSession, warehouse_code: str, wave: str, expected: str, actor: Actor, now: datetime
) -> ScanBatch:
    """A batch of every waybilled parcel of the wave, once the count the user confirmed (``expected``) is still
    the wave's: a parcel added since the confirmation step would otherwise leave without anyone counting it."""
    preview = await preview_wave(session, warehouse_code, wave)
    if not preview.shipments:
        raise ScanBatchRefused("empty_wave", warehouse=warehouse_code, wave=wave, status=409)
    if expected != str(preview.count):
        raise ScanBatchRefused("wave_changed", warehouse=warehouse_code, wave=wave, count=preview.count)
    numbers = [str(s.waybill_no) for s in preview.shipments]
    return await _open(session, "wave", f"{warehouse_code} · {wave}", numbers, actor, now)


def waybill_numbers_in(filename: str, content: bytes) -> list[str]:
    """The waybill numbers of a CSV or Excel file, in order and each once: the column headed 运单号 (or
    ``waybill_no``) under the spreadsheet reader's limits. Blocking: run it in a thread."""
    try:
        check_upload(filename, content)
        rows = read_table(filename, content)
        header = next(rows, None)
        if header is None:
            raise SheetFileError("empty")
        names = [cell.strip().lower() for cell in header[1]]
        column = next((i for i, name in enumerate(names) if name in WAYBILL_HEADERS), None)
        if column is None:
            raise ScanBatchRefused("no_waybill_column")
        found = [cells[column].strip() for _, cells in rows if column < len(cells)]
    except SheetFileError as exc:
        raise ScanBatchRefused("bad_file", reason=exc.message) from exc
    numbers = list(dict.fromkeys(number for number in found if number))
    if not numbers:
        raise ScanBatchRefused("no_numbers")
    return numbers


async def start_file(session: AsyncSession, filename: str, content: bytes, actor: Actor, now: datetime) -> ScanBatch:
    """A batch of the waybill numbers of an uploaded file (see :func:`waybill_numbers_in`)."""
    numbers = await asyncio.to_thread(waybill_numbers_in, filename, content)
    return await _open(session, "file", excerpt(filename, 200), numbers, actor, now)


async def _open(
    session: AsyncSession, kind: str, label: str, numbers: list[str], actor: Actor, now: datetime
) -> ScanBatch:
    batch = ScanBatch(
        kind=kind,
        label=label,
        waybill_numbers=numbers,
        answers=[],
        created_by=actor.name,
        created_at=now,
        updated_at=now,
    )
    session.add(batch)
    await session.flush()
    await audit(
        session,
        actor,
        "shipment.batch_started",
        target_type="scan_batch",
        target_id=str(batch.id),
        after={"kind": kind, "label": label, "waybills": len(numbers)},
    )
    return batch


async def batch_named(session: AsyncSession, batch_id: int, *, lock: bool = False) -> ScanBatch:
    query = select(ScanBatch).where(ScanBatch.id == batch_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    batch = (await session.exec(query)).first()
    if batch is None:
        raise ScanBatchRefused("unknown_batch")
    return batch


async def advance(
    session: AsyncSession, batch_id: int, actor: Actor, now: datetime, *, ip: str | None = None
) -> ScanBatch:
    """Confirm the batch's next chunk of at most MAX_WAYBILLS numbers; a finished batch is left as it is. The
    batch row is locked first, so that two pages working the same batch never confirm one chunk twice."""
    batch = await batch_named(session, batch_id, lock=True)
    done = len(batch.answers)
    chunk = batch.waybill_numbers[done : done + MAX_WAYBILLS]
    if chunk:
        answers = await confirm_many(session, chunk, actor, now, ip=ip)
        batch.answers = [*batch.answers, *answers]
        batch.updated_at = now
        session.add(batch)
        await session.flush()
    return batch


def progress(batch: ScanBatch) -> BatchProgress:
    outcomes = [answer.get("outcome") for answer in batch.answers]
    return BatchProgress(
        total=len(batch.waybill_numbers),
        done=len(batch.answers),
        shipped=outcomes.count("shipped"),
        already_shipped=outcomes.count("already_shipped"),
        refused=outcomes.count("refused"),
    )


def result_table(batch: ScanBatch) -> tuple[list[str], list[list[Any]]]:
    """The batch's answers as its download shows them: the headers and a row per number done, in the reader's
    language (the outcome named, the reason of a refusal)."""
    rows: list[list[Any]] = []
    for answer in batch.answers:
        outcome = str(answer.get("outcome", ""))
        label = gettext(OUTCOME_LABELS[outcome]) if outcome in OUTCOME_LABELS else outcome
        rows.append(
            [
                str(answer.get("waybill_no", "")),
                label,
                str(answer.get("shipment", "")),
                answer.get("units", "") if outcome != "refused" else "",
                str(answer.get("message", "")),
            ]
        )
    return [gettext(header) for header in RESULT_COLUMNS], rows


def filename_of(batch: ScanBatch, extension: str) -> str:
    """The download's file name: plain ASCII, whatever the label holds."""
    return f"scan-batch-{batch.id}.{extension}"


__all__ = [
    "OUTCOME_LABELS",
    "WAYBILL_HEADERS",
    "BatchProgress",
    "ScanBatchRefused",
    "WavePreview",
    "advance",
    "batch_named",
    "filename_of",
    "preview_wave",
    "progress",
    "result_table",
    "start_file",
    "start_wave",
    "waybill_numbers_in",
]

"""Spreadsheets: reading uploaded .xlsx / .csv files within limits, and master data imported and exported as sheets.

Reading (shared with the order import): a file is at most MAX_FILE_BYTES; an Excel file unpacks to at most
MAX_UNPACKED_BYTES (checked from the archive's directory before anything is unpacked: a zip bomb is refused
unread); at most MAX_ROWS rows of data (blank rows aside) in at most MAX_SHEET_ROWS rows in all, MAX_COLUMNS
columns, MAX_CELLS filled cells, MAX_CELL_CHARS characters a cell. A file over any limit is refused whole.

Master data (SKUs, bundles, shops, carriers, rates, warehouses): a :class:`Sheet` names its columns (a Chinese
header written in files; the English key and aliases are accepted too), how each cell is read into a typed value
and written back, the columns that identify a row, and the service call that saves one row. :func:`import_sheet`
reads every row, reports each bad one as 第 N 行 · 字段: 原因 (N as Excel numbers the row) and, as the user
chose, imports nothing when any row is bad (:attr:`ImportMode.all_or_nothing`) or only the good rows
(:attr:`ImportMode.good_rows`): one transaction either way, each row in a savepoint of its own, so a row the
service refuses leaves nothing behind. :func:`export_workbook` writes an .xlsx the same import reads back
unchanged; :func:`template_workbook` the headers and one example row.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import zipfile
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar, Protocol

from litestar.datastructures import UploadFile
from litestar.response import Response
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from app.domain.accounts.services import Actor, audit
from app.errors import DomainError, excerpt
from app.forms import one
from app.i18n import N_, current_locale, gettext
from app.params import parse_fen, parse_int
from ruleflows import BIDI_CONTROLS

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_UNPACKED_BYTES = 50 * 1024 * 1024
MAX_ARCHIVE_ENTRIES = 1_000
#: XML elements in an Excel file's worksheets and shared strings: a file at MAX_CELLS has about 1.2 million.
#: Parsing costs CPU for each, empty ones too: 50 MB of ``<c/>`` (a 60 KB upload) would cost most of a minute.
MAX_XML_ELEMENTS = 1_500_000
#: XML elements in its other parts (styles, the workbook, chart sheets…): Excel itself keeps at most 64,000 styles.
MAX_OTHER_ELEMENTS = 200_000
MAX_ROWS = 10_000
MAX_SHEET_ROWS = 100_000
MAX_COLUMNS = 60
MAX_CELLS = 300_000
MAX_CELL_CHARS = 5_000

#: The limits as the import pages state them.
LIMITS = {"size": MAX_FILE_BYTES // 1024 // 1024, "rows": f"{MAX_ROWS:,}", "columns": MAX_COLUMNS}
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class SheetFileError(DomainError, ValueError):
    """The file as a whole cannot be read (not CSV/Excel, no header, over a limit); the message says why."""

    messages: ClassVar[Mapping[str, str]] = {
        "empty": N_("the file is empty"),
        "too_large": N_("the file has %(size)s MB; at most %(max)s MB can be imported"),
        "not_excel": N_("not a readable Excel file"),
        "unpacks_too_large": N_("the Excel file unpacks to %(size)s MB; at most %(max)s MB can be imported"),
        "too_many_elements": N_(
            "the Excel file holds more than %(max)s cells and strings; split it and import the parts"
        ),
        "too_many_parts": N_(
            "the Excel file holds more than %(max)s styles, names and other parts besides its cells; copy its cells "
            "into a new workbook and import that"
        ),
        "no_sheet": N_("the workbook has no sheet"),
        "not_text": N_("the CSV is neither UTF-8 nor GBK text"),
        "bad_csv": N_("the CSV cannot be read: %(reason)s"),
        "sheet_too_long": N_("the sheet has more than %(max)s rows"),
        "too_many_columns": N_("row %(row)s has more than %(max)s columns"),
        "too_many_rows": N_("the file has more than %(max)s rows; split it and import the parts"),
        "cell_too_long": N_("row %(row)s has a cell of more than %(max)s characters"),
        "too_many_cells": N_("the file has more than %(max)s filled cells"),
        "wrong_type": N_("only .csv and .xlsx files can be imported"),
        "missing_columns": N_("the header row (row 1) lacks the column(s) %(columns)s"),
        "no_rows": N_("the file has a header row but no rows below it"),
    }


# --- reading a file within the limits --------------------------------------------------------------------


def check_size(content: bytes) -> None:
    if not content:
        raise SheetFileError("empty")
    if len(content) > MAX_FILE_BYTES:
        raise SheetFileError("too_large", size=f"{len(content) / 1024 / 1024:.1f}", max=MAX_FILE_BYTES // 1024 // 1024)


def check_archive(content: bytes) -> None:
    """An Excel file is a zip archive: refuse one that would unpack to more than MAX_UNPACKED_BYTES.

    Only the archive's directory is read. Python's zipfile never inflates an entry beyond the size the
    directory declares, so checking the declared sizes bounds what parsing can unpack.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise SheetFileError("not_excel") from exc
    unpacked = sum(entry.file_size for entry in entries)
    if len(entries) > MAX_ARCHIVE_ENTRIES or unpacked > MAX_UNPACKED_BYTES:
        raise SheetFileError(
            "unpacks_too_large", size=f"{unpacked / 1024 / 1024:,.0f}", max=MAX_UNPACKED_BYTES // 1024 // 1024
        )


#: The first element of an XML part, after its declaration and comments: the part's kind.
_ROOT = re.compile(rb"<(?![?!])(?:[^\s>/:]+:)?([^\s>/]+)")
#: Parts whose elements are the file's cells and strings; openpyxl reads every other part (styles, the workbook,
#: its manifest, chart sheets…) into objects, at several times the cost an element.
_DATA_PARTS = frozenset({b"worksheet", b"sst"})


def check_elements(content: bytes) -> None:
    """Refuse an Excel file whose worksheets and strings hold more than MAX_XML_ELEMENTS elements, or whose other
    parts hold more than MAX_OTHER_ELEMENTS, counted while unpacking (well under a second for 50 MB) before any
    is parsed. Parts are told apart by their first element, not their names: a worksheet may have any name."""
    counts = {True: 0, False: 0}
    limits = {True: MAX_XML_ELEMENTS, False: MAX_OTHER_ELEMENTS}
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            for entry in archive.infolist():
                with archive.open(entry) as part:
                    previous = b""
                    while chunk := part.read(1 << 20):
                        if not previous:
                            root = _ROOT.search(chunk[:4096])
                            data = root is not None and root.group(1) in _DATA_PARTS
                        # each element starts with "<" and its name; "</" ends one (comments and the like are few)
                        counts[data] += chunk.count(b"<") - (previous[-1:] + chunk).count(b"</")
                        previous = chunk
                        if counts[data] > limits[data]:
                            raise SheetFileError(
                                "too_many_elements" if data else "too_many_parts", max=f"{limits[data]:,}"
                            )
    except SheetFileError:
        raise
    except (zipfile.BadZipFile, ValueError, EOFError, RuntimeError, NotImplementedError, OSError) as exc:
        raise SheetFileError("not_excel") from exc


def check_upload(filename: str, content: bytes) -> None:
    """What can be checked of an upload without parsing it: its type, size and (Excel) unpacked size."""
    if not filename.lower().endswith((".csv", ".xlsx")):
        raise SheetFileError("wrong_type")
    check_size(content)
    if filename.lower().endswith(".xlsx"):
        check_archive(content)


def _excel_rows(content: bytes) -> Iterator[Sequence[Any]]:
    from openpyxl import load_workbook

    check_archive(content)
    check_elements(content)
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise SheetFileError("not_excel") from exc
    try:
        sheet = workbook.active
        if sheet is None:
            raise SheetFileError("no_sheet")
        try:
            yield from sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS + 1)
        except Exception as exc:  # a sheet that breaks half-way
            raise SheetFileError("not_excel") from exc
    finally:
        workbook.close()


def _csv_rows(content: bytes) -> Iterator[Sequence[Any]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            decoded = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise SheetFileError("not_text")
    try:
        yield from csv.reader(io.StringIO(decoded))
    except csv.Error as exc:  # a cell over the csv module's own limit, a stray NUL
        raise SheetFileError("bad_csv", reason=str(exc)[:200]) from exc


def cell_text(value: Any) -> str:
    """A cell as text: a whole number Excel keeps as a float (12.0) reads as 12, a time without microseconds."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    return str(value)


def _bounded(rows: Iterable[Sequence[Any]]) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells as text) of the non-blank rows, refusing the file at the first limit it passes."""
    data_rows = cells = 0
    for number, raw in enumerate(rows, start=1):
        if number > MAX_SHEET_ROWS:
            raise SheetFileError("sheet_too_long", max=f"{MAX_SHEET_ROWS:,}")
        values = [cell_text(value) for value in raw]
        if not any(value.strip() for value in values):
            continue
        if len(values) > MAX_COLUMNS and any(value.strip() for value in values[MAX_COLUMNS:]):
            raise SheetFileError("too_many_columns", row=number, max=MAX_COLUMNS)
        data_rows += 1
        if data_rows > MAX_ROWS + 1:  # the header row, then at most MAX_ROWS
            raise SheetFileError("too_many_rows", max=f"{MAX_ROWS:,}")
        if any(len(value) > MAX_CELL_CHARS for value in values):
            raise SheetFileError("cell_too_long", row=number, max=f"{MAX_CELL_CHARS:,}")
        cells += sum(1 for value in values if value)
        if cells > MAX_CELLS:
            raise SheetFileError("too_many_cells", max=f"{MAX_CELLS:,}")
        yield number, values[:MAX_COLUMNS]


def read_table(filename: str, content: bytes) -> Iterator[tuple[int, list[str]]]:
    """The file's non-blank rows as (row number as Excel shows it, cells as text), the header row first;
    Excel (.xlsx) or CSV (UTF-8 or GBK). Blocking: run it in a thread."""
    check_size(content)
    source = _excel_rows(content) if filename.lower().endswith(".xlsx") else _csv_rows(content)
    return _bounded(source)


# --- cells: typed values from text and back ---------------------------------------------------------------


class CellError(DomainError):
    """A cell (or a form field) whose text is not a value of its column; the message says why, without the
    column's name (the row report and the form put it in front)."""

    messages: ClassVar[Mapping[str, str]] = {
        "required": N_("is required"),
        "too_long": N_("has more than %(max)s characters"),
        "not_whole": N_("%(value)s is not a whole number"),
        "below": N_("cannot be less than %(min)s"),
        "negative": N_("cannot be negative"),
        "above": N_("cannot exceed %(max)s"),
        "not_yuan": N_("%(value)s is not an amount in yuan (like 12.50)"),
        "yuan_too_large": N_("cannot exceed %(max)s yuan"),
        "not_choice": N_("%(value)s is not one of %(choices)s"),
        "not_digits": N_("%(value)s must be digits only"),
        "duplicate": N_("repeats row %(row)s"),
        "labelled": N_("%(label)s: %(reason)s"),
        "concurrent": N_("was changed by someone else during the import; import the file again"),
    }


class Cell(Protocol):
    """How one column's text becomes a value (``read``, raising CellError) and a value a cell (``write``)."""

    def read(self, text: str) -> Any: ...

    def write(self, value: Any) -> Any: ...


#: Control characters typed or imported text loses (line breaks and tabs become spaces): no name or code needs
#: one, Excel cannot hold them, so an export would fail, and bidi controls would show a name reversed.
_CONTROLS: dict[int, str | None] = {
    **dict.fromkeys([*range(0x20), *range(0x7F, 0xA0), *map(ord, BIDI_CONTROLS)]),
    **dict.fromkeys(map(ord, "\t\n\v\f\r"), " "),
}


@dataclass(frozen=True)
class Text:
    """Free text, stripped and without control characters; ``required`` refuses a blank one."""

    max_chars: int
    required: bool = False

    def read(self, text: str) -> str:
        value = text.translate(_CONTROLS).strip()
        if self.required and not value:
            raise CellError("required")
        if len(value) > self.max_chars:
            raise CellError("too_long", max=self.max_chars)
        return value

    def write(self, value: Any) -> str:
        return "" if value is None else str(value)


@dataclass(frozen=True)
class Digits(Text):
    """A code of ASCII digits only (a barcode), or blank."""

    def read(self, text: str) -> str:
        value = super().read(text)
        if value and not (value.isascii() and value.isdigit()):
            raise CellError("not_digits", value=excerpt(value, 30))
        return value


@dataclass(frozen=True)
class Whole:
    """A whole number in ASCII digits within the bounds; a blank cell is ``default`` (None: required)."""

    minimum: int = 0
    maximum: int = 10_000_000
    default: int | None = 0

    def read(self, text: str) -> int:
        raw = text.strip()
        if not raw:
            if self.default is None:
                raise CellError("required")
            return self.default
        value = parse_int(raw)
        if value is None:
            raise CellError("not_whole", value=excerpt(raw, 30))
        if value < self.minimum:
            raise CellError("negative") if self.minimum == 0 else CellError("below", min=f"{self.minimum:,}")
        if value > self.maximum:
            raise CellError("above", max=f"{self.maximum:,}")
        return value

    def write(self, value: Any) -> int:
        return int(value)


#: An amount with commas between its thousands.
_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")


@dataclass(frozen=True)
class Yuan:
    """An amount typed in yuan (``12``, ``12.5``, ``12.50``, a leading ¥ allowed) kept in fen."""

    maximum_fen: int = 100_000_000
    default: int = 0

    def read(self, text: str) -> int:
        raw = text.strip().lstrip("¥￥")
        if _THOUSANDS.fullmatch(raw):  # 1,234.50; but 12,50 (a decimal comma) is refused, not read as 1,250
            raw = raw.replace(",", "")
        if not raw:
            return self.default
        if raw.startswith("-"):
            raise CellError("negative")
        fen = parse_fen(raw, maximum=self.maximum_fen)
        if fen is None:
            if parse_fen(raw, maximum=10**14) is not None:
                raise CellError("yuan_too_large", max=f"{self.maximum_fen // 100:,}")
            raise CellError("not_yuan", value=excerpt(raw, 30))
        return fen

    def write(self, value: Any) -> str:
        return f"{Decimal(int(value)) / 100:.2f}"


@dataclass(frozen=True)
class Choice:
    """One of a few values, typed as any of its names (``names``: value -> names, the first written back)."""

    names: Mapping[str, tuple[str, ...]]
    default: str | None = None

    def read(self, text: str) -> str:
        raw = text.strip()
        if not raw and self.default is not None:
            return self.default
        for value, names in self.names.items():
            if raw.lower() in {value.lower(), *(name.lower() for name in names)}:
                return value
        choices = "、".join(names[0] for names in self.names.values())
        raise CellError("not_choice", value=excerpt(raw or "—", 30), choices=choices)

    def write(self, value: Any) -> str:
        key = str(value)
        return self.names[key][0] if key in self.names else key


_FLAG_NAMES = Choice(
    {
        "true": ("启用", "是", "yes", "y", "1", "on", "enabled", "true"),
        "false": ("停用", "否", "no", "n", "0", "off", "disabled", "false"),
    }
)


@dataclass(frozen=True)
class Flag:
    """Enabled or not: 启用 / 停用 as written back; 是/否, true/false, yes/no, 1/0 read too; blank is ``default``."""

    default: bool = True

    def read(self, text: str) -> bool:
        return self.default if not text.strip() else _FLAG_NAMES.read(text) == "true"

    def write(self, value: Any) -> str:
        return _FLAG_NAMES.write("true" if value else "false")


FLAG = Flag()


@dataclass(frozen=True)
class Column:
    """One column of a sheet: ``key`` is the field the service takes (and an accepted English header),
    ``header`` what files carry (Chinese), ``cell`` how its text is read and written, ``example`` the template's
    value. ``required`` columns must be in the header row."""

    key: str
    header: str
    cell: Cell
    example: str = ""
    required: bool = False
    aliases: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """How messages name the column: its header, or in English its key."""
        return self.key if current_locale.get() == "en" else self.header

    def names(self) -> set[str]:
        return {self.header, self.key.lower(), *(alias.lower() for alias in self.aliases)}


def read_values(columns: Sequence[Column], data: Mapping[str, str]) -> dict[str, Any]:
    """Typed values of the columns ``data`` has (a form's fields, or an API body's, by key), read as a sheet's
    cells are; the first bad one raises CellError naming the column (字段: 原因) with ``field`` its key."""
    values: dict[str, Any] = {}
    for column in columns:
        if column.key in data:
            try:
                values[column.key] = column.cell.read(data[column.key])
            except CellError as exc:
                raise CellError("labelled", field=column.key, label=column.label, reason=exc.message) from exc
    return values


# --- master data sheets -----------------------------------------------------------------------------------


class ImportMode(StrEnum):
    all_or_nothing = "all"  # 全部不导入: any bad row and nothing changes
    good_rows = "good"  # 只导入正确的行: the good rows land, the bad ones are listed


class Outcome(StrEnum):
    created = "created"
    updated = "updated"
    unchanged = "unchanged"


#: Saves one row (typed values by column key, only the columns the file has) through the domain's service;
#: raises a DomainError (its ``field`` a column key) to refuse the row.
SaveRow = Callable[[AsyncSession, dict[str, Any], Actor], Awaitable[Outcome]]
#: Every stored row as typed values by column key, for the export.
ExportRows = Callable[[AsyncSession], Awaitable[list[dict[str, Any]]]]


@dataclass(frozen=True)
class Sheet:
    """A kind of master data as a spreadsheet."""

    name: str  #: file names: ``<name>.xlsx``, ``<name>-template.xlsx``
    columns: tuple[Column, ...]
    key: tuple[str, ...]  #: the columns that identify a row: a file may not name the same one twice
    save: SaveRow
    rows: ExportRows
    audit_action: str  #: the audit row of a whole import

    def column(self, key: str) -> Column | None:
        return next((c for c in self.columns if c.key == key), None)


@dataclass(frozen=True)
class RowProblem:
    """Why one row was refused: the row as Excel numbers it, the column's label, the reason."""

    row: int
    field: str
    reason: str

    def __str__(self) -> str:
        return gettext("Row %(row)s · %(field)s: %(reason)s") % {
            "row": self.row,
            "field": self.field,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class RowDone:
    row: int
    key: str


@dataclass
class SheetResult:
    """What an import did: rows created, updated, unchanged and refused; ``applied`` False when nothing was
    kept (all-or-nothing with a bad row)."""

    filename: str
    mode: ImportMode
    created: list[RowDone] = field(default_factory=list)
    updated: list[RowDone] = field(default_factory=list)
    unchanged: list[RowDone] = field(default_factory=list)
    refused: list[RowProblem] = field(default_factory=list)
    applied: bool = True

    @property
    def refused_rows(self) -> int:
        return len({p.row for p in self.refused})

    @property
    def changed(self) -> int:
        return len(self.created) + len(self.updated) if self.applied else 0


@dataclass(frozen=True)
class ParsedRow:
    row: int
    values: dict[str, Any]

    def key(self, sheet: Sheet) -> str:
        return " / ".join(str(self.values.get(k, "")) for k in sheet.key)


def parse_sheet(sheet: Sheet, filename: str, content: bytes) -> tuple[list[ParsedRow], list[RowProblem]]:
    """Every row of the file as typed values, and every cell that cannot be read (blocking: run it in a thread).
    A row with a bad cell is left out of the rows; a row repeating an earlier row's key is refused."""
    table = read_table(filename, content)
    first = next(table, None)
    if first is None:
        raise SheetFileError("empty")
    header: list[Column | None] = []
    for name in first[1]:
        cleaned = name.strip().lstrip("*").strip()
        found = next((c for c in sheet.columns if cleaned in c.names() or cleaned.lower() in c.names()), None)
        header.append(None if found in header else found)
    missing = [c.label for c in sheet.columns if c.required and c not in header]
    if missing:
        raise SheetFileError("missing_columns", columns="、".join(missing))
    rows: list[ParsedRow] = []
    problems: list[RowProblem] = []
    seen: dict[str, int] = {}
    for number, cells in table:
        values: dict[str, Any] = {}
        bad = False
        for column, text in zip(header, [*cells, *[""] * (len(header) - len(cells))], strict=False):
            if column is None:
                continue
            try:
                values[column.key] = column.cell.read(text)
            except CellError as exc:
                problems.append(RowProblem(number, column.label, exc.message))
                bad = True
        if bad:
            continue
        parsed = ParsedRow(number, values)
        key = parsed.key(sheet)
        if key in seen:
            label = ", ".join(c.label for c in sheet.columns if c.key in sheet.key)
            problems.append(RowProblem(number, label, CellError("duplicate", row=seen[key]).message))
            continue
        seen[key] = number
        rows.append(parsed)
    if not rows and not problems:
        raise SheetFileError("no_rows")
    return rows, problems


async def import_sheet(
    session: AsyncSession,
    sheet: Sheet,
    filename: str,
    content: bytes,
    mode: ImportMode,
    actor: Actor,
    ip: str | None = None,
) -> SheetResult:
    """Import a file into the caller's transaction: every row through ``sheet.save`` in its own savepoint, all of
    them inside one more that is rolled back when the user chose all-or-nothing and a row is bad. A file that
    cannot be read at all raises SheetFileError and changes nothing."""
    check_upload(filename, content)
    rows, problems = await asyncio.to_thread(parse_sheet, sheet, filename, content)
    result = SheetResult(filename=filename[:200], mode=mode)
    done = {Outcome.created: result.created, Outcome.updated: result.updated, Outcome.unchanged: result.unchanged}
    outer = await session.begin_nested()
    for parsed in rows:
        try:
            async with session.begin_nested():
                outcome = await sheet.save(session, dict(parsed.values), actor)
        except DomainError as exc:
            column = sheet.column(exc.field or "") or sheet.columns[0]
            problems.append(RowProblem(parsed.row, column.label, exc.message))
            continue
        except IntegrityError:  # another import or form saved the same key meanwhile: only this row is undone
            label = ", ".join(c.label for c in sheet.columns if c.key in sheet.key)
            problems.append(RowProblem(parsed.row, label, CellError("concurrent").message))
            continue
        done[outcome].append(RowDone(parsed.row, parsed.key(sheet)))
    result.refused = sorted(problems, key=lambda p: p.row)
    if problems and mode is ImportMode.all_or_nothing:
        await outer.rollback()
        result.applied = False
        return result
    await outer.commit()
    await audit(
        session,
        actor,
        sheet.audit_action,
        target_type="sheet",
        target_id=sheet.name,
        after={
            "filename": result.filename,
            "mode": mode.value,
            "created": [d.key for d in result.created],
            "updated": [d.key for d in result.updated],
            "unchanged": len(result.unchanged),
            "refused_rows": sorted({p.row for p in result.refused}),
        },
        ip=ip,
    )
    return result


class TableWriter:
    """An .xlsx of one sheet written a batch of rows at a time (a long export reports its progress between batches):
    the header row, then the rows; text is written as text, a Decimal as a number with two decimals (yuan)."""

    def __init__(self, name: str, headers: Sequence[str]) -> None:
        from openpyxl import Workbook
        from openpyxl.utils import get_column_letter

        self.workbook = Workbook(write_only=True)
        self.worksheet = self.workbook.create_sheet(name)
        for index, header in enumerate(headers, start=1):
            self.worksheet.column_dimensions[get_column_letter(index)].width = max(12, len(header) * 2 + 4)
        self.append([headers])

    def _cells(self, values: Iterable[Any]) -> list[Any]:
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, WriteOnlyCell

        # openpyxl makes a formula of any text starting with "=" (and an error of "#N/A"), which Excel would then
        # run: a SKU name or outer id a platform or an import gave (=HYPERLINK(...)) is written as text instead.
        # Characters a worksheet cannot hold (kept from platform data) are left out rather than failing the export.
        written = []
        for value in values:
            if isinstance(value, str):
                value = WriteOnlyCell(self.worksheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
                value.data_type = "s"
            elif isinstance(value, Decimal):  # an amount in yuan: a number shown with its two decimals
                value = WriteOnlyCell(self.worksheet, value=value)
                value.number_format = "0.00"
            written.append(value)
        return written

    def append(self, rows: Iterable[Sequence[Any]]) -> None:
        for row in rows:
            self.worksheet.append(self._cells(row))

    def content(self) -> bytes:
        """The finished file (the writer takes no more rows)."""
        out = io.BytesIO()
        self.workbook.save(out)
        return out.getvalue()


def table_workbook(name: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """An .xlsx of one sheet called ``name``: the header row, then the rows (see :class:`TableWriter`)."""
    writer = TableWriter(name, headers)
    writer.append(rows)
    return writer.content()


#: A CSV cell starting with one of these is a formula to Excel and WPS: such text is written after a quote mark.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def table_csv(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """A CSV (UTF-8 with a BOM, so that Excel opens the Chinese right) of the header row and the rows; text that a
    spreadsheet would run as a formula is written as text."""
    out = io.StringIO()
    writer = csv.writer(out)
    for row in (headers, *rows):
        writer.writerow(
            f"'{value}" if isinstance(value, str) and value.startswith(_FORMULA_STARTS) else value for value in row
        )
    return out.getvalue().encode("utf-8-sig")


def _workbook(sheet: Sheet, rows: Iterable[Sequence[Any]]) -> bytes:
    return table_workbook(sheet.name, [column.header for column in sheet.columns], rows)


def export_workbook(sheet: Sheet, rows: Iterable[Mapping[str, Any]]) -> bytes:
    """The rows as an .xlsx with the sheet's headers, which :func:`import_sheet` reads back unchanged."""
    return _workbook(sheet, ([column.cell.write(row[column.key]) for column in sheet.columns] for row in rows))


async def export_sheet(session: AsyncSession, sheet: Sheet) -> bytes:
    """Every stored row of the sheet as an .xlsx."""
    return export_workbook(sheet, await sheet.rows(session))


def template_workbook(sheet: Sheet) -> bytes:
    """An .xlsx with the sheet's headers and one example row, to fill in."""
    return _workbook(sheet, [[column.example for column in sheet.columns]])


# --- the pages' side: an upload in, a workbook out -----------------------------------------------------------


@dataclass(frozen=True)
class UploadOutcome:
    """What an import page shows: the result, or why the file was refused; ``status`` is 400 when nothing was
    kept (the request's transaction then rolls back too)."""

    result: SheetResult | None
    error: str | None

    @property
    def status(self) -> int:
        return 400 if self.error is not None or (self.result is not None and not self.result.applied) else 200


def uploaded_file(data: Mapping[str, Any]) -> UploadFile | None:
    """The ``file`` of a submitted upload form, or None when none was chosen."""
    upload = data.get("file")
    if isinstance(upload, list):
        upload = upload[0] if upload else None
    return upload if isinstance(upload, UploadFile) else None


async def import_upload(
    session: AsyncSession, sheet: Sheet, data: Mapping[str, Any], actor: Actor, ip: str | None = None
) -> UploadOutcome:
    """Import the ``file`` of a submitted upload form in the ``mode`` it chose (``good``: only the correct rows;
    anything else: nothing when a row is bad)."""
    upload = uploaded_file(data)
    if upload is None:
        return UploadOutcome(None, gettext("Choose a CSV or Excel file to import."))
    chosen = one(dict(data), "mode")
    mode = ImportMode.good_rows if chosen == ImportMode.good_rows.value else ImportMode.all_or_nothing
    try:
        result = await import_sheet(
            session, sheet, upload.filename or f"{sheet.name}.csv", await upload.read(), mode, actor, ip
        )
    except SheetFileError as exc:
        return UploadOutcome(None, gettext("This file cannot be imported: %(reason)s") % {"reason": exc.message})
    return UploadOutcome(result, None)


def xlsx_download(content: bytes, filename: str) -> Response[bytes]:
    """An .xlsx for the browser to save as ``filename``."""
    return Response(
        content, media_type=XLSX_MEDIA_TYPE, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


def csv_download(content: bytes, filename: str) -> Response[bytes]:
    """A .csv for the browser to save as ``filename``."""
    return Response(
        content,
        media_type="text/csv",  # Litestar adds the charset to text/ types
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


__all__ = [
    "FLAG",
    "LIMITS",
    "MAX_FILE_BYTES",
    "XLSX_MEDIA_TYPE",
    "Cell",
    "CellError",
    "Choice",
    "Column",
    "Digits",
    "Flag",
    "ImportMode",
    "Outcome",
    "RowDone",
    "RowProblem",
    "Sheet",
    "SheetFileError",
    "SheetResult",
    "TableWriter",
    "Text",
    "UploadOutcome",
    "Whole",
    "Yuan",
    "cell_text",
    "check_upload",
    "csv_download",
    "export_sheet",
    "export_workbook",
    "import_sheet",
    "import_upload",
    "parse_sheet",
    "read_table",
    "read_values",
    "table_csv",
    "table_workbook",
    "template_workbook",
    "uploaded_file",
    "xlsx_download",
]

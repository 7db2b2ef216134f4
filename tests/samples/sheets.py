"""Spreadsheets as a retailer fills them in: an .xlsx of rows, written with openpyxl as Excel would save it."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any

from openpyxl import Workbook


def xlsx(rows: Iterable[Sequence[Any]]) -> bytes:
    """An .xlsx whose first sheet holds ``rows`` (the header row first)."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()

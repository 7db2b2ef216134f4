"""How a report is shown: its cells as the table prints them, as a download writes them, and its chart's data for
``static/js/reports.js`` (names translated here, in the reader's language; values plain numbers)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from app.domain.orders.presentation import CHANNEL_LABELS
from app.domain.processing.queries import hold_code_label
from app.domain.reports.queries import Report, Series
from app.i18n import N_, gettext, label_of
from app.sheets import table_csv, table_workbook
from app.templating import yuan

CENT = Decimal("0.01")
STOCK_STATE_LABELS = {"out": N_("Out of stock"), "low": N_("Below the alert level"), "ok": N_("Enough")}
#: Units of the charts' value axes.
UNIT_LABELS = {
    "yuan": N_("Yuan"),
    "count": N_("Order count"),
    "hits": N_("Hits"),
    "days": N_("Days of cover"),
    "percent": N_("Return rate (%)"),
    "share": N_("Share (%)"),
}


def title_of(report: Report) -> str:
    """The report's title in the reader's language, with the values it names."""
    return gettext(report.title) % report.params if report.params else gettext(report.title)


def note_of(report: Report) -> str:
    """What the report counts, in the reader's language."""
    return gettext(report.note) % report.params if report.params else gettext(report.note)


def headers_of(report: Report) -> list[str]:
    """The table's headings in the reader's language."""
    return [
        gettext(column.header) % report.params if report.params else gettext(column.header) for column in report.columns
    ]


def shown(kind: str, value: Any) -> str:
    """A cell as the page's table prints it."""
    if value is None and kind != "reason":
        return "—"
    if kind == "yuan":
        return yuan(int(value))
    if kind == "count":
        return f"{int(value):,}"
    return _text(kind, value)


def written(kind: str, value: Any) -> Any:
    """A cell as a CSV or Excel download writes it: numbers stay numbers (yuan with two decimals)."""
    if value is None and kind != "reason":
        return ""
    if kind == "yuan":
        return (Decimal(int(value)) / 100).quantize(CENT)
    if kind == "count":
        return int(value)
    if kind == "percent":
        return round(float(value) * 100, 1)
    if kind in ("hours", "days"):
        return round(float(value), 1)
    return _text(kind, value)


def _text(kind: str, value: Any) -> str:
    if kind == "day":
        return str(value.isoformat())
    if kind == "hour":
        return f"{int(value):02d}:00"
    if kind == "channel":
        return label_of(CHANNEL_LABELS, value)
    if kind == "hold_code":
        return hold_code_label(str(value))
    if kind == "stock_state":
        return label_of(STOCK_STATE_LABELS, value)
    if kind == "reason":
        return reason_label(value)
    if kind == "percent":
        return f"{float(value) * 100:.1f}%"
    if kind in ("hours", "days"):
        return f"{float(value):.1f}"
    return str(value)


def reason_label(reason: str | None) -> str:
    """A return's reason as the buyer or platform gave it (never translated); None is a SKU's row of all reasons."""
    if reason is None:
        return gettext("All reasons")
    return reason or gettext("No reason given")


def table_of(report: Report) -> list[list[str]]:
    """The rows as the page prints them."""
    return [
        [shown(column.kind, value) for column, value in zip(report.columns, row, strict=True)] for row in report.rows
    ]


def _series_name(series: Series) -> str:
    if series.name_kind == "channel":
        return label_of(CHANNEL_LABELS, series.name)
    if series.name_kind == "text":
        return series.name
    return gettext(series.name)


def chart_of(report: Report) -> dict[str, Any]:
    """What reports.js draws: the kind, the x axis, each series' translated name and values (yuan for money)."""
    chart = report.chart
    money = chart.unit == "yuan"
    return {
        "kind": chart.kind,
        "title": title_of(report),
        "categories": [_text(chart.category_kind, category) for category in chart.categories],
        "unit": label_of(UNIT_LABELS, chart.unit),
        # Counts are whole: the value axis shows no half orders.
        "whole": chart.unit in ("count", "hits"),
        # A share runs to 100% at most.
        "max": 100 if chart.unit == "share" else None,
        "series": [
            {"name": _series_name(series), "values": [v / 100 if money else v for v in series.values]}
            for series in chart.series
        ],
    }


def download(report: Report, kind: str) -> bytes:
    """The report's table as a CSV (``kind`` "csv") or an Excel workbook, headed like the page's table."""
    rows = [
        [written(column.kind, value) for column, value in zip(report.columns, row, strict=True)] for row in report.rows
    ]
    if kind == "csv":
        return table_csv(headers_of(report), rows)
    return table_workbook(report.key, headers_of(report), rows)

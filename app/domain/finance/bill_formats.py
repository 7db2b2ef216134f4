"""Platforms' settlement bills (结算账单) as merchants download them, read into rows of one shape.

A parser per format, told apart by its header row: the Alipay 账务明细 that Tmall and Taobao shops settle
through, JD's 结算单 and Douyin's 抖店 结算账单. Each row says which platform order (and, where the bill gives
one, which refund) it concerns, whether it is a sale or a refund, its day, and the money it moves: the amount
(what the buyer paid, or what went back) and the commission the platform kept. Rows that concern no order
(withdrawals, transfers, other fees) are counted and left out. Amounts are read in yuan and kept in fen.

Reading is blocking (Excel files): call :func:`parse_bill` in a thread.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from typing import ClassVar

from app import sheets
from app.errors import DomainError, excerpt
from app.i18n import N_, gettext

#: How many rows before the header a bill may have (titles, the account, the period).
MAX_PREAMBLE_ROWS = 30
#: The most any one bill row may move, in fen (a hundred million yuan): a larger figure is a misread column.
MAX_ROW_FEN = 10_000_000_000


class BillFormat(StrEnum):
    alipay = "alipay"  # 支付宝账务明细 (天猫 / 淘宝)
    jd = "jd"  # 京东 结算单
    douyin = "douyin"  # 抖店 结算账单


class RowKind(StrEnum):
    sale = "sale"
    refund = "refund"


#: The channels whose orders each format settles; the first is the one assumed when the upload names none.
FORMAT_CHANNELS: Mapping[BillFormat, tuple[str, ...]] = {
    BillFormat.alipay: ("tmall", "taobao"),
    BillFormat.jd: ("jd",),
    BillFormat.douyin: ("douyin",),
}

FORMAT_LABELS: Mapping[str, str] = {
    BillFormat.alipay.value: N_("Alipay account statement (Tmall / Taobao)"),
    BillFormat.jd.value: N_("JD settlement statement"),
    BillFormat.douyin.value: N_("Douyin shop settlement bill"),
}


class BillError(DomainError):
    """A settlement bill that cannot be read; the message says why and, for an unknown file, what is expected."""

    messages: ClassVar[Mapping[str, str]] = {
        "file": N_("This bill cannot be read: %(reason)s"),
        "unknown_format": N_("This is not a settlement bill we know. Expected the header row of one of: %(expected)s"),
        "bad_amount": N_("Row %(row)s, %(column)s: %(value)s is not an amount in yuan"),
        "no_rows": N_("The bill has a header row but no line that names an order"),
    }


@dataclass(frozen=True)
class BillRow:
    """One row of a bill that concerns an order: a sale's money or commission, or a refund."""

    row_no: int  # as the spreadsheet numbers it
    kind: RowKind
    external_id: str  # the platform's order number
    refund_ref: str  # the platform's refund / after-sales number, "" when the bill gives none
    occurred_on: date | None
    amount_fen: int  # paid by the buyer (sale) or paid back (refund), never negative for a plain row
    commission_fen: int  # kept by the platform (negative when it gives some back)


@dataclass
class ParsedBill:
    format: BillFormat
    rows: list[BillRow]
    #: The period the bill states in its preamble (Alipay does), else None: the rows' days are used then.
    start: date | None = None
    end: date | None = None
    #: Rows that name no order or move other money (withdrawals, transfers, advertising fees).
    skipped: int = 0

    @property
    def channels(self) -> tuple[str, ...]:
        return FORMAT_CHANNELS[self.format]


# --- cells ------------------------------------------------------------------------------------------------


def header_key(text: str) -> str:
    """A header cell as compared: without spaces and tabs, full-width brackets as ASCII ones."""
    return re.sub(r"\s+", "", text).replace("（", "(").replace("）", ")")


def clean(text: str) -> str:
    """A cell's text without the tabs and the leading ` or ' some platforms add to keep Excel off long numbers."""
    return text.strip().strip("\t").strip().lstrip("`'").strip()


_DAY = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})")


def day_of(text: str) -> date | None:
    """The day a cell names (2026-11-30 14:49:39, 2026/11/30, 2026年11月30日), or None."""
    match = _DAY.search(text)
    if match is None:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def fen_of(text: str, row: int, column: str) -> int:
    """An amount in yuan (12.5, -3.00, 1,234.56, ¥8) as fen, rounded half up; a blank cell is 0."""
    raw = clean(text).replace(",", "").replace("¥", "").replace("￥", "").replace("元", "").strip()
    if raw in ("", "-", "--"):
        return 0
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or abs(value) * 100 > MAX_ROW_FEN:
        raise BillError("bad_amount", row=row, column=column, value=excerpt(raw, 30))
    return int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass
class Columns:
    """A header row's positions by our column names; ``get`` reads a row's cell by name."""

    positions: dict[str, int]

    def get(self, values: Sequence[str], name: str) -> str:
        position = self.positions.get(name)
        return clean(values[position]) if position is not None and position < len(values) else ""

    def has(self, name: str) -> bool:
        return name in self.positions


@dataclass(frozen=True)
class Layout:
    """One format: its columns (our name -> the header names it may carry), those it needs, and its reader."""

    format: BillFormat
    columns: Mapping[str, tuple[str, ...]]
    required: tuple[str, ...]
    read: Callable[[Columns, int, Sequence[str]], list[BillRow] | None]

    def match(self, header: Sequence[str]) -> Columns | None:
        keys = [header_key(cell) for cell in header]
        positions: dict[str, int] = {}
        for name, aliases in self.columns.items():
            for alias in aliases:
                if header_key(alias) in keys:
                    positions[name] = keys.index(header_key(alias))
                    break
        return Columns(positions) if all(name in positions for name in self.required) else None

    def expected(self) -> str:
        return "、".join(self.columns[name][0] for name in self.required)


# --- Alipay 账务明细 (Tmall / Taobao) -------------------------------------------------------------------------
# The merchant account statement downloaded from the Alipay merchant site (商家中心 › 账务明细 › 下载, CSV in GBK).
# Its layout, as several public parsers read it (e.g. the comment in rongyifu's CheckDataAliPayImp.java and
# the signcustomer bill tests of an open-source finance agent): '#' lines before and after the table
# (#支付宝账务明细查询, #账号：[…], #起始日期：[2012年12月29日 00:00:00]   终止日期：[…], #导出时间), then the header
# 账务流水号,业务流水号,商户订单号,商品名称,发生时间,对方账号,收入金额（+元）,支出金额（-元）,
# 账户余额（元）,交易渠道,业务类型,备注
# with cells ending in a tab. A Taobao/Tmall trade's 商户订单号 is the trade id behind a T…P prefix
# (T200P5120803044263167809); 业务类型 tells a payment (在线支付, 交易付款) from a refund (交易退款) and the
# platform's fees (服务费 / 佣金, e.g. 天猫佣金 whose 备注 names the trade).

_ALIPAY_TRADE = re.compile(r"^T\d{1,5}P(\d+)$", re.IGNORECASE)
_LONG_NUMBER = re.compile(r"(\d{12,})")
_ALIPAY_PERIOD = re.compile(r"起始日期[:：]?\s*\[([^\]]+)\].*?终止日期[:：]?\s*\[([^\]]+)\]")


def alipay_trade_id(merchant_order_no: str, note: str) -> str:
    """The Taobao/Tmall trade id of an Alipay row: from 商户订单号 (T200P…), else a long number in 备注."""
    match = _ALIPAY_TRADE.match(merchant_order_no)
    if match:
        return match.group(1)
    if merchant_order_no:
        return merchant_order_no
    found = _LONG_NUMBER.search(note)
    return found.group(1) if found else ""


def read_alipay(columns: Columns, row: int, values: Sequence[str]) -> list[BillRow] | None:
    kind_text = columns.get(values, "business_type")
    note = columns.get(values, "note")
    income = fen_of(columns.get(values, "income"), row, "收入金额")
    expense = abs(fen_of(columns.get(values, "expense"), row, "支出金额"))
    if any(word in kind_text for word in ("提现", "转账", "充值")):
        return None
    trade = alipay_trade_id(columns.get(values, "merchant_order_no"), note)
    if not trade:
        return None
    day = day_of(columns.get(values, "occurred_at"))
    if "佣金" in kind_text or "服务费" in kind_text or "佣金" in note:
        kept = expense - income  # a commission given back (收入) goes with the order's refund
        return [BillRow(row, RowKind.sale if kept >= 0 else RowKind.refund, trade, "", day, 0, kept)]
    if "退款" in kind_text:
        return [BillRow(row, RowKind.refund, trade, "", day, expense - income, 0)]
    return [BillRow(row, RowKind.sale, trade, "", day, income - expense, 0)]


ALIPAY = Layout(
    BillFormat.alipay,
    {
        "merchant_order_no": ("商户订单号",),
        "business_type": ("业务类型",),
        "income": ("收入金额(+元)", "收入金额"),
        "expense": ("支出金额(-元)", "支出金额"),
        "occurred_at": ("发生时间",),
        "note": ("备注",),
    },
    ("merchant_order_no", "business_type", "income", "expense"),
    read_alipay,
)


# --- JD 结算单 --------------------------------------------------------------------------------------------------
# The settlement statement of a JD POP shop (商家后台 › 财务 › 结算单 › 明细导出, Excel or CSV): one row per
# order and fee item, as public JD reconciliation scripts read it: 订单编号, 费用名称 (货款, 佣金, 交易服务费,
# 京豆…), 收支方向 (收入 / 支出), 应结金额, 售后服务单号, 商品编号, 商品名称, 费用结算时间. 货款 is the
# order's money (支出 with a 售后服务单号 when it went back), 佣金 the commission; other fees are not compared.


def read_jd(columns: Columns, row: int, values: Sequence[str]) -> list[BillRow] | None:
    order_no = columns.get(values, "order_no")
    fee = columns.get(values, "fee_name")
    if not order_no:
        return None
    amount = fen_of(columns.get(values, "amount"), row, "应结金额")
    direction = columns.get(values, "direction")
    signed = abs(amount) if "收" in direction else -abs(amount) if "支" in direction else amount
    refund_ref = columns.get(values, "aftersale_no")
    day = day_of(columns.get(values, "settled_at"))
    if "佣金" in fee:
        kind = RowKind.refund if refund_ref and signed > 0 else RowKind.sale
        return [BillRow(row, kind, order_no, refund_ref if kind is RowKind.refund else "", day, 0, -signed)]
    if "货款" in fee:
        if signed < 0:
            return [BillRow(row, RowKind.refund, order_no, refund_ref, day, -signed, 0)]
        return [BillRow(row, RowKind.sale, order_no, "", day, signed, 0)]
    return None


JD = Layout(
    BillFormat.jd,
    {
        "order_no": ("订单编号", "订单号"),
        "fee_name": ("费用名称", "费用项"),
        "amount": ("应结金额", "金额"),
        "direction": ("收支方向",),
        "aftersale_no": ("售后服务单号", "售后单号"),
        "settled_at": ("费用结算时间", "结算时间", "账单日期", "费用发生时间", "单据日期"),
    },
    ("order_no", "fee_name", "amount"),
    read_jd,
)


# --- Douyin 抖店 结算账单 ----------------------------------------------------------------------------------------
# The settlement bill of a Douyin shop (抖店 › 资金 › 结算账单 › 导出, CSV), one row per sub-order settled, with the
# columns of the open API's settlement detail (order.getSettleBillDetailV3: settle_time, shop_order_id, order_id,
# real_pay_amount, platform_service_fee, commission, settle_amount, flow_type_desc…) named in Chinese: 结算时间,
# 订单号, 子订单号, 订单实付应结, 平台服务费, 佣金 (the influencer's, not the platform's), 结算金额, 动账类型 /
# 流水类型 (交易 or 退款) and 售后编号. Fees are written as negative amounts. Only 平台服务费 is the platform's
# commission compared with the channel's rate. (Checked against the API's field list, not a downloaded file.)


def read_douyin(columns: Columns, row: int, values: Sequence[str]) -> list[BillRow] | None:
    order_no = columns.get(values, "order_no")
    if not order_no:
        return None
    paid = fen_of(columns.get(values, "paid"), row, "订单实付应结")
    fee = fen_of(columns.get(values, "platform_fee"), row, "平台服务费")
    refund_ref = columns.get(values, "aftersale_no")
    flow = columns.get(values, "flow_type")
    day = day_of(columns.get(values, "settled_at"))
    if "退款" in flow or paid < 0:
        refunded = abs(fen_of(columns.get(values, "refund"), row, "退款金额")) if columns.has("refund") else 0
        return [BillRow(row, RowKind.refund, order_no, refund_ref, day, refunded or abs(paid), -abs(fee))]
    return [BillRow(row, RowKind.sale, order_no, "", day, paid, abs(fee))]


DOUYIN = Layout(
    BillFormat.douyin,
    {
        "order_no": ("订单号", "主订单号", "订单编号"),
        "paid": ("订单实付应结", "实付应结", "订单实付"),
        "platform_fee": ("平台服务费",),
        "settled_at": ("结算时间", "动账时间"),
        "flow_type": ("动账类型", "流水类型", "业务类型"),
        "aftersale_no": ("售后编号", "售后单号"),
        "refund": ("退款金额",),
    },
    ("order_no", "paid", "platform_fee"),
    read_douyin,
)

LAYOUTS: tuple[Layout, ...] = (ALIPAY, JD, DOUYIN)


# --- the file ---------------------------------------------------------------------------------------------


@dataclass
class _Preamble:
    start: date | None = None
    end: date | None = None
    lines: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        period = _ALIPAY_PERIOD.search(text)
        if period:
            self.start, self.end = day_of(period.group(1)), day_of(period.group(2))


def parse_bill(filename: str, content: bytes) -> ParsedBill:
    """The bill's rows that concern orders, its format told from its header row; a BillError says why not."""
    try:
        sheets.check_upload(filename, content)
        table = sheets.read_table(filename, content)
        preamble = _Preamble()
        found: tuple[Layout, Columns] | None = None
        for seen, (_number, values) in enumerate(table):
            first = clean(values[0]) if values else ""
            if first.startswith("#"):
                preamble.note(",".join(values))
                continue
            for layout in LAYOUTS:
                columns = layout.match(values)
                if columns is not None:
                    found = (layout, columns)
                    break
            if found is not None or seen >= MAX_PREAMBLE_ROWS:
                break
            preamble.note(",".join(values))
        if found is None:
            expected = "; ".join(
                f"{gettext(FORMAT_LABELS[layout.format.value])}: {layout.expected()}" for layout in LAYOUTS
            )
            raise BillError("unknown_format", expected=expected)
        layout, columns = found
        bill = ParsedBill(layout.format, [], preamble.start, preamble.end)
        for number, values in table:
            if (clean(values[0]) if values else "").startswith("#"):
                continue  # Alipay's footer: the totals and the export time
            rows = layout.read(columns, number, values)
            if rows is None:
                bill.skipped += 1
            else:
                bill.rows.extend(rows)
    except sheets.SheetFileError as exc:
        raise BillError("file", reason=exc.message) from exc
    if not bill.rows:
        raise BillError("no_rows")
    return bill


__all__ = [
    "FORMAT_CHANNELS",
    "FORMAT_LABELS",
    "LAYOUTS",
    "BillError",
    "BillFormat",
    "BillRow",
    "ParsedBill",
    "RowKind",
    "day_of",
    "fen_of",
    "parse_bill",
]

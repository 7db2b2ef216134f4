"""Finance (业财一体化): vouchers in double entry, the settings an accountant keeps, exports, settlement bills.

Money is integer fen in one currency (CNY). A voucher (凭证) is written once per source (``source_key``: an order's
sale, an after-sales refund, a carrier bill's line), so replaying the event that caused it writes nothing new. Its
totals balance (debits = credits), asserted where it is built and by a CHECK on the table. A red-letter voucher
(红字凭证) reverses a share of an earlier one with negative amounts on the same sides, as Chinese bookkeeping does.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.dbtypes import json_field, utc_field


class LineKind(StrEnum):
    """What a voucher line books; each maps to an account (科目) per channel in :class:`AccountMapping`."""

    receivable = "receivable"  # 应收账款 — the platform (or payment channel) owes us the paid amount
    revenue = "revenue"  # 主营业务收入 — sales, net of output VAT
    output_vat = "output_vat"  # 应交税费—应交增值税(销项税额)
    commission = "commission"  # 销售费用—平台佣金
    commission_payable = "commission_payable"  # 应付账款—平台 (the platform keeps it from the settlement)
    freight = "freight"  # 销售费用—运费
    freight_payable = "freight_payable"  # 应付账款—快递公司
    cost_of_goods = "cost_of_goods"  # 主营业务成本
    gift_cost = "gift_cost"  # 销售费用—赠品
    inventory = "inventory"  # 库存商品
    refund_payable = "refund_payable"  # 应付账款—买家退款 (a refund agreed, paid back through the platform)


class VoucherKind(StrEnum):
    sale = "sale"  # an order delivered or completed: receivable, revenue, VAT, commission, freight, cost
    refund = "refund"  # 红字: an after-sales refund reverses the refunded share of its orders' sale vouchers
    carrier_bill = "carrier_bill"  # a carrier's bill: freight payable


class VoucherStatus(StrEnum):
    draft = "draft"  # 未审核
    approved = "approved"  # 已审核
    exported = "exported"  # 已导出


class PeriodStatus(StrEnum):
    open = "open"
    closed = "closed"  # 已结账: refuses new vouchers; a late event lands in the open period, with a note


class AccountMapping(SQLModel, table=True):
    """科目映射: the account a kind of line is booked to, for one channel (``channel = ""`` is every other)."""

    __tablename__ = "finance_accounts"
    __table_args__ = (UniqueConstraint("line_kind", "channel", name="uq_finance_account_kind_channel"),)

    id: int | None = Field(default=None, primary_key=True)
    line_kind: str = Field(max_length=32)  # LineKind
    channel: str = Field(default="", max_length=32)
    account_code: str = Field(max_length=32)  # e.g. 1122.01
    account_name: str = Field(max_length=100)  # e.g. 应收账款—天猫
    updated_at: datetime = utc_field()


class ChannelFinance(SQLModel, table=True):
    """What finance knows of a channel: the commission the platform keeps and whom the receivable is owed by."""

    __tablename__ = "finance_channels"

    channel: str = Field(primary_key=True, max_length=32)
    #: Platform commission in basis points of the paid amount (500 = 5 %).
    commission_bp: int = 0
    #: 往来单位 of the receivable, e.g. 支付宝(天猫).
    partner: str = Field(default="", max_length=100)
    updated_at: datetime = utc_field()


class TaxRate(SQLModel, table=True):
    """Output VAT by SKU category (``category = ""`` is every other), in basis points (1300 = 13 %)."""

    __tablename__ = "finance_tax_rates"

    category: str = Field(primary_key=True, max_length=64)
    rate_bp: int = 1300
    updated_at: datetime = utc_field()


class Period(SQLModel, table=True):
    """会计期间: a month (``2026-11``), its voucher numbering per word, and whether it is closed."""

    __tablename__ = "finance_periods"

    period: str = Field(primary_key=True, max_length=7)
    status: str = Field(default=PeriodStatus.open.value, max_length=8)  # PeriodStatus
    #: The last number given per voucher word, {"记": 41}.
    last_numbers: dict[str, int] = json_field(nullable=False, default_factory=dict)
    closed_by: str | None = Field(default=None, max_length=64)
    closed_at: datetime | None = utc_field(nullable=True)


class Voucher(SQLModel, table=True):
    """One voucher (记账凭证). Its lines are :class:`VoucherLine`; its totals are theirs and balance."""

    __tablename__ = "vouchers"
    __table_args__ = (
        UniqueConstraint("period", "word", "number", name="uq_voucher_number"),
        CheckConstraint("debit_fen = credit_fen", name="ck_voucher_balanced"),
        Index("ix_vouchers_status_date", "status", "voucher_date"),
    )

    id: int | None = Field(default=None, primary_key=True)
    #: What it was written for, once: sale:order:42, refund:case:7, carrier_bill:3:15.
    source_key: str = Field(max_length=120, unique=True)
    #: The event that caused it (the outbox event id), when one did.
    source_event_id: str | None = Field(default=None, max_length=64)
    kind: str = Field(max_length=16)  # VoucherKind
    red: bool = False  # 红字
    #: The sale voucher a red-letter one reverses a share of (a merged refund's first order's).
    reverses_id: int | None = Field(default=None, foreign_key="vouchers.id")
    period: str = Field(max_length=7, index=True)
    word: str = Field(default="记", max_length=4)  # 凭证字
    number: int
    voucher_date: date = Field(index=True)
    status: str = Field(default=VoucherStatus.draft.value, max_length=16)  # VoucherStatus
    channel: str = Field(default="", max_length=32, index=True)
    shop_id: int | None = Field(default=None, foreign_key="shops.id", index=True)
    order_id: int | None = Field(default=None, foreign_key="orders.id", index=True)
    case_id: int | None = Field(default=None, foreign_key="aftersale_cases.id", index=True)
    summary: str = Field(max_length=200)  # 摘要
    debit_fen: int
    credit_fen: int
    #: Why it is where it is, e.g. its event came after its month was closed.
    note: str = Field(default="", max_length=300)
    created_at: datetime = utc_field()
    approved_by: str | None = Field(default=None, max_length=64)
    approved_at: datetime | None = utc_field(nullable=True)
    exported_by: str | None = Field(default=None, max_length=64)
    exported_at: datetime | None = utc_field(nullable=True)
    export_batch_id: int | None = Field(default=None, foreign_key="voucher_exports.id", index=True)


class VoucherLine(SQLModel, table=True):
    """A line (分录) of a voucher: one side only; a red-letter voucher's amounts are negative."""

    __tablename__ = "voucher_lines"
    __table_args__ = (CheckConstraint("debit_fen = 0 OR credit_fen = 0", name="ck_voucher_line_one_side"),)

    id: int | None = Field(default=None, primary_key=True)
    voucher_id: int = Field(foreign_key="vouchers.id", index=True)
    position: int
    line_kind: str = Field(max_length=32)  # LineKind
    account_code: str = Field(max_length=32)
    account_name: str = Field(max_length=100)
    summary: str = Field(max_length=200)
    debit_fen: int = 0
    credit_fen: int = 0
    #: 往来单位 (a platform, a carrier), for the lines that are owed by or to someone.
    partner: str = Field(default="", max_length=100)
    sku: str | None = Field(default=None, max_length=64)


class MarginDay(SQLModel, table=True):
    """The margins of the orders whose sale voucher is dated ``day``, per channel and shop (0: none), summed over
    all of those orders' vouchers (sale, red-letter refunds, carrier bills). Kept where vouchers are stored
    (``posting.store_voucher`` → ``margins.count_voucher``), so the margin report reads days, not voucher lines."""

    __tablename__ = "finance_margin_days"

    day: date = Field(primary_key=True)
    channel: str = Field(max_length=32, primary_key=True)
    shop_id: int = Field(default=0, primary_key=True)
    #: Orders whose sale voucher is dated that day.
    orders: int = 0
    revenue_fen: int = Field(default=0, sa_type=BigInteger)
    cost_of_goods_fen: int = Field(default=0, sa_type=BigInteger)
    gifts_fen: int = Field(default=0, sa_type=BigInteger)
    commission_fen: int = Field(default=0, sa_type=BigInteger)
    freight_fen: int = Field(default=0, sa_type=BigInteger)


class MarginOrder(SQLModel, table=True):
    """One order's margin, summed over all its vouchers, on the day (channel, shop) of its sale voucher. Kept beside
    :class:`MarginDay` where vouchers are stored, so 订单毛利 sorts the orders of a range by an index instead of
    summing every voucher line of a year."""

    __tablename__ = "finance_order_margins"
    __table_args__ = (
        Index("ix_finance_order_margins_day_margin", "day", "margin_fen"),
        Index("ix_finance_order_margins_margin", "margin_fen", "order_id"),
    )

    order_id: int = Field(primary_key=True)
    day: date
    channel: str = Field(max_length=32)
    shop_id: int = 0
    revenue_fen: int = Field(default=0, sa_type=BigInteger)
    cost_of_goods_fen: int = Field(default=0, sa_type=BigInteger)
    gifts_fen: int = Field(default=0, sa_type=BigInteger)
    commission_fen: int = Field(default=0, sa_type=BigInteger)
    freight_fen: int = Field(default=0, sa_type=BigInteger)
    #: Revenue less the four costs.
    margin_fen: int = Field(default=0, sa_type=BigInteger)


class FinanceEvent(SQLModel, table=True):
    """Each event finance was given, once (its id), and what it did: the voucher it wrote, or why none."""

    __tablename__ = "finance_events"

    event_id: str = Field(primary_key=True, max_length=64)
    type: str = Field(max_length=64)
    order_id: int | None = Field(default=None, index=True)
    case_id: int | None = Field(default=None, index=True)
    voucher_id: int | None = Field(default=None, foreign_key="vouchers.id", index=True)
    #: booked | already_booked (another event wrote its voucher) | nothing_to_book, with why in ``note``.
    outcome: str = Field(max_length=32)
    note: str = Field(default="", max_length=300)
    at: datetime = utc_field()


class ExportTarget(StrEnum):
    kingdee = "kingdee"  # 金蝶云星空 voucher import sheet
    yonyou = "yonyou"  # 用友 U8 / T+ voucher import sheet
    json = "json"  # the API, for other systems


class VoucherExport(SQLModel, table=True):
    """One export batch: which vouchers went where, by whom; a re-export says why (and is audited)."""

    __tablename__ = "voucher_exports"

    id: int | None = Field(default=None, primary_key=True)
    target: str = Field(max_length=16)  # ExportTarget
    created_by: str = Field(max_length=64)
    created_at: datetime = utc_field()
    voucher_ids: list[int] = json_field(nullable=False, default_factory=list)
    voucher_count: int = 0
    debit_fen: int = 0
    credit_fen: int = 0
    re_export_of: int | None = Field(default=None, foreign_key="voucher_exports.id")
    reason: str = Field(default="", max_length=300)
    #: The batch's file (:class:`VoucherExportFile`) is written by a job: pending until it is ready.
    file_status: str = Field(default="ready", max_length=16)  # ExportFileStatus
    #: Rows of the file to write, and written so far (the export page's progress bar).
    file_rows: int = 0
    file_rows_done: int = 0


class ExportFileStatus(StrEnum):
    pending = "pending"  # the job has not written it yet
    ready = "ready"


class VoucherExportFile(SQLModel, table=True):
    """The file of an export batch as it is downloaded (the Kingdee or U8 sheet, or the JSON), kept in the database
    so that any web process serves it."""

    __tablename__ = "voucher_export_files"

    batch_id: int = Field(primary_key=True, foreign_key="voucher_exports.id")
    filename: str = Field(max_length=120)
    media_type: str = Field(max_length=100)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    written_at: datetime = utc_field()


class SettlementImport(SQLModel, table=True):
    """A platform's settlement bill (结算账单) as downloaded: Alipay/Tmall, JD, Douyin."""

    __tablename__ = "settlement_imports"

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    filename: str = Field(max_length=200)
    imported_by: str = Field(max_length=64)
    imported_at: datetime = utc_field()
    line_count: int = 0
    #: Totals per result and per day, as the reconciliation page shows them.
    summary: dict[str, Any] = json_field(nullable=False, default_factory=dict)


class SettlementResult(StrEnum):
    matched = "matched"
    missing = "missing"  # the bill names an order (or refund) we do not have
    amount = "amount"  # the amount differs from ours
    commission = "commission"  # the commission differs from the channel's rate
    not_billed = "not_billed"  # ours, delivered in the bill's days, absent from the bill


class SettlementLine(SQLModel, table=True):
    """One line of a settlement bill and what it matched."""

    __tablename__ = "settlement_lines"
    __table_args__ = (Index("ix_settlement_lines_import_result", "import_id", "result"),)

    id: int | None = Field(default=None, primary_key=True)
    import_id: int = Field(foreign_key="settlement_imports.id", index=True)
    line_no: int
    kind: str = Field(max_length=16)  # sale | refund
    external_id: str = Field(max_length=64)  # the platform's order (or refund) number
    occurred_on: date | None = None
    amount_fen: int = 0
    commission_fen: int = 0
    order_id: int | None = Field(default=None, foreign_key="orders.id")
    case_id: int | None = Field(default=None, foreign_key="aftersale_cases.id")
    expected_amount_fen: int | None = None
    expected_commission_fen: int | None = None
    result: str = Field(max_length=16)  # SettlementResult

"""The settings an accountant keeps, as posting reads them: the chart (科目 per kind of line and channel, the
platforms' commission and 往来单位, VAT per SKU category) and the accounting periods vouchers are numbered in.

A new installation books to a chart that follows the 企业会计准则 account codes (1122 应收账款, 6001 主营业务收入,
2221 应交税费, 6401 主营业务成本, 6601 销售费用, 2202 应付账款, 1405 库存商品), with typical commissions and 13 % VAT:
these defaults live here, and a row in the tables (the finance settings page writes them) overrides one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from sqlalchemy import case
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import insert_rows, utcnow
from app.domain.accounts.services import Actor, audit
from app.domain.finance.models import (
    AccountMapping,
    ChannelFinance,
    LineKind,
    Period,
    PeriodStatus,
    TaxRate,
    Voucher,
    VoucherStatus,
)
from app.domain.inventory.models import Sku
from app.domain.shops.models import Channel
from app.errors import DomainError
from app.i18n import N_

#: The voucher word (凭证字) every voucher is numbered under.
VOUCHER_WORD = "记"

#: Every other channel's account for each kind of line (``channel = ""``).
DEFAULT_ACCOUNTS: dict[LineKind, tuple[str, str]] = {
    LineKind.receivable: ("1122", "应收账款"),
    LineKind.revenue: ("6001", "主营业务收入"),
    LineKind.output_vat: ("2221.01.06", "应交税费—应交增值税—销项税额"),
    LineKind.commission: ("6601.01", "销售费用—平台佣金"),
    LineKind.commission_payable: ("2202.01", "应付账款—平台佣金"),
    LineKind.freight: ("6601.02", "销售费用—快递运费"),
    LineKind.freight_payable: ("2202.02", "应付账款—快递费"),
    LineKind.cost_of_goods: ("6401", "主营业务成本"),
    LineKind.gift_cost: ("6601.03", "销售费用—赠品"),
    LineKind.inventory: ("1405", "库存商品"),
    LineKind.refund_payable: ("2202.03", "应付账款—待退款"),
}

#: What each platform keeps (basis points of the paid amount) and who owes the receivable, until finance says
#: otherwise: typical technical-service fees of 2026 (天猫 5 %, 京东 8 %, 抖店 5 %, 快手 5 %), the payment fee of
#: the channels that only take one (0.6 %), nothing at the tills.
DEFAULT_CHANNELS: dict[Channel, tuple[int, str]] = {
    Channel.taobao: (60, "支付宝(淘宝)"),
    Channel.tmall: (500, "支付宝(天猫)"),
    Channel.jd: (800, "京东"),
    Channel.douyin: (500, "抖音电商"),
    Channel.kuaishou: (500, "快手电商"),
    Channel.youzan: (60, "有赞"),
    Channel.wechat_channels: (500, "微信视频号小店"),
    Channel.wechat_miniprogram: (60, "微信支付"),
    Channel.pos: (0, "门店收银"),
    Channel.webshop: (60, "官网收款"),
    Channel.community_group: (300, "社区团购平台"),
}

CHANNELS = frozenset(c.value for c in Channel)

#: 增值税 on goods (13 %); a category may be set lower (9 % for farm produce, books).
DEFAULT_TAX_BP = 1300


@dataclass(frozen=True)
class Chart:
    """The settings posting needs, read once per booking."""

    accounts: dict[tuple[str, str], tuple[str, str]]
    commissions: dict[str, int]
    partners: dict[str, str]
    tax_rates: dict[str, int]

    def account(self, kind: LineKind, channel: str) -> tuple[str, str]:
        """The (code, name) a line of this kind is booked to on this channel."""
        found = self.accounts.get((kind.value, channel)) or self.accounts.get((kind.value, ""))
        return found or DEFAULT_ACCOUNTS[kind]

    def commission_bp(self, channel: str) -> int:
        if channel in self.commissions:
            return self.commissions[channel]
        return DEFAULT_CHANNELS[Channel(channel)][0] if channel in CHANNELS else 0

    def partner(self, channel: str) -> str:
        if self.partners.get(channel):
            return self.partners[channel]
        return DEFAULT_CHANNELS[Channel(channel)][1] if channel in CHANNELS else channel

    def tax_bp(self, category: str) -> int:
        """VAT of a SKU category; a category not set takes the default row's (``""``)."""
        if category in self.tax_rates:
            return self.tax_rates[category]
        return self.tax_rates.get("", DEFAULT_TAX_BP)


async def load_chart(session: AsyncSession) -> Chart:
    """The chart as it stands: what finance set, and the defaults where it set nothing."""
    mappings = (await session.exec(select(AccountMapping))).all()
    channels = (await session.exec(select(ChannelFinance))).all()
    rates = (await session.exec(select(TaxRate))).all()
    return Chart(
        accounts={(m.line_kind, m.channel): (m.account_code, m.account_name) for m in mappings},
        commissions={c.channel: c.commission_bp for c in channels},
        partners={c.channel: c.partner for c in channels},
        tax_rates={r.category: r.rate_bp for r in rates},
    )


def period_of(day: date) -> str:
    """The accounting period (month) of a day: ``2026-11``."""
    return f"{day.year:04d}-{day.month:02d}"


def _next_month(period: str) -> str:
    year, month = int(period[:4]), int(period[5:7])
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


async def open_period_for(session: AsyncSession, day: date) -> tuple[Period, str]:
    """The open period a voucher dated ``day`` is numbered in, locked for numbering, and a note when it is not the
    day's own month (that month was closed: the voucher lands in the first open month after it)."""
    wanted = period = period_of(day)
    while True:
        await insert_rows(
            session,
            Period,
            [{"period": period, "status": PeriodStatus.open.value, "last_numbers": {}}],
            skip_duplicates_of=("period",),
        )
        row = (await session.exec(select(Period).where(col(Period.period) == period).with_for_update())).one()
        if row.status == PeriodStatus.open.value:
            break
        period = _next_month(period)
    note = "" if period == wanted else f"{wanted} 已结账，记入 {period}"
    return row, note


async def next_number(session: AsyncSession, period: Period, word: str = VOUCHER_WORD) -> int:
    """Give the period's next voucher number of this word (the caller holds the period's row locked)."""
    number = period.last_numbers.get(word, 0) + 1
    period.last_numbers = {**period.last_numbers, word: number}
    session.add(period)
    return number


# --- the settings page's changes ---------------------------------------------------------------------------------


class LedgerError(DomainError):
    """A finance setting that cannot be saved, or a period that cannot be closed or opened."""

    messages: ClassVar[Mapping[str, str]] = {
        "bad_kind": N_("Unknown kind of voucher line: %(kind)s"),
        "bad_channel": N_("Unknown channel: %(channel)s"),
        "bad_code": N_("An account code is digits, optionally in levels separated by dots (6601.01), at most 32"),
        "bad_name": N_("Give the account a name of at most 100 characters"),
        "bad_percent.commission": N_("The commission must be a percentage between 0 and 50, with at most two decimals"),
        "bad_percent.vat": N_("The VAT rate must be a percentage between 0 and 30, with at most two decimals"),
        "bad_partner": N_("The counterparty name is at most 100 characters"),
        "bad_category": N_("A SKU category is at most 64 characters"),
        "default_kept": N_("The default account of a kind of line cannot be removed, only changed"),
        "bad_period": N_("A period is a month written as 2026-11"),
        "drafts_left": N_("%(period)s still has %(count)s vouchers waiting for approval: approve them first"),
        "already.closed": N_("%(period)s is closed already"),
        "already.open": N_("%(period)s is open already"),
    }
    fields: ClassVar[Mapping[str, str]] = {
        "bad_code": "account_code",
        "bad_name": "account_name",
        "bad_percent": "percent",
        "bad_partner": "partner",
        "bad_category": "category",
        "bad_period": "period",
    }


ACCOUNT_CODE = re.compile(r"^[0-9]+(\.[0-9]+)*$")
PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def basis_points(text: str, what: str, *, most: int) -> int:
    """A percentage as typed (``5``, ``5.5``, ``13.00``, ``6%``) in basis points; refused unless 0 ≤ it ≤ ``most``
    (``what`` picks the message: ``commission`` or ``vat``)."""
    try:
        value = Decimal(text.strip().removesuffix("%").strip() or "x")
    except InvalidOperation:
        raise LedgerError("bad_percent", what) from None
    if not value.is_finite() or value < 0 or value > most or value != value.quantize(Decimal("0.01")):
        raise LedgerError("bad_percent", what)
    return int(value * 100)


def _channel(channel: str, *, blank: bool = False) -> str:
    if (blank and channel == "") or channel in {c.value for c in Channel}:
        return channel
    raise LedgerError("bad_channel", channel=channel)


async def save_account(
    session: AsyncSession, actor: Actor, kind: str, channel: str, code: str, name: str, *, ip: str | None = None
) -> AccountMapping:
    """Book a kind of line on one channel (``""``: every channel without its own) to the account ``code name``."""
    if kind not in {k.value for k in LineKind}:
        raise LedgerError("bad_kind", kind=kind)
    channel = _channel(channel, blank=True)
    code, name = code.strip(), name.strip()
    if not ACCOUNT_CODE.match(code) or len(code) > 32:
        raise LedgerError("bad_code")
    if not name or len(name) > 100:
        raise LedgerError("bad_name")
    row = await _mapping(session, kind, channel)
    before = {"account_code": row.account_code, "account_name": row.account_name} if row else None
    if row is None:
        row = AccountMapping(line_kind=kind, channel=channel, account_code=code, account_name=name, updated_at=utcnow())
    row.account_code, row.account_name, row.updated_at = code, name, utcnow()
    session.add(row)
    await session.flush()
    await audit(
        session,
        actor,
        "finance.account_saved",
        target_type="finance_account",
        target_id=f"{kind}:{channel or '*'}",
        before=before,
        after={"account_code": code, "account_name": name},
        ip=ip,
    )
    return row


async def _mapping(session: AsyncSession, kind: str, channel: str) -> AccountMapping | None:
    statement = select(AccountMapping).where(AccountMapping.line_kind == kind, AccountMapping.channel == channel)
    return (await session.exec(statement)).first()


async def remove_account(
    session: AsyncSession, actor: Actor, kind: str, channel: str, *, ip: str | None = None
) -> None:
    """Drop a channel's own account for a kind of line: it books to the default again."""
    if channel == "":
        raise LedgerError("default_kept")
    row = await _mapping(session, kind, channel)
    if row is None:
        return
    await session.delete(row)
    await audit(
        session,
        actor,
        "finance.account_removed",
        target_type="finance_account",
        target_id=f"{kind}:{channel}",
        before={"account_code": row.account_code, "account_name": row.account_name},
        ip=ip,
    )


async def save_channel(
    session: AsyncSession, actor: Actor, channel: str, percent: str, partner: str, *, ip: str | None = None
) -> ChannelFinance:
    """A channel's commission (as a percentage of the paid amount) and the 往来单位 its receivable is owed by."""
    channel = _channel(channel)
    bp = basis_points(percent, "commission", most=50)
    partner = partner.strip()
    if len(partner) > 100:
        raise LedgerError("bad_partner")
    row = await session.get(ChannelFinance, channel)
    before = {"commission_bp": row.commission_bp, "partner": row.partner} if row else None
    row = row or ChannelFinance(channel=channel, updated_at=utcnow())
    row.commission_bp, row.partner, row.updated_at = bp, partner, utcnow()
    session.add(row)
    await session.flush()
    await audit(
        session,
        actor,
        "finance.channel_saved",
        target_type="finance_channel",
        target_id=channel,
        before=before,
        after={"commission_bp": bp, "partner": partner},
        ip=ip,
    )
    return row


async def save_tax_rate(
    session: AsyncSession, actor: Actor, category: str, percent: str, *, ip: str | None = None
) -> TaxRate:
    """The output VAT of a SKU category (``""``: every category without its own)."""
    category = category.strip()
    if len(category) > 64:
        raise LedgerError("bad_category")
    bp = basis_points(percent, "vat", most=30)
    row = await session.get(TaxRate, category)
    before = {"rate_bp": row.rate_bp} if row else None
    row = row or TaxRate(category=category, updated_at=utcnow())
    row.rate_bp, row.updated_at = bp, utcnow()
    session.add(row)
    await session.flush()
    await audit(
        session,
        actor,
        "finance.tax_rate_saved",
        target_type="finance_tax_rate",
        target_id=category or "*",
        before=before,
        after={"rate_bp": bp},
        ip=ip,
    )
    return row


@dataclass(frozen=True)
class PeriodRow:
    period: str
    status: str
    vouchers: int
    drafts: int
    closed_by: str | None
    closed_at: object


async def periods(session: AsyncSession, today: date) -> list[PeriodRow]:
    """Every period with vouchers or a state, and this month, newest first, with their voucher counts."""
    rows = {p.period: p for p in (await session.exec(select(Period))).all()}
    counted = (
        await session.exec(
            select(
                Voucher.period,
                func.count(),
                func.sum(case((col(Voucher.status) == VoucherStatus.draft.value, 1), else_=0)),
            ).group_by(col(Voucher.period))
        )
    ).all()
    counts = {period: (total, int(drafts or 0)) for period, total, drafts in counted}
    names = sorted(set(rows) | set(counts) | {period_of(today)}, reverse=True)
    return [
        PeriodRow(
            period=name,
            status=rows[name].status if name in rows else PeriodStatus.open.value,
            vouchers=counts.get(name, (0, 0))[0],
            drafts=counts.get(name, (0, 0))[1],
            closed_by=rows[name].closed_by if name in rows else None,
            closed_at=rows[name].closed_at if name in rows else None,
        )
        for name in names
    ]


async def set_period_status(
    session: AsyncSession, actor: Actor, period: str, status: PeriodStatus, *, ip: str | None = None
) -> Period:
    """Close a month (结账: no voucher is written into it any more; events of its days land in the next open month)
    once every voucher of it is approved, or open it again (反结账)."""
    if not PERIOD.match(period):
        raise LedgerError("bad_period")
    await insert_rows(
        session,
        Period,
        [{"period": period, "status": PeriodStatus.open.value, "last_numbers": {}}],
        skip_duplicates_of=("period",),
    )
    row = (await session.exec(select(Period).where(col(Period.period) == period).with_for_update())).one()
    if row.status == status.value:
        raise LedgerError("already", status.value, period=period)
    if status == PeriodStatus.closed:
        drafts = (
            await session.exec(
                select(func.count()).where(Voucher.period == period, Voucher.status == VoucherStatus.draft.value)
            )
        ).one()
        if drafts:
            raise LedgerError("drafts_left", period=period, count=drafts)
        row.closed_by, row.closed_at = actor.name, utcnow()
    else:
        row.closed_by, row.closed_at = None, None
    row.status = status.value
    session.add(row)
    await session.flush()
    await audit(
        session,
        actor,
        "finance.period_closed" if status == PeriodStatus.closed else "finance.period_opened",
        target_type="finance_period",
        target_id=period,
        ip=ip,
    )
    return row


PERIOD_STATUS_LABELS: dict[str, str] = {PeriodStatus.open.value: N_("Open"), PeriodStatus.closed.value: N_("Closed")}


async def sku_categories(session: AsyncSession) -> list[str]:
    """The categories the catalogue uses, for the tax-rate rows."""
    rows = (await session.exec(select(Sku.category).where(Sku.category != "").distinct())).all()
    return sorted(rows)


#: What each kind of voucher line is, as the settings page names it.
LINE_KIND_LABELS: dict[str, str] = {
    LineKind.receivable.value: N_("Receivable from the platform"),
    LineKind.revenue.value: N_("Sales revenue (net of VAT)"),
    LineKind.output_vat.value: N_("Output VAT"),
    LineKind.commission.value: N_("Platform commission (expense)"),
    LineKind.commission_payable.value: N_("Platform commission (payable)"),
    LineKind.freight.value: N_("Freight (expense)"),
    LineKind.freight_payable.value: N_("Freight (payable to the carrier)"),
    LineKind.cost_of_goods.value: N_("Cost of goods sold"),
    LineKind.gift_cost.value: N_("Gifts at cost"),
    LineKind.inventory.value: N_("Inventory"),
    LineKind.refund_payable.value: N_("Refunds payable"),
}


@dataclass(frozen=True)
class AccountRow:
    line_kind: str
    channel: str
    account_code: str
    account_name: str


async def settings_view(session: AsyncSession, today: date) -> dict[str, Any]:
    """What the settings page shows, defaults included: the accounts by kind (every channel's first, then the
    channels' own), each channel's commission and counterparty, VAT beside the catalogue's categories, the periods."""
    chart = await load_chart(session)
    by_kind: dict[str, list[AccountRow]] = {}
    for kind in LineKind:
        code, name = chart.account(kind, "")
        own = sorted((ch, found) for (k, ch), found in chart.accounts.items() if k == kind.value and ch)
        by_kind[kind.value] = [AccountRow(kind.value, "", code, name)] + [
            AccountRow(kind.value, ch, c, n) for ch, (c, n) in own
        ]
    categories = sorted(set(await sku_categories(session)) | set(chart.tax_rates) - {""})
    return {
        "accounts": by_kind,
        "channels": [(c.value, chart.commission_bp(c.value), chart.partner(c.value)) for c in Channel],
        "default_rate_bp": chart.tax_bp(""),
        "rates": [(category, chart.tax_rates.get(category)) for category in categories],
        "periods": await periods(session, today),
    }

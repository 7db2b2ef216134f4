"""The settings an accountant keeps, as posting reads them: the chart (科目 per kind of line and channel, the
platforms' commission and 往来单位, VAT per SKU category) and the accounting periods vouchers are numbered in.

A new installation starts from a chart that follows the 企业会计准则 account codes (1122 应收账款, 6001 主营业务收入,
2221 应交税费, 6401 主营业务成本, 6601 销售费用, 2202 应付账款, 1405 库存商品), seeded the first time it is read; the
finance settings page changes it from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import insert_rows, utcnow
from app.domain.finance.models import AccountMapping, ChannelFinance, LineKind, Period, PeriodStatus, TaxRate
from app.domain.shops.models import Channel

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
        return self.commissions.get(channel, 0)

    def partner(self, channel: str) -> str:
        return self.partners.get(channel, "") or channel

    def tax_bp(self, category: str) -> int:
        """VAT of a SKU category; a category not set takes the default row's (``""``)."""
        if category in self.tax_rates:
            return self.tax_rates[category]
        return self.tax_rates.get("", DEFAULT_TAX_BP)


async def ensure_defaults(session: AsyncSession) -> None:
    """Seed the default chart, commissions and tax rate where none are set (each table on its own)."""
    now = utcnow()
    if (await session.exec(select(AccountMapping.id).limit(1))).first() is None:
        for kind, (code, name) in DEFAULT_ACCOUNTS.items():
            session.add(
                AccountMapping(line_kind=kind.value, channel="", account_code=code, account_name=name, updated_at=now)
            )
    if (await session.exec(select(ChannelFinance.channel).limit(1))).first() is None:
        for channel, (bp, partner) in DEFAULT_CHANNELS.items():
            session.add(ChannelFinance(channel=channel.value, commission_bp=bp, partner=partner, updated_at=now))
    if (await session.exec(select(TaxRate.category).limit(1))).first() is None:
        session.add(TaxRate(category="", rate_bp=DEFAULT_TAX_BP, updated_at=now))
    await session.flush()


async def load_chart(session: AsyncSession) -> Chart:
    """The chart as it stands (seeded with the defaults the first time)."""
    await ensure_defaults(session)
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

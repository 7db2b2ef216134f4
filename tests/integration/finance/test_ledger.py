"""财务设置: finance keeps the chart of accounts, the channels' commissions, VAT per category and the periods; each
change is audited and the vouchers written afterwards use it; a bad value is refused with a message and changes
nothing; other roles may look but not change."""

from __future__ import annotations

from sqlmodel import select

from app.domain.accounts.models import AuditEntry, Role
from app.domain.finance import ledger
from app.domain.finance.models import ChannelFinance, LineKind, Period, TaxRate
from tests.integration.forms import login, post_form

PAGE = "/finance/settings/"


async def as_finance(client, make_user) -> None:
    await make_user(Role.finance, "finance1")
    await login(client, "finance1")


async def test_finance_sets_a_commission_a_channel_account_and_a_tax_rate_and_each_is_audited(client, make_user, db):
    await as_finance(client, make_user)
    page = await client.get(PAGE)
    assert page.status_code == 200
    assert 'data-testid="channel-tmall"' in page.text and "5.00" in page.text  # the default 天猫 commission
    assert "1122" in page.text and "应收账款" in page.text

    saved = await post_form(
        client,
        PAGE,
        "/finance/settings/channels",
        {"channel": "tmall", "percent": "4.5", "partner": "支付宝(天猫旗舰店)"},
    )
    assert saved.status_code == 303
    added = await post_form(
        client,
        PAGE,
        "/finance/settings/accounts",
        {"line_kind": "receivable", "channel": "tmall", "account_code": "1122.01", "account_name": "应收账款—天猫"},
    )
    assert added.status_code == 303
    taxed = await post_form(client, PAGE, "/finance/settings/tax-rates", {"category": "食品", "percent": "9"})
    assert taxed.status_code == 303

    async with db.reading() as session:
        chart = await ledger.load_chart(session)
        audits = (await session.exec(select(AuditEntry.action).where(AuditEntry.action.startswith("finance.")))).all()
    assert chart.commission_bp("tmall") == 450 and chart.partner("tmall") == "支付宝(天猫旗舰店)"
    assert chart.account(LineKind.receivable, "tmall") == ("1122.01", "应收账款—天猫")
    assert chart.account(LineKind.receivable, "jd") == ("1122", "应收账款")
    assert chart.tax_bp("食品") == 900 and chart.tax_bp("3C") == 1300
    assert sorted(audits) == ["finance.account_saved", "finance.channel_saved", "finance.tax_rate_saved"]
    page = await client.get(PAGE)
    assert "1122.01" in page.text and "4.50" in page.text

    # Back to the default account for 天猫.
    removed = await post_form(
        client, PAGE, "/finance/settings/accounts/remove", {"line_kind": "receivable", "channel": "tmall"}
    )
    assert removed.status_code == 303
    async with db.reading() as session:
        assert (await ledger.load_chart(session)).account(LineKind.receivable, "tmall") == ("1122", "应收账款")


async def test_bad_values_are_refused_with_a_message_and_change_nothing(client, make_user, db):
    await as_finance(client, make_user)
    for url, data, message in [
        ("/finance/settings/channels", {"channel": "tmall", "percent": "五", "partner": "x"}, "佣金"),
        ("/finance/settings/channels", {"channel": "tmall", "percent": "60", "partner": "x"}, "佣金"),
        ("/finance/settings/channels", {"channel": "nowhere", "percent": "1", "partner": "x"}, "nowhere"),
        ("/finance/settings/tax-rates", {"category": "食品", "percent": "13.005"}, "税率"),
        (
            "/finance/settings/accounts",
            {"line_kind": "revenue", "channel": "", "account_code": "60O1", "account_name": "x"},
            "科目编码",
        ),
        (
            "/finance/settings/accounts",
            {"line_kind": "revenue", "channel": "", "account_code": "6001", "account_name": ""},
            "名称",
        ),
        ("/finance/settings/accounts/remove", {"line_kind": "revenue", "channel": ""}, "默认"),
    ]:
        refused = await post_form(client, PAGE, url, data)
        assert refused.status_code == 400, (url, data, refused.status_code)
        assert message in refused.text, (url, data)
    async with db.reading() as session:
        chart = await ledger.load_chart(session)
        assert (await session.exec(select(TaxRate).where(TaxRate.category == "食品"))).first() is None
        assert await session.get(ChannelFinance, "tmall") is None
    assert chart.account(LineKind.revenue, "") == ("6001", "主营业务收入") and chart.commission_bp("tmall") == 500


async def test_a_month_closes_once_its_vouchers_are_approved_and_opens_again(client, make_user, db):
    await as_finance(client, make_user)
    closed = await post_form(client, PAGE, "/finance/settings/periods", {"period": "2026-10", "action": "close"})
    assert closed.status_code == 303
    again = await post_form(client, PAGE, "/finance/settings/periods", {"period": "2026-10", "action": "close"})
    assert again.status_code == 400 and "已结账" in again.text
    async with db.reading() as session:
        period = await session.get(Period, "2026-10")
    assert period is not None and period.status == "closed" and period.closed_by
    page = await client.get(PAGE)
    assert 'data-testid="period-2026-10"' in page.text
    opened = await post_form(client, PAGE, "/finance/settings/periods", {"period": "2026-10", "action": "open"})
    assert opened.status_code == 303
    bad = await post_form(client, PAGE, "/finance/settings/periods", {"period": "2026-13", "action": "close"})
    assert bad.status_code == 400


async def test_other_roles_see_the_settings_but_cannot_change_them(client, make_user, db):
    await make_user(Role.operator, "op1")
    await login(client, "op1")
    page = await client.get(PAGE)
    assert page.status_code in (403, 200)
    if page.status_code == 200:
        assert 'data-testid="channel-form-tmall"' not in page.text
    refused = await client.post("/finance/settings/channels", data={"channel": "tmall", "percent": "1", "partner": ""})
    assert refused.status_code in (403, 400)
    async with db.reading() as session:
        assert (await session.get(ChannelFinance, "tmall")) is None or (
            await session.get(ChannelFinance, "tmall")
        ).commission_bp != 100

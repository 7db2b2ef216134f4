"""凭证 pages and API: the list with its filters and the filtered set's totals, a voucher's page, 审核 of the ticked
vouchers or of a day's drafts (audited), 反审核 while not exported, who may do what, and bad filters said plainly."""

from __future__ import annotations

import re
from datetime import date

from sqlmodel import col, select

from app.db import Database
from app.domain.accounts.models import AuditEntry, Role, TokenScope
from app.domain.finance.entries import Entry
from app.domain.finance.models import LineKind, Voucher, VoucherKind, VoucherStatus
from tests.integration.finance.conftest import sale_lines
from tests.integration.forms import login, post_form

DAY = date(2026, 11, 3)
NEXT_DAY = date(2026, 11, 4)


def row_ids(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'data-testid="voucher-row" data-id="(\d+)"', html)]


async def stored(db: Database, voucher_id: int) -> Voucher:
    async with db.reading() as session:
        voucher = await session.get(Voucher, voucher_id)
        assert voucher is not None
        return voucher


async def audits(db: Database, action: str) -> list[AuditEntry]:
    async with db.reading() as session:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(col(AuditEntry.id))
        return list((await session.exec(query)).all())


async def finance_user(client, make_user) -> None:
    await make_user(Role.finance, username="finance")
    await login(client, "finance")


async def test_the_list_filters_to_a_day_and_totals_the_whole_filtered_set_in_yuan(client, db, make_user, make_voucher):
    first = await make_voucher(DAY, sale_lines(11300, 500))
    second = await make_voucher(DAY, sale_lines(22600))
    other_day = await make_voucher(NEXT_DAY, sale_lines(5000))
    await finance_user(client, make_user)

    page = await client.get("/finance/vouchers/", params={"date_from": DAY.isoformat(), "date_to": DAY.isoformat()})

    assert page.status_code == 200
    assert sorted(row_ids(page.text)) == [first.id, second.id]
    assert other_day.id not in row_ids(page.text)
    # 113.00 + 5.00 commission on the first, 226.00 on the second
    assert "¥344.00" in page.text
    assert 'data-count="2" data-debit="34400" data-credit="34400"' in page.text


async def test_the_filters_keep_red_letter_kind_status_and_text(client, db, make_user, make_voucher):
    sale = await make_voucher(DAY, summary="销售 天猫订单 TB1001")
    refund_lines = [
        Entry(LineKind.receivable, "退款", debit_fen=-2260),
        Entry(LineKind.revenue, "退款", credit_fen=-2000),
        Entry(LineKind.output_vat, "退款", credit_fen=-260),
    ]
    refund = await make_voucher(
        DAY, refund_lines, summary="红字 退款 TB1001", kind=VoucherKind.refund, red=True, reverses_id=sale.id
    )
    other = await make_voucher(DAY, summary="销售 京东订单 JD2002", channel="jd")
    await finance_user(client, make_user)

    async def shown(**params: str) -> list[int]:
        return sorted(row_ids((await client.get("/finance/vouchers/", params=params)).text))

    assert await shown(red="yes") == [refund.id]
    assert await shown(red="no") == sorted([sale.id, other.id])
    assert await shown(kind="refund") == [refund.id]
    assert await shown(channel="jd") == [other.id]
    assert await shown(q="TB1001") == sorted([sale.id, refund.id])
    assert await shown(status="approved") == []
    assert await shown(period="2026-11") == sorted([sale.id, refund.id, other.id])


async def test_a_bad_day_or_an_unknown_period_is_said_above_an_empty_list(client, db, make_user, make_voucher):
    await make_voucher(DAY)
    await finance_user(client, make_user)

    for params, message in (
        ({"date_from": "2026-13-45"}, "不是"),
        ({"period": "2026-1"}, "不是会计期间"),
        ({"period": "2031-05"}, "没有会计期间 2031-05"),
        ({"date_from": "2026-11-05", "date_to": "2026-11-01"}, "晚于"),
    ):
        page = await client.get("/finance/vouchers/", params=params)
        assert page.status_code == 400, params
        assert 'data-testid="vouchers-error"' in page.text
        assert message in page.text, (params, page.text[page.text.find("vouchers-error") :][:300])
        assert row_ids(page.text) == []


async def test_a_vouchers_page_shows_its_lines_totals_and_the_red_letter_one_reversing_it(
    client, db, make_user, make_voucher
):
    sale = await make_voucher(DAY, sale_lines(11300, 500))
    red = await make_voucher(
        NEXT_DAY,
        [
            Entry(LineKind.receivable, "退款", debit_fen=-1130),
            Entry(LineKind.revenue, "退款", credit_fen=-1000),
            Entry(LineKind.output_vat, "退款", credit_fen=-130),
        ],
        kind=VoucherKind.refund,
        red=True,
        reverses_id=sale.id,
        summary="红字 部分退款",
    )
    await finance_user(client, make_user)

    page = (await client.get(f"/finance/vouchers/{sale.id}")).text
    assert page.count('data-testid="voucher-line"') == 5
    assert "1122" in page and "应收账款" in page and "支付宝(天猫)" in page and "CABLE-C1" in page
    assert re.search(r'data-testid="voucher-debit">¥118.00<', page)
    assert re.search(r'data-testid="voucher-credit">¥118.00<', page)
    assert f"/finance/vouchers/{red.id}" in page  # 被红字冲销

    red_page = (await client.get(f"/finance/vouchers/{red.id}")).text
    assert "红字" in red_page
    assert f"/finance/vouchers/{sale.id}" in red_page
    assert "-¥11.30" in red_page

    missing = await client.get("/finance/vouchers/999999")
    assert missing.status_code == 404


async def test_the_ticked_drafts_are_approved_at_once_and_audited(client, db, make_user, make_voucher):
    first = await make_voucher(DAY)
    second = await make_voucher(DAY)
    untouched = await make_voucher(DAY)
    await finance_user(client, make_user)

    response = await post_form(
        client, "/finance/vouchers/", "/finance/vouchers/approve", {"scope": "checked", "ids": [first.id, second.id]}
    )

    assert response.status_code == 303
    assert "approved=2" in response.headers["location"]
    shown = await client.get(response.headers["location"])
    assert "已审核 2 张凭证" in shown.text
    for voucher in (first, second):
        after = await stored(db, voucher.id)
        assert after.status == VoucherStatus.approved.value
        assert after.approved_by == "finance" and after.approved_at is not None
    assert (await stored(db, untouched.id)).status == VoucherStatus.draft.value
    (entry,) = await audits(db, "finance.vouchers_approved")
    assert entry.actor_name == "finance" and entry.after == {"ids": [first.id, second.id], "count": 2}


async def test_approving_what_is_no_longer_a_draft_says_there_is_nothing_to_approve(
    client, db, make_user, make_voucher
):
    voucher = await make_voucher(DAY)
    await finance_user(client, make_user)
    await post_form(
        client, "/finance/vouchers/", "/finance/vouchers/approve", {"scope": "checked", "ids": [voucher.id]}
    )

    again = await post_form(
        client, "/finance/vouchers/", "/finance/vouchers/approve", {"scope": "checked", "ids": [voucher.id]}
    )
    none = await post_form(client, "/finance/vouchers/", "/finance/vouchers/approve", {"scope": "checked"})

    assert again.status_code == 400 and "没有可审核的凭证" in again.text
    assert none.status_code == 400 and "请先勾选" in none.text
    assert len(await audits(db, "finance.vouchers_approved")) == 1


async def test_all_drafts_of_the_filtered_day_are_approved_and_no_other_day(client, db, make_user, make_voucher):
    today = [await make_voucher(DAY) for _ in range(3)]
    jd_today = await make_voucher(DAY, channel="jd")
    tomorrow = await make_voucher(NEXT_DAY)
    await finance_user(client, make_user)
    query = f"date_from={DAY.isoformat()}&date_to={DAY.isoformat()}&channel=tmall"

    listing = await client.get(f"/finance/vouchers/?{query}")
    assert 'data-testid="approve-day"' in listing.text
    response = await post_form(
        client, f"/finance/vouchers/?{query}", f"/finance/vouchers/approve?{query}", {"scope": "day"}
    )

    assert response.status_code == 303
    assert "approved=3" in response.headers["location"]
    assert [(await stored(db, v.id)).status for v in today] == [VoucherStatus.approved.value] * 3
    assert (await stored(db, jd_today.id)).status == VoucherStatus.draft.value
    assert (await stored(db, tomorrow.id)).status == VoucherStatus.draft.value

    whole_month = await post_form(
        client, "/finance/vouchers/", "/finance/vouchers/approve?period=2026-11", {"scope": "day"}
    )
    assert whole_month.status_code == 400 and "筛选到某一天" in whole_month.text


async def test_an_approved_voucher_goes_back_to_draft_until_it_is_exported(client, db, make_user, make_voucher):
    voucher = await make_voucher(DAY)
    await finance_user(client, make_user)
    url = f"/finance/vouchers/{voucher.id}"
    approved = await post_form(client, url, f"{url}/approve", {})
    assert approved.status_code == 303 and (await stored(db, voucher.id)).status == "approved"

    back = await post_form(client, url, f"{url}/unapprove", {})

    assert back.status_code == 303
    after = await stored(db, voucher.id)
    assert after.status == VoucherStatus.draft.value and after.approved_by is None
    assert len(await audits(db, "finance.voucher_unapproved")) == 1

    await post_form(client, url, f"{url}/approve", {})
    exported = await post_form(
        client, "/finance/exports/", "/finance/exports/", {"target": "kingdee", "period": "2026-11"}
    )
    assert exported.status_code == 303
    refused = await post_form(client, url, f"{url}/unapprove", {})
    assert refused.status_code == 400
    assert "已导出" in refused.text and "不能再退回" in refused.text
    assert (await stored(db, voucher.id)).status == VoucherStatus.exported.value


async def test_a_viewer_cannot_read_vouchers(client, db, make_user, make_voucher):
    await make_voucher(DAY)
    await make_user(Role.viewer, username="looker")
    await login(client, "looker")

    assert (await client.get("/finance/vouchers/")).status_code == 403
    assert (await client.get("/finance/exports/")).status_code == 403


async def test_an_operator_cannot_approve(client, db, make_user, make_voucher):
    voucher = await make_voucher(DAY)
    await make_user(Role.operator, username="clerk")
    await login(client, "clerk")

    refused = await post_form(client, "/", "/finance/vouchers/approve", {"scope": "checked", "ids": [voucher.id]})
    one = await post_form(client, "/", f"/finance/vouchers/{voucher.id}/approve", {})

    assert refused.status_code == 403 and one.status_code == 403
    assert (await stored(db, voucher.id)).status == VoucherStatus.draft.value


async def test_the_api_lists_filtered_vouchers_with_their_lines_for_a_read_token(client, db, make_token, make_voucher):
    sale = await make_voucher(DAY, sale_lines(11300, 500))
    await make_voucher(NEXT_DAY)
    secret = await make_token(TokenScope.read)
    headers = {"Authorization": f"Bearer {secret}"}

    response = await client.get(
        "/api/v1/finance/vouchers", params={"date_from": "2026-11-03", "date_to": "2026-11-03"}, headers=headers
    )

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1 and body["debit_fen"] == 11800 == body["credit_fen"]
    (voucher,) = body["vouchers"]
    assert voucher["id"] == sale.id and voucher["number"] == "2026-11 记-0001" and voucher["debit"] == "118.00"
    assert [line["account_code"] for line in voucher["lines"]] == [
        "1122",
        "6001",
        "2221.01.06",
        "6601.01",
        "2202.01",
    ]
    assert sum(line["debit_fen"] for line in voucher["lines"]) == sum(line["credit_fen"] for line in voucher["lines"])

    bad = await client.get("/api/v1/finance/vouchers", params={"status": "posted"}, headers=headers)
    assert bad.status_code == 400 and bad.json()["error"] == "bad_status"
    unknown = await client.get("/api/v1/finance/vouchers", params={"period": "2031-01"}, headers=headers)
    assert unknown.status_code == 400 and unknown.json()["field"] == "period"
    assert (await client.get("/api/v1/finance/vouchers")).status_code == 401

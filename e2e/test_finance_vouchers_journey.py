"""The finance journey (凭证审核与导出): an admin adds a 社区团购 shop and publishes the four-stage flow for it; a
buyer's paid order arrives by webhook, is routed and waybilled, the warehouse scans it out and the sandbox carrier
reports it signed for (已签收), which books its sale voucher. The finance user (财务) opens 凭证, finds the order's
voucher, filters to its day, approves all of the day's drafts, exports them on 凭证导出 for Kingdee (金蝶云星空), and
the downloaded sheet opens with openpyxl with the template's columns and balanced debits and credits.

The flow is scoped to ``community_group``, as the other journeys that ship orders of their own shop do.
"""

from __future__ import annotations

import re
import secrets
from collections import defaultdict
from decimal import Decimal

from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from e2e.conftest import (
    ARTIFACTS,
    add_shop,
    cable_order,
    create_flow,
    deliver_order,
    log_in,
    log_out,
    publish_for_channel,
    reload_until_visible,
    rotate_webhook_secret,
)

ADMIN = ("admin", "admin-demo-123")
OPERATOR = ("operator", "operator-demo-123")
FINANCE = ("finance", "finance-demo-123")
SHOP = "finance-tuan"
CHANNEL = "community_group"


def test_finance_approves_and_exports_the_days_vouchers_for_kingdee(page: Page) -> None:
    log_in(page, *ADMIN)
    add_shop(page, CHANNEL, SHOP, "社区团购财务测试")
    create_flow(page, "团购订单财务")
    publish_for_channel(page, CHANNEL, "社区团购启用标准四段订单处理（财务）")
    secret = rotate_webhook_secret(page, SHOP)
    external_id = f"FIN-{secrets.token_hex(3)}"
    order_id = deliver_order(
        page, CHANNEL, SHOP, secret, cable_order(external_id, name="周敏", phone=f"137{secrets.randbelow(10**8):08d}")
    )
    reload_until_visible(
        page, f"/orders/{order_id}", page.get_by_test_id("order-status").filter(has_text=re.compile("已打单"))
    )
    waybill = page.get_by_test_id("shipment-waybill").first.inner_text().strip()
    log_out(page)

    # The warehouse ships it; the sandbox carrier says it was signed for.
    log_in(page, *OPERATOR)
    page.goto("/fulfillment/scan")
    page.get_by_test_id("scan-input").fill(waybill)
    page.get_by_test_id("scan-input").press("Enter")
    expect(page.get_by_test_id("scan-shipped")).to_contain_text("订单已发货")
    page.goto(f"/orders/{order_id}")
    page.get_by_test_id("sandbox-delivery").click()
    reload_until_visible(
        page, f"/orders/{order_id}", page.get_by_test_id("order-status").filter(has_text=re.compile("已签收"))
    )
    log_out(page)

    # 财务 opens 凭证 and finds the order's sale voucher, a draft, waiting for the booking job if need be.
    log_in(page, *FINANCE)
    page.get_by_test_id("nav-finance").click()
    page.get_by_test_id("finance-tab-vouchers").click()
    expect(page).to_have_url(re.compile(r"/finance/vouchers"))
    ours = page.get_by_test_id("voucher-row").filter(has_text=external_id)
    reload_until_visible(page, f"/finance/vouchers/?q={external_id}", ours)
    expect(ours.get_by_test_id("voucher-status")).to_have_text("未审核")
    day = ours.get_by_test_id("voucher-date").inner_text().strip()

    # Filtered to that day, every draft of the day is approved at once.
    page.get_by_test_id("filter-q").fill("")
    page.get_by_test_id("filter-date-from").fill(day)
    page.get_by_test_id("filter-date-to").fill(day)
    page.get_by_test_id("filter-submit").click()
    expect(page.get_by_test_id("approve-day")).to_be_visible()
    expect(ours).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "finance-vouchers-day.png"), full_page=True)
    page.get_by_test_id("approve-day").click()
    expect(page.get_by_test_id("vouchers-approved")).to_contain_text("已审核")
    expect(ours.get_by_test_id("voucher-status")).to_have_text("已审核")
    expect(page.locator('[data-testid="voucher-row"][data-status="draft"]')).to_have_count(0)

    # The voucher's page shows its lines, its order and who approved it.
    ours.get_by_test_id("voucher-link").click()
    expect(page.get_by_test_id("voucher-order")).to_contain_text(external_id)
    expect(page.get_by_test_id("voucher-approved")).to_contain_text("finance")
    debit = page.get_by_test_id("voucher-debit").inner_text()
    expect(page.get_by_test_id("voucher-credit")).to_have_text(debit)
    page.screenshot(path=str(ARTIFACTS / "finance-voucher.png"), full_page=True)

    # 凭证导出 for Kingdee, that day: one batch, whose sheet is downloaded.
    page.get_by_test_id("finance-tab-exports").click()
    page.get_by_test_id("export-target").select_option("kingdee")
    page.get_by_test_id("export-date-from").fill(day)
    page.get_by_test_id("export-date-to").fill(day)
    page.get_by_test_id("export-submit").click()
    expect(page.get_by_test_id("export-done")).to_contain_text("已导出")
    batch = page.get_by_test_id("export-batch").first
    expect(batch).to_contain_text("金蝶云星空")
    page.screenshot(path=str(ARTIFACTS / "finance-exports.png"), full_page=True)
    with page.expect_download() as download_info:
        batch.get_by_test_id("batch-download").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".xlsx")
    saved = ARTIFACTS / f"finance-{download.suggested_filename}"
    download.save_as(str(saved))

    rows = [list(row) for row in load_workbook(saved).active.iter_rows(values_only=True)]
    header = rows[0]
    assert header[0] == "FBillHead(GL_VOUCHER)" and {"FACCOUNTID", "FDEBIT", "FCREDIT"} <= set(header)
    debit_at, credit_at = header.index("FDEBIT"), header.index("FCREDIT")
    sums: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    current = ""
    for row in rows[2:]:
        current = str(row[0] or current)
        sums[current][0] += Decimal(str(row[debit_at]))
        sums[current][1] += Decimal(str(row[credit_at]))
    assert sums, "the sheet has no voucher"
    assert all(debit == credit for debit, credit in sums.values())
    assert sum(d for d, _ in sums.values()) == sum(c for _, c in sums.values()) > 0
    assert any(str(row[header.index("FEXPLANATION")] or "").find(external_id) >= 0 for row in rows[2:])

    # Exported vouchers are not exported twice.
    page.get_by_test_id("export-target").select_option("kingdee")
    page.get_by_test_id("export-date-from").fill(day)
    page.get_by_test_id("export-date-to").fill(day)
    page.get_by_test_id("export-submit").click()
    expect(page.get_by_test_id("export-error")).to_contain_text("没有可导出的凭证")

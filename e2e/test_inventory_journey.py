"""The central stock pool journey: an operator sees stock across warehouses with the alerts, narrows the grid to
one category, turns on live refresh for a sale, receives goods for a SKU and transfers some to another
warehouse, and both movements appear in that SKU's ledger; an admin adds a warehouse."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from e2e.conftest import log_in


def test_stock_grid_alerts_live_refresh_receipt_transfer_and_ledger(page: Page) -> None:
    log_in(page, "operator", "operator-demo-123")
    page.get_by_test_id("nav-inventory").click()

    # One picture across warehouses, with the seeded low-stock and channel-shortfall alerts.
    expect(page.get_by_test_id("sku-table")).to_be_visible()
    expect(page.get_by_test_id("stock-row-PHONE-X1")).to_be_visible()
    expect(page.get_by_test_id("low-stock-PHONE-X1")).to_be_visible()
    expect(page.get_by_test_id("shortfall-pos-sh-nanjingxilu-DUMPLING-1K")).to_be_visible()

    # Narrow to beauty products; turn on live refresh for the sale.
    page.get_by_test_id("filter-category").select_option("美妆")
    expect(page.get_by_test_id("stock-row-PHONE-X1")).to_have_count(0)
    expect(page.get_by_test_id("stock-row-SERUM-30")).to_be_visible()
    page.get_by_test_id("live-toggle").check()
    expect(page.get_by_test_id("stock-grid")).to_have_attribute("hx-trigger", "every 5s")

    # Receive 25 serum in Shanghai, then move 5 of them to Beijing.
    page.get_by_test_id("sku-link-SERUM-30").click()
    expect(page.get_by_test_id("sku-title")).to_contain_text("SERUM-30")
    on_hand = page.get_by_test_id("sku-stock-SH01").locator("td").nth(1)
    before = int(on_hand.inner_text())
    page.get_by_test_id("receive-warehouse").select_option("SH01")
    page.get_by_test_id("receive-qty").fill("25")
    page.get_by_test_id("receive-note").fill("补货到仓")
    page.get_by_test_id("receive-submit").click()
    expect(on_hand).to_have_text(str(before + 25))
    page.get_by_test_id("transfer-from").select_option("SH01")
    page.get_by_test_id("transfer-to").select_option("BJ01")
    page.get_by_test_id("transfer-qty").fill("5")
    page.get_by_test_id("transfer-submit").click()
    expect(on_hand).to_have_text(str(before + 20))

    ledger = page.get_by_test_id("sku-ledger").get_by_test_id("ledger-row")
    expect(ledger.nth(0)).to_have_attribute("data-kind", re.compile("transfer_(in|out)"))
    expect(ledger.nth(2)).to_have_attribute("data-kind", "receipt")
    expect(ledger.nth(2)).to_contain_text("补货到仓")

    # Asking for more than is free is refused with the reason, and nothing moves.
    page.get_by_test_id("transfer-qty").fill("999999")
    page.get_by_test_id("transfer-submit").click()
    expect(page.get_by_test_id("inventory-error")).to_contain_text("可用库存不足")
    expect(on_hand).to_have_text(str(before + 20))


def test_an_admin_adds_a_warehouse(page: Page) -> None:
    log_in(page, "admin", "admin-demo-123")
    page.goto("/inventory/")
    page.get_by_test_id("warehouses-link").click()
    page.get_by_test_id("warehouse-new-code").fill("XA01")
    page.get_by_test_id("warehouse-new-name").fill("西安仓")
    page.get_by_test_id("warehouse-new-province").fill("陕西")
    page.get_by_test_id("warehouse-new-regions").fill("西北")
    page.get_by_test_id("warehouse-new-submit").click()
    expect(page.get_by_test_id("warehouse-XA01")).to_be_visible()
    page.get_by_test_id("nav-inventory").click()
    expect(page.get_by_test_id("sku-table")).to_contain_text("西安仓")

"""The store-return journey (就近门店退货): an admin adds a 社区团购 shop and publishes the four-stage flow for it; a
buyer's paid order arrives by webhook, is routed and waybilled, and the warehouse scans it out (已发货). The buyer
brings one cable back to 上海南京西路门店 (SH-S01): at the store counter the clerk finds the order by the last four
digits of the phone and the buyer's name, checks the unit (合格) and takes it back; the page gives the case number
and the refund. The operator then sees the case 已完成 in the 售后 queue, and the stock page shows the unit back on
sale in that store.

The flow is scoped to ``community_group``, as the other journeys that ship orders of their own shop do.
"""

from __future__ import annotations

import re
import secrets

from playwright.sync_api import Page, expect

from e2e.conftest import (
    ARTIFACTS,
    add_shop,
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
SHOP = "return-tuan"
CHANNEL = "community_group"
STORE = "SH-S01"
SKU = "CABLE-C1"


def buyer_order(external_id: str, phone: str) -> dict[str, object]:
    """A paid 社区团购 order in the generic JSON format: two cables to 杭州 for 孙丽."""
    return {
        "order_id": external_id,
        "status": "paid",
        "created_at": "2026-11-20 10:00:00",
        "paid_at": "2026-11-20 10:00:00",
        "updated_at": "2026-11-20 10:00:00",
        "buyer": {"id": f"buyer-{external_id}", "nick": "团购顾客"},
        "receiver": {
            "name": "孙丽",
            "phone": phone,
            "province": "浙江",
            "city": "杭州市",
            "district": "西湖区",
            "address": "文三路 300 号",
        },
        "lines": [{"line_id": "1", "sku": SKU, "title": "数据线", "qty": 2, "unit_price_fen": 2900, "paid_fen": 5800}],
    }


def store_available(page: Page) -> int:
    """What the stock page says is available of the cable in the store (— is none)."""
    page.goto("/inventory/")
    cell = page.get_by_test_id(f"cell-{SKU}-{STORE}")
    expect(cell).to_be_visible()
    bold = cell.locator("b")
    return int(bold.inner_text()) if bold.count() else 0


def test_a_buyer_returns_at_the_store_counter_and_the_unit_is_back_on_sale_there(page: Page) -> None:
    log_in(page, *ADMIN)
    add_shop(page, CHANNEL, SHOP, "社区团购售后测试")
    create_flow(page, "团购订单售后")
    publish_for_channel(page, CHANNEL, "社区团购启用标准四段订单处理")
    secret = rotate_webhook_secret(page, SHOP)
    external_id = f"RET-{secrets.token_hex(3)}"
    # A phone of its own, so that the counter's look-up finds this order only.
    phone = f"139{secrets.randbelow(10**8):08d}"
    order_id = deliver_order(page, CHANNEL, SHOP, secret, buyer_order(external_id, phone))
    reload_until_visible(
        page, f"/orders/{order_id}", page.get_by_test_id("order-status").filter(has_text=re.compile("已打单"))
    )
    waybill = page.get_by_test_id("shipment-waybill").first.inner_text().strip()
    assert waybill and waybill != "—"
    log_out(page)

    log_in(page, *OPERATOR)
    page.goto("/fulfillment/scan")
    page.get_by_test_id("scan-input").fill(waybill)
    page.get_by_test_id("scan-input").press("Enter")
    expect(page.get_by_test_id("scan-shipped")).to_contain_text("订单已发货")
    before = store_available(page)

    # At the counter of 上海南京西路门店: find the order by the phone's last four digits and the name.
    page.get_by_test_id("nav-aftersales").click()
    page.get_by_test_id("store-counter-link").click()
    page.get_by_test_id("store-pick").select_option(STORE)
    page.get_by_test_id("store-phone4").fill(phone[-4:])
    page.get_by_test_id("store-name-input").fill("孙丽")
    page.get_by_test_id("store-find-submit").click()
    found = page.locator(f'[data-testid="store-found-order"][data-external-id="{external_id}"]')
    expect(found).to_contain_text(f"{phone[:3]}****{phone[-4:]}")
    expect(found).not_to_contain_text(phone)
    found.get_by_test_id("store-choose").click()
    expect(page.get_by_test_id("store-name")).to_have_text("上海南京西路门店")
    expect(page.get_by_test_id("store-line")).to_contain_text("¥58.00")
    page.get_by_test_id(f"store-passed-{SKU}").fill("1")
    page.get_by_test_id("store-case-reason").fill("买家到店退货：不需要了")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "aftersales-store-counter.png"), full_page=True)
    page.get_by_test_id("store-take-submit").click()
    result = page.get_by_test_id("store-result")
    expect(result).to_contain_text("退款 ¥29.00")
    ref = result.get_attribute("data-ref") or ""
    assert re.fullmatch(r"AS\d{8}", ref)
    expect(result).to_contain_text(f"售后单 {ref}")
    page.screenshot(path=str(ARTIFACTS / "aftersales-store-result.png"), full_page=True)

    # The operator sees the case closed in the queue, and on its page the store that took the unit.
    page.get_by_test_id("nav-aftersales").click()
    row = page.locator(f'[data-testid="aftersale-row"][data-ref="{ref}"]')
    expect(row.get_by_test_id("aftersale-status")).to_have_text("已完成")
    expect(row.get_by_test_id("aftersale-refund")).to_have_text("¥29.00")
    page.screenshot(path=str(ARTIFACTS / "aftersales-store-queue.png"), full_page=True)
    row.get_by_test_id("aftersale-link").click()
    expect(page.get_by_test_id("case-status")).to_have_text("已完成")
    expect(page.get_by_test_id("case-warehouse")).to_contain_text("上海南京西路门店")
    expect(page.get_by_test_id("case-refund-status")).to_have_text("已退款")
    expect(page.get_by_test_id("case-line").get_by_test_id("line-passed")).to_have_text("1")

    # The order's page lists the case; the stock page shows the unit back on sale in the store.
    page.goto(f"/orders/{order_id}")
    expect(page.locator(f'[data-testid="order-aftersale"][data-ref="{ref}"]')).to_contain_text("已完成")
    assert store_available(page) == before + 1
    page.screenshot(path=str(ARTIFACTS / "aftersales-store-stock.png"), full_page=True)

"""The interception journey (拦截): an admin publishes the four-stage flow for 视频号小店; a paid order arrives, is
routed and gets its waybill from the sandbox carrier, and the warehouse prints its outbound order. The platform then
cancels the order. The warehouse operator sees the red 拦截 banner on the printed document and at the scan station,
where scanning the waybill is refused with 拦截; on 拦截件 they confirm 已拦截，已放回货架, and the SKU's stock page
shows the two units available again.

The flow is scoped to a channel no other journey uses (``wechat_channels``) so that publishing it changes nothing
for the orders other journeys create on the shared live server.
"""

from __future__ import annotations

import re
import secrets
import time

from playwright.sync_api import Page, expect

from e2e.conftest import (
    ARTIFACTS,
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
SHOP = "wechat-channels"
CHANNEL = "wechat_channels"
SKU = "CABLE-C1"


def channels_order(external_id: str, *, status: int, at: int) -> dict[str, object]:
    """A 视频号小店 order (``order/get``): two cables to 杭州; status 20 is paid, 200 cancelled by the platform."""
    return {
        "order_id": external_id,
        "status": status,
        "create_time": at,
        "update_time": at if status == 20 else at + 60,
        "openid": f"o_{external_id}",
        "order_detail": {
            "product_infos": [
                {
                    "product_id": "10001",
                    "sku_id": "20001",
                    "sku_cnt": 2,
                    "out_sku_id": SKU,
                    "title": "数据线",
                    "sale_price": 2900,
                    "real_price": 5800,
                    "is_free_gift": False,
                }
            ],
            "price_info": {"product_price": 5800, "order_price": 5800, "freight": 0, "discounted_price": 0},
            "pay_info": {"pay_time": at},
            "delivery_info": {
                "address_info": {
                    "user_name": "钱芳",
                    "tel_number": "13722223333",
                    "province_name": "浙江省",
                    "city_name": "杭州市",
                    "county_name": "西湖区",
                    "detail_info": "文三路 200 号",
                }
            },
            "ext_info": {"customer_notes": "", "merchant_notes": ""},
        },
    }


def available(page: Page, warehouse: str) -> int:
    """What the SKU's stock page says is available in the warehouse."""
    page.goto(f"/inventory/sku/{SKU}")
    return int(page.get_by_test_id(f"sku-stock-{warehouse}").locator("td").nth(4).inner_text())


def test_a_cancelled_waybilled_parcel_is_intercepted_and_its_stock_comes_back_once_pulled(page: Page) -> None:
    # The browser's print dialog stays shut: the journey checks what the page records, not the printer.
    page.add_init_script("window.print = function () { document.body.dataset.printed = 'yes'; };")
    log_in(page, *ADMIN)
    create_flow(page, "视频号订单拦截")
    publish_for_channel(page, CHANNEL, "视频号小店启用标准四段订单处理")
    secret = rotate_webhook_secret(page, SHOP)
    external_id = f"WXI-{secrets.token_hex(3)}"
    at = int(time.time())
    order_id = deliver_order(page, CHANNEL, SHOP, secret, channels_order(external_id, status=20, at=at))
    reload_until_visible(
        page, f"/orders/{order_id}", page.get_by_test_id("order-status").filter(has_text=re.compile("已打单"))
    )
    waybill = page.get_by_test_id("shipment-waybill").first.inner_text().strip()
    ref = page.get_by_test_id("shipment").first.get_attribute("data-ref")
    warehouse = page.get_by_test_id("shipment-warehouse").first.locator("code").inner_text().strip()
    assert waybill and waybill != "—" and ref
    log_out(page)

    log_in(page, *OPERATOR)
    before_cancel = available(page, warehouse)
    page.goto("/fulfillment/documents")
    row = page.locator(f'[data-testid="document-row"][data-kind="outbound_order"][data-warehouse="{warehouse}"]').first
    document_url = row.get_by_test_id("document-open").get_attribute("href")
    assert document_url
    page.goto(document_url)
    expect(page.get_by_test_id("document-printed")).to_contain_text("未打印")
    expect(page.locator(f'[data-testid="document-shipment"][data-ref="{ref}"]')).to_be_visible()
    page.get_by_test_id("print").click()
    expect(page.get_by_test_id("document-printed")).to_contain_text("由 operator 打印")
    expect(page.locator("body")).to_have_attribute("data-printed", "yes")

    # The platform cancels the order after its waybill.
    deliver_order(page, CHANNEL, SHOP, secret, channels_order(external_id, status=200, at=at))
    banner = page.locator(f'[data-testid="intercept-banner"][data-ref="{ref}"]')
    reload_until_visible(page, document_url, banner)
    expect(banner).to_contain_text("拦截")
    expect(page.locator(f'[data-testid="document-shipment"][data-ref="{ref}"]')).to_contain_text("拦截")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "interception-document.png"), full_page=True)

    page.goto("/fulfillment/scan")
    expect(page.locator(f'[data-testid="intercept-banner"][data-ref="{ref}"]')).to_contain_text("拦截")
    page.get_by_test_id("scan-input").fill(waybill)
    page.get_by_test_id("scan-input").press("Enter")
    expect(page.get_by_test_id("scan-intercepted")).to_contain_text(f"拦截：快递单号 {waybill} 的订单已取消")
    page.screenshot(path=str(ARTIFACTS / "interception-scan.png"), full_page=True)
    # Not shipped, and its two cables still held for it until the warehouse confirms the pull.
    assert available(page, warehouse) == before_cancel

    page.goto("/fulfillment/scan")
    page.get_by_test_id("interceptions-link").click()
    parcel = page.locator(f'[data-testid="interception"][data-ref="{ref}"]')
    expect(parcel).to_be_visible()
    parcel.get_by_test_id("interception-confirm").click()
    expect(page.get_by_test_id("interception-pulled")).to_contain_text("已放回货架：已释放 2 件库存")
    expect(page.locator(f'[data-testid="interception"][data-ref="{ref}"]')).to_have_count(0)

    assert available(page, warehouse) == before_cancel + 2
    expect(page.get_by_test_id("ledger-row").first).to_contain_text(f"拦截件 {ref} 已放回货架")
    page.goto(f"/orders/{order_id}")
    expect(page.get_by_test_id("order-status")).to_have_text("已取消")
    expect(page.get_by_test_id("shipment-intercept")).to_have_text("已拦截，已放回货架")

"""The scan station journey: an admin adds a 社区团购 shop and publishes the four-stage flow for it; a paid order
arrives by webhook, is routed and gets its waybill from the sandbox carrier. A warehouse operator opens 扫描发货
from 发货单据, scans the waybill number: the parcel is shipped (green, units deducted, the order shipped) and the
input is empty for the next parcel; scanned again it says 已发过货 (nothing changed); a wrong number is refused
in red. The order's page then says 已发货.

The flow is scoped to a channel no other journey uses (``community_group``) so that publishing it changes nothing
for the orders other journeys create on the shared live server.
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
SHOP = "scan-tuan"
CHANNEL = "community_group"


def group_order(external_id: str) -> dict[str, object]:
    """A paid 社区团购 order in the generic JSON format: two cables to 杭州."""
    return {
        "order_id": external_id,
        "status": "paid",
        "created_at": "2026-11-11 10:00:00",
        "paid_at": "2026-11-11 10:00:00",
        "updated_at": "2026-11-11 10:00:00",
        "buyer": {"id": f"buyer-{external_id}", "nick": "团购顾客"},
        "receiver": {
            "name": "周婷",
            "phone": "13911112222",
            "province": "浙江",
            "city": "杭州市",
            "district": "西湖区",
            "address": "文三路 100 号",
        },
        "lines": [
            {"line_id": "1", "sku": "CABLE-C1", "title": "数据线", "qty": 2, "unit_price_fen": 2900, "paid_fen": 5800}
        ],
    }


def test_an_operator_scans_a_waybill_and_the_parcel_is_shipped(page: Page) -> None:
    log_in(page, *ADMIN)
    add_shop(page, CHANNEL, SHOP, "社区团购发货测试")
    create_flow(page, "团购订单发货")
    publish_for_channel(page, CHANNEL, "社区团购启用标准四段订单处理")
    secret = rotate_webhook_secret(page, SHOP)
    order_id = deliver_order(page, CHANNEL, SHOP, secret, group_order(f"SCAN-{secrets.token_hex(3)}"))
    reload_until_visible(
        page, f"/orders/{order_id}", page.get_by_test_id("order-status").filter(has_text=re.compile("已打单"))
    )
    waybill = page.get_by_test_id("shipment-waybill").first.inner_text().strip()
    assert waybill and waybill != "—"
    log_out(page)

    log_in(page, *OPERATOR)
    page.goto("/fulfillment/documents")
    page.get_by_test_id("scan-link").click()
    expect(page.get_by_test_id("scan-input")).to_be_focused()
    page.get_by_test_id("scan-input").fill(waybill)
    page.get_by_test_id("scan-input").press("Enter")
    expect(page.get_by_test_id("scan-shipped")).to_contain_text("已扣减 2 件")
    expect(page.get_by_test_id("scan-shipped")).to_contain_text("订单已发货")
    expect(page.get_by_test_id("scan-input")).to_have_value("")
    expect(page.get_by_test_id("scan-input")).to_be_focused()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "scan-shipped.png"), full_page=True)

    page.get_by_test_id("scan-input").fill(waybill)
    page.get_by_test_id("scan-input").press("Enter")
    expect(page.get_by_test_id("scan-already")).to_contain_text("未做任何改动")
    page.get_by_test_id("scan-input").fill("NOPE-0000")
    page.get_by_test_id("scan-submit").click()
    expect(page.get_by_test_id("scan-refused")).to_have_text("没有快递单号为 NOPE-0000 的包裹。")
    page.screenshot(path=str(ARTIFACTS / "scan-refused.png"), full_page=True)

    page.goto(f"/orders/{order_id}")
    expect(page.get_by_test_id("order-status")).to_have_text("已发货")
    expect(page.get_by_test_id("shipment-shipped")).to_have_text("已发货")

"""The manual-review journey: an admin publishes the shipped four-stage flow for the web shop; four paid orders
to one receiver and address arrive by webhook within the hour; the flow holds the fourth as 疑似刷单. An
operator opens 审核, reads why and how the flow decided, clicks 放行, and the order is routed to a warehouse
with a carrier.

The flow is scoped to the web shop (channel ``webshop``) so that publishing it changes nothing for the orders
other journeys create on the shared live server.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import Page, expect

from e2e.conftest import (
    ARTIFACTS,
    deliver_order,
    log_in,
    log_out,
    publish_for_channel,
    reload_until_visible,
    rotate_webhook_secret,
)

ADMIN = ("admin", "admin-demo-123")
OPERATOR = ("operator", "operator-demo-123")
FLOW_NAME = "标准四段订单处理"
HOLD_REASON = "同一地址 24 小时内订单过多"
CHINA = timedelta(hours=8)


def snapshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"review-{name}.png"), full_page=True)


def web_order(external_id: str, placed: datetime, street: str) -> dict[str, Any]:
    """A paid web-shop order in the generic JSON format, to the same receiver and address as its siblings."""
    when = (placed + CHINA).strftime("%Y-%m-%d %H:%M:%S")  # a zone-less time is China time
    return {
        "order_id": external_id,
        "status": "paid",
        "created_at": when,
        "paid_at": when,
        "updated_at": when,
        "buyer": {"id": f"buyer-{external_id}", "nick": "官网买家"},
        "receiver": {
            "name": "孙悦",
            "phone": "13655557777",
            "province": "湖北",
            "city": "武汉市",
            "district": "洪山区",
            "address": street,
        },
        "paid_fen": 7900,
        "lines": [{"line_id": "1", "sku": "TEE-BLK-L", "title": "纯棉T恤 黑色 L", "qty": 1, "unit_price_fen": 7900}],
    }


def test_an_operator_approves_an_order_held_for_too_many_orders_to_one_address(page: Page) -> None:
    page.set_viewport_size({"width": 1400, "height": 1000})

    # The admin scopes the seeded four-stage flow to the web shop and publishes it.
    log_in(page, *ADMIN)
    page.goto("/flows/")
    page.get_by_role("link", name=FLOW_NAME, exact=True).click()
    expect(page.get_by_test_id("flow-editor")).to_have_attribute("data-ready", "yes")
    publish_for_channel(page, "webshop", "官网商城启用标准四段订单处理")

    # A fresh webhook secret for the web shop, shown once.
    secret = rotate_webhook_secret(page, "webshop")
    log_out(page)

    # Four paid orders to one receiver and address within the hour; the fourth is one too many.
    run = secrets.token_hex(3).upper()
    street = f"珞喻路 {int(run, 16) % 900 + 100} 号 {run} 室"
    start = datetime.now(UTC) - timedelta(minutes=50)
    order_ids: dict[str, int] = {}
    for n in range(1, 5):
        external_id = f"E2E-RV-{run}-{n}"
        payload = web_order(external_id, start + timedelta(minutes=10 * n), street)
        order_ids[external_id] = deliver_order(page, "webshop", "webshop", secret, payload)
    fourth = f"E2E-RV-{run}-4"

    # The operator finds it in 审核 with the reason and the path the flow took.
    log_in(page, *OPERATOR)
    page.get_by_test_id("nav-review").click()
    item = page.locator(f'[data-testid="review-item"][data-external-id="{fourth}"]')
    reload_until_visible(page, "/orders/review", item)
    expect(item.get_by_test_id("hold-reason")).to_contain_text(HOLD_REASON)
    expect(item.get_by_test_id("review-receiver")).to_contain_text("136****7777")
    for n in range(1, 4):
        expect(page.locator(f'[data-testid="review-item"][data-external-id="E2E-RV-{run}-{n}"]')).to_have_count(0)
    # The path the flows took is folded under each held order (a long queue stays short); the operator opens it.
    trace = item.get_by_test_id("trace")
    expect(trace).to_be_hidden()
    item.locator("details.review-trace > summary").click()
    expect(trace).to_contain_text("【自动审单】同一地址 24 小时内超过 3 单？")
    same_address = trace.locator('[data-node="audit_same_address"]')
    expect(same_address).to_have_attribute("data-port", "true")
    expect(same_address).to_contain_text("features.same_address_24h")
    expect(same_address.get_by_test_id("trace-exit")).to_contain_text("是")
    expect(trace.locator('[data-node="hold_same_address"]')).to_be_visible()
    item.scroll_into_view_if_needed()
    snapshot(page, "1-queue")

    # 修改地址 opens the form in place; 取消 closes it again (a script file's handler, not an inline one).
    item.get_by_test_id("edit-address").click()
    expect(item.get_by_test_id("address-form")).to_be_visible()
    item.get_by_test_id("address-cancel").click()
    expect(item.get_by_test_id("address-form")).to_have_count(0)

    # 放行: the flows run again knowing a person approved it, and route the order.
    item.get_by_test_id("approve").click()
    expect(item.get_by_test_id("review-notice")).to_contain_text("已放行")
    item.get_by_test_id("review-order-link").click()
    expect(page.get_by_test_id("order-title")).to_contain_text(fourth)
    detail_url = page.url
    assert detail_url.rstrip("/").endswith(f"/orders/{order_ids[fourth]}")
    routed = page.locator('[data-testid="order-processing"][data-state="processed"]')
    reload_until_visible(page, detail_url, routed)
    # Routed (已分配); the waybill job may already have printed its waybill (已打单) by the time we look.
    expect(page.get_by_test_id("order-status")).to_have_text(re.compile(r"已分配|已打单"))
    expect(page.get_by_test_id("processing-warehouse")).not_to_have_text("—")
    expect(page.get_by_test_id("processing-carrier")).not_to_have_text("—")
    shipment = page.get_by_test_id("shipment").first
    expect(shipment.get_by_test_id("shipment-warehouse")).not_to_be_empty()
    expect(shipment.get_by_test_id("shipment-carrier")).not_to_contain_text("未指定")
    expect(shipment).to_contain_text("TEE-BLK-L")
    expect(page.get_by_test_id("order-timeline")).to_contain_text("审核放行")
    run_after = page.get_by_test_id("flow-run").first
    expect(run_after.locator('[data-node="review_approved"]')).to_have_attribute("data-port", "true")
    expect(run_after.get_by_test_id("trace-off-path").first).to_be_visible()
    page.get_by_test_id("order-processing").scroll_into_view_if_needed()
    snapshot(page, "2-routed")

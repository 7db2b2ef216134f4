"""The message templates journey: an admin opens 设置 → 消息模板, rewrites the 已发货 SMS and watches the preview
follow the typing (a misspelt variable is named in red), saves it; picks 已发货 for the four-stage flow's buyer
notice in the flow editor (the picker says when each message is sent) and publishes the flow for one new shop.
An order of that shop is routed and waybilled; its parcel is scanned out at the scan station; the sandbox outbox
then shows the buyer's message in the new words, with the carrier and the waybill number. The template is
restored to the default at the end, so that the other journeys on the shared server see the product's texts.

The flow is scoped to a shop no other journey uses, so publishing it changes nothing for their orders.
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
    reload_until_visible,
    rotate_webhook_secret,
)
from e2e.test_flow_editor_journey import choose
from e2e.test_scan_station_journey import group_order

ADMIN = ("admin", "admin-demo-123")
SHOP = "msg-tuan"
CHANNEL = "community_group"
KEY = "order_shipped-sms"
NEW_TEXT = "【{shop}】好消息：订单 {external_id} 已交{carrier}发出，运单号 {waybill_no}，请留意查收。"


def test_an_admin_rewrites_the_shipped_message_and_the_next_shipped_order_uses_it(page: Page) -> None:
    page.set_viewport_size({"width": 1600, "height": 1000})
    log_in(page, *ADMIN)
    page.goto("/settings/")
    page.get_by_test_id("settings-message-templates-link").click()
    card = page.get_by_test_id(f"template-{KEY}")
    expect(card).to_contain_text("已发货（包裹确认发货时发送，附快递单号）")
    expect(page.get_by_test_id(f"variables-{KEY}")).to_contain_text("{waybill_no}")
    expect(page.get_by_test_id(f"preview-text-{KEY}")).to_contain_text("SF1234567890123")

    text = page.get_by_test_id(f"template-text-{KEY}")
    text.fill("【{shop}】订单 {external_id} 已发货 {waybil_no}")
    expect(page.get_by_test_id(f"preview-error-{KEY}")).to_contain_text("不能使用变量 {waybil_no}")
    text.fill(NEW_TEXT)
    expect(page.get_by_test_id(f"preview-text-{KEY}")).to_contain_text(
        "好消息：订单 TB20261111000123 已交顺丰速运发出，运单号 SF1234567890123"
    )
    expect(page.get_by_test_id(f"preview-length-{KEY}")).to_contain_text("1 条短信")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "message-templates-preview.png"), full_page=True)
    page.get_by_test_id(f"template-save-{KEY}").click()
    expect(page.get_by_test_id(f"edited-{KEY}")).to_be_visible()
    expect(page.get_by_test_id(f"template-text-{KEY}")).to_have_value(NEW_TEXT)

    add_shop(page, CHANNEL, SHOP, "团购消息测试店")

    create_flow(page, "发货后通知买家")
    page.get_by_test_id("node-notify_buyer").click()
    expect(page.get_by_test_id("panel-action")).to_have_attribute("data-node-id", "notify_buyer")
    picker = page.get_by_test_id("param-template")
    expect(picker.locator("option[value=order_processed]")).to_have_text("已安排发货（订单分仓后发送）")
    expect(picker.locator("option[value=order_shipped]")).to_have_text("已发货（包裹确认发货时发送，附快递单号）")
    choose(page, "param-template", "order_shipped")
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("save-status")).to_have_attribute("data-state", "saved")
    page.get_by_test_id("tab-settings").click()
    page.get_by_test_id(f"settings-shop-{SHOP}").check()
    page.get_by_test_id("settings-save").click()
    expect(page.get_by_test_id("settings-saved")).to_be_visible()
    page.get_by_test_id("versions-link").click()
    page.get_by_test_id("publish-note").fill("团购消息测试店：发货后再通知买家")
    page.get_by_test_id("publish").click()
    expect(page.get_by_test_id("versions-message")).to_contain_text("已上线")

    secret = rotate_webhook_secret(page, SHOP)
    external_id = f"MSG-{secrets.token_hex(3)}"
    order_id = deliver_order(page, CHANNEL, SHOP, secret, group_order(external_id))
    reload_until_visible(
        page, f"/orders/{order_id}", page.get_by_test_id("order-status").filter(has_text=re.compile("已打单"))
    )
    waybill = page.get_by_test_id("shipment-waybill").first.inner_text().strip()
    assert waybill and waybill != "—"

    page.goto("/fulfillment/messages")
    expect(page.get_by_test_id("messages-table")).not_to_contain_text(waybill)  # not sent before it ships

    page.goto("/fulfillment/scan")
    page.get_by_test_id("scan-input").fill(waybill)
    page.get_by_test_id("scan-input").press("Enter")
    expect(page.get_by_test_id("scan-shipped")).to_contain_text("订单已发货")

    shipped = page.get_by_test_id("message-row").filter(has_text=waybill)
    reload_until_visible(page, "/fulfillment/messages", shipped)
    expect(shipped).to_contain_text(f"【团购消息测试店】好消息：订单 {external_id} 已交")
    expect(shipped).to_contain_text(f"发出，运单号 {waybill}，请留意查收。")
    page.screenshot(path=str(ARTIFACTS / "message-templates-outbox.png"), full_page=True)

    page.goto("/settings/message-templates/")
    page.get_by_test_id(f"template-restore-{KEY}").click()
    expect(page.get_by_test_id(f"edited-{KEY}")).to_have_count(0)
    expect(page.get_by_test_id(f"template-text-{KEY}")).to_have_value(re.compile("^【{shop}】您的订单"))

"""Action parameters as forms in a real Chromium: a designer sets a presale's balance due time as "付款后 N 天"
and as "活动结束时间", and a bad quantity is refused in Chinese while the canvas keeps what it had."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from e2e.conftest import log_in
from e2e.test_flow_editor_journey import DESIGNER, choose, drag_to_canvas, settled, snapshot, tick


def test_a_designer_fills_in_computed_times_and_quantities_without_json(page: Page):
    page.set_viewport_size({"width": 1600, "height": 1000})
    log_in(page, *DESIGNER)
    page.get_by_test_id("nav-flows").click()
    page.get_by_test_id("flow-name").fill("预售尾款与赠品")
    page.get_by_test_id("flow-create").click()
    expect(page.get_by_test_id("flow-editor")).to_have_attribute("data-ready", "yes")

    drag_to_canvas(page, page.get_by_test_id("palette-action-mark_presale"), 320, 160)
    expect(page.get_by_test_id("panel-action")).to_have_attribute("data-node-id", "a1")
    choose(page, "param-balance_due_at", "after_paid")
    expect(page.get_by_test_id("param-error-balance_due_at")).to_have_text("请填写付款后多少小时。")
    page.get_by_test_id("param-balance_due_at-amount").fill("2")
    page.get_by_test_id("param-balance_due_at-amount").press("Tab")
    settled(page)
    choose(page, "param-balance_due_at-unit", "days")
    expect(page.get_by_test_id("node-a1")).to_contain_text("付款后 2 天")
    expect(page.get_by_test_id("panel-ok")).to_be_visible()
    snapshot(page, "action-1-days-after-payment")

    page.get_by_test_id("param-balance_due_at-amount").fill("400")
    page.get_by_test_id("param-balance_due_at-amount").press("Tab")
    settled(page)
    expect(page.get_by_test_id("param-error-balance_due_at")).to_have_text("请输入 1 到 366 之间的整数。")
    expect(page.get_by_test_id("node-a1")).to_contain_text("付款后 2 天")

    choose(page, "param-balance_due_at", "presale_end")
    expect(page.get_by_test_id("param-balance_due_at-amount")).to_have_count(0)
    expect(page.get_by_test_id("node-a1")).to_contain_text("活动结束时间")

    drag_to_canvas(page, page.get_by_test_id("palette-action-add_gift"), 560, 160)
    expect(page.get_by_test_id("panel-action")).to_have_attribute("data-node-id", "a2")
    choose(page, "param-sku", "GIFT-TOTE-01")
    page.get_by_test_id("param-qty").fill("1000")
    page.get_by_test_id("param-qty").press("Tab")
    settled(page)
    expect(page.get_by_test_id("param-error-qty")).to_have_text("请输入 1 到 999 之间的整数。")
    expect(page.get_by_test_id("node-a2")).not_to_contain_text("1000")
    page.get_by_test_id("param-qty").fill("2")
    page.get_by_test_id("param-qty").press("Tab")
    settled(page)
    expect(page.get_by_test_id("param-error-qty")).to_have_count(0)
    expect(page.get_by_test_id("node-a2")).to_contain_text("GIFT-TOTE-01 · 2")

    drag_to_canvas(page, page.get_by_test_id("palette-action-generate_documents"), 800, 160)
    expect(page.get_by_test_id("panel-action")).to_have_attribute("data-node-id", "a3")
    tick(page, "param-kinds-outbound_order")
    tick(page, "param-kinds-pick_list")
    expect(page.get_by_test_id("node-a3")).to_contain_text("出库单、拣货单")
    snapshot(page, "action-2-gift-and-documents")


def test_a_designer_starts_from_a_rule_template_and_every_step_opens_as_a_form(page: Page):
    page.set_viewport_size({"width": 1600, "height": 1000})
    log_in(page, *DESIGNER)
    page.get_by_test_id("nav-flows").click()
    expect(page.get_by_test_id("flow-template").locator("input[type=radio]")).to_have_count(8)
    snapshot(page, "templates-1-new-flow")
    page.get_by_test_id("flow-name").fill("华东 3C 规则")
    page.get_by_test_id("flow-template-tip2_2_east_china_3c").check()
    page.get_by_test_id("flow-create").click()
    expect(page.get_by_test_id("flow-editor")).to_have_attribute("data-ready", "yes")
    expect(page.get_by_test_id("problem-count")).to_have_text("0")

    page.get_by_test_id("node-east_3c").click()
    expect(page.get_by_test_id("panel-condition")).to_be_visible()
    expect(page.get_by_test_id("cb-field-c.0")).to_have_value("order.receiver.province")
    expect(page.get_by_test_id("cb-op-c.0")).to_have_value("in_region")
    expect(page.get_by_test_id("cb-value-c.0-华东")).to_be_checked()
    expect(page.get_by_test_id("cb-value-c.1-3C")).to_be_checked()
    page.get_by_test_id("node-wh_shanghai").click()
    expect(page.get_by_test_id("panel-action")).to_have_attribute("data-node-id", "wh_shanghai")
    expect(page.get_by_test_id("param-code")).to_have_value("SH01")
    page.get_by_test_id("node-carrier_sf").click()
    expect(page.get_by_test_id("panel-action")).to_have_attribute("data-node-id", "carrier_sf")
    expect(page.get_by_test_id("param-code")).to_have_value("SF")
    snapshot(page, "templates-2-east-china-3c")

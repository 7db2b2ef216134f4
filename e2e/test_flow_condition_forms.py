"""The shipped template's conditions in a real Chromium, as a designer meets them: every condition and switch
branch opens as builder rows (no JSON Logic), the canvas says in words what each checks, and 同一地址 24 小时
"> 3" becomes "> 5" by typing in the form."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

import ruleflows
from e2e.conftest import ARTIFACTS
from e2e.test_flow_canvas import open_template_copy
from e2e.test_flow_editor_journey import settled


def open_node(page: Page, node: dict) -> None:
    """Find the node by its name (which brings it into view) and click it to open its panel."""
    search = page.get_by_test_id("node-search")
    search.fill(node["name"])
    search.press("Enter")
    page.get_by_test_id(f"node-{node['id']}").locator(".fn-name").click()
    expect(page.get_by_test_id("node-name")).to_have_value(node["name"])
    settled(page)


def test_every_condition_of_the_shipped_template_opens_as_a_form_and_3_becomes_5(page: Page):
    open_template_copy(page, "四段模板·表单")
    panel = page.get_by_test_id("node-panel")

    template = ruleflows.load_template("standard_four_stage")
    for node in template["nodes"]:
        if node["type"] not in ("condition", "switch"):
            continue
        open_node(page, node)
        expect(panel).not_to_contain_text("JSON Logic 写的")
        expect(panel).not_to_contain_text("无法用向导")
        roots = ["c"] if node["type"] == "condition" else [b["id"] for b in node["config"]["branches"]]
        for root in roots:
            expect(panel.get_by_test_id(f"cb-group-{root}")).to_be_visible()
            expect(panel.get_by_test_id(f"cb-field-{root}.0")).not_to_have_value("")
        summary = page.get_by_test_id(f"node-{node['id']}").locator(".fn-summary")
        expect(summary).not_to_have_text("JSON Logic")
        if node["id"] == "route":
            expect(panel.get_by_test_id("cb-value-east_3c.0-华东")).to_be_checked()
            expect(panel.get_by_test_id("branch-label-east_3c")).to_have_value("华东 + 3C 数码")

    same_address = next(n for n in template["nodes"] if n["id"] == "audit_same_address")
    open_node(page, same_address)
    expect(page.get_by_test_id("node-audit_same_address").locator(".fn-summary")).to_have_text(
        re.compile("同地址 24 小时订单数.*3")
    )
    value = panel.get_by_test_id("cb-value-c.0")
    expect(value).to_have_value("3")
    value.fill("5")
    value.press("Tab")
    settled(page)
    expect(panel.get_by_test_id("cb-value-c.0")).to_have_value("5")
    expect(panel.get_by_test_id("panel-ok")).to_be_visible()
    expect(page.get_by_test_id("node-audit_same_address").locator(".fn-summary")).to_have_text(
        re.compile("同地址 24 小时订单数.*5")
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "flow-condition-forms-same-address-5.png"))

    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("save-status")).to_have_attribute("data-state", "saved")
    flow_id = re.search(r"/flows/(\d+)", page.url).group(1)  # type: ignore[union-attr]
    saved = page.request.get(f"/flows/{flow_id}/export").json()["document"]
    logic = next(n for n in saved["nodes"] if n["id"] == "audit_same_address")["config"]["logic"]
    assert logic == {">": [{"var": ["features.same_address_24h", 0]}, 5]}

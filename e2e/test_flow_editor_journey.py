"""The visual rule-flow editor in a real Chromium: a designer who has never seen it builds, configures and
simulates a routing flow by drag-and-drop and forms only; an admin publishes it."""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from playwright.sync_api import Locator, Page, expect

from e2e.conftest import ARTIFACTS, deliver_order, log_in, reload_until_visible, rotate_webhook_secret

DESIGNER = ("designer", "designer-demo-123")
ADMIN = ("admin", "admin-demo-123")


def snapshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"flow-editor-{name}.png"))


def settled(page: Page) -> None:
    """Wait until the server-rendered panel has answered the last change and htmx has wired up the new form."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')"
    )


def drag_to_canvas(page: Page, item: Locator, x: float, y: float) -> None:
    """Drag a palette item with the mouse and drop it at (x, y) of the canvas."""
    canvas = page.get_by_test_id("canvas").bounding_box()
    box = item.bounding_box()
    assert canvas and box
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(canvas["x"] + x, canvas["y"] + y, steps=12)
    page.mouse.up()
    settled(page)


def connect(page: Page, source: str, port: str, target: str) -> None:
    """Drag from a node's exit dot to another node's entry dot."""
    start = page.get_by_test_id(f"port-{source}-{port}").bounding_box()
    end = page.get_by_test_id(f"in-{target}").bounding_box()
    assert start and end
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 2, steps=10)
    page.mouse.up()


def choose(page: Page, testid: str, value: str) -> None:
    page.get_by_test_id(testid).select_option(value)
    settled(page)


def tick(page: Page, testid: str) -> None:
    page.get_by_test_id(testid).check()
    settled(page)


def test_a_designer_builds_simulates_and_saves_a_routing_flow_and_an_admin_publishes_it(page: Page):
    page.set_viewport_size({"width": 1600, "height": 1000})
    log_in(page, *DESIGNER)
    page.get_by_test_id("nav-flows").click()
    page.get_by_test_id("flow-name").fill("华东 3C 走上海仓顺丰")
    page.get_by_test_id("flow-create").click()
    expect(page.get_by_test_id("flow-editor")).to_have_attribute("data-ready", "yes")
    expect(page.get_by_test_id("node-start")).to_be_visible()
    expect(page.get_by_test_id("node-end")).to_be_visible()

    # The condition: province in 华东 and a line in category 3C — chosen from lists, nothing typed but a name.
    drag_to_canvas(page, page.get_by_test_id("palette-condition"), 300, 240)
    expect(page.get_by_test_id("node-c1")).to_be_visible()
    panel = page.get_by_test_id("node-panel")
    expect(panel.get_by_test_id("panel-condition")).to_be_visible()
    choose(page, "cb-field-c.0", "order.receiver.province")
    expect(page.get_by_test_id("cb-op-c.0")).to_have_value("in_region")
    tick(page, "cb-value-c.0-华东")
    page.get_by_test_id("cb-add-rule-c").click()
    settled(page)
    choose(page, "cb-field-c.1", "order.lines[].category")
    tick(page, "cb-value-c.1-3C")
    page.get_by_test_id("node-name").fill("华东 3C？")
    page.get_by_test_id("node-name").press("Tab")
    settled(page)
    expect(page.get_by_test_id("panel-ok")).to_be_visible()
    expect(page.get_by_test_id("node-c1")).to_contain_text("华东 3C？")
    snapshot(page, "1-condition-builder")

    # Yes → 上海仓 + 顺丰; no → the cheapest warehouse and carrier.
    drag_to_canvas(page, page.get_by_test_id("palette-action-assign_warehouse"), 500, 110)
    expect(page.get_by_test_id("panel-action")).to_have_attribute("data-node-id", "a1")
    choose(page, "param-code", "SH01")
    expect(page.get_by_test_id("node-a1")).to_contain_text("SH01")
    drag_to_canvas(page, page.get_by_test_id("palette-action-assign_carrier"), 720, 110)
    expect(page.get_by_test_id("panel-action")).to_have_attribute("data-node-id", "a2")
    choose(page, "param-code", "SF")
    expect(page.get_by_test_id("node-a2")).to_contain_text("SF")
    drag_to_canvas(page, page.get_by_test_id("palette-action-assign_warehouse"), 500, 380)
    expect(page.get_by_test_id("panel-action")).to_have_attribute("data-node-id", "a3")
    page.get_by_test_id("mode-strategy").check()
    settled(page)
    choose(page, "param-strategy", "cheapest")
    drag_to_canvas(page, page.get_by_test_id("palette-action-assign_carrier"), 720, 380)
    expect(page.get_by_test_id("panel-action")).to_have_attribute("data-node-id", "a4")
    page.get_by_test_id("mode-strategy").check()
    settled(page)
    choose(page, "param-strategy", "cheapest")
    expect(page.get_by_test_id("node-a4")).to_contain_text("最便宜")
    # 按温层拆包: ambient, chilled and frozen goods leave as separate parcels on this route.
    expect(page.get_by_test_id("param-row-split_by_temperature")).to_contain_text("按温层拆包")
    page.get_by_test_id("param-split_by_temperature").check()
    settled(page)
    expect(page.get_by_test_id("node-a4")).to_contain_text("按温层拆包")

    for source, port, target in (
        ("start", "next", "c1"),
        ("c1", "true", "a1"),
        ("a1", "next", "a2"),
        ("a2", "next", "end"),
        ("c1", "false", "a3"),
        ("a3", "next", "a4"),
        ("a4", "next", "end"),
    ):
        connect(page, source, port, target)
    page.keyboard.press("Control+s")
    expect(page.get_by_test_id("save-status")).to_have_attribute("data-state", "saved")
    expect(page.get_by_test_id("problem-count")).to_have_text("0")
    page.get_by_test_id("tab-problems").click()
    expect(page.get_by_test_id("no-problems")).to_be_visible()
    snapshot(page, "2-flow-built")

    # Simulate on the sample 华东 3C order: the "yes" path lights up, the "no" path does not.
    page.get_by_test_id("tab-simulate").click()
    page.get_by_test_id("simulate-order").select_option("sample:east_3c")
    page.get_by_test_id("simulate-run").click()
    expect(page.get_by_test_id("simulate-status")).to_contain_text("运行到了结束")
    for node in ("start", "c1", "a1", "a2", "end"):
        expect(page.get_by_test_id(f"node-{node}")).to_have_class(re.compile(r"\bsim-path\b"))
    for node in ("a3", "a4"):
        expect(page.get_by_test_id(f"node-{node}")).not_to_have_class(re.compile(r"\bsim-path\b"))
    expect(page.locator(".connection.sim-edge")).to_have_count(4)
    expect(page.get_by_test_id("simulate-actions")).to_contain_text("SH01")
    expect(page.get_by_test_id("simulate-actions")).to_contain_text("SF")
    # The routing preview: the sample's 3C goods leave 上海仓 as one ambient parcel with SF.
    expect(page.get_by_test_id("simulate-parcel")).to_have_count(1)
    expect(page.get_by_test_id("simulate-parcel")).to_contain_text("SH01")
    expect(page.get_by_test_id("simulate-parcel")).to_contain_text("SF")
    expect(page.get_by_test_id("simulate-parcel")).to_contain_text("常温")
    snapshot(page, "3-simulated")
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("save-status")).to_have_attribute("data-state", "saved")

    # The designer may not publish; an admin does.
    page.get_by_test_id("versions-link").click()
    expect(page.get_by_test_id("publish-not-allowed")).to_be_visible()
    versions_url = page.url
    page.get_by_test_id("logout").click()
    log_in(page, *ADMIN)
    page.goto(versions_url)
    page.get_by_test_id("publish-note").fill("华东 3C 订单从上海仓发顺丰，其余走最便宜的仓和快递")
    page.get_by_test_id("publish").click()
    expect(page.get_by_test_id("versions-message")).to_contain_text("版本 1 已上线")
    expect(page.get_by_test_id("version-row-1").get_by_test_id("live-badge")).to_be_visible()
    snapshot(page, "4-published")

    # A 华东 order with a phone in it arrives from the brand's till through the webhook: the flow routes it to
    # 上海仓 with 顺丰, and the order page shows the path it took.
    secret = rotate_webhook_secret(page, "pos-sh-nanjingxilu")
    external_id = f"E2E-FE-{secrets.token_hex(3).upper()}"
    order_id = deliver_order(page, "pos", "pos-sh-nanjingxilu", secret, till_order(external_id))
    detail_url = f"/orders/{order_id}"
    reload_until_visible(page, detail_url, page.locator('[data-testid="order-processing"][data-state="processed"]'))
    expect(page.get_by_test_id("processing-warehouse")).to_contain_text("上海仓")
    expect(page.get_by_test_id("processing-carrier")).to_contain_text("顺丰")
    expect(page.get_by_test_id("flow-run").first).to_contain_text("华东 3C？")
    page.get_by_test_id("order-processing").scroll_into_view_if_needed()
    snapshot(page, "5-order-routed")


def till_order(external_id: str) -> dict[str, Any]:
    """A paid order from the till in the generic JSON format: a phone, to 上海 (华东)."""
    return {
        "order_id": external_id,
        "status": "paid",
        "created_at": "2026-11-26 10:00:00",
        "paid_at": "2026-11-26 10:00:05",
        "buyer": {"id": f"member-{external_id}", "nick": "会员"},
        "receiver": {
            "name": "陈静",
            "phone": "13912345678",
            "province": "上海",
            "city": "上海市",
            "district": "静安区",
            "address": "南京西路 1266 号",
        },
        "lines": [{"line_id": "1", "sku": "PHONE-X1", "title": "星河 X1 手机", "qty": 1, "unit_price_fen": 399900}],
    }


def test_undo_redo_copy_paste_delete_and_zoom_work_from_the_keyboard_and_toolbar(page: Page):
    page.set_viewport_size({"width": 1600, "height": 1000})
    log_in(page, *DESIGNER)
    page.get_by_test_id("nav-flows").click()
    page.get_by_test_id("flow-name").fill("快捷键练习")
    page.get_by_test_id("flow-create").click()
    expect(page.get_by_test_id("flow-editor")).to_have_attribute("data-ready", "yes")
    nodes = page.locator(".drawflow-node")
    expect(nodes).to_have_count(2)

    drag_to_canvas(page, page.get_by_test_id("palette-action-add_tag"), 400, 200)
    drag_to_canvas(page, page.get_by_test_id("palette-action-approve"), 400, 360)
    expect(nodes).to_have_count(4)
    page.get_by_test_id("canvas").click(position={"x": 5, "y": 5})
    page.keyboard.press("Control+z")
    expect(nodes).to_have_count(3)
    page.keyboard.press("Control+Shift+z")
    expect(nodes).to_have_count(4)

    # Shift+click selects two nodes; copy and paste makes two more; Delete removes the selection.
    page.get_by_test_id("node-a1").click()
    page.get_by_test_id("node-a2").click(modifiers=["Shift"])
    expect(page.locator(".drawflow-node.multi-selected")).to_have_count(2)
    page.keyboard.press("Control+c")
    page.keyboard.press("Control+v")
    expect(nodes).to_have_count(6)
    expect(page.locator(".drawflow-node.multi-selected")).to_have_count(2)
    page.keyboard.press("Delete")
    expect(nodes).to_have_count(4)
    page.get_by_test_id("undo").click()
    expect(nodes).to_have_count(6)

    page.get_by_test_id("zoom-in").click()
    expect(page.get_by_test_id("zoom-level")).to_have_text("110%")
    page.keyboard.press("-")
    page.keyboard.press("-")
    expect(page.get_by_test_id("zoom-level")).to_have_text("90%")
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("save-status")).to_have_attribute("data-state", "saved")
    page.reload()
    expect(page.get_by_test_id("flow-editor")).to_have_attribute("data-ready", "yes")
    expect(nodes).to_have_count(6)


def test_a_flow_with_markup_in_its_names_and_branch_labels_is_drawn_as_text(page: Page):
    """The canvas builds node markup in the browser: names and labels from the document must stay text there."""
    markup = "<img src=x onerror=alert(1)>"
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in(page, *DESIGNER)
    page.get_by_test_id("nav-flows").click()
    page.get_by_test_id("flow-name").fill(f"{markup} 50%off")
    page.get_by_test_id("flow-create").click()
    editor = page.get_by_test_id("flow-editor")
    expect(editor).to_have_attribute("data-ready", "yes")
    flow_id = editor.get_attribute("data-flow-id")
    switch = {
        "id": "s1",
        "type": "switch",
        "name": f"{markup} switch",
        "position": {"x": 250, "y": 120},
        "config": {"branches": [{"id": "b1", "label": f"{markup} branch", "logic": True}]},
    }
    document = {
        "schema": 1,
        "name": f"{markup} 50%off",
        "trigger": "order.received",
        "nodes": [
            {"id": "start", "type": "start", "name": f"{markup} start", "position": {"x": 0, "y": 120}, "config": {}},
            switch,
            {"id": "end", "type": "end", "name": "end", "position": {"x": 550, "y": 120}, "config": {}},
        ],
        "edges": [
            {"id": "e1", "source": "start", "target": "s1", "port": "next"},
            {"id": "e2", "source": "s1", "target": "end", "port": "b1"},
            {"id": "e3", "source": "s1", "target": "end", "port": "default"},
        ],
    }
    token = page.locator('meta[name="csrf-token"]').get_attribute("content") or ""
    saved = page.request.post(
        f"/flows/{flow_id}/draft",
        data=json.dumps({"document": document, "base_revision": int(editor.get_attribute("data-revision") or 0)}),
        headers={"X-CSRFToken": token, "Content-Type": "application/json"},
    )
    assert saved.ok, saved.text()
    page.reload()
    expect(editor).to_have_attribute("data-ready", "yes")
    expect(page.get_by_test_id("node-s1")).to_contain_text(f"{markup} switch")
    expect(page.get_by_test_id("node-start")).to_contain_text(f"{markup} start")
    expect(page.get_by_test_id("port-s1-b1")).to_have_attribute("data-label", f"{markup} branch")
    page.get_by_test_id("node-s1").click()
    expect(page.get_by_test_id("node-name")).to_have_value(f"{markup} switch")
    assert page.locator("#flow-editor img, #fe-panel img").count() == 0
    assert dialogs == []

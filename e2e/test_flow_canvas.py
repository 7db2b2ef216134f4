"""The flow canvas in a real Chromium, as a designer meets the shipped template 标准四段订单处理: names can be
read at once, zooming keeps what is under the pointer, the overview moves the view, a node is found by its
name, 整理布局 tidies without losing a connection, a node with a problem wears a red badge that says why, and a
dragged node is kept exactly where it is let go (however fast, wherever the mouse is released)."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import FloatRect, Locator, Page, expect

from e2e.conftest import ARTIFACTS, log_in

DESIGNER = ("designer", "designer-demo-123")
TEMPLATE_EDGES = 37

# The size a node's name is drawn at on screen: its CSS size times the canvas's zoom.
SCREEN_FONT = """nid => {
  const name = document.querySelector(`[data-testid="node-${nid}"] .fn-name`);
  const canvas = document.querySelector("#fe-canvas .drawflow");
  return parseFloat(getComputedStyle(name).fontSize) * canvas.getBoundingClientRect().width / canvas.offsetWidth;
}"""

# Every drawn node's box in canvas units (where the document places it), to check for overlaps.
CANVAS_BOXES = """() => [...document.querySelectorAll("#fe-canvas .drawflow-node")].map(el => ({
  id: el.dataset.nodeId, x: el.offsetLeft, y: el.offsetTop, w: el.offsetWidth, h: el.offsetHeight}))"""


# Where a node is drawn, in canvas units: its box on screen, measured from the canvas's corner through the zoom.
SHOWN_AT = """nid => {
  const node = document.querySelector(`[data-testid="node-${nid}"]`).getBoundingClientRect();
  const canvas = document.querySelector("#fe-canvas .drawflow");
  const corner = canvas.getBoundingClientRect();
  const zoom = corner.width / canvas.offsetWidth;
  return {x: (node.left - corner.left) / zoom, y: (node.top - corner.top) / zoom};
}"""
# Where the document in the editor puts a node, and where the draft the page was opened from puts it.
EDITED_AT = "nid => JSON.parse(window.FlowEditor.documentJson()).nodes.find(n => n.id === nid).position"
SAVED_AT = """nid => JSON.parse(document.getElementById("flow-document").textContent)
  .nodes.find(n => n.id === nid).position"""


def snapshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"flow-canvas-{name}.png"))


def open_template_copy(page: Page, name: str) -> None:
    """As a designer: 新建流程 from the shipped four-stage template, which opens the editor on it."""
    page.set_viewport_size({"width": 1440, "height": 900})
    log_in(page, *DESIGNER)
    page.get_by_test_id("nav-flows").click()
    page.get_by_test_id("flow-name").fill(name)
    page.get_by_test_id("flow-template-standard_four_stage").check()
    page.get_by_test_id("flow-create").click()
    expect(page.get_by_test_id("flow-editor")).to_have_attribute("data-ready", "yes")


def box(page: Page, testid: str) -> dict[str, float]:
    found = page.get_by_test_id(testid).bounding_box()
    assert found, testid
    return found


def in_view(page: Page, testid: str) -> bool:
    canvas, node = box(page, "canvas"), box(page, testid)
    return (
        node["x"] >= canvas["x"]
        and node["y"] >= canvas["y"]
        and node["x"] + node["width"] <= canvas["x"] + canvas["width"]
        and node["y"] + node["height"] <= canvas["y"] + canvas["height"]
    )


def nodes_in_view(page: Page) -> list[str]:
    ids = page.eval_on_selector_all("#fe-canvas .drawflow-node", "els => els.map(el => el.dataset.nodeId)")
    return [nid for nid in ids if in_view(page, f"node-{nid}")]


def overlaps(boxes: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [
        (a["id"], b["id"])
        for i, a in enumerate(boxes)
        for b in boxes[i + 1 :]
        if a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
        if a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]
    ]


def test_the_shipped_template_opens_legible_in_lanes_and_zooms_around_the_pointer(page: Page):
    open_template_copy(page, "四段模板·画布")
    visible = nodes_in_view(page)
    assert "start" in visible and len(visible) >= 3, visible
    for nid in visible:
        assert page.evaluate(SCREEN_FONT, nid) >= 11, nid
    lanes = page.get_by_test_id("lane")
    expect(lanes).to_have_count(4)
    expect(lanes.first).to_contain_text("自动审单")
    stages = [lanes.nth(i).get_attribute("data-lane") for i in range(4)]
    assert stages == ["自动审单", "分仓与快递", "特殊订单", "单据与通知"]
    assert overlaps(page.evaluate(CANVAS_BOXES)) == []
    expect(page.locator("#fe-canvas .connection")).to_have_count(TEMPLATE_EDGES)
    snapshot(page, "1-first-view")

    # Ctrl+wheel over 地址完整？ zooms in and out around the pointer: the same spot of the node stays under it.
    target = box(page, "node-audit_address")
    px, py = target["x"] + target["width"] * 0.3, target["y"] + target["height"] * 0.6
    for delta in (-400, 300):
        before = box(page, "node-audit_address")
        page.mouse.move(px, py)
        page.keyboard.down("Control")
        page.mouse.wheel(0, delta)
        page.keyboard.up("Control")
        page.wait_for_function(
            "w => document.querySelector('[data-testid=node-audit_address]').getBoundingClientRect().width !== w",
            arg=before["width"],
        )
        after = box(page, "node-audit_address")
        assert (after["width"] > before["width"]) is (delta < 0)
        # The spot of the node that was under the pointer is still under it (to a pixel and a half).
        assert abs(after["x"] + (px - before["x"]) / before["width"] * after["width"] - px) < 1.5
        assert abs(after["y"] + (py - before["y"]) / before["height"] * after["height"] - py) < 1.5
    snapshot(page, "2-zoomed-at-pointer")

    # The buttons zoom around the middle of the view: what is there stays there, the rest spreads from it.
    canvas = box(page, "canvas")
    cx, cy = canvas["x"] + canvas["width"] / 2, canvas["y"] + canvas["height"] / 2
    before = box(page, "node-start")
    page.get_by_test_id("zoom-in").click()
    after = box(page, "node-start")
    ratio = after["width"] / before["width"]
    assert ratio > 1.05
    assert abs((after["x"] - cx) - (before["x"] - cx) * ratio) < 2
    assert abs((after["y"] - cy) - (before["y"] - cy) * ratio) < 2

    # The wheel alone scrolls the canvas.
    before = box(page, "node-start")
    page.mouse.move(cx, cy)
    page.mouse.wheel(0, 120)
    page.wait_for_function(
        "y => document.querySelector('[data-testid=node-start]').getBoundingClientRect().y !== y", arg=before["y"]
    )
    after = box(page, "node-start")
    assert after["width"] == before["width"] and after["y"] < before["y"]


def test_the_overview_moves_the_view_and_search_brings_a_node_into_view(page: Page):
    open_template_copy(page, "四段模板·导航")
    minimap = page.get_by_test_id("minimap")
    expect(minimap).to_be_visible()
    expect(minimap.locator("rect[data-node]")).to_have_count(29)
    assert not in_view(page, "node-end")
    frame_before = box(page, "minimap-view")

    # Clicking the end of the flow in the overview brings it into view, and the overview's frame follows.
    end = minimap.locator("rect[data-node=end]").bounding_box()
    assert end
    page.mouse.click(end["x"] + end["width"] / 2, end["y"] + end["height"] / 2)
    assert in_view(page, "node-end")
    assert box(page, "minimap-view")["x"] > frame_before["x"] + 20
    snapshot(page, "3-overview-click")

    # Dragging in the overview moves the view along with the pointer, back to the start.
    start = minimap.locator("rect[data-node=start]").bounding_box()
    assert start
    page.mouse.move(end["x"], end["y"])
    page.mouse.down()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2, steps=8)
    page.mouse.up()
    assert in_view(page, "node-start") and not in_view(page, "node-end")

    # Dragging the canvas's background pans it, and the overview's frame follows while the drag goes on.
    def frame_from_start() -> float:
        start_rect = minimap.locator("rect[data-node=start]").bounding_box()
        assert start_rect
        return box(page, "minimap-view")["x"] - start_rect["x"]

    canvas = box(page, "canvas")
    before = frame_from_start()
    page.mouse.move(canvas["x"] + 300, canvas["y"] + canvas["height"] - 40)
    page.mouse.down()
    page.mouse.move(canvas["x"] + 20, canvas["y"] + canvas["height"] - 40, steps=5)
    assert frame_from_start() > before + 2
    page.mouse.up()

    # 查找节点: 选择路线 is highlighted as it is typed; Enter centres the view on it, legible.
    search = page.get_by_test_id("node-search")
    search.fill("选择路线")
    expect(page.get_by_test_id("node-route")).to_have_class(re.compile(r"\bsearch-hit\b"))
    expect(page.locator("#fe-canvas .search-hit")).to_have_count(1)
    assert not in_view(page, "node-route")
    search.press("Enter")
    expect(page.get_by_test_id("node-route")).to_have_class(re.compile(r"\bsearch-current\b"))
    expect(page.get_by_test_id("search-count")).to_have_text("第 1 个，共 1 个")
    assert in_view(page, "node-route")
    assert page.evaluate(SCREEN_FONT, "route") >= 11
    snapshot(page, "4-search")
    search.fill("没有这个节点")
    expect(page.get_by_test_id("search-count")).to_have_text("没有匹配的节点")
    expect(page.locator("#fe-canvas .search-hit")).to_have_count(0)


def test_arrange_keeps_every_connection_and_a_node_with_a_problem_shows_a_red_badge(page: Page):
    open_template_copy(page, "四段模板·整理")
    connections = page.locator("#fe-canvas .connection")
    expect(connections).to_have_count(TEMPLATE_EDGES)
    tidy = {b["id"]: (b["x"], b["y"]) for b in page.evaluate(CANVAS_BOXES)}

    # Move 手机号有效？ onto its neighbour with the keyboard, then 整理布局 puts it back, connections and all.
    page.get_by_test_id("node-audit_phone").click()
    for _ in range(4):
        page.keyboard.press("Shift+ArrowDown")
    page.keyboard.press("Shift+ArrowLeft")
    moved = {b["id"]: (b["x"], b["y"]) for b in page.evaluate(CANVAS_BOXES)}
    assert moved["audit_phone"] == (tidy["audit_phone"][0] - 50, tidy["audit_phone"][1] + 200)
    page.get_by_test_id("arrange").click()
    page.wait_for_function(
        "y => document.querySelector('[data-testid=node-audit_phone]').offsetTop !== y", arg=moved["audit_phone"][1]
    )
    expect(connections).to_have_count(TEMPLATE_EDGES)
    arranged = page.evaluate(CANVAS_BOXES)
    at = {b["id"]: (b["x"], b["y"]) for b in arranged}
    assert at["audit_phone"] == (tidy["audit_phone"][0], at["audit_address"][1]), "back in its column and row"
    assert overlaps(arranged) == []
    for edge_source, edge_target in (("start", "review_approved"), ("approve", "route"), ("notify_buyer", "end")):
        assert at[edge_target][0] > at[edge_source][0]
    snapshot(page, "5-arranged")
    # Arranging is one step of undo.
    page.keyboard.press("Control+z")
    expect(page.get_by_test_id("node-audit_phone")).to_have_css("top", f"{moved['audit_phone'][1]}px")
    expect(connections).to_have_count(TEMPLATE_EDGES)
    page.keyboard.press("Control+Shift+z")
    expect(page.get_by_test_id("node-audit_phone")).to_have_css("top", f"{at['audit_phone'][1]}px")

    # A condition dropped on the canvas and left unconnected: once saved, it wears a red badge saying why.
    canvas = box(page, "canvas")
    item = box(page, "palette-condition")
    page.mouse.move(item["x"] + item["width"] / 2, item["y"] + item["height"] / 2)
    page.mouse.down()
    page.mouse.move(canvas["x"] + 120, canvas["y"] + canvas["height"] - 90, steps=10)
    page.mouse.up()
    expect(page.get_by_test_id("node-c1")).to_be_visible()
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("save-status")).to_have_attribute("data-state", "saved")
    badge = page.get_by_test_id("problem-badge-c1")
    expect(badge).to_be_visible()
    expect(badge).to_have_css("background-color", "rgb(207, 34, 46)")
    expect(badge).to_have_attribute("title", re.compile("从开始节点无法到达"))
    expect(page.get_by_test_id("problem-badge-start")).to_be_hidden()
    badge.click()
    popover = page.get_by_test_id("problem-popover")
    expect(popover).to_be_visible()
    expect(popover).to_contain_text("此节点的问题")
    expect(popover).to_contain_text("从开始节点无法到达")
    expect(page.get_by_test_id("minimap").locator("rect.mm-problem[data-node=c1]")).to_have_count(1)
    snapshot(page, "6-problem-badge")
    page.keyboard.press("Escape")
    expect(popover).to_be_hidden()


def shown_at(page: Page, nid: str) -> dict[str, float]:
    return page.evaluate(SHOWN_AT, nid)


def assert_at(found: dict[str, float], expected: dict[str, float]) -> None:
    """Within a pixel at zoom 1 (a canvas unit) in each direction."""
    assert abs(found["x"] - expected["x"]) <= 1 and abs(found["y"] - expected["y"]) <= 1, (found, expected)


def find_route(page: Page) -> dict[str, float]:
    """查找节点 选择路线 and press Enter, which brings it into view; returns where it is drawn."""
    page.get_by_test_id("node-search").fill("选择路线")
    page.get_by_test_id("node-search").press("Enter")
    return shown_at(page, "route")


def settled_box(handle: Locator) -> FloatRect:
    """Where ``handle`` is drawn once the canvas has settled: opening a node's panel or selecting everything may
    draw the nodes again, so the box is read until two reads 100 ms apart agree."""
    last = None
    for _ in range(50):
        found = handle.bounding_box()
        if found is not None and found == last:
            return found
        last = found
        handle.page.wait_for_timeout(100)
    raise AssertionError(f"the node is not drawn still: last seen at {last}")


def drag_route(page: Page, dx: float, dy: float, steps: int) -> dict[str, float]:
    """Press on 选择路线's name, move by (dx, dy) in ``steps`` mouse movements and let go; returns where the
    mouse was let go."""
    name = settled_box(page.get_by_test_id("node-route").locator(".fn-name"))
    x, y = name["x"] + 20, name["y"] + name["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y + dy, steps=steps)
    page.mouse.up()
    return {"x": x + dx, "y": y + dy}


def check_undo_then_save_and_reopen(page: Page, before: dict[str, float], shown: dict[str, float]) -> None:
    """One undo puts 选择路线 back where it was, redo moves it again; saved and reopened, it is where it was shown."""
    assert_at(page.evaluate(EDITED_AT, "route"), shown)
    page.keyboard.press("Control+z")
    assert_at(shown_at(page, "route"), before)
    assert_at(page.evaluate(EDITED_AT, "route"), before)
    page.keyboard.press("Control+Shift+z")
    assert_at(shown_at(page, "route"), shown)
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("save-status")).to_have_attribute("data-state", "saved")
    page.reload()
    editor = page.get_by_test_id("flow-editor")
    expect(editor).to_have_attribute("data-ready", "yes")
    expect(editor).to_have_attribute("data-arranged-on-open", "no")  # opened as saved, not re-arranged
    assert_at(page.evaluate(SAVED_AT, "route"), shown)
    assert_at(shown_at(page, "route"), shown)


def test_a_fast_drag_keeps_the_node_where_it_is_let_go_and_is_one_step_of_undo(page: Page):
    open_template_copy(page, "四段模板·快速拖动")
    before = find_route(page)
    assert_at(page.evaluate(EDITED_AT, "route"), before)

    # Two big mouse movements, into the free space below it: the node follows the mouse, and the document puts
    # it where it is drawn (Drawflow alone would keep it one movement behind).
    drag_route(page, 60, 260, steps=2)
    shown = shown_at(page, "route")
    assert shown["x"] > before["x"] + 50 and shown["y"] > before["y"] + 250, (before, shown)
    assert overlaps(page.evaluate(CANVAS_BOXES)) == []
    snapshot(page, "7-fast-drag")
    check_undo_then_save_and_reopen(page, before, shown)

    # Everything selected and dragged the same fast way by 选择路线: every node is kept where it is drawn.
    ids = [n["id"] for n in page.evaluate(CANVAS_BOXES)]
    find_route(page)
    page.get_by_test_id("node-route").click()
    page.keyboard.press("Control+a")
    expect(page.locator("#fe-canvas .multi-selected")).to_have_count(len(ids))
    drag_route(page, -40, 30, steps=2)
    for nid in ids:
        assert_at(page.evaluate(EDITED_AT, nid), shown_at(page, nid))
    assert shown_at(page, "route")["y"] > shown["y"] + 20
    page.keyboard.press("Control+z")
    assert_at(page.evaluate(EDITED_AT, "route"), shown)
    assert_at(shown_at(page, "route"), shown)


def test_a_node_let_go_outside_the_canvas_is_kept_where_it_is_shown(page: Page):
    open_template_copy(page, "四段模板·拖出画布")
    before = find_route(page)
    canvas, on_screen = box(page, "canvas"), box(page, "node-route")

    # 400 px down, past the canvas's bottom edge, and let go there: the node followed the mouse all the way
    # (to within Drawflow's rounding of each of the 20 movements).
    released = drag_route(page, 0, 400, steps=20)
    assert released["y"] > canvas["y"] + canvas["height"] + 20
    assert abs(box(page, "node-route")["y"] - on_screen["y"] - 400) < 10
    shown = shown_at(page, "route")
    assert_at(page.evaluate(EDITED_AT, "route"), shown)

    # The drag is over: the mouse coming back over the canvas, button up, does not carry the node along.
    page.mouse.move(canvas["x"] + canvas["width"] / 2, canvas["y"] + canvas["height"] / 2, steps=5)
    assert_at(shown_at(page, "route"), shown)
    snapshot(page, "8-let-go-outside")
    check_undo_then_save_and_reopen(page, before, shown)

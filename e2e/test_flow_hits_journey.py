"""Live hit counts on the canvas: an admin publishes the shipped four-stage template as a flow for the 快手
shop; three orders arrive by webhook and are processed; the editor shows on each node how many orders passed
it (since the version went live · last 24 hours) and on each route its share, and a click on a count lists
the orders behind it.

The flow is scoped to the 快手 channel, which no other journey sends orders to, so its counts are its own.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Mapping
from typing import Any

from playwright.sync_api import FloatRect, Locator, Page, expect

from e2e.conftest import (
    ARTIFACTS,
    create_flow,
    deliver_order,
    log_in,
    publish_for_channel,
    reload_until_visible,
    rotate_webhook_secret,
)
from tests.samples import channels as samples

ADMIN = ("admin", "admin-demo-123")


def snapshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"hits-{name}.png"), full_page=True)


def intersects(a: Mapping[str, float], b: Mapping[str, float]) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


def box(locator: Locator) -> FloatRect:
    found = locator.bounding_box()
    assert found is not None, f"{locator} is not drawn"
    return found


def assert_counts_clear_of_names_and_labels(page: Page) -> None:
    """No count lies over its node's name, no share over its exit's label (or over its node's name)."""
    badges = page.locator(".fn-hits")
    assert badges.count() > 0
    for badge in badges.all():
        testid = badge.get_attribute("data-testid") or ""
        name = box(page.get_by_test_id(f"node-{testid.removeprefix('hits-')}").locator(".fn-name"))
        assert not intersects(box(badge), name), f"{testid} covers its node's name"
    shares = page.locator(".fn-share")
    assert shares.count() > 0
    for share in shares.all():
        testid = share.get_attribute("data-testid") or ""
        node_id, port = testid.removeprefix("share-").split("-", 1)
        label = box(page.get_by_test_id(f"exit-label-{node_id}-{port}"))
        assert not intersects(box(share), label), f"{testid} covers its exit's label"
        assert not intersects(box(share), box(page.get_by_test_id(f"node-{node_id}").locator(".fn-name"))), testid


# Every node's box and every exit row's (label and share), as drawn.
DRAWN_BOXES = """() => Array.from(document.querySelectorAll('#fe-canvas .drawflow-node, #fe-canvas .fn-exit'), el => {
  const r = el.getBoundingClientRect();
  const node = el.closest('.drawflow-node').dataset.nodeId;
  const what = el.classList.contains('fn-exit') ? 'exit ' + el.parentElement.dataset.port + ' of ' + node : node;
  return {what: what, node: node, x: r.x, y: r.y, width: r.width, height: r.height};
})"""


def assert_nodes_and_exit_rows_clear_of_each_other(page: Page) -> None:
    """No node lies on another, and no exit's row (label and share) on any node."""
    drawn = page.evaluate(DRAWN_BOXES)
    nodes = [b for b in drawn if b["what"] == b["node"]]
    rows = [b for b in drawn if b["what"] != b["node"]]
    assert rows
    clashes = [(a["what"], b["what"]) for i, a in enumerate(nodes) for b in nodes[i + 1 :] if intersects(a, b)]
    clashes += [(a["what"], b["what"]) for a in rows for b in nodes if a["node"] != b["node"] and intersects(a, b)]
    assert clashes == []


def kuaishou_order(oid: int, sku: str, price_fen: int) -> dict[str, Any]:
    """The sample paid 快手 order, made new: its own ids, buyer and street, one line of ``sku``, paid just now."""
    order = samples.kuaishou_paid()
    now_ms = int(time.time() * 1000)
    base, item, address = order["orderBaseInfo"], order["orderItemInfo"], order["orderAddress"]
    base.update(oid=oid, createTime=now_ms - 60_000, payTime=now_ms - 50_000, updateTime=now_ms - 40_000)
    base.update(totalFee=price_fen, discountFee=0, buyerOpenId=f"hits-{oid}")
    item.update(orderItemId=oid + 1, relSkuId=sku, itemTitle=sku, originalPrice=price_fen, price=price_fen)
    address["desensitiseAddress"] = f"湖北省武汉市洪山区珞喻路 {oid % 1000} 号***"
    return order


def test_the_canvas_shows_how_many_orders_passed_each_node_and_a_count_lists_them(page: Page) -> None:
    page.set_viewport_size({"width": 1400, "height": 1000})
    run = secrets.token_hex(3).upper()

    # The admin makes a flow of the four-stage template for 快手 and publishes it.
    log_in(page, *ADMIN)
    editor_url = create_flow(page, f"快手订单处理 {run}")
    expect(page.get_by_test_id("hits-legend")).to_be_hidden()  # nothing is live yet: no counts
    expect(page.locator(".fn-hits")).to_have_count(0)
    publish_for_channel(page, "kuaishou", "快手小店启用标准四段订单处理")

    # Two orders of ¥89 (the default route) and one of ¥29 (under ¥50, not urgent: the cheapest route).
    secret = rotate_webhook_secret(page, "kuaishou-shop")
    base = int(time.time() * 1000) * 10
    orders = [(base + 10, "MASK-10", 8900), (base + 20, "MASK-10", 8900), (base + 30, "CABLE-C1", 2900)]
    ids = [deliver_order(page, "kuaishou", "kuaishou-shop", secret, kuaishou_order(*order)) for order in orders]
    for order_id in ids:
        done = page.locator('[data-testid="order-processing"][data-state="processed"]')
        reload_until_visible(page, f"/orders/{order_id}", done)

    # The canvas: every node the orders passed shows 3 since live and 3 in the last 24 hours; the route's
    # exits their shares; a node none passed shows 0.
    page.goto(editor_url)
    expect(page.get_by_test_id("flow-editor")).to_have_attribute("data-ready", "yes")
    expect(page.get_by_test_id("hits-legend")).to_contain_text("v1")
    expect(page.get_by_test_id("hits-start")).to_have_text("3 单 · 24h 3")
    expect(page.get_by_test_id("hits-route")).to_have_text("3 单 · 24h 3")
    expect(page.get_by_test_id("hits-hold_address")).to_have_text("0 单 · 24h 0")
    expect(page.get_by_test_id("share-route-default")).to_have_text("67%")
    expect(page.get_by_test_id("share-route-small_not_urgent")).to_have_text("33%")
    expect(page.get_by_test_id("share-route-east_3c")).to_have_text("0%")
    expect(page.get_by_test_id("share-audit_address-true")).to_have_text("100%")
    expect(page.get_by_test_id("hits-route")).to_have_attribute("title", re.compile("最近 24 小时 3 单"))
    snapshot(page, "1-canvas")
    # However long a node's name (【自动审单】同一地址 24 小时内超过 3 单？) or an exit's label (华东 + 3C 数码), the
    # counts are beside them, never over them.
    expect(page.get_by_test_id("exit-label-route-east_3c")).to_have_text("华东 + 3C 数码")
    assert_counts_clear_of_names_and_labels(page)
    assert_nodes_and_exit_rows_clear_of_each_other(page)
    search = page.get_by_test_id("node-search")
    search.fill("选择路线")
    search.press("Enter")
    expect(page.get_by_test_id("node-route")).to_have_class(re.compile(r"\bsearch-current\b"))
    page.locator("#fe-canvas").screenshot(path=str(ARTIFACTS / "hits-1-route.png"))
    search.fill("")
    # 整理布局 lays the nodes out by their sizes as drawn, counts included: 地址完整？ is taller with its count, so
    # what is stacked below it moves down; still nothing overlaps.
    below = "document.querySelector('[data-testid=node-hold_address]').offsetTop"
    top = page.evaluate(f"() => {below}")
    page.get_by_test_id("arrange").click()
    page.wait_for_function(f"y => {below} > y", arg=top)
    assert_counts_clear_of_names_and_labels(page)
    assert_nodes_and_exit_rows_clear_of_each_other(page)

    # A click on the route's count lists its three orders, newest first; the cheap route's share lists one.
    with page.expect_popup() as opened:
        page.get_by_test_id("hits-route").click()
    listing = opened.value
    expect(listing.get_by_test_id("hit-order")).to_have_count(3)
    expect(listing.get_by_test_id("hit-orders-summary")).to_contain_text("生效以来 3 单")
    for order_id in ids:
        expect(listing.locator(f'[data-testid="hit-order"][data-order-id="{order_id}"]')).to_be_visible()
    listing.screenshot(path=str(ARTIFACTS / "hits-2-orders.png"), full_page=True)
    listing.close()
    with page.expect_popup() as opened:
        page.get_by_test_id("share-route-small_not_urgent").click()
    cheap = opened.value
    expect(cheap.get_by_test_id("hit-order")).to_have_count(1)
    expect(cheap.locator(f'[data-testid="hit-order"][data-order-id="{ids[2]}"]')).to_be_visible()
    cheap.get_by_test_id("hit-order-link").click()
    expect(cheap).to_have_url(re.compile(rf"/orders/{ids[2]}$"))
    cheap.close()
    # The canvas did not take the click as a click on the node: no panel opened, nothing selected.
    expect(page.locator(".drawflow-node.multi-selected")).to_have_count(0)

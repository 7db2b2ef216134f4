"""The no-code editor all the way, as issue 13's "Must show" has it: an admin makes a flow of the shipped template
标准四段订单处理 for the 京东 and 抖音 shops and publishes it; a designer opens it and finds every condition and
every switch branch as a form, raises 同一地址 24 小时 "> 3" to "> 5" in the form and simulates it on an order
to an address with 5 orders (held before, approved now); the admin publishes that draft as a canary for the
抖音 shop only. Four orders to one address arrive by webhook in each shop: 京东's are processed by v1, whose
rule holds the 4th; 抖音's by v2, which lets the 4th through. The canvas shows the hit counts of both versions,
the versions panel the two side by side; the admin promotes the canary and the next 京东 order is processed by
v2. Screenshots of each step are saved as artefacts.

The flow is scoped to the jd and douyin channels, which no other journey sends orders to, so its counts and
its side-by-side are its own.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from playwright.sync_api import Page, expect

from app.db import utcnow
from app.domain.channels import samples
from app.domain.shops.models import Channel
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
from e2e.test_flow_condition_forms import open_node
from e2e.test_flow_editor_journey import settled

ADMIN = ("admin", "admin-demo-123")
DESIGNER = ("designer", "designer-demo-123")
JD, DOUYIN = ("jd", "jd-pop"), ("douyin", "douyin-live")
HELD_FOR_ADDRESS = "同一地址 24 小时内订单过多"

# The condition and switch nodes the canvas draws: their ids, types and names as shown.
DECISION_NODES = """() => [...document.querySelectorAll(
    '#fe-canvas .drawflow-node.type-condition, #fe-canvas .drawflow-node.type-switch')].map(el => ({
  id: el.dataset.nodeId, type: el.classList.contains('type-switch') ? 'switch' : 'condition',
  name: el.querySelector('.fn-name').textContent}))"""


def snapshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"no-code-canary-{name}.png"), full_page=True)


def simulate(page: Page, sample: str) -> None:
    page.get_by_test_id("tab-simulate").click()
    page.get_by_test_id("simulate-order").select_option(f"sample:{sample}")
    page.get_by_test_id("simulate-run").click()
    expect(page.get_by_test_id("simulate-status")).to_contain_text("运行到了结束")


def order_to(channel: str, run: str, seq: int, at: datetime, street: str) -> dict[str, Any]:
    """The platform's sample order number ``seq`` of ``run``, for one 补水面膜 (¥99, no discount, free shipping),
    to 张伟 at ``street`` in 武汉: the same receiver, phone and street make the same address."""
    order = samples.sample_order(run, seq, at)
    mask = next(sku for sku in samples.CATALOGUE if sku.code == "MASK-10")
    order = dataclasses.replace(
        order,
        lines=(samples.SampleLine(mask, 1),),
        shipping_fen=0,
        discount_fen=0,
        name="张伟",
        phone="13986541234",
        province="湖北",
        city="武汉市",
        district="洪山区",
        street=street,
        # In clear: a protected 抖店 order names its address by a token of its own, not by the street.
        protected=False,
    )
    return samples.FORMATS[Channel(channel)](order)


def wait_processed(page: Page, order_id: int) -> None:
    done = page.locator('[data-testid="order-processing"]:is([data-state="processed"], [data-state="held"])')
    reload_until_visible(page, f"/orders/{order_id}", done)


def expect_version(page: Page, flow_id: str, number: int) -> None:
    """On an order's page: our flow's run says which version processed the order."""
    run = page.locator(f'[data-testid="flow-run"][data-flow-id="{flow_id}"]')
    expect(run).to_have_count(1)
    expect(run.get_by_test_id("flow-run-version")).to_have_text(f"v{number}")


def test_a_rule_changed_in_forms_runs_as_a_canary_for_one_shop_and_is_promoted(page: Page) -> None:
    page.set_viewport_size({"width": 1440, "height": 1000})
    run = secrets.token_hex(3).upper()

    # The admin makes a flow of the four-stage template for 京东 and 抖音 and publishes it as v1.
    log_in(page, *ADMIN)
    editor_url = create_flow(page, f"京东抖音订单处理 {run}")
    flow_id = page.get_by_test_id("flow-editor").get_attribute("data-flow-id")
    assert flow_id
    publish_for_channel(page, ["jd", "douyin"], "京东、抖音店铺启用标准四段订单处理")
    versions_url = page.url
    log_out(page)

    # A designer opens it: every condition and switch on the canvas opens as a form, none as JSON.
    log_in(page, *DESIGNER)
    page.goto(editor_url)
    expect(page.get_by_test_id("flow-editor")).to_have_attribute("data-ready", "yes")
    decisions = page.evaluate(DECISION_NODES)
    kinds = [node["type"] for node in decisions]
    assert kinds.count("switch") >= 1 and kinds.count("condition") >= 8, decisions
    panel = page.get_by_test_id("node-panel")
    for node in decisions:
        open_node(page, node)
        expect(panel.get_by_test_id(f"panel-{node['type']}")).to_be_visible()
        expect(panel.get_by_test_id("use-builder")).to_have_count(0)
        expect(panel.get_by_test_id("raw-json")).to_be_hidden()  # the JSON stays folded under 高级
        expect(panel).not_to_contain_text("用 JSON Logic 写的")
        if node["type"] == "condition":
            expect(panel.get_by_test_id("cb-rule-c.0")).to_be_visible()
            continue
        branches = panel.locator("fieldset.fe-branch")
        assert branches.count() >= 1, node
        for i in range(branches.count()):
            branch = branches.nth(i)
            bid = branch.locator('input[name="branch"]').get_attribute("value")
            expect(branch.get_by_test_id(f"cb-rule-{bid}.0")).to_be_visible()
            expect(branch.get_by_test_id(f"branch-raw-{bid}")).to_have_count(0)
            label = branch.get_by_test_id(f"branch-label-{bid}").input_value()
            assert label and "\\u" not in label, (bid, label)
        if node["id"] == "route":
            expect(panel.get_by_test_id("branch-label-east_3c")).to_have_value("华东 + 3C 数码")
            snapshot(page, "1-switch-as-form")

    # The draft as it is holds an order to an address with 5 orders in 24 hours.
    simulate(page, "same_address_burst")
    trace = page.get_by_test_id("simulate-trace")
    expect(trace.locator('tr[data-node="hold_same_address"]')).to_have_count(1)
    expect(trace.locator('tr[data-node="approve"]')).to_have_count(0)

    # 同一地址 24 小时 "> 3" becomes "> 5", in the form.
    open_node(page, {"id": "audit_same_address", "name": "【自动审单】同一地址 24 小时内超过 3 单？"})
    expect(page.get_by_test_id("cb-field-c.0")).to_have_value("features.same_address_24h")
    expect(page.get_by_test_id("cb-op-c.0")).to_have_value("gt")
    expect(page.get_by_test_id("cb-value-c.0")).to_have_value("3")
    page.get_by_test_id("cb-value-c.0").fill("5")
    page.get_by_test_id("cb-value-c.0").press("Tab")
    settled(page)
    page.get_by_test_id("node-name").fill("【自动审单】同一地址 24 小时内超过 5 单？")
    page.get_by_test_id("node-name").press("Tab")
    settled(page)
    expect(page.get_by_test_id("panel-ok")).to_be_visible()
    expect(page.get_by_test_id("node-audit_same_address")).to_contain_text("大于 5")
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("save-status")).to_have_attribute("data-state", "saved")
    snapshot(page, "2-rule-changed-in-form")

    # The same order now takes the new path: approved, not held.
    simulate(page, "same_address_burst")
    expect(trace.locator('tr[data-node="hold_same_address"]')).to_have_count(0)
    expect(trace.locator('tr[data-node="approve"]')).to_have_count(1)
    expect(page.get_by_test_id("node-approve")).to_have_class(re.compile(r"\bsim-path\b"))
    expect(page.get_by_test_id("node-hold_same_address")).not_to_have_class(re.compile(r"\bsim-path\b"))
    snapshot(page, "3-simulated-new-path")
    log_out(page)

    # The admin publishes the draft as a canary for the 抖音 shop only.
    log_in(page, *ADMIN)
    page.goto(versions_url)
    form = page.get_by_test_id("canary-form")
    form.get_by_test_id("canary-note").fill("同一地址 24 小时超过 5 单才挂起，先在抖音直播小店试")
    form.get_by_test_id("canary-shop-douyin-live").check()
    form.get_by_test_id("canary-min-orders").fill("1000")  # judged only later: it must not roll back here
    form.get_by_test_id("canary-publish").click()
    expect(page.get_by_test_id("versions-message")).to_contain_text("版本 2 已作为灰度版本运行")
    expect(page.get_by_test_id("canary-running")).to_contain_text("抖音直播小店")
    expect(page.get_by_test_id("version-row-2").get_by_test_id("canary-badge")).to_be_visible()
    expect(page.get_by_test_id("version-row-1").get_by_test_id("live-badge")).to_be_visible()
    snapshot(page, "4-canary-published")

    # Four orders to one address in each shop, a few minutes apart, by webhook.
    secrets_of = {shop: rotate_webhook_secret(page, shop) for _, shop in (JD, DOUYIN)}
    now = utcnow()
    placed: dict[str, list[int]] = {}
    for n, (channel, shop) in enumerate((JD, DOUYIN)):
        street = f"珞喻路 {run} 号 {n + 1} 栋"
        placed[shop] = [
            deliver_order(
                page,
                channel,
                shop,
                secrets_of[shop],
                order_to(channel, f"NC{run}{n}", seq, now - timedelta(minutes=10 - seq), street),
            )
            for seq in range(1, 5)
        ]

    # 京东's are processed by v1: the 4th to the address is held. 抖音's by v2: none is.
    for shop, version in (("jd-pop", 1), ("douyin-live", 2)):
        for n, order_id in enumerate(placed[shop], start=1):
            wait_processed(page, order_id)
            expect_version(page, flow_id, version)
            state = page.get_by_test_id("order-processing")
            if n == 4:  # both read 4 orders to the address; v1 says "more than 3", v2 does not
                step = page.locator('[data-testid="trace-step"][data-node="audit_same_address"]')
                expect(step).to_contain_text("features.same_address_24h = 4")
                expect(step).to_have_attribute("data-port", "true" if version == 1 else "false")
            if shop == "jd-pop" and n == 4:
                expect(state).to_have_attribute("data-state", "held")
                expect(page.get_by_test_id("processing-hold-reason")).to_contain_text(HELD_FOR_ADDRESS)
                snapshot(page, "5-jd-4th-held-by-v1")
            else:
                expect(state).to_have_attribute("data-state", "processed")
                expect(page.get_by_test_id("processing-hold-reason")).to_have_count(0)
    snapshot(page, "6-douyin-4th-approved-by-v2")

    # The canvas: live v1's counts by default, the canary v2's a click away in the legend.
    page.goto(editor_url)
    expect(page.get_by_test_id("flow-editor")).to_have_attribute("data-ready", "yes")
    expect(page.get_by_test_id("editor-canary-running")).to_be_visible()
    legend = page.get_by_test_id("hits-legend")
    expect(legend.get_by_test_id("hits-show-live")).to_have_text("线上 v1")
    expect(legend.get_by_test_id("hits-show-live")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_test_id("hits-start")).to_have_text("4 单 · 24h 4")
    expect(page.get_by_test_id("hits-hold_same_address")).to_have_text("1 单 · 24h 1")
    expect(page.get_by_test_id("share-audit_same_address-true")).to_have_text("25%")
    snapshot(page, "7-canvas-live-hits")
    legend.get_by_test_id("hits-show-canary").click()
    expect(legend.get_by_test_id("hits-show-canary")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_test_id("hits-start")).to_have_text("灰度 4 单 · 24h 4")
    expect(page.get_by_test_id("hits-approve")).to_have_text("灰度 4 单 · 24h 4")
    expect(page.get_by_test_id("hits-hold_same_address")).to_have_text("灰度 0 单 · 24h 0")
    expect(page.get_by_test_id("share-audit_same_address-true")).to_have_text("0%")
    snapshot(page, "8-canvas-canary-hits")
    # A canary count lists the canary's orders: the four of 抖音.
    with page.expect_popup() as opened:
        page.get_by_test_id("hits-approve").click()
    listing = opened.value
    expect(listing.get_by_test_id("hit-order")).to_have_count(4)
    for order_id in placed["douyin-live"]:
        expect(listing.locator(f'[data-testid="hit-order"][data-order-id="{order_id}"]')).to_be_visible()
    listing.close()

    # The versions panel: the two side by side, then promote.
    page.goto(versions_url)
    expect(page.get_by_test_id("canary-orders-live")).to_have_text("4")
    expect(page.get_by_test_id("canary-orders-canary")).to_have_text("4")
    expect(page.get_by_test_id("canary-hold-rate-live")).to_have_text("25.0%")
    expect(page.get_by_test_id("canary-hold-rate-canary")).to_have_text("0.0%")
    expect(page.get_by_test_id("canary-failures-live")).to_have_text("0 (0.0%)")
    expect(page.get_by_test_id("canary-failures-canary")).to_have_text("0 (0.0%)")
    expect(page.get_by_test_id("canary-fee-canary")).to_contain_text("¥")
    page.get_by_test_id("canary-stats").scroll_into_view_if_needed()
    snapshot(page, "9-side-by-side")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("canary-promote").click()
    expect(page.get_by_test_id("versions-message")).to_contain_text("灰度版本已转正")
    expect(page.get_by_test_id("version-row-2").get_by_test_id("live-badge")).to_be_visible()
    expect(page.get_by_test_id("version-row-1").get_by_test_id("live-badge")).to_have_count(0)
    expect(page.get_by_test_id("canary-badge")).to_have_count(0)
    expect(page.locator('[data-testid="canary-history"] li[data-status="promoted"]')).to_have_count(1)
    snapshot(page, "10-promoted")

    # A new 京东 order is processed by v2.
    later = deliver_order(page, *JD, secrets_of["jd-pop"], order_to("jd", f"NC{run}9", 1, utcnow(), "珞瑜路 9 号"))
    wait_processed(page, later)
    expect_version(page, flow_id, 2)
    expect(page.get_by_test_id("order-processing")).to_have_attribute("data-state", "processed")
    snapshot(page, "11-jd-order-on-v2")

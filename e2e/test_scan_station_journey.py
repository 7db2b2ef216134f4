"""The scan station journey: an admin adds a 社区团购 shop and publishes the four-stage flow for it; a paid order
arrives by webhook, is routed and gets its waybill from the sandbox carrier. A warehouse operator opens 扫描发货
from 发货单据, scans the waybill number: the parcel is shipped (green, units deducted, the order shipped) and the
input is empty for the next parcel, with the success tone and the session's count; scanned again it says 已发过货
(nothing changed); a wrong number is refused in red with the failure tone, and muted it is refused without one (the
mute is remembered across a reload). The order's page then says 已发货. A second order's parcel leaves with its
whole wave: the operator picks the wave, is told how many parcels it holds, confirms, and the result lists the
parcel as shipped, downloadable as CSV. 报表's 发货时效 for the shop then counts both parcels, past the promise.

The flow is scoped to a channel no other journey uses (``community_group``) so that publishing it changes nothing
for the orders other journeys create on the shared live server.
"""

from __future__ import annotations

import re
import secrets
import time

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


def wait_for_tone(page: Page, outcome: str) -> None:
    """Wait until the page has played the tone of ``outcome``. Asked from here: Playwright's wait_for_function polls
    by evaluating its predicate inside the page, which the site's Content-Security-Policy (no unsafe-eval) refuses."""
    deadline = time.monotonic() + 5
    while not page.evaluate("outcome => window.__scanTones.some(t => t.outcome === outcome)", outcome):
        assert time.monotonic() < deadline, f"no {outcome} tone was played"
        page.wait_for_timeout(50)


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
    second_id = deliver_order(page, CHANNEL, SHOP, secret, group_order(f"WAVE-{secrets.token_hex(3)}"))
    reload_until_visible(
        page, f"/orders/{second_id}", page.get_by_test_id("order-status").filter(has_text=re.compile("已打单"))
    )
    second_waybill = page.get_by_test_id("shipment-waybill").first.inner_text().strip()
    warehouse = page.get_by_test_id("shipment-warehouse").first.locator("code").inner_text().strip()
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
    # A big green panel and the success tone (an oscillator started; the test cannot hear it).
    expect(page.get_by_test_id("scan-shipped")).to_have_class(re.compile(r"\bscan-panel\b"))
    expect(page.get_by_test_id("scan-shipped")).to_have_css("background-color", "rgb(26, 127, 55)")
    wait_for_tone(page, "shipped")
    expect(page.get_by_test_id("scan-count-shipped")).to_have_text("1")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "scan-shipped.png"), full_page=True)

    page.get_by_test_id("scan-input").fill(waybill)
    page.get_by_test_id("scan-input").press("Enter")
    expect(page.get_by_test_id("scan-already")).to_contain_text("未做任何改动")
    page.get_by_test_id("scan-input").fill("NOPE-0000")
    page.get_by_test_id("scan-submit").click()
    expect(page.get_by_test_id("scan-refused")).to_have_text("没有快递单号为 NOPE-0000 的包裹。")
    expect(page.get_by_test_id("scan-refused")).to_have_css("background-color", "rgb(207, 34, 46)")
    wait_for_tone(page, "refused")
    tones = page.evaluate("window.__scanTones.length")
    expect(page.get_by_test_id("scan-count-refused")).to_have_text("1")
    expect(page.get_by_test_id("scan-log-entry")).to_have_count(3)
    expect(page.get_by_test_id("scan-log-entry").first).to_contain_text("NOPE-0000")
    page.screenshot(path=str(ARTIFACTS / "scan-refused.png"), full_page=True)

    # Muted, a refusal is still red but makes no sound; the switch and the session's count survive a reload.
    page.get_by_test_id("scan-mute").click()
    expect(page.get_by_test_id("scan-mute")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_test_id("scan-input")).to_be_focused()
    page.get_by_test_id("scan-input").fill("NOPE-0001")
    page.get_by_test_id("scan-input").press("Enter")
    expect(page.get_by_test_id("scan-count-refused")).to_have_text("2")
    assert page.evaluate("window.__scanTones.length") == tones
    page.reload()
    expect(page.get_by_test_id("scan-mute")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_test_id("scan-count-refused")).to_have_text("2")
    page.get_by_test_id("scan-mute").click()
    expect(page.get_by_test_id("scan-mute")).to_have_attribute("aria-pressed", "false")

    page.goto(f"/orders/{order_id}")
    expect(page.get_by_test_id("order-status")).to_have_text("已发货")
    expect(page.get_by_test_id("shipment-shipped")).to_have_text("已发货")

    # The second parcel leaves with its whole wave (the newest of its warehouse).
    page.goto("/fulfillment/scan")
    picks = page.get_by_test_id("scan-wave-pick").locator("option")
    wave_value = next(v for v in picks.evaluate_all("os => os.map(o => o.value)") if v.startswith(f"{warehouse}|"))
    page.get_by_test_id("scan-wave-pick").select_option(wave_value)
    page.get_by_test_id("scan-wave-submit").click()
    count = int(page.get_by_test_id("scan-wave-count").get_attribute("data-count") or "0")
    assert count >= 1
    expect(page.get_by_test_id("scan-wave-count")).to_contain_text(f"确认该波次的 {count} 个包裹发货？")
    page.get_by_test_id("scan-wave-start").click()
    expect(page.get_by_test_id("scan-batch")).to_have_attribute("data-finished", "yes")
    expect(page.get_by_test_id("scan-batch-progress")).to_contain_text(f"已处理 {count} / {count} 个快递单号")
    row = page.get_by_test_id("scan-batch-row").filter(has_text=second_waybill)
    expect(row).to_have_attribute("data-outcome", "shipped")
    expect(row).to_contain_text("已发货")
    page.screenshot(path=str(ARTIFACTS / "scan-wave.png"), full_page=True)
    with page.expect_download() as download:
        page.get_by_test_id("scan-batch-csv").click()
    assert second_waybill in download.value.path().read_text(encoding="utf-8-sig")
    page.goto(f"/orders/{second_id}")
    expect(page.get_by_test_id("order-status")).to_have_text("已发货")

    # 发货时效 counted both parcels as they were scanned: paid on 11-11, they left weeks later, past the promise.
    page.goto("/reports")
    page.get_by_test_id("filter-shop").select_option(label="社区团购发货测试")
    page.get_by_test_id("filter-submit").click()
    section = page.get_by_test_id("report-shiptime")
    section.locator("summary").click()
    row = page.get_by_test_id("table-shiptime").locator("tbody tr")
    expect(row).to_have_count(1)
    cells = row.locator("td")
    expect(cells.nth(2)).to_have_text("2")
    expect(cells.nth(4)).to_have_text("0.0%")
    expect(cells.nth(5)).to_have_text("0")
    expect(cells.nth(6)).to_have_text("—")
    expect(cells.last).to_have_text("2")
    expect(page.get_by_test_id("chart-shiptime")).to_have_attribute("data-drawn", "yes")
    section.screenshot(path=str(ARTIFACTS / "scan-shiptime.png"))

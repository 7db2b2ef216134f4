"""工作台 in a real browser. First the README's run command itself (`python3 dev.py run`) on a fresh data directory:
it serves a dashboard with the demo's history in it, the history's progress moving as the server makes the rest of
the month, and 报表 drawing that history. Then, on the journeys' shared server, each role's dashboard shows only its
own cards, refreshes itself when an order arrives, and every card links to where it is handled. Screenshots of
each dashboard are kept as artefacts."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from e2e.conftest import (
    ARTIFACTS,
    ROOT,
    add_shop,
    csp_violations,
    deliver_order,
    free_port,
    log_in,
    log_out,
    rotate_webhook_secret,
    wait_until_serving,
)
from e2e.test_flow_hits_journey import kuaishou_order

ADMIN = ("admin", "admin-demo-123")
OPERATOR = ("operator", "operator-demo-123")
FINANCE = ("finance", "finance-demo-123")
VIEWER = ("viewer", "viewer-demo-123")
#: A history small enough that its first pass takes seconds; the server makes the rest while the journey looks.
RUN_ORDERS = "3000"


@pytest.fixture
def readme_run(tmp_path: Path) -> Iterator[str]:
    """`python3 dev.py run` as the README gives it, on a port and data directory of its own; yields its URL."""
    port = free_port()
    env = {**os.environ, "RULEFLOW_VAR_DIR": str(tmp_path), "PORT": str(port), "DEMO_HISTORY_ORDERS": RUN_ORDERS}
    for key in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "RULEFLOW_ENV", "CARRIER_API_URL"):
        env.pop(key, None)
    log_path = tmp_path / "run.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "dev.py", "run"], cwd=ROOT, env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    wait_until_serving(base, process, log_path, within=180)
    yield base
    process.terminate()
    process.wait(timeout=20)


def test_the_readme_run_command_serves_a_dashboard_with_the_demo_history(browser: Browser, readme_run: str) -> None:
    context = browser.new_context(base_url=readme_run, locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    blocked = csp_violations(page)
    log_in(page, *ADMIN)

    # The history is being made: its card says how far, and the count moves as the server makes more.
    card = page.get_by_test_id("dash-demo-history")
    expect(card).to_be_visible(timeout=30_000)
    expect(card).to_have_attribute("data-planned", f"{int(RUN_ORDERS):,}".replace(",", ""))
    expect(card).to_contain_text("演示历史生成中")
    made = int(card.get_attribute("data-made") or "0")
    assert made > 0
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-readme-run.png"), full_page=True)
    # The dashboard asks for itself again every 15 seconds: no reload here.
    expect(card).not_to_have_attribute("data-made", str(made), timeout=45_000)

    # 报表 draws the history: the last days' GMV by channel, from the orders the history made.
    page.goto("/reports")
    gmv = page.get_by_test_id("table-gmv")
    expect(page.get_by_test_id("chart-gmv")).to_have_attribute("data-drawn", "yes")
    page.get_by_test_id("report-gmv").locator("summary").click()
    expect(gmv.locator("tbody tr").first).to_be_visible()
    assert gmv.locator("tbody tr").count() >= 2
    page.screenshot(path=str(ARTIFACTS / "reports-readme-run.png"), full_page=True)
    context.close()
    assert blocked == [], f"the browser blocked under the Content-Security-Policy: {blocked}"


def test_each_role_sees_its_own_cards_which_refresh_themselves_and_link_to_where_they_are_handled(
    page: Page,
) -> None:
    run = secrets.token_hex(3).upper()
    code = f"dash-{run.lower()}"
    log_in(page, *ADMIN)
    add_shop(page, "kuaishou", code, f"工作台快手店 {run}")
    secret = rotate_webhook_secret(page, code)
    page.goto("/")
    for card in ("dash-gmv", "dash-queue", "dash-held", "dash-low-stock", "dash-attention"):
        expect(page.get_by_test_id(card)).to_be_visible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-admin.png"), full_page=True)
    log_out(page)

    # The operator keeps the dashboard open; a paid order arrives and today's GMV moves without a reload.
    log_in(page, *OPERATOR)
    gmv = page.get_by_test_id("dash-gmv")
    before = int(gmv.get_attribute("data-value") or "0")
    oid = int(time.time() * 1000) % 10**9 * 10
    deliver_order(page, "kuaishou", code, secret, kuaishou_order(oid, "PHONE-X1", 12_300))
    expect(gmv).to_have_attribute("data-value", str(before + 12_300), timeout=45_000)
    expect(page.get_by_test_id("dash-channel").filter(has_text="快手")).to_be_visible()
    expect(page.get_by_test_id("dash-vouchers")).to_have_count(0)  # vouchers are finance's
    page.screenshot(path=str(ARTIFACTS / "dashboard-operator.png"), full_page=True)
    # Each card opens where its figure is handled.
    for card, where in (
        ("dash-held", "/orders/review"),
        ("dash-queue", "/orders/processing"),
        ("dash-gmv", "/reports"),
    ):
        page.goto("/")
        page.get_by_test_id(card).click()
        expect(page).to_have_url(re.compile(rf"{re.escape(where)}/?$"))
    log_out(page)

    # Finance sees the vouchers waiting for approval and export.
    log_in(page, *FINANCE)
    expect(page.get_by_test_id("dash-vouchers")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "dashboard-finance.png"), full_page=True)
    log_out(page)

    # The viewer reads the figures and nothing to act on.
    log_in(page, *VIEWER)
    expect(page.get_by_test_id("dash-gmv")).to_be_visible()
    expect(page.get_by_test_id("dash-vouchers")).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / "dashboard-viewer.png"), full_page=True)

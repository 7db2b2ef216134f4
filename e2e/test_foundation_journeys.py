"""Journeys through the shell: each demo user logs in and finds their part of the product."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from e2e.conftest import csp_violations

DEMO = {
    "admin": ("admin-demo-123", ["订单", "审核", "售后", "库存", "规则流", "财务", "报表", "设置"]),
    "designer": ("designer-demo-123", ["订单", "售后", "库存", "规则流", "报表"]),
    "operator": ("operator-demo-123", ["订单", "审核", "售后", "库存", "报表"]),
    "viewer": ("viewer-demo-123", ["订单", "售后", "库存", "报表"]),
}


def log_in(page: Page, username: str, password: str) -> None:
    page.goto("/login")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()


@pytest.mark.parametrize("username", list(DEMO))
def test_each_demo_user_sees_only_the_navigation_of_their_role(page: Page, username: str):
    password, labels = DEMO[username]
    log_in(page, username, password)
    expect(page.get_by_test_id("current-user")).to_contain_text(username)
    expect(page.get_by_test_id("main-nav").locator("a")).to_have_text(labels)


def test_a_wrong_password_is_explained_in_chinese(page: Page):
    log_in(page, "viewer", "not-the-password")
    expect(page.get_by_test_id("login-error")).to_have_text("用户名或密码错误。")
    expect(page).to_have_url(re.compile(r"/login"))


def test_a_designer_who_opens_the_settings_page_is_told_no(page: Page):
    log_in(page, "designer", DEMO["designer"][0])
    page.goto("/settings")
    expect(page.get_by_test_id("error-page")).to_contain_text("无权访问")


def test_the_interface_switches_to_english(page: Page):
    log_in(page, "operator", DEMO["operator"][0])
    page.get_by_test_id("lang-en").click()
    expect(page.get_by_test_id("main-nav").locator("a")).to_have_text(
        ["Orders", "Review", "After-sales", "Inventory", "Reports"]
    )
    page.get_by_test_id("lang-zh_Hans").click()
    expect(page.get_by_test_id("nav-orders")).to_have_text("订单")


def test_an_admin_creates_an_api_token_and_sees_the_secret_once(page: Page):
    log_in(page, "admin", DEMO["admin"][0])
    page.get_by_test_id("nav-settings").click()
    page.get_by_test_id("token-name").fill("抖店推送")
    page.get_by_test_id("token-scope-ingest").check()
    page.get_by_test_id("token-submit").click()
    expect(page.get_by_test_id("new-token")).to_contain_text("rf_")
    page.reload()
    expect(page.get_by_test_id("new-token")).to_have_count(0)
    expect(page.get_by_test_id("token-table")).to_contain_text("抖店推送")


def test_the_inventory_page_shows_the_demo_warehouses(page: Page):
    log_in(page, "viewer", DEMO["viewer"][0])
    page.get_by_test_id("nav-inventory").click()
    expect(page.get_by_test_id("warehouse-table")).to_contain_text("上海仓")
    expect(page.get_by_test_id("sku-table")).to_contain_text("¥3,999.00")


def test_logging_out_returns_to_the_login_page(page: Page):
    log_in(page, "viewer", DEMO["viewer"][0])
    page.get_by_test_id("logout").click()
    expect(page.get_by_test_id("login-form")).to_be_visible()
    page.goto("/orders")
    expect(page).to_have_url(re.compile(r"/login\?next=/orders"))


def test_script_slipped_into_a_page_is_refused_by_the_browser(browser: Browser, live_server: str):
    """Markup that got past escaping still cannot run: the Content-Security-Policy blocks it, and says so."""
    context = browser.new_context(base_url=live_server)
    tab = context.new_page()
    blocked = csp_violations(tab)
    tab.goto("/login")
    tab.evaluate(
        """() => {
            document.body.insertAdjacentHTML("beforeend", '<img src="/static/none.png" onerror="window.ran = 1">');
            const script = document.createElement("script");
            script.textContent = "window.ran = 2";
            document.body.appendChild(script);
        }"""
    )
    tab.wait_for_timeout(500)
    assert tab.evaluate("() => window.ran") is None
    assert len(blocked) >= 2, blocked
    context.close()

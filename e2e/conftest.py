"""A live server (run the way the README runs it, on a fresh var directory) and a real Chromium."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, expect, sync_playwright

from app.domain.channels.services import SHOP_HEADER, SIGNATURE_HEADER, sign_body

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"


def pytest_report_header(config: pytest.Config) -> str:
    version = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    return f"e2e browser: {version or 'chromium not found at ' + CHROMIUM} (headless, driven by Playwright)"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_serving(base: str, process: subprocess.Popen[bytes], log_path: Path, *, within: float) -> None:
    """Until ``base`` answers its health check; a process that ends or takes longer than ``within`` seconds is
    killed and its log raised."""
    deadline = time.monotonic() + within
    while True:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"{base} did not serve:\n" + log_path.read_text(errors="replace"))
        time.sleep(0.3)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    var_dir = tmp_path_factory.mktemp("e2e-var")
    port = free_port()
    # The sandbox carrier is the server's own: waybills come from this port, as on :8000 in the README's run.
    env = {
        **os.environ,
        "RULEFLOW_VAR_DIR": str(var_dir),
        "CARRIER_API_URL": f"http://127.0.0.1:{port}/sandbox/carrier",
    }
    for key in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "RULEFLOW_ENV"):
        env.pop(key, None)
    cli = str(Path(sys.executable).parent / "ruleflow")
    subprocess.run([cli, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    # The journeys start from the bare demo (no history): each makes the orders it looks at.
    subprocess.run([cli, "seed-demo", "--history-orders", "0"], cwd=ROOT, env=env, check=True, capture_output=True)
    log = (var_dir / "server.log").open("wb")
    server = subprocess.Popen(
        [cli, "serve", "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    wait_until_serving(base, server, var_dir / "server.log", within=30)
    yield base
    server.terminate()
    server.wait(timeout=10)
    log.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def csp_violations(page: Page) -> list[str]:
    """What the browser reported blocking under our Content-Security-Policy on this tab (kept as it happens)."""
    found: list[str] = []

    def note(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            found.append(
                f"{page.url} ({message.location.get('url')}:{message.location.get('lineNumber')}): {message.text}"
            )

    page.on("console", note)
    return found


@pytest.fixture
def page(browser: Browser, live_server: str, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server, locale="zh-CN", viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    blocked = csp_violations(tab)
    yield tab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    # Every journey doubles as a check that nothing the pages need is blocked by the policy.
    assert blocked == [], f"the browser blocked under the Content-Security-Policy: {blocked}"


# --- helpers the journeys share ---------------------------------------------------------------------------


def log_in(page: Page, username: str, password: str) -> None:
    page.goto("/login")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("current-user")).to_contain_text(username)


def log_out(page: Page) -> None:
    page.get_by_test_id("logout").click()
    expect(page).to_have_url(re.compile(r"/login"))


def reload_until_visible(page: Page, url: str, target: Locator, *, within_ms: int = 60_000) -> None:
    """Background processing: open the page again until ``target`` shows up (checking twice a second)."""
    deadline = time.monotonic() + within_ms / 1000
    while True:
        page.goto(url)
        if target.count() > 0:
            return
        assert time.monotonic() < deadline, f"{url}: nothing matched {target} within {within_ms} ms"
        page.wait_for_timeout(500)


def create_flow(page: Page, name: str, template: str = "standard_four_stage") -> str:
    """On 规则流: 新建流程 named ``name`` from a shipped template; waits for its editor and returns its URL."""
    page.goto("/flows/")
    page.get_by_test_id("flow-name").fill(name)
    page.get_by_test_id(f"flow-template-{template}").check()
    page.get_by_test_id("flow-create").click()
    expect(page.get_by_test_id("flow-editor")).to_have_attribute("data-ready", "yes")
    return page.url


def publish_for_channel(page: Page, channel: str | Sequence[str], note: str) -> None:
    """As an admin in a flow's open editor: scope the flow to one channel (or to each of several) and publish
    its draft."""
    page.get_by_test_id("tab-settings").click()
    for each in [channel] if isinstance(channel, str) else channel:
        page.get_by_test_id(f"settings-channel-{each}").check()
    page.get_by_test_id("settings-save").click()
    expect(page.get_by_test_id("settings-saved")).to_be_visible()
    page.get_by_test_id("versions-link").click()
    page.get_by_test_id("publish-note").fill(note)
    page.get_by_test_id("publish").click()
    expect(page.get_by_test_id("versions-message")).to_contain_text("已上线")


def add_shop(page: Page, channel: str, code: str, name: str) -> None:
    """As an admin on 渠道与店铺: add a shop of ``channel`` and wait for its card."""
    page.goto("/channels/")
    page.get_by_test_id("shop-new-channel").select_option(channel)
    page.get_by_test_id("shop-new-code").fill(code)
    page.get_by_test_id("shop-new-name").fill(name)
    page.get_by_test_id("shop-new-submit").click()
    expect(page.get_by_test_id(f"shop-{code}")).to_contain_text(name)


def rotate_webhook_secret(page: Page, shop_code: str) -> str:
    """As an admin on 渠道与店铺: make a new webhook secret for a shop and read it off the page (shown once)."""
    page.goto("/channels/")
    page.get_by_test_id(f"rotate-secret-{shop_code}").click()
    secret = page.get_by_test_id("new-webhook-secret").locator("code").inner_text().strip()
    assert secret
    return secret


def deliver_order(page: Page, channel: str, shop_code: str, secret: str, payload: dict[str, Any]) -> int:
    """POST an order to the webhook, signed as the platform would; returns the order's id."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    response = page.request.post(
        f"/api/v1/channels/{channel}/orders",
        data=body,
        headers={SHOP_HEADER: shop_code, SIGNATURE_HEADER: sign_body(secret, body), "Content-Type": "application/json"},
    )
    assert response.status == 200, response.text()
    return int(response.json()["order_id"])


def cable_order(external_id: str, *, name: str, phone: str, nick: str = "团购顾客") -> dict[str, object]:
    """A paid order in the generic JSON format (社区团购 and other generic channels): two cables to 杭州."""
    return {
        "order_id": external_id,
        "status": "paid",
        "created_at": "2026-11-20 10:00:00",
        "paid_at": "2026-11-20 10:00:00",
        "updated_at": "2026-11-20 10:00:00",
        "buyer": {"id": f"buyer-{external_id}", "nick": nick},
        "receiver": {
            "name": name,
            "phone": phone,
            "province": "浙江",
            "city": "杭州市",
            "district": "西湖区",
            "address": "文三路 300 号",
        },
        "lines": [
            {"line_id": "1", "sku": "CABLE-C1", "title": "数据线", "qty": 2, "unit_price_fen": 2900, "paid_fen": 5800}
        ],
    }

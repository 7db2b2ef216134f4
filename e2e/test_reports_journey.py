"""报表 in a real browser: an admin adds a 快手 shop and two paid orders arrive by its webhook; finance opens 报表
for that shop and finds both orders and their GMV in the GMV table once the workers have counted them (and the two
phones sold in the return rate's table), every report's ECharts chart drawn (under the site's Content-Security-Policy),
and the GMV table downloaded as CSV; the viewer reads every report but 毛利, finance's figure. Screenshots of each
report are kept as artefacts."""

from __future__ import annotations

import secrets
import time

from playwright.sync_api import Page, expect

from app.domain.reports.queries import REPORTS
from e2e.conftest import (
    ARTIFACTS,
    add_shop,
    deliver_order,
    log_in,
    log_out,
    reload_until_visible,
    rotate_webhook_secret,
)
from e2e.test_flow_hits_journey import kuaishou_order

ADMIN = ("admin", "admin-demo-123")
VIEWER = ("viewer", "viewer-demo-123")
FINANCE = ("finance", "finance-demo-123")


def test_every_report_draws_its_chart_beside_its_table_and_downloads(page: Page) -> None:
    run = secrets.token_hex(3).upper()
    code, name = f"reports-{run.lower()}", f"报表快手店 {run}"
    log_in(page, *ADMIN)
    add_shop(page, "kuaishou", code, name)
    secret = rotate_webhook_secret(page, code)
    first = int(time.time() * 1000) % 10**9 * 10
    for oid, price in ((first, 8900), (first + 4, 5900)):
        deliver_order(page, "kuaishou", code, secret, kuaishou_order(oid, "PHONE-X1", price))
    log_out(page)

    # Finance reads every report, 毛利 among them.
    log_in(page, *FINANCE)
    page.goto("/reports")
    page.get_by_test_id("filter-shop").select_option(label=name)
    page.get_by_test_id("filter-submit").click()
    gmv = page.get_by_test_id("table-gmv")
    # The workers count the orders into the rollups within a second or two.
    reload_until_visible(page, page.url, gmv.locator("td", has_text="快手"))
    row = gmv.locator("tbody tr", has_text="快手")
    expect(row.locator("td").nth(2)).to_have_text("2")
    expect(row.locator("td").nth(4)).to_have_text("¥148.00")
    # The same count gives 退货率 its units sold: two phones, none asked back yet.
    sold = page.get_by_test_id("table-returns").locator("tbody tr", has_text="PHONE-X1")
    expect(sold.locator("td")).to_have_text(["PHONE-X1", "星河 X1 手机 8+256G", "全部原因", "0", "2", "0", "0.0%"])

    for key in REPORTS:
        chart = page.get_by_test_id(f"chart-{key}")
        expect(chart).to_have_attribute("data-drawn", "yes")
        expect(chart.locator("canvas")).to_have_count(1)
        section = page.get_by_test_id(f"report-{key}")
        section.locator("summary").click()
        expect(page.get_by_test_id(f"table-{key}")).to_be_visible()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        section.screenshot(path=str(ARTIFACTS / f"reports-{key}.png"))

    with page.expect_download() as download:
        page.get_by_test_id("download-gmv-csv").click()
    content = download.value.path().read_bytes().decode("utf-8-sig")
    assert content.splitlines()[0] == "日期,渠道,订单数,支付订单数,成交额,退款额,净成交额"
    assert any(line.endswith(",快手,2,2,148.00,0.00,148.00") for line in content.splitlines()), content
    log_out(page)

    log_in(page, *VIEWER)
    page.goto("/reports")
    expect(page.get_by_test_id("chart-gmv")).to_have_attribute("data-drawn", "yes")
    expect(page.get_by_test_id("report-margin")).to_have_count(0)

"""The order hub journey: import a CSV of orders from several channels, find them in the one list, filter by
channel, open one and see the masked phone; an admin reveals it and the audit log shows that they did."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from e2e.conftest import log_in, log_out

CSV = "\n".join(
    [
        "店铺编码,订单号,状态,下单时间,付款时间,买家昵称,收货人,手机,省份,城市,区县,详细地址,商品编码,商品名称,数量,单价,运费,优惠,标签",
        "tmall-flagship,E2E-TM-1,paid,2026-11-11 00:10:00,2026-11-11 00:10:30,小王,王小明,13812345678,上海,上海市,浦东新区,张江路 88 弄 6 号,PHONE-X1,星河 X1 手机,1,3999.00,0,100.00,vip",  # noqa: E501
        "tmall-flagship,E2E-TM-1,paid,2026-11-11 00:10:00,2026-11-11 00:10:30,小王,王小明,13812345678,上海,上海市,浦东新区,张江路 88 弄 6 号,CABLE-C1,数据线,2,29.00,0,100.00,vip",  # noqa: E501
        "jd-pop,E2E-JD-1,paid,2026-11-11 09:00:00,2026-11-11 09:00:20,jd_pin,刘洋,13900001024,北京,北京市,朝阳区,建国路 88 号 5 号楼,EARBUD-P2,声悦 P2 无线耳机,1,499.00,0,0,",  # noqa: E501
        "douyin-live,E2E-DY-1,paid,2026-11-11 12:00:00,2026-11-11 12:00:05,抖音用户,陈晨,15800006621,四川,成都市,武侯区,玉林北路 1 号,MASK-10,补水面膜,1,99.00,0,0,",  # noqa: E501
        "wechat-mini,E2E-WX-1,paid,2026-11-11 13:00:00,2026-11-11 13:00:05,微信用户,周婷,13911112222,上海,上海市,静安区,南京西路 1266 号,YOGURT-6,鲜酸奶,2,39.90,0,0,",  # noqa: E501
    ]
)


def test_import_filter_open_reveal_and_audit(page: Page, tmp_path: Path):
    csv_file = tmp_path / "双十一多渠道订单.csv"
    csv_file.write_text(CSV, encoding="utf-8")

    # An operator imports the file and watches the progress bar finish.
    log_in(page, "operator", "operator-demo-123")
    page.get_by_test_id("nav-orders").click()
    page.get_by_test_id("import-link").click()
    page.get_by_test_id("import-file").set_input_files(str(csv_file))
    page.get_by_test_id("import-submit").click()
    expect(page.get_by_test_id("import-status")).to_have_attribute("data-status", "done", timeout=30_000)
    expect(page.get_by_test_id("import-counts")).to_contain_text("导入成功 4 个")
    page.get_by_test_id("import-see-orders").click()

    # All four channels in one list; filtering by channel narrows it to JD.
    rows = page.get_by_test_id("order-row")
    for external_id in ("E2E-TM-1", "E2E-JD-1", "E2E-DY-1", "E2E-WX-1"):
        expect(page.locator(f'[data-external-id="{external_id}"]')).to_be_visible()
    page.get_by_test_id("filter-channel").select_option("jd")
    page.get_by_test_id("filter-submit").click()
    # Other journeys send JD orders to the same server: the list holds ours, and only JD's.
    expect(page.locator('[data-external-id="E2E-JD-1"]')).to_be_visible()
    expect(page.locator('[data-external-id="E2E-TM-1"]')).to_have_count(0)
    expect(rows.first).to_be_visible()
    assert {rows.nth(i).get_attribute("data-channel") for i in range(rows.count())} == {"jd"}
    log_out(page)

    # A viewer opens the JD order and sees only the masked phone, with no way to reveal it.
    log_in(page, "viewer", "viewer-demo-123")
    page.goto("/orders/?channel=jd")
    page.locator('[data-external-id="E2E-JD-1"]').get_by_test_id("order-link").click()
    expect(page.get_by_test_id("order-title")).to_contain_text("E2E-JD-1")
    expect(page.get_by_test_id("receiver-phone")).to_have_text("139****1024")
    expect(page.get_by_test_id("reveal-pii")).to_have_count(0)
    order_url = page.url
    log_out(page)

    # An admin reveals it; the audit log shows who did, on which order.
    log_in(page, "admin", "admin-demo-123")
    page.goto(order_url)
    expect(page.get_by_test_id("receiver-phone")).to_have_text("139****1024")
    page.get_by_test_id("reveal-pii").click()
    expect(page.get_by_test_id("receiver-phone")).to_have_text("13900001024")
    expect(page.get_by_test_id("revealed-note")).to_be_visible()
    order_id = order_url.rstrip("/").rsplit("/", 1)[-1]
    page.goto("/settings/audit?action=pii.reveal")
    row = page.locator('[data-testid="audit-row"][data-action="pii.reveal"]')
    expect(row).to_have_count(1)
    expect(row).to_contain_text("admin")
    expect(row).to_contain_text(f"order {order_id}")

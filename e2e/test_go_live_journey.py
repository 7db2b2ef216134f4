"""Going live as a new retailer would, in the browser: an admin adds the retailer's own shop on 渠道与店铺, then
imports a 200-SKU Excel catalogue with one bad row under 库存 → 商品 → 导入 / 导出. Imported all-or-nothing, the
file is refused with the row and the field named and nothing lands; imported again choosing 只导入正确的行, the
199 good rows are in the catalogue and the bad one is not. The admin publishes the four-stage flow for the new
shop; its first order arrives by webhook with a platform SKU that is not one of ours and waits in 审核 as 未知商品;
the operator searches our SKUs right on the card, picks one, and the order is routed — and the shop remembers
the mapping.

One journey in sections, each leaving the state the next one starts from."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from e2e.conftest import (
    ARTIFACTS,
    create_flow,
    deliver_order,
    log_in,
    log_out,
    reload_until_visible,
    rotate_webhook_secret,
)
from tests.samples.sheets import xlsx

SHOP_CODE = "golive-tmall"
CATEGORY = "上线新品"
#: The row of the file (as Excel numbers it, the header being row 1) whose weight is not a number.
BAD_ROW = 58


def catalogue_file(folder: Path) -> Path:
    """A 200-SKU catalogue as a retailer exports it from its ERP: Chinese headers, prices in yuan, one typo."""
    header = ["商品编码", "商品名称", "类目", "条码", "重量(g)", "体积(cm³)", "温区", "售价(元)", "成本价(元)", "状态"]
    rows: list[list[object]] = [header]
    for n in range(1, 201):
        zone = "冷藏" if n % 10 == 0 else "常温"
        rows.append(
            [
                f"GL-{n:04d}",
                f"上线新品 {n} 号",
                CATEGORY,
                f"69{n:011d}",
                200 + n,
                900,
                zone,
                "39.90",
                f"{12 + n % 7}.50",
                "启用",
            ]
        )
    rows[BAD_ROW - 1][4] = "12kg"
    path = folder / "商品资料.xlsx"
    path.write_bytes(xlsx(rows))
    return path


#: How the new shop's Tmall listing names the face mask: its own sku id and outer id (商家编码), not our code.
PLATFORM_SKU_ID = "5200001001"
OUTER_ID = "TM-MASK-10P"


def tmall_trade(tid: int, street: str) -> dict[str, Any]:
    """A paid Tmall trade (``taobao.trade.fullinfo.get``) of one line the listing names by its own SKU codes."""
    now = (datetime.now(UTC) + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M:%S")  # China time, as Tmall sends
    return {
        "tid": tid,
        "status": "WAIT_SELLER_SEND_GOODS",
        "type": "fixed",
        "created": now,
        "pay_time": now,
        "modified": now,
        "buyer_nick": "t**新客",
        "buyer_open_uid": f"AAH{tid}",
        "total_fee": "99.00",
        "post_fee": "0.00",
        "discount_fee": "0.00",
        "payment": "99.00",
        "receiver_name": "陈静",
        "receiver_mobile": "13912348888",
        "receiver_state": "上海",
        "receiver_city": "上海市",
        "receiver_district": "浦东新区",
        "receiver_town": "张江镇",
        "receiver_address": street,
        "orders": {
            "order": [
                {
                    "oid": tid + 1,
                    "num_iid": 690001,
                    "sku_id": PLATFORM_SKU_ID,
                    "outer_sku_id": OUTER_ID,
                    "title": "补水面膜 10片 官方旗舰款",
                    "num": 1,
                    "price": "99.00",
                    "total_fee": "99.00",
                    "payment": "99.00",
                    "divide_order_fee": "99.00",
                    "refund_status": "NO_REFUND",
                }
            ]
        },
    }


def publish_for_shop(page: Page, shop_code: str, note: str) -> None:
    """As an admin in a flow's open editor: scope the flow to one shop and publish its draft."""
    page.get_by_test_id("tab-settings").click()
    page.get_by_test_id(f"settings-shop-{shop_code}").check()
    page.get_by_test_id("settings-save").click()
    expect(page.get_by_test_id("settings-saved")).to_be_visible()
    page.get_by_test_id("versions-link").click()
    page.get_by_test_id("publish-note").fill(note)
    page.get_by_test_id("publish").click()
    expect(page.get_by_test_id("versions-message")).to_contain_text("已上线")


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"go-live-{name}.png"), full_page=True)


def test_an_admin_adds_a_shop_and_a_200_sku_catalogue_and_an_operator_maps_its_first_orders_unknown_sku(
    page: Page, tmp_path: Path
) -> None:
    log_in(page, "admin", "admin-demo-123")

    # --- 1. The retailer's own shop, added on 渠道与店铺 -------------------------------------------------------
    page.goto("/channels/")
    page.get_by_test_id("shop-new-channel").select_option("tmall")
    page.get_by_test_id("shop-new-code").fill(SHOP_CODE)
    page.get_by_test_id("shop-new-name").fill("上线测试天猫旗舰店")
    page.get_by_test_id("shop-new-submit").click()
    expect(page.get_by_test_id(f"shop-{SHOP_CODE}")).to_contain_text("上线测试天猫旗舰店")
    shot(page, "shop")

    # --- 2. The catalogue file, imported all-or-nothing: refused with the row and the field, nothing lands ---------
    page.get_by_test_id("nav-inventory").click()
    page.get_by_test_id("catalogue-link").click()
    page.get_by_test_id("sheets-link").click()
    page.get_by_test_id("sheet-skus-file").set_input_files(catalogue_file(tmp_path))
    expect(page.get_by_test_id("sheet-skus-mode-all")).to_be_checked()
    page.get_by_test_id("sheet-skus-submit").click()
    expect(page.get_by_test_id("sheet-outcome")).to_have_attribute("data-applied", "0")
    expect(page.get_by_test_id("sheet-problem")).to_have_count(1)
    expect(page.get_by_test_id("sheet-problem")).to_have_text(f"第 {BAD_ROW} 行 · 重量(g): 12kg 不是整数")
    shot(page, "refused")
    page.goto(f"/inventory/skus/?category={CATEGORY}")
    expect(page.get_by_test_id("catalogue-empty")).to_be_visible()

    # --- 3. Imported again choosing 只导入正确的行: 199 SKUs land, the bad row is listed -------------------------
    page.goto("/inventory/skus/sheets")
    page.get_by_test_id("sheet-skus-file").set_input_files(catalogue_file(tmp_path))
    page.get_by_test_id("sheet-skus-mode-good").check()
    page.get_by_test_id("sheet-skus-submit").click()
    expect(page.get_by_test_id("sheet-outcome")).to_have_attribute("data-applied", "1")
    expect(page.get_by_test_id("sheet-outcome")).to_contain_text("199 个新增")
    expect(page.get_by_test_id("sheet-problem")).to_have_text(f"第 {BAD_ROW} 行 · 重量(g): 12kg 不是整数")
    shot(page, "imported")

    # --- 4. The catalogue shows them: two pages of the new category, without the bad row's SKU --------------------
    page.goto("/inventory/skus/")
    page.get_by_test_id("catalogue-category").select_option(CATEGORY)
    rows = page.get_by_test_id("catalogue-table").locator("tbody tr")
    expect(rows).to_have_count(100)
    expect(page.get_by_test_id("catalogue-row-GL-0001")).to_contain_text("¥39.90")
    expect(page.get_by_test_id("catalogue-row-GL-0010")).to_contain_text("冷藏")
    expect(page.get_by_test_id(f"catalogue-row-GL-{BAD_ROW - 1:04d}")).to_have_count(0)
    shot(page, "catalogue")
    page.get_by_test_id("catalogue-next").click()
    expect(rows).to_have_count(99)
    page.get_by_test_id("catalogue-q").fill("GL-0200")
    page.get_by_test_id("catalogue-search").click()
    expect(rows).to_have_count(1)
    expect(page.get_by_test_id("catalogue-row-GL-0200")).to_contain_text("上线新品 200 号")

    # --- 5. A SKU of the file, opened from the catalogue: its prices shown in yuan, ready to edit --------------
    page.get_by_test_id("catalogue-row-GL-0200").get_by_role("link", name="GL-0200").click()
    expect(page.get_by_test_id("sku-form-title")).to_contain_text("GL-0200")
    expect(page.get_by_test_id("sku-cost_fen")).to_have_value("16.50")
    shot(page, "sku")

    # --- 6. The four-stage flow, published for the new shop alone; its first order arrives by webhook ----------
    create_flow(page, "上线测试店订单处理")
    publish_for_shop(page, SHOP_CODE, "上线测试店启用标准四段订单处理")
    secret = rotate_webhook_secret(page, SHOP_CODE)
    run = secrets.randbelow(10**9)
    tid = 4_100_000_000_000_000_000 + run * 10
    order_id = deliver_order(page, "tmall", SHOP_CODE, secret, tmall_trade(tid, f"祖冲之路 {run % 900 + 100} 号"))
    log_out(page)

    # --- 7. The operator finds it in 审核, held as 未知商品, and maps the listing to our face mask in place ------
    log_in(page, "operator", "operator-demo-123")
    page.get_by_test_id("nav-review").click()
    item = page.locator(f'[data-testid="review-item"][data-external-id="{tid}"]')
    reload_until_visible(page, "/orders/review", item)
    expect(item).to_have_attribute("data-hold-code", "unknown_sku")
    expect(item.get_by_test_id("hold-reason")).to_contain_text("商品编码未匹配")
    form = item.get_by_test_id("map-sku-form")
    expect(form.get_by_test_id("map-sku-platform-id")).to_have_text(PLATFORM_SKU_ID)
    expect(form.get_by_test_id("map-sku-outer-id")).to_have_text(OUTER_ID)
    form.get_by_test_id("map-sku-search").fill("补水面膜")
    choice = form.locator('[data-testid="map-sku-choice"][data-sku="MASK-10"]')
    expect(choice).to_be_visible()
    choice.check()
    expect(form.get_by_test_id("map-sku-remember")).to_be_checked()
    item.scroll_into_view_if_needed()
    shot(page, "review")
    form.get_by_test_id("map-sku-save").click()
    expect(item.get_by_test_id("review-notice")).to_contain_text("已映射，订单将重新处理")

    # --- 8. The order page shows it routed by the live flow, the platform's codes kept on the line ---------------
    item.get_by_test_id("review-order-link").click()
    detail_url = page.url
    assert detail_url.rstrip("/").endswith(f"/orders/{order_id}")
    reload_until_visible(page, detail_url, page.locator('[data-testid="order-processing"][data-state="processed"]'))
    expect(page.get_by_test_id("order-status")).to_have_text(re.compile(r"已分配|已打单"))
    expect(page.get_by_test_id("processing-warehouse")).not_to_have_text("—")
    expect(page.get_by_test_id("shipment").first).to_contain_text("MASK-10")
    expect(page.get_by_test_id("order-timeline")).to_contain_text("审核中映射了未知商品")
    page.get_by_test_id("order-processing").scroll_into_view_if_needed()
    shot(page, "routed")

    # --- 9. The shop remembers it: the next order of that listing needs nobody -------------------------------------
    page.goto("/inventory/sku-mappings/")
    page.locator(f'[data-testid="sku-mapping-shop"][data-shop="{SHOP_CODE}"]').click()
    row = page.get_by_test_id("mapping-row")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(OUTER_ID)
    expect(row).to_contain_text("MASK-10")
    expect(row).to_contain_text("operator")
    shot(page, "mappings")

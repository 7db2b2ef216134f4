"""Going live as a new retailer would, in the browser: an admin adds the retailer's own shop on 渠道与店铺, then
imports a 200-SKU Excel catalogue with one bad row under 库存 → 商品 → 导入 / 导出. Imported all-or-nothing, the
file is refused with the row and the field named and nothing lands; imported again choosing 只导入正确的行, the
199 good rows are in the catalogue and the bad one is not.

One journey in sections, each leaving the state the next one starts from; a later step (an operator mapping a
platform SKU from 审核) follows on from the last section."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from e2e.conftest import ARTIFACTS, log_in
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


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"go-live-{name}.png"), full_page=True)


def test_an_admin_adds_a_shop_and_imports_a_200_sku_catalogue_with_one_bad_row(page: Page, tmp_path: Path) -> None:
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

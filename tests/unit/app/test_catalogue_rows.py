"""A catalogue row as retailers write it: the headers their ERPs export (重量 or 重量(g), 售价 or 吊牌价, English
keys), zones by their Chinese names, prices in yuan; and each value a SKU cannot have, refused with its reason."""

from __future__ import annotations

from typing import Any

import pytest

from app.domain.inventory.catalogue import BUNDLE_SHEET, SKU_SHEET, api_values
from app.domain.inventory.catalogue import CatalogueError as Refused
from app.i18n import current_locale
from app.sheets import CellError, parse_sheet


@pytest.fixture(autouse=True)
def chinese() -> Any:
    token = current_locale.set("zh_Hans")
    yield
    current_locale.reset(token)


def csv(*lines: str) -> bytes:
    return "\n".join(lines).encode("gb18030")  # the encoding Excel in China saves CSV in


def test_an_erp_export_with_its_own_header_names_reads_as_typed_values():
    rows, problems = parse_sheet(
        SKU_SHEET,
        "erp.csv",
        csv(
            "编码,名称,分类,条形码,重量,体积,温区,吊牌价,成本,状态",
            "YG-6,酸奶六连杯,乳品,6920000000012,720,1800,冷藏,¥19.90,8.4,停用",
        ),
    )
    assert problems == []
    assert rows[0].values == {
        "code": "YG-6",
        "name": "酸奶六连杯",
        "category": "乳品",
        "barcode": "6920000000012",
        "weight_g": 720,
        "volume_cm3": 1800,
        "temperature_zone": "chilled",
        "price_fen": 1990,
        "cost_fen": 840,
        "is_active": False,
    }
    english, problems = parse_sheet(SKU_SHEET, "erp.csv", b"sku,name,cost_price,zone\nYG-6,Yogurt,8.40,frozen\n")
    assert problems == [] and english[0].values == {
        "code": "YG-6",
        "name": "Yogurt",
        "cost_fen": 840,
        "temperature_zone": "frozen",
    }


def test_each_value_a_sku_cannot_have_is_refused_with_its_row_and_column():
    _, problems = parse_sheet(
        SKU_SHEET,
        "bad.csv",
        csv(
            "商品编码,商品名称,条码,重量(g),温区,售价(元),成本价(元),状态",
            "A,,6920,-1,常温,1,1,启用",
            "B,名,69 20,1,热,1.234,-0.5,也许",
            "C,名,,1,,2000000,1,",
        ),
    )
    assert [str(p) for p in problems] == [
        "第 2 行 · 商品名称: 必填",
        "第 2 行 · 重量(g): 不能为负数",
        "第 3 行 · 条码: 69 20 只能是数字",
        "第 3 行 · 温区: 热 不是可选值（常温、冷藏、冷冻）",
        "第 3 行 · 售价(元): 1.234 不是以元为单位的金额（如 12.50）",
        "第 3 行 · 成本价(元): 不能为负数",
        "第 3 行 · 状态: 也许 不是可选值（启用、停用）",
        "第 4 行 · 售价(元): 不能超过 1,000,000 元",
    ]


def test_a_bundle_row_needs_a_whole_quantity_of_at_least_one():
    _, problems = parse_sheet(BUNDLE_SHEET, "b.csv", csv("组合商品编码,子商品编码,数量", "G,A,0", "G,B,", "G,C,1.5"))
    assert [str(p) for p in problems] == [
        "第 2 行 · 数量: 不能小于 1",
        "第 3 行 · 数量: 必填",
        "第 4 行 · 数量: 1.5 不是整数",
    ]


def test_the_api_takes_money_in_fen_and_refuses_values_of_the_wrong_type():
    assert api_values({"price_fen": 1990, "is_active": False}, keys=("price_fen", "is_active")) == {
        "price_fen": 1990,
        "is_active": False,
    }
    for body, refusal in (
        ({"price_fen": 19.9}, Refused),
        ({"price_fen": True}, Refused),
        ({"price_fen": -1}, CellError),
        ({"name": 5}, Refused),
        ({"weight": 5}, Refused),
    ):
        with pytest.raises(refusal):
            api_values(body, keys=("price_fen", "name"))

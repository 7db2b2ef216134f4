"""Master-data sheets: each cell is read into a typed value or refused with a reason, each bad row is named by the
row number Excel shows and the column's header, and an exported workbook reads back as the same values."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest

from app.i18n import current_locale
from app.sheets import (
    FLAG,
    CellError,
    Choice,
    Column,
    Digits,
    Outcome,
    Sheet,
    SheetFileError,
    Text,
    Whole,
    Yuan,
    export_workbook,
    parse_sheet,
    read_table,
    table_csv,
    template_workbook,
)
from tests.samples.sheets import xlsx


@pytest.fixture(autouse=True)
def chinese() -> Any:
    token = current_locale.set("zh_Hans")
    yield
    current_locale.reset(token)


async def never_saved(*_: Any) -> Outcome:
    raise AssertionError("parsing saves nothing")


async def no_rows(*_: Any) -> list[dict[str, Any]]:
    return []


SHEET = Sheet(
    name="things",
    columns=(
        Column("code", "编码", Text(8, required=True), "T-1", required=True),
        Column("name", "名称", Text(20), "样品"),
        Column("weight_g", "重量(g)", Whole(), "120", aliases=("重量",)),
        Column("price_fen", "售价(元)", Yuan(), "12.50"),
        Column("barcode", "条码", Digits(14), "6901234567892"),
        Column("zone", "温区", Choice({"ambient": ("常温",), "frozen": ("冷冻",)}, default="ambient"), "常温"),
        Column("is_active", "状态", FLAG, "启用"),
    ),
    key=("code",),
    save=never_saved,
    rows=no_rows,
    audit_action="things.imported",
)


def reason(cell: Any, text: str) -> str:
    with pytest.raises(CellError) as caught:
        cell.read(text)
    return caught.value.message


def test_yuan_is_read_into_fen_and_a_negative_or_garbled_amount_is_refused():
    assert [Yuan().read(t) for t in ("12.50", "12.5", "¥12", "1,234.05", "")] == [1250, 1250, 1200, 123405, 0]
    assert reason(Yuan(), "-1") == "不能为负数"
    assert reason(Yuan(), "12.345") == "12.345 不是以元为单位的金额（如 12.50）"
    # a comma is read between thousands only: a decimal comma (12,50) or a stray one is not taken as 1,250 yuan
    assert [Yuan().read(t) for t in ("123,456", "12,345.6")] == [12345600, 1234560]
    assert [reason(Yuan(), t) for t in ("12,50", "1,2,3", "1234,567")] == [
        f"{t} 不是以元为单位的金额（如 12.50）" for t in ("12,50", "1,2,3", "1234,567")
    ]
    assert reason(Yuan(maximum_fen=100_00), "100.01") == "不能超过 100 元"
    assert Yuan().write(1250) == "12.50"


def test_whole_numbers_digits_choices_and_flags_are_checked():
    assert Whole().read("120") == 120
    assert reason(Whole(), "-5") == "不能为负数"
    assert reason(Whole(), "1.5") == "1.5 不是整数"
    assert reason(Whole(), "１２") == "１２ 不是整数"
    assert reason(Whole(maximum=10), "11") == "不能超过 10"
    assert reason(Digits(14), "69O1") == "69O1 只能是数字"
    assert reason(Text(3, required=True), " ") == "必填"
    assert SHEET.columns[5].cell.read("冷冻") == "frozen" and SHEET.columns[5].cell.read("") == "ambient"
    assert reason(SHEET.columns[5].cell, "冰镇") == "冰镇 不是可选值（常温、冷冻）"
    assert [FLAG.read(t) for t in ("启用", "停用", "否", "TRUE", "")] == [True, False, False, True, True]


def test_a_sheet_is_read_with_chinese_or_english_headers_and_each_bad_cell_names_its_row_and_column():
    content = xlsx(
        [
            ["编码", "名称", "重量", "售价(元)", "条码", "温区", "状态", "备注"],
            ["A-1", "杯子", 120, "12.50", "6901234567892", "常温", "启用", "ignored"],
            [None, None, None],
            ["A-2", "碗", 80.0, -3, "abc", "冰镇", "停用"],
            ["A-1", "又一个杯子", 1, "1", "", "", ""],
        ]
    )
    rows, problems = parse_sheet(SHEET, "things.xlsx", content)
    assert [(r.row, r.values) for r in rows] == [
        (
            2,
            {
                "code": "A-1",
                "name": "杯子",
                "weight_g": 120,
                "price_fen": 1250,
                "barcode": "6901234567892",
                "zone": "ambient",
                "is_active": True,
            },
        )
    ]
    assert [str(p) for p in problems] == [
        "第 4 行 · 售价(元): 不能为负数",
        "第 4 行 · 条码: abc 只能是数字",
        "第 4 行 · 温区: 冰镇 不是可选值（常温、冷冻）",
        "第 5 行 · 编码: 与第 2 行重复",
    ]
    english = b"code,name,price_fen\nB-1,Mug,3.20\n"
    rows, problems = parse_sheet(SHEET, "things.csv", english)
    assert [r.values for r in rows] == [{"code": "B-1", "name": "Mug", "price_fen": 320}] and problems == []


def test_a_file_without_a_required_column_or_without_rows_is_refused_whole():
    with pytest.raises(SheetFileError) as caught:
        parse_sheet(SHEET, "things.csv", "名称,售价(元)\n杯子,1\n".encode())
    assert caught.value.message == "表头（第 1 行）缺少列：编码"
    with pytest.raises(SheetFileError) as caught:
        parse_sheet(SHEET, "things.csv", "编码,名称\n".encode())
    assert caught.value.message == "文件只有表头，没有数据行"


STORED = {
    "code": "007",
    "name": "冻饺子",
    "weight_g": 500,
    "price_fen": 2990,
    "barcode": "0012345678905",
    "zone": "frozen",
    "is_active": False,
}


def test_an_exported_workbook_and_the_template_read_back_as_the_same_values():
    rows, problems = parse_sheet(SHEET, "things.xlsx", export_workbook(SHEET, [STORED]))
    assert problems == [] and [r.values for r in rows] == [STORED]
    rows, problems = parse_sheet(SHEET, "things-template.xlsx", template_workbook(SHEET))
    assert problems == [] and rows[0].values["price_fen"] == 1250


def test_an_exported_cell_that_looks_like_a_formula_stays_text_and_reads_back_unchanged():
    from openpyxl import load_workbook

    names = ['=HYPERLINK("e.cn")', "#N/A", "+1+cmd", "-2+3", "@SUM(A1)", "=1+1"]
    stored = [{**STORED, "code": f"F-{i}", "name": name} for i, name in enumerate(names)]
    content = export_workbook(SHEET, stored)
    cells = [row[1] for row in load_workbook(io.BytesIO(content)).active.iter_rows(min_row=2)]
    assert [(c.value, c.data_type) for c in cells] == [(name, "s") for name in names]
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert "<f>" not in archive.read("xl/worksheets/sheet1.xml").decode()
    rows, problems = parse_sheet(SHEET, "things.xlsx", content)
    assert problems == [] and [r.values for r in rows] == stored


def test_control_characters_are_taken_out_of_typed_text_so_the_export_never_fails_on_them():
    assert Text(20).read("铃\x07铛\x1b[31m\u202e") == "铃铛[31m"
    assert Text(20).read("两行\n名称\t ") == "两行 名称"
    # a value kept from platform data, never read through a cell, still exports (without what Excel cannot hold)
    content = export_workbook(SHEET, [{**STORED, "code": "C\x01-1"}])
    rows, _ = parse_sheet(SHEET, "things.xlsx", content)
    assert [r.values["code"] for r in rows] == ["C-1"]


def test_a_result_table_as_csv_opens_in_excel_with_its_chinese_and_runs_no_formula():
    content = table_csv(["快递单号", "原因"], [['=HYPERLINK("http://x")', "没有该包裹"], ["SF1", "+1"], ["SF2", 3]])
    assert content.startswith("\ufeff".encode())  # the BOM: Excel then reads UTF-8
    assert [cells for _, cells in read_table("result.csv", content)] == [
        ["快递单号", "原因"],
        ['\'=HYPERLINK("http://x")', "没有该包裹"],
        ["SF1", "'+1"],
        ["SF2", "3"],
    ]

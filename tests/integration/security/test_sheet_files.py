"""Hostile master-data files uploaded on an import page (商品's here; every sheet is read by the same engine). Each
is refused whole with a message in Chinese, answers 400 and stores nothing, and none costs the server more than a
moment of CPU. Attacks covered:

- a 60 KB workbook whose worksheet unpacks to 12 million empty cells (under the 50 MB unpacked limit, but parsing
  it would take most of a minute), and one of 3 million shared strings;
- a workbook with a million styles, or a million defined names (each read into an object before any cell);
- a sheet 16,384 columns wide;
- files that are not what their name says: a picture, an encrypted (OLE) workbook, a truncated workbook, a CSV
  renamed .xlsx, and a CSV in UTF-16.
"""

from __future__ import annotations

import io
import time
import zipfile
from typing import Any

import pytest
from sqlmodel import func, select

from app.domain.inventory.models import Sku
from tests.integration.inventory.test_catalogue import HEADER, as_admin, catalogue_row, import_file
from tests.samples.sheets import xlsx

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELATIONS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE = "http://schemas.openxmlformats.org/package/2006/relationships"
TYPES = "http://schemas.openxmlformats.org/package/2006/content-types"
OFFICE = "application/vnd.openxmlformats-officedocument.spreadsheetml"
HEADER_ROW = "".join(f'<c t="inlineStr"><is><t>{name}</t></is></c>' for name in HEADER[:2])
#: CPU seconds a refusal may cost at most (the test client and the server share this process): a few seconds on
#: a slow shared machine, where parsing what these files unpack to would take most of a minute.
REFUSAL_CPU_SECONDS = 5.0


def workbook(rows: bytes | Any, *, names: str = "", styles: bytes = b"", strings: bytes = b"") -> bytes:
    """A minimal .xlsx as a spreadsheet program writes it, its worksheet's rows streamed in from ``rows``."""
    overrides = [("/xl/workbook.xml", "sheet.main"), ("/xl/worksheets/sheet1.xml", "worksheet")]
    relations = [("worksheet", "worksheets/sheet1.xml")]
    if styles:
        overrides.append(("/xl/styles.xml", "styles"))
        relations.append(("styles", "styles.xml"))
    if strings:
        overrides.append(("/xl/sharedStrings.xml", "sharedStrings"))
        relations.append(("sharedStrings", "sharedStrings.xml"))
    types = "".join(f'<Override PartName="{p}" ContentType="{OFFICE}.{t}+xml"/>' for p, t in overrides)
    links = "".join(
        f'<Relationship Id="r{i}" Type="{RELATIONS}/{t}" Target="{p}"/>' for i, (t, p) in enumerate(relations)
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr(
            "[Content_Types].xml",
            f'<Types xmlns="{TYPES}"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            f'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>{types}</Types>',
        )
        archive.writestr(
            "_rels/.rels",
            f'<Relationships xmlns="{PACKAGE}"><Relationship Id="r" Type="{RELATIONS}/officeDocument" '
            'Target="xl/workbook.xml"/></Relationships>',
        )
        archive.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{MAIN}" xmlns:r="{RELATIONS}"><sheets><sheet name="商品" sheetId="1" r:id="r0"/>'
            f"</sheets>{names}</workbook>",
        )
        archive.writestr("xl/_rels/workbook.xml.rels", f'<Relationships xmlns="{PACKAGE}">{links}</Relationships>')
        if styles:
            archive.writestr("xl/styles.xml", styles)
        if strings:
            archive.writestr("xl/sharedStrings.xml", strings)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(f'<worksheet xmlns="{MAIN}"><sheetData><row r="1">{HEADER_ROW}</row>'.encode())
            for chunk in [rows] if isinstance(rows, bytes) else rows:
                sheet.write(chunk)
            sheet.write(b"</sheetData></worksheet>")
    return out.getvalue()


def empty_cells() -> bytes:
    """Rows of 16,384 empty cells, 12 million in all: 48 MB unpacked, 60 KB uploaded."""
    row = b"<row>" + b"<c/>" * 16_384 + b"</row>"
    return workbook(row for _ in range(730))


async def refused(client: Any, db: Any, filename: str, content: bytes) -> str:
    """Upload the file; assert it is refused quickly with nothing stored; the reason shown."""
    started = time.process_time()
    response = await import_file(client, "skus", filename, content)
    spent = time.process_time() - started
    assert response.status_code == 400, response.text
    assert spent < REFUSAL_CPU_SECONDS, f"refusing {filename} cost {spent:.1f} s of CPU"
    async with db.reading() as session:
        assert (await session.exec(select(func.count()).select_from(Sku))).one() == 0
    return response.text


async def test_a_60_kb_workbook_of_millions_of_empty_cells_or_strings_is_refused_before_it_is_parsed(
    client, db, make_user
):
    await as_admin(client, make_user)
    bomb = empty_cells()
    assert len(bomb) < 100 * 1024
    assert "这个 Excel 文件的单元格和字符串超过 1,500,000 个，请拆分后分别导入" in await refused(
        client, db, "a.xlsx", bomb
    )
    strings = f'<sst xmlns="{MAIN}">'.encode() + b"<si><t>a</t></si>" * 3_000_000 + b"</sst>"
    page = await refused(client, db, "b.xlsx", workbook(b"", strings=strings))
    assert "这个 Excel 文件的单元格和字符串超过 1,500,000 个" in page


@pytest.mark.parametrize(
    "parts",
    [
        {
            "styles": f'<styleSheet xmlns="{MAIN}"><cellXfs>'.encode()
            + b'<xf numFmtId="0"/>' * 1_000_000
            + b"</cellXfs></styleSheet>"
        },
        {
            "names": "<definedNames>"
            + "".join(f'<definedName name="n{i}">A1</definedName>' for i in range(300_000))
            + "</definedNames>"
        },
    ],
    ids=["a million styles", "300,000 defined names"],
)
async def test_a_workbook_with_a_million_styles_or_names_is_refused_before_it_is_read(client, db, make_user, parts):
    await as_admin(client, make_user)
    page = await refused(client, db, "styled.xlsx", workbook(b"", **parts))
    assert "这个 Excel 文件除单元格外的样式、名称等内容超过 200,000 个，请把单元格复制到新的工作簿后再导入" in page


async def test_a_sheet_16384_columns_wide_is_refused(client, db, make_user):
    await as_admin(client, make_user)
    wide = b"<row>" + b'<c t="n"><v>1</v></c>' * 16_384 + b"</row>"
    assert "第 2 行超过 60 列" in await refused(client, db, "wide.xlsx", workbook(wide))


async def test_a_file_that_is_not_what_its_name_says_is_refused_in_chinese(client, db, make_user):
    await as_admin(client, make_user)
    good = xlsx([HEADER, catalogue_row(1)])
    not_excel = {
        "picture.xlsx": b"\x89PNG\r\n\x1a\n" + b"\x00" * 200,
        "encrypted.xlsx": bytes.fromhex("d0cf11e0a1b11ae1") + b"\x00" * 600,  # a password-protected workbook
        "truncated.xlsx": good[: len(good) // 2],
        "renamed.xlsx": "商品编码,商品名称\nTEA-1,乌龙茶\n".encode(),
    }
    for filename, content in not_excel.items():
        assert "此文件无法导入：不是可读取的 Excel 文件" in await refused(client, db, filename, content), filename
    utf16 = "商品编码,商品名称\nTEA-1,乌龙茶\n".encode("utf-16")
    assert "CSV 文件既不是 UTF-8 也不是 GBK 编码" in await refused(client, db, "unicode.csv", utf16)

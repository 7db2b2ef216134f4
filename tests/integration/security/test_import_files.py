"""Hostile order files uploaded by an operator. A file over a limit is refused whole, with a message that says
the limit, and imports nothing; reading a big file never stops the web pages from answering. Attacks covered:

- a file over 5 MB (refused at upload, nothing stored);
- an Excel zip bomb: 60 KB that unpacks to 60 MB (refused at upload from the archive's directory, unread);
- more than 10,000 rows, read while /healthz is being asked (refused by the worker; pages keep answering);
- a row with more than 60 columns, a cell of more than 5,000 characters, more than 300,000 filled cells;
- a CSV cell over the csv module's own limit (an error there, not a crashed job).
"""

from __future__ import annotations

import asyncio
import io
import time
import zipfile
from typing import Any

from openpyxl import Workbook
from sqlmodel import func, select

from app.domain.accounts.models import Role
from app.domain.channels.models import IngestError, OrderImport
from app.domain.orders.models import Order
from tests.integration.forms import login
from tests.integration.orders.conftest import shops as shops  # the fixture: one shop per channel
from tests.integration.orders.conftest import wait_for_jobs
from tests.integration.orders.test_import import HEADER, upload

ROW = "jd-shop,F-{n},paid,2026-11-11 09:00:00,,,,,,,,,EARBUD-P2,耳机,1,499.00,0,0,"


async def count(db: Any, model: Any) -> int:
    async with db.reading() as session:
        return int((await session.exec(select(func.count()).select_from(model))).one())


async def as_operator(client: Any, make_user: Any) -> None:
    await make_user(Role.operator, username="op")
    await login(client, "op")


async def refused_by_the_worker(db: Any) -> OrderImport:
    """The import's row once its job ran: failed, its file dropped, and nothing imported or queued."""
    await wait_for_jobs(db, within=120)
    async with db.reading() as session:
        job = (await session.exec(select(OrderImport))).one()
    assert (job.status, job.content, job.processed_orders) == ("failed", b"", 0)
    assert await count(db, Order) == 0
    assert await count(db, IngestError) == 0
    return job


async def test_a_file_over_5_mb_is_refused_at_once_and_nothing_is_stored(client, db, shops, make_user):
    await as_operator(client, make_user)
    rows = [HEADER, *(ROW.format(n=n) for n in range(70_000))]
    content = "\n".join(rows).encode()
    just_over = content[: 5 * 1024 * 1024 + 1000]
    response = await upload(client, "big.csv", just_over)
    assert response.status_code == 400
    assert "最多只能导入 5 MB" in response.text
    # Far past the limit, the request itself is refused before the form is read.
    assert len(content) > 5 * 1024 * 1024 + 64 * 1024
    response = await upload(client, "bigger.csv", content)
    assert response.status_code == 413
    assert "请求过大" in response.text
    assert await count(db, OrderImport) == 0


async def test_an_excel_zip_bomb_is_refused_before_anything_is_unpacked(client, db, shops, make_user):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b" " * (60 * 1024 * 1024))
    assert len(buffer.getvalue()) < 200 * 1024
    await as_operator(client, make_user)
    response = await upload(client, "orders.xlsx", buffer.getvalue())
    assert response.status_code == 400
    assert "解压后有 60 MB，最多只能导入 50 MB" in response.text
    assert await count(db, OrderImport) == 0


def excel(rows: int) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(HEADER.split(","))
    for n in range(rows):
        sheet.append(ROW.format(n=n).split(","))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


async def test_more_than_10000_rows_are_refused_whole_while_the_pages_keep_answering(
    client, db, shops, make_user, arq_worker
):
    content = excel(10_001)
    await as_operator(client, make_user)
    slowest = 0.0
    answers = 0
    reading = True

    async def ask_healthz() -> None:
        nonlocal slowest, answers
        while reading:
            started = time.perf_counter()
            assert (await client.get("/healthz")).status_code == 200
            slowest = max(slowest, time.perf_counter() - started)
            answers += 1
            await asyncio.sleep(0.02)

    began = time.perf_counter()
    probe = asyncio.create_task(ask_healthz())
    response = await upload(client, "orders.xlsx", content)
    assert response.status_code == 200 and 'data-status="queued"' in response.text
    try:
        job = await refused_by_the_worker(db)
    finally:
        reading = False
        await probe
    assert job.message == "文件超过 10,000 行，请拆分后分批导入"
    # Parsing this file takes seconds of CPU; in a thread it leaves the event loop free to answer. Read on the
    # event loop, one answer would wait for the whole read: measured against the read itself, not a clock
    # figure, so that a loaded machine (which slows both, and makes the thread hold the interpreter lock
    # longer between answers) does not decide. How many answers fit depends on that load; that they keep
    # coming, each well within the read, does not.
    reading_time = time.perf_counter() - began
    assert answers >= 3, f"/healthz answered {answers} times in {reading_time:.1f}s while the file was read"
    assert slowest < reading_time / 2, f"/healthz took {slowest:.2f}s of the {reading_time:.1f}s the read took"
    progress = await client.get(f"/orders/import/{job.id}", headers={"HX-Request": "true"})
    assert "文件超过 10,000 行" in progress.text and "hx-trigger" not in progress.text


async def test_a_row_of_more_than_60_columns_is_refused(client, db, shops, make_user, arq_worker):
    await as_operator(client, make_user)
    wide = ROW.format(n=1) + "," * 45 + "extra"
    await upload(client, "wide.csv", f"{HEADER}\n{wide}".encode())
    assert (await refused_by_the_worker(db)).message == "第 2 行超过 60 列"


async def test_a_cell_of_more_than_5000_characters_is_refused(client, db, shops, make_user, arq_worker):
    await as_operator(client, make_user)
    long_memo = ROW.format(n=1).replace("耳机", "耳" * 5_001)
    await upload(client, "long.csv", f"{HEADER}\n{long_memo}".encode())
    assert (await refused_by_the_worker(db)).message == "第 2 行有单元格超过 5,000 个字符"


async def test_more_than_300000_filled_cells_are_refused(client, db, shops, make_user, arq_worker):
    await as_operator(client, make_user)
    header = HEADER + "," + ",".join(f"note{i}" for i in range(40))
    row = ROW.format(n=1) + "," + ",".join("x" * 40)  # 49 filled cells in 59 columns
    content = "\n".join([header, *([row] * 7_000)]).encode()
    await upload(client, "cells.csv", content)
    assert (await refused_by_the_worker(db)).message == "文件中有内容的单元格超过 300,000 个"


async def test_a_csv_cell_beyond_the_csv_modules_own_limit_is_a_clear_refusal(client, db, shops, make_user, arq_worker):
    await as_operator(client, make_user)
    content = f'{HEADER}\n{ROW.format(n=1)}\n"{"x" * 200_000}'.encode()
    await upload(client, "odd.csv", content)
    assert (await refused_by_the_worker(db)).message.startswith("无法读取 CSV 文件")

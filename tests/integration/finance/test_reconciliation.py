"""Settlement reconciliation (对账): a platform's bill imported on /finance/reconciliation is matched line by line to
our orders and refunds, and the page lists what differs. The bills are the samples in tests/samples/bills, laid
out as the platforms let merchants download them."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from urllib.parse import urlsplit

from openpyxl import Workbook, load_workbook
from sqlmodel import col, func, select

from app.domain.accounts.models import Role
from app.domain.finance.models import SettlementImport, SettlementLine
from app.domain.finance.reconciliation import commission_of
from app.domain.shops.models import Channel
from tests.integration.finance.books import DELIVERED, add_order, add_refund, add_shop, bill, set_commission
from tests.integration.forms import login, upload_form

PAGE = "/finance/reconciliation"
ALIPAY = "alipay-account-statement-2026-11-30.csv"
TMALL = "40123456789012345"  # + 01, 02 … : the trade ids the Alipay sample names


def listed(html: str) -> dict[tuple[str, str], str]:
    """(platform number, row) → result of each line the result page lists."""
    pattern = r'data-testid="reconciliation-line" data-external-id="([^"]+)" data-result="([^"]+)">\s*<td>([^<]*)</td>'
    return {(m[0], m[2]): m[1] for m in re.findall(pattern, html)}


async def tmall_books(db) -> dict[str, int]:
    """The Tmall orders the Alipay sample settles (less the one it names that is not ours), at 5 % commission."""
    shop = await add_shop(db, Channel.tmall)
    await set_commission(db, "tmall", 500)
    orders = {
        "01": await add_order(db, shop, "tmall", TMALL + "01", 19900),  # billed 199.00, commission 9.95: right
        "02": await add_order(db, shop, "tmall", TMALL + "02", 8800),  # commission billed 5.00, ours 4.40
        "03": await add_order(db, shop, "tmall", TMALL + "03", 12050),  # 6.025 rounds half up to 6.03
    }
    await add_refund(db, shop, "tmall", orders["03"], "TB-REFUND-1", 2000)  # the bill's 交易退款 of 20.00
    return orders


async def import_as_finance(client, make_user, name: str, content: bytes, **fields: str):
    await make_user(Role.finance, "finance1")
    await login(client, "finance1")
    return await upload_form(client, PAGE, PAGE, name, content, **fields)


async def test_a_settlement_bill_with_one_missing_order_and_one_wrong_commission_lists_exactly_those_two(
    client, make_user, db
):
    """Alipay sample, Tmall at 5 %: 01 (199.00, 9.95) and 03 (120.50, 6.03, a refund of 20.00 for its case) match;
    02 was billed 5.00 commission where 5 % of 88.00 is 4.40; 09 is no order of ours; the withdrawal is no order."""
    await tmall_books(db)
    response = await import_as_finance(client, make_user, ALIPAY, bill(ALIPAY))
    assert response.status_code == 303
    result = await client.get(response.headers["location"])
    assert result.status_code == 200
    assert listed(result.text) == {(TMALL + "02", "8"): "commission", (TMALL + "09", "10"): "missing"}
    assert "¥4.40" in result.text and "¥5.00" in result.text

    everything = await client.get(response.headers["location"] + "?show=all")
    assert sorted(everything_listed := listed(everything.text)) == sorted(
        [(TMALL + "01", "6"), (TMALL + "02", "8"), (TMALL + "09", "10"), (TMALL + "03", "12"), (TMALL + "03", "14")]
    )
    assert everything_listed[(TMALL + "03", "14")] == "matched"  # the refund, by its order's refund case
    async with db.reading() as session:
        stored = (await session.exec(select(SettlementImport))).one()
        assert stored.channel == "tmall" and stored.line_count == 5
        assert stored.summary["results"] == {
            "matched": 3,
            "missing": 1,
            "amount": 0,
            "commission": 1,
            "not_billed": 0,
        }
        # in: 199 + 88 + 50 + 120.50, out: 20 — against ours without the 50.00 that is not ours
        assert stored.summary["totals"]["billed"] == 19900 + 8800 + 5000 + 12050 - 2000
        assert stored.summary["totals"]["difference"] == 5000
        assert stored.summary["days"][0]["day"] == "2026-11-30"


async def test_importing_the_same_bill_again_says_so_and_changes_nothing(client, make_user, db):
    await tmall_books(db)
    first = await import_as_finance(client, make_user, ALIPAY, bill(ALIPAY))
    assert first.status_code == 303
    again = await upload_form(client, PAGE, PAGE, "renamed.csv", bill(ALIPAY))
    assert again.status_code == 200
    assert 'data-testid="bill-duplicate"' in again.text
    assert f'href="{urlsplit(first.headers["location"]).path}"' in again.text
    async with db.reading() as session:
        assert (await session.exec(select(func.count()).select_from(SettlementImport))).one() == 1
        assert (await session.exec(select(func.count()).select_from(SettlementLine))).one() == 5


async def test_a_delivered_order_the_bill_leaves_out_is_listed_as_not_billed(client, make_user, db):
    """The bill covers 2026-11-30: a Tmall order delivered that day and absent from it is not billed; one delivered
    the day after, one of another channel and one not delivered are no concern of this bill."""
    orders = await tmall_books(db)
    shop = await add_shop(db, Channel.tmall, "tmall-second")
    forgotten = await add_order(db, shop, "tmall", "4012345678901234577", 6600)
    await add_order(db, shop, "tmall", "4012345678901234578", 100, delivered_at=None)
    await add_order(db, shop, "tmall", "4012345678901234579", 100, delivered_at=DELIVERED + timedelta(days=1))
    jd_shop = await add_shop(db, Channel.jd)
    await add_order(db, jd_shop, "jd", "4012345678901234580", 100)
    response = await import_as_finance(client, make_user, ALIPAY, bill(ALIPAY))
    result = await client.get(response.headers["location"])
    assert listed(result.text) == {
        (TMALL + "02", "8"): "commission",
        (TMALL + "09", "10"): "missing",
        ("4012345678901234577", "—"): "not_billed",
    }
    async with db.reading() as session:
        line = (await session.exec(select(SettlementLine).where(SettlementLine.result == "not_billed"))).one()
        assert line.order_id == forgotten and line.expected_amount_fen == 6600 and line.amount_fen == 0
        assert line.expected_commission_fen == 330
    assert orders  # the billed ones are matched, as in the first test


def as_excel(csv_bytes: bytes) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in csv.reader(io.StringIO(csv_bytes.decode("utf-8-sig"))):
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


async def test_a_jd_statement_in_excel_matches_a_refund_by_its_after_sales_number_and_lists_an_amount_that_differs(
    client, make_user, db
):
    """JD at 8 %: 310000000001 paid 199.00, commission 15.92 — matched. 310000000002 billed 88.00 where the order
    says 90.00 — amount; its refund AS90001 of 30.00 matches the case's 25.00 + 5.00 shipping."""
    shop = await add_shop(db, Channel.jd)
    await set_commission(db, "jd", 800)
    await add_order(db, shop, "jd", "310000000001", 19900)
    second = await add_order(db, shop, "jd", "310000000002", 9000)
    case_id = await add_refund(db, shop, "jd", second, "AS90001", 2500, 500)
    content = as_excel(bill("jd-settlement-2026-11-30.csv"))
    response = await import_as_finance(client, make_user, "jd-settlement.xlsx", content)
    assert response.status_code == 303
    result = await client.get(response.headers["location"] + "?show=all")
    assert listed(result.text) == {
        ("310000000001", "2"): "matched",
        ("310000000002", "5"): "amount",
        ("310000000002", "7"): "matched",
    }
    async with db.reading() as session:
        refund = (await session.exec(select(SettlementLine).where(SettlementLine.kind == "refund"))).one()
        assert refund.case_id == case_id and refund.amount_fen == 3000 and refund.expected_amount_fen == 3000


async def test_a_douyin_bill_sums_its_sub_orders_and_rounds_the_commission_half_up(client, make_user, db):
    """Douyin at 5 %: 6920000000000001's two sub-orders (60.00 + 40.00, fees 3.00 + 2.00) match its 100.00;
    5 % of 59.90 is 2.995, which is 3.00: the bill's 2.99 differs."""
    assert commission_of(5990, 500) == 300
    shop = await add_shop(db, Channel.douyin)
    await set_commission(db, "douyin", 500)
    await add_order(db, shop, "douyin", "6920000000000001", 10000)
    await add_order(db, shop, "douyin", "6920000000000002", 5990)
    response = await import_as_finance(
        client, make_user, "douyin.csv", bill("douyin-settlement-2026-11-30.csv"), channel="douyin"
    )
    result = await client.get(response.headers["location"] + "?show=all")
    assert listed(result.text) == {("6920000000000001", "2"): "matched", ("6920000000000002", "4"): "commission"}


async def test_a_file_that_is_no_settlement_bill_is_refused_with_the_columns_expected(client, make_user, db):
    response = await import_as_finance(client, make_user, "orders.csv", "订单号,金额\n1,2\n".encode())
    assert response.status_code == 400
    error = re.search(r'data-testid="bill-error">([^<]+)<', response.text)
    assert error is not None
    assert "商户订单号" in error.group(1) and "费用名称" in error.group(1) and "平台服务费" in error.group(1)
    wrong_channel = await upload_form(client, PAGE, PAGE, ALIPAY, bill(ALIPAY), channel="jd")
    assert wrong_channel.status_code == 400 and 'data-testid="bill-error"' in wrong_channel.text
    async with db.reading() as session:
        assert (await session.exec(select(func.count()).select_from(SettlementImport))).one() == 0


async def test_the_differences_download_opens_in_excel_with_the_lines_that_differ(client, make_user, db):
    await tmall_books(db)
    response = await import_as_finance(client, make_user, ALIPAY, bill(ALIPAY))
    workbook_response = await client.get(response.headers["location"] + "/differences")
    assert workbook_response.status_code == 200
    sheet = load_workbook(io.BytesIO(workbook_response.content), read_only=True).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:6] == ("行号", "类型", "平台单号", "日期", "账单金额", "应有金额")
    assert [(row[2], row[8], row[9]) for row in rows[1:]] == [(TMALL + "02", 4.4, 0.6), (TMALL + "09", None, None)]


async def test_a_viewer_cannot_open_the_reconciliation(client, make_user, db):
    await make_user(Role.viewer, "viewer1")
    await login(client, "viewer1")
    assert (await client.get(PAGE)).status_code == 403
    async with db.reading() as session:
        assert (await session.exec(select(func.count(col(SettlementImport.id))))).one() == 0


async def test_the_finance_page_leads_to_reconciliation_carrier_bills_and_margins(client, make_user):
    await make_user(Role.finance, "finance1")
    await login(client, "finance1")
    index = await client.get("/finance/")
    for testid, url in (
        ("finance-reconciliation-link", PAGE),
        ("finance-carrier-bills-link", "/finance/carrier-bills"),
        ("finance-margins-link", "/finance/margins"),
    ):
        assert f'href="{url}" data-testid="{testid}"' in index.text
        assert (await client.get(url)).status_code == 200


async def test_a_commission_alipay_gives_back_on_a_refund_goes_with_the_refund_not_the_sale(client, make_user, db):
    """Tmall at 5 %: the sale of 100.00 kept 5.00; the refund of 40.00 gave 2.00 of it back (a 收入 服务费 row)."""
    shop = await add_shop(db, Channel.tmall)
    await set_commission(db, "tmall", 500)
    order = await add_order(db, shop, "tmall", "4012345678901234600", 10000)
    await add_refund(db, shop, "tmall", order, "TB-REFUND-2", 4000)
    header = "账务流水号,业务流水号,商户订单号,商品名称,发生时间,对方账号,收入金额（+元）,支出金额（-元）,"
    header += "账户余额（元）,交易渠道,业务类型,备注"
    rows = [
        "1,1,T200P4012345678901234600,x,2026-11-30 10:00:00,b,100.00,0.00,0,支付宝,交易付款,",
        "2,2,T1100P4012345678901234600,x,2026-11-30 10:00:01,t,0.00,5.00,0,支付宝,服务费,天猫佣金",
        "3,3,T200P4012345678901234600,x,2026-11-30 15:00:00,b,0.00,40.00,0,支付宝,交易退款,",
        "4,4,T1100P4012345678901234600,x,2026-11-30 15:00:01,t,2.00,0.00,0,支付宝,服务费,天猫佣金退回",
    ]
    content = "\n".join([header, *rows]).encode("gbk")
    response = await import_as_finance(client, make_user, "alipay.csv", content)
    assert response.status_code == 303
    async with db.reading() as session:
        lines = (await session.exec(select(SettlementLine).order_by(col(SettlementLine.line_no)))).all()
    assert [(line.kind, line.amount_fen, line.commission_fen, line.result) for line in lines] == [
        ("sale", 10000, 500, "matched"),
        ("refund", 4000, -200, "matched"),
    ]

"""Carrier bills on /finance/carrier-bills: a carrier's monthly bill against the fees booked for its parcels, each
difference booked once as freight payable to the carrier (a lower bill in red), unknown waybills listed."""

from __future__ import annotations

import re
from datetime import date

from sqlmodel import col, select

from app.domain.accounts.models import Role
from app.domain.finance.models import LineKind, Voucher, VoucherKind, VoucherLine
from app.domain.fulfillment.models import Carrier, Shipment
from app.domain.shops.models import Channel
from tests.integration.finance.books import DELIVERED, add_order, add_shop, add_voucher
from tests.integration.forms import login, upload_form

PAGE = "/finance/carrier-bills"
BILL = """运单号,日期,重量(kg),运费
ZT001,2026-11-30,1.2,9.50
ZT002,2026-11-30,0.8,8.80
ZT003,2026-11-30,0.5,6.00
ZT999,2026-11-30,1.0,7.00
YT004,2026-11-30,1.0,5.00
""".encode()


async def parcels(db) -> dict[str, int]:
    """Three 中通 parcels booked at 8.00, 10.00 and 6.00, and a 圆通 one whose number the 中通 bill names."""
    shop = await add_shop(db, Channel.tmall)
    orders = {name: await add_order(db, shop, "tmall", name, 5000) for name in ("O1", "O2", "O3", "O4")}
    async with db.transaction() as session:
        session.add(Carrier(code="ZTO", name="中通快递"))
        session.add(Carrier(code="YTO", name="圆通速递"))
        for seq, (name, carrier, waybill, fee) in enumerate(
            [
                ("O1", "ZTO", "ZT001", 800),
                ("O2", "ZTO", "ZT002", 1000),
                ("O3", "ZTO", "ZT003", 600),
                ("O4", "YTO", "YT004", 500),
            ],
            start=1,
        ):
            session.add(
                Shipment(
                    order_id=orders[name],
                    ref=f"RF{seq:08d}-1",
                    warehouse_code="WH-SH",
                    carrier_code=carrier,
                    fee_fen=fee,
                    waybill_no=waybill,
                    status="delivered",
                    created_at=DELIVERED,
                    updated_at=DELIVERED,
                )
            )
    return orders | {"shop": shop}


def outcomes(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-testid="carrier-bill-line" data-waybill="([^"]+)" data-outcome="([^"]+)"', html))


async def import_as_finance(client, make_user, content: bytes = BILL, carrier: str = "ZTO"):
    await make_user(Role.finance, "finance1")
    await login(client, "finance1")
    return await upload_form(client, PAGE, PAGE, "zto-2026-11.csv", content, carrier=carrier)


async def adjustments(db) -> list[tuple[str, bool, int | None, list[tuple[str, int, int, str]]]]:
    async with db.reading() as session:
        vouchers = (
            await session.exec(
                select(Voucher).where(Voucher.kind == VoucherKind.carrier_bill.value).order_by(col(Voucher.id))
            )
        ).all()
        found = []
        for voucher in vouchers:
            lines = (
                await session.exec(
                    select(VoucherLine).where(VoucherLine.voucher_id == voucher.id).order_by(col(VoucherLine.position))
                )
            ).all()
            found.append(
                (
                    voucher.source_key,
                    voucher.red,
                    voucher.order_id,
                    [(line.line_kind, line.debit_fen, line.credit_fen, line.partner) for line in lines],
                )
            )
        return found


async def test_a_carrier_bill_books_each_difference_as_freight_payable_and_lists_the_unknown_waybills(
    client, make_user, db
):
    """ZT001 billed 9.50 for 8.00 booked: +1.50; ZT002 8.80 for 10.00: −1.20 in red; ZT003 agrees; ZT999 is no
    parcel of ours and YT004 is 圆通's, not 中通's."""
    ids = await parcels(db)
    response = await import_as_finance(client, make_user)
    assert response.status_code == 200
    assert outcomes(response.text) == {
        "ZT001": "booked",
        "ZT002": "booked",
        "ZT003": "agrees",
        "ZT999": "unknown",
        "YT004": "unknown",
    }
    assert await adjustments(db) == [
        (
            "carrier_bill:ZTO:ZT001",
            False,
            ids["O1"],
            [(LineKind.freight.value, 150, 0, ""), (LineKind.freight_payable.value, 0, 150, "中通快递")],
        ),
        (
            "carrier_bill:ZTO:ZT002",
            True,
            ids["O2"],
            [(LineKind.freight.value, -120, 0, ""), (LineKind.freight_payable.value, 0, -120, "中通快递")],
        ),
    ]


async def test_importing_the_carrier_bill_again_books_nothing_new(client, make_user, db):
    await parcels(db)
    await import_as_finance(client, make_user)
    again = await upload_form(client, PAGE, PAGE, "zto-2026-11-again.csv", BILL, carrier="ZTO")
    assert again.status_code == 200
    assert outcomes(again.text) == {
        "ZT001": "already",
        "ZT002": "already",
        "ZT003": "agrees",
        "ZT999": "unknown",
        "YT004": "unknown",
    }
    assert len(await adjustments(db)) == 2


async def test_the_booked_difference_shows_in_the_orders_margin(client, make_user, db):
    """O1 sold for 50.00 net with 8.00 freight booked: margin 42.00; the bill's extra 1.50 makes it 40.50."""
    ids = await parcels(db)
    sale = [(LineKind.receivable, 5000, 0), (LineKind.revenue, 0, 5000), (LineKind.freight, 800, 0)]
    sale.append((LineKind.freight_payable, 0, 800))
    await add_voucher(db, f"sale:order:{ids['O1']}", ids["O1"], "tmall", ids["shop"], date(2026, 11, 30), sale)
    await import_as_finance(client, make_user)
    margins = await client.get("/finance/margins?start=2026-11-01&end=2026-11-30")
    assert re.findall(r'data-external-id="(O\d)" data-margin="(-?\d+)"', margins.text) == [("O1", "4050")]


async def test_a_bill_without_a_fee_column_or_carrier_is_refused_with_a_message(client, make_user, db):
    await parcels(db)
    response = await import_as_finance(client, make_user, "运单号,日期\nZT001,2026-11-30\n".encode())
    assert response.status_code == 400
    error = re.search(r'data-testid="carrier-bill-error">([^<]+)<', response.text)
    assert error is not None and "运费" in error.group(1)
    unknown = await upload_form(client, PAGE, PAGE, "bill.csv", BILL, carrier="NOPE")
    assert unknown.status_code == 400 and 'data-testid="carrier-bill-error"' in unknown.text
    assert await adjustments(db) == []

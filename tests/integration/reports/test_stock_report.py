"""库存 report: each SKU's available stock over the active warehouses, its last 30 days' sales from the ledger and
so its days of cover, equal to a direct count of the stock rows and the ledger; out-of-stock SKUs come first."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import timedelta

from app.db import utcnow
from app.domain.inventory.models import MoveKind, Sku, Stock, StockMove, Warehouse
from tests.integration.reports.test_report_pages import as_viewer

#: code, alert level (预警值), units on hand and reserved per warehouse (SH, BJ).
SKUS = [
    ("PHONE-X1", 5, {"SH": (40, 4), "BJ": (10, 0)}),
    ("EARBUD-P2", 20, {"SH": (12, 0), "BJ": (3, 1)}),
    ("CABLE-C1", 0, {"SH": (2, 2)}),
    ("SERUM-30", 0, {"SH": (500, 0)}),
]
#: sku, kind, units, days ago (one sale outside the 30 days).
MOVES = [
    ("PHONE-X1", MoveKind.shipment, 30, 3),
    ("PHONE-X1", MoveKind.pos_sale, 6, 10),
    ("PHONE-X1", MoveKind.shipment, 100, 45),
    ("EARBUD-P2", MoveKind.shipment, 45, 1),
    ("CABLE-C1", MoveKind.shipment, 9, 20),
    ("SERUM-30", MoveKind.receipt, -500, 2),
]


async def stock_data(db) -> None:
    now = utcnow()
    async with db.transaction() as session:
        for code, name in (("SH", "上海仓"), ("BJ", "北京仓")):
            session.add(Warehouse(code=code, name=name, province="上海" if code == "SH" else "北京"))
        for code, alert, _ in SKUS:
            session.add(Sku(code=code, name=f"{code} 商品", low_stock_threshold=alert))
        await session.flush()
        for code, _, stock in SKUS:
            for warehouse, (on_hand, reserved) in stock.items():
                session.add(
                    Stock(warehouse_code=warehouse, sku_code=code, on_hand=on_hand, reserved=reserved, updated_at=now)
                )
        for sku, kind, units, days_ago in MOVES:
            session.add(
                StockMove(
                    at=now - timedelta(days=days_ago),
                    kind=kind,
                    warehouse_code="SH",
                    sku_code=sku,
                    on_hand_delta=-units,
                    actor_type="system",
                    actor_name="test",
                )
            )


async def test_days_of_cover_come_from_the_stock_and_the_last_30_days_of_sales(client, db, make_user):
    await stock_data(db)
    await as_viewer(client, make_user)
    response = await client.get("/reports/stock/download/csv")
    table = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert table[0] == ["商品编码", "名称", "库存状态", "可用", "预警值", "30 天销量", "可售天数"]
    sold: dict[str, int] = defaultdict(int)
    for sku, kind, units, days_ago in MOVES:
        if kind in (MoveKind.shipment, MoveKind.pos_sale) and days_ago <= 30:
            sold[sku] += units
    expected = {}
    for code, alert, stock in SKUS:
        available = sum(on_hand - reserved for on_hand, reserved in stock.values())
        state = "缺货" if available <= 0 else "低于预警值" if available <= alert else "充足"
        cover = f"{available / (sold[code] / 30):.1f}" if sold[code] and available > 0 else ""
        expected[code] = [f"{code} 商品", state, str(available), str(alert), str(sold[code]), cover]
    assert {row[0]: row[1:] for row in table[1:]} == expected
    # Out of stock first, then below the alert level, then the shortest cover.
    assert [row[2] for row in table[1:]] == sorted(
        (row[2] for row in table[1:]), key=["缺货", "低于预警值", "充足"].index
    )

    page = (await client.get("/reports")).text
    assert "库存：可售天数与缺货 SKU" in page

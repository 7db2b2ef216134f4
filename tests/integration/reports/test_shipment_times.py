"""发货时效: parcels confirmed shipped (and signed for) through the warehouse's confirmation at set moments are counted
per warehouse and carrier as a direct computation over the shipments says: hours from payment, the share within the
promise, the share delivered within the carrier's days, the waits' histogram; a replayed scan or delivery changes
nothing, a rebuild from the shipments gives the kept rollup, and the page and its download say the same."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, insert
from sqlmodel import delete, select

from app.db import CHINA, Database, clock_at, utcnow
from app.domain.accounts.services import SYSTEM
from app.domain.fulfillment import confirmation, shipment_rollups
from app.domain.fulfillment.models import Carrier, Shipment, ShipmentDayRollup, Waybill, shipment_ref
from app.domain.inventory.models import Warehouse
from app.domain.orders import services as orders
from app.domain.orders.models import Order, OrderStatus
from app.domain.reports import presentation
from app.domain.reports.queries import ReportFilters, shipment_times
from app.domain.shops.models import Shop
from app.settings import Settings
from tests.integration.conftest import migration_config
from tests.integration.orders.test_order_api import land
from tests.integration.reports.conftest import ELEVEN_ELEVEN, normalized
from tests.integration.reports.test_report_pages import as_viewer

FIRST, LAST = date(2026, 11, 10), date(2026, 11, 20)
WAREHOUSES = {"SH": "上海仓", "BJ": "北京仓"}
CARRIERS = {"SF": "顺丰速运", "ZTO": "中通快递"}
PROMISE = timedelta(hours=48)
#: The histogram's upper bounds: up to 12 hours, 12–24, 24–48, 48–72, longer.
BUCKET_BOUNDS = [timedelta(hours=hours) for hours in (12, 24, 48, 72)]


@dataclass(frozen=True)
class Plan:
    """One parcel: where it leaves from, with whom, its carrier's days, and when it ships and is signed for
    (after its order's payment, and after shipping)."""

    warehouse: str
    carrier: str
    promised_days: int | None
    wait: timedelta | None
    delivered_after: timedelta | None = None


H = timedelta(hours=1)
D = timedelta(days=1)
#: Per order (shop, external id, placed after 11-11 00:00 China, presale balance due after payment): its parcels.
ORDERS: list[tuple[str, str, timedelta, timedelta | None, list[Plan]]] = [
    ("tmall-a", "A1", 1 * H, None, [Plan("SH", "SF", 1, 10 * H, 20 * H)]),
    ("tmall-a", "A2", 2 * H, None, [Plan("SH", "SF", 1, 28 * H + timedelta(minutes=15), 2 * D)]),
    ("tmall-a", "A3", 3 * H, None, [Plan("SH", "ZTO", 3, 50 * H)]),
    ("tmall-b", "B1", 5 * H, None, [Plan("BJ", "ZTO", 3, 48 * H - timedelta(minutes=1), 3 * D)]),
    ("tmall-b", "B2", 6 * H, None, [Plan("BJ", "ZTO", None, 48 * H, 1 * D)]),
    ("jd", "J1", 7 * H, None, [Plan("BJ", "SF", 2, 80 * H, 1 * D)]),
    # A presale: its clock starts when the balance falls due, five days after the deposit.
    ("jd", "J2", 8 * H, 5 * D, [Plan("BJ", "SF", 2, 5 * D + 24 * H, 3 * D)]),
    ("tmall-a", "A4", 9 * H, None, [Plan("SH", "SF", 1, 5 * H, 12 * H), Plan("BJ", "ZTO", 3, 30 * H)]),
    # Waybilled, never shipped: not counted.
    ("tmall-a", "A5", 10 * H, None, [Plan("SH", "SF", 1, None)]),
    # Shipped after the range.
    ("tmall-b", "B3", 30 * D, None, [Plan("SH", "SF", 1, 2 * H, 1 * D)]),
]


async def waybilled(db: Database, order_id: int, plans: list[Plan]) -> list[str]:
    """The order's parcels, waybilled as the worker would leave them; their waybill numbers."""
    numbers = []
    async with db.transaction() as session:
        order = await session.get(Order, order_id)
        assert order is not None
        for seq, plan in enumerate(plans, start=1):
            ref, number = shipment_ref(order_id, seq), f"{plan.carrier}{order_id:06d}{seq}"
            at = order.placed_at
            session.add(
                Shipment(
                    order_id=order_id,
                    seq=seq,
                    ref=ref,
                    warehouse_code=plan.warehouse,
                    carrier_code=plan.carrier,
                    promised_days=plan.promised_days,
                    waybill_no=number,
                    status="waybilled",
                    created_at=at,
                    updated_at=at,
                )
            )
            session.add(
                Waybill(
                    request_key=f"wb:{ref}",
                    order_ref=ref,
                    carrier_code=plan.carrier,
                    warehouse_code=plan.warehouse,
                    waybill_no=number,
                    created_at=at,
                )
            )
            numbers.append(number)
        await orders.set_status(session, order, OrderStatus.waybilled)
    return numbers


@pytest.fixture
async def shipped(db: Database, settings: Settings, shops: dict[str, Shop]) -> list[tuple[str, datetime | None]]:
    """The orders landed, their parcels waybilled, then each confirmed shipped and signed for at its moment, in
    time order; every scan and delivery as (waybill number, moment signed for)."""
    warehouses = [Warehouse(code=code, name=name, province="上海") for code, name in WAREHOUSES.items()]
    async with db.transaction() as session:
        session.add_all([*warehouses, *(Carrier(code=code, name=name) for code, name in CARRIERS.items())])
    moments: list[tuple[datetime, str, Any]] = []
    for shop_code, external_id, placed_after, due_after, plans in ORDERS:
        data = normalized(external_id, ELEVEN_ELEVEN + placed_after)
        assert data.paid_at is not None
        if due_after is not None:
            data = replace(data, is_presale=True, deposit_paid=True, balance_due_at=data.paid_at + due_after)
        (order_id,) = await land(db, settings, shops[shop_code], data)
        for plan, number in zip(plans, await waybilled(db, order_id, plans), strict=True):
            if plan.wait is None:
                continue
            moments.append((data.paid_at + plan.wait, "ship", number))
            if plan.delivered_after is not None:
                moments.append((data.paid_at + plan.wait + plan.delivered_after, "deliver", number))
    done: list[tuple[str, datetime | None]] = []
    for moment, what, number in sorted(moments):
        with clock_at(moment):
            async with db.transaction() as session:
                if what == "ship":
                    (answer,) = await confirmation.confirm_many(session, [number], SYSTEM, utcnow())
                    assert answer["outcome"] == "shipped", answer
                    done.append((number, None))
                else:
                    parcel = (await session.exec(select(Shipment).where(Shipment.waybill_no == number))).one()
                    assert parcel.id is not None
                    assert await confirmation.confirm_delivered(session, parcel.id, "carrier:test", utcnow())
                    done.append((number, moment))
    return done


def clock_start(order: Order) -> datetime:
    """Payment, or a presale's balance due time when later."""
    assert order.paid_at is not None
    if order.is_presale and order.balance_due_at is not None:
        return max(order.paid_at, order.balance_due_at)
    return order.paid_at


def within_days(parcel: Shipment) -> bool:
    assert parcel.delivered_at is not None and parcel.shipped_at is not None and parcel.promised_days is not None
    return parcel.delivered_at - parcel.shipped_at <= timedelta(days=parcel.promised_days)


async def direct(
    db: Database, first: date = FIRST, last: date = LAST, *, channel: str = "", shop_id: int | None = None
) -> dict[tuple[str, str], list[Any]]:
    """Each warehouse and carrier's row, computed from the shipments and their orders alone."""
    async with db.reading() as session:
        found = (await session.exec(select(Shipment, Order).join(Order, Order.id == Shipment.order_id))).all()  # type: ignore[arg-type]
    groups: dict[tuple[str, str], list[tuple[Shipment, Order]]] = defaultdict(list)
    for parcel, order in found:
        if parcel.shipped_at is None or not first <= parcel.shipped_at.astimezone(CHINA).date() <= last:
            continue
        if (channel and order.channel != channel) or shop_id not in (None, order.shop_id):
            continue
        groups[(WAREHOUSES[parcel.warehouse_code], CARRIERS[parcel.carrier_code or ""])].append((parcel, order))
    rows = {}
    for key, parcels in groups.items():
        waits = [parcel.shipped_at - clock_start(order) for parcel, order in parcels if parcel.shipped_at]
        delivered = [parcel for parcel, _ in parcels if parcel.delivered_at is not None]
        promised = [parcel for parcel in delivered if parcel.promised_days is not None]
        kept = [p for p in promised if within_days(p)]
        buckets = [0] * (len(BUCKET_BOUNDS) + 1)
        for wait in waits:
            buckets[sum(1 for bound in BUCKET_BOUNDS if wait > bound)] += 1
        rows[key] = [
            len(parcels),
            sum(wait.total_seconds() for wait in waits) / 3600 / len(waits),
            sum(1 for wait in waits if wait <= PROMISE) / len(waits),
            len(delivered),
            len(kept) / len(promised) if promised else None,
            *buckets,
        ]
    return rows


async def reported(db: Database, **query: str) -> dict[tuple[str, str], list[Any]]:
    filters = ReportFilters.from_query({"date_from": FIRST.isoformat(), "date_to": LAST.isoformat(), **query})
    async with db.reading() as session:
        report = await shipment_times(session, filters)
    return {(row[0], row[1]): row[2:] for row in report.rows}


def same(found: dict[tuple[str, str], list[Any]], expected: dict[tuple[str, str], list[Any]]) -> None:
    assert found.keys() == expected.keys()
    for key, row in expected.items():
        assert found[key] == [value if value is None else pytest.approx(value) for value in row], key


async def kept(db: Database) -> dict[tuple[Any, ...], dict[str, int]]:
    async with db.reading() as session:
        rows = (await session.exec(select(ShipmentDayRollup))).all()
    return {
        tuple(getattr(row, name) for name in shipment_rollups.KEY): {
            name: getattr(row, name) for name in shipment_rollups.MEASURES
        }
        for row in rows
    }


async def test_each_warehouse_and_carrier_shows_what_its_shipments_say(db, shipped):
    expected = await direct(db)
    # The data set means something: every group shipped, some late, some delivered late, one unpromised.
    assert sum(row[0] for row in expected.values()) == 9
    assert expected[("上海仓", "顺丰速运")][:5] == [3, pytest.approx((10 + 28.25 + 5) / 3), 1.0, 3, 2 / 3]
    assert expected[("北京仓", "顺丰速运")][2] == 1 / 2, "the presale kept its promise from the balance's due time"
    same(await reported(db), expected)


async def test_the_channel_shop_and_day_filters_narrow_the_figures_like_the_shipments(db, shipped, shops):
    tmall_b = shops["tmall-b"]
    same(await reported(db, channel="jd"), await direct(db, channel="jd"))
    same(await reported(db, shop=str(tmall_b.id)), await direct(db, shop_id=tmall_b.id))
    assert await reported(db, channel="jd", shop=str(tmall_b.id)) == {}
    one_day = {"date_from": "2026-11-13", "date_to": "2026-11-13"}
    filters = ReportFilters.from_query(one_day)
    async with db.reading() as session:
        report = await shipment_times(session, filters)
    same(
        {(row[0], row[1]): row[2:] for row in report.rows},
        await direct(db, date(2026, 11, 13), date(2026, 11, 13)),
    )


async def test_a_replayed_scan_or_delivery_changes_nothing_and_a_rebuild_gives_the_kept_rollup(db, shipped):
    before = await kept(db)
    numbers = [number for number, delivered in shipped if delivered is None]
    async with db.transaction() as session:
        answers = await confirmation.confirm_many(session, numbers, SYSTEM, utcnow())
        assert {answer["outcome"] for answer in answers} == {"already_shipped"}
        for number, delivered in shipped:
            if delivered is None:
                continue
            parcel = (await session.exec(select(Shipment).where(Shipment.waybill_no == number))).one()
            assert parcel.id is not None
            assert not await confirmation.confirm_delivered(session, parcel.id, "carrier:test", utcnow())
    assert await kept(db) == before
    async with db.transaction() as session:
        assert await shipment_rollups.rebuild_shipment_rollups(session) == len(before)
    assert await kept(db) == before


async def test_reports_rebuild_counts_the_parcels_shipped_before_the_rollup_was_kept(db, reports_rebuild, shipped):
    before = await kept(db)
    async with db.transaction() as session:
        await session.exec(delete(ShipmentDayRollup))
    done = await reports_rebuild()
    assert f"{len(before)} days of warehouses" in done.output
    assert await kept(db) == before
    same(await reported(db), await direct(db))


async def test_the_page_and_the_download_show_the_figures_in_chinese(client, make_user, db, shipped):
    await as_viewer(client, make_user)
    query = {"date_from": FIRST.isoformat(), "date_to": LAST.isoformat()}
    page = await client.get("/reports", params=query)
    assert page.status_code == 200
    assert "发货时效（按仓库与快递公司）" in page.text and 'data-testid="table-shiptime"' in page.text
    expected = await direct(db)
    response = await client.get("/reports/shiptime/download/csv", params=query)
    assert response.status_code == 200
    table = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert table[0][:7] == [
        "仓库",
        "快递公司",
        "发货包裹数",
        "付款到发货平均时长（小时）",
        "时效内发货占比",
        "已签收包裹数",
        "承诺天数内签收占比",
    ]
    downloaded = {(row[0], row[1]): row[2:] for row in table[1:]}
    assert downloaded.keys() == expected.keys()
    for key, (parcels, hours, share, delivered, kept_share, *buckets) in expected.items():
        shown = [
            str(parcels),
            str(round(hours, 1)),
            str(round(share * 100, 1)),
            str(delivered),
            "" if kept_share is None else str(round(kept_share * 100, 1)),
            *(str(count) for count in buckets),
        ]
        assert downloaded[key] == shown, key
    async with db.reading() as session:
        report = await shipment_times(session, ReportFilters.from_query(query))
    chart = presentation.chart_of(report)
    assert chart["unit"] == "占比（%）"
    assert chart["series"][0]["name"] == "时效内发货占比"
    assert chart["series"][0]["values"] == [round(row[4] * 100, 1) for row in report.rows]


def test_the_upgrade_gives_parcels_shipped_before_their_times_and_counts_them(tmp_path):
    # A scratch SQLite file of its own, whichever backend the suite runs on.
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    config = migration_config(url)
    before = ScriptDirectory.from_config(config).get_revision("0039_shipment_times").down_revision
    command.upgrade(config, str(before))
    paid = ELEVEN_ELEVEN + 2 * H
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as connection:
        shop_id = connection.execute(
            insert(Shop.__table__).values(channel="tmall", code="t", name="店")
        ).inserted_primary_key[0]  # type: ignore[attr-defined]
        order_id = connection.execute(
            insert(Order.__table__).values(  # type: ignore[attr-defined]
                channel="tmall",
                shop_id=shop_id,
                external_id="T1",
                placed_at=paid,
                paid_at=paid,
                source_updated_at=paid,
                received_at=paid,
                updated_at=paid,
                tags=[],
                raw={},
            )
        ).inserted_primary_key[0]
        for seq, (status, changed) in enumerate([("shipped", 50 * H), ("delivered", 20 * H), ("waybilled", H)], 1):
            connection.execute(
                insert(Shipment.__table__).values(  # type: ignore[attr-defined]
                    order_id=order_id,
                    seq=seq,
                    ref=shipment_ref(order_id, seq),
                    warehouse_code="SH",
                    carrier_code="SF",
                    promised_days=1,
                    lines=[],
                    status=status,
                    created_at=paid,
                    updated_at=paid + changed,
                )
            )
    command.upgrade(config, "heads")
    with engine.connect() as connection:
        times = connection.execute(select(Shipment.status, Shipment.shipped_at, Shipment.delivered_at)).all()
        rows = connection.execute(select(ShipmentDayRollup)).all()
    engine.dispose()
    moments = {status: (shipped, delivered) for status, shipped, delivered in times}
    assert moments == {
        "shipped": (paid + 50 * H, None),
        "delivered": (paid + 20 * H, paid + 20 * H),
        "waybilled": (None, None),
    }
    # Both left on 11-11 or 11-13 China time: one row a day, the late one out of the promise.
    counted = {
        row.day: (row.parcels, row.wait_minutes, row.in_promise, row.delivered, row.delivered_in_promise)
        for row in rows
    }
    assert counted == {date(2026, 11, 11): (1, 20 * 60, 1, 1, 1), date(2026, 11, 13): (1, 50 * 60, 0, 0, 0)}

"""Reports' own tables: rollups of the orders that the report pages read."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Column, Index
from sqlmodel import Field, SQLModel

from app.dbtypes import UTCDateTime


class OrderHourRollup(SQLModel, table=True):
    """The orders placed in one hour (UTC) in one shop, counted and summed; ``day`` and ``hour`` are the hour's
    China date and hour of day, which the reports group by. Reissued orders (补发, 换货) are no sales and left out."""

    __tablename__ = "report_order_hours"
    __table_args__ = (Index("ix_report_order_hours_day", "day", "channel", "shop_id"),)

    hour_start: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))
    channel: str = Field(max_length=32, primary_key=True)
    shop_id: int = Field(primary_key=True)
    day: date
    hour: int
    #: Every order placed, whatever became of it.
    orders: int = 0
    #: Orders that were paid (a paid time is known), cancelled or not.
    paid_orders: int = 0
    cancelled_orders: int = 0
    #: 成交额: what the paid orders were paid, in fen.
    gmv_fen: int = Field(default=0, sa_type=BigInteger)
    #: What went back: a paid order cancelled in full, else its lines the platform refunded, in fen.
    refund_fen: int = Field(default=0, sa_type=BigInteger)


class SkuHourRollup(SQLModel, table=True):
    """The units of each SKU sold in one hour (UTC) in one shop: the lines of paid orders not cancelled, gifts and
    reissued orders (补发, 换货) left out, whose SKU is one of ours; ``day`` is the hour's China date. Counted with the
    shop's hour in :mod:`app.domain.reports.rollups`, the denominator of the return rate."""

    __tablename__ = "report_sku_hours"
    # Covering: a range of days is summed per SKU from the index alone.
    __table_args__ = (
        Index("ix_report_sku_hours_day", "day", "channel", "shop_id", "sku_code", "units", "refunded_units"),
    )

    hour_start: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))
    channel: str = Field(max_length=32, primary_key=True)
    shop_id: int = Field(primary_key=True)
    sku_code: str = Field(max_length=64, primary_key=True)
    day: date
    #: Units sold, the lines later refunded included (a return is measured against what was sold).
    units: int = 0
    #: Of those, units on lines the platform refunded.
    refunded_units: int = 0


class SkuMonthRollup(SQLModel, table=True):
    """The same units summed per China month (``month`` is its first day), kept by adding what each count of an hour
    changed: a range of whole months is read from here, its odd days from the hours (a year of a thousand SKUs in
    every shop is a few tens of thousands of rows here, hundreds of thousands by the hour)."""

    __tablename__ = "report_sku_months"

    month: date = Field(primary_key=True)
    channel: str = Field(max_length=32, primary_key=True)
    shop_id: int = Field(primary_key=True)
    sku_code: str = Field(max_length=64, primary_key=True)
    units: int = 0
    refunded_units: int = 0

"""Inventory: warehouses, SKUs and bundles, the stock table, its append-only ledger, reservations per order
line, stock counts (盘点) and channel stock sync (库存同步)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Column, Index, Integer, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from app.dbtypes import json_field, utc_field


class WarehouseKind(StrEnum):
    regional = "regional"  # 区域仓
    store = "store"  # 门店仓
    front = "front"  # 前置仓


class TemperatureZone(StrEnum):
    ambient = "ambient"  # 常温
    chilled = "chilled"  # 冷藏
    frozen = "frozen"  # 冷冻


class WarehouseBase(SQLModel):
    """A place stock is kept and shipped from."""

    code: str = Field(max_length=32, unique=True, index=True)
    name: str = Field(max_length=100)
    kind: WarehouseKind = Field(default=WarehouseKind.regional, max_length=16)
    province: str = Field(max_length=32)
    city: str = Field(default="", max_length=32)
    priority: int = 100
    is_active: bool = True


class Warehouse(WarehouseBase, table=True):
    __tablename__ = "warehouses"

    id: int | None = Field(default=None, primary_key=True)
    #: Regions served (华东, 华北…); empty means everywhere.
    serves_regions: list[str] = json_field(nullable=False, default_factory=list)
    #: Cost profile: handling fee per order and per extra item, in fen.
    cost_profile: dict[str, Any] = json_field(nullable=False, default_factory=dict)


class WarehouseRead(WarehouseBase):
    id: int
    serves_regions: list[str]


class SkuBase(SQLModel):
    """A sellable item as the merchant codes it (the channels' seller SKU maps to ``code``)."""

    code: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=200)
    category: str = Field(default="", max_length=64, index=True)
    #: The barcode printed on the item (EAN-13, UPC…), digits only; empty when it has none.
    barcode: str = Field(default="", max_length=32, index=True, sa_column_kwargs={"server_default": ""})
    weight_g: int = 0
    volume_cm3: int = 0
    temperature_zone: TemperatureZone = Field(default=TemperatureZone.ambient, max_length=16)
    #: The list price (吊牌价), in fen.
    price_fen: int = 0
    #: What one unit costs the merchant (成本价), in fen: finance's cost of goods and margins.
    cost_fen: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    is_bundle: bool = False
    is_active: bool = True


class Sku(SkuBase, table=True):
    __tablename__ = "skus"

    id: int | None = Field(default=None, primary_key=True)
    #: Low-stock alert when the SKU's available stock across all warehouses falls to this or below.
    low_stock_threshold: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class SkuRead(SkuBase):
    id: int


class BundleComponent(SQLModel, table=True):
    """One part of a bundle (组合商品): selling one ``bundle_code`` takes ``qty`` of ``component_code``."""

    __tablename__ = "bundle_components"
    __table_args__ = (
        UniqueConstraint("bundle_code", "component_code", name="uq_bundle_component"),
        CheckConstraint("qty > 0", name="ck_bundle_component_qty"),
    )

    id: int | None = Field(default=None, primary_key=True)
    bundle_code: str = Field(max_length=64, foreign_key="skus.code", index=True)
    component_code: str = Field(max_length=64, foreign_key="skus.code")
    qty: int = 1


class SkuMapping(SQLModel, table=True):
    """A shop's platform SKU that is one of ours (or a bundle): by the platform's sku id, by its outer id
    (商家编码), or by either when both are given. Each key is unique within the shop."""

    __tablename__ = "sku_mappings"
    __table_args__ = (
        Index(
            "uq_sku_mappings_shop_sku_id",
            "shop_id",
            "platform_sku_id",
            unique=True,
            sqlite_where=text("platform_sku_id <> ''"),
            postgresql_where=text("platform_sku_id <> ''"),
        ),
        Index(
            "uq_sku_mappings_shop_outer_id",
            "shop_id",
            "outer_id",
            unique=True,
            sqlite_where=text("outer_id <> ''"),
            postgresql_where=text("outer_id <> ''"),
        ),
        CheckConstraint("platform_sku_id <> '' OR outer_id <> ''", name="ck_sku_mapping_has_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = Field(foreign_key="shops.id", index=True)
    #: The platform's own id of the SKU (an order line's ``channel_sku_id``); empty when mapped by outer id.
    platform_sku_id: str = Field(default="", max_length=64)
    #: The seller's code on the platform (商家编码, an order line's ``seller_sku``); empty when mapped by sku id.
    outer_id: str = Field(default="", max_length=64)
    sku_code: str = Field(max_length=64, foreign_key="skus.code", index=True)
    #: The platform's id of the item (listing) the SKU belongs to (淘宝 num_iid, 有赞 item_id, 视频号 product_id,
    #: 抖店 product_id): most platforms' stock update names the item as well as the SKU. Empty when not known.
    platform_item_id: str = Field(default="", max_length=64, sa_column_kwargs={"server_default": ""})
    mapped_by: str = Field(max_length=100)
    mapped_at: datetime = utc_field()


class Stock(SQLModel, table=True):
    """Stock of one SKU in one warehouse. ``on_hand`` and ``reserved`` are always the sums of the ledger;
    available = on_hand − reserved − safety_stock. The CHECKs are the last guard against overselling."""

    __tablename__ = "stock"
    __table_args__ = (
        UniqueConstraint("warehouse_code", "sku_code", name="uq_stock_warehouse_sku"),
        CheckConstraint("reserved >= 0", name="ck_stock_reserved_not_negative"),
        CheckConstraint("reserved <= on_hand", name="ck_stock_reserved_within_on_hand"),
        CheckConstraint("safety_stock >= 0", name="ck_stock_safety_not_negative"),
    )

    id: int | None = Field(default=None, primary_key=True)
    warehouse_code: str = Field(max_length=32, foreign_key="warehouses.code")
    sku_code: str = Field(max_length=64, foreign_key="skus.code", index=True)
    on_hand: int = 0
    reserved: int = 0
    safety_stock: int = 0
    #: Returned units that failed quality check (次品): kept apart from on hand, never sold.
    defective: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    updated_at: datetime = utc_field()

    @property
    def available(self) -> int:
        return max(0, self.on_hand - self.reserved - self.safety_stock)


class MoveKind(StrEnum):
    receipt = "receipt"  # 入库
    reservation = "reservation"  # 占用
    release = "release"  # 释放
    shipment = "shipment"  # 出库
    returned = "returned"  # 退货入库 (or a zero row when quality check fails)
    adjustment = "adjustment"  # 盘点调整
    transfer_out = "transfer_out"  # 调拨出
    transfer_in = "transfer_in"  # 调拨入
    pos_sale = "pos_sale"  # 门店销售: a store till sold it off the shelf


class StockMove(SQLModel, table=True):
    """One row of the append-only stock ledger (the database refuses updates and deletes)."""

    __tablename__ = "stock_ledger"
    __table_args__ = (
        # A caller-supplied reference (a return id, a transfer id) applies once per warehouse and SKU.
        UniqueConstraint("kind", "ref", "warehouse_code", "sku_code", name="uq_stock_ledger_ref"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = utc_field(index=True)
    kind: MoveKind = Field(max_length=16)
    warehouse_code: str = Field(max_length=32)
    sku_code: str = Field(max_length=64, index=True)
    on_hand_delta: int = 0
    reserved_delta: int = 0
    defective_delta: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    order_key: str | None = Field(default=None, max_length=100, index=True)
    line_key: str | None = Field(default=None, max_length=100)
    ref: str | None = Field(default=None, max_length=100)
    actor_type: str = Field(max_length=16)
    actor_name: str = Field(max_length=100)
    note: str = Field(default="", max_length=500)


class ReservationStatus(StrEnum):
    reserved = "reserved"
    released = "released"
    shipped = "shipped"


class Reservation(SQLModel, table=True):
    """What one order line holds of one SKU (a bundle line holds each component). Unique per order line and
    SKU, which is what makes reserving twice reserve once."""

    __tablename__ = "stock_reservations"
    __table_args__ = (
        UniqueConstraint("order_key", "line_key", "sku_code", name="uq_stock_reservation_line"),
        CheckConstraint("returned_qty >= 0 AND returned_qty <= qty", name="ck_stock_reservation_returned"),
    )

    id: int | None = Field(default=None, primary_key=True)
    order_key: str = Field(max_length=100, index=True)
    line_key: str = Field(max_length=100)
    sku_code: str = Field(max_length=64)
    #: The SKU the order line sold (the bundle, for a component); the same as ``sku_code`` otherwise.
    line_sku_code: str = Field(max_length=64)
    warehouse_code: str = Field(max_length=32)
    #: Units of ``sku_code`` held: the line's quantity times the component quantity for a bundle.
    qty: int
    #: The order line's own quantity (in ``line_sku_code`` units), to turn a returned line quantity into units.
    line_qty: int
    status: ReservationStatus = Field(default=ReservationStatus.reserved, max_length=16)
    returned_qty: int = 0
    created_at: datetime = utc_field()
    updated_at: datetime = utc_field()


class StockCount(SQLModel, table=True):
    """One stock count (盘点) of a warehouse: what the system expected, what was counted, the adjustment."""

    __tablename__ = "stock_counts"

    id: int | None = Field(default=None, primary_key=True)
    warehouse_code: str = Field(max_length=32, foreign_key="warehouses.code", index=True)
    counted_at: datetime = utc_field()
    actor_name: str = Field(max_length=100)
    note: str = Field(default="", max_length=500)
    #: [{"sku": code, "expected": n, "counted": n, "delta": n}]
    lines: list[dict[str, Any]] = json_field(nullable=False, default_factory=list)


class ChannelStockRule(SQLModel, table=True):
    """How much of the pool a shop may sell: available × ratio − buffer. A rule without a SKU is the shop's
    default; a rule for a SKU overrides it. A shop without rules publishes 100 % with no buffer."""

    __tablename__ = "channel_stock_rules"
    __table_args__ = (
        UniqueConstraint("shop_id", "sku_code", name="uq_channel_stock_rule"),
        CheckConstraint("ratio_pct >= 0 AND ratio_pct <= 100", name="ck_channel_stock_rule_ratio"),
        CheckConstraint("buffer >= 0", name="ck_channel_stock_rule_buffer"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = Field(foreign_key="shops.id", index=True)
    sku_code: str | None = Field(default=None, max_length=64, foreign_key="skus.code")
    ratio_pct: int = 100
    buffer: int = 0


class ChannelStock(SQLModel, table=True):
    """The quantity to publish to one shop for one SKU, recomputed by the channel-stock job within seconds of
    a stock change (see :class:`ChannelStockMark`). ``shortfall`` > 0 means the buffer is more than the shop's
    share: the shop shows sold out. The ``push*`` columns say what the shop's platform was last told (库存推送,
    ``app/domain/channels/stock_push.py``)."""

    __tablename__ = "channel_stock"
    __table_args__ = (UniqueConstraint("shop_id", "sku_code", name="uq_channel_stock_shop_sku"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = Field(foreign_key="shops.id", index=True)
    sku_code: str = Field(max_length=64, foreign_key="skus.code")
    available: int = 0
    quantity: int = 0
    shortfall: int = 0
    computed_at: datetime = utc_field()
    #: The quantity the platform last accepted for this SKU, and when; None until a push succeeded.
    pushed_quantity: int | None = None
    pushed_at: datetime | None = utc_field(nullable=True)
    #: Why the last push was refused (in the operator's words), None after a success.
    push_error: str | None = Field(default=None, max_length=500)
    #: Which push a change waits for: a change stages the push keyed by this round (once), and a push bumps it
    #: as it reads the quantity, so a change after that read stages the next push rather than being lost.
    push_round: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class ChannelStockMark(SQLModel, table=True):
    """A change to a SKU's stock whose channel stock is not yet recomputed. Appended in the transaction that
    changes the stock (one row per change, never updated, no unique key, so concurrent reservations of a hot
    SKU never wait on each other here); the channel-stock job deletes the rows it recomputed."""

    __tablename__ = "channel_stock_marks"

    # 64-bit: a busy shop appends millions a day. SQLite auto-numbers only an INTEGER primary key.
    id: int | None = Field(
        default=None, sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    )
    sku_code: str = Field(max_length=64, index=True)
    marked_at: datetime = utc_field()


class LowStockState(SQLModel, table=True):
    """A SKU whose available stock (across active warehouses) is at or below its low-stock threshold, and since
    when. Written as it crosses down, with the ``stock.low`` event, and deleted once it is above again: each
    crossing is announced once however often its stock moves while low."""

    __tablename__ = "low_stock_states"

    id: int | None = Field(default=None, primary_key=True)
    sku_code: str = Field(max_length=64, foreign_key="skus.code", unique=True)
    available: int = 0
    since: datetime = utc_field()

"""Imports every table so that ``SQLModel.metadata`` is complete for Alembic and the tests."""

from __future__ import annotations

from sqlmodel import SQLModel

from app.domain.accounts.models import ApiToken, AuditEntry, LoginThrottle, User, UserSession
from app.domain.aftersales.models import AfterSaleCase, AfterSaleLine
from app.domain.channels.models import InboxEvent, IngestError, OrderImport, PushMessage
from app.domain.finance.models import (
    AccountMapping,
    ChannelFinance,
    FinanceEvent,
    Period,
    SettlementImport,
    SettlementLine,
    TaxRate,
    Voucher,
    VoucherExport,
    VoucherExportFile,
    VoucherLine,
)
from app.domain.flows.models import Flow, FlowBacktest, FlowCanary, FlowCanaryOrder, FlowVersion
from app.domain.fulfillment.models import (
    BuyerNotification,
    Carrier,
    CarrierRate,
    Interception,
    MessageTemplate,
    PlatformWriteback,
    Shipment,
    ShipmentDayRollup,
    ShippingDocument,
    ShippingDocumentEntry,
    Waybill,
)
from app.domain.inventory.models import (
    BundleComponent,
    ChannelStock,
    ChannelStockMark,
    ChannelStockRule,
    LowStockState,
    Reservation,
    Sku,
    SkuMapping,
    Stock,
    StockCount,
    StockMove,
    Warehouse,
)
from app.domain.orders.changes import OrderHourMark
from app.domain.orders.models import Customer, CustomerIdentity, Order, OrderEvent, OrderLine, OrderTag
from app.domain.processing.models import FlowHit, OrderProcessing
from app.domain.reports.models import OrderHourRollup, SkuHourRollup, SkuMonthRollup
from app.domain.shops.models import Shop
from app.domain.webhooks.models import EventDelivery, EventSubscription
from app.outbox import OutboxMessage

metadata = SQLModel.metadata

__all__ = [
    "AccountMapping",
    "AfterSaleCase",
    "AfterSaleLine",
    "ApiToken",
    "AuditEntry",
    "BundleComponent",
    "BuyerNotification",
    "Carrier",
    "CarrierRate",
    "ChannelFinance",
    "ChannelStock",
    "ChannelStockMark",
    "ChannelStockRule",
    "Customer",
    "CustomerIdentity",
    "EventDelivery",
    "EventSubscription",
    "FinanceEvent",
    "Flow",
    "FlowBacktest",
    "FlowCanary",
    "FlowCanaryOrder",
    "FlowHit",
    "FlowVersion",
    "InboxEvent",
    "IngestError",
    "Interception",
    "LoginThrottle",
    "LowStockState",
    "MessageTemplate",
    "Order",
    "OrderEvent",
    "OrderHourMark",
    "OrderHourRollup",
    "OrderImport",
    "OrderLine",
    "OrderProcessing",
    "OrderTag",
    "OutboxMessage",
    "Period",
    "PlatformWriteback",
    "PushMessage",
    "Reservation",
    "SettlementImport",
    "SettlementLine",
    "Shipment",
    "ShipmentDayRollup",
    "ShippingDocument",
    "ShippingDocumentEntry",
    "Shop",
    "Sku",
    "SkuHourRollup",
    "SkuMapping",
    "SkuMonthRollup",
    "Stock",
    "StockCount",
    "StockMove",
    "TaxRate",
    "User",
    "UserSession",
    "Voucher",
    "VoucherExport",
    "VoucherExportFile",
    "VoucherLine",
    "Warehouse",
    "Waybill",
    "metadata",
]

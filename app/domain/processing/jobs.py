"""Processing jobs: run the flows on an order, request a shipment's waybill, sweep stuck orders.

Only transient errors (the database or the carrier briefly unreachable, a lock conflict) are raised, so
that the outbox retries them with back-off; anything else puts the order in the review queue with the reason.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta
from typing import Any

from sqlmodel import col, select

from app.db import Database, is_transient, utcnow
from app.domain.fulfillment import services as fulfillment
from app.domain.fulfillment.carriers import CarrierError, HttpCarrierClient, WaybillRequest
from app.domain.inventory.models import Warehouse
from app.domain.orders import pii
from app.domain.orders import services as orders
from app.domain.orders.models import Order, OrderStatus
from app.domain.processing import services
from app.domain.processing.models import OrderProcessing, ProcessingState, Shipment
from app.settings import Settings

log = logging.getLogger(__name__)


async def process_order(ctx: dict[str, Any], order_id: int) -> dict[str, Any]:
    """Run the published flows on one order and carry out the decisions (idempotent per order version).
    Whatever goes wrong that is not transient puts the order in the review queue with the reason."""
    try:
        return (await process_orders(ctx, [order_id]))[0]
    except Exception as exc:
        if is_transient(exc):
            raise
        log.exception("processing order %s failed", order_id)
        reason = f"处理出错：{type(exc).__name__}: {str(exc)[:300]}"
    db: Database = ctx["db"]
    async with db.transaction() as session:
        await services.record_failure(session, int(order_id), reason)
    return {"order_id": order_id, "state": ProcessingState.held.value, "reason": reason}


async def process_orders(ctx: dict[str, Any], order_ids: list[int]) -> list[dict[str, Any]]:
    """Process a batch of orders in one transaction (each in its own savepoint; see
    :func:`services.process_batch`). Transient errors are raised for the outbox to retry the batch."""
    db: Database = ctx["db"]
    async with db.transaction() as session:
        outcomes = await services.process_batch(session, [int(order_id) for order_id in order_ids], db=db)
    # Which worker did it, as the monitor and an operator chasing a batch would want to know.
    worker = f"{socket.gethostname()}:{os.getpid()}"
    return [{**outcome.as_dict(), "worker": worker, "batch": len(order_ids)} for outcome in outcomes]


async def request_waybill(ctx: dict[str, Any], shipment_id: int) -> dict[str, Any]:
    """Get the shipment's waybill number from its carrier (a retried request gets the same number)."""
    db: Database = ctx["db"]
    settings: Settings = ctx["settings"]
    async with db.reading() as session:
        shipment = await session.get(Shipment, shipment_id)
        if shipment is None or shipment.status == "cancelled" or shipment.carrier_code is None:
            return {"skipped": "no such shipment, cancelled, or no carrier"}
        if shipment.waybill_no:
            return {"waybill_no": shipment.waybill_no, "skipped": "already has a waybill"}
        order = await session.get(Order, shipment.order_id)
        warehouse = (await session.exec(select(Warehouse).where(Warehouse.code == shipment.warehouse_code))).one()
        assert order is not None
        request = WaybillRequest(
            request_key=f"waybill:{shipment.ref}",
            order_ref=shipment.ref,
            carrier_code=shipment.carrier_code,
            warehouse_code=shipment.warehouse_code,
            origin_province=warehouse.province,
            dest_province=order.province,
            dest_city=order.city,
            receiver_masked=f"{pii.mask_name(order.receiver_name)} {order.phone_masked}",
            weight_g=shipment.weight_g,
            receiver_name=order.receiver_name,
            receiver_phone=pii.decrypt(settings.secret_key, order.phone_cipher) or order.phone_masked,
            receiver_address=" ".join(
                part
                for part in (
                    order.province,
                    order.city,
                    order.district,
                    order.town,
                    pii.decrypt(settings.secret_key, order.address_cipher) or order.address_masked,
                )
                if part
            ),
        )
        existing = await fulfillment.waybill_for(session, request.request_key)
    client = ctx.get("carrier_client") or HttpCarrierClient(
        settings.carrier_api_url, settings.carrier_api_key, settings.carrier_api_secret
    )
    try:
        result = None if existing is not None else await client.create_waybill(request)
    except CarrierError as exc:
        if exc.transient:
            raise
        # A refusal may quote the request back: keep it with the receiver masked.
        refusal = pii.redact_text(str(exc), fulfillment.receiver_of(request), limit=300)
        async with db.transaction() as session:
            await services.record_failure(
                session, shipment.order_id, f"快递 {request.carrier_code} 拒绝出面单：{refusal}"
            )
        return {"refused": refusal}
    async with db.transaction() as session:
        waybill = existing if result is None else await fulfillment.record_waybill(session, request, result)
        assert waybill is not None
        row = await session.get(Shipment, shipment_id)
        assert row is not None
        row.waybill_no = waybill.waybill_no
        row.status = "waybilled"
        row.updated_at = utcnow()
        session.add(row)
        await session.flush()
        siblings = (
            await session.exec(
                select(Shipment).where(Shipment.order_id == row.order_id, col(Shipment.status) != "cancelled")
            )
        ).all()
        order = await session.get(Order, row.order_id)
        assert order is not None
        await orders.add_event(session, order, "waybill", {"shipment": row.ref, "waybill_no": waybill.waybill_no})
        if all(s.waybill_no for s in siblings) and order.status == OrderStatus.routed:
            await services.set_status(session, order, OrderStatus.waybilled)
            merged = (
                await session.exec(select(OrderProcessing).where(OrderProcessing.merged_into == row.order_id))
            ).all()
            for proc in merged:
                other = await session.get(Order, proc.order_id)
                if other is not None and other.status == OrderStatus.routed:
                    await services.set_status(session, other, OrderStatus.waybilled)
    return {"waybill_no": waybill.waybill_no}


async def sweep_processing(db: Database, settings: Settings) -> dict[str, int]:
    """Cron body: re-stage stuck orders and retry 缺货 orders (see :func:`services.sweep`)."""
    async with db.transaction() as session:
        counts = await services.sweep(
            session,
            stuck_after=timedelta(seconds=settings.processing_stuck_seconds),
            retry_stock_after=timedelta(seconds=settings.stock_retry_seconds),
        )
    if any(counts.values()):
        log.warning("processing sweeper: %s", counts)
    return counts

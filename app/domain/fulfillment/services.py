"""Fulfillment services: shipments, carrier quotes from rate tables, waybills, shipping documents, buyer
notifications."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app import outbox
from app.db import CHINA, insert_rows, utcnow
from app.domain.accounts.services import Actor, audit
from app.domain.fulfillment import routing
from app.domain.fulfillment.carriers import CarrierClient, WaybillRequest, WaybillResult
from app.domain.fulfillment.models import (
    BuyerNotification,
    Carrier,
    CarrierRate,
    Shipment,
    ShippingDocument,
    ShippingDocumentEntry,
    Waybill,
    shipment_ref,
)
from app.domain.inventory import services as inventory
from app.domain.inventory.models import Warehouse
from app.domain.orders import pii
from app.errors import DomainError
from app.i18n import N_
from ruleflows import short_province


def site_of(warehouse: Warehouse) -> routing.Site:
    """A warehouse row as routing sees it."""
    profile = warehouse.cost_profile or {}
    return routing.Site(
        code=warehouse.code,
        name=warehouse.name,
        province=short_province(warehouse.province) or warehouse.province,
        priority=warehouse.priority,
        serves_regions=tuple(warehouse.serves_regions or ()),
        per_order_fen=int(profile.get("per_order_fen", 0)),
        per_item_fen=int(profile.get("per_item_fen", 0)),
    )


def rate_of(rate: CarrierRate) -> routing.Rate:
    """A rate line as routing sees it."""
    return routing.Rate(
        carrier_code=rate.carrier_code,
        first_fee_fen=rate.first_fee_fen,
        origin_province=rate.origin_province,
        dest_province=rate.dest_province,
        min_weight_g=rate.min_weight_g,
        max_weight_g=rate.max_weight_g,
        temperature_zone=rate.temperature_zone,
        extra_fee_fen_per_kg=rate.extra_fee_fen_per_kg,
        promised_days=rate.promised_days,
    )


async def load_network(session: AsyncSession) -> routing.Network:
    """The active warehouses, the carriers and every rate line, for routing (three queries)."""
    warehouses = await inventory.list_warehouses(session, active_only=True)
    couriers = (await session.exec(select(Carrier).order_by(col(Carrier.code)))).all()
    rates = (await session.exec(select(CarrierRate).order_by(col(CarrierRate.id)))).all()
    return routing.Network(
        sites=tuple(site_of(w) for w in warehouses),
        couriers=tuple(routing.Courier(c.code, c.name, c.supports_cold_chain, c.is_active) for c in couriers),
        rates=tuple(rate_of(r) for r in rates),
    )


async def quotes(
    session: AsyncSession,
    *,
    origin_province: str,
    dest_province: str,
    weight_g: int,
    temperature_zone: str = "ambient",
    carriers: list[str] | None = None,
) -> list[routing.Quote]:
    """Every active carrier's price for this parcel, cheapest first (ties: faster first, then by code)."""
    network = await load_network(session)
    return network.quotes(
        origin_province=origin_province,
        dest_province=dest_province,
        weight_g=weight_g,
        temperature_zone=temperature_zone,
        carriers=carriers,
    )


async def cheapest_carrier(
    session: AsyncSession,
    *,
    origin_province: str,
    dest_province: str,
    weight_g: int,
    temperature_zone: str = "ambient",
    within_days: int | None = None,
    carriers: list[str] | None = None,
) -> routing.Quote | None:
    """The cheapest carrier that serves the lane within the promised time, or None when none does."""
    for quote in await quotes(
        session,
        origin_province=origin_province,
        dest_province=dest_province,
        weight_g=weight_g,
        temperature_zone=temperature_zone,
        carriers=carriers,
    ):
        if within_days is None or quote.promised_days <= within_days:
            return quote
    return None


async def request_waybill(session: AsyncSession, client: CarrierClient, request: WaybillRequest) -> Waybill:
    """Get a waybill number for a shipment; asking twice for the same request key returns the first one."""
    existing = await waybill_for(session, request.request_key)
    if existing is not None:
        return existing
    return await record_waybill(session, request, await client.create_waybill(request))


async def waybill_for(session: AsyncSession, request_key: str) -> Waybill | None:
    return (await session.exec(select(Waybill).where(Waybill.request_key == request_key))).first()


def receiver_of(request: WaybillRequest) -> pii.Known:
    """The clear receiver a waybill request carries, to mask wherever a carrier's answer repeats it."""
    return pii.Known.of(
        phones=[request.receiver_phone], streets=[request.receiver_address], names=[request.receiver_name]
    )


async def record_waybill(session: AsyncSession, request: WaybillRequest, result: WaybillResult) -> Waybill:
    """Keep the number a carrier issued (the first one wins when two deliveries raced)."""
    existing = await waybill_for(session, request.request_key)
    if existing is not None:
        return existing
    waybill = Waybill(
        request_key=request.request_key,
        order_ref=request.order_ref,
        carrier_code=request.carrier_code,
        warehouse_code=request.warehouse_code,
        waybill_no=result.waybill_no,
        created_at=utcnow(),
        # Carriers echo the receiver (print data): keep their answer with it masked.
        response=pii.redact(result.raw, known=receiver_of(request)),
    )
    session.add(waybill)
    await session.flush()
    return waybill


# --- shipments ---------------------------------------------------------------------------------------


async def shipments_of(session: AsyncSession, order_id: int) -> list[Shipment]:
    """An order's shipments, by sequence number (cancelled ones included)."""
    query = select(Shipment).where(Shipment.order_id == order_id).order_by(col(Shipment.seq))
    return list((await session.exec(query)).all())


async def shipments_of_many(session: AsyncSession, order_ids: Iterable[int]) -> dict[int, list[Shipment]]:
    """The shipments of many orders in one query, by order, each order's by sequence number."""
    shipments: dict[int, list[Shipment]] = defaultdict(list)
    for shipment in (
        await session.exec(
            select(Shipment).where(col(Shipment.order_id).in_(list(order_ids))).order_by(col(Shipment.seq))
        )
    ).all():
        shipments[shipment.order_id].append(shipment)
    return shipments


async def shipments_by_ref(session: AsyncSession, refs: list[str]) -> list[Shipment]:
    """The shipments with these references, in the order given (unknown references left out)."""
    found = {s.ref: s for s in (await session.exec(select(Shipment).where(col(Shipment.ref).in_(refs)))).all()}
    return [found[ref] for ref in refs if ref in found]


async def write_shipments(
    session: AsyncSession,
    order_id: int,
    earlier: list[Shipment],
    decided: routing.Route,
    bundles: Mapping[str, list[tuple[str, int]]],
    now: datetime,
) -> list[Shipment]:
    """One shipment per parcel of the route (re-using the order's ``earlier`` ones by sequence number); earlier
    shipments the route no longer has are cancelled and taken off the shipping documents. Returns all the
    order's shipments by sequence number (new ones get their ids with the session's next flush). ``bundles``
    are the components of the bundle SKUs to pick as their parts (empty when bundles ship whole)."""
    existing = {s.ref: s for s in earlier}
    written: dict[str, Shipment] = {}
    used_refs = set()
    for seq, parcel in enumerate(decided.parcels, start=1):
        ref = shipment_ref(order_id, seq)
        used_refs.add(ref)
        shipment = existing.get(ref) or Shipment(
            order_id=order_id, seq=seq, ref=ref, warehouse_code=parcel.warehouse, created_at=now
        )
        if ref in existing and existing[ref].warehouse_code != parcel.warehouse:
            await remove_from_documents(session, ref, keep_warehouse=parcel.warehouse)  # off the old lists
        shipment.warehouse_code = parcel.warehouse
        shipment.carrier_code = parcel.carrier
        shipment.fee_fen = parcel.fee_fen
        shipment.promised_days = parcel.promised_days
        shipment.weight_g = parcel.weight_g
        shipment.temperature_zone = parcel.temperature_zone
        shipment.status = "pending"
        shipment.lines = _shipment_lines(parcel.items, bundles)
        shipment.updated_at = now
        session.add(shipment)
        written[ref] = shipment
    for ref, stale in existing.items():
        if ref not in used_refs:
            stale.status = "cancelled"
            stale.updated_at = now
            session.add(stale)
            await remove_from_documents(session, ref, keep_warehouse=None)
    return sorted({**existing, **written}.values(), key=lambda s: s.seq)


def _shipment_lines(
    parcel: tuple[routing.Item, ...], bundles: Mapping[str, list[tuple[str, int]]]
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for item in parcel:
        base = {"line_id": item.key, "title": item.title, "is_gift": item.is_gift, "order_id": item.order_id or None}
        if item.sku in bundles:
            rows.extend(
                {**base, "sku": part, "qty": item.qty * per_unit, "bundle_of": item.sku}
                for part, per_unit in bundles[item.sku]
            )
        else:
            rows.append({**base, "sku": item.sku, "qty": item.qty, "bundle_of": None})
    return rows


def event_shipments(shipments: Iterable[Shipment], network: routing.Network) -> list[dict[str, Any]]:
    """Shipments as the ``order.routed`` event carries them: warehouse and carrier by code and name, the waybill
    number once there is one, and what each parcel holds."""
    sites = {site.code: site.name for site in network.sites}
    couriers = {courier.code: courier.name for courier in network.couriers}
    return [
        {
            "ref": shipment.ref,
            "warehouse": {"code": shipment.warehouse_code, "name": sites.get(shipment.warehouse_code, "")},
            "carrier": None
            if shipment.carrier_code is None
            else {"code": shipment.carrier_code, "name": couriers.get(shipment.carrier_code, "")},
            "waybill_no": shipment.waybill_no,
            "fee_fen": shipment.fee_fen,
            "temperature_zone": shipment.temperature_zone,
            "lines": [
                {"sku": line["sku"], "title": line["title"], "qty": line["qty"], "is_gift": line["is_gift"]}
                for line in shipment.lines
            ],
        }
        for shipment in shipments
    ]


async def cancel_shipments(session: AsyncSession, shipments: list[Shipment]) -> list[Shipment]:
    """Cancel the shipments not cancelled yet and take them off the shipping documents; the 已发货 messages
    waiting for them are withdrawn (never sent). Returns those."""
    active = [shipment for shipment in shipments if shipment.status != "cancelled"]
    for shipment in active:
        shipment.status = "cancelled"
        shipment.updated_at = utcnow()
        session.add(shipment)
        await remove_from_documents(session, shipment.ref, keep_warehouse=None)
    await withdraw_shipped_messages(session, [s.ref for s in active])
    return active


async def withdraw_shipped_messages(session: AsyncSession, shipment_refs: list[str]) -> None:
    """The 已发货 messages waiting for these parcels will never be sent: they are withdrawn (cancelled or
    intercepted parcels do not ship)."""
    if shipment_refs:
        await session.exec(
            update(BuyerNotification)
            .where(col(BuyerNotification.shipment_ref).in_(shipment_refs), col(BuyerNotification.status) == "waiting")
            .values(status="withdrawn")
        )


async def record_shipment_waybill(
    session: AsyncSession,
    shipment_id: int,
    request: WaybillRequest,
    existing: Waybill | None,
    result: WaybillResult | None,
) -> tuple[Shipment, bool]:
    """Keep the number a carrier issued for a shipment (``existing`` when it was issued before) on the
    shipment; returns the shipment and whether every active shipment of its order now has its number."""
    waybill = existing if result is None else await record_waybill(session, request, result)
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
    return row, all(s.waybill_no for s in siblings)


# --- shipping documents --------------------------------------------------------------------------------


def wave_of(moment: datetime) -> str:
    """Orders released in the same half hour (China time) are picked in one wave."""
    local = moment.astimezone(CHINA)
    return f"{local:%Y%m%d}-{local.hour:02d}{'00' if local.minute < 30 else '30'}"


async def open_documents(
    session: AsyncSession, warehouse_code: str, kinds: list[str], at: datetime | None = None
) -> list[ShippingDocument]:
    """The warehouse's documents of these kinds for the wave of ``at``, opened when missing.

    Nothing is locked: two workers opening the same wave's document at once both try the insert and the
    loser reads the winner's row.
    """
    now = at or utcnow()
    wave = wave_of(now)
    documents = []
    for kind in kinds:
        document = await _wave_document(session, kind, warehouse_code, wave)
        if document is None:
            try:
                async with session.begin_nested():
                    document = ShippingDocument(
                        kind=kind, warehouse_code=warehouse_code, wave=wave, created_at=now, updated_at=now
                    )
                    session.add(document)
            except IntegrityError:
                document = await _wave_document(session, kind, warehouse_code, wave)
                assert document is not None
        documents.append(document)
    return documents


async def add_to_documents(
    session: AsyncSession,
    order_ref: str,
    document_ids: list[int],
    at: datetime | None = None,
    *,
    already_on: set[int] | None = None,
) -> None:
    """Put a shipment on these open documents (its warehouse's outbound order / pick list of the wave, from
    :func:`open_documents`), once per document; each shipment is its own entry row. ``already_on``: the
    documents it is on, when the caller read them (:func:`documents_holding`)."""
    if not document_ids:
        return
    present = (
        already_on if already_on is not None else (await documents_holding(session, [order_ref])).get(order_ref, set())
    )
    now = at or utcnow()
    await insert_rows(
        session,
        ShippingDocumentEntry,
        [{"document_id": d, "order_ref": order_ref, "added_at": now} for d in document_ids if d not in present],
    )


async def documents_holding(session: AsyncSession, order_refs: list[str]) -> dict[str, set[int]]:
    """The documents each of these shipments is on, by shipment reference."""
    held: dict[str, set[int]] = {}
    if order_refs:
        query = select(ShippingDocumentEntry.order_ref, ShippingDocumentEntry.document_id).where(
            col(ShippingDocumentEntry.order_ref).in_(order_refs)
        )
        for ref, document_id in (await session.exec(query)).all():
            held.setdefault(ref, set()).add(document_id)
    return held


async def remove_from_documents(session: AsyncSession, order_ref: str, *, keep_warehouse: str | None = None) -> int:
    """Take a shipment off the documents it is on (except its own warehouse's, when re-routed). Returns how many."""
    query = (
        select(ShippingDocumentEntry, ShippingDocument)
        .join(ShippingDocument, col(ShippingDocument.id) == col(ShippingDocumentEntry.document_id))
        .where(ShippingDocumentEntry.order_ref == order_ref)
    )
    removed = 0
    for entry, document in (await session.exec(query)).all():
        if document.warehouse_code != keep_warehouse:
            await session.delete(entry)
            removed += 1
    await session.flush()
    return removed


async def mark_printed(
    session: AsyncSession, document_id: int, actor: Actor, now: datetime, *, ip: str | None = None
) -> ShippingDocument:
    """Record that a document was printed from its page: the first print keeps its time and printer (from then on
    a parcel intercepted stays on it, flagged); every print is audited."""
    query = select(ShippingDocument).where(ShippingDocument.id == document_id).with_for_update()
    document = (await session.exec(query.execution_options(populate_existing=True))).first()
    if document is None:
        raise DocumentNotFound("document_not_found", document=document_id)
    first = document.printed_at is None
    if first:
        document.printed_at = now
        document.printed_by = actor.name[:100]
        session.add(document)
    await audit(
        session,
        actor,
        "document.printed",
        target_type="shipping_document",
        target_id=str(document_id),
        after={"kind": document.kind, "warehouse": document.warehouse_code, "wave": document.wave, "first": first},
        ip=ip,
    )
    await session.flush()
    return document


class DocumentNotFound(DomainError):
    """No shipping document has this id."""

    messages: ClassVar[Mapping[str, str]] = {"document_not_found": N_("There is no shipping document %(document)s.")}
    default_status: ClassVar[int] = 404


async def _wave_document(session: AsyncSession, kind: str, warehouse_code: str, wave: str) -> ShippingDocument | None:
    query = select(ShippingDocument).where(
        ShippingDocument.kind == kind, ShippingDocument.warehouse_code == warehouse_code, ShippingDocument.wave == wave
    )
    return (await session.exec(query)).first()


async def document_refs(session: AsyncSession, document_id: int) -> list[str]:
    """The shipments on a document, in the order they were added."""
    query = (
        select(ShippingDocumentEntry.order_ref)
        .where(ShippingDocumentEntry.document_id == document_id)
        .order_by(col(ShippingDocumentEntry.id))
    )
    return [str(ref) for ref in (await session.exec(query)).all()]


async def recent_waves(session: AsyncSession, limit: int = 30) -> list[tuple[str, str, int]]:
    """The newest waves as (warehouse, wave, parcels waybilled and waiting to leave), for the scan station's
    wave picker; a wave whose parcels have all left shows 0."""
    query = (
        select(ShippingDocument.warehouse_code, ShippingDocument.wave, func.count(func.distinct(col(Shipment.id))))
        .select_from(ShippingDocument)
        .outerjoin(ShippingDocumentEntry, col(ShippingDocumentEntry.document_id) == col(ShippingDocument.id))
        .outerjoin(
            Shipment,
            (col(Shipment.ref) == col(ShippingDocumentEntry.order_ref)) & (col(Shipment.status) == "waybilled"),
        )
        .group_by(col(ShippingDocument.warehouse_code), col(ShippingDocument.wave))
        .order_by(col(ShippingDocument.wave).desc(), col(ShippingDocument.warehouse_code))
        .limit(limit)
    )
    return [(str(w), str(v), int(n)) for w, v, n in (await session.exec(query)).all()]


async def wave_shipments(session: AsyncSession, warehouse_code: str, wave: str) -> list[Shipment]:
    """The parcels on a wave's documents (its outbound order, its pick list) that have a waybill number, in the
    order they were put on them; cancelled parcels were taken off when they were cancelled."""
    query = (
        select(ShippingDocumentEntry.order_ref)
        .join(ShippingDocument, col(ShippingDocument.id) == col(ShippingDocumentEntry.document_id))
        .where(ShippingDocument.warehouse_code == warehouse_code, ShippingDocument.wave == wave)
        .order_by(col(ShippingDocumentEntry.id))
    )
    refs = list(dict.fromkeys(str(ref) for ref in (await session.exec(query)).all()))
    return [s for s in await shipments_by_ref(session, refs) if s.waybill_no]


async def stage_notification(
    session: AsyncSession,
    *,
    order_ref: str,
    template: str,
    via: str,
    recipient_masked: str,
    body: str,
    recipient_cipher: str | None = None,
) -> BuyerNotification:
    """Record a buyer message to send after commit; one per order, template and channel.

    ``recipient_cipher`` is the sealed address the gateway needs (an SMS's phone number), opened only to send.
    """
    notification = BuyerNotification(
        **notification_row(
            order_ref=order_ref,
            template=template,
            via=via,
            recipient_masked=recipient_masked,
            body=body,
            recipient_cipher=recipient_cipher,
        )
    )
    existing = (
        await session.exec(select(BuyerNotification).where(BuyerNotification.dedupe_key == notification.dedupe_key))
    ).first()
    if existing is not None:
        return existing
    session.add(notification)
    await session.flush()
    return notification


def notification_row(
    *,
    order_ref: str,
    template: str,
    via: str,
    recipient_masked: str,
    body: str,
    recipient_cipher: str | None = None,
    shipment_ref: str | None = None,
) -> dict[str, Any]:
    """A buyer message as it is recorded: one per order, template and channel (its ``dedupe_key``). A message
    about one parcel (``shipment_ref``) is one per parcel, and waits for the parcel to ship."""
    return {
        "dedupe_key": f"{shipment_ref or order_ref}:{template}:{via}",
        "order_ref": order_ref,
        "shipment_ref": shipment_ref,
        "template": template,
        "via": via,
        "recipient_masked": recipient_masked,
        "recipient_cipher": recipient_cipher,
        "body": body[:500],
        "status": "waiting" if shipment_ref else "pending",
        "created_at": utcnow(),
    }


async def send_after_commit(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Record these buyer messages (``notification_row``; one already recorded is left as it is) in one INSERT
    and stage the sending of each new one; the outbox sends it after commit, once."""
    if not rows:
        return
    dialect_insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = (
        dialect_insert(BuyerNotification)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(col(BuyerNotification.id))
    )
    for notification_id in (await session.exec(statement)).scalars().all():
        await outbox.stage(
            session, "send_notification", notification_id, dedupe_key=f"send_notification:{notification_id}"
        )


async def recent_notifications(session: AsyncSession, limit: int = 100) -> list[BuyerNotification]:
    query = select(BuyerNotification).order_by(col(BuyerNotification.id).desc()).limit(limit)
    return list((await session.exec(query)).all())


async def documents_for(session: AsyncSession, limit: int = 50) -> list[tuple[ShippingDocument, int]]:
    """The newest documents with how many shipments each holds."""
    count = (
        select(func.count())
        .where(ShippingDocumentEntry.document_id == ShippingDocument.id)
        .correlate(ShippingDocument)
        .scalar_subquery()
    )
    query = select(ShippingDocument, count).order_by(col(ShippingDocument.id).desc()).limit(limit)
    return [(document, int(n)) for document, n in (await session.exec(query)).all()]

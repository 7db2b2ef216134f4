"""Talking to carriers: the waybill API client (issuing and voiding waybills), and the sandbox carrier's numbers.

The client is real HTTP code with request signing, shaped like the electronic-waybill APIs of Chinese
carriers (an app key, a body signed with HMAC-SHA256, an idempotency key per shipment), so a real carrier
fits behind the same ``CarrierClient`` interface. The sandbox stands in for the outside world only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx


@dataclass(frozen=True)
class WaybillRequest:
    """One shipment to get a waybill number for."""

    request_key: str  # the same key always yields the same waybill
    order_ref: str
    carrier_code: str
    warehouse_code: str
    origin_province: str
    dest_province: str
    dest_city: str
    receiver_masked: str
    weight_g: int
    #: The merchant's account with the carrier (月结账号 / 客户编码), from the carrier's API settings.
    customer_code: str = ""
    #: The receiver in clear, for the label: sent on the wire only, never stored (see ``record_waybill``).
    receiver_name: str = ""
    receiver_phone: str = ""
    receiver_address: str = ""


@dataclass(frozen=True)
class WaybillResult:
    waybill_no: str
    raw: dict[str, Any]


@dataclass(frozen=True)
class WaybillVoid:
    """A waybill to void (取消电子面单) because its parcel was intercepted before it left."""

    request_key: str  # the same key voids once however often it is sent
    waybill_no: str
    carrier_code: str
    order_ref: str
    customer_code: str = ""
    reason: str = ""


@dataclass(frozen=True)
class VoidResult:
    """The carrier's answer to a void: ``already`` when it had voided the number before."""

    waybill_no: str
    already: bool
    raw: dict[str, Any]


class CarrierError(Exception):
    """The carrier refused or could not be reached. ``transient`` errors are worth retrying."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class CarrierClient(Protocol):
    async def create_waybill(self, request: WaybillRequest) -> WaybillResult: ...

    async def cancel_waybill(self, request: WaybillVoid) -> VoidResult: ...


def sign(secret: str, body: bytes) -> str:
    """HMAC-SHA256 of the raw body, hex encoded."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class HttpCarrierClient:
    """Creates waybills over HTTP: POST {base}/waybills, signed with the app secret.

    With ``http`` (a worker's one pooled client, kept for its life) requests reuse its connections; without,
    each request opens a client of its own (building a TLS context costs more than the request itself).
    """

    def __init__(
        self,
        base_url: str,
        app_key: str,
        secret: str,
        *,
        timeout: float = 10.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.app_key = app_key
        self.secret = secret
        self.timeout = timeout
        self.http = http

    async def create_waybill(self, request: WaybillRequest) -> WaybillResult:
        data = await self._post("/waybills", asdict(request), request.request_key, "the waybill")
        return WaybillResult(waybill_no=str(data["waybill_no"]), raw=data)

    async def cancel_waybill(self, request: WaybillVoid) -> VoidResult:
        """Void a waybill: POST {base}/waybills/cancel, signed the same way; voiding one twice is not an error."""
        data = await self._post("/waybills/cancel", asdict(request), request.request_key, "the void")
        number = str(data.get("waybill_no", request.waybill_no))
        return VoidResult(waybill_no=number, already=bool(data.get("already")), raw=data)

    async def _post(self, path: str, payload: dict[str, Any], key: str, what: str) -> dict[str, Any]:
        body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json",
            "X-App-Key": self.app_key,
            "X-Sign": sign(self.secret, body),
            "Idempotency-Key": key,
        }
        url = f"{self.base_url}{path}"
        try:
            if self.http is not None:
                response = await self.http.post(url, content=body, headers=headers, timeout=self.timeout)
            else:
                async with httpx.AsyncClient(timeout=self.timeout) as client:
                    response = await client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise CarrierError(f"carrier API unreachable: {exc}", transient=True) from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise CarrierError(f"carrier API busy ({response.status_code})", transient=True)
        if response.status_code != 200:
            raise CarrierError(f"carrier refused {what}: {response.text[:200]}", transient=False)
        data: dict[str, Any] = response.json()
        return data


def sandbox_waybill_number(carrier_code: str, request_key: str) -> str:
    """The sandbox's number: stable for a request key, so a retried request gets the same waybill."""
    digits = int(hashlib.sha256(f"{carrier_code}:{request_key}".encode()).hexdigest(), 16) % 10**12
    return f"{carrier_code}{digits:012d}"


#: The sandbox carrier's journey of a parcel: what each step says, in a Chinese carrier's words.
SANDBOX_JOURNEY = (
    ("collected", "快递员已揽收", "上海转运中心"),
    ("in_transit", "快件已发往目的地", "运输途中"),
    ("out_for_delivery", "快递员正在派送，请保持电话畅通", "目的地网点"),
    ("delivered", "已签收，签收人：本人", "目的地网点"),
)


def sandbox_journey(waybill_no: str, start: datetime, end: datetime) -> bytes:
    """The tracking push of a parcel's whole journey from ``start`` to ``end``, as the sandbox carrier sends it.
    Its event ids are stable for the waybill, so pushing the journey again is the same events."""
    steps = len(SANDBOX_JOURNEY) - 1
    events = [
        {
            "event_id": f"{waybill_no}-{n}",
            "status": status,
            "occurred_at": (start + (end - start) * n / steps).isoformat(timespec="seconds"),
            "description": description,
            "location": location,
        }
        for n, (status, description, location) in enumerate(SANDBOX_JOURNEY)
    ]
    return json.dumps({"waybill_no": waybill_no, "events": events}, ensure_ascii=False).encode()

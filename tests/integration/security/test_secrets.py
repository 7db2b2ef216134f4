"""Attacks on the secrets the app keeps and the doors meant only for demos.

- The sandbox carrier hands out waybill numbers to whoever signs with its demo secret, which is in the
  source: in production it is not served at all unless switched on, and the demo secret is refused there.
"""

from __future__ import annotations

import json
from dataclasses import replace

from litestar.testing import AsyncTestClient

from app.domain.fulfillment.carriers import sign
from app.main import create_app
from app.settings import SANDBOX_CARRIER_SECRET, Settings

WAYBILL_REQUEST = json.dumps({"carrier_code": "SF", "request_key": "order-1"}).encode()


async def ask_for_a_waybill(settings: Settings, secret: str) -> int:
    async with AsyncTestClient(create_app(settings), base_url="http://testserver.local") as client:
        response = await client.post(
            "/sandbox/carrier/waybills",
            content=WAYBILL_REQUEST,
            headers={"x-app-key": settings.carrier_api_key, "x-sign": sign(secret, WAYBILL_REQUEST)},
        )
        return response.status_code


async def test_the_sandbox_carrier_is_not_served_in_production(settings: Settings, db):
    production = replace(settings, env="production", carrier_api_secret="contract-secret", sandbox_carrier=False)
    assert await ask_for_a_waybill(production, SANDBOX_CARRIER_SECRET) == 404
    assert await ask_for_a_waybill(production, "contract-secret") == 404


async def test_a_staging_site_that_switches_the_sandbox_on_needs_its_own_secret(settings: Settings, db):
    staging = replace(settings, env="production", carrier_api_secret="staging-secret", sandbox_carrier=True)
    assert await ask_for_a_waybill(staging, SANDBOX_CARRIER_SECRET) == 403
    assert await ask_for_a_waybill(staging, "staging-secret") == 200

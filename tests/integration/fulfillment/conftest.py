"""Fulfillment fixtures: the demo's carriers and rate tables, and a real HTTP server for the sandbox carrier."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from app.db import Database
from app.domain.fulfillment.models import Carrier
from app.seed import CARRIERS, seed_carrier_rates
from app.settings import Settings
from tests.integration.conftest import free_port, serving


@pytest.fixture
async def carriers(db: Database) -> None:
    async with db.transaction() as session:
        for code, name, cold in CARRIERS:
            session.add(Carrier(code=code, name=name, supports_cold_chain=cold))
        await session.flush()
        await seed_carrier_rates(session)


@pytest.fixture
async def carrier_server(settings: Settings, db: Database) -> AsyncIterator[Settings]:
    """Serve the app (and so its sandbox carrier) on a real port; yields settings pointing at it."""
    port = free_port()
    served = replace(settings, port=port, carrier_api_url=f"http://127.0.0.1:{port}/sandbox/carrier")
    async with serving(served):
        yield served

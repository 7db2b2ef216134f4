"""Fulfillment fixtures: the demo's carriers and rate tables, and a real HTTP server for the sandbox carrier."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
import uvicorn

from app.db import Database
from app.domain.fulfillment.models import Carrier
from app.main import create_app
from app.seed import CARRIERS, seed_carrier_rates
from app.settings import Settings


@pytest.fixture
async def carriers(db: Database) -> None:
    async with db.transaction() as session:
        for code, name, cold in CARRIERS:
            session.add(Carrier(code=code, name=name, supports_cold_chain=cold))
        await session.flush()
        await seed_carrier_rates(session)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def carrier_server(settings: Settings, db: Database) -> AsyncIterator[Settings]:
    """Serve the app (and so its sandbox carrier) on a real port; yields settings pointing at it."""
    port = free_port()
    served = replace(settings, port=port, carrier_api_url=f"http://127.0.0.1:{port}/sandbox/carrier")
    server = uvicorn.Server(uvicorn.Config(create_app(served), host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes no event for "listening"
        await asyncio.sleep(0.05)
    yield served
    server.should_exit = True
    await task

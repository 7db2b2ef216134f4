"""Load-test fixtures: the app served on a real port (its webhook, its sandbox carrier and, on SQLite, its
embedded worker) and, on PostgreSQL, a real arq worker. The load test prepares everything else itself."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from app.db import Database
from app.settings import Settings
from tests.integration.conftest import free_port, serving


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test settings with a fixed port, so that the app's own sandbox carrier answers waybill requests."""
    port = free_port()
    return replace(settings, port=port, carrier_api_url=f"http://127.0.0.1:{port}/sandbox/carrier")


@pytest.fixture
async def server(settings: Settings, db: Database, arq_worker: subprocess.Popen[bytes] | None) -> AsyncIterator[str]:
    """The app on a real port (with a real arq worker beside it on PostgreSQL); yields its base URL."""
    async with serving(settings) as url:
        yield url

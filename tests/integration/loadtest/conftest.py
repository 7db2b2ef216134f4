"""Load-test fixtures: the app served on a real port (its webhook, its sandbox carrier and, on SQLite, its
embedded worker) and, on PostgreSQL, a real arq worker. The load test prepares everything else itself."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from app.db import Database
from app.settings import PROJECT_ROOT, Settings
from tests.integration.conftest import BACKEND, REDIS_URL, free_port, serving


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


async def run_ruleflow(settings: Settings, *args: str, **env_changes: str) -> tuple[int, str, str]:
    """`ruleflow ARGS` as its own process with the server's settings (and ``env_changes``); (exit status, stdout,
    stderr)."""
    env = {
        **os.environ,
        "RULEFLOW_ENV": "development",
        "DATABASE_URL": settings.database_url,
        "SECRET_KEY": settings.secret_key,
        "RULEFLOW_VAR_DIR": str(settings.var_dir),
        "PORT": str(settings.port),
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    env.pop("REDIS_URL", None)
    if BACKEND == "postgres":
        env["REDIS_URL"] = REDIS_URL
    env.update(env_changes)
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "ruleflow"),
        *args,
        cwd=PROJECT_ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()

"""Fixtures for integration tests: a clean migrated database per test, the app, a client, factories.

By default the tests run on SQLite with the embedded worker. With RULEFLOW_TEST_BACKEND=postgres they run
on PostgreSQL (TEST_DATABASE_URL) with Redis (TEST_REDIS_URL) and real arq worker processes.
"""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from alembic import command
from alembic.config import Config
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import create_async_engine

from app.db import Database
from app.domain.accounts import services as accounts
from app.domain.accounts.models import Role, TokenScope, User, UserCreate
from app.domain.accounts.services import SYSTEM
from app.main import create_app
from app.models import metadata
from app.seed import seed_demo
from app.settings import PROJECT_ROOT, Settings, normalize_database_url
from tests.integration.forms import PASSWORD

BACKEND = os.environ.get("RULEFLOW_TEST_BACKEND", "sqlite")
PG_URL = normalize_database_url(os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"))
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/9")


#: Lines a test wants shown in the run's summary (what ran where), printed after the results.
SUMMARY: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in SUMMARY:
        terminalreporter.write_line(line)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Keep the garbage collector off what the session has imported, and run it less often: each test builds an
    app (some 400 route handlers, copied and parsed) that is garbage once the test ends, and with the default
    thresholds the collector walks every imported module's objects again and again. A file of page tests then
    takes about a quarter less CPU time."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def pytest_report_header(config: pytest.Config) -> list[str]:
    if BACKEND == "postgres":
        return [f"integration backend: PostgreSQL ({PG_URL.split('@')[-1]}) + Redis ({REDIS_URL}) + arq workers"]
    return ["integration backend: SQLite (WAL) + embedded worker"]


def migration_config(url: str) -> Config:
    """Alembic's configuration for migrating the database at ``url``."""
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.attributes["database_url"] = url
    config.attributes["configure_logging"] = False
    return config


def migrate(url: str) -> None:
    command.upgrade(migration_config(url), "heads")


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """Migrate once per session: a SQLite file to copy per test, or the PostgreSQL schema itself."""
    if BACKEND == "postgres":
        import asyncio

        async def reset_schema() -> None:
            engine = create_async_engine(PG_URL)
            async with engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
            await engine.dispose()

        asyncio.run(reset_schema())
        migrate(PG_URL)
        return None
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate(f"sqlite+aiosqlite:///{path}")
    return path


def fresh_settings(base: Path, migrated_template: Path | None) -> Settings:
    """Settings for a clean database under ``base``: a copy of the migrated SQLite file, or the PostgreSQL one."""
    var_dir = base / "var"
    var_dir.mkdir()
    if BACKEND == "postgres":
        return Settings(var_dir=var_dir, database_url=PG_URL, redis_url=REDIS_URL, secret_key="t" * 48)
    assert migrated_template is not None
    shutil.copy(migrated_template, var_dir / "test.db")
    return Settings(var_dir=var_dir, database_url=f"sqlite+aiosqlite:///{var_dir / 'test.db'}", secret_key="t" * 48)


_EMPTYING: list[str] = []


async def emptying_script(conn: Any) -> str:
    """One script that empties every table (children first) and starts every id sequence at 1 again. Plain
    DELETEs on the few rows a test leaves take milliseconds where a TRUNCATE of every table takes a few hundred
    (it rewrites each table's files), and most tests leave most tables empty. The append-only tables (their
    triggers refuse a DELETE; nothing references them) are truncated."""
    if not _EMPTYING:
        sequences = (
            (await conn.execute(text("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")))
            .scalars()
            .all()
        )
        append_only = set(
            (
                await conn.execute(
                    text("SELECT DISTINCT tgrelid::regclass::text FROM pg_trigger WHERE NOT tgisinternal")
                )
            ).scalars()
        )
        tables = [table.name for table in reversed(metadata.sorted_tables)]
        _EMPTYING.append(
            "".join(f'DELETE FROM "{name}";' for name in tables if name not in append_only)
            + (f"TRUNCATE {', '.join(sorted(append_only))};" if append_only else "")
            + "".join(f'ALTER SEQUENCE "{name}" RESTART;' for name in sequences)
        )
    return _EMPTYING[0]


async def fresh_database(settings: Settings) -> Database:
    """The database of ``settings``, emptied first on PostgreSQL (and its Redis with it)."""
    database = Database(settings)
    if BACKEND == "postgres":
        async with database.engine.begin() as conn:
            raw = await conn.get_raw_connection()
            await raw.driver_connection.execute(await emptying_script(conn))
        import redis.asyncio as aioredis

        client = aioredis.from_url(REDIS_URL)
        await client.flushdb()
        await client.aclose()
    return database


#: The rows ``seed_demo`` wrote in the first test that asked for them, table by table, parents first.
_DEMO_ROWS: list[tuple[Table, list[dict[str, Any]]]] = []


async def any_rows(conn: Any) -> bool:
    """Whether any table holds a row (one statement; it stops at the first row it finds)."""
    tables = " UNION ALL ".join(f'SELECT 1 FROM "{table.name}"' for table in metadata.sorted_tables)
    return bool((await conn.execute(text(f"SELECT EXISTS ({tables})"))).scalar())


async def seed_demo_data(db: Database) -> None:
    """``seed_demo`` on an empty database: seeded once per session, in the first test that asks, and its rows
    (ids and times as seeded) copied into each later test's empty database, which takes a few milliseconds where
    seeding takes half a second (users, stock received through the ledger, rates, the flow). A database that is
    not empty is seeded as before."""
    async with db.transaction() as session:
        conn = await session.connection()
        empty = not await any_rows(conn)
        if empty and _DEMO_ROWS:
            for table, rows in _DEMO_ROWS:
                await conn.execute(table.insert(), rows)
            if BACKEND == "postgres":
                # The rows came with their ids: the id sequences go on after them, as after seeding.
                await conn.execute(text("SELECT " + ", ".join(sequences_after(_DEMO_ROWS))))
            return
        await seed_demo(session)
        if empty:
            await session.flush()
            for table in metadata.sorted_tables:
                rows = [dict(row) for row in (await conn.execute(table.select())).mappings()]
                if rows:
                    _DEMO_ROWS.append((table, rows))


def sequences_after(snapshot: list[tuple[Table, list[dict[str, Any]]]]) -> list[str]:
    """PostgreSQL ``setval`` calls moving each copied table's id sequence past its largest id."""
    calls = []
    for table, rows in snapshot:
        column = table.autoincrement_column
        if column is not None:
            last = max(row[column.name] for row in rows)
            calls.append(f"setval(pg_get_serial_sequence('\"{table.name}\"', '{column.name}'), {int(last)})")
    return calls or ["1"]


@pytest.fixture
def settings(tmp_path: Path, migrated_template: Path | None) -> Settings:
    return fresh_settings(tmp_path, migrated_template)


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = await fresh_database(settings)
    yield database
    await database.dispose()


@pytest.fixture
def app(settings: Settings, db: Database) -> Litestar:
    return create_app(settings)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app, base_url="http://testserver.local") as test_client:
        yield test_client


# --- factories -----------------------------------------------------------------------------------


@pytest.fixture
def make_user(db: Database) -> Any:
    async def factory(role: Role = Role.viewer, username: str | None = None, password: str = PASSWORD) -> User:
        async with db.transaction() as session:
            return await accounts.create_user(
                session,
                UserCreate(
                    username=username or f"{role.value}-user",
                    display_name=f"{role.value} 用户",
                    role=role,
                    password=password,
                ),
                SYSTEM,
            )

    return factory


@pytest.fixture
def make_token(db: Database) -> Any:
    async def factory(*scopes: TokenScope, name: str = "test client") -> str:
        async with db.transaction() as session:
            _, secret = await accounts.create_token(session, name, list(scopes), SYSTEM)
            return secret

    return factory


# --- a real arq worker process -------------------------------------------------------------------


def start_arq_worker(settings: Settings, **extra_env: str) -> subprocess.Popen[bytes]:
    """Start a real `arq app.worker.WorkerSettings` process on the test database and Redis; waits until it runs."""
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": REDIS_URL,
        "SECRET_KEY": settings.secret_key,
        "RULEFLOW_VAR_DIR": str(settings.var_dir),
        "OUTBOX_STUCK_SECONDS": "3",
        "CARRIER_API_URL": settings.carrier_api_url,
        **extra_env,
    }
    log = settings.var_dir / "arq.log"
    start = log.stat().st_size if log.exists() else 0
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "arq"), "app.worker.WorkerSettings"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 20
    while "Starting worker" not in log.read_bytes()[start:].decode(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("arq worker did not start:\n" + log.read_text(errors="replace"))
        time.sleep(0.1)
    return process


def stop_process(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def arq_worker(settings: Settings, db: Database) -> Iterator[subprocess.Popen[bytes] | None]:
    """In the PostgreSQL + Redis run, a real `arq app.worker.WorkerSettings` process; else None."""
    if BACKEND != "postgres":
        yield None
        return
    process = start_arq_worker(settings)
    yield process
    # The test is over and the next one empties the database and Redis: nothing a graceful stop would finish is
    # looked at, and a kill ends the worker at once where arq's own shutdown takes most of a second.
    process.kill()
    process.wait()


# --- the app on a real port -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[str]:
    """Serve the app on ``settings.port`` in this event loop while the block runs; yields its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=settings.port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes no event for "listening"
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{settings.port}"
    finally:
        server.should_exit = True
        await task


def with_settings(settings: Settings, **changes: Any) -> Settings:
    return replace(settings, **changes)

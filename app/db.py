"""Database engines and sessions.

SQLite runs in WAL mode with foreign keys, a busy timeout and ``secure_delete`` (personal data a migration or
an update replaces does not linger in free pages). SQLAlchemy drops ``FOR UPDATE`` on
SQLite, so writes go through a second engine whose transactions start with ``BEGIN IMMEDIATE``: the
write lock is taken up front and two writers can never interleave a read-then-write. Reads keep a
deferred ``BEGIN`` so they do not queue behind writers. On PostgreSQL both are the same engine.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from app.settings import Settings


def utcnow() -> datetime:
    """Timezone-aware now in UTC; every stored time is UTC."""
    return datetime.now(UTC)


def _configure_sqlite(engine: AsyncEngine, begin_statement: str) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves instead of the driver's implicit deferred one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=15000")
        # WAL is a property of the file and sticks; switching needs a lock, so only ask when it is not on yet.
        cursor.execute("PRAGMA journal_mode")
        if str(cursor.fetchone()[0]).lower() != "wal":
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Freed pages and deleted cells are zeroed, so an overwritten or deleted value is gone from the file.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin_statement)


class Database:
    """Owns the engines; hands out read sessions and write transactions."""

    def __init__(self, settings: Settings) -> None:
        self.url = settings.database_url
        self.is_sqlite = settings.is_sqlite
        if self.is_sqlite:
            database = make_url(self.url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_async_engine(self.url, connect_args={"timeout": 15})
            _configure_sqlite(self.engine, "BEGIN")
            self.write_engine = create_async_engine(self.url, connect_args={"timeout": 15})
            _configure_sqlite(self.write_engine, "BEGIN IMMEDIATE")
        else:
            self.engine = create_async_engine(self.url, pool_size=10, max_overflow=20, pool_pre_ping=True)
            self.write_engine = self.engine
        self._read = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        self._write = async_sessionmaker(self.write_engine, class_=AsyncSession, expire_on_commit=False)

    @property
    def backend(self) -> str:
        return "sqlite" if self.is_sqlite else "postgresql"

    def session(self, *, write: bool) -> AsyncSession:
        """A new session; the caller commits. ``write`` takes SQLite's lock when the transaction begins."""
        return (self._write if write else self._read)()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        async with self._write() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A read-only session. Closing ends its transaction without expiring what it loaded."""
        async with self._read() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.write_engine is not self.engine:
            await self.write_engine.dispose()


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: the database connection dropped, a lock timed out, a deadlock or serialization conflict."""
    if isinstance(exc, OperationalError | ConnectionError | TimeoutError | OSError):
        return True
    if isinstance(exc, DBAPIError):
        return bool(exc.connection_invalidated) or any(
            word in str(exc.orig).lower() for word in ("deadlock", "could not serialize", "database is locked")
        )
    return False

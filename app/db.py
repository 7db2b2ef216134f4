"""Database engines and sessions.

SQLite runs in WAL mode with foreign keys, a busy timeout and ``secure_delete`` (personal data a migration or
an update replaces does not linger in free pages). SQLAlchemy drops ``FOR UPDATE`` on
SQLite, so writes go through a second engine whose transactions start with ``BEGIN IMMEDIATE``: the
write lock is taken up front and two writers can never interleave a read-then-write. Reads keep a
deferred ``BEGIN`` so they do not queue behind writers. On PostgreSQL both are the same engine.

SQLite has one writer at a time, and a writer that finds the lock taken sleeps in SQLite's busy handler and
polls (sleeps of up to 100 ms). Within one process, write transactions therefore queue for an asyncio lock
first, in turn, and each starts the moment the one before it ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from app.settings import Settings

#: Every stored time is UTC; the business's days, hours and shown times are China time.
CHINA = ZoneInfo("Asia/Shanghai")

#: The moment the code running in this context takes for now (see :func:`clock_at`); unset, the wall clock's.
CLOCK: ContextVar[datetime | None] = ContextVar("clock", default=None)


def utcnow() -> datetime:
    """Timezone-aware now in UTC; every stored time is UTC."""
    return CLOCK.get() or datetime.now(UTC)


@contextmanager
def clock_at(moment: datetime) -> Iterator[None]:
    """Within the block, in this task only, now is ``moment``: the demo's history is made through the real paths
    at the times it happened, while the web and the worker's other tasks keep the wall clock."""
    token = CLOCK.set(moment.astimezone(UTC))
    try:
        yield
    finally:
        CLOCK.reset(token)


def iso_utc(value: datetime | None) -> str | None:
    """A moment as the API and the flows write it: ISO 8601 in UTC with a Z; None stays None."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


#: SQLite's busy timeout, in seconds: also how long a write transaction waits for its turn in the process.
BUSY_TIMEOUT = 15


def _configure_sqlite(engine: AsyncEngine, begin_statement: str) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves instead of the driver's implicit deferred one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT * 1000}")
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
            self.engine = create_async_engine(self.url, connect_args={"timeout": BUSY_TIMEOUT})
            _configure_sqlite(self.engine, "BEGIN")
            self.write_engine = create_async_engine(self.url, connect_args={"timeout": BUSY_TIMEOUT})
            _configure_sqlite(self.write_engine, "BEGIN IMMEDIATE")
        else:
            self.engine = create_async_engine(self.url, pool_size=10, max_overflow=20, pool_pre_ping=True)
            self.write_engine = self.engine
        self._read = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        self._write = async_sessionmaker(self.write_engine, class_=AsyncSession, expire_on_commit=False)
        self._turns = WriteTurns() if self.is_sqlite else None

    @property
    def backend(self) -> str:
        return "sqlite" if self.is_sqlite else "postgresql"

    def session(self, *, write: bool) -> AsyncSession:
        """A new session; the caller commits. ``write`` takes SQLite's lock when the transaction begins."""
        return (self._write if write else self._read)()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One write transaction: committed when the block ends, rolled back if it raises.

        On SQLite it waits for its turn among this process's write transactions first (see :class:`WriteTurns`).
        """
        if self._turns is None:
            async with self._write_transaction() as session:
                yield session
            return
        async with self._turns.turn(), self._write_transaction() as session:
            yield session

    @asynccontextmanager
    async def _write_transaction(self) -> AsyncIterator[AsyncSession]:
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


class WriteTurns:
    """A fair (first come, first served) turn for each write transaction of one process on SQLite.

    Writers that queue here start as soon as the previous one ends, where SQLite's busy handler would have
    them sleep and poll. A transaction never waits for the turn it already holds: a write transaction
    opened inside another by the same task is refused at once (SQLite would wait out its busy timeout on
    itself), and a wait longer than SQLite's busy timeout ends in TimeoutError, as a busy database would.
    Request-scoped write sessions (``session(write=True)``) take no turn; they meet the others in SQLite's lock.
    """

    def __init__(self) -> None:
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._holder: asyncio.Task[Any] | None = None

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:
            # A lock belongs to one event loop; a Database may outlive one (tests, the CLI).
            self._lock, self._loop, self._holder = asyncio.Lock(), loop, None
        lock = self._lock
        task = asyncio.current_task()
        if task is not None and task is self._holder:
            raise RuntimeError("a write transaction cannot be opened inside another one")
        async with asyncio.timeout(BUSY_TIMEOUT):
            await lock.acquire()
        self._holder = task
        try:
            yield
        finally:
            self._holder = None
            lock.release()


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: the database connection dropped, a lock timed out, a deadlock or serialization conflict."""
    if isinstance(exc, OperationalError | ConnectionError | TimeoutError | OSError):
        return True
    if isinstance(exc, DBAPIError):
        return bool(exc.connection_invalidated) or any(
            word in str(exc.orig).lower() for word in ("deadlock", "could not serialize", "database is locked")
        )
    return False


# --- rows written together at the end of a unit of work ----------------------------------------------------


class Deferred:
    """Append-only rows (timeline entries, ledger moves, outbox messages…) that a batch writes at its end,
    one INSERT per table, instead of one statement per row as each order is carried out.

    Each order's rows are added as it is carried out; ``mark`` and ``undo`` drop them again when the order
    fails and its savepoint is rolled back. Rows with a unique key name it in ``skip_duplicates_of``: a row
    whose key exists already is left out (``ON CONFLICT DO NOTHING``), as a select-then-insert would.
    Only rows nothing reads back before the batch ends belong here.

    A ``step`` is other work added up the same way and done once, after the inserts, with every item it was
    given (the stock a batch reserves: one guarded UPDATE per SKU and warehouse).
    """

    def __init__(self) -> None:
        self._rows: list[tuple[Any, tuple[str, ...], Any]] = []

    def add(self, model: Any, row: dict[str, Any], *, skip_duplicates_of: tuple[str, ...] = ()) -> None:
        self._rows.append((model, skip_duplicates_of, row))

    def step(self, work: Callable[[AsyncSession, list[Any]], Awaitable[None]], item: Any) -> None:
        self._rows.append((work, _STEP, item))

    def mark(self) -> int:
        return len(self._rows)

    def undo(self, mark: int) -> None:
        del self._rows[mark:]

    async def write(self, session: AsyncSession) -> None:
        """Insert every row, grouped by table in the order the tables were first written to, then do each
        step once with all its items; rows the steps defer in turn are written after them, the same way."""
        dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
        while self._rows:
            groups: dict[tuple[Any, tuple[str, ...]], list[Any]] = {}
            for model, unique, row in self._rows:
                groups.setdefault((model, unique), []).append(row)
            self._rows = []
            for (model, unique), rows in groups.items():
                if unique is not _STEP:
                    await session.exec(_insert_statement(model, unique, dialect), params=rows)
            for (work, unique), items in groups.items():
                if unique is _STEP:
                    await work(session, items)


_STEP: tuple[str, ...] = ("(step)",)


def _insert_statement(model: Any, unique: tuple[str, ...], dialect: str) -> Any:
    if not unique:
        return insert(model)
    dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return dialect_insert(model).on_conflict_do_nothing(index_elements=list(unique))


def deferred_of(session: AsyncSession) -> Deferred | None:
    """The rows this session's unit of work writes at its end, when it defers them (a processing batch)."""
    return session.info.get(DEFERRED)


async def insert_rows(
    session: AsyncSession, model: Any, rows: list[dict[str, Any]], *, skip_duplicates_of: tuple[str, ...] = ()
) -> None:
    """Insert append-only rows: at the end of the unit of work when the session defers them, else now."""
    if not rows:
        return
    later = deferred_of(session)
    if later is not None:
        for row in rows:
            later.add(model, row, skip_duplicates_of=skip_duplicates_of)
        return
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    await session.exec(_insert_statement(model, skip_duplicates_of, dialect), params=rows)


async def insert_new(session: AsyncSession, model: Any, row: dict[str, Any], *, unique: tuple[str, ...]) -> Any:
    """Insert one row now unless a row with the same ``unique`` key exists (``ON CONFLICT DO NOTHING``, no
    savepoint); the new row's id, or None when the key was taken."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    statement = _insert_statement(model, unique, dialect).values(row).returning(model.id)
    return (await session.exec(statement)).scalar_one_or_none()


@asynccontextmanager
async def deferring(session: AsyncSession) -> AsyncIterator[Deferred]:
    """Defer append-only inserts made with ``insert_rows`` in this block; they are written when it ends
    without an error (and dropped with the transaction when it raises)."""
    later = Deferred()
    session.info[DEFERRED] = later
    try:
        yield later
        await later.write(session)
    finally:
        session.info.pop(DEFERRED, None)


DEFERRED = "ruleflow.deferred"

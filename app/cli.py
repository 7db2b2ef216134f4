"""The ``ruleflow`` command: serve, worker, db upgrade, seed-demo, finance book-missing, reports rebuild, create-user,
unlock-user, create-token, loadtest, demo-traffic."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import click

from app.settings import PROJECT_ROOT, get_settings

if TYPE_CHECKING:
    from alembic.config import Config

    from app.db import Database

T = TypeVar("T")


def _alembic_config() -> Config:
    from alembic.config import Config

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    return config


async def require_current_schema(db: Database) -> None:
    """Refuse, saying what to run, when the database's schema is not the one this code expects (a new data folder,
    or an upgrade not applied yet), instead of failing later on a missing table."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    heads = set(ScriptDirectory.from_config(_alembic_config()).get_heads())
    async with db.engine.connect() as connection:
        current = await connection.run_sync(lambda sync: set(MigrationContext.configure(sync).get_current_heads()))
    if current != heads:
        found = ", ".join(sorted(current)) or "empty"
        raise click.ClickException(
            f"the database is not at the current schema (it is at: {found}): run `ruleflow db upgrade` first. "
            "Nothing was changed."
        )


def _with_db(work: Callable[[Any], Awaitable[T]]) -> T:
    from app.db import Database

    async def main() -> T:
        db = Database(get_settings())
        try:
            await require_current_schema(db)
            async with db.transaction() as session:
                return await work(session)
        finally:
            await db.dispose()

    return asyncio.run(main())


def _run_or_refuse(
    work: Callable[[], Coroutine[Any, Any, T]], refused: type[Exception] | tuple[type[Exception], ...]
) -> T:
    """Run ``work``; a refusal is a one-line error for the terminal, not a traceback."""
    try:
        return asyncio.run(work())
    except refused as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def main() -> None:
    """Ruleflow OMS: every channel's orders in one place, processed by rule flows."""


@main.command()
@click.option("--host", default=None, help="Address to listen on (default: HOST or 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default: PORT or 8000).")
def serve(host: str | None, port: int | None) -> None:
    """Serve the web app (with the embedded worker when REDIS_URL is unset)."""
    import os

    import uvicorn

    if port is not None:
        # Settings derive addresses from PORT (the sandbox carrier's URL, say): keep them in step with --port.
        os.environ["PORT"] = str(port)
        get_settings.cache_clear()
    settings = get_settings()
    mode = "arq on Redis" if settings.uses_redis else "embedded worker"
    click.echo(f"Ruleflow OMS on http://{host or settings.host}:{port or settings.port}  ({mode})")
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        log_level="info",
        proxy_headers=False,
    )


@main.command()
def worker() -> None:
    """Run an arq worker on REDIS_URL (the same as `arq app.worker.WorkerSettings`)."""
    from arq.worker import run_worker

    if not get_settings().uses_redis:
        raise click.UsageError("REDIS_URL is not set; the web process runs jobs itself (embedded worker).")
    from app.worker import WorkerSettings

    run_worker(WorkerSettings)  # type: ignore[arg-type]


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.argument("revision", default="heads")
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: every head)."""
    from alembic import command

    command.upgrade(_alembic_config(), revision)
    click.echo(f"database at {revision}")


@main.group()
def finance() -> None:
    """Finance: vouchers from orders and refunds."""


@finance.command("book-missing")
def finance_book_missing() -> None:
    """Book the sale vouchers of delivered or completed orders that have none (e.g. finished before an upgrade)."""
    from app.db import Database
    from app.domain.finance.posting import book_missing

    async def work() -> int:
        db = Database(get_settings())
        try:
            await require_current_schema(db)
            return await book_missing(db)
        finally:
            await db.dispose()

    click.echo(f"{asyncio.run(work())} sale vouchers booked")


@main.group()
def reports() -> None:
    """Reports: the rollups the report pages read."""


@reports.command("rebuild")
def reports_rebuild() -> None:
    """Count every report rollup again from all the orders, shipments and vouchers (after an upgrade that adds one,
    or to check them)."""
    from app.domain.finance.margins import rebuild_margin_days
    from app.domain.fulfillment.shipment_rollups import rebuild_shipment_rollups
    from app.domain.reports.rollups import rebuild_order_rollups

    click.echo(f"{_with_db(rebuild_order_rollups)} hours of shops counted again")
    click.echo(f"{_with_db(rebuild_shipment_rollups)} days of warehouses, carriers and shops' parcels counted again")
    click.echo(f"{_with_db(rebuild_margin_days)} days of channels' and shops' margins counted again from the vouchers")


@main.command("seed-demo")
@click.option(
    "--history-orders",
    type=click.IntRange(0, 500_000),
    default=None,
    help="Orders in the 30 days of history (default 30,000; 0: no history).",
)
@click.option(
    "--background",
    is_flag=True,
    help="Make only the history's first pass (the last two days in outline) and leave the rest for `ruleflow serve` "
    "to make in the background once it serves (what `dev.py run` does).",
)
def seed_demo(history_orders: int | None, background: bool) -> None:
    """Add demo users, warehouses, SKUs, carriers and shops, publish the four-stage flow and make 30 days of
    order history through the real paths (once). Refused in production."""
    from app.seed import DEMO_USERS
    from app.seed import seed_demo as seed

    if not get_settings().is_development:
        # The demo users' passwords are printed below and in the README: in production they would be a way in.
        raise click.ClickException(
            "seed-demo refuses to run in production (RULEFLOW_ENV=production): the demo users' passwords are "
            "public. Nothing was changed. Create real users with `ruleflow create-user`."
        )
    added = _with_db(seed)
    click.echo("demo data added" if added else "demo data already present; nothing changed")
    click.echo("Demo logins (username / password / role):")
    for username, _name, role, password in DEMO_USERS:
        click.echo(f"  {username:<10} {password:<20} {role.value}")
    if history_orders != 0:
        make_demo_history(history_orders, background=background)


def make_demo_history(orders: int | None, *, background: bool) -> None:
    """The demo's 30 days of history, made here with a progress bar; with ``background`` only its first pass (the
    last two days in outline), the rest left for the server to make once it serves."""
    import logging
    import time

    from app import demo_history
    from app.db import Database

    settings = get_settings()
    wanted = orders or demo_history.DEFAULT_ORDERS

    async def work() -> str:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        db = Database(settings)
        try:
            await require_current_schema(db)
            columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
            with Progress(*columns, console=Console(stderr=True)) as bar:
                task = bar.add_task("演示历史 demo history", total=None)

                def tick(made: demo_history.Progress) -> None:
                    if background:
                        bar.update(task, total=made.pass_planned, completed=made.ingested - made.ingested_before)
                    else:
                        bar.update(task, total=made.planned, completed=made.ingested)

                made = await demo_history.make_history(
                    db, settings, orders=wanted, tick=tick, passes=1 if background else None
                )
            if made is None:
                return "demo history already made; nothing changed"
            if not made.done:
                return (
                    f"demo history: {made.summary()}; the server makes the rest of the {made.planned:,} orders in "
                    "the background once it serves (progress on the home page and in its log)"
                )
            return f"demo history: {made.summary()}"
        finally:
            await db.dispose()

    # The sweeper's counts and the sandbox carrier's requests would drown the progress bar.
    for name in ("httpx", "app.domain.processing.jobs"):
        logging.getLogger(name).setLevel(logging.ERROR)
    started = time.monotonic()
    said = asyncio.run(work())
    click.echo(f"{said} ({time.monotonic() - started:.1f} s)")


@main.command("create-user")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(["viewer", "operator", "designer", "finance", "admin"]))
@click.option("--name", "display_name", default=None, help="Display name (default: the username).")
@click.password_option()
def create_user(username: str, role: str, display_name: str | None, password: str) -> None:
    """Create a user with a role."""
    from pydantic import ValidationError

    from app.domain.accounts import services
    from app.domain.accounts.models import Role, UserCreate
    from app.domain.accounts.services import SYSTEM, AccountError

    try:
        data = UserCreate(username=username, display_name=display_name or username, role=Role(role), password=password)
    except ValidationError as exc:
        raise click.BadParameter(str(exc)) from exc

    async def work(session: Any) -> None:
        await services.create_user(session, data, SYSTEM)

    try:
        _with_db(work)
    except AccountError as exc:
        raise click.ClickException(f"could not create user: {exc.code}") from exc
    click.echo(f"user {username} created with role {role}")


@main.command("unlock-user")
@click.argument("username")
def unlock_user(username: str) -> None:
    """Forget a user's failed logins from every address (for an admin who cannot reach the settings page)."""
    from app.domain.accounts import services
    from app.domain.accounts.services import SYSTEM

    async def work(session: Any) -> bool:
        user = await services.get_user_by_username(session, username)
        if user is None or user.id is None:
            return False
        await services.unlock_user(session, user.id, SYSTEM, None)
        return True

    if not _with_db(work):
        raise click.ClickException(f"no user named {username}")
    click.echo(f"user {username} unlocked")


#: The values of TokenScope, named here so that ``ruleflow --help`` does not import the models.
TOKEN_SCOPES = ["ingest", "read", "shipments", "admin"]


@main.command("create-token")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(TOKEN_SCOPES))
def create_token(name: str, scopes: tuple[str, ...]) -> None:
    """Create an API token; the secret is printed once."""
    from app.domain.accounts import services
    from app.domain.accounts.models import TokenScope
    from app.domain.accounts.services import SYSTEM

    async def work(session: Any) -> str:
        _, secret = await services.create_token(session, name, [TokenScope(s) for s in scopes], SYSTEM)
        return secret

    click.echo(_with_db(work))


@main.command()
@click.option("--url", default=None, help="The running server (default: http://HOST:PORT from the settings).")
@click.option(
    "--count", type=click.IntRange(min=1), default=None, help="Orders to send (default 1000 without --duration)."
)
@click.option(
    "--rate", type=click.FloatRange(min=0.1), default=None, help="Orders per second (default: as fast as possible)."
)
@click.option("--duration", type=click.FloatRange(min=0.1), default=None, help="Send for this many seconds.")
@click.option("--concurrency", type=click.IntRange(1, 512), default=16, show_default=True, help="Connections at once.")
@click.option("--token", default=None, help="Authenticate with this ingest token instead of the shops' signatures.")
@click.option("--ingest-only", is_flag=True, help="Measure the webhook alone: report accepted/s, do not wait.")
@click.option(
    "--timeout", type=click.FloatRange(min=1), default=600, show_default=True, help="Seconds to wait for processing."
)
@click.option(
    "--prepare/--no-prepare", "do_prepare", default=True, show_default=True, help="Prepare the database first."
)
@click.option("--prepare-only", is_flag=True, help="Prepare the database and stop.")
@click.option(
    "--stock",
    "stock_level",
    type=click.IntRange(1, 1_000_000),
    default=50_000,
    show_default=True,
    help="Units kept free per SKU in each warehouse that stocks it.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the table.")
def loadtest(
    url: str | None,
    count: int | None,
    rate: float | None,
    duration: float | None,
    concurrency: int,
    token: str | None,
    ingest_only: bool,
    timeout: float,
    do_prepare: bool,
    prepare_only: bool,
    stock_level: int,
    as_json: bool,
) -> None:
    """Send realistic orders of every channel through a running server's webhook and report what became of them.

    Run it with the server's own settings (the same DATABASE_URL and SECRET_KEY, or the same var/ folder): it
    reads the shops' webhook secrets and, afterwards, the database. First it prepares the database (unless
    --no-prepare): a shop loadtest-<channel> for every channel with a webhook secret, the demo warehouses, SKUs,
    carriers and rates where missing, stock topped up to --stock free units, and the four-stage flow published
    when no flow is live. Preparing is idempotent, and refused with RULEFLOW_ENV=production.

    Then it posts orders (signed like each platform's push, or with --token) at --rate or as fast as possible,
    for --count orders or --duration seconds, waits until every accepted order is processed and its jobs have
    run, and reports accepted/s, processed/s, receipt → routed p50/p95/p99, errors, oversold units and
    duplicated effects. The exit status is 1 when anything was oversold or done twice, the stock disagrees with
    its ledger, or the wait timed out.
    """
    from app import loadtest as lt
    from app.db import Database

    settings = get_settings()
    if not settings.is_development:
        raise click.ClickException(
            "loadtest refuses to run in production (RULEFLOW_ENV=production): it creates shops, tops up stock, "
            "publishes a flow and fills the database with test orders. Nothing was changed."
        )
    if count is None and duration is None:
        count = 1000
    base_url = (url or f"http://{settings.host}:{settings.port}").rstrip("/")

    async def work() -> lt.Report | lt.Preparation:
        db = Database(settings)
        try:
            prepared = await lt.prepare(db, settings, stock_level=stock_level) if do_prepare or prepare_only else None
            if prepare_only:
                assert prepared is not None
                return prepared
            return await lt.run(
                db,
                settings,
                base_url,
                count=count,
                rate=rate,
                duration=duration,
                concurrency=concurrency,
                token=token,
                ingest_only=ingest_only,
                wait_seconds=timeout,
                quiet=as_json,
            )
        finally:
            await db.dispose()

    outcome = _run_or_refuse(work, lt.LoadtestRefused)
    if isinstance(outcome, lt.Preparation):
        click.echo(lt.preparation_text(outcome))
        return
    if as_json:
        import json

        click.echo(json.dumps(outcome.as_dict(), ensure_ascii=False))
    else:
        lt.print_report(outcome)
    if not outcome.safe:
        raise SystemExit(1)


def _finite(_context: click.Context, parameter: click.Parameter, value: float | None) -> float | None:
    """FloatRange lets ``nan`` through (it compares false with both ends): refuse it like any number out of range."""
    if value is not None and value != value:
        raise click.BadParameter(f"{value} is not a number", param=parameter)
    return value


@main.command("demo-traffic")
@click.option(
    "--rate",
    type=click.FloatRange(min=0.1, max=1000),
    callback=_finite,
    required=True,
    help="New orders a second (0.1 to 1,000).",
)
@click.option(
    "--minutes",
    type=click.FloatRange(min=0.01, max=24 * 60),
    callback=_finite,
    default=10.0,
    show_default=True,
    help="How long to send for, up to a day: rate × minutes orders in all.",
)
@click.option("--url", default=None, help="The running demo server (default: http://HOST:PORT from the settings).")
def demo_traffic(rate: float, minutes: float, url: str | None) -> None:
    """Stream new orders of every channel, placed now, into the running demo server so that its home dashboard
    moves: the demo's own shops in the demo's mix of channels, signed with their webhook secrets.

    Run it with the server's settings (the same DATABASE_URL and SECRET_KEY, or the same var/ folder). It first
    gives a demo shop without a webhook secret one, tops up stock and publishes the four-stage flow if none is
    live (only what is missing), then prints sent, accepted and the rate as it goes, and a summary. Refused with
    RULEFLOW_ENV=production.
    """
    import time

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from app import demo_traffic as traffic
    from app.db import Database
    from app.errors import DomainError
    from app.loadtest import Sent

    settings = get_settings()
    base_url = (url or f"http://{settings.host}:{settings.port}").rstrip("/")
    planned = traffic.planned(rate, minutes)

    async def work() -> Sent:
        traffic.refuse_in_production(settings)
        db = Database(settings)
        try:
            await require_current_schema(db)
            await traffic.check_reachable(base_url)
            ready = await traffic.make_ready(db, settings, orders=planned)
            click.echo(ready.text())
            columns = (TextColumn("演示订单 demo orders {task.description}"), BarColumn(), TimeElapsedColumn())
            with Progress(*columns, console=Console(stderr=True)) as progress:
                task = progress.add_task("", total=planned)
                return await traffic.stream(
                    db,
                    settings,
                    base_url,
                    rate=rate,
                    minutes=minutes,
                    tick=lambda sent: progress.update(
                        task,
                        completed=sent.attempted,
                        description=traffic.progress_text(sent, time.time() - sent.started),
                    ),
                )
        finally:
            await db.dispose()

    sent = _run_or_refuse(work, (traffic.TrafficRefused, DomainError))
    for line in traffic.summary(sent):
        click.echo(line)
    if sent.accepted < sent.attempted:
        raise SystemExit(1)


@main.group()
def i18n() -> None:
    """Translation catalogs."""


@i18n.command("compile")
def i18n_compile() -> None:
    """Compile the .po catalogs into .mo files."""
    from app.i18n import compile_catalogs

    compile_catalogs()
    click.echo("catalogs compiled")

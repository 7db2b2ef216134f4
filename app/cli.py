"""The ``ruleflow`` command: serve, worker, db upgrade, seed-demo, create-user, unlock-user, create-token."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from app.settings import PROJECT_ROOT, get_settings

T = TypeVar("T")


def _with_db(work: Callable[[Any], Awaitable[T]]) -> T:
    from app.db import Database

    async def main() -> T:
        db = Database(get_settings())
        try:
            async with db.transaction() as session:
                return await work(session)
        finally:
            await db.dispose()

    return asyncio.run(main())


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
    from alembic.config import Config

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    command.upgrade(config, revision)
    click.echo(f"database at {revision}")


@main.command("seed-demo")
def seed_demo() -> None:
    """Add demo users, warehouses, SKUs, carriers and shops (once). Refused in production."""
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


@main.command("create-user")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(["viewer", "operator", "designer", "admin"]))
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


@main.command("create-token")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(["ingest", "read", "admin"]))
def create_token(name: str, scopes: tuple[str, ...]) -> None:
    """Create an API token; the secret is printed once."""
    from app.domain.accounts import services
    from app.domain.accounts.models import TokenScope
    from app.domain.accounts.services import SYSTEM

    async def work(session: Any) -> str:
        _, secret = await services.create_token(session, name, [TokenScope(s) for s in scopes], SYSTEM)
        return secret

    click.echo(_with_db(work))


@main.group()
def i18n() -> None:
    """Translation catalogs."""


@i18n.command("compile")
def i18n_compile() -> None:
    """Compile the .po catalogs into .mo files."""
    from app.i18n import compile_catalogs

    compile_catalogs()
    click.echo("catalogs compiled")

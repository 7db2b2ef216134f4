"""One typed settings object, read from the environment.

Every field documents the variable that sets it. Production mode refuses to start without an explicit
secret key; development generates one into the var directory on first run.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(RuntimeError):
    """The environment asks for something unsafe or impossible."""


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc


def normalize_database_url(url: str) -> str:
    """Accept the URLs operators write and return the async driver form SQLAlchemy needs."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
    return url


@dataclass(frozen=True)
class Settings:
    """Application settings. Build with :func:`Settings.from_env`; tests build them directly."""

    #: RULEFLOW_ENV: "development" (default) or "production".
    env: str = "development"
    #: RULEFLOW_VAR_DIR: where the SQLite file, the generated secret and uploads live.
    var_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "var")
    #: DATABASE_URL: defaults to a SQLite file under the var directory.
    database_url: str = ""
    #: REDIS_URL: unset means the embedded worker inside the web process.
    redis_url: str | None = None
    #: SECRET_KEY: signs CSRF tokens; generated into var/ in development, required in production.
    secret_key: str = ""
    #: SESSION_IDLE_MINUTES: a session unused this long ends.
    session_idle_minutes: int = 60
    #: SESSION_ABSOLUTE_HOURS: a session ends this long after login, however busy.
    session_absolute_hours: int = 12
    #: LOGIN_MAX_FAILURES / LOGIN_LOCK_MINUTES: throttling of repeated wrong passwords.
    login_max_failures: int = 5
    login_lock_minutes: int = 15
    #: OUTBOX_STUCK_SECONDS: an outbox job claimed or enqueued this long ago without finishing is re-run.
    outbox_stuck_seconds: int = 300
    #: PROCESSING_STUCK_SECONDS: an order queued this long without a processing run is queued again.
    processing_stuck_seconds: int = 120
    #: STOCK_RETRY_SECONDS: orders held for 缺货 are tried again this often (stock may have arrived).
    stock_retry_seconds: int = 600
    #: HOST / PORT for `ruleflow serve`.
    host: str = "127.0.0.1"
    port: int = 8000
    #: CARRIER_API_URL / CARRIER_API_KEY / CARRIER_API_SECRET: the carrier waybill API. By default the sandbox
    #: carrier this app serves itself under /sandbox/carrier, so the demo prints waybills with no contract.
    carrier_api_url: str = "http://127.0.0.1:8000/sandbox/carrier"
    carrier_api_key: str = "ruleflow-demo"
    carrier_api_secret: str = "sandbox-carrier-secret"  # noqa: S105 - the local sandbox carrier's demo secret

    @property
    def is_development(self) -> bool:
        return self.env != "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def uses_redis(self) -> bool:
        return bool(self.redis_url)

    @classmethod
    def from_env(cls) -> Settings:
        """Read the environment; generate the development secret on first run."""
        env = os.environ.get("RULEFLOW_ENV", "development").strip() or "development"
        if env not in {"development", "production"}:
            raise SettingsError(f"RULEFLOW_ENV must be development or production, got {env!r}")
        var_dir = Path(os.environ.get("RULEFLOW_VAR_DIR") or PROJECT_ROOT / "var").resolve()
        database_url = normalize_database_url(os.environ.get("DATABASE_URL") or f"sqlite:///{var_dir / 'ruleflow.db'}")
        secret_key = os.environ.get("SECRET_KEY", "")
        if not secret_key:
            if env == "production":
                raise SettingsError("SECRET_KEY must be set in production mode")
            secret_key = development_secret(var_dir)
        elif len(secret_key) < 32:
            raise SettingsError("SECRET_KEY must be at least 32 characters")
        return cls(
            env=env,
            var_dir=var_dir,
            database_url=database_url,
            redis_url=os.environ.get("REDIS_URL") or None,
            secret_key=secret_key,
            session_idle_minutes=_env_int("SESSION_IDLE_MINUTES", 60),
            session_absolute_hours=_env_int("SESSION_ABSOLUTE_HOURS", 12),
            login_max_failures=_env_int("LOGIN_MAX_FAILURES", 5),
            login_lock_minutes=_env_int("LOGIN_LOCK_MINUTES", 15),
            outbox_stuck_seconds=_env_int("OUTBOX_STUCK_SECONDS", 300),
            processing_stuck_seconds=_env_int("PROCESSING_STUCK_SECONDS", 120),
            stock_retry_seconds=_env_int("STOCK_RETRY_SECONDS", 600),
            host=os.environ.get("HOST", "127.0.0.1"),
            port=_env_int("PORT", 8000),
            carrier_api_url=os.environ.get("CARRIER_API_URL")
            or f"http://127.0.0.1:{_env_int('PORT', 8000)}/sandbox/carrier",
            carrier_api_key=os.environ.get("CARRIER_API_KEY", "ruleflow-demo"),
            carrier_api_secret=os.environ.get("CARRIER_API_SECRET", "sandbox-carrier-secret"),
        )


def development_secret(var_dir: Path) -> str:
    """Return the secret kept in var/secret_key, creating it (owner-only) the first time."""
    var_dir.mkdir(parents=True, exist_ok=True)
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings.from_env()

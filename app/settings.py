"""One typed settings object, read from the environment.

Every field documents the variable that sets it. Production mode refuses to start without an explicit
secret key; development generates one into the var directory on first run.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: The local sandbox carrier's demo secret: fine on a laptop, refused in production.
SANDBOX_CARRIER_SECRET = "sandbox-carrier-secret"  # noqa: S105

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class SettingsError(RuntimeError):
    """The environment asks for something unsafe or impossible."""


def _env_int(name: str, default: int, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc
    if minimum is not None and value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be on or off, got {raw!r}")


#: PASSWORD_HASHING's choices: argon2id with its library's standard cost (RFC 9106's low-memory profile), or at
#: its cheapest, for test suites that hash and check thousands of passwords. Production refuses "fast".
PASSWORD_HASHINGS = ("standard", "fast")


def password_hashing_from_env() -> str:
    """``PASSWORD_HASHING``: "standard" (default) or "fast"; read where passwords are hashed, checked by
    :meth:`Settings.from_env` so that a production process refuses to start with "fast"."""
    raw = os.environ.get("PASSWORD_HASHING", "").strip().lower() or "standard"
    if raw not in PASSWORD_HASHINGS:
        raise SettingsError(f"PASSWORD_HASHING must be standard or fast, got {raw!r}")
    return raw


def parse_networks(raw: str) -> tuple[str, ...]:
    """``TRUSTED_PROXIES``: addresses or CIDRs separated by commas or spaces (``10.0.0.0/8, ::1``)."""
    networks = []
    for part in raw.replace(",", " ").split():
        try:
            networks.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError as exc:
            raise SettingsError(f"TRUSTED_PROXIES: {part!r} is not an address or network") from exc
    return tuple(networks)


@lru_cache(maxsize=8)
def networks_of(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


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
    #: LOGIN_MAX_FAILURES: wrong passwords one address may try on one account before it has to wait.
    login_max_failures: int = 5
    #: LOGIN_BACKOFF_SECONDS: the first wait; it doubles with each further failure (account + address).
    login_backoff_seconds: int = 30
    #: LOGIN_LOCK_MINUTES: the longest wait, and how long failures are remembered.
    login_lock_minutes: int = 15
    #: LOGIN_ACCOUNT_MAX_FAILURES: failures on one account from all addresses after which every address that
    #: fails on it waits from its first failure. Softer than a lock: an address that has not failed is never
    #: held back, so nobody can lock the admin out.
    login_account_max_failures: int = 20
    #: LOGIN_ADDRESS_MAX_FAILURES: failures from one address over all accounts before it has to wait.
    login_address_max_failures: int = 30
    #: TRUSTED_PROXIES: reverse proxies whose X-Forwarded-For is believed (addresses or CIDRs); default none.
    #: Kept as normalised strings (see :func:`parse_networks`); ``trusted_networks`` gives the networks.
    trusted_proxies: tuple[str, ...] = ()
    #: OUTBOX_STUCK_SECONDS: an outbox job claimed or enqueued this long ago without finishing is re-run.
    outbox_stuck_seconds: int = 300
    #: PROCESSING_STUCK_SECONDS: an order queued this long without a processing run is queued again.
    processing_stuck_seconds: int = 120
    #: STOCK_RETRY_SECONDS: orders held for 缺货 are tried again this often (stock may have arrived).
    stock_retry_seconds: int = 600
    #: PROCESSING_BATCH_SIZE: orders one processing job takes at once, read together and carried out in one
    #: transaction (each in a savepoint of its own).
    processing_batch_size: int = 50
    #: BACKTEST_SECONDS: wall-clock seconds a whole backtest (reading and replaying its orders) may take before it
    #: is stopped.
    backtest_seconds: int = 60
    #: HOST / PORT for `ruleflow serve`.
    host: str = "127.0.0.1"
    port: int = 8000
    #: CARRIER_API_URL / CARRIER_API_KEY / CARRIER_API_SECRET: the carrier waybill API. By default the sandbox
    #: carrier this app serves itself under /sandbox/carrier, so the demo prints waybills with no contract.
    carrier_api_url: str = "http://127.0.0.1:8000/sandbox/carrier"
    carrier_api_key: str = "ruleflow-demo"
    carrier_api_secret: str = SANDBOX_CARRIER_SECRET
    #: SANDBOX_CARRIER: serve the sandbox carrier under /sandbox/carrier. On in development, off in production
    #: unless set to on (a staging site without a carrier contract).
    sandbox_carrier: bool = True
    #: WEBHOOK_ALLOW_PRIVATE: event webhooks may call loopback, private and link-local addresses. On in development
    #: (a subscriber on the same machine), off in production unless set to on: a URL an admin types must not reach
    #: the database, the cloud's metadata service or anything else behind the firewall.
    webhook_allow_private: bool = True

    @property
    def is_development(self) -> bool:
        return self.env != "production"

    @property
    def trusted_networks(self) -> tuple[Network, ...]:
        return networks_of(self.trusted_proxies)

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
        if password_hashing_from_env() != "standard" and env == "production":
            raise SettingsError("PASSWORD_HASHING=fast is for test suites; production hashes passwords at full cost")
        carrier_api_secret = os.environ.get("CARRIER_API_SECRET") or SANDBOX_CARRIER_SECRET
        if env == "production" and carrier_api_secret == SANDBOX_CARRIER_SECRET:
            # Anyone can read the demo secret in the source and would sign waybill requests with it.
            raise SettingsError("CARRIER_API_SECRET must be set in production mode (not the sandbox's demo secret)")
        return cls(
            env=env,
            var_dir=var_dir,
            database_url=database_url,
            redis_url=os.environ.get("REDIS_URL") or None,
            secret_key=secret_key,
            session_idle_minutes=_env_int("SESSION_IDLE_MINUTES", 60),
            session_absolute_hours=_env_int("SESSION_ABSOLUTE_HOURS", 12),
            login_max_failures=_env_int("LOGIN_MAX_FAILURES", 5, minimum=1),
            login_backoff_seconds=_env_int("LOGIN_BACKOFF_SECONDS", 30, minimum=1),
            login_lock_minutes=_env_int("LOGIN_LOCK_MINUTES", 15, minimum=1),
            login_account_max_failures=_env_int("LOGIN_ACCOUNT_MAX_FAILURES", 20, minimum=1),
            login_address_max_failures=_env_int("LOGIN_ADDRESS_MAX_FAILURES", 30, minimum=1),
            trusted_proxies=parse_networks(os.environ.get("TRUSTED_PROXIES", "")),
            outbox_stuck_seconds=_env_int("OUTBOX_STUCK_SECONDS", 300),
            processing_stuck_seconds=_env_int("PROCESSING_STUCK_SECONDS", 120),
            stock_retry_seconds=_env_int("STOCK_RETRY_SECONDS", 600),
            processing_batch_size=max(1, _env_int("PROCESSING_BATCH_SIZE", 50)),
            backtest_seconds=_env_int("BACKTEST_SECONDS", 60, minimum=0),
            host=os.environ.get("HOST", "127.0.0.1"),
            port=_env_int("PORT", 8000),
            carrier_api_url=os.environ.get("CARRIER_API_URL")
            or f"http://127.0.0.1:{_env_int('PORT', 8000)}/sandbox/carrier",
            carrier_api_key=os.environ.get("CARRIER_API_KEY", "ruleflow-demo"),
            carrier_api_secret=carrier_api_secret,
            sandbox_carrier=_env_bool("SANDBOX_CARRIER", env != "production"),
            webhook_allow_private=_env_bool("WEBHOOK_ALLOW_PRIVATE", env != "production"),
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

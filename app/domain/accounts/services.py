"""Account services: passwords, login with throttling, sessions, API tokens, users, the audit log."""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import utcnow
from app.domain.accounts.models import (
    ApiToken,
    AuditEntry,
    LoginThrottle,
    Role,
    TokenScope,
    User,
    UserCreate,
    UserSession,
)
from app.errors import DomainError
from app.i18n import N_
from app.settings import Settings, password_hashing_from_env

# Hashes carry their own parameters, so a password hashed at either cost is checked at the cost it was hashed at.
_hasher = (
    PasswordHasher.from_parameters(profiles.CHEAPEST) if password_hashing_from_env() == "fast" else PasswordHasher()
)
# Verified against when the username is unknown, so a miss costs as much time as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


class AccountError(DomainError):
    """A refused login or account change; ``code`` picks the message."""

    messages: ClassVar[Mapping[str, str]] = {
        "locked.seconds": N_("Too many failed logins. Try again in %(seconds)s seconds."),
        "locked.minutes": N_("Too many failed logins. Try again in %(minutes)s minutes."),
        "bad_credentials": N_("Wrong username or password."),
        "user_not_found": N_("That user does not exist."),
        "cannot_disable_self": N_("You cannot disable your own account."),
        "username_taken": N_("The username %(username)s is already taken."),
        "check_fields": N_("Please check these fields: %(fields)s"),
        "token_needs_name": N_("Give the token a name."),
        "token_needs_scope": N_("Choose at least one scope for the token."),
        "token_not_found": N_("That token does not exist."),
    }
    statuses: ClassVar[Mapping[str, int]] = {"locked": 429}

    def __init__(self, code: str, **params: Any) -> None:
        if code == "locked":
            # Under a minute the wait is told in seconds, else in whole minutes (rounded up).
            seconds = int(params.get("seconds", 60))
            if seconds < 60:
                super().__init__(code, "seconds", seconds=seconds)
                return
            super().__init__(code, "minutes", seconds=seconds, minutes=-(-seconds // 60))
            return
        super().__init__(code, **params)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def digest(value: str) -> str:
    """The stored form of a session id or token secret: never the value itself."""
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class Actor:
    """Who is acting, for guards and the audit log."""

    kind: str  # user | token | system | anonymous
    id: int | None
    name: str
    role: Role | None = None
    scopes: frozenset[str] = frozenset()

    @classmethod
    def of_user(cls, user: User) -> Actor:
        return cls("user", user.id, user.username, role=user.role)

    @classmethod
    def of_token(cls, token: ApiToken) -> Actor:
        return cls("token", token.id, f"token:{token.name}", scopes=frozenset(token.scope_set))


SYSTEM = Actor("system", None, "system")
ANONYMOUS = Actor("anonymous", None, "anonymous")


# --- audit ---------------------------------------------------------------------------------------


async def audit(
    session: AsyncSession,
    actor: Actor,
    action: str,
    *,
    target_type: str | None = None,
    target_id: str | int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditEntry:
    """Append one audit row in the caller's transaction (the log is append-only in the database)."""
    entry = AuditEntry(
        at=utcnow(),
        actor_type=actor.kind,
        actor_id=actor.id,
        actor_name=actor.name,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        before=before,
        after=after,
        ip=ip,
    )
    session.add(entry)
    await session.flush()
    return entry


async def audit_page(
    session: AsyncSession, *, before_id: int | None = None, action: str | None = None, limit: int = 50
) -> list[AuditEntry]:
    """Newest first, keyset-paginated by id."""
    query = select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(limit)
    if before_id is not None:
        query = query.where(col(AuditEntry.id) < before_id)
    if action:
        query = query.where(AuditEntry.action == action)
    return list((await session.exec(query)).all())


# --- users ---------------------------------------------------------------------------------------


def user_snapshot(user: User) -> dict[str, Any]:
    """What the audit log records of a user (never the hash)."""
    return {
        "username": user.username,
        "display_name": user.display_name,
        "role": str(user.role),
        "is_active": user.is_active,
    }


async def create_user(session: AsyncSession, data: UserCreate, actor: Actor) -> User:
    existing = (await session.exec(select(User).where(User.username == data.username))).first()
    if existing is not None:
        raise AccountError("username_taken", username=data.username)
    user = User(
        username=data.username,
        display_name=data.display_name,
        role=Role(data.role),
        is_active=data.is_active,
        password_hash=hash_password(data.password),
        created_at=utcnow(),
    )
    session.add(user)
    await session.flush()
    await audit(session, actor, "user.create", target_type="user", target_id=user.id, after=user_snapshot(user))
    return user


async def set_user_active(session: AsyncSession, user_id: int, active: bool, actor: Actor, ip: str | None) -> User:
    """Disable a user (their sessions end and their API tokens stop at once) or enable them again; audited."""
    user = await session.get(User, user_id)
    if user is None:
        raise AccountError("user_not_found")
    if not active and actor.kind == "user" and actor.id == user.id:
        raise AccountError("cannot_disable_self")
    if user.is_active == active:
        return user
    before = user_snapshot(user)
    user.is_active = active
    session.add(user)
    change: dict[str, Any] = {}
    if not active:
        ended = await session.exec(delete(UserSession).where(col(UserSession.user_id) == user.id))
        change["sessions_ended"] = ended.rowcount
    # Their tokens are refused while they are disabled (resolve_token checks the creator) and work again after.
    tokens = await session.exec(
        select(func.count())
        .select_from(ApiToken)
        .where(col(ApiToken.created_by) == user.id, col(ApiToken.revoked_at).is_(None))
    )
    change["tokens_suspended" if not active else "tokens_resumed"] = int(tokens.one())
    await audit(
        session,
        actor,
        "user.enable" if active else "user.disable",
        target_type="user",
        target_id=user.id,
        before=before,
        after={**user_snapshot(user), **change},
        ip=ip,
    )
    return user


async def list_users(session: AsyncSession) -> list[User]:
    return list((await session.exec(select(User).order_by(col(User.id)))).all())


async def get_user_by_username(session: AsyncSession, username: str) -> User | None:
    return (await session.exec(select(User).where(User.username == username))).first()


# --- login and throttling ------------------------------------------------------------------------
#
# Failures are counted three ways. One address guessing one account backs off exponentially after
# LOGIN_MAX_FAILURES (the pair row). One address spraying many accounts backs off after
# LOGIN_ADDRESS_MAX_FAILURES (the address row). Many addresses guessing one account make each of them back
# off from its first failure (the account row only counts): nothing an attacker does from their own
# addresses holds back an address that has not failed, so the admin can always log in from theirs.


def _pair_key(username: str, ip: str | None) -> str:
    return f"pair:{username}|{ip or 'unknown'}"


def _account_key(username: str) -> str:
    return f"user:{username}"


def _address_key(ip: str | None) -> str:
    return f"ip:{ip or 'unknown'}"


def _lock_remaining(row: LoginThrottle | None, now: datetime) -> timedelta | None:
    if row is not None and row.locked_until is not None and row.locked_until > now:
        return row.locked_until - now
    return None


async def _count_failure(session: AsyncSession, key: str, settings: Settings, now: datetime) -> LoginThrottle:
    """One more failure on a row; failures are forgotten a window after the last failure or wait ended."""
    row = await session.get(LoginThrottle, key)
    window = timedelta(minutes=settings.login_lock_minutes)
    if row is None:
        row = LoginThrottle(key=key, failures=0, first_failure_at=now)
    elif max(row.first_failure_at, row.locked_until or row.first_failure_at) < now - window:
        row.failures, row.first_failure_at, row.locked_until = 0, now, None
    row.failures += 1
    session.add(row)
    return row


async def _forget_old_failures(session: AsyncSession, settings: Settings, now: datetime) -> None:
    """Drop rows a window past their last failure or wait, so guesses at random names do not pile up."""
    cutoff = now - timedelta(minutes=settings.login_lock_minutes)
    await session.exec(
        delete(LoginThrottle).where(
            col(LoginThrottle.first_failure_at) < cutoff,
            col(LoginThrottle.locked_until).is_(None) | (col(LoginThrottle.locked_until) < cutoff),
        )
    )


def _back_off(row: LoginThrottle, allowed: int, settings: Settings, now: datetime) -> None:
    """Past ``allowed`` failures, wait LOGIN_BACKOFF_SECONDS, doubling per further failure, up to the window."""
    if row.failures >= allowed:
        doublings = min(row.failures - allowed, 30)
        seconds = min(settings.login_backoff_seconds * 2**doublings, settings.login_lock_minutes * 60)
        row.locked_until = now + timedelta(seconds=seconds)


async def authenticate(session: AsyncSession, settings: Settings, username: str, password: str, ip: str | None) -> User:
    """Check a login. Raises AccountError('locked'|'bad_credentials'); failures are throttled and audited."""
    now = utcnow()
    name = username.lower()[:64]  # no account has a longer name; keys and the audit log stay bounded
    pair_key, address_key = _pair_key(name, ip), _address_key(ip)
    for key in (pair_key, address_key):
        remaining = _lock_remaining(await session.get(LoginThrottle, key), now)
        if remaining is not None:
            await audit(session, ANONYMOUS, "login.throttled", target_type="user", target_id=name, ip=ip)
            raise AccountError("locked", seconds=max(1, math.ceil(remaining.total_seconds())))
    user = await get_user_by_username(session, username)
    ok = verify_password(user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not ok or not user.is_active:
        await _forget_old_failures(session, settings, now)
        account = await _count_failure(session, _account_key(name), settings, now)
        under_attack = account.failures >= settings.login_account_max_failures
        pair = await _count_failure(session, pair_key, settings, now)
        _back_off(pair, 1 if under_attack else settings.login_max_failures, settings, now)
        address = await _count_failure(session, address_key, settings, now)
        _back_off(address, settings.login_address_max_failures, settings, now)
        await audit(session, ANONYMOUS, "login.failed", target_type="user", target_id=name, ip=ip)
        raise AccountError("bad_credentials")
    await session.exec(delete(LoginThrottle).where(col(LoginThrottle.key) == pair_key))
    user.last_login_at = now
    session.add(user)
    await audit(session, Actor.of_user(user), "login.succeeded", target_type="user", target_id=user.id, ip=ip)
    return user


async def locked_usernames(session: AsyncSession) -> set[str]:
    """Accounts that some address is waiting to try again, for the users table."""
    rows = await session.exec(
        select(LoginThrottle.key).where(
            col(LoginThrottle.key).startswith("pair:"), col(LoginThrottle.locked_until) > utcnow()
        )
    )
    return {key.removeprefix("pair:").rpartition("|")[0] for key in rows.all()}


async def unlock_user(session: AsyncSession, user_id: int, actor: Actor, ip: str | None) -> User:
    """Forget every failed login on an account, from all addresses; audited."""
    user = await session.get(User, user_id)
    if user is None:
        raise AccountError("user_not_found")
    name = user.username.lower()[:64]
    candidates = await session.exec(
        select(LoginThrottle).where(
            (col(LoginThrottle.key) == _account_key(name))
            | col(LoginThrottle.key).startswith(f"pair:{name}|", autoescape=True)
        )
    )
    # "pair:a|" also prefixes the keys of a user named "a|b": keep only this account's own rows.
    rows = [r for r in candidates.all() if r.key == _account_key(name) or r.key.rpartition("|")[0] == f"pair:{name}"]
    now = utcnow()
    locked = sorted(r.key.rpartition("|")[2] for r in rows if r.key.startswith("pair:") and _lock_remaining(r, now))
    for row in rows:
        await session.delete(row)
    await audit(
        session,
        actor,
        "user.unlock",
        target_type="user",
        target_id=user.id,
        before={"locked_addresses": locked},
        after={"locked_addresses": []},
        ip=ip,
    )
    return user


# --- sessions ------------------------------------------------------------------------------------


async def open_session(
    session: AsyncSession, user: User, *, replaces: str | None, ip: str | None, user_agent: str | None
) -> str:
    """Start a browser session and return the cookie value. The old id (if any) dies: ids rotate at login."""
    if replaces:
        await session.exec(delete(UserSession).where(col(UserSession.id) == digest(replaces)))
    token = secrets.token_urlsafe(32)
    now = utcnow()
    assert user.id is not None
    session.add(
        UserSession(
            id=digest(token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            ip=ip,
            user_agent=(user_agent or "")[:255],
        )
    )
    await session.flush()
    return token


async def resolve_session(session: AsyncSession, settings: Settings, token: str) -> tuple[User | None, str]:
    """The user behind a session cookie and what to do with the row: "ok", "touch" or "expired".

    Reading only, so a page view needs no write lock; the caller applies "touch"/"expired" separately.
    """
    row = await session.get(UserSession, digest(token))
    if row is None:
        return None, "unknown"
    now = utcnow()
    idle = timedelta(minutes=settings.session_idle_minutes)
    absolute = timedelta(hours=settings.session_absolute_hours)
    if row.last_seen_at < now - idle or row.created_at < now - absolute:
        return None, "expired"
    user = await session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None, "expired"
    # Touch at most once a minute so reads do not become writes on every click.
    return user, "touch" if now - row.last_seen_at > timedelta(minutes=1) else "ok"


async def touch_session(session: AsyncSession, token: str, *, expired: bool) -> None:
    """Record activity on a session, or delete it when it has timed out."""
    if expired:
        await close_session(session, token)
        return
    row = await session.get(UserSession, digest(token))
    if row is not None:
        row.last_seen_at = utcnow()
        session.add(row)


async def close_session(session: AsyncSession, token: str) -> None:
    await session.exec(delete(UserSession).where(col(UserSession.id) == digest(token)))


# --- API tokens ----------------------------------------------------------------------------------


async def create_token(
    session: AsyncSession, name: str, scopes: list[TokenScope], actor: Actor
) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the one-time secret ``rf_<prefix>_<secret>``."""
    if not scopes:
        raise AccountError("token_needs_scope")
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    token = ApiToken(
        name=name,
        prefix=prefix,
        token_hash=digest(secret),
        scopes=",".join(sorted({str(s) for s in scopes})),
        created_by=actor.id if actor.kind == "user" else None,
        created_at=utcnow(),
    )
    session.add(token)
    await session.flush()
    await audit(
        session,
        actor,
        "token.create",
        target_type="api_token",
        target_id=token.id,
        after={"name": name, "scopes": token.scopes, "prefix": prefix},
    )
    return token, f"rf_{prefix}_{secret}"


async def resolve_token(session: AsyncSession, presented: str) -> ApiToken | None:
    """The live token behind a presented ``rf_<prefix>_<secret>`` string, compared in constant time."""
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != "rf":
        return None
    token = (await session.exec(select(ApiToken).where(ApiToken.prefix == parts[1]))).first()
    if token is None or token.revoked_at is not None:
        return None
    if not hmac.compare_digest(token.token_hash, digest(parts[2])):
        return None
    if token.created_by is not None:
        # A token acts for the person who made it: it stops while they are disabled.
        creator = await session.get(User, token.created_by)
        if creator is None or not creator.is_active:
            return None
    return token


async def list_tokens(session: AsyncSession) -> list[ApiToken]:
    return list((await session.exec(select(ApiToken).order_by(col(ApiToken.id)))).all())


async def revoke_token(session: AsyncSession, token_id: int, actor: Actor) -> ApiToken:
    token = await session.get(ApiToken, token_id)
    if token is None:
        raise AccountError("token_not_found")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.add(token)
        await audit(
            session,
            actor,
            "token.revoke",
            target_type="api_token",
            target_id=token.id,
            before={"revoked": False},
            after={"revoked": True},
        )
    return token


async def count_users(session: AsyncSession) -> int:
    return int((await session.exec(select(func.count()).select_from(User))).one())

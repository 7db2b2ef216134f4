"""Accounts: users and their roles, browser sessions, API tokens, login throttling, the audit log."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlmodel import Field, SQLModel

from app.dbtypes import json_field, utc_field


class Role(StrEnum):
    """What a person may do; see DESIGN.md "Who uses it"."""

    viewer = "viewer"
    operator = "operator"
    designer = "designer"
    #: 财务: reads finance and reports, keeps the finance settings, approves and exports vouchers, reconciles.
    finance = "finance"
    admin = "admin"


class TokenScope(StrEnum):
    """What a machine client may do with an API token: ``ingest`` deliver orders, ``read`` read the API,
    ``shipments`` confirm parcels as shipped (a WMS) and nothing else, ``admin`` everything."""

    ingest = "ingest"
    read = "read"
    shipments = "shipments"
    admin = "admin"


class UserBase(SQLModel):
    """Fields a user has that anyone with access may see."""

    username: str = Field(max_length=64, unique=True, index=True)
    display_name: str = Field(max_length=100)
    role: Role = Field(max_length=16)
    is_active: bool = True


class UserCreate(UserBase):
    """What an admin sends to create a user."""

    password: str = Field(min_length=8, max_length=256)


class UserUpdate(SQLModel):
    """What an admin may change on a user."""

    display_name: str | None = None
    role: Role | None = None
    is_active: bool | None = None
    password: str | None = Field(default=None, min_length=8, max_length=256)


class User(UserBase, table=True):
    """A person who logs in."""

    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    password_hash: str = Field(max_length=255)
    created_at: datetime = utc_field()
    last_login_at: datetime | None = utc_field(nullable=True)


class UserRead(UserBase):
    """A user as the API returns it (never the hash)."""

    id: int
    created_at: datetime
    last_login_at: datetime | None = None


class UserSession(SQLModel, table=True):
    """A server-side browser session. Only a hash of the cookie value is stored."""

    __tablename__ = "user_sessions"

    id: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    created_at: datetime = utc_field()
    last_seen_at: datetime = utc_field()
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=255)


class ApiToken(SQLModel, table=True):
    """A token for a machine client. The secret is shown once; only its hash is stored."""

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    prefix: str = Field(max_length=16, unique=True, index=True)
    token_hash: str = Field(max_length=64)
    scopes: str = Field(max_length=100)
    created_by: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    created_at: datetime = utc_field()
    last_used_at: datetime | None = utc_field(nullable=True)
    revoked_at: datetime | None = utc_field(nullable=True)

    @property
    def scope_set(self) -> set[str]:
        return {s for s in self.scopes.split(",") if s}


class LoginThrottle(SQLModel, table=True):
    """Failed logins per username and per client address, to slow down password guessing."""

    __tablename__ = "login_throttle"

    key: str = Field(primary_key=True, max_length=200)
    failures: int = 0
    first_failure_at: datetime = utc_field()
    locked_until: datetime | None = utc_field(nullable=True)


class AuditEntry(SQLModel, table=True):
    """One line of the append-only audit log: who did what, when, with the before and after."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = utc_field(index=True)
    actor_type: str = Field(max_length=16)  # user | token | system | anonymous
    actor_id: int | None = None
    actor_name: str = Field(max_length=100)
    action: str = Field(max_length=64, index=True)
    target_type: str | None = Field(default=None, max_length=64)
    target_id: str | None = Field(default=None, max_length=100)
    before: dict[str, Any] | None = json_field()
    after: dict[str, Any] | None = json_field()
    ip: str | None = Field(default=None, max_length=64)

"""Imports every table so that ``SQLModel.metadata`` is complete for Alembic and the tests."""

from __future__ import annotations

from sqlmodel import SQLModel

from app.domain.accounts.models import ApiToken, AuditEntry, LoginThrottle, User, UserSession
from app.domain.channels.models import Shop
from app.domain.fulfillment.models import Carrier
from app.domain.inventory.models import Sku, Warehouse
from app.outbox import OutboxMessage

metadata = SQLModel.metadata

__all__ = [
    "ApiToken",
    "AuditEntry",
    "Carrier",
    "LoginThrottle",
    "OutboxMessage",
    "Shop",
    "Sku",
    "User",
    "UserSession",
    "Warehouse",
    "metadata",
]

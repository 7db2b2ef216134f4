"""Column types shared by the models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlmodel import Field


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, whatever the database keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use UTC-aware times")
        value = value.astimezone(UTC)
        # SQLite keeps text: store it without the offset so string comparison orders correctly.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_field(*, nullable: bool = False, index: bool = False, default: Any = None, **kw: Any) -> Any:
    """A SQLModel field for a UTC timestamp column."""
    from sqlalchemy import Column

    return Field(default=default, sa_column=Column(UTCDateTime(), nullable=nullable, index=index), **kw)


def json_field(*, nullable: bool = True, default_factory: Any = None) -> Any:
    """A SQLModel field for a JSON column."""
    from sqlalchemy import Column

    if default_factory is not None:
        return Field(default_factory=default_factory, sa_column=Column(JSON, nullable=nullable))
    return Field(default=None, sa_column=Column(JSON, nullable=nullable))

"""Fulfillment: carriers. Rate tables, waybills and documents arrive with automatic processing."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class CarrierBase(SQLModel):
    """A courier company orders can be shipped with."""

    code: str = Field(max_length=32, unique=True, index=True)
    name: str = Field(max_length=100)
    supports_cold_chain: bool = False
    is_active: bool = True


class Carrier(CarrierBase, table=True):
    __tablename__ = "carriers"

    id: int | None = Field(default=None, primary_key=True)


class CarrierRead(CarrierBase):
    id: int

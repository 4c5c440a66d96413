"""Shared table conventions. The naming convention is set before any table is declared so that
Alembic generates stable constraint names on both databases."""

from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table
from sqlmodel import Field, SQLModel

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a table model (SQLModel sets ``__table__`` at class creation; type checkers
    do not see it)."""
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


def utcnow() -> datetime:
    return datetime.now(UTC)


def utc_iso(moment: datetime) -> str:
    """Fixed-width UTC ISO-8601 text; it sorts in time order as a string."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class OrgOwned(SQLModel):
    """Every row that belongs to an organization carries its ``org_id``; engine.tenancy filters on it."""

    org_id: int = Field(foreign_key="organization.id", index=True)

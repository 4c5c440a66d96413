"""Input versions of the inventory: every write that changes a year's inputs (readings, measured parameters,
production, sources and their factor choices) bumps its (organization, year) row in the same transaction,
so a rolled-back write bumps nothing and every process reads the same key (engine.carbon_data.cache)."""

import uuid
from collections.abc import Iterable

from sqlalchemy import bindparam
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, select

from engine.carbon_data.models import InventoryInputVersion
from engine.db import DriverStatement

EVERY_YEAR = 0  # the row bumped by changes that touch every year (a source, its factor choice)

_table = InventoryInputVersion.__table__  # type: ignore[attr-defined]


def bump_input_versions(session: Session, *, org_id: int, years: Iterable[int]) -> None:
    """Bump each year's version (EVERY_YEAR for all of them): one upsert per year, in sorted order so that
    concurrent writers lock rows in the same order."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    for year in sorted(set(years)):
        statement = insert(_table).values(org_id=org_id, year=year, version=1, stamp=uuid.uuid4().hex)
        statement = statement.on_conflict_do_update(
            index_elements=["org_id", "year"],
            set_={"version": _table.c.version + 1, "stamp": statement.excluded.stamp},
        )
        session.execute(statement)


def bump_for_periods(session: Session, *, org_id: int, periods: Iterable[str]) -> None:
    """Bump the years of these local months (YYYY-MM)."""
    bump_input_versions(session, org_id=org_id, years={int(period[:4]) for period in periods})


# Read on every inventory view: a prebuilt statement on the driver, the organization explicit.
_STAMPS = DriverStatement(
    select(_table.c.year, _table.c.stamp)
    .where(_table.c.org_id == bindparam("org_id"))
    .order_by(_table.c.year)
)


def all_input_stamps(session: Session, *, org_id: int) -> tuple[tuple[int, str], ...]:
    """Every year's (year, stamp) of the organization, in year order: the version of all its inputs."""
    return tuple((row.year, row.stamp) for row in _STAMPS.all(session.connection(), {"org_id": org_id}))


def input_stamps(session: Session, *, org_id: int, year: int) -> tuple[str | None, str | None]:
    """(every-year stamp, the year's stamp); None where nothing was written yet."""
    stamps = dict(all_input_stamps(session, org_id=org_id))
    return stamps.get(EVERY_YEAR), stamps.get(year)


def input_version(session: Session, *, org_id: int, year: int) -> int:
    """The year's counter (0: never written), for people and tests."""
    found = session.exec(
        select(InventoryInputVersion.version).where(
            InventoryInputVersion.org_id == org_id, InventoryInputVersion.year == year
        )
    ).first()
    return found or 0

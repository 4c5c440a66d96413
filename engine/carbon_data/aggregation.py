"""Monthly totals in one SQL statement.

On SQLite it is one range sum per (source, month) over the table's clustered key (org_id, source_id,
period_start): SQLite's GROUP BY loop costs about four times a plain range aggregate, and no per-row date
function runs. On PostgreSQL it is a GROUP BY on the UTC+8 month (``to_char``)."""

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session

from engine.carbon_data.models import EmissionSource, from_micro, reading_insert_table
from engine.carbon_data.parsing import month_bounds, month_start
from engine.models.base import table_of

_sources = table_of(EmissionSource)


# ---------------------------------------------------------------- aggregation


@dataclass(frozen=True, slots=True)
class MonthlyTotal:
    source_id: int
    period: str  # YYYY-MM (UTC+8 month)
    quantity: Decimal  # in the source's unit, exact


def monthly_totals(
    session: Session, *, org_id: int, year: int, source_ids: Iterable[int] | None = None
) -> list[MonthlyTotal]:
    """SUM(quantity) per source and month of ``year``, computed in the database in one statement."""
    connection = session.connection()
    only = sorted(set(source_ids)) if source_ids is not None else None
    totals: list[MonthlyTotal] = []
    if connection.dialect.name == "sqlite":
        months = month_bounds(year)
        sums = [
            sa.select(sa.func.sum(reading_insert_table.c.quantity))
            .where(
                reading_insert_table.c.org_id == org_id,
                reading_insert_table.c.source_id == _sources.c.id,
                reading_insert_table.c.period_start >= start,
                reading_insert_table.c.period_start < end,
            )
            .scalar_subquery()
            for _, start, end in months
        ]
        statement = sa.select(_sources.c.id, *sums).where(_sources.c.org_id == org_id).order_by(_sources.c.id)
        if only is not None:
            statement = statement.where(_sources.c.id.in_(only))
        for source_id, *values in connection.execute(statement):
            totals += [
                MonthlyTotal(source_id, label, from_micro(value))
                for (label, _, _), value in zip(months, values, strict=True)
                if value is not None
            ]
        return totals
    local_month = sa.func.to_char(
        sa.func.timezone("UTC", reading_insert_table.c.period_start) + sa.text("INTERVAL '8 hours'"),
        "YYYY-MM",
    ).label("period")
    statement = (
        sa.select(reading_insert_table.c.source_id, local_month, sa.func.sum(reading_insert_table.c.quantity))
        .where(
            reading_insert_table.c.org_id == org_id,
            reading_insert_table.c.period_start >= month_start(year, 1),
            reading_insert_table.c.period_start < month_start(year + 1, 1),
        )
        .group_by(reading_insert_table.c.source_id, local_month)
        .order_by(reading_insert_table.c.source_id, local_month)
    )
    if only is not None:
        statement = statement.where(reading_insert_table.c.source_id.in_(only))
    return [
        MonthlyTotal(source_id, period, from_micro(value))
        for source_id, period, value in connection.execute(statement)
    ]

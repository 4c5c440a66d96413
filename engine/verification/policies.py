"""A locked year refuses every change the carbon-data services announce (the grid, imports, the meter API,
measured parameters) and an inventory snapshot (it fixes the year's factor choice)."""

from sqlmodel import Session

from engine.carbon_data.events import MonthDataChanged, SnapshotRequested
from engine.events import policy
from engine.verification.locks import lock_message, locked_years, refuse_locked, years_of_periods


@policy(MonthDataChanged)
def a_locked_year_takes_no_data(event: MonthDataChanged, session: Session) -> None:
    refuse_locked(session, org_id=event.org_id, years=years_of_periods(event.periods))


@policy(SnapshotRequested)
def a_locked_year_takes_no_snapshot(event: SnapshotRequested, session: Session) -> None:
    if event.year in locked_years(session, org_id=event.org_id):
        event.blockers.append(lock_message(event.year))

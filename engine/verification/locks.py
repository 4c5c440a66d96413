"""The reporting years a verification closed: no write to a locked year's data, batches or inventory. Kept
free of the services it guards, so that each of them can ask it."""

from collections.abc import Iterable

from sqlmodel import Session, col, select

from engine.carbon_data.errors import DataIssue, EmissionsDataError
from engine.forms.spec import Text
from engine.verification.models import YearLock


def open_lock(session: Session, *, org_id: int, year: int) -> YearLock | None:
    return session.exec(
        select(YearLock).where(
            YearLock.org_id == org_id, YearLock.year == year, col(YearLock.unlocked_at).is_(None)
        )
    ).first()


def locked_years(session: Session, *, org_id: int) -> set[int]:
    rows = session.exec(
        select(YearLock.year).where(YearLock.org_id == org_id, col(YearLock.unlocked_at).is_(None))
    ).all()
    return set(rows)


def lock_message(year: int) -> Text:
    return Text(
        zh=f"{year} 年度已由核查关闭并锁定，不能再修改该年度的数据；如确需修改，须经两人确认解锁（填写原因）",
        en=f"{year} was closed by the verification and is locked: its data cannot change; unlocking needs a "
        "reason and a second person's confirmation",
    )


def refuse_locked(session: Session, *, org_id: int, years: Iterable[int]) -> None:
    """Raise (naming the month field) when any of ``years`` is locked."""
    locked = sorted(set(years) & locked_years(session, org_id=org_id))
    if locked:
        message = lock_message(locked[0])
        raise EmissionsDataError(
            [DataIssue(row=None, field="period", message_zh=message.zh, message_en=message.en)]
        )


def years_of_periods(periods: Iterable[str]) -> set[int]:
    """The years of YYYY-MM months (anything else is left to the caller's own checks)."""
    return {int(period[:4]) for period in periods if len(period) >= 4 and period[:4].isdigit()}

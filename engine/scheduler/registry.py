"""What a scheduled job is and what it gets. Jobs are sweeps: each run looks at everything due and acts on
what has not been claimed yet; ``JobContext.claim`` writes the idempotency row in the same transaction as
the action (ADR 0001, 0019), so an action happens once however often, and on however many instances, the
sweep runs. The list of jobs is ``engine.scheduler.jobs.JOBS``: a new job is one line appended there; a
process's own job (a hooks module's) is registered with ``register_job`` and runs after them."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from engine.config import Settings
from engine.forms.spec import Text
from engine.models.base import table_of
from engine.notifications.service import notify
from engine.records.display import CHINA_TIME
from engine.scheduler.models import INSTALLATION, SchedulerClaim

_claims = table_of(SchedulerClaim)


def insert_claim(session: Session, dialect: Any, values: dict[str, Any]) -> bool:
    """Insert a claim row unless it exists; whether this call inserted it. ``RETURNING`` tells, where the
    driver's ``rowcount`` does not (psycopg reports -1 for ``INSERT … ON CONFLICT DO NOTHING``)."""
    statement = dialect.insert(_claims).values(values).on_conflict_do_nothing().returning(_claims.c.id)
    return session.execute(statement).first() is not None


def delete_spent_claims(session: Session, *, jobs: Iterable[str], before: datetime) -> int:
    """Delete the installation's claims that only ever guarded their own moment: every job's slot rows and
    the rows of ``jobs`` (e.g. an alert's window), done before ``before``. Per-organization claims (a
    reminder sent for a task's rung) stay: they are what keeps an action from happening twice."""
    spent = (_claims.c.subject == "slot") | _claims.c.job.in_(sorted(set(jobs)))
    statement = delete(_claims).where(_claims.c.org_id == INSTALLATION, spent, _claims.c.done_at < before)
    return session.connection().execute(statement).rowcount or 0


@dataclass
class JobContext:
    """One job's run in one organization (``org_id`` 0 and an all-organizations session for a job of the
    installation), inside one unit of work."""

    job: str
    session: Session
    org_id: int
    now: datetime  # aware UTC
    settings: Settings
    _claimed: set[tuple[str, str]] | None = field(default=None, repr=False)

    @property
    def today(self) -> date:
        """The date in China."""
        return self.now.astimezone(CHINA_TIME).date()

    def claimed(self, subject: str, period: str) -> bool:
        """Whether (subject, period) was done already (one query per run, then a set)."""
        if self._claimed is None:
            rows = self.session.execute(
                select(_claims.c.subject, _claims.c.period).where(
                    _claims.c.job == self.job, _claims.c.org_id == self.org_id
                )
            ).all()
            self._claimed = {(subject, period) for subject, period in rows}
        return (subject, period) in self._claimed

    def claim(self, subject: str, period: str) -> bool:
        """Insert the idempotency row; False when it exists (done before, or by another instance now)."""
        if self.claimed(subject, period):
            return False
        values = {
            "job": self.job,
            "org_id": self.org_id,
            "subject": subject[:200],
            "period": period[:64],
            "done_at": self.now,
        }
        dialect: Any = postgresql if self.session.get_bind().dialect.name == "postgresql" else sqlite
        inserted = insert_claim(self.session, dialect, values)
        assert self._claimed is not None
        self._claimed.add((subject, period))
        return inserted

    def notify(
        self,
        *,
        user_ids: Iterable[int],
        kind: str,
        subject: Text,
        body: Text | None = None,
        record_id: int | None = None,
        urgent: bool = False,
    ) -> int:
        """In-app notifications (mailed later by the mail jobs), audited; how many were created."""
        return len(
            notify(
                self.session,
                user_ids=user_ids,
                kind=kind,
                subject=subject,
                body=body,
                record_id=record_id,
                urgent=urgent,
                now=self.now,
            )
        )


@dataclass(frozen=True)
class ScheduledJob:
    """``run`` yields one line per action, for a person (labels and China time, never keys). ``every``:
    how often the long-running scheduler starts it (one run per slot across all instances).
    ``per_org``: run once per organization, else once for the installation."""

    name: str
    label: Text
    run: Callable[[JobContext], Iterable[str]]
    every: timedelta = timedelta(minutes=1)
    per_org: bool = True

    def slot(self, now: datetime) -> datetime:
        """The start of the slot ``now`` falls in."""
        seconds = int(self.every.total_seconds())
        epoch = int(now.timestamp())
        return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


PROCESS_JOBS: list[ScheduledJob] = []


def register_job(job: ScheduledJob) -> ScheduledJob:
    """A process's hooks module adds its job once (by name); the runner runs it after the engine's jobs."""
    if all(known.name != job.name for known in PROCESS_JOBS):
        PROCESS_JOBS.append(job)
    return job

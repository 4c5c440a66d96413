"""Running the jobs: once as of a moment (``tanguan scheduler run-once``), or on an interval in a
long-running process where only the leader runs them (engine.scheduler.leader)."""

import logging
import time
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select

from engine.config import Settings
from engine.db import Database
from engine.events import load_policy_modules
from engine.identity.models import Organization
from engine.models.base import table_of
from engine.observability import job_ran
from engine.scheduler.clock import scheduler_now
from engine.scheduler.leader import Leadership
from engine.scheduler.models import INSTALLATION, SchedulerClaim
from engine.scheduler.registry import PROCESS_JOBS, JobContext, ScheduledJob, insert_claim

log = logging.getLogger("tanguan.scheduler")
_claims = table_of(SchedulerClaim)


def _claim_slot(db: Database, job: ScheduledJob, now: datetime) -> bool:
    """One run of the job per slot across every instance."""
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    values = {
        "job": job.name,
        "org_id": INSTALLATION,
        "subject": "slot",
        "period": job.slot(now).isoformat(),
        "done_at": now,
    }
    with db.unit_of_work(all_orgs=True) as uow:
        return insert_claim(uow.session, dialect, values)


def run_jobs(
    db: Database,
    *,
    now: datetime,
    settings: Settings,
    jobs: Sequence[ScheduledJob] | None = None,
    per_slot: bool = False,
) -> list[str]:
    """Every job as of ``now`` (aware); one line per action. ``per_slot``: skip a job whose slot another
    run (another instance) took already."""
    from engine.scheduler.jobs import JOBS

    load_policy_modules()  # the hooks modules register the processes' own jobs (PROCESS_JOBS)

    with db.read_session(all_orgs=True) as session:
        found = session.exec(
            select(Organization.id, Organization.name, Organization.slug).order_by(col(Organization.id))
        ).all()
    orgs = [(org_id, name) for org_id, name, _ in found if org_id is not None]
    slugs = {org_id: slug for org_id, _, slug in found if org_id is not None}
    lines: list[str] = []
    for job in [*JOBS, *PROCESS_JOBS] if jobs is None else jobs:
        if per_slot:
            if not _claim_slot(db, job, now):
                continue
            log.info("scheduler: slot %s %s taken", job.name, job.slot(now).isoformat())  # T25 counts these
        targets = orgs if job.per_org else [(INSTALLATION, "")]
        period = job.slot(now).isoformat()
        for org_id, org_name in targets:
            label = f"{job.label.zh} {job.label.en}"
            prefix = f"{org_name} · {label}" if org_name else label
            started, outcome = time.perf_counter(), "ok"
            try:
                with db.unit_of_work(org_id=org_id if job.per_org else None, all_orgs=not job.per_org) as uow:
                    context = JobContext(
                        job=job.name, session=uow.session, org_id=org_id, now=now, settings=settings
                    )
                    done = [f"{prefix} · {line}" for line in job.run(context)]
            except Exception as exc:  # one job's failure stops neither the others nor the process
                log.exception("job %s failed in org %s", job.name, org_id)
                done, outcome = [f"{prefix} · 失败 failed: {type(exc).__name__}: {exc}"], "failed"
            job_ran(
                job=job.name,
                org=slugs.get(org_id, ""),
                period=period,
                outcome=outcome,
                actions=len(done) if outcome == "ok" else 0,
                seconds=time.perf_counter() - started,
            )
            lines.extend(done)
    return lines


def tick(
    db: Database,
    *,
    settings: Settings,
    leadership: Leadership,
    now: datetime | None = None,
    jobs: Sequence[ScheduledJob] | None = None,
) -> list[str]:
    """One beat of the long-running scheduler: the leader runs the jobs whose slot is free, as of the
    scheduler's clock (engine.scheduler.clock)."""
    if not leadership.acquire():
        return []
    lines = run_jobs(db, now=now or scheduler_now(settings), settings=settings, jobs=jobs, per_slot=True)
    for line in lines:
        log.info("%s", line)
    return lines

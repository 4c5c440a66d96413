"""The scheduler's simulated clock (T25): real time by default; start + elapsed × speed from the anchor."""

import logging
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import text

from engine.config import Settings
from engine.scheduler.clock import scheduler_now
from engine.scheduler.jobs import JOBS
from engine.scheduler.leader import Leadership
from engine.scheduler.registry import JobContext
from engine.scheduler.runner import _claim_slot, tick
from tests.scheduler.conftest import at

REAL = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_without_a_simulated_clock_the_scheduler_reads_the_real_time():
    assert scheduler_now(Settings(), real=REAL) == REAL


def test_a_simulated_clock_runs_at_its_speed_from_the_anchor_and_waits_before_it():
    settings = Settings(
        scheduler_clock_start=at("2027-03-15T23:30"), scheduler_clock_anchor=REAL, scheduler_clock_speed=20
    )
    assert scheduler_now(settings, real=REAL - timedelta(seconds=30)) == at("2027-03-15T23:30")
    assert scheduler_now(settings, real=REAL) == at("2027-03-15T23:30")
    assert scheduler_now(settings, real=REAL + timedelta(seconds=3)) == at("2027-03-15T23:31")
    assert scheduler_now(settings, real=REAL + timedelta(seconds=30)) == at("2027-03-15T23:40")


def test_no_anchor_freezes_the_clock_at_its_start():
    settings = Settings(scheduler_clock_start=at("2027-03-15T23:30"))
    assert scheduler_now(settings, real=REAL) == scheduler_now(settings) == at("2027-03-15T23:30")


def test_a_simulated_clock_needs_an_offset(monkeypatch):
    monkeypatch.setenv("TANGUAN_SCHEDULER_CLOCK_START", "2027-03-15T23:30")
    with pytest.raises(ValidationError, match="needs a UTC offset"):
        Settings()
    monkeypatch.setenv("TANGUAN_SCHEDULER_CLOCK_START", "2027-03-15T23:30:00+08:00")
    assert Settings().scheduler_clock_start == at("2027-03-15T23:30")


def test_a_beat_takes_each_job_s_slot_of_the_simulated_clock_once_and_logs_it(db, caplog):
    settings = Settings(
        scheduler_clock_start=at("2027-03-15T23:30:10"),
        scheduler_clock_anchor=datetime.now(UTC) + timedelta(days=1),
    )
    leadership = Leadership(db, key=991_002)
    try:
        with caplog.at_level(logging.INFO, logger="tanguan.scheduler"):
            tick(db, settings=settings, leadership=leadership, jobs=[JOBS[0]])
            tick(db, settings=settings, leadership=leadership, jobs=[JOBS[0]])  # the same slot: skipped
    finally:
        leadership.release()
    taken = [r.getMessage() for r in caplog.records if "slot" in r.getMessage()]
    assert taken == [f"scheduler: slot reminders {at('2027-03-15T23:30').astimezone(UTC).isoformat()} taken"]
    with db.engine.connect() as connection:
        periods = connection.execute(
            text("SELECT period FROM scheduler_claim WHERE subject = 'slot'")
        ).scalars()
        assert list(periods) == [at("2027-03-15T23:30").astimezone(UTC).isoformat()]


def test_a_claim_another_run_inserted_first_is_refused_on_every_backend(db):
    """What two instances racing for one action see: the second insert reports False (psycopg's rowcount is
    -1 for ``ON CONFLICT DO NOTHING``, so the claim asks ``RETURNING``)."""
    now = at("2027-03-15T23:30")
    results = []
    for _ in range(2):
        with db.unit_of_work(all_orgs=True) as uow:
            context = JobContext(job="t", session=uow.session, org_id=0, now=now, settings=Settings())
            results.append(context.claim("task:1", "+0:2027-03-15"))
    assert results == [True, False]
    assert [_claim_slot(db, JOBS[0], now) for _ in range(2)] == [True, False]


def test_spent_slot_and_alert_claims_are_deleted_after_a_week_and_action_claims_kept(db):
    """The hourly claims clean-up: slot rows and alert-window rows a week old go; a per-organization action's
    claim (what keeps a reminder from being sent twice) stays whatever its age."""
    from engine.scheduler.runner import run_jobs

    old, recent = at("2027-03-01T10:00"), at("2027-03-14T10:00")
    for when in (old, recent):
        _claim_slot(db, JOBS[0], when)
        with db.unit_of_work(all_orgs=True) as uow:
            for job, org_id, subject in (("security_alert", 0, "account:a@b.c"), ("reminders", 1, "task:1")):
                context = JobContext(
                    job=job, session=uow.session, org_id=org_id, now=when, settings=Settings()
                )
                assert context.claim(subject, when.isoformat())
    cleanup = [job for job in JOBS if job.name == "claims_cleanup"]
    lines = run_jobs(db, now=at("2027-03-15T10:00"), settings=Settings(), jobs=cleanup)
    assert lines == [
        "清理过期的调度记录 Spent scheduler claims cleaned up · 删除 2 条 7 天前的调度时段与警报窗口记录"
    ]
    with db.engine.connect() as connection:
        left = connection.execute(
            text("SELECT job, subject FROM scheduler_claim ORDER BY job, subject, id")
        ).all()
    # the recent slot and alert rows, and both reminder claims, old and recent
    assert sorted((job, subject) for job, subject in left) == sorted(
        [
            ("reminders", "slot"),
            ("reminders", "task:1"),
            ("reminders", "task:1"),
            ("security_alert", "account:a@b.c"),
        ]
    )

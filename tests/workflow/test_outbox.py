"""The event outbox (docs/adr/0045): every event written in the transaction that causes it, marked once its
subscribers took it, redelivered by the scheduler when the process did not get to it, at least once — and
subscribers safe to meet an event twice. (A process killed right after COMMIT: tests/engine/
test_fault_injection.py.)"""

import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from engine.config import Settings
from engine.events import MAX_ATTEMPTS, MAX_DEPTH, DomainEvent, first_receipt
from engine.models.base import utcnow
from engine.models.outbox import EventOutbox
from engine.records.display import CHINA_TIME
from engine.records.event_starts import EventStarts
from engine.scheduler.jobs import JOBS
from engine.scheduler.runner import run_jobs
from tests.workflow.test_events import _catalog_with_follow_up
from tests.workflow.test_nonconformity import REPORT, fire, new_nc

REDELIVERY = [job for job in JOBS if job.name == "outbox_redelivery"]
CLEANUP = [job for job in JOBS if job.name == "outbox_cleanup"]


def outbox(shop) -> list[dict]:
    with shop.db.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT id, name, org_id, dispatched_at, attempts, last_error FROM event_outbox "
                "WHERE org_id = :org ORDER BY id"
            ),
            {"org": shop.org_id},
        ).mappings()
        return [dict(row) for row in rows]


def redeliver(shop, after: timedelta) -> list[str]:
    """The scheduler's redelivery as of ``after`` from now, told in China time (as `run-once --at` does)."""
    now = (utcnow() + after).astimezone(CHINA_TIME)
    return run_jobs(shop.db, now=now, settings=Settings(), jobs=REDELIVERY)


def test_an_event_of_a_rolled_back_unit_of_work_leaves_no_row(shop):
    from engine.workflow.lifecycle import create_record

    seen = []
    shop.db.subscribe(lambda event, _db: seen.append(event))
    before = outbox(shop)
    with pytest.raises(RuntimeError), shop.db.unit_of_work(org_id=shop.org_id) as uow:
        create_record(
            uow.session,
            workflow=shop.catalog.get("nonconformity"),
            org_id=shop.org_id,
            actor=shop.people["staff"],
            form_data=REPORT,
        )
        assert len(outbox(shop)) == len(before)  # not visible before COMMIT either
        raise RuntimeError("the transaction fails after the event")
    assert outbox(shop) == before and seen == []


def test_a_committed_event_is_dispatched_once_and_marked(shop):
    seen = []
    shop.db.subscribe(lambda event, _db: seen.append(event))
    nc = new_nc(shop)
    [row] = outbox(shop)
    assert [(e.name, e.id, e.payload["record_id"]) for e in seen] == [("nonconformity.create", row["id"], nc)]
    assert row["dispatched_at"] is not None and (row["attempts"], row["last_error"]) == (1, None)
    assert redeliver(shop, timedelta(hours=1)) == [] and len(seen) == 1


def test_an_undispatched_event_is_redelivered_once_after_the_grace_period(shop):
    new_nc(shop)  # no subscriber in this process: the row waits for one that has them
    [row] = outbox(shop)
    assert row["dispatched_at"] is None and row["attempts"] == 0
    assert redeliver(shop, timedelta(hours=1)) == []  # nor does this process's scheduler take it
    seen = []
    shop.db.subscribe(lambda event, _db: seen.append(event.id))
    assert redeliver(shop, timedelta(seconds=10)) == []  # within the grace period: a live process's turn
    lines = redeliver(shop, timedelta(seconds=61))
    assert seen == [row["id"]] and lines[0].endswith("补发 1 个未分发的事件")
    assert outbox(shop)[0]["dispatched_at"] is not None and outbox(shop)[0]["attempts"] == 1
    assert redeliver(shop, timedelta(hours=2)) == [] and seen == [row["id"]]


def test_a_failing_subscriber_keeps_its_error_and_the_event_is_retried_up_to_the_cap(shop):
    def mail(_event, _db):
        raise ValueError("mail server down")

    delivered, effects = [], []

    def counting(event, db):  # idempotent: its effect and its receipt in one transaction
        delivered.append(event.id)
        with db.unit_of_work(org_id=event.org_id) as uow:
            if first_receipt(uow.session, event, consumer="counting"):
                effects.append(event.id)

    shop.db.subscribe(mail)
    shop.db.subscribe(counting)
    new_nc(shop)
    [row] = outbox(shop)
    assert row["dispatched_at"] is None and row["attempts"] == 1 and "mail server down" in row["last_error"]
    for minute in range(1, 40):  # the waits double: 1, 2, 4 and 8 minutes after each failed delivery
        redeliver(shop, timedelta(minutes=minute))
    [row] = outbox(shop)
    assert row["attempts"] == MAX_ATTEMPTS and row["dispatched_at"] is None and "mail" in row["last_error"]
    assert delivered == [row["id"]] * MAX_ATTEMPTS  # at least once: every delivery reached every subscriber
    assert effects == [row["id"]]  # and the receipt made the effect happen once


def test_a_loop_of_events_stops_and_the_scheduler_does_not_restart_it(shop):
    shop.db.subscribe(lambda _event, _db: new_nc(shop))  # every event causes another
    new_nc(shop)
    rows = outbox(shop)
    assert len(rows) == MAX_DEPTH + 1 and all(row["dispatched_at"] for row in rows[:-1])
    given_up = rows[-1]
    assert given_up["dispatched_at"] is None and given_up["attempts"] == MAX_ATTEMPTS
    assert "nested too deep" in given_up["last_error"]
    assert redeliver(shop, timedelta(hours=1)) == [] and len(outbox(shop)) == MAX_DEPTH + 1


def test_an_event_started_record_is_started_once_however_often_its_event_comes(shop, tmp_path):
    catalog = _catalog_with_follow_up(tmp_path, "nonconformity.assess")
    with shop.db.unit_of_work(all_orgs=True) as uow:
        catalog.register(uow.session)
    starts = EventStarts(catalog)
    shop.catalog = catalog
    nc = new_nc(shop)
    fire(shop, nc, "assess", "quality", {"severity": "minor", "containment": "复测"})  # no subscriber yet
    shop.db.subscribe(starts)
    lines = redeliver(shop, timedelta(minutes=2))  # the assess redelivered; the create wanted by none
    assert lines[0].endswith("补发 1 个未分发的事件")
    create, assess, started = outbox(shop)
    assert started["name"] == "nc_follow_up.create" and started["dispatched_at"] is not None
    assert create["dispatched_at"] is not None and create["attempts"] == 0  # marked, published to nobody
    assert assess["dispatched_at"] is not None and assess["attempts"] == 1
    new_nc(shop)  # an event no subscriber wants: written dispatched, no write after COMMIT
    assert outbox(shop)[-1]["dispatched_at"] is not None and outbox(shop)[-1]["attempts"] == 0
    with shop.db.read_session(org_id=shop.org_id) as session:
        payload = session.get(EventOutbox, assess["id"]).payload
    again = DomainEvent("nonconformity.assess", shop.org_id, payload, assess["id"])
    starts(again, shop.db)  # delivered a second time (a dispatcher died before marking the row)
    with shop.db.engine.connect() as connection:
        count = "SELECT count(*) FROM record WHERE workflow_key = 'nc_follow_up'"
        assert connection.execute(text(count)).scalar() == 1


def test_dispatched_events_are_deleted_after_the_retention_and_undispatched_ones_kept(shop):
    new_nc(shop)  # undispatched (no subscriber)
    shop.db.subscribe(lambda _event, _db: None)
    new_nc(shop)  # dispatched
    settings = Settings(outbox_retention_days=30)
    assert run_jobs(shop.db, now=utcnow() + timedelta(days=29), settings=settings, jobs=CLEANUP) == []
    lines = run_jobs(shop.db, now=utcnow() + timedelta(days=31), settings=settings, jobs=CLEANUP)
    assert lines[0].endswith("删除 1 条 30 天前已分发的事件")
    [kept] = outbox(shop)
    assert kept["dispatched_at"] is None


def test_the_outbox_is_an_organization_table_under_row_level_security(shop):
    if not shop.db.url.startswith("postgresql"):
        pytest.skip("row-level security is PostgreSQL's")
    with shop.db.engine.connect() as connection:
        forced = connection.execute(
            text(
                "SELECT relname FROM pg_class WHERE relname IN ('event_outbox', 'event_receipt') "
                "AND relrowsecurity AND relforcerowsecurity ORDER BY relname"
            )
        ).scalars()
        assert list(forced) == ["event_outbox", "event_receipt"]


def test_the_scheduler_process_takes_the_rows_a_process_without_subscribers_left(shop, tmp_path):
    new_nc(shop)  # no subscriber here: the row waits
    assert outbox(shop)[0]["dispatched_at"] is None
    at = (utcnow() + timedelta(minutes=2)).astimezone(CHINA_TIME).strftime("%Y-%m-%dT%H:%M")
    env = {key: value for key, value in os.environ.items() if not key.startswith("TANGUAN_")}
    env |= {
        "TANGUAN_DATABASE_URL": shop.db.url,
        "TANGUAN_DATA_DIR": str(tmp_path / "var"),
        "TANGUAN_SECRET_KEY": "test-outbox-installation-key-0123456789",
    }
    tanguan = str(Path(sys.executable).with_name("tanguan"))
    done = subprocess.run(
        [tanguan, "scheduler", "run-once", "--at", at], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    # The scheduler subscribes the app's subscribers; none of the shipped workflows starts on this event, so
    # the row is marked without being published.
    assert outbox(shop)[0]["dispatched_at"] is not None and outbox(shop)[0]["attempts"] == 0


def test_the_wait_between_failed_deliveries_doubles(shop):
    """After the n-th failed delivery the next waits grace × 2^(n-1): 1, 2, 4, 8 minutes."""
    new_nc(shop)  # no subscriber yet: the row waits undelivered
    seen = []
    shop.db.subscribe(lambda event, _db: seen.append(event.id))
    for failed, wait in ((1, 1), (2, 2), (3, 4), (4, 8)):
        with shop.db.write_engine.begin() as connection:
            connection.execute(
                text(
                    "UPDATE event_outbox SET attempts = :n, attempted_at = :now, created_at = :day_ago, "
                    "dispatched_at = NULL"
                ),
                {"n": failed, "now": utcnow(), "day_ago": utcnow() - timedelta(days=1)},
            )
        assert redeliver(shop, timedelta(minutes=wait, seconds=-5)) == [], (failed, wait)
        assert redeliver(shop, timedelta(minutes=wait, seconds=5)), (failed, wait)
    assert len(seen) == 4


def test_an_operator_sees_the_given_up_events_and_retries_them(shop, monkeypatch):
    from engine.events import given_up_events, outbox_backlog, retry_given_up

    failing = True

    def mail(_event, _db):
        if failing:
            raise ValueError("mail server down")

    shop.db.subscribe(mail)
    new_nc(shop)
    for minute in range(1, 40):
        redeliver(shop, timedelta(minutes=minute))
    with shop.db.read_session(all_orgs=True) as session:
        [stopped] = given_up_events(session, limit=10)
        assert outbox_backlog(session) == {"waiting": 0, "given_up": 1}
    assert stopped.attempts == MAX_ATTEMPTS and "mail server down" in (stopped.last_error or "")
    failing = False  # the mail server is back
    with shop.db.unit_of_work(all_orgs=True) as uow:
        assert retry_given_up(uow.session, ids=[stopped.id]) == 1
    redeliver(shop, timedelta(minutes=41))
    [row] = outbox(shop)
    assert row["dispatched_at"] is not None and row["last_error"] is None
    with shop.db.read_session(all_orgs=True) as session:
        assert given_up_events(session, limit=10) == [] and outbox_backlog(session) == {
            "waiting": 0,
            "given_up": 0,
        }


def test_the_operators_command_lists_given_up_events_and_retries_them(shop, tmp_path):
    new_nc(shop)
    with shop.db.write_engine.begin() as connection:
        connection.execute(
            text("UPDATE event_outbox SET attempts = :n, last_error = 'ValueError: mail server down'"),
            {"n": MAX_ATTEMPTS},
        )
    [row] = outbox(shop)
    env = {key: value for key, value in os.environ.items() if not key.startswith("TANGUAN_")}
    env |= {
        "TANGUAN_DATABASE_URL": shop.db.url,
        "TANGUAN_DATA_DIR": str(tmp_path / "var"),
        "TANGUAN_SECRET_KEY": "test-outbox-installation-key-0123456789",
    }
    tanguan = str(Path(sys.executable).with_name("tanguan"))

    def run(*args: str) -> str:
        done = subprocess.run(
            [tanguan, "scheduler", "outbox", *args], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    listed = run()
    assert "已放弃 1 个" in listed and f"#{row['id']}" in listed and "mail server down" in listed
    assert re.search(rf"#{row['id']}  \d{{4}}-\d\d-\d\d \d\d:\d\d  ", listed)  # China time, no ISO "T"
    assert "重新投递 1 个事件" in run("--retry", str(row["id"]))
    assert outbox(shop)[0]["attempts"] == 0
    assert "已放弃 0 个" in run()

"""Recurring starts, mail over a real local SMTP server, evidence cleanup, review hooks and the leader
lock — each with a frozen clock."""

import os
import socket
from datetime import date
from pathlib import Path

import pytest
import yaml
from aiosmtpd.controller import Controller
from sqlalchemy import text

from engine.config import Settings
from engine.forms.spec import Text
from engine.scheduler.leader import Leadership
from engine.scheduler.reviews import ReviewDue, ReviewHook, register_review, unregister_review
from engine.scheduler.starts import last_fire
from engine.workflow.catalog import WorkflowCatalog
from engine.workflow.lifecycle import PROCESS_CONTEXT, ProcessContext
from engine.workflow.loader import WorkflowFileError, load_workflows
from tests.scheduler.conftest import REPORT, at, notices, run
from tests.scheduler.test_deadlines import report

ROOT = Path(__file__).resolve().parents[2]


def scheduled_catalog(tmp_path, schedule) -> WorkflowCatalog:
    spec = yaml.safe_load((ROOT / "workflows/nonconformity.yaml").read_text(encoding="utf-8"))
    spec.update(key="monthly_check", numbering="MC-{year}-{seq:04}")
    spec["start"] = {
        "kind": "schedule",
        "form": "nc_report",
        "schedule": schedule,
        "record": {"title": "title"},
    }
    (tmp_path / "monthly_check.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return WorkflowCatalog(load_workflows(tmp_path))


def use(shop, catalog):
    shop.db.session_info[PROCESS_CONTEXT] = ProcessContext(catalog, "k" * 40)
    with shop.db.unit_of_work(all_orgs=True) as uow:
        catalog.register(uow.session)


def started(lines):
    return [line for line in lines if "定期启动" in line]


def test_a_calendar_rule_starts_one_record_per_slot_and_missed_slots_coalesce(shop, tmp_path):
    use(shop, scheduled_catalog(tmp_path, {"cron": "0 9 1 * *", "data": REPORT}))
    may = started(run(shop.db, "2027-05-20T10:00"))  # March, April and May passed unseen: one record
    assert len(may) == 1 and "MC-2027-0001" in may[0]
    assert started(run(shop.db, "2027-05-25T10:00")) == []
    assert started(run(shop.db, "2027-06-01T08:59")) == []
    june = started(run(shop.db, "2027-06-01T09:00"))
    assert len(june) == 1 and "MC-2027-0002" in june[0]
    assert started(run(shop.db, "2027-06-01T09:00")) == []


def test_last_fire_is_the_latest_slot_at_or_before_the_moment():
    assert last_fire("0 9 1 * *", now=at("2027-05-20T10:00")) == at("2027-05-01T09:00")
    assert last_fire("0 9 1 * *", now=at("2027-05-01T09:00")) == at("2027-05-01T09:00")
    assert last_fire("* * * * *", now=at("2027-05-01T09:00:30")) == at("2027-05-01T09:00")


def test_every_n_months_after_the_last_completion(shop, tmp_path):
    use(shop, scheduled_catalog(tmp_path, {"every_months": 3, "data": REPORT}))
    assert len(started(run(shop.db, "2027-01-10T09:00"))) == 1  # the first one at once
    assert started(run(shop.db, "2027-06-10T09:00")) == []  # still open
    with shop.db.engine.begin() as connection:  # closed on 2027-02-15 (China time)
        connection.execute(
            text("UPDATE record SET closed_at = :t, state = 'closed' WHERE workflow_key = 'monthly_check'"),
            {"t": at("2027-02-15T10:00")},
        )
        connection.execute(text("UPDATE task SET closed_at = :t"), {"t": at("2027-02-15T10:00")})
    assert started(run(shop.db, "2027-05-14T09:00")) == []
    assert len(started(run(shop.db, "2027-05-15T09:00"))) == 1
    assert started(run(shop.db, "2027-05-15T09:00")) == []


@pytest.mark.parametrize(
    ("schedule", "kind", "problem"),
    [
        ({"cron": "61 9 1 * *"}, "schedule", "is not a cron rule"),
        (None, "schedule", "needs 'schedule:'"),
        ({"cron": "0 9 1 * *", "every_months": 2}, "schedule", "exactly one of cron"),
        ({"every_months": 0}, "schedule", "greater than or equal to 1"),
        ("0 9 1 * *", "manual", "only read when 'kind: schedule'"),
        ({"cron": "0 9 1 * *", "data": {"nope": "x"}}, "schedule", "no field 'nope'"),
        ({"every_months": 12, "only_if": "nope"}, "schedule", "unknown condition 'nope'"),
    ],
)
def test_the_loader_refuses_a_bad_schedule_with_a_clear_message(tmp_path, schedule, kind, problem):
    spec = yaml.safe_load((ROOT / "workflows/nonconformity.yaml").read_text(encoding="utf-8"))
    spec["start"] = {"kind": kind, "form": "nc_report"} | ({"schedule": schedule} if schedule else {})
    (tmp_path / "x.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    with pytest.raises(WorkflowFileError) as refused:
        load_workflows(tmp_path)
    assert problem in str(refused.value)


def test_a_reminder_rung_needs_one_offset_and_one_recipient(tmp_path):
    spec = yaml.safe_load((ROOT / "workflows/nonconformity.yaml").read_text(encoding="utf-8"))
    spec["states"]["reported"]["reminders"] = [{"before_days": 2, "after_days": 1, "to": "assignee"}]
    (tmp_path / "x.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    with pytest.raises(WorkflowFileError, match="exactly one of before_days and after_days"):
        load_workflows(tmp_path)


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()  # returns once the server answers
    yield inbox, port
    controller.stop()


def test_an_escalation_is_mailed_at_once_and_the_rest_in_the_daily_digest(shop, smtp):
    inbox, port = smtp
    settings = Settings(
        smtp_host="127.0.0.1", smtp_port=port, smtp_from="tanguan@shop.example", digest_hour=8
    )
    with shop.db.engine.begin() as connection:
        connection.execute(text("UPDATE user_account SET locale = 'en' WHERE display_name = 'gm'"))
    report(shop, on=date(2027, 3, 1))
    run(shop.db, "2027-03-04T07:00", settings)  # a reminder: for the digest, not before 08:00
    assert inbox.messages == []
    run(shop.db, "2027-03-04T08:30", settings)
    assert [m.rcpt_tos for m in inbox.messages] == [["quality@shop.example"]]
    run(shop.db, "2027-03-04T09:30", settings)  # the same day: no second digest
    assert len(inbox.messages) == 1
    run(shop.db, "2027-03-09T07:00", settings)  # escalated to top management: mailed at once
    escalation = inbox.messages[-1]
    assert escalation.rcpt_tos == ["gm@shop.example"]
    assert b"Escalated" in escalation.content  # in gm's language
    assert len(notices(shop.db)) == 2


def test_orphaned_evidence_files_older_than_the_grace_period_are_removed(shop, tmp_path):
    settings = Settings(data_dir=tmp_path, evidence_orphan_grace_hours=24)
    old = tmp_path / "evidence" / "ab" / ("ab" + "0" * 62)
    new = tmp_path / "evidence" / "cd" / ("cd" + "0" * 62)
    for path in (old, new):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    os.utime(old, (at("2027-03-01T09:00").timestamp(),) * 2)
    os.utime(new, (at("2027-03-02T08:00").timestamp(),) * 2)
    lines = run(shop.db, "2027-03-02T10:00", settings)
    assert [line for line in lines if "孤立" in line] and not old.exists() and new.exists()


def test_a_periodic_review_hook_notifies_once_per_period(shop):
    quality = shop.people["quality"].id
    register_review(
        ReviewHook(
            name="test_manual",
            label=Text(zh="手册评审", en="Manual review"),
            due=lambda session, today: [
                ReviewDue("manual", str(today.year), Text(zh="年度评审", en="Annual review"), (quality,))
            ],
        )
    )
    try:
        assert len([line for line in run(shop.db, "2027-03-02T10:00") if "手册评审" in line]) == 1
        assert not [line for line in run(shop.db, "2027-09-02T10:00") if "手册评审" in line]
        assert len([line for line in run(shop.db, "2028-01-02T10:00") if "手册评审" in line]) == 1
    finally:
        unregister_review("test_manual")


def test_one_leader_and_failover_when_it_dies(db):
    if db.is_sqlite:
        pytest.skip("one instance on SQLite: it always leads")
    instances = [Leadership(db, key=991_001) for _ in range(3)]
    try:
        assert [instance.acquire() for instance in instances] == [True, False, False]
        instances[0]._connection.invalidate()  # the leader's process dies: its connection closes
        instances[0]._connection = None
        assert [instances[1].acquire(), instances[2].acquire()] == [True, False]
    finally:
        for instance in instances:
            instance.release()

"""The reminder ladder and overdue notices, with a frozen clock: each rung once, missed rungs coalesced."""

from datetime import date

from sqlalchemy import text

from engine.workflow.lifecycle import create_record
from tests.scheduler.conftest import REPORT, notices, run


def report(shop, *, on: date) -> int:
    with shop.db.unit_of_work(org_id=shop.org_id) as uow:
        record = create_record(
            uow.session,
            workflow=shop.catalog.get("nonconformity"),
            org_id=shop.org_id,
            actor=shop.people["staff"],
            form_data=REPORT,
            today=on,
        )
        return record.id


def test_each_rung_of_the_ladder_fires_once_on_its_day(shop):
    report(shop, on=date(2027, 3, 1))  # reported: due in 5 days, on 2027-03-06
    assert run(shop.db, "2027-03-03T09:00") == []  # before the first rung (2 days before)
    first = run(shop.db, "2027-03-04T09:00")
    assert len(first) == 1 and "将于 2027-03-06 到期" in first[0] and "提醒与升级" in first[0]
    assert run(shop.db, "2027-03-04T09:00") == [] and run(shop.db, "2027-03-05T18:00") == []
    assert len(run(shop.db, "2027-03-06T09:00")) == 1  # due today, to the assignee (here the owner role)
    assert len(run(shop.db, "2027-03-07T09:00")) == 1  # a day late: the owner role
    escalated = run(shop.db, "2027-03-09T09:00")  # three days late: top management
    assert len(escalated) == 1 and "升级" in escalated[0] and "gm" in escalated[0]
    assert run(shop.db, "2027-03-30T09:00") == []  # the ladder has no more rungs
    assert notices(shop.db) == [
        ("quality", "reminder", False),
        ("quality", "reminder", False),
        ("quality", "escalation", True),  # after the due date to the owner role: an escalation
        ("gm", "escalation", True),
    ]


def test_rungs_missed_while_the_scheduler_was_down_coalesce_into_the_latest(shop):
    report(shop, on=date(2027, 3, 1))
    lines = run(shop.db, "2027-03-20T09:00")
    assert len(lines) == 1 and "已逾期 14 天" in lines[0]
    assert notices(shop.db) == [("gm", "escalation", True)]
    assert run(shop.db, "2027-03-20T09:00") == []


def test_every_notification_is_in_the_audit_trail(shop):
    report(shop, on=date(2027, 3, 1))
    run(shop.db, "2027-03-09T09:00")
    with shop.db.engine.connect() as connection:
        audited = connection.execute(
            text(
                "SELECT count(*) FROM audit_event WHERE subject_type = 'notification' AND action = 'notified'"
            )
        ).scalar()
    assert audited == len(notices(shop.db)) == 1


def test_a_closed_task_is_not_reminded(shop):
    record_id = report(shop, on=date(2027, 3, 1))
    with shop.db.engine.begin() as connection:
        connection.execute(
            text("UPDATE task SET closed_at = CURRENT_TIMESTAMP WHERE record_id = :id"), {"id": record_id}
        )
    assert run(shop.db, "2027-03-09T09:00") == []

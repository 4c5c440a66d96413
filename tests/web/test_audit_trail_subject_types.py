"""The trail's subject-type filter lists exactly the types in the organization's trail (read by index seeks,
not a DISTINCT over the whole trail), on SQLite and PostgreSQL."""

from sqlalchemy import text

from engine.audit import SYSTEM, append_event
from engine.audit_trail.service import subject_types


def test_subject_types_are_the_distinct_types_of_the_organizations_trail(web):
    with web.db.engine.connect() as connection:
        org_id, other_id = connection.execute(
            text("SELECT id FROM organization ORDER BY id LIMIT 2")
        ).scalars()
    with web.db.unit_of_work(org_id=other_id) as uow:  # another organization's type must not appear
        append_event(
            uow.session, org_id=other_id, actor=SYSTEM, subject_type="zz_other", subject_id=1, action="x"
        )
    with web.db.read_session(org_id=org_id) as session:
        listed = subject_types(session)
        expected = list(
            session.connection()
            .execute(
                text("SELECT DISTINCT subject_type FROM audit_event WHERE org_id = :o ORDER BY subject_type"),
                {"o": org_id},
            )
            .scalars()
        )
    assert listed == expected and len(listed) > 3 and "zz_other" not in listed
    page = web.as_role("carbon_manager").get("/audit")
    assert page.status_code == 200


def test_machine_actors_read_as_labels_in_the_readers_language(web):
    from engine.notifications.service import SCHEDULER

    with web.db.engine.connect() as connection:
        org_id = connection.execute(
            text("SELECT id FROM organization WHERE slug = 'xiangfeng-cement'")
        ).scalar()
    with web.db.unit_of_work(org_id=org_id) as uow:
        for actor in (SYSTEM, SCHEDULER):
            append_event(
                uow.session, org_id=org_id, actor=actor, subject_type="notification", subject_id=1, action="x"
            )
    client = web.as_role("carbon_manager")
    page = client.get("/audit").text
    assert "<td>系统</td>" in page and "<td>定时任务</td>" in page
    assert "<td>system</td>" not in page and "<td>scheduler</td>" not in page
    client.cookies.set("tanguan_locale", "en")
    english = client.get("/audit", headers={"Accept-Language": "en"}).text
    assert "<td>System</td>" in english and "<td>Scheduler</td>" in english


def test_a_notification_in_the_trail_reads_by_its_recipient_not_its_number(web):
    from engine.forms.spec import Text
    from engine.notifications.service import notify

    with web.db.engine.connect() as connection:
        org_id, user_id, name = connection.execute(
            text(
                "SELECT o.id, u.id, u.display_name FROM organization o, user_account u "
                "WHERE o.slug = 'xiangfeng-cement' AND u.email = 'quality@xiangfeng.example'"
            )
        ).one()
    with web.db.unit_of_work(org_id=org_id) as uow:
        (sent,) = notify(
            uow.session, user_ids=[user_id], kind="reminder", subject=Text(zh="提醒", en="Reminder")
        )
    page = web.as_role("carbon_manager").get("/audit").text
    assert f"→ {name}" in page and f"通知 #{sent.id}" not in page

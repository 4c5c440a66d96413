"""我的待办 shows what needs this person now: a batch resting in 已报送 is nobody's task, and a
corrective action (a row of the record's actions table, with an owner and a due date) is its owner's
task — overdue once past its date, on the dashboard and in the record list's "overdue" filter."""

import re

from sqlalchemy import text


def _number_of_implementing_nc(web) -> str:
    with web.db.engine.connect() as connection:
        return connection.execute(
            text("SELECT number FROM record WHERE workflow_key = 'nonconformity' AND state = 'implementing'")
        ).scalar_one()


def test_reported_batches_are_not_in_the_carbon_managers_inbox(web):
    page = web.as_role("carbon_manager").get("/").text
    tasks = re.search(r'id="my-tasks".*?</div>', page, re.S).group(0)
    assert "CD-" not in tasks and "已报送" not in tasks
    with web.db.engine.connect() as connection:
        resting = connection.execute(
            text(
                "SELECT count(*) FROM task t JOIN record r ON r.id = t.record_id "
                "WHERE r.workflow_key = 'carbon_data_batch' AND r.state = 'reported' AND t.closed_at IS NULL"
            )
        ).scalar()
    assert resting == 0


def test_a_corrective_action_past_its_date_is_its_owners_overdue_task(web):
    number = _number_of_implementing_nc(web)  # its action "将探头清灰纳入周度点检表" was due 2026-04-30
    owner = web.as_role("process_owner")
    page = owner.get("/").text
    task = re.search(rf'<p data-task="\d+" data-overdue="true">.*?{number}.*?</p>', page, re.S)
    assert task and "将探头清灰纳入周度点检表" in task.group(0) and "2026-04-30" in task.group(0)
    overdue = web.as_role("quality_manager").get("/records/nonconformity?overdue=true").text
    assert number in overdue
    # Not someone else's: the quality manager's inbox holds no such action.
    assert "将探头清灰纳入周度点检表" not in web.as_role("quality_manager").get("/").text


def test_a_done_action_is_no_longer_a_task(web):
    with web.db.engine.connect() as connection:
        closed_actions = connection.execute(
            text(
                "SELECT count(*) FROM task t JOIN record r ON r.id = t.record_id "
                "WHERE t.detail IS NOT NULL AND t.closed_at IS NULL AND r.state <> 'implementing'"
            )
        ).scalar()
    assert closed_actions == 0  # the demo's later records have their action done, or are closed

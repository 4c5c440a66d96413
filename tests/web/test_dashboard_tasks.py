"""The dashboard lists a user's most urgent open tasks, not all of them (a group's carbon manager has
thousands: bench.scale), and says how many there are in all."""

import re

import web.routes.home.dashboard as dashboard_route


def _tasks_box(page: str) -> str:
    return re.search(r'id="my-tasks".*?</div>', page, re.S).group(0)


def test_the_dashboard_lists_the_most_urgent_tasks_and_counts_them_all(web, monkeypatch):
    client = web.as_role("quality_manager")
    everything = _tasks_box(client.get("/").text)
    dues = re.findall(r'<p data-task="\d+".*?</p>', everything, re.S)
    assert len(dues) > 2 and 'id="tasks-shown"' not in everything
    monkeypatch.setattr(dashboard_route, "DASHBOARD_TASKS", 2)
    web.app.state.kept_pages.clear()  # the code changed, not the data: the page kept before is not wanted
    page = client.get("/").text
    shown = re.findall(r'<p data-task="\d+".*?</p>', _tasks_box(page), re.S)
    assert shown == dues[:2]  # the same order: overdue and earliest due first
    assert f"最紧急的 2 项，共 {len(dues)} 项待办。" in page
    assert f'id="task-count">{len(dues)}<' in page  # the navbar still counts all of them


def test_records_i_follow_are_the_open_ones_i_created_or_own_newest_change_first(web):
    from sqlalchemy import text

    from demo.seed import DEMO_LOGINS

    checked = 0
    for login in DEMO_LOGINS:
        with web.db.engine.connect() as connection:
            expected = (
                connection.execute(
                    text(
                        "SELECT r.id FROM record r JOIN user_account u ON u.id IN (r.created_by, r.owner_id) "
                        "WHERE u.email = :email AND r.closed_at IS NULL ORDER BY r.updated_at DESC LIMIT 10"
                    ),
                    {"email": login.email},
                )
                .scalars()
                .all()
            )
        page = web.signed_in(login.email).get("/").text
        box = re.search(r'id="followed".*?</div>', page, re.S).group(0)
        assert [int(i) for i in re.findall(r'href="/r/(\d+)"', box)] == expected, login.email
        checked += bool(expected)
    assert checked

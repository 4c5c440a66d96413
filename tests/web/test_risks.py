"""6.2.1 risks and opportunities over HTTP: the score and level computed on every write, before and after
treatment; treatment actions as tasks of their owners; the heat map with its cells and the residual view;
the periodic review the scheduler reminds the owner of; bad input refused on its field — in Chinese, with
no internal keys on the pages."""

import re
from datetime import date

import pytest
from sqlalchemy import text

from demo.planning import seed_demo_planning
from demo.seed import demo_people
from engine.workflow.lifecycle import PROCESS_CONTEXT, ProcessContext
from tests.web.conftest import CATALOG, csrf_of
from tests.web.test_visible_text import ISO_INSTANT, SNAKE, visible_text
from workflows.hooks.risk_opportunity import level_of, reviews_due, scores

KEY = "risk_opportunity"


@pytest.fixture
def plant(web):
    with web.db.unit_of_work(all_orgs=True) as uow:
        org_id = uow.session.execute(
            text("SELECT id FROM organization WHERE slug = 'xiangfeng-cement'")
        ).scalar()
        uow.session.info[PROCESS_CONTEXT] = ProcessContext(CATALOG, web.app.state.secret_key)
        seed_demo_planning(uow.session, catalog=CATALOG, org_id=org_id, people=demo_people(uow.session))
    web.org_id = org_id
    return web


def _plain(html: str) -> list[str]:
    problems = []
    for part in visible_text(html):
        problems += [f"key {m!r} in {part!r}" for m in SNAKE.findall(part)]
        problems += [f"timestamp in {part!r}" for m in ISO_INSTANT.findall(part)]
    return problems


def _user_id(web, email: str) -> int:
    with web.db.engine.connect() as connection:
        return connection.execute(text("SELECT id FROM user_account WHERE email = :e"), {"e": email}).scalar()


def _data(web, record_id: int) -> dict:
    import json

    with web.db.engine.connect() as connection:
        data = connection.execute(text("SELECT data FROM record WHERE id = :i"), {"i": record_id}).scalar()
    return json.loads(data) if isinstance(data, str) else data


@pytest.mark.parametrize(
    ("score", "level"), [(1, "low"), (4, "low"), (5, "medium"), (9, "medium"), (10, "high"), (16, "high"),
                         (20, "very_high"), (25, "very_high")],
)  # fmt: skip
def test_levels_follow_the_thresholds(score, level):
    assert level_of(score) == level


def test_residual_ratings_fall_back_to_the_inherent_ones():
    assert scores({"likelihood": "4", "impact": "5"}) == {
        "score": 20, "level": "very_high", "residual_score": 20, "residual_level": "very_high",
    }  # fmt: skip
    assert scores({"likelihood": 4, "impact": 5, "residual_likelihood": 2})["residual_score"] == 10
    assert scores({"likelihood": None, "impact": 3})["level"] is None


def test_a_risk_added_through_the_form_is_scored_and_its_actions_become_tasks(plant):
    client = plant.as_role("carbon_manager")
    form = client.get(f"/records/{KEY}/new")
    assert form.status_code == 200 and "可能性（1–5）" in form.text
    kiln = _user_id(plant, "kiln@xiangfeng.example")
    fields = {
        "csrf_token": csrf_of(form.text), "title": "湘江枯水期限制水运，熟料外运受阻", "nature": "risk",
        "kind": "physical", "cause": "秋冬枯水期航道水位低", "consequence": "库存积压，被迫降产",
        "likelihood": "3", "impact": "4", "treatment": "reduce", "residual_likelihood": "2",
        "owner": str(kiln), "review_date": "2027-09-30",
        "actions-0-description": "与铁路专用线签订备用运输协议", "actions-0-owner": str(kiln),
        "actions-0-due": "2027-08-31", "actions-0-status": "open",
    }  # fmt: skip
    created = client.post(f"/records/{KEY}", data=fields)
    assert created.status_code == 303, created.text
    record_id = int(created.headers["location"].rsplit("/", 1)[1])
    data = _data(plant, record_id)
    assert (data["score"], data["level"], data["residual_score"], data["residual_level"]) == (
        12,
        "high",
        8,
        "medium",
    )
    with plant.db.engine.connect() as connection:
        tasks = connection.execute(
            text(
                "SELECT assignee_id FROM task"
                " WHERE record_id = :i AND closed_at IS NULL AND detail IS NOT NULL"
            ),
            {"i": record_id},
        ).all()
    assert [row[0] for row in tasks] == [kiln]  # the treatment action is its owner's task
    page = client.get(f"/r/{record_id}")
    assert "高" in page.text and "RO-" in page.text
    assert _plain(page.text) == []
    listing = client.get(f"/records/{KEY}")
    assert "湘江枯水期" in listing.text and "风险值" in listing.text and "剩余等级" in listing.text
    assert _plain(listing.text) == []


def test_bad_ratings_are_refused_on_their_field_and_nothing_is_written(plant):
    client = plant.as_role("carbon_manager")
    form = client.get(f"/records/{KEY}/new")
    before = plant.table_fingerprint()
    refused = client.post(
        f"/records/{KEY}",
        data={"csrf_token": csrf_of(form.text), "title": "x", "nature": "risk", "kind": "policy",
              "cause": "c",
              "consequence": "c", "likelihood": "6", "impact": "abc", "treatment": "reduce",
              "owner": str(_user_id(plant, "carbon@xiangfeng.example")), "review_date": "2027-01-01"},
    )  # fmt: skip
    assert refused.status_code == 422
    assert 'data-error-for="likelihood"' in refused.text and 'data-error-for="impact"' in refused.text
    assert plant.table_fingerprint() == before


def test_the_heat_map_counts_each_cell_and_lists_its_entries(plant):
    client = plant.as_role("carbon_manager")
    page = client.get("/risks/heatmap")
    assert page.status_code == 200 and "风险热力图" in page.text
    # The allowance shortfall and the alternative-fuel opportunity sit at likelihood 4 × impact 4.
    assert re.search(r'data-cell="4-4"[^>]*>\s*<a[^>]*>2</a>', page.text)
    assert "echarts" in page.text and 'id="heatmap-data"' in page.text
    cell = client.get("/risks/heatmap?likelihood=4&impact=4")
    rows = re.findall(r'<tr data-record="\d+">.*?</tr>', cell.text, re.S)
    assert len(rows) == 2 and any("配额可能短缺" in row for row in rows)
    residual = client.get("/risks/heatmap?mode=residual&likelihood=4&impact=4")
    rows = re.findall(r'<tr data-record="\d+">.*?</tr>', residual.text, re.S)
    assert len(rows) == 1 and "替代燃料" in rows[0]  # the shortfall is 3 × 3 once treated
    risks_only = client.get("/risks/heatmap?nature=opportunity")
    assert "配额可能短缺" not in risks_only.text and "绿证" in risks_only.text
    assert _plain(page.text) == [] and _plain(residual.text) == []
    for bad in ("mode=sideways", "likelihood=9&impact=1", "impact=x", "nature=both"):
        assert client.get(f"/risks/heatmap?{bad}").status_code == 422, bad
    assert plant.client().get("/risks/heatmap").status_code in (303, 401)


def test_a_review_reassesses_the_residual_risk(plant):
    client = plant.as_role("quality_manager")
    with plant.db.engine.connect() as connection:
        record_id = connection.execute(
            text("SELECT id FROM record WHERE workflow_key = :k AND title LIKE '%核查不通过%'"), {"k": KEY}
        ).scalar()
    form = client.get(f"/r/{record_id}/transition/review_risk")
    assert form.status_code == 200
    version = re.search(r'name="version" value="(\d+)"', form.text).group(1)
    done = client.post(
        f"/r/{record_id}/transition/review_risk",
        data={"csrf_token": csrf_of(form.text), "version": version, "reviewed_on": "2026-12-01",
              "residual_likelihood": "1", "residual_impact": "4", "review_note": "元素碳已按批次实测",
              "review_date": "2027-12-01"},
    )  # fmt: skip
    assert done.status_code == 303, done.text
    data = _data(plant, record_id)
    assert (data["score"], data["residual_score"], data["residual_level"], data["review_date"]) == (
        15,
        4,
        "low",
        "2027-12-01",
    )


def test_the_owner_is_reminded_when_the_review_date_comes(plant):
    with plant.db.unit_of_work(org_id=plant.org_id) as uow:
        due = list(reviews_due(uow.session, date(2026, 11, 1)))
        later = list(reviews_due(uow.session, date(2027, 3, 31)))
    assert all("定期评审" in item.title.zh for item in due)
    assert any("窑尾碳捕集" in item.title.zh for item in due)  # its review date was 2026-10-31
    assert len(later) > len(due) and all(item.user_ids for item in later)
    assert len({item.subject for item in later}) == len(later)


def test_the_scheduler_reminds_the_owner_once_per_review_date(plant):
    from tests.scheduler.conftest import run

    def reminded() -> list[tuple[str, str]]:
        with plant.db.engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT u.display_name, n.subject_zh FROM notification n"
                    " JOIN user_account u ON u.id = n.user_id"
                    " WHERE n.kind = 'review' ORDER BY n.id"
                )
            ).all()
        return [(name, subject) for name, subject in rows if "风险和机遇" in subject]

    run(plant.db, "2026-11-02T10:00")
    assert [name for name, subject in reminded() if "窑尾碳捕集" in subject] == ["刘建国"]
    run(plant.db, "2026-11-03T10:00")
    assert len([1 for _, subject in reminded() if "窑尾碳捕集" in subject]) == 1  # once per review date


def test_a_register_kept_in_excel_imports_with_its_scores(web):
    from io import BytesIO

    from openpyxl import Workbook, load_workbook

    client = web.as_role("carbon_manager")
    template = client.get(f"/records/{KEY}/import/template.xlsx")
    assert template.status_code == 200
    header = [cell.value for cell in next(load_workbook(BytesIO(template.content)).active.iter_rows())]
    by_label = {value.rstrip(" *").split(" ")[0]: value for value in header}
    row = {"名称": "碳配额价格上涨", "风险/机遇": "风险", "类别": "市场", "原因/来源": "全国碳市场配额收紧",
           "后果/影响": "履约成本上升", "可能性（1–5）": 3, "影响程度（1–5）": 5, "应对方式": "降低",
           "责任人": "李娜", "下次评审日期": "2027-06-30"}  # fmt: skip
    workbook = Workbook()
    sheet = workbook.active
    sheet.append([by_label[label] for label in row])
    sheet.append(list(row.values()))
    buffer = BytesIO()
    workbook.save(buffer)
    token = csrf_of(client.get(f"/records/{KEY}/import").text)
    response = client.post(
        f"/records/{KEY}/import",
        data={"csrf_token": token},
        files={"file": ("风险登记册.xlsx", buffer.getvalue(), "application/octet-stream")},
    )
    assert response.status_code == 200 and "已导入 1 条记录" in response.text, response.text
    record_id = int(response.text.split('href="/r/')[1].split('"')[0])
    assert (_data(web, record_id)["score"], _data(web, record_id)["level"]) == (15, "high")

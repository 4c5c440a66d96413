"""9.2 compliance evaluation over HTTP on the demo plant: the demo's closed evaluation (its non-compliance
opened a nonconformity, linked both ways, and each obligation recorded its result), a full cycle with a
send-back, the reviewer kept apart from the evaluators, the scheduler's start once per month, a new version
of an obligation joining the open evaluation, and bad input answered with the field or row named."""

import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from demo.compliance_evaluation import seed_demo_compliance_evaluation
from demo.context import seed_demo_context
from demo.seed import DEMO_LOGINS, demo_people
from engine.config import Settings
from engine.records.display import CHINA_TIME
from engine.scheduler.jobs import JOBS
from engine.scheduler.runner import run_jobs
from engine.workflow.computed import china_today
from engine.workflow.lifecycle import PROCESS_CONTEXT, ProcessContext
from tests.web.conftest import CATALOG, api_token, bearer_client, csrf_of
from tests.web.test_visible_text import ISO_INSTANT, SNAKE, visible_text

EMAIL = {login.role.value: login.email for login in DEMO_LOGINS}
KEY = "compliance_evaluation"
STARTS = [job for job in JOBS if job.name == "recurring_starts"]


@pytest.fixture
def plant(web):
    with web.db.unit_of_work(all_orgs=True) as uow:
        org_id = uow.session.execute(
            text("SELECT id FROM organization WHERE slug = 'xiangfeng-cement'")
        ).scalar()
        uow.session.info[PROCESS_CONTEXT] = ProcessContext(CATALOG, web.app.state.secret_key)
        people = demo_people(uow.session)
        seed_demo_context(uow.session, catalog=CATALOG, org_id=org_id, people=people)
        seed_demo_compliance_evaluation(uow.session, catalog=CATALOG, org_id=org_id, people=people)
    return web


def api(web, role: str):
    return bearer_client(web, api_token(web, EMAIL[role], name=f"ce-{role}"))


def rows(web, key: str) -> list[tuple[int, str, str, str, dict]]:
    with web.db.engine.connect() as connection:
        found = connection.execute(
            text("SELECT id, number, title, state, data FROM record WHERE workflow_key = :k ORDER BY id"),
            {"k": key},
        ).all()
    return [(i, n, t, s, json.loads(d) if isinstance(d, str) else d) for i, n, t, s, d in found]


def record(web, record_id: int) -> tuple[int, str, str, str, dict]:
    return next(row for key in (KEY, "compliance_obligation", "nonconformity") for row in rows(web, key)
                if row[0] == record_id)  # fmt: skip


def links_of(web, record_id: int) -> set[int]:
    with web.db.engine.connect() as connection:
        found = connection.execute(
            text(
                "SELECT to_record_id FROM record_link WHERE from_record_id = :r "
                "UNION SELECT from_record_id FROM record_link WHERE to_record_id = :r"
            ),
            {"r": record_id},
        ).scalars()
        return set(found)


def fire(client, record_id: int, trigger: str, data: dict, **extra):
    version = client.get(f"/api/v1/records/{record_id}").json()["version"]
    return client.post(
        f"/api/v1/records/{record_id}/transitions/{trigger}", json={"version": version, "data": data, **extra}
    )


def plain(html: str) -> list[str]:
    problems = []
    for part in visible_text(html):
        problems += [f"key {m!r} in {part!r}" for m in SNAKE.findall(part)]
        problems += [f"timestamp in {part!r}" for m in ISO_INSTANT.findall(part)]
    return problems


def obligation_titled(web, title: str) -> tuple[int, str, str, str, dict]:
    return next(row for row in rows(web, "compliance_obligation") if row[2] == title)


def test_the_demo_evaluation_opened_a_linked_nonconformity_and_recorded_each_result(plant):
    evaluations = rows(plant, KEY)
    closed = [row for row in evaluations if row[3] == "closed"]
    assert len(closed) == 1
    evaluation_id, number, _, _, data = closed[0]
    failed = [row for row in data["results"] if row["result"] == "non_compliant"]
    assert len(failed) == 1 and data["non_compliant_count"] == 1
    nc_id, obligation_id = failed[0]["nonconformity"], failed[0]["obligation"]
    nc = record(plant, nc_id)
    assert nc[4]["source"] == "compliance_evaluation" and nc[4]["related_record"] == evaluation_id
    assert {evaluation_id, obligation_id} <= links_of(plant, nc_id)
    assert nc_id in links_of(plant, evaluation_id) and evaluation_id in links_of(plant, obligation_id)
    obligation = record(plant, obligation_id)[4]
    assert obligation["last_result"] == "non_compliant" and obligation["evaluation_record"] == evaluation_id
    assert obligation["last_evaluated_on"] == data["evaluated_on"]
    for row in data["results"]:  # every obligation evaluated records the same date
        assert record(plant, row["obligation"])[4]["last_evaluated_on"] == data["evaluated_on"]
    # The record page shows the rows with labels and the nonconformity's number; the pages link each other.
    client = plant.as_role("carbon_manager")
    page = client.get(f"/r/{evaluation_id}")
    assert page.status_code == 200 and plain(page.text) == []
    assert "不合规" in page.text and nc[1] in page.text and record(plant, obligation_id)[1] in page.text
    assert number in client.get(f"/r/{obligation_id}").text and number in client.get(f"/r/{nc_id}").text
    listing = client.get(f"/records/{KEY}")
    assert listing.status_code == 200 and "评价期间" in listing.text and plain(listing.text) == []
    word = client.get(f"/r/{evaluation_id}/export.docx")
    assert word.status_code == 200 and word.content[:2] == b"PK"
    # Still open: the CBAM obligation's new version, and the scheduler's start for the monthly one.
    opened = [row for row in evaluations if row[3] == "planned"]
    assert len(opened) == 2
    cbam = obligation_titled(plant, "欧盟碳边境调节机制条例（CBAM）")[0]
    assert [row["obligation"] for row in opened[0][4]["results"]] == [cbam]
    monthly = obligation_titled(plant, "企业温室气体排放核算与报告指南 水泥熟料生产")[0]
    assert monthly in [row["obligation"] for row in opened[1][4]["results"]]


def test_a_full_cycle_with_a_send_back_and_the_reviewer_apart(plant):
    carbon, quality, auditor = (
        api(plant, "carbon_manager"),
        api(plant, "quality_manager"),
        api(plant, "internal_auditor"),
    )
    obligation_id = obligation_titled(plant, "碳排放权交易管理办法（试行）")[0]
    people = {login.role.value: login for login in DEMO_LOGINS}
    with plant.db.engine.connect() as connection:
        ids = dict(connection.execute(text("SELECT email, id FROM user_account")).all())
    created = carbon.post(
        "/api/v1/records",
        json={
            "workflow": KEY,
            "data": {
                "title": "管理办法专项评价", "period": "2026年12月", "scope": "one",
                "obligation": obligation_id, "evaluator": ids[people["carbon_manager"].email],
                "co_evaluator": ids[people["internal_auditor"].email], "planned_date": "2026-12-20",
            },
        },
    )  # fmt: skip
    assert created.status_code == 201, created.text
    evaluation_id = created.json()["id"]
    body = carbon.get(f"/api/v1/records/{evaluation_id}").json()
    assert body["state"] == "planned"
    assert [row["obligation"] for row in body["data"]["results"]] == [obligation_id]
    assert obligation_id in links_of(plant, evaluation_id)
    # Every row must be answered, with its evidence.
    unanswered = fire(carbon, evaluation_id, "submit", {"results": [{"obligation": obligation_id}],
                                                         "evaluated_on": "2026-12-10"})  # fmt: skip
    assert unanswered.status_code == 409 and "第 1 行" in unanswered.json()["detail"]
    no_evidence = fire(
        carbon,
        evaluation_id,
        "submit",
        {"results": [{"obligation": obligation_id, "result": "non_compliant"}], "evaluated_on": "2026-12-10"},
    )
    assert no_evidence.status_code == 409 and "证据" in no_evidence.json()["detail"]
    answered = {
        "results": [{"obligation": obligation_id, "result": "non_compliant", "note": "排放报告晚报 3 天",
                     "evidence_reference": "报送回执 2026-04-03"}],
        "evaluated_on": "2026-12-10",
    }  # fmt: skip
    submitted = fire(carbon, evaluation_id, "submit", answered)
    assert submitted.status_code == 200, submitted.text
    body = carbon.get(f"/api/v1/records/{evaluation_id}").json()
    assert body["state"] == "under_review"
    nc_id = body["data"]["results"][0]["nonconformity"]
    assert {evaluation_id, obligation_id} <= links_of(plant, nc_id)
    # Neither evaluator may review; someone else sends it back, and a second submission keeps the NC.
    assert fire(carbon, evaluation_id, "pass_review", {"review_conclusion": "同意"}).status_code == 403
    assert fire(auditor, evaluation_id, "pass_review", {"review_conclusion": "同意"}).status_code == 403
    assert fire(quality, evaluation_id, "send_back", {}).status_code in (409, 422)  # a comment is required
    back = fire(quality, evaluation_id, "send_back", {}, comment="请补充报送回执的扫描件编号")
    assert back.status_code == 200 and back.json()["state"] == "planned"
    again = fire(carbon, evaluation_id, "submit", answered)
    assert again.status_code == 200
    body = carbon.get(f"/api/v1/records/{evaluation_id}").json()
    assert body["data"]["results"][0]["nonconformity"] == nc_id
    opened = [row for row in rows(plant, "nonconformity") if row[4].get("related_record") == evaluation_id]
    assert len(opened) == 1
    reviewed = fire(quality, evaluation_id, "pass_review", {"review_conclusion": "证据充分，结论恰当"})
    assert reviewed.status_code == 200, reviewed.text
    closed = fire(carbon, evaluation_id, "close", {})
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
    obligation = record(plant, obligation_id)[4]
    assert obligation["last_result"] == "non_compliant" and obligation["last_evaluated_on"] == "2026-12-10"
    assert obligation["next_evaluation_due"] == "2027-12-10"  # yearly


def test_the_scheduler_starts_the_due_obligations_once_a_month(plant):
    later = datetime.combine(china_today() + timedelta(days=400), datetime.min.time(), CHINA_TIME)
    before = len(rows(plant, KEY))

    def started_now(moment: datetime) -> list[str]:  # the lines of this hook (other processes start too)
        lines = run_jobs(plant.db, now=moment, settings=Settings(), jobs=STARTS)
        return [line for line in lines if "合规性评价（按频次）" in line]

    first = started_now(later)
    started = rows(plant, KEY)[before:]
    assert len(started) == 1 and len(first) == 1 and started[0][1] in first[0]
    busy = {row["obligation"] for _, _, _, state, data in rows(plant, KEY)[:before] if state != "closed"
            for row in data["results"]}  # fmt: skip
    chosen = {row["obligation"] for row in started[0][4]["results"]}
    assert chosen and not chosen & busy  # an obligation already in an open evaluation is not started again
    assert started_now(later) == []  # twice: nothing new
    assert started_now(later + timedelta(days=31)) == []
    assert len(rows(plant, KEY)) == before + 1


def test_a_new_version_of_an_obligation_joins_the_open_evaluation(plant):
    obligation_id = obligation_titled(plant, "水泥单位产品能源消耗限额")[0]
    planned = [row for row in rows(plant, KEY) if row[3] == "planned"]
    newest = planned[-1][0]
    assert obligation_id not in [row["obligation"] for row in record(plant, newest)[4]["results"]]
    revised = fire(
        api(plant, "quality_manager"),
        obligation_id,
        "revise_version",
        {"new_edition": "2026年修订", "new_effective_date": "2026-12-01", "change_summary": "限定值收严"},
    )
    assert revised.status_code == 200, revised.text
    assert obligation_id in [row["obligation"] for row in record(plant, newest)[4]["results"]]
    assert obligation_id in links_of(plant, newest)
    assert len(rows(plant, KEY)) == len(planned) + 1  # joined, nothing started


def test_bad_input_names_the_field_or_row(plant):
    client = plant.as_role("carbon_manager")
    form = client.get(f"/records/{KEY}/new")
    assert form.status_code == 200 and "评价范围" in form.text
    bad = client.post(
        f"/records/{KEY}",
        data={"csrf_token": csrf_of(form.text), "title": "专项评价", "period": "2026年12月",
              "scope": "nonsense", "planned_date": "2026-02-30"},
    )  # fmt: skip
    assert bad.status_code == 422
    for name in ("scope", "planned_date", "evaluator"):
        assert f'data-error-for="{name}"' in bad.text, name
    with plant.db.engine.connect() as connection:
        me = connection.execute(
            text("SELECT id FROM user_account WHERE email = :e"), {"e": EMAIL["carbon_manager"]}
        ).scalar()
    no_obligation = client.post(
        f"/records/{KEY}",
        data={"csrf_token": csrf_of(form.text), "title": "专项评价", "period": "2026年12月", "scope": "one",
              "evaluator": str(me), "planned_date": "2026-12-20"},
    )  # fmt: skip
    assert no_obligation.status_code == 422 and 'data-error-for="obligation"' in no_obligation.text
    carbon = api(plant, "carbon_manager")
    evaluation_id = next(row[0] for row in rows(plant, KEY) if row[3] == "planned")
    wrong = fire(carbon, evaluation_id, "record_results", {"results": [{"obligation": 1, "result": "maybe"}]})
    assert wrong.status_code == 422 and "data.results.1.result" in wrong.text
    nowhere = fire(carbon, evaluation_id, "record_results", {"results": [{"obligation": 999999}]})
    assert nowhere.status_code == 422 and "data.results.1.obligation" in nowhere.text
    not_an_obligation = next(row[0] for row in rows(plant, "nonconformity"))
    nc_row = fire(carbon, evaluation_id, "record_results", {"results": [{"obligation": not_an_obligation}]})
    assert nc_row.status_code == 422 and "data.results.1.obligation" in nc_row.text
    row = {
        "obligation": obligation_titled(plant, "排污许可证")[0],
        "result": "compliant",
        "evidence_reference": "执行报告",
    }
    twice = fire(carbon, evaluation_id, "submit", {"results": [row, row], "evaluated_on": "2026-12-06"})
    assert twice.status_code == 409 and "第 2 行重复" in twice.json()["detail"]
    # "Due by the planned date": nothing is due today that no open evaluation holds; by 2030 the rest is.
    plan = {"title": "到期评价", "period": "2026年12月", "scope": "due", "evaluator": me}
    nothing = carbon.post(
        "/api/v1/records", json={"workflow": KEY, "data": {**plan, "planned_date": "2026-12-07"}}
    )
    assert nothing.status_code == 422 and "scope" in nothing.text and "没有待评价的合规义务" in nothing.text
    due = carbon.post(
        "/api/v1/records", json={"workflow": KEY, "data": {**plan, "planned_date": "2030-01-01"}}
    )
    assert due.status_code == 201, due.text
    held = {
        row["obligation"]
        for row in carbon.get(f"/api/v1/records/{due.json()['id']}").json()["data"]["results"]
    }
    assert len(held) == len(rows(plant, "compliance_obligation")) - 2  # the two in open evaluations left out
    page = client.get(f"/r/{evaluation_id}/transition/submit")
    assert page.status_code == 200 and "评价结论" in page.text

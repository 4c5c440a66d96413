"""9.3 internal audit over HTTP: a full cycle (plan → checklist from the clause library → fieldwork → report
→ findings as linked nonconformities and improvement items → close), the scores per clause and their score
source, the re-audit rows of closed findings, the report's figures in Word, the programme's rows and the
scheduler starting its audits once, and bad input answered with the field named."""

import io
from datetime import date, datetime
from decimal import Decimal

import pytest
from docx import Document

from engine.clauses.library import clauses_under
from engine.config import Settings
from engine.records.display import CHINA_TIME
from engine.scheduler.registry import PROCESS_JOBS
from engine.scheduler.runner import run_jobs
from tests.web.ia_setup import client_of, fire, plan, plant_of, record, records, start_audit
from workflows.hooks.internal_audit import clause_scores
from workflows.hooks.internal_audit_rules import RULES_FILE, rules

ANSWERS = ("conforming", "minor_nc", "observation")


@pytest.fixture
def plant(web):
    return plant_of(web)


def _cycle(web, plant, *, scope: str = "9.1, 9.2", answers=ANSWERS) -> int:
    """A quality manager plans, the auditor answers every row (cycling ``answers``) and issues the report."""
    quality, auditor = client_of(web, "quality_manager"), client_of(web, "internal_auditor")
    audit_id = start_audit(quality, scope=scope)
    assert fire(quality, audit_id, "save_plan", plan(plant, scope=scope)).status_code == 200
    confirmed = fire(quality, audit_id, "submit_plan")
    assert confirmed.status_code == 200, confirmed.text
    rows = confirmed.json()["data"]["checklist"]
    for number, _ in enumerate(rows, start=1):
        answer = answers[(number - 1) % len(answers)]
        answered = fire(
            auditor,
            audit_id,
            "answer_item",
            {
                "item": number,
                "answer": answer,
                "evidence": f"查阅记录 {number}",
                "auditee": "周强",
                "note": "" if answer == "conforming" else f"发现 {number}",
            },
        )
        assert answered.status_code == 200, answered.text
    issued = fire(
        auditor, audit_id, "issue_report", {"report_date": "2030-03-12", "conclusion": "体系基本有效"}
    )
    assert issued.status_code == 200, issued.text
    return audit_id


def test_a_full_cycle_makes_the_checklist_scores_it_and_links_the_findings(web, plant):
    audit_id = _cycle(web, plant)
    state, data, _ = record(web, audit_id)
    library = [(c.number, q) for c in clauses_under(["9.1", "9.2"]) for q in c.questions]
    rows = data["checklist"]
    assert state == "reported" and len(rows) == len(library)
    assert [(row["clause"], row["question"]) for row in rows] == [(n, f"{q.zh} / {q.en}") for n, q in library]
    for number, row in enumerate(rows, start=1):
        answer = ANSWERS[(number - 1) % len(ANSWERS)]
        weight = rules().answers[answer].weight
        assert row["answer"] == answer and Decimal(row["points"]) == (
            weight * Decimal(row["max_points"])
        ).quantize(Decimal("0.1"))
        assert row["evidence"] == f"查阅记录 {number}" and row["auditee"] == "周强"
        assert row["answered_by"] == plant.people["internal_auditor"]
    expected = sum(Decimal(row["points"]) for row in rows)
    assert Decimal(data["score"]) == expected and int(data["answered"]) == len(rows)
    # each finding became a nonconformity or an improvement item, linked both ways
    ncs = {i: (n, d) for i, n, _, d in records(web, "nonconformity")}
    items = {i: (n, d) for i, n, _, d in records(web, "improvement_item")}
    findings = [row for row in rows if row["answer"] != "conforming"]
    assert findings and all(isinstance(row.get("finding"), int) for row in findings)
    assert all("finding" not in row for row in rows if row["answer"] == "conforming")
    quality = client_of(web, "quality_manager")
    audit_page = web.as_role("quality_manager").get(f"/r/{audit_id}").text
    audit_number = quality.get(f"/api/v1/records/{audit_id}").json()["number"]
    for row in findings:
        if row["answer"] == "minor_nc":
            number, nc = ncs[row["finding"]]
            assert (
                nc["related_record"] == audit_id
                and nc["source"] == "internal_audit"
                and nc["clause"] == row["clause"]
            )
        else:
            number, item = items[row["finding"]]
            assert item["source_record"] == audit_id and item["source"] == "internal_audit"
        assert number in audit_page
        assert audit_number in web.as_role("quality_manager").get(f"/r/{row['finding']}").text
    # the score source gives the latest audit's points per clause
    with web.db.read_session(org_id=plant.org_id) as session:
        scores = {s.clause: s for s in clause_scores(session, date(2030, 12, 31))}
        assert clause_scores(session, date(2030, 3, 11)) is not None
        assert not list(clause_scores(session, date(2030, 3, 11)))
    for clause in {row["clause"] for row in rows}:
        mine = [row for row in rows if row["clause"] == clause]
        assert scores[clause].points == sum(Decimal(r["points"]) for r in mine)
        assert scores[clause].max_points == sum(Decimal(r["max_points"]) for r in mine)
        assert scores[clause].record_id == audit_id and scores[clause].assessed_on == date(2030, 3, 12)
    _the_report_has_the_figures(web, audit_id, rows, expected)
    _closing_needs_the_findings_closed_or_followed_up(web, audit_id)


def _the_report_has_the_figures(web, audit_id, rows, total):
    response = web.as_role("internal_auditor").get(f"/internal-audit/{audit_id}/report.docx")
    assert response.status_code == 200 and response.content[:2] == b"PK"
    document = Document(io.BytesIO(response.content))
    cells = [cell.text for table in document.tables for row in table.rows for cell in row.cells]
    text = "\n".join(cells + [p.text for p in document.paragraphs])
    assert "9.1, 9.2" in text and "体系基本有效" in text and "陈静" in text
    assert str(total) in text and "一般不符合" in text
    assert any(f"{row['points']} / {row['max_points']}" in text for row in rows)
    assert "/internal-audit/" in web.as_role("quality_manager").get(f"/r/{audit_id}").text


def _closing_needs_the_findings_closed_or_followed_up(web, audit_id):
    quality = client_of(web, "quality_manager")
    refused = fire(quality, audit_id, "close_audit", {"closed_on": "2030-04-01"})
    assert refused.status_code == 422 and "follow_up" in refused.text, refused.text
    closed = fire(
        quality, audit_id, "close_audit", {"closed_on": "2030-04-01", "follow_up": "5 月由张伟验证"}
    )
    assert closed.status_code == 200 and record(web, audit_id)[0] == "closed"


def test_a_closed_finding_gets_a_reaudit_row_at_the_next_audit_of_its_clause(web, plant):
    first = _cycle(web, plant, scope="9.2", answers=("opportunity", "conforming"))
    item_id = next(row["finding"] for row in record(web, first)[1]["checklist"] if row.get("finding"))
    quality = client_of(web, "quality_manager")
    done = fire(quality, item_id, "complete_item", {"completed_on": "2030-04-01", "outcome": "已完成"})
    assert done.status_code == 200, done.text
    second = _cycle(web, plant, scope="9.2, 9.1", answers=("conforming",))
    rows = record(web, second)[1]["checklist"]
    reaudits = [row for row in rows if row["kind"] == "reaudit"]
    assert [(row["clause"], row["reaudited"]) for row in reaudits] == [("9.2", item_id)]
    assert int(reaudits[0]["max_points"]) == int(rules().reaudit_points)
    third = _cycle(web, plant, scope="9.2", answers=("conforming",))
    assert not [row for row in record(web, third)[1]["checklist"] if row["kind"] == "reaudit"]  # once only


def test_bad_input_is_refused_with_the_field_or_the_reason(web, plant):
    quality, auditor = client_of(web, "quality_manager"), client_of(web, "internal_auditor")
    unknown = quality.post(
        "/api/v1/records",
        json={"workflow": "internal_audit", "data": {"title": "x", "scope_clauses": "99.9"}},
    )
    assert unknown.status_code == 422 and "scope_clauses" in unknown.text
    garbage = quality.post(
        "/api/v1/records",
        json={"workflow": "internal_audit", "data": {"title": "x", "scope_clauses": "全部"}},
    )
    assert garbage.status_code == 422 and "scope_clauses" in garbage.text
    audit_id = start_audit(quality)
    backwards = fire(quality, audit_id, "save_plan", {**plan(plant), "end_date": "2030-03-01"})
    assert backwards.status_code == 409 and "结束日期" in backwards.json()["detail"]
    no_lead = fire(quality, audit_id, "save_plan", plan(plant, lead="auditor2"))
    assert no_lead.status_code == 409
    assert fire(quality, audit_id, "submit_plan").status_code == 409  # no plan yet
    assert fire(quality, audit_id, "save_plan", plan(plant)).status_code == 200
    assert fire(quality, audit_id, "submit_plan").status_code == 200
    for body, status in (
        ({"item": 99, "answer": "conforming", "evidence": "e", "auditee": "a"}, 409),
        ({"item": 1, "answer": "maybe", "evidence": "e", "auditee": "a"}, 422),
        ({"item": 1, "answer": "minor_nc", "evidence": "e", "auditee": "a"}, 409),  # no finding described
        ({"item": "一", "answer": "conforming", "evidence": "e", "auditee": "a"}, 422),
    ):
        answered = fire(auditor, audit_id, "answer_item", body)
        assert answered.status_code == status, (body, answered.text)
    early = fire(auditor, audit_id, "issue_report", {"report_date": "2030-03-12", "conclusion": "x"})
    assert early.status_code == 409 and "未审核" in early.json()["detail"]
    typed = fire(
        client_of(web, "admin"),
        audit_id,
        "load_checklist",
        {"checklist": [{"clause": "9.1", "question": "q", "kind": "question", "max_points": 1}]},
    )
    assert typed.status_code == 409


def test_the_scale_file_and_the_answer_form_agree():
    from engine.workflow.catalog import WorkflowCatalog

    catalog = WorkflowCatalog.load()
    form = catalog.get("internal_audit").forms["ia_answer"]
    assert [c.value for c in form.field("answer").choices] == list(rules().answers)
    table = catalog.get("internal_audit").forms["ia_checklist"].field("checklist")
    column = next(c for c in table.columns if c.name == "answer")
    assert [c.value for c in column.choices] == list(rules().answers)
    assert RULES_FILE.name == "internal_audit.yaml"


def _programme(web, plant, year: int) -> int:
    quality = client_of(web, "quality_manager")
    created = quality.post(
        "/api/v1/records",
        json={"workflow": "internal_audit_programme", "data": {"title": f"{year} 年内审方案", "year": year}},
    )
    assert created.status_code in (200, 201), created.text
    return created.json()["id"]


def test_the_programme_derives_its_rows_and_the_scheduler_starts_each_month_once(web, plant):
    year = date.today().year
    programme_id = _programme(web, plant, year)
    state, data, _ = record(web, programme_id)
    groups = [group.clauses for group in rules().groups]
    assert state == "drafting" and [row["clauses"] for row in data["rows"]] == groups
    assert all(row["frequency"] in ("once", "twice") for row in data["rows"])
    quality, gm = client_of(web, "quality_manager"), client_of(web, "top_management")
    tampered = [{**row, "risk_level": "very_high"} for row in data["rows"]]
    assert fire(quality, programme_id, "plan_months", {"rows": tampered}).status_code == 409
    wrong = [{**row, "second_month": 11} if row["frequency"] == "once" else row for row in data["rows"]]
    assert fire(quality, programme_id, "plan_months", {"rows": wrong}).status_code == 409
    month = datetime.now(CHINA_TIME).month
    moved = [
        {**row, "first_month": month, "second_month": None} if row["frequency"] == "once" else row
        for row in data["rows"]
    ]
    assert fire(quality, programme_id, "plan_months", {"rows": moved}).status_code == 200
    version = gm.get(f"/api/v1/records/{programme_id}").json()["version"]
    approved = gm.post(
        f"/api/v1/records/{programme_id}/transitions/approve_programme",
        json={"version": version, "signature_password": "wrong"},
    )
    assert approved.status_code == 403
    from demo.seed import DEMO_PASSWORD

    approved = gm.post(
        f"/api/v1/records/{programme_id}/transitions/approve_programme",
        json={"version": version, "signature_password": DEMO_PASSWORD},
    )
    assert approved.status_code == 200, approved.text
    # approved in this month: the scheduler starts this month's audit (none of the months before approval)
    _, data, _ = record(web, programme_id)
    today = datetime.now(CHINA_TIME)
    before = len(records(web, "internal_audit"))
    job = next(job for job in PROCESS_JOBS if job.name == "internal_audit_starts")
    run_jobs(web.db, now=today, settings=Settings(), jobs=[job])
    run_jobs(web.db, now=today, settings=Settings(), jobs=[job])
    started = records(web, "internal_audit")[before:]
    planned_now = [
        row["clauses"]
        for row in data["rows"]
        if today.month in {int(Decimal(str(row.get(k) or 0))) for k in ("first_month", "second_month")}
        and clauses_under([row["clauses"]])
    ]
    assert len(started) == 1 and planned_now  # the same month twice: one audit
    assert started[0][3]["programme"] == programme_id and started[0][3]["scope_clauses"] == ", ".join(
        planned_now
    )


def test_the_demo_holds_a_completed_audit_whose_findings_became_records(web, plant):
    from demo.internal_audit import FINDINGS, seed_demo_internal_audit
    from demo.seed import demo_people
    from engine.workflow.lifecycle import PROCESS_CONTEXT, ProcessContext
    from tests.web.conftest import CATALOG

    with web.db.unit_of_work(all_orgs=True) as uow:
        uow.session.info[PROCESS_CONTEXT] = ProcessContext(CATALOG, web.app.state.secret_key)
        seed_demo_internal_audit(
            uow.session, catalog=CATALOG, org_id=plant.org_id, people=demo_people(uow.session)
        )
    ((programme_id, _, programme_state, programme),) = records(web, "internal_audit_programme")
    assert programme_state == "in_force" and programme["approved_on"] == "2026-01-12"
    audits = records(web, "internal_audit")
    done = [a for a in audits if a[2] == "closed"]
    assert len(done) == 1 and done[0][3]["programme"] == programme_id
    rows = done[0][3]["checklist"]
    assert {row["clause"].split(".")[0] for row in rows} >= {"8", "9"}
    linked = {row["finding"] for row in rows if row.get("finding")}
    ncs = [r for r in records(web, "nonconformity") if r[0] in linked]
    items = [r for r in records(web, "improvement_item") if r[0] in linked]
    assert len(ncs) == 2 and len(items) == 2 and len(linked) == len(FINDINGS)
    assert all(nc[3]["related_record"] == done[0][0] for nc in ncs)
    page = web.as_role("internal_auditor").get(f"/r/{done[0][0]}")
    assert page.status_code == 200 and all(nc[1] in page.text for nc in ncs)


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_the_pages_read_as_people_read(web, plant, locale):
    from tests.web.test_visible_text import ISO_INSTANT, SNAKE, visible_text

    audit_id = _cycle(web, plant)
    programme_id = _programme(web, plant, 2031)
    client = web.as_role("quality_manager")
    client.cookies.set("tanguan_locale", locale)
    for path in (
        f"/r/{audit_id}",
        f"/r/{programme_id}",
        "/records/internal_audit",
        "/records/internal_audit_programme",
    ):
        page = client.get(path)
        assert page.status_code == 200
        for part in visible_text(page.text):
            assert not SNAKE.findall(part) and not ISO_INSTANT.findall(part), (path, part)

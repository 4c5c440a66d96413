"""The clause library, the statement of applicability and the clause-coverage map: the library is whole,
the statement is drafted from it and refused until every clause is answered, the map's statuses degrade
by themselves (a lapsed cycle, an overdue record) and follow the statement, and the drill-down lists the
records of a clause."""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import text

from demo.internal_audit import seed_demo_internal_audit
from demo.seed import DEMO_PASSWORD, demo_people
from engine.clauses import scores
from engine.clauses.coverage import CoverageStatus, clause_coverage, coverage_map
from engine.clauses.library import clause_library, clauses_under, falls_under, find_clause
from engine.clauses.scores import ClauseScore
from engine.workflow.lifecycle import PROCESS_CONTEXT, ProcessContext
from tests.web.conftest import CATALOG
from tests.web.test_context import api, fire, rows
from tests.web.test_visible_text import ISO_INSTANT, SNAKE, visible_text


def test_the_library_has_every_clause_once_with_questions_and_points():
    numbers = [clause.number for clause in clause_library()]
    assert len(numbers) == 30 and len(set(numbers)) == 30
    assert numbers[0] == "4.1" and numbers[-1] == "10.2"  # the standard's order: 10 after 9
    for clause in clause_library():
        assert clause.title.zh and clause.title.en and clause.requires.zh and clause.evidence.en
        assert clause.questions and clause.points > 0
    assert [c.number for c in clauses_under(["9"])] == ["9.1", "9.2", "9.3", "9.4"]
    assert [c.number for c in clauses_under(["6.2"])] == ["6.2.1", "6.2.2", "6.2.3"]
    assert not falls_under("10.1", "1") and falls_under("7.4.3", "7.4")
    assert find_clause(" 8.6 ") is not None and find_clause("11") is None


def _soa(web) -> list[tuple]:
    return rows(web, "applicability_statement")


def test_the_statement_is_drafted_from_the_library_and_refused_until_complete(plant):
    carbon, quality, gm = (
        api(plant, "carbon_manager"),
        api(plant, "quality_manager"),
        api(plant, "top_management"),
    )
    in_force = [row for row in _soa(plant) if row[3] == "in_force"]
    assert len(in_force) == 1  # the demo's, drafted from the library
    assert [r["clause"] for r in in_force[0][4]["clauses"]] == [c.number for c in clause_library()]
    browser = plant.as_role("carbon_manager")
    page = browser.get("/evaluation/applicability")
    assert page.status_code == 200 and "适用性声明" in page.text and in_force[0][1] in page.text
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    drafted = browser.post(
        "/evaluation/applicability/draft",
        data={"csrf_token": token, "edition": "B/0"},
        follow_redirects=False,
    )
    assert drafted.status_code == 303
    draft = max(_soa(plant), key=lambda row: row[0])
    assert draft[3] == "drafting" and len(draft[4]["clauses"]) == 30 and draft[4]["edition"] == "B/0"
    # 8.5 does not apply, but no reason is given; 7.5 loses its answer: both refused, by row.
    clauses = [dict(row) for row in draft[4]["clauses"]]
    at = {row["clause"]: index for index, row in enumerate(clauses)}
    storage, documents = at["8.5"], at["7.5"]
    clauses[storage].update(applies="no", justification=None)
    clauses[documents].update(implementation="")
    kept = {name: draft[4][name] for name in ("title", "edition", "effective_from")}
    edited = fire(carbon, draft[0], "revise_draft", {**kept, "clauses": clauses})
    assert edited.status_code == 200, edited.text
    refused = fire(carbon, draft[0], "submit_for_review", {})
    assert refused.status_code == 409
    assert f"第 {documents + 1} 行" in refused.text and f"第 {storage + 1} 行" in refused.text
    clauses[storage]["justification"] = "储运外包给有资质的物流公司，不在运营控制范围内"
    clauses[documents]["implementation"] = "受控文件清单；记录导出"
    assert fire(carbon, draft[0], "revise_draft", {**kept, "clauses": clauses}).status_code == 200
    assert fire(carbon, draft[0], "submit_for_review", {}).status_code == 200
    assert fire(quality, draft[0], "pass_review", {}).status_code == 200
    signed = fire(gm, draft[0], "approve_statement", {}, signature_password=DEMO_PASSWORD)
    assert signed.status_code == 200, signed.text
    states = {row[0]: row[3] for row in _soa(plant)}
    assert states[draft[0]] == "in_force" and states[in_force[0][0]] == "superseded"
    # The map follows the statement in force: 8.5 is not applicable, with its reason.
    cell = plant.as_role("internal_auditor").get("/evaluation/coverage/8.5")
    assert cell.status_code == 200 and 'data-status="not_applicable"' in cell.text
    assert "不在运营控制范围内" in cell.text
    exported = plant.as_role("internal_auditor").get(f"/r/{draft[0]}/export.docx")
    assert exported.status_code == 200 and exported.content[:2] == b"PK"


def test_the_map_degrades_by_itself_and_shows_scores(plant):
    with plant.db.read_session(org_id=_org(plant)) as session:
        now = coverage_map(session, catalog=CATALOG, years=(2026,), today=date(2026, 12, 7))
        assert now.cell("4.1", 2026).status == CoverageStatus.covered
        assert now.cell("6.2.2", 2026).count  # the obligations register
        # The map's counts and the drill-down's records agree, clause by clause.
        for clause in clause_library():
            detail = clause_coverage(
                session, catalog=CATALOG, clause=clause, year=2026, today=date(2026, 12, 7)
            )
            cell = now.cell(clause.number, 2026)
            assert (detail.count, detail.status, detail.last_activity, detail.overdue) == (
                cell.count,
                cell.status,
                cell.last_activity,
                cell.overdue,
            ), clause.number
            assert len(detail.records) == detail.count
        # A year on, with nothing recorded since: every clause with a 12-month cycle has lapsed.
        later = coverage_map(session, catalog=CATALOG, years=(2027,), today=date(2027, 12, 31))
        lapsed = later.cell("4.1", 2027)
        assert lapsed.status == CoverageStatus.stale
        assert "12" in lapsed.reasons[0].zh and "周期" in lapsed.reasons[0].zh
        assert later.cell("10.2", 2027).status in (CoverageStatus.stale, CoverageStatus.missing)
        assert (
            now.years == (2026,)
            and coverage_map(session, catalog=CATALOG, years=(2030,), today=date(2026, 12, 7)).years == ()
        )  # no year after today's
    # An open record past its due date makes its clause stale on that day.
    with plant.db.engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE record SET due_date = :d WHERE workflow_key = 'context_issue' AND state <> 'closed'"
            ),
            {"d": date(2026, 1, 5)},
        )
    with plant.db.read_session(org_id=_org(plant)) as session:
        overdue = coverage_map(session, catalog=CATALOG, years=(2026,), today=date(2026, 12, 7)).cell(
            "4.1", 2026
        )
        assert overdue.status == CoverageStatus.stale and overdue.overdue > 0
        assert any("逾期" in reason.zh for reason in overdue.reasons)
        # A score source (an internal audit's checklist, say) puts its latest score on the map.
        record_id = rows(plant, "context_issue")[0][0]
        scores.register_score_source(
            "test",
            lambda _s, until: [ClauseScore("4.1", Decimal(8), Decimal(10), record_id, date(2026, 6, 1))],
        )
        try:
            scored = coverage_map(session, catalog=CATALOG, years=(2026,), today=date(2026, 12, 7))
            assert scored.cell("4.1", 2026).score.percent == Decimal("80.0")
            points, maximum, count = scored.score_total(2026)
            assert count >= 1 and points <= maximum and Decimal(8) <= points
        finally:
            del scores._SOURCES["test"]


def _org(web) -> int:
    with web.db.engine.connect() as connection:
        return connection.execute(
            text("SELECT id FROM organization WHERE slug = 'xiangfeng-cement'")
        ).scalar()


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_pages_read_as_people_read(plant, locale):
    client = plant.as_role("internal_auditor")
    client.cookies.set("tanguan_locale", locale)
    problems = []
    for path in ("/evaluation/coverage", "/evaluation/coverage/6.2.2", "/evaluation/applicability"):
        page = client.get(path)
        assert page.status_code == 200, path
        for part in visible_text(page.text):
            problems += [f"{path}: key {m!r} in {part!r}" for m in SNAKE.findall(part)]
            problems += [f"{path}: timestamp in {part!r}" for m in ISO_INSTANT.findall(part)]
    assert problems == []
    coverage = client.get("/evaluation/coverage").text
    assert ('data-clause="9.4"' in coverage) and ("条款覆盖图" in coverage) == (locale == "zh_CN")
    drill = client.get("/evaluation/coverage/6.2.2").text
    assert "HG-001" in drill  # the obligations register's first entry
    assert client.get("/evaluation/coverage/11.9").status_code == 404
    assert client.get("/evaluation/coverage/x;drop").status_code in (404, 422)
    assert client.get("/evaluation/coverage?until=99999").status_code == 422


def test_only_the_carbon_manager_drafts_a_statement(plant):
    staff = plant.as_role("staff")
    token = staff.get("/evaluation/applicability").text.split('name="csrf_token" value="')[1].split('"')[0]
    refused = staff.post(
        "/evaluation/applicability/draft", data={"csrf_token": token}, follow_redirects=False
    )
    assert refused.status_code == 403


def test_the_internal_audit_checklist_scores_the_map(plant):
    """The demo's audit of March: its checklist's points per clause are the map's scores."""
    with plant.db.unit_of_work(all_orgs=True) as uow:
        uow.session.info[PROCESS_CONTEXT] = ProcessContext(CATALOG, plant.app.state.secret_key)
        seed_demo_internal_audit(
            uow.session, catalog=CATALOG, org_id=_org(plant), people=demo_people(uow.session)
        )
    (audit,) = [row for row in rows(plant, "internal_audit") if row[3] == "closed"]
    expected: dict[str, list[Decimal]] = {}
    for row in audit[4]["checklist"]:
        points = expected.setdefault(row["clause"], [Decimal(0), Decimal(0)])
        points[0] += Decimal(str(row["points"]))
        points[1] += Decimal(str(row["max_points"]))
    page = plant.as_role("internal_auditor").get("/evaluation/coverage").text
    assert 'id="score-total"' in page
    with plant.db.read_session(org_id=_org(plant)) as session:
        grid = coverage_map(session, catalog=CATALOG, years=(2026,), today=date(2026, 12, 7))
    for clause, (points, maximum) in expected.items():
        score = grid.cell(clause, 2026).score
        assert score is not None and score.record_id == audit[0], clause
        assert (score.points, score.max_points) == (points, maximum), clause
    assert grid.score_total(2026)[2] == len(expected)

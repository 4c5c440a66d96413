"""The data-quality control plan: versions (approving one supersedes the one before), rows checked, the
monthly filing it drives (tasks due 40 days after month end, proofs, the board), conservative substitution
of a missing value with a reason, and the 8.6 gate: a month with a gap cannot be verified. Time is passed
explicitly (a frozen clock)."""

from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import text

from engine.audit import Actor
from engine.carbon_data.parsing import period_label
from engine.dqcp.anomalies import anomalies_of, open_findings
from engine.dqcp.filing import (
    CellState,
    FilingRefused,
    due_date_of,
    file_proof,
    filing_board,
    month_gaps,
    open_filing_tasks,
)
from engine.dqcp.plan import plan_in_force, plan_versions
from engine.dqcp.substitution import substitute_missing_value
from engine.dqcp.values import month_values
from engine.evidence.store import store_evidence
from engine.storage import LocalStore
from engine.workflow.access import ActorRef
from engine.workflow.errors import GuardRefused
from engine.workflow.lifecycle import create_record, fire_transition
from tests.web.conftest import CATALOG, csrf_of
from tests.web.documents import all_text, open_docx
from tests.web.test_instruments import plant  # noqa: F401  (the fixture)

PASSWORD = "Xiangfeng#2026"


def _people(web) -> dict[str, ActorRef]:
    with web.db.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT u.id, u.display_name, m.roles FROM user_account u "
                 "JOIN membership m ON m.user_id = u.id "
                 "WHERE u.email LIKE '%@xiangfeng.example'")
        ).all()  # fmt: skip
    people = {}
    for user_id, name, roles in rows:
        roles = roles if isinstance(roles, list) else __import__("json").loads(roles)
        people[roles[0]] = ActorRef(id=user_id, name=name, roles=frozenset(roles))
    return people


def _ids(web, table: str) -> dict[str, int]:
    with web.db.engine.connect() as connection:
        return dict(connection.execute(text(f"SELECT code, id FROM {table}")).all())  # noqa: S608


def plan_rows(web, people) -> list[dict]:
    units = _ids(web, "org_unit")
    common = {"frequency": "monthly", "department": units["KILN1"], "responsible": people["staff"].id}
    return [
        {**common, "code": "COAL-FC", "parameter": "入窑煤消耗量", "kind": "activity",
         "subject": "KILN1-COAL",
         "unit": "t", "obtained": "metered", "missing_rule": "max_previous_12", "proof": "ledger_scan",
         "change_threshold": "30"},
        {**common, "code": "COAL-NCV", "parameter": "入窑煤低位发热量", "kind": "ncv",
         "subject": "KILN1-COAL",
         "unit": "GJ/t", "obtained": "lab_test", "missing_rule": "max_previous_12", "proof": "lab_report"},
        {**common, "code": "CLK-OUT", "parameter": "熟料产量", "kind": "production", "subject": "CLK",
         "unit": "t", "obtained": "metered", "missing_rule": "min_previous_12", "proof": "production_ledger"},
    ]  # fmt: skip


def _approved_plan(
    web, people, *, title="数据质量控制计划 2025 版", trigger="first_issue", effective="2025-01-01"
):
    workflow = CATALOG.get("dqcp")
    with web.db.unit_of_work(org_id=1) as uow:
        record = create_record(
            uow.session, workflow=workflow, org_id=1, actor=people["carbon_manager"],
            form_data={"title": title, "effective_from": effective, "revision_trigger": trigger,
                       "revision_reason": "依据核算指南编制", "rows": plan_rows(web, people)},
        )  # fmt: skip
        record_id = record.id
    with web.db.unit_of_work(org_id=1) as uow:
        fire_transition(uow.session, record_id=record_id, trigger="submit_for_approval",
                        actor=people["carbon_manager"], form_data={}, expected_version=1)  # fmt: skip
    with web.db.unit_of_work(org_id=1) as uow:
        fire_transition(uow.session, record_id=record_id, trigger="approve_plan",
                        actor=people["top_management"],
                        form_data={}, expected_version=2, password_verified=True)  # fmt: skip
    return record_id


def test_approving_a_revision_supersedes_the_plan_before_and_keeps_it(web):
    people = _people(web)
    first = _approved_plan(web, people)
    second = _approved_plan(web, people, title="数据质量控制计划 2026 版", trigger="better_instrument")
    with web.db.read_session(org_id=1) as session:
        assert plan_in_force(session).record_id == second
        versions = {plan.record_id: plan.state for plan in plan_versions(session)}
    assert versions == {second: "in_force", first: "superseded"}


def test_rows_must_be_consistent(web):
    people = _people(web)
    rows = plan_rows(web, people)
    rows[1]["code"] = "COAL-FC"  # twice
    rows[2]["missing_rule"] = "max_previous_12"  # would over-allocate: not conservative for production
    workflow = CATALOG.get("dqcp")
    with web.db.unit_of_work(org_id=1) as uow:
        record = create_record(
            uow.session, workflow=workflow, org_id=1, actor=people["carbon_manager"],
            form_data={"title": "草稿", "effective_from": "2025-01-01", "revision_trigger": "first_issue",
                       "revision_reason": "x", "rows": rows},
        )  # fmt: skip
        record_id = record.id
    with pytest.raises(GuardRefused) as refused, web.db.unit_of_work(org_id=1) as uow:
        fire_transition(uow.session, record_id=record_id, trigger="submit_for_approval",
                        actor=people["carbon_manager"], form_data={}, expected_version=1)  # fmt: skip
    assert "第 2 行：行编号“COAL-FC”重复" in refused.value.reason.zh
    assert "第 3 行" in refused.value.reason.zh and "不保守" in refused.value.reason.zh


def test_monthly_filing_tasks_proofs_and_the_board(web, tmp_path):
    people = _people(web)
    plan_id = _approved_plan(web, people)
    today = date(2025, 3, 15)
    with web.db.unit_of_work(org_id=1) as uow:
        plan = plan_in_force(uow.session)
        done = open_filing_tasks(uow.session, org_id=1, plan=plan, today=today)
    assert len(done) == 6  # 3 rows × January and February
    assert due_date_of("2025-01") == date(2025, 3, 12) and due_date_of("2025-02") == date(2025, 4, 9)
    with web.db.unit_of_work(org_id=1) as uow:
        again = open_filing_tasks(uow.session, org_id=1, plan=plan_in_force(uow.session), today=today)
    assert again == []  # exactly once
    with web.db.engine.connect() as connection:
        tasks = connection.execute(
            text("SELECT assignee_id, due_date, detail FROM task WHERE record_id = :r AND closed_at IS NULL "
                 "AND detail IS NOT NULL ORDER BY detail"), {"r": plan_id}
        ).all()  # fmt: skip
    assert len(tasks) == 6 and {t[0] for t in tasks} == {people["staff"].id}
    assert any(t[2] == "入窑煤消耗量 · 2025-01 月度存证" for t in tasks)
    with web.db.unit_of_work(org_id=1) as uow:
        plan = plan_in_force(uow.session)
        evidence = store_evidence(
            uow.session, org_id=1, actor=Actor(people["staff"].id, "赵敏"),
            evidence_store=LocalStore(tmp_path), filename="入窑煤台账-2025-01.pdf",
            chunks=[b"%PDF-1.4\n%%EOF\n"], max_bytes=10**6,
        )  # fmt: skip
        file_proof(uow.session, org_id=1, plan=plan, row_code="COAL-FC", period="2025-01",
                   evidence_id=evidence.id, actor=Actor(people["staff"].id, "赵敏"))  # fmt: skip
        board = filing_board(uow.session, org_id=1, plan=plan, year=2025, today=today)
        gaps = month_gaps(uow.session, org_id=1, plan=plan, period="2025-01")
    states = {(cell.row.code, cell.period): cell.state for line in board for cell in line}
    assert states[("COAL-FC", "2025-01")] == CellState.filed
    assert states[("COAL-NCV", "2025-01")] == CellState.overdue  # due 2025-03-12, today 03-15, no proof
    assert states[("COAL-NCV", "2025-02")] == CellState.open
    assert states[("COAL-NCV", "2025-03")] == CellState.future
    assert [gap.zh for gap in gaps] == ["入窑煤低位发热量（COAL-NCV）缺存证", "熟料产量（CLK-OUT）缺存证"]
    with web.db.engine.connect() as connection:
        closed = connection.execute(
            text("SELECT count(*) FROM task WHERE record_id = :r AND closed_at IS NOT NULL "
                 "AND detail = '入窑煤消耗量 · 2025-01 月度存证'"), {"r": plan_id}
        ).scalar()  # fmt: skip
    assert closed == 1


def test_a_missing_value_is_substituted_conservatively_with_a_reason(web):
    people = _people(web)
    _approved_plan(web, people, effective="2026-01-01")
    staff = Actor(people["carbon_manager"].id, "李娜")
    with web.db.unit_of_work(org_id=1) as uow:
        plan = plan_in_force(uow.session)
        with pytest.raises(FilingRefused) as no_reason:
            substitute_missing_value(uow.session, org_id=1, plan=plan, row_code="COAL-FC", period="2026-01",
                                     reason=" ", actor=staff)  # fmt: skip
        assert no_reason.value.field == "reason"
    with web.db.unit_of_work(org_id=1) as uow:
        plan = plan_in_force(uow.session)
        coal = substitute_missing_value(uow.session, org_id=1, plan=plan, row_code="COAL-FC",
                                        period="2026-01",
                                        reason="皮带秤故障，台账缺失", actor=staff)  # fmt: skip
        clinker = substitute_missing_value(uow.session, org_id=1, plan=plan, row_code="CLK-OUT",
                                           period="2026-01", reason="生产报表缺失", actor=staff)  # fmt: skip
    with web.db.engine.connect() as connection:
        months: dict[str, Decimal] = {}
        for moment, quantity in connection.execute(text(
            "SELECT r.period_start, r.quantity FROM activity_reading r "
            "JOIN emission_source s ON s.id = r.source_id "
            "WHERE s.code = 'KILN1-COAL'")):  # fmt: skip
            moment = moment if isinstance(moment, datetime) else datetime.fromisoformat(str(moment))
            month = period_label(moment)
            if month.startswith("2025"):
                months[month] = months.get(month, Decimal(0)) + Decimal(str(quantity)) / 1_000_000
        monthly_coal = list(months.values())
        clinker_2025 = [
            Decimal(str(v)) / 1_000_000 for (v,) in connection.execute(text(
                "SELECT quantity FROM production_output p JOIN product d ON d.id = p.product_id "
                "WHERE d.code = 'CLK' AND p.period BETWEEN '2025-01' AND '2025-12'"))
        ]  # fmt: skip
        audit = connection.execute(
            text(
                "SELECT count(*) FROM audit_event "
                "WHERE subject_type = 'dqcp_filing' AND action = 'value_substituted'"
            )
        ).scalar()
    assert coal == max(monthly_coal)  # the highest of the previous 12 months
    assert clinker == min(clinker_2025)  # production: the lowest, never over-allocating
    assert audit == 2
    with web.db.unit_of_work(org_id=1) as uow, pytest.raises(FilingRefused) as twice:
        substitute_missing_value(uow.session, org_id=1, plan=plan_in_force(uow.session), row_code="COAL-FC",
                                 period="2026-01", reason="再次", actor=staff)  # fmt: skip
    assert twice.value.field == "value"


def test_a_month_with_gaps_cannot_be_verified(web):
    people = _people(web)
    _approved_plan(web, people, effective="2025-01-01")
    workflow = CATALOG.get("carbon_data_batch")
    with web.db.unit_of_work(org_id=1) as uow:
        batch = create_record(uow.session, workflow=workflow, org_id=1, actor=people["staff"],
                              form_data={"title": "2025-06 数据", "period": "2025-06"})  # fmt: skip
        batch_id = batch.id
    with pytest.raises(GuardRefused) as refused, web.db.unit_of_work(org_id=1) as uow:
        fire_transition(uow.session, record_id=batch_id, trigger="verify", actor=people["carbon_manager"],
                        form_data={"checks": ["completeness"], "result": "passed"}, expected_version=1,
                        password_verified=True)  # fmt: skip
    assert "按数据质量控制计划，本月尚缺" in refused.value.reason.zh
    assert "入窑煤消耗量（COAL-FC）缺存证" in refused.value.reason.zh


def test_the_plan_page_shows_rows_as_labels_and_the_revision_log(web):
    people = _people(web)
    manager = web.as_role("carbon_manager")
    assert "尚无计划" in manager.get("/dqcp").text
    _approved_plan(web, people)
    page = manager.get("/dqcp").text
    assert "现行有效" in page and "入窑煤低位发热量" in page and "实验室检测" in page
    assert "取前 12 个月的最大值" in page and "CMA/CNAS 检测报告（同一样品）" in page and "赵敏" in page
    assert "首次编制" in page and "刘建国" in page  # the revision log: trigger and approver
    assert "max_previous_12" not in page and "lab_test" not in page
    verifier = web.as_role("external_auditor").get("/dqcp").text
    assert "入窑煤低位发热量" in verifier and 'action="/dqcp/revisions"' not in verifier
    token = csrf_of(page)
    refused = manager.post("/dqcp/revisions", data={"csrf_token": token, "revision_trigger": "data_error",
                                                      "revision_reason": ""})  # fmt: skip
    assert refused.status_code == 422 and "此项必填" in refused.text
    started = manager.post("/dqcp/revisions", data={"csrf_token": token, "revision_trigger": "data_error",
                                                      "revision_reason": "3 月化验数据录入错误"})  # fmt: skip
    assert started.status_code == 303 and started.headers["location"].startswith("/r/")
    assert "编制中" in manager.get("/dqcp").text  # the new version, not yet in force


def test_the_filing_board_takes_proofs_and_substitutions(web):
    people = _people(web)
    _approved_plan(web, people)
    staff = web.as_role("staff")
    board = staff.get("/dqcp/filing?year=2025")
    assert board.status_code == 200 and 'id="filing-board"' in board.text and "逾期" in board.text
    assert 'id="substitute"' not in board.text  # a carbon manager's control
    token = csrf_of(board.text)
    filed = staff.post(
        "/dqcp/filing/proofs",
        data={"csrf_token": token, "row": "COAL-FC", "period": "2025-03"},
        files={"evidence": ("入窑煤台账-2025-03.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")},
    )
    assert filed.status_code == 303, filed.text
    after = staff.get("/dqcp/filing?year=2025").text
    assert 'data-period="2025-03" data-state="filed"' in after
    manager = web.as_role("carbon_manager")
    token = csrf_of(manager.get("/dqcp/filing?year=2025").text)
    refused = manager.post(
        "/dqcp/filing/substitutions",
        data={"csrf_token": token, "row": "COAL-FC", "period": "2025-04", "reason": ""},
    )
    assert refused.status_code == 422 and "请填写缺失原因" in refused.text
    has_value = manager.post(
        "/dqcp/filing/substitutions",
        data={"csrf_token": token, "row": "COAL-FC", "period": "2025-04", "reason": "测试"},
    )
    assert has_value.status_code == 422 and "该月已有数值" in has_value.text


def test_an_anomaly_opens_one_nonconformity_linked_to_what_triggered_it(web):
    people = _people(web)
    plan_id = _approved_plan(web, people)  # COAL-FC: month-on-month threshold 30 %
    claimed: set[tuple[str, str]] = set()

    def claim(subject: str, period: str) -> bool:  # what the scheduler's idempotency rows do
        if (subject, period) in claimed:
            return False
        claimed.add((subject, period))
        return True

    with web.db.read_session(org_id=1) as session:
        plan = plan_in_force(session)
        values = month_values(session, org_id=1, years=[2025])
    february = values[("activity", "KILN1-COAL", "2025-02")]
    january = values[("activity", "KILN1-COAL", "2025-01")]
    assert abs(february - january) / january > Decimal("0.30")  # the demo's Spring Festival dip
    for _ in range(2):
        with web.db.unit_of_work(org_id=1) as uow:
            found = anomalies_of(uow.session, org_id=1, plan=plan_in_force(uow.session), period="2025-02",
                                 today=date(2025, 3, 5))  # fmt: skip
            opened = open_findings(
                uow.session, org_id=1, anomalies=found, claim=claim, today=date(2025, 3, 5)
            )
    assert opened == []  # the second sweep: claimed already
    with web.db.engine.connect() as connection:
        ncs = connection.execute(
            text("SELECT id, title, created_by FROM record WHERE workflow_key = 'nonconformity' "
                 "AND title LIKE '入窑煤消耗量 2025-02 环比变化%'")
        ).all()  # fmt: skip
        links = connection.execute(
            text("SELECT count(*) FROM record_link "
                 "WHERE from_record_id IN (:n, :p) AND to_record_id IN (:n, :p)"),
            {"n": ncs[0][0], "p": plan_id},
        ).scalar()  # fmt: skip
    assert len(ncs) == 1 and ncs[0][2] == people["staff"].id and links == 1
    assert plan is not None


def test_a_substituted_month_is_marked_on_the_inventory_and_in_the_report(web):
    people = _people(web)
    _approved_plan(web, people)
    with web.db.engine.begin() as connection:  # June's coal readings lost (a broken scale)
        connection.execute(text(
            "DELETE FROM activity_reading "
            "WHERE source_id = (SELECT id FROM emission_source WHERE code = 'KILN1-COAL') "
            "AND period_start >= :start AND period_start < :end"),
            {"start": datetime(2025, 5, 31, 16), "end": datetime(2025, 6, 30, 16)})  # fmt: skip
    manager = web.as_role("carbon_manager")
    token = csrf_of(manager.get("/dqcp/filing?year=2025").text)
    done = manager.post("/dqcp/filing/substitutions", data={
        "csrf_token": token, "row": "COAL-FC", "period": "2025-06",
        "reason": "皮带秤故障，6 月台账缺失"})  # fmt: skip
    assert done.status_code == 303, done.text
    page = manager.get("/emissions?year=2025").text
    assert 'data-substituted="COAL-FC@2025-06"' in page and "取前 12 个月的最大值" in page
    assert "皮带秤故障，6 月台账缺失" in page
    report = manager.get("/emissions/report.docx?year=2025")
    assert report.status_code == 200
    text_of_report = all_text(open_docx(report.content))
    assert "皮带秤故障，6 月台账缺失" in text_of_report and "取前 12 个月的最大值" in text_of_report


@pytest.mark.parametrize("role", ["carbon_manager", "external_auditor", "staff"])
def test_the_plan_pages_read_in_chinese(web, role):
    from tests.web.test_visible_text import problems_in, visible_text

    _approved_plan(web, _people(web))
    client = web.as_role(role)
    found = []
    for path in ("/dqcp", "/dqcp/filing?year=2025", "/dqcp/filing?year=2026"):
        page = client.get(path)
        assert page.status_code == 200, path
        found += [f"{path}: {problem}" for part in visible_text(page.text) for problem in problems_in(part)]
    assert not found, found


def test_the_board_shows_one_department(web):
    _approved_plan(web, _people(web))
    units = _ids(web, "org_unit")
    client = web.as_role("carbon_manager")
    everything = client.get("/dqcp/filing?year=2025").text
    assert everything.count('<tr data-row="') == 3
    kiln = client.get(f"/dqcp/filing?year=2025&department={units['KILN1']}").text
    assert kiln.count('<tr data-row="') == 3  # all three rows are the kiln line's
    other = client.get(f"/dqcp/filing?year=2025&department={units['QUARRY']}").text
    assert other.count('<tr data-row="') == 0
    assert client.get("/dqcp/filing?year=2025&department=").status_code == 200


def test_instrument_anomalies_open_findings_linked_to_the_instrument(plant):  # noqa: F811
    from engine.workflow.models import Record
    from tests.web.test_instruments import _id_of

    web = plant
    people = _people(web)
    scale = _id_of(web, "JL-W-011")  # 入窑煤皮带秤
    rows = plan_rows(web, people)
    rows[0]["instrument"] = scale
    workflow = CATALOG.get("dqcp")
    with web.db.unit_of_work(org_id=1) as uow:
        record = create_record(uow.session, workflow=workflow, org_id=1, actor=people["carbon_manager"],
                               form_data={"title": "计划", "effective_from": "2025-01-01",
                                          "revision_trigger": "first_issue", "revision_reason": "x",
                                          "rows": rows})  # fmt: skip
        plan_id = record.id
        fire_transition(uow.session, record_id=plan_id, trigger="submit_for_approval",
                        actor=people["carbon_manager"], form_data={}, expected_version=1)  # fmt: skip
        fire_transition(uow.session, record_id=plan_id, trigger="approve_plan",
                        actor=people["top_management"],
                        form_data={}, expected_version=2, password_verified=True)  # fmt: skip
        instrument = uow.session.get(Record, scale)
        instrument.data = {**instrument.data, "range_lower": "0", "range_upper": "5000", "range_unit": "t"}
        uow.session.add(instrument)
    claimed: set[tuple[str, str]] = set()

    def claim(subject: str, period: str) -> bool:
        if (subject, period) in claimed:
            return False
        claimed.add((subject, period))
        return True

    for today in (date(2025, 4, 2), date(2025, 4, 2), date(2026, 12, 7), date(2026, 12, 7)):
        with web.db.unit_of_work(org_id=1) as uow:
            plan = plan_in_force(uow.session)
            found = anomalies_of(uow.session, org_id=1, plan=plan, period="2025-03", today=today)
            open_findings(uow.session, org_id=1, anomalies=found, claim=claim, today=today)
    rules = {subject.split(":")[0] for subject, _ in claimed}
    assert {"outside_range", "calibration_overdue"} <= rules
    with web.db.engine.connect() as connection:
        titles = connection.execute(
            text("SELECT title FROM record WHERE workflow_key = 'nonconformity' AND "
                 "(title LIKE '%超出计量器具%' OR title LIKE '%超过检定/校准有效期%')")
        ).scalars().all()  # fmt: skip
    assert any("入窑煤消耗量 2025-03" in title and "量程" in title for title in titles), titles
    assert len(titles) == len(set(titles))  # each once

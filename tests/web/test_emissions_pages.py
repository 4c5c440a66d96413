"""Emissions pages and the bulk meter API, through the app."""

import json
import re

from sqlalchemy import text

from tests.web.conftest import csrf_of
from tests.web.test_records_api import api_as


def test_the_inventory_page_shows_the_demo_year_and_freezes_a_snapshot(web):
    client = web.as_role("carbon_manager")
    page = client.get("/emissions?year=2025")
    assert page.status_code == 200
    total = re.search(r'id="total-tco2e">([^<]+)<', page.text).group(1)
    assert total.endswith("tCO₂e") and float(total.split()[0].replace(",", "")) > 1_000_000
    assert 'id="chart-data"' in page.text and "echarts-6.1.0.min.js" in page.text
    # 2025 uses the 2023 grid factor (2025's is not published): freezing it needs a reason.
    posted = {"csrf_token": csrf_of(page.text), "year": "2025", "freeze_reason": "年度报送"}
    frozen = client.post("/emissions/snapshots", data=posted)
    assert frozen.status_code == 303
    again = client.post("/emissions/snapshots", data=posted)
    assert again.status_code == 303
    with web.db.engine.connect() as connection:
        assert (
            connection.execute(text("SELECT count(*) FROM inventory_snapshot WHERE year = 2025")).scalar()
            == 1
        )
    staff = web.as_role("staff")
    denied = staff.post(
        "/emissions/snapshots", data={"csrf_token": csrf_of(staff.get("/").text), "year": "2025"}
    )
    assert denied.status_code == 403


def grid_post(client, year: int, changes: dict[int, str], **extra: str) -> tuple[dict, dict]:
    """A grid form as the page would post it, with ``changes`` {cell index: new value}."""
    grid = client.get(f"/emissions/data?year={year}").text
    cells = dict(re.findall(rf'name="(q-\d+-{year}-\d\d)" value="([^"]*)"', grid))
    names = list(cells)
    posted = {"csrf_token": csrf_of(grid), "year": str(year), **extra}
    for index, value in changes.items():
        posted[names[index]] = value
        posted["o-" + names[index][2:]] = cells[names[index]]
    return posted, {i: names[i] for i in changes}


def test_a_bad_cell_in_the_monthly_grid_saves_nothing_and_names_itself(web):
    client = web.as_role("carbon_manager")
    posted, names = grid_post(client, 2026, {0: "777", 1: "-5"})  # 2026 has no verified batch yet
    refused = client.post("/emissions/data", data=posted)
    assert refused.status_code == 422 and 'data-issue-field="quantity"' in refused.text
    fresh = client.get("/emissions/data?year=2026").text
    assert re.search(rf'name="{names[0]}" value="([^"]*)"', fresh).group(1) == ""  # not saved
    posted[names[1]] = "888"
    saved = client.post("/emissions/data", data=posted)
    assert saved.status_code == 200 and 'id="data-saved"' in saved.text
    assert re.search(rf'name="{names[0]}" value="([^"]*)"', saved.text).group(1) == "777"


def test_a_refused_grid_keeps_what_was_typed_and_marks_the_bad_cell_by_source_and_month(web):
    client = web.as_role("carbon_manager")
    posted, names = grid_post(client, 2026, {0: "777", 2: "12,5吨"})
    refused = client.post("/emissions/data", data=posted)
    assert refused.status_code == 422
    good, bad = names[0], names[2]
    assert re.search(rf'name="{good}" value="([^"]*)"', refused.text).group(1) == "777"  # kept, not lost
    assert re.search(rf'class="[^"]*is-danger[^"]*" name="{bad}" value="12,5吨"', refused.text)
    assert not re.search(rf'class="[^"]*is-danger[^"]*" name="{good}"', refused.text)
    issues = re.search(r'id="data-issues".*?</div>', refused.text, re.S).group(0)
    source_id, month = re.fullmatch(r"q-(\d+)-(\d{4}-\d\d)", bad).groups()
    with web.db.engine.connect() as connection:
        name = connection.execute(
            text("SELECT name FROM emission_source WHERE id = :i"), {"i": int(source_id)}
        ).scalar()
    assert name in issues and month in issues and "数量必须是数字" in issues
    assert "quantity" not in re.sub(r'data-issue-field="[^"]*"', "", issues)  # no internal key is shown


def test_changing_a_reported_month_needs_a_reason_and_sends_the_batch_back(web):
    assert _batch_state(web, "2025-01") == "reported"
    staff = web.as_role("staff")
    posted, _ = grid_post(staff, 2025, {0: "100"})
    unexplained = staff.post("/emissions/data", data=posted)
    assert unexplained.status_code == 422 and 'data-issue-field="reason"' in unexplained.text
    not_allowed = staff.post("/emissions/data", data={**posted, "reason": "更正"})
    assert not_allowed.status_code == 422 and "角色" in not_allowed.text  # reopening is the carbon manager's
    manager = web.as_role("carbon_manager")
    posted, _ = grid_post(manager, 2025, {0: "100"}, reason="1 月抄表读数录入错误，按原始记录更正")
    saved = manager.post("/emissions/data", data=posted)
    assert saved.status_code == 200 and 'id="data-saved"' in saved.text
    assert _batch_state(web, "2025-01") == "collected"
    with web.db.engine.connect() as connection:
        reason = connection.execute(text("SELECT reason FROM audit_event WHERE action = 'reopen'")).scalar()
    assert reason == "1 月抄表读数录入错误，按原始记录更正"


def _batch_state(web, period: str) -> str:
    with web.db.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT state, data FROM record WHERE workflow_key = 'carbon_data_batch'")
        )
        return next(
            state
            for state, data in rows
            if (data if isinstance(data, dict) else json.loads(data))["period"] == period
        )


def _readings(web) -> int:
    with web.db.engine.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM activity_reading")).scalar()


def test_an_import_or_meter_data_into_a_reported_month_needs_a_reason_and_reopens_it(web):
    """8.6 holds on every way in, not only the grid: file import and the bulk meter API."""
    client = web.as_role("carbon_manager")
    page = client.get("/emissions/import").text
    with web.db.engine.connect() as connection:
        source_id, code = connection.execute(text("SELECT id, code FROM emission_source ORDER BY id")).first()
    assert _batch_state(web, "2025-02") == "reported"
    before = _readings(web)
    csv = f"source_code,period,quantity\n{code},2025-02,4321\n".encode()
    refused = client.post(
        "/emissions/import", data={"csrf_token": csrf_of(page)}, files={"file": ("fix.csv", csv, "text/csv")}
    )
    assert (
        refused.status_code == 422
        and 'data-issue-field="reason"' in refused.text
        and "2025-02" in refused.text
    )
    assert _batch_state(web, "2025-02") == "reported"
    accepted = client.post(
        "/emissions/import",
        data={"csrf_token": csrf_of(page), "reason": "2 月原煤入炉计量更正"},
        files={"file": ("fix.csv", csv, "text/csv")},
    )
    assert accepted.status_code == 200 and 'id="import-result"' in accepted.text
    assert _batch_state(web, "2025-02") == "collected"
    assert _readings(web) == before  # the month's reading was corrected, not duplicated

    api = api_as(web, "carbon@xiangfeng.example")
    late = {
        "readings": [{"source_id": source_id, "period_start": "2025-03-15T10:00:00+08:00", "quantity": "2"}]
    }
    assert _batch_state(web, "2025-03") == "reported"
    no_reason = api.post("/api/v1/meter-readings", json=late, headers={"Idempotency-Key": "late-2025-03-a"})
    assert no_reason.status_code == 422
    assert [e["field"] for e in no_reason.json()["errors"]] == ["reason"]
    assert _readings(web) == before and _batch_state(web, "2025-03") == "reported"
    explained = api.post(
        "/api/v1/meter-readings",
        json={**late, "reason": "能源管理系统补传 3 月 15 日数据"},
        headers={"Idempotency-Key": "late-2025-03-b"},
    )
    assert explained.status_code == 201 and _readings(web) == before + 1
    assert _batch_state(web, "2025-03") == "collected"


def test_an_import_with_a_bad_row_imports_nothing_and_lists_row_and_column(web):
    client = web.as_role("carbon_manager")
    page = client.get("/emissions/import").text
    csv = (
        "source_code,period,quantity,unit\n"
        "KILN1-COAL,2026-01,1000,t\n"
        "NO-SUCH,2026-01,5,t\n"
        "KILN1-COAL,2026-13,5,t\n"
    )
    with web.db.engine.connect() as connection:
        code = connection.execute(text("SELECT code FROM emission_source ORDER BY id")).scalar()
        before = connection.execute(text("SELECT count(*) FROM activity_reading")).scalar()
    csv = csv.replace("KILN1-COAL", code)
    response = client.post(
        "/emissions/import",
        data={"csrf_token": csrf_of(page)},
        files={"file": ("data.csv", csv.encode(), "text/csv")},
    )
    assert response.status_code == 422
    rows = set(re.findall(r'data-issue-row="(\d+)"', response.text))
    assert rows == {"3", "4"}
    with web.db.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM activity_reading")).scalar() == before


def test_meter_api_is_idempotent(web):
    client = api_as(web, "carbon@xiangfeng.example")
    with web.db.engine.connect() as connection:
        source_id = connection.execute(text("SELECT id FROM emission_source ORDER BY id")).scalar()
    body = {
        "readings": [
            {"source_id": source_id, "period_start": f"2026-02-01T{h:02d}:00:00+08:00", "quantity": "1.5"}
            for h in range(24)
        ]
    }
    first = client.post("/api/v1/meter-readings", json=body, headers={"Idempotency-Key": "meter-2026-02-01"})
    replay = client.post("/api/v1/meter-readings", json=body, headers={"Idempotency-Key": "meter-2026-02-01"})
    assert first.status_code == 201 and first.json()["inserted"] == 24
    assert replay.status_code == 200 and replay.json()["replayed"] is True
    with web.db.engine.connect() as connection:
        stored = connection.execute(
            text(
                "SELECT count(*) FROM activity_reading WHERE source_id = :s AND period_start >= '2026-01-31'"
            ),
            {"s": source_id},
        ).scalar()
    assert stored == 24


def test_the_ghg_report_carries_the_gbt32150_sections_in_chinese(web, tmp_path):
    import shutil
    import subprocess
    from io import BytesIO

    from docx import Document

    response = web.as_role("top_management").get("/emissions/report.docx?year=2025")
    assert response.status_code == 200
    assert response.headers["content-disposition"].endswith("ghg-report-2025.docx")
    document = Document(BytesIO(response.content))
    headings = [p.text for p in document.paragraphs if p.style.name.startswith("Heading")]
    assert [h.split()[0] for h in headings] == ["1", "2", "3", "4", "5", "6", "7"]
    east_asian = document.styles["Normal"].element.rPr.rFonts.get(
        "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}eastAsia"
    )
    assert east_asian == "宋体"
    office = shutil.which("soffice") or shutil.which("libreoffice")
    if office is None:
        return  # the PDF rendering check needs LibreOffice (Debian's libreoffice-writer)
    path = tmp_path / "report.docx"
    path.write_bytes(response.content)
    subprocess.run(
        [office, "--headless", "--convert-to", "pdf", "--outdir", str(tmp_path), str(path)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    text = subprocess.run(
        ["pdftotext", str(tmp_path / "report.pdf"), "-"], capture_output=True, text=True
    ).stdout
    text = text.replace("\n", "")  # the title wraps
    assert "温室气体排放报告" in text and "湖南湘峰水泥有限公司" in text and "报告主体与核算边界" in text
    fonts = subprocess.run(["pdffonts", str(tmp_path / "report.pdf")], capture_output=True, text=True).stdout
    assert "CJK" in fonts or "Song" in fonts or "Hei" in fonts, fonts  # a real Chinese font is embedded


def test_a_snapshot_takes_verified_months_only(web):
    client = web.as_role("carbon_manager")
    page = client.get("/emissions?year=2026")
    assert 'id="unverified-months"' in page.text and "2026-01" in page.text
    refused = client.post("/emissions/snapshots", data={"csrf_token": csrf_of(page.text), "year": "2026"})
    assert refused.status_code == 409 and "2026-01" in refused.text
    with web.db.engine.connect() as connection:
        assert (
            connection.execute(text("SELECT count(*) FROM inventory_snapshot WHERE year = 2026")).scalar()
            == 0
        )


def test_performance_parameters_at_four_levels_with_thresholds(web):
    page = web.as_role("top_management").get("/emissions/parameters?year=2025")
    assert page.status_code == 200
    rows = dict(re.findall(r'data-parameter="([^"]+)" data-status="([a-z]+)"', page.text))
    assert set(rows) == {"CPP-ENT-TOTAL", "CPP-ENT-CLK", "CPP-DEP-PROD", "CPP-FAC-KILN1", "CPP-PRD-CEM"}
    assert "error" not in rows.values()
    for level in ("企业", "部门", "设施", "产品"):
        assert f"<td>{level}</td>" in page.text


def test_a_formula_only_does_arithmetic_on_known_quantities():
    from decimal import Decimal

    import pytest

    from engine.emissions.formula import FormulaError, evaluate

    values = {"unit.KILN1": Decimal("1159757.99"), "production.CLK": Decimal("1400000")}
    assert evaluate("unit.KILN1 / production.CLK", values) == Decimal("1159757.99") / Decimal("1400000")
    for bad in ('__import__("os").system("id")', "unit.KILN1 ** 2", "unit.NOPE", "1 / 0", "lambda: 1"):
        with pytest.raises(FormulaError):
            evaluate(bad, values)


def test_the_inventory_charts_speak_chinese_and_show_the_target_path(web):
    page = web.as_role("carbon_manager").get("/emissions?year=2025").text
    labels = json.loads(
        re.search(r'<script type="application/json" id="chart-labels">(.*?)</script>', page).group(1)
    )
    assert (
        labels["categories"]["combustion"] == "化石燃料燃烧" or "燃烧" in labels["categories"]["combustion"]
    )
    assert all(not name.isascii() for name in labels["categories"].values())
    chart = json.loads(
        re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', page).group(1)
    )
    target = chart["targets"][0]
    assert target["years"][0] < target["years"][-1] and len(target["path"]) == len(target["years"])
    assert target["path"][0] > target["path"][-1]  # a reduction path goes down
    assert 'id="chart-targets"' in page


def test_whoever_entered_a_months_data_cannot_verify_its_batch(web):
    """8.6 three levels by different people: the separation covers the people who typed the data in, not
    only the one who opened the batch."""
    import pytest

    from engine.identity.users import get_user_by_email
    from engine.workflow.access import ActorRef
    from engine.workflow.errors import SeparationRefused
    from engine.workflow.lifecycle import create_record, fire_transition
    from tests.web.conftest import CATALOG

    def actor(email: str, role: str) -> ActorRef:
        with web.db.read_session() as session:
            user = get_user_by_email(session, email=email)
        return ActorRef(id=user.id, name=user.display_name, roles=frozenset({role}))

    with web.db.engine.connect() as connection:
        org_id = connection.execute(
            text("SELECT id FROM organization WHERE slug = 'xiangfeng-cement'")
        ).scalar()
    with web.db.unit_of_work(org_id=org_id) as uow:
        batch_id = create_record(
            uow.session,
            workflow=CATALOG.get("carbon_data_batch"),
            org_id=org_id,
            actor=actor("staff@xiangfeng.example", "staff"),
            form_data={"title": "2026 年 3 月碳数据", "period": "2026-03", "collection_note": "DCS 月末读数"},
        ).id
    manager = web.as_role("carbon_manager")
    posted, _ = grid_post(manager, 2026, {2: "4321"})  # a March cell
    assert manager.post("/emissions/data", data=posted).status_code == 200

    def verify(who: ActorRef):
        with web.db.unit_of_work(org_id=org_id) as uow:
            fire_transition(
                uow.session,
                record_id=batch_id,
                trigger="verify",
                actor=who,
                form_data={"checks": ["completeness", "evidence"], "result": "passed"},
                expected_version=1,
                password_verified=True,
            )

    with pytest.raises(SeparationRefused):
        verify(actor("carbon@xiangfeng.example", "carbon_manager"))
    verify(actor("quality@xiangfeng.example", "quality_manager"))
    assert _batch_state(web, "2026-03") == "verified"

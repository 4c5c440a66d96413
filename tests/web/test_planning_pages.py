"""6.3 planning pages: baselines and targets, and CPP definitions, through the app. Bad input is refused
field by field (row by row), in the user's language, and nothing is written."""

import re

from sqlalchemy import text

from tests.web.conftest import csrf_of


def _count(web, table: str) -> int:
    with web.db.engine.connect() as connection:
        return connection.execute(text(f"SELECT count(*) FROM {table}")).scalar()


def _audited(web, subject_type: str) -> int:
    with web.db.engine.connect() as connection:
        return connection.execute(
            text("SELECT count(*) FROM audit_event WHERE subject_type = :t AND action = 'created'"),
            {"t": subject_type},
        ).scalar()


def test_the_targets_page_evaluates_the_demo_baseline_and_target(web):
    page = web.as_role("top_management").get("/emissions/targets?year=2025")
    assert page.status_code == 200
    baseline_row = re.search(r'<tr data-baseline="\d+">(.*?)</tr>', page.text, re.S).group(1)
    assert "<strong>" in baseline_row and "data-problem" not in baseline_row
    target_row = re.search(r'<tr data-target="\d+">(.*?)</tr>', page.text, re.S).group(1)
    assert "%" in target_row and 'class="tag' in target_row and "data-problem" not in target_row
    assert 'id="baseline-form"' not in page.text  # top management reads; the carbon manager edits


def test_a_baseline_is_added_and_evaluated(web):
    client = web.as_role("carbon_manager")
    page = client.get("/emissions/targets")
    before = _count(web, "emission_baseline")
    saved = client.post(
        "/emissions/baselines",
        data={
            "csrf_token": csrf_of(page.text),
            "name": "2024–2025 平均",
            "year-1": "2024",
            "weight-1": "1",
            "year-2": "2025",
            "weight-2": "2",
            "reason-1": "窑头余热电站并网，边界调整",
            "delta-1": "-1500",
        },
    )
    assert saved.status_code == 303
    assert _count(web, "emission_baseline") == before + 1
    assert _audited(web, "emission_baseline") == before + 1
    shown = client.get("/emissions/targets?year=2025").text
    row = re.findall(r'<tr data-baseline="\d+">(.*?)</tr>', shown, re.S)[-1]
    assert "2024 × 1, 2025 × 2" in row and "窑头余热电站并网" in row and "<strong>" in row


def test_a_bad_baseline_names_every_row_and_field_and_saves_nothing(web):
    client = web.as_role("carbon_manager")
    page = client.get("/emissions/targets")
    before, events = _count(web, "emission_baseline"), _count(web, "audit_event")
    refused = client.post(
        "/emissions/baselines",
        data={
            "csrf_token": csrf_of(page.text),
            "name": "",
            "year-1": "二〇二四",
            "year-2": "2025",
            "weight-2": "heavy",
            "reason-1": "",
            "delta-1": "12",
        },
    )
    assert refused.status_code == 422
    found = set(re.findall(r'data-issue-row="([^"]*)" data-issue-field="([^"]+)"', refused.text))
    assert {("1", "year"), ("2", "weight"), ("None", "name")} <= found
    assert "应为整数" in refused.text and 'value="二〇二四"' in refused.text  # what was typed stays
    assert (_count(web, "emission_baseline"), _count(web, "audit_event")) == (before, events)


def test_a_target_is_added_and_a_bad_one_is_refused_in_english(web):
    client = web.as_role("carbon_manager")
    client.cookies.set("tanguan_locale", "en")
    page = client.get("/emissions/targets", headers={"Accept-Language": "en"})
    before = _count(web, "emission_target")
    refused = client.post(
        "/emissions/targets",
        data={
            "csrf_token": csrf_of(page.text),
            "kind": "intensity",
            "base_year": "2025",
            "target_year": "2020",
            "reduction_pct": "150",
            "product_id": "",
        },
        headers={"Accept-Language": "en"},
    )
    assert refused.status_code == 422
    fields = set(re.findall(r'data-issue-field="([^"]+)"', refused.text))
    assert {"target_year", "reduction_pct", "product_id"} <= fields
    assert "the target year must be after the base year" in refused.text
    assert _count(web, "emission_target") == before
    saved = client.post(
        "/emissions/targets",
        data={
            "csrf_token": csrf_of(page.text),
            "kind": "total",
            "base_year": "2024",
            "target_year": "2030",
            "reduction_pct": "18",
            "note": "十四五后期目标",
        },
    )
    assert saved.status_code == 303 and _count(web, "emission_target") == before + 1
    shown = client.get("/emissions/targets?year=2025").text
    row = re.findall(r'<tr data-target="\d+">(.*?)</tr>', shown, re.S)[-1]
    assert "2030" in row and "18" in row and "data-problem" not in row


def test_staff_cannot_add_baselines_targets_or_parameters(web):
    staff = web.as_role("staff")
    token = csrf_of(staff.get("/").text)
    for path in ("/emissions/baselines", "/emissions/targets", "/emissions/parameters"):
        assert staff.post(path, data={"csrf_token": token}).status_code == 403


def test_a_parameter_is_defined_and_evaluated(web):
    client = web.as_role("carbon_manager")
    page = client.get("/emissions/parameters?year=2025")
    kiln = re.search(r'<option value="(\d+)" >KILN1 · ', page.text) or re.search(
        r'<option value="(\d+)"\s*>KILN1', page.text
    )
    assert kiln, "the unit list offers the kiln"
    saved = client.post(
        "/emissions/parameters",
        data={
            "csrf_token": csrf_of(page.text),
            "code": "CPP-FAC-KILN1-COMB",
            "name": "1# 窑燃料燃烧排放",
            "level": "facility",
            "org_unit_id": kiln.group(1),
            "formula": "unit.KILN1",
            "unit": "tCO2e",
            "threshold_warn": "1200000",
            "threshold_alarm": "1300000",
        },
    )
    assert saved.status_code == 303
    shown = client.get("/emissions/parameters?year=2025").text
    status = re.search(r'data-parameter="CPP-FAC-KILN1-COMB" data-status="([a-z]+)"', shown).group(1)
    assert status in {"ok", "warn", "alarm"}


def test_a_bad_parameter_lists_every_problem_and_saves_nothing(web):
    client = web.as_role("carbon_manager")
    page = client.get("/emissions/parameters")
    before, events = _count(web, "performance_parameter"), _count(web, "audit_event")
    refused = client.post(
        "/emissions/parameters",
        data={
            "csrf_token": csrf_of(page.text),
            "code": "CPP-ENT-TOTAL",  # taken by the demo
            "name": "",
            "level": "facility",
            "org_unit_id": "",
            "formula": "__import__('os').system('id')",
            "unit": "t",
            "threshold_warn": "10",
            "threshold_alarm": "abc",
        },
    )
    assert refused.status_code == 422
    fields = set(re.findall(r'data-issue-field="([^"]+)"', refused.text))
    assert {"code", "name", "org_unit_id", "formula", "threshold_alarm"} <= fields
    assert "已被使用" in refused.text
    assert (_count(web, "performance_parameter"), _count(web, "audit_event")) == (before, events)
    unknown = client.post(
        "/emissions/parameters",
        data={
            "csrf_token": csrf_of(page.text),
            "code": "CPP-X",
            "name": "未知名称",
            "level": "enterprise",
            "formula": "total / output.CLK",
            "unit": "t",
        },
    )
    assert unknown.status_code == 422 and "output.CLK" in unknown.text

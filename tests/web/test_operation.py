"""8.1–8.5 and 8.7 over HTTP on the demo plant's seeded records: the registers in Chinese with their
columns, a measured value out of range opening a linked nonconformity (and one within range opening none),
the supplier score and grade, the design review's GB 17167 metering guard, the reduction project's roles and
signatures, and the compliance-year balance on /carbon-assets — with no internal keys on the pages."""

import json
from datetime import date

import pytest
from sqlalchemy import text

from demo.operation import seed_demo_operation
from demo.seed import DEMO_LOGINS, DEMO_PASSWORD, demo_people
from engine.workflow.lifecycle import PROCESS_CONTEXT, ProcessContext
from tests.web.conftest import CATALOG, api_token, bearer_client
from tests.web.test_visible_text import ISO_INSTANT, SNAKE, visible_text
from workflows.hooks.operation import grade_of, suppliers_due, weighted_score

EMAIL = {login.role.value: login.email for login in DEMO_LOGINS}


@pytest.fixture
def plant(web):
    with web.db.unit_of_work(all_orgs=True) as uow:
        org_id = uow.session.execute(
            text("SELECT id FROM organization WHERE slug = 'xiangfeng-cement'")
        ).scalar()
        uow.session.info[PROCESS_CONTEXT] = ProcessContext(CATALOG, web.app.state.secret_key)
        seed_demo_operation(
            uow.session,
            catalog=CATALOG,
            org_id=org_id,
            people=demo_people(uow.session),
            evidence_store=web.settings.evidence_store,
        )
    return web


def _records(web, key: str) -> list[tuple[int, str, str, dict]]:
    with web.db.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT id, number, state, data FROM record WHERE workflow_key = :k ORDER BY id"), {"k": key}
        ).all()
    return [(i, n, s, json.loads(d) if isinstance(d, str) else d) for i, n, s, d in rows]


def _api(web, role: str):
    return bearer_client(web, api_token(web, EMAIL[role], name=f"op-{role}"))


def _plain(html: str) -> list[str]:
    problems = []
    for part in visible_text(html):
        problems += [f"key {m!r} in {part!r}" for m in SNAKE.findall(part)]
        problems += [f"timestamp in {part!r}" for m in ISO_INSTANT.findall(part)]
    return problems


REGISTERS = {
    "reduction_project": ["项目类型", "余热发电", "预计年减排量", "减排量已核证", "4870 tCO2e/年"],
    "design_review": ["低碳设计评审", "有条件通过", "评审中"],
    "supplier_evaluation": ["供应商编码", "GYS-COAL-01", "等级", "暂停供货", "下次评价日期"],
    "operating_criterion": ["熟料单位产品综合煤耗", "kgce/t", "超出上限", "每日"],
    "storage_transport_measure": ["运输", "部分有效"],
    "carbon_asset_transaction": ["配额（CEA）分配", "CCER 买入", "88.5"],
    "compliance_year": ["清缴截止日期", "2026-12-31", "已履约"],
}


def test_each_register_lists_its_columns_in_chinese(plant):
    client = plant.as_role("carbon_manager")
    for key, shown in REGISTERS.items():
        page = client.get(f"/records/{key}")
        assert page.status_code == 200
        for text_shown in shown:
            assert text_shown in page.text, (key, text_shown)
        assert _plain(page.text) == [], key
        assert client.get(f"/records/{key}/export.xlsx").content[:2] == b"PK"


def _the_demo_deviation_opened_a_nonconformity_linked_to_its_criterion(plant):
    criteria = _records(plant, "operating_criterion")
    coal = next(c for c in criteria if c[3]["parameter"] == "熟料单位产品综合煤耗")
    assert coal[3]["last_result"] == "above" and [r["result"] for r in coal[3]["measurements"]] == [
        "within",
        "above",
    ]
    ncs = [nc for nc in _records(plant, "nonconformity") if nc[3].get("related_record") == coal[0]]
    assert len(ncs) == 1 and "超出上限" in ncs[0][3]["title"] and ncs[0][3]["source"] == "monitoring"
    page = plant.as_role("process_owner").get(f"/r/{coal[0]}")
    assert ncs[0][1] in page.text and "106.3" in page.text and _plain(page.text) == []


def test_a_value_out_of_range_opens_a_nonconformity_and_one_within_does_not(plant):
    client = _api(plant, "process_owner")
    record_id, _, _, data = next(c for c in _records(plant, "operating_criterion") if c[3]["unit"] == "kg/t")
    before = len(_records(plant, "nonconformity"))
    version = client.get(f"/api/v1/records/{record_id}").json()["version"]
    inside = client.post(
        f"/api/v1/records/{record_id}/transitions/record_deviation",
        json={"version": version, "data": {"measured_on": "2026-12-01", "measured_value": "149.9"}},
    )
    assert inside.status_code == 200, inside.text
    assert (
        inside.json()["data"]["last_result"] == "within" and len(_records(plant, "nonconformity")) == before
    )
    below = client.post(
        f"/api/v1/records/{record_id}/transitions/record_deviation",
        json={"version": version + 1, "data": {"measured_on": "2026-12-02", "measured_value": "121.5"}},
    )
    assert below.status_code == 200 and below.json()["data"]["last_result"] == "below"
    ncs = _records(plant, "nonconformity")
    assert len(ncs) == before + 1
    nc = ncs[-1]
    assert nc[2] == "reported" and nc[3]["related_record"] == record_id and "低于下限" in nc[3]["title"]
    assert nc[3]["org_unit"] == data["facility"]
    bad = client.post(
        f"/api/v1/records/{record_id}/transitions/record_deviation",
        json={"version": version + 2, "data": {"measured_on": "2026-12-03", "measured_value": "很多"}},
    )
    assert bad.status_code == 422 and "measured_value" in bad.text
    assert len(_records(plant, "nonconformity")) == before + 1
    _staff_cannot_record_a_deviation(plant)
    _limits_out_of_order_are_refused_on_their_field(plant)
    _the_demo_deviation_opened_a_nonconformity_linked_to_its_criterion(plant)


def _limits_out_of_order_are_refused_on_their_field(plant):
    client = _api(plant, "carbon_manager")
    base = {
        "parameter": "窑尾 O2 含量",
        "facility": _records(plant, "operating_criterion")[0][3]["facility"],
        "unit": "%",
        "monitoring_frequency": "continuous",
        "responsible": _user_id(plant, "process_owner"),
    }
    before = len(_records(plant, "operating_criterion"))
    for extra, field in (
        ({"lower_limit": "3.5", "upper_limit": "1.5"}, "upper_limit"),
        ({"lower_limit": "1.5", "upper_limit": "3.5", "target": "4"}, "target"),
    ):
        refused = client.post(
            "/api/v1/records", json={"workflow": "operating_criterion", "data": {**base, **extra}}
        )
        assert refused.status_code == 422 and field in refused.text, refused.text
    assert len(_records(plant, "operating_criterion")) == before


def _staff_cannot_record_a_deviation(plant):
    record_id = _records(plant, "operating_criterion")[0][0]
    client = _api(plant, "staff")
    version = client.get(f"/api/v1/records/{record_id}").json()["version"]
    answer = client.post(
        f"/api/v1/records/{record_id}/transitions/record_deviation",
        json={"version": version, "data": {"measured_on": "2026-12-01", "measured_value": "500"}},
    )
    assert answer.status_code == 403


def test_the_supplier_score_is_the_weighted_average_and_the_code_is_unique(plant):
    assert weighted_score([{"weight": "60", "score": "90"}, {"weight": "40", "score": "70"}]) == 82
    assert [grade_of(weighted_score([{"weight": "1", "score": v}])) for v in ("95", "75", "60", "59.9")] == [
        "A",
        "B",
        "C",
        "D",
    ]
    suppliers = {d["code"]: (i, s, d) for i, _, s, d in _records(plant, "supplier_evaluation")}
    assert len(suppliers) == 8
    assert suppliers["GYS-TR-01"][2]["grade"] == "D" and suppliers["GYS-TR-01"][1] == "suspended"
    assert suppliers["GYS-ELEC-01"][2]["grade"] == "A"
    assert suppliers["GYS-RDF-01"][2]["next_evaluation_due"] == "2026-12-30"  # six months after 2026-06-30
    client = _api(plant, "quality_manager")
    taken = client.post(
        "/api/v1/records",
        json={
            "workflow": "supplier_evaluation",
            "data": {
                "code": "GYS-COAL-01",
                "name": "重复",
                "category": "coal",
                "evaluation_interval_months": 12,
            },
        },
    )
    assert taken.status_code == 422 and "code" in taken.text
    record_id = suppliers["GYS-LS-01"][0]
    version = client.get(f"/api/v1/records/{record_id}").json()["version"]
    evaluated = client.post(
        f"/api/v1/records/{record_id}/transitions/evaluate_supplier",
        json={
            "version": version,
            "data": {
                "evaluation_date": "2026-12-01",
                "evaluator": _user_id(plant, "carbon_manager"),
                "criteria": [
                    {"criterion": "碳足迹", "weight": 50, "score": 92},
                    {"criterion": "运输", "weight": 50, "score": 86},
                ],
            },
        },
    )
    assert evaluated.status_code == 200, evaluated.text
    data = evaluated.json()["data"]
    assert (data["total_score"], data["grade"], data["next_evaluation_due"]) == ("89", "B", "2027-12-01")
    assert [row["evaluation_date"] for row in data["evaluations"]] == ["2026-04-08", "2026-12-01"]


def _user_id(web, role: str) -> int:
    with web.db.engine.connect() as connection:
        return connection.execute(
            text("SELECT id FROM user_account WHERE email = :e"), {"e": EMAIL[role]}
        ).scalar()


def _the_buyer_is_reminded_of_evaluations_falling_due(plant):
    with plant.db.unit_of_work(all_orgs=True) as uow:
        due = list(suppliers_due(uow.session, date(2026, 12, 7)))
    titles = [d.title.zh for d in due]
    assert any("娄底市城乡环境卫生" in t for t in titles)  # the RDF supplier, due 2026-12-30
    assert all(d.user_ids == (_user_id(plant, "quality_manager"),) for d in due)
    assert any("华能岳阳" in t for t in titles)  # evaluated 2025-11-18: due 2026-11-18, overdue
    assert not any("涟邵" in t for t in titles)  # evaluated 2026-03-12: due 2027-03-12


def test_a_design_review_is_concluded_only_with_the_metering_item(plant):
    client = _api(plant, "process_owner")
    created = client.post(
        "/api/v1/records",
        json={
            "workflow": "design_review",
            "data": {
                "subject": "生料磨选粉机改造",
                "subject_kind": "process",
                "checklist": [{"aspect": "energy_efficiency", "item": "选粉效率", "result": "conforming"}],
            },
        },
    )
    assert created.status_code == 201, created.text
    record = created.json()
    assert record["data"]["metering_reviewed"] == "no" and record["data"]["conforming_items"] == "1"
    manager = _api(plant, "carbon_manager")
    conclusion = {
        "conclusion": "approved",
        "reviewer": _user_id(plant, "carbon_manager"),
        "reviewed_on": "2026-12-01",
    }
    refused = manager.post(
        f"/api/v1/records/{record['id']}/transitions/conclude_review",
        json={"version": 1, "data": conclusion, "signature_password": DEMO_PASSWORD},
    )
    assert refused.status_code == 409 and "GB 17167" in refused.text
    revised = client.post(
        f"/api/v1/records/{record['id']}/transitions/revise_checklist",
        json={
            "version": 1,
            "data": {
                "subject": "生料磨选粉机改造",
                "subject_kind": "process",
                "checklist": [
                    {"aspect": "energy_efficiency", "item": "选粉效率", "result": "conforming"},
                    {"aspect": "energy_metering", "item": "选粉机电能表", "result": "nonconforming"},
                ],
            },
        },
    )
    assert revised.status_code == 200 and revised.json()["data"]["nonconforming_items"] == "1"
    done = manager.post(
        f"/api/v1/records/{record['id']}/transitions/conclude_review",
        json={"version": 2, "data": conclusion, "signature_password": DEMO_PASSWORD},
    )
    assert done.status_code == 200 and done.json()["state"] == "concluded"


def test_only_top_management_approves_a_project_and_the_implementer_cannot_verify_it(plant):
    projects = [(i, s) for i, _, s, _ in _records(plant, "reduction_project")]
    proposed = next(i for i, s in projects if s == "proposed")
    answer = _api(plant, "carbon_manager").post(
        f"/api/v1/records/{proposed}/transitions/approve_project",
        json={"version": 1, "data": {"approved_investment": 420}, "signature_password": DEMO_PASSWORD},
    )
    assert answer.status_code == 403
    completed = next(i for i, s in projects if s == "completed")
    owner = _api(plant, "process_owner")
    version = owner.get(f"/api/v1/records/{completed}").json()["version"]
    back = _api(plant, "internal_auditor").post(
        f"/api/v1/records/{completed}/transitions/return_for_rework",
        json={"version": version, "data": {}, "comment": "电耗数据仅 1 个月"},
    )
    assert back.status_code == 200 and back.json()["state"] == "implementing"
    finished = _api(plant, "carbon_manager").post(
        f"/api/v1/records/{completed}/transitions/finish_implementation",
        json={"version": version + 1, "data": {"completion_date": "2026-11-30", "actual_investment": 2410}},
    )
    assert finished.status_code == 200
    verify = {"verified_reduction": 3900, "verification_method": "3 个月电耗对比", "verification_report": 1}
    separated = _api(plant, "carbon_manager").post(
        f"/api/v1/records/{completed}/transitions/verify_reduction",
        json={"version": version + 2, "data": verify, "signature_password": DEMO_PASSWORD},
    )
    assert separated.status_code == 403


def test_the_carbon_assets_page_shows_the_compliance_year_balance(plant):
    client = plant.as_role("carbon_manager")
    page = client.get("/carbon-assets")
    assert page.status_code == 200 and _plain(page.text) == []
    html = page.text
    # 2025: allocated 915,000 + 382,460, bought 12,000, sold 5,000 → held 1,304,460; verified 1,318,460;
    # CCER 30,000 held, limit 5 % = 65,923 → surplus 16,000.
    for shown in (
        "2025 履约年度",
        "1,318,460",
        "1,304,460",
        "30,000",
        "65,923",
        "盈余",
        "16,000",
        "2026-12-31",
    ):
        assert shown in html, shown
    assert 'data-surplus="16000"' in html
    older = client.get("/carbon-assets?year=2024")
    assert "1,342,870" in older.text and "已履约" in older.text
    assert client.get("/carbon-assets?year=1800").status_code == 422
    client.cookies.set("tanguan_locale", "en")
    english = client.get("/carbon-assets").text
    for shown in ("Compliance year 2025", "Allowances held", "surplus 16,000"):
        assert shown in english, shown
    assert _plain(english) == []
    nav = client.get("/records/reduction_project").text
    assert 'href="/carbon-assets"' in nav
    _the_compliance_year_is_due_on_its_surrender_deadline(plant)
    _a_fulfilled_year_counts_only_the_ccer_it_used(plant)
    _a_year_without_verified_emissions_or_snapshot_shows_no_balance(plant)


def _a_year_without_verified_emissions_or_snapshot_shows_no_balance(plant):
    client = _api(plant, "carbon_manager")
    created = client.post(
        "/api/v1/records",
        json={
            "workflow": "compliance_year",
            "data": {
                "title": "2026 年度全国碳市场配额清缴",
                "compliance_year": 2026,
                "surrender_deadline": "2027-12-31",
                "responsible": _user_id(plant, "carbon_manager"),
            },
        },
    )
    assert created.status_code == 201, created.text
    again = client.post(
        "/api/v1/records",
        json={
            "workflow": "compliance_year",
            "data": {**created.json()["data"], "title": "重复"},
        },
    )
    assert again.status_code == 422 and "compliance_year" in again.text  # one record per year
    page = plant.as_role("carbon_manager").get("/carbon-assets?year=2026").text
    assert (
        "尚未录入" in page
        and "2027-12-31" in page
        and "data-surplus" not in page
        and "data-shortfall" not in page
    )


def _the_compliance_year_is_due_on_its_surrender_deadline(plant):
    with plant.db.engine.connect() as connection:
        due = connection.execute(
            text(
                "SELECT due_date FROM record "
                "WHERE workflow_key = 'compliance_year' AND state = 'to_surrender'"
            )
        ).scalar()
    assert str(due)[:10] == "2026-12-31"


def test_the_scheduler_reminds_of_the_surrender_deadline_and_evaluations_due(plant):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from engine.scheduler.runner import run_jobs

    china = ZoneInfo("Asia/Shanghai")
    lines = run_jobs(plant.db, now=datetime(2026, 11, 2, 9, 0, tzinfo=china), settings=plant.settings)
    assert any("2025 年度全国碳市场配额清缴" in line and "2026-12-31" in line for line in lines)
    # the gypsum supplier, evaluated 2025-11-18, is due (the RDF one, due 2026-12-30, not yet: 30 days)
    assert any("供应商低碳评价到期：华能岳阳电厂脱硫石膏" in line for line in lines)
    assert not any("娄底市城乡环境卫生" in line for line in lines)
    again = run_jobs(plant.db, now=datetime(2026, 11, 2, 10, 0, tzinfo=china), settings=plant.settings)
    assert not any("配额清缴" in line or "华能岳阳" in line for line in again)  # once per rung and due date
    _the_buyer_is_reminded_of_evaluations_falling_due(plant)


def _a_fulfilled_year_counts_only_the_ccer_it_used(plant):
    from workflows.hooks.carbon_assets import balances

    with plant.db.unit_of_work(all_orgs=True) as uow:
        org_id = uow.session.execute(
            text("SELECT id FROM organization WHERE slug = 'xiangfeng-cement'")
        ).scalar()
        years = {b.year: b for b in balances(uow.session, org_id=org_id)}
    assert (years[2024].ccer_usable, years[2024].balance, years[2024].to_surrender) == (0, 0, 0)
    assert (years[2025].ccer_usable, years[2025].balance, years[2025].offset_limit) == (30000, 16000, 65923)

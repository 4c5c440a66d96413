"""9.1 / 6.2.3 metering instrument register over HTTP: the generic list (with its columns), record page
(with every calibration and its certificate), calibrating with a certificate file, the unique code, the
role controls, the xlsx export and the GB 17167 coverage page — in Chinese, with no internal keys."""

import re

import pytest
from sqlalchemy import text

from demo.instruments import seed_demo_instruments
from demo.seed import DEMO_LOGINS
from engine.identity.users import get_user_by_email
from engine.workflow.access import ActorRef
from tests.web.conftest import CATALOG, csrf_of
from tests.web.test_visible_text import ISO_INSTANT, SNAKE, visible_text

KEY = "metering_instrument"


@pytest.fixture
def plant(web):
    with web.db.unit_of_work(all_orgs=True) as uow:
        carbon = get_user_by_email(uow.session, email=DEMO_LOGINS[1].email)
        kiln = get_user_by_email(uow.session, email=DEMO_LOGINS[5].email)
        org_id = uow.session.execute(
            text("SELECT id FROM organization WHERE slug = 'xiangfeng-cement'")
        ).scalar()
        from engine.workflow.lifecycle import PROCESS_CONTEXT, ProcessContext

        uow.session.info[PROCESS_CONTEXT] = ProcessContext(CATALOG, web.app.state.secret_key)
        seed_demo_instruments(
            uow.session,
            catalog=CATALOG,
            org_id=org_id,
            carbon=ActorRef(id=carbon.id, name=carbon.display_name, roles=frozenset({"carbon_manager"})),
            owner_id=kiln.id,
            evidence_store=web.settings.evidence_store,
        )
    return web


def _id_of(web, code: str) -> int:
    with web.db.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT id, data FROM record WHERE workflow_key = :k"), {"k": KEY}
        ).all()
    import json

    return next(
        i for i, data in rows if (json.loads(data) if isinstance(data, str) else data)["code"] == code
    )


def _plain(html: str) -> list[str]:
    problems = []
    for part in visible_text(html):
        problems += [f"key {m!r} in {part!r}" for m in SNAKE.findall(part)]
        problems += [f"timestamp in {part!r}" for m in ISO_INSTANT.findall(part)]
    return problems


def test_the_register_lists_its_columns_in_chinese(plant):
    client = plant.as_role("carbon_manager")
    page = client.get(f"/records/{KEY}")
    assert page.status_code == 200
    for shown in (
        "器具编号",
        "所属设施",
        "准确度等级",
        "下次检定/校准日期",
        "JL-E-001",
        "0.5S",
        "校准逾期",
        "石灰石矿山",
    ):
        assert shown in page.text, shown
    assert _plain(page.text) == []
    export = client.get(f"/records/{KEY}/export.xlsx")
    assert export.status_code == 200 and export.content[:2] == b"PK"


def test_the_record_page_shows_every_calibration_and_its_certificate(plant):
    client = plant.as_role("carbon_manager")
    record_id = _id_of(plant, "JL-E-001")
    page = client.get(f"/r/{record_id}")
    assert page.status_code == 200
    table = page.text.split('data-table="calibrations"', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr>") == 3  # the header and two calibrations
    assert "湘计电 2025-0618-03.txt" in table and "湘计电 2026-0616-11.txt" in table
    assert "2027-06-16" in page.text and "有效" in page.text
    assert 'data-trigger="calibrate"' in page.text
    assert _plain(page.text) == []


ROLES_SEE = [
    ("carbon_manager", True), ("process_owner", True), ("staff", False), ("external_auditor", False),
    ("top_management", False),
]  # fmt: skip


@pytest.mark.parametrize(("role", "sees"), ROLES_SEE)
def test_only_the_roles_the_file_names_see_calibrate(plant, role, sees):
    page = plant.as_role(role).get(f"/r/{_id_of(plant, 'JL-F-001')}")
    assert page.status_code == 200
    assert bool(re.search(r'<button[^>]*data-trigger="calibrate"', page.text)) is sees
    assert bool(re.search(r'<button[^>]*data-trigger="retire"', page.text)) is (role == "carbon_manager")


def test_calibrating_with_a_certificate_clears_the_overdue_status(plant):
    client = plant.as_role("process_owner")
    record_id = _id_of(plant, "JL-F-001")
    form = client.get(f"/r/{record_id}/transition/calibrate")
    assert form.status_code == 200
    version = re.search(r'name="version" value="(\d+)"', form.text).group(1)
    fields = {
        "csrf_token": csrf_of(form.text),
        "version": version,
        "calibration_date": "2026-11-20",
        "calibration_result": "pass",
        "certificate_no": "湘计流 2026-1120-02",
        "calibrating_body": "湖南省计量检测研究院",
    }
    missing = client.post(f"/r/{record_id}/transition/calibrate", data=fields)
    assert missing.status_code == 422 and 'data-error-for="certificate"' in missing.text
    bad_date = client.post(
        f"/r/{record_id}/transition/calibrate",
        data={**fields, "calibration_date": "2026-13-45"},
        files={"certificate": ("证书.pdf", b"%PDF-1.4\n%%EOF\n")},
    )
    assert bad_date.status_code == 422 and 'data-error-for="calibration_date"' in bad_date.text
    done = client.post(
        f"/r/{record_id}/transition/calibrate",
        data=fields,
        files={"certificate": ("证书.pdf", b"%PDF-1.4\n%%EOF\n")},
    )
    assert done.status_code == 303, done.text
    page = client.get(f"/r/{record_id}").text
    assert "2027-11-20" in page and "证书.pdf" in page
    assert "校准逾期" not in page.split('data-value="calibration_status"', 1)[1][:200]


def test_a_code_already_used_is_refused_on_its_field(plant):
    client = plant.as_role("carbon_manager")
    form = client.get(f"/records/{KEY}/new")
    assert form.status_code == 200
    with plant.db.engine.connect() as connection:
        facility = connection.execute(text("SELECT id FROM org_unit WHERE code = 'KILN1'")).scalar()
    refused = client.post(
        f"/records/{KEY}",
        data={
            "csrf_token": csrf_of(form.text), "code": "JL-E-001", "name": "重复编号的表",
            "instrument_type": "electricity_meter", "facility": str(facility), "parameter": "用电量",
            "energy_flow_class": "device", "accuracy_class": "1.0", "calibration_interval_months": "12",
        },
    )  # fmt: skip
    assert refused.status_code == 422
    assert 'data-error-for="code"' in refused.text and "JL-0001" in refused.text
    bad = client.post(
        f"/records/{KEY}", data={"csrf_token": csrf_of(form.text), "calibration_interval_months": "x"}
    )
    assert bad.status_code == 422 and 'data-error-for="calibration_interval_months"' in bad.text


def test_the_coverage_page_names_its_standard_and_the_late_instrument(plant):
    page = plant.as_role("carbon_manager").get("/instruments/coverage")
    assert page.status_code == 200
    assert "GB 17167-2006" in page.text and "配备率" in page.text
    overdue = page.text.split('id="overdue"', 1)[1].split("</div>", 1)[0]
    assert "矿山柴油流量计" in overdue and "汽车衡" not in overdue
    assert re.search(r'data-level="device".*?data-rate>66\.7 %', page.text, re.S)
    assert _plain(page.text) == []
    assert plant.client().get("/instruments/coverage").status_code in (303, 401)

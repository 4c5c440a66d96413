"""7.1–7.4 support over HTTP, in Chinese: the resources register, competence requirements, training records
with their effectiveness evaluation and the certificate expiry reminder (the scheduler), an awareness
campaign each person acknowledges for themselves, the communication log, and the carbon disclosure drafted
from a frozen snapshot — approved with a signature, published, and flagged once its year is frozen again."""

import json
import re
from datetime import datetime

from sqlalchemy import text

from engine.config import Settings
from engine.records.display import CHINA_TIME
from engine.scheduler.runner import run_jobs
from tests.web.conftest import csrf_of
from tests.web.support_setup import freeze_years, people_of
from tests.web.test_visible_text import ISO_INSTANT, SNAKE, visible_text

PDF = ("签到表.pdf", b"%PDF-1.4\n%%EOF\n")


def _plain(html: str) -> list[str]:
    problems = []
    for part in visible_text(html):
        problems += [f"key {m!r} in {part!r}" for m in SNAKE.findall(part)]
        problems += [f"timestamp in {part!r}" for m in ISO_INSTANT.findall(part)]
    return problems


def _create(client, key: str, fields: dict, files: dict | None = None):
    form = client.get(f"/records/{key}/new")
    assert form.status_code == 200, form.text
    return client.post(f"/records/{key}", data={"csrf_token": csrf_of(form.text), **fields}, files=files)


def _fire(client, record_id: int, trigger: str, fields: dict | None = None, files: dict | None = None):
    form = client.get(f"/r/{record_id}/transition/{trigger}")
    assert form.status_code == 200, form.text
    version = re.search(r'name="version" value="(\d+)"', form.text).group(1)
    data = {"csrf_token": csrf_of(form.text), "version": version, **(fields or {})}
    return client.post(f"/r/{record_id}/transition/{trigger}", data=data, files=files)


def _created_id(response) -> int:
    assert response.status_code == 303, response.text
    return int(response.headers["location"].rsplit("/", 1)[1])


def _record(web, record_id: int) -> tuple[str, int, dict]:
    with web.db.engine.connect() as connection:
        state, version, data = connection.execute(
            text("SELECT state, version, data FROM record WHERE id = :i"), {"i": record_id}
        ).one()
    return state, version, json.loads(data) if isinstance(data, str) else data


def test_a_resource_is_registered_listed_and_refused_when_bad(web):
    client = web.as_role("carbon_manager")
    people = people_of(web)
    bad = _create(client, "resource", {"name": "余热发电技改", "resource_kind": "magic", "amount": "-3"})
    assert bad.status_code == 422
    for field in ("resource_kind", "amount", "owner"):
        assert f'data-error-for="{field}"' in bad.text, field
    record_id = _created_id(
        _create(
            client,
            "resource",
            {
                "name": "余热发电技改", "resource_kind": "infrastructure", "amount": "650",
                "amount_unit": "万元", "owner": str(people["process_owner"]), "needed_by": "2027-06-30",
            },
        )
    )  # fmt: skip
    assert _fire(client, record_id, "provide_resource", {"provided_on": ""}).status_code == 422
    done = _fire(
        client, record_id, "provide_resource",
        {"name": "余热发电技改", "resource_kind": "infrastructure", "owner": str(people["process_owner"]),
         "provided_on": "2027-05-30"},
    )  # fmt: skip
    assert done.status_code == 303, done.text
    listing = client.get("/records/resource")
    assert listing.status_code == 200
    for shown in ("资源类别", "基础设施与设备", "650", "周强", "已到位"):
        assert shown in listing.text, shown
    assert _plain(listing.text) == []
    assert client.get("/records/resource/export.xlsx").content[:2] == b"PK"
    # Staff may read the register but not add to it.
    assert web.as_role("staff").get("/records/resource/new").status_code == 403


def test_training_is_delivered_evaluated_and_its_certificate_reminded_before_expiry(web):
    client = web.as_role("carbon_manager")
    people = people_of(web)
    requirement = _created_id(
        _create(
            client, "competence_requirement",
            {"position": "碳排放管理员", "system_role": "carbon_manager",
             "required_competence": "掌握 GB/T 32151.8 水泥企业核算方法",
             "qualification": "碳排放管理员证书"},
        )
    )  # fmt: skip
    record_id = _created_id(
        _create(
            client, "training",
            {"course": "全国碳市场水泥行业核算培训", "competence_requirement": str(requirement),
             "planned_date": "2026-12-01", "trainer": "湖南省环境保护科学研究院",
             "organizer": str(people["carbon_manager"])},
        )
    )  # fmt: skip
    fields = {
        "delivered_on": "2026-12-01", "hours": "16", "certificate_no": "ZS-001",
        "certificate_expiry": "2026-12-28",
        "trainees-1-person": str(people["staff"]), "trainees-1-score": "92",
        "trainees-2-person_name": "刘洋（生料车间）", "trainees-2-score": "85",
    }  # fmt: skip
    no_sheet = _fire(client, record_id, "deliver_training", fields)
    assert no_sheet.status_code == 422 and 'data-error-for="attendance"' in no_sheet.text
    assert _fire(client, record_id, "deliver_training", fields, files={"attendance": PDF}).status_code == 303
    state, _, data = _record(web, record_id)
    assert state == "trn_delivered" and data["trainees"][1]["person_name"] == "刘洋（生料车间）"
    assert _fire(client, record_id, "evaluate_training", {"evaluation_method": "exam"}).status_code == 422
    assert (
        _fire(
            web.as_role("quality_manager"), record_id, "evaluate_training",
            {"evaluation_method": "exam", "evaluation_result": "effective"},
        ).status_code
        == 303
    )  # fmt: skip
    page = client.get(f"/r/{record_id}")
    assert "笔试/考核" in page.text and "签到表.pdf" in page.text and _plain(page.text) == []

    # 30 days before the certificate expires: the organizer and the carbon manager are reminded, once.
    def reminders(moment: str) -> list[str]:
        lines = run_jobs(
            web.db, now=datetime.fromisoformat(moment).replace(tzinfo=CHINA_TIME), settings=Settings()
        )
        return [line for line in lines if "培训证书到期提醒" in line]

    assert reminders("2026-11-20T09:00") == []  # 38 days before
    assert len(reminders("2026-11-30T09:00")) == 1
    assert reminders("2026-12-01T09:00") == []  # once per expiry date
    with web.db.engine.connect() as connection:
        told = (
            connection.execute(
                text("SELECT DISTINCT user_id FROM notification WHERE subject_zh LIKE :t"),
                {"t": "%2026-12-28%"},
            )
            .scalars()
            .all()
        )
    assert set(told) == {people["carbon_manager"]}  # the organizer is the carbon manager here
    renewed = _fire(client, record_id, "renew_certificate", {"certificate_expiry": "2029-12-28"})
    assert renewed.status_code == 303
    assert reminders("2026-12-02T09:00") == []


def _launch_campaign(web, people: dict[str, int]) -> int:
    client = web.as_role("carbon_manager")
    record_id = _created_id(
        _create(
            client, "awareness_campaign",
            {"topic": "碳方针宣贯（2026 版）", "audience_roles": ["staff", "process_owner"],
             "campaign_date": "2026-11-20", "channel": "meeting"},
        )
    )  # fmt: skip
    launched = _fire(
        client, record_id, "launch_campaign",
        {"ack_due": "2026-12-15",
         "acknowledgements-1-person": str(people["staff"]),
         "acknowledgements-1-status": "acknowledged",  # forged: the status comes from the person only
         "acknowledgements-2-person": str(people["process_owner"])},
    )  # fmt: skip
    assert launched.status_code == 303, launched.text
    return record_id


def test_each_person_acknowledges_an_awareness_campaign_for_themselves(web):
    people = people_of(web)
    record_id = _launch_campaign(web, people)
    _, _, data = _record(web, record_id)
    assert [row["status"] for row in data["acknowledgements"]] == ["pending", "pending"]
    assert data["acknowledged_count"] == 0 and data["pending_count"] == 2
    staff = web.as_role("staff")
    inbox = staff.get("/").text
    assert "碳方针宣贯（2026 版）" in inbox  # the person's task
    page = staff.get(f"/r/{record_id}").text
    assert re.search(r'<button[^>]*data-trigger="acknowledge"', page)
    # Someone not on the list sees the button disabled, with the reason, and is refused.
    auditor = web.as_role("internal_auditor")
    assert "您不在待确认名单中" in auditor.get(f"/r/{record_id}").text
    assert _fire(auditor, record_id, "acknowledge").status_code == 409
    assert _fire(staff, record_id, "acknowledge").status_code == 303
    _, _, data = _record(web, record_id)
    assert [row["status"] for row in data["acknowledgements"]] == ["acknowledged", "pending"]
    assert data["acknowledged_log"][0]["person"] == people["staff"] and data["acknowledged_rate"] == 50
    assert "碳方针宣贯（2026 版）" not in staff.get("/").text  # the task is closed
    assert _fire(staff, record_id, "acknowledge").status_code == 409  # once
    # Changing the list keeps who acknowledged, whatever the editor posts.
    changed = _fire(
        web.as_role("carbon_manager"), record_id, "add_audience",
        {"ack_due": "2026-12-20",
         "acknowledgements-1-person": str(people["staff"]), "acknowledgements-1-status": "pending",
         "acknowledgements-2-person": str(people["process_owner"]),
         "acknowledgements-2-status": "acknowledged",
         "acknowledgements-3-person": str(people["top_management"])},
    )  # fmt: skip
    assert changed.status_code == 303
    _, _, data = _record(web, record_id)
    assert [row["status"] for row in data["acknowledgements"]] == ["acknowledged", "pending", "pending"]
    page = web.as_role("carbon_manager").get(f"/r/{record_id}").text
    assert "已确认" in page and "待确认" in page and "赵敏" in page and _plain(page) == []


def test_a_communication_is_logged_and_completed_with_evidence(web):
    client = web.as_role("carbon_manager")
    people = people_of(web)
    missing = _create(client, "communication", {"subject": "客户 CBAM 数据请求"})
    assert missing.status_code == 422
    for field in ("direction", "entry_kind", "party", "channel", "responsible"):
        assert f'data-error-for="{field}"' in missing.text, field
    record_id = _created_id(
        _create(
            client, "communication",
            {"subject": "客户 CBAM 数据请求", "direction": "external", "entry_kind": "received",
             "party": "德国某水泥进口商", "channel": "email", "planned_date": "2026-12-15",
             "responsible": str(people["carbon_manager"])},
        )
    )  # fmt: skip
    assert (
        _fire(client, record_id, "complete_communication", {"actual_date": "2026-12-10"}).status_code == 422
    )
    done = _fire(
        client, record_id, "complete_communication",
        {"actual_date": "2026-12-10", "outcome": "已按 2025 年度快照答复"},
        files={"evidence": ("答复函.pdf", b"%PDF-1.4\n%%EOF\n")},
    )  # fmt: skip
    assert done.status_code == 303
    listing = client.get("/records/communication").text
    for shown in ("外部", "收到的来文/询问", "德国某水泥进口商", "电子邮件", "已完成"):
        assert shown in listing, shown
    assert _plain(listing) == []


def test_a_disclosure_copies_a_frozen_snapshot_is_signed_published_and_flagged_when_refrozen(web):
    frozen = freeze_years(web)
    first, again, other_year = frozen.snapshots["2025"], frozen.snapshots["2025b"], frozen.snapshots["2024"]
    carbon = web.as_role("carbon_manager")
    draft = {"title": "2025 年度碳信息披露", "reporting_year": "2025", "channel": "website",
             "url": "https://www.xiangfeng-cement.example/csr/carbon-2025"}  # fmt: skip
    no_year = _create(carbon, "disclosure", {**draft, "reporting_year": "2031"})
    assert no_year.status_code == 422 and 'data-error-for="reporting_year"' in no_year.text
    assert "2031 年度尚无冻结的盘查快照" in no_year.text
    wrong = _create(carbon, "disclosure", {**draft, "snapshot_choice": str(other_year)})
    assert wrong.status_code == 422 and 'data-error-for="snapshot_choice"' in wrong.text
    record_id = _created_id(_create(carbon, "disclosure", {**draft, "snapshot_choice": str(first)}))
    state, version, data = _record(web, record_id)
    assert (state, version) == ("dis_drafting", 2)  # created, then the snapshot's figures loaded
    figures = frozen.figures[first]
    assert {key: data[key] for key in figures} == figures and data["snapshot_id"] == str(first)
    # Nobody types the figures: the loading step is the process's own and no draft rests where it is offered.
    admin = web.as_role("admin")
    page = admin.get(f"/r/{record_id}").text
    assert 'data-trigger="load_snapshot_figures"' not in page
    forged = admin.post(
        f"/r/{record_id}/transition/load_snapshot_figures",
        data={"csrf_token": csrf_of(page), "version": "2", **figures, "total_tco2e": "1000"},
    )
    assert forged.status_code == 409 and _record(web, record_id)[1] == 2
    assert _fire(carbon, record_id, "submit_disclosure").status_code == 303
    # The reviewer may not be the drafter (the carbon manager cannot review at all) …
    assert _fire(web.as_role("quality_manager"), record_id, "review_disclosure").status_code == 422
    reviewed = _fire(
        web.as_role("quality_manager"), record_id, "review_disclosure", {"review_notes": "与快照一致"}
    )
    assert reviewed.status_code == 303
    gm = web.as_role("top_management")
    wrong_password = _fire(gm, record_id, "approve_disclosure", {"signature_password": "nope"})
    assert wrong_password.status_code == 403
    signed = _fire(gm, record_id, "approve_disclosure", {"signature_password": "Xiangfeng#2026"})
    assert signed.status_code == 303, signed.text
    assert _fire(carbon, record_id, "publish_disclosure").status_code == 303
    assert _record(web, record_id)[0] == "dis_published"
    page = carbon.get(f"/r/{record_id}").text
    assert "批准对外披露" in page and "已失效" not in page  # the signature still covers what was published
    assert "对外发布碳信息披露：2025 年度碳信息披露" in page  # the communication log entry, linked
    assert _plain(page) == []
    # The snapshot page: this disclosure is tied to #first although 2025 was frozen again (#again).
    overview = carbon.get("/support/disclosures")
    assert overview.status_code == 200 and _plain(overview.text) == []
    row = re.search(rf'<tr data-disclosure="{record_id}">.*?</tr>', overview.text, re.S).group(0)
    assert f'data-superseded="{again}"' in row and f"本披露仍以快照 #{first} 为准" in row
    latest = _created_id(_create(carbon, "disclosure", {**draft, "title": "客户数据说明"}))
    assert _record(web, latest)[2]["snapshot_id"] == str(again)  # blank: the year's latest
    row = re.search(
        rf'<tr data-disclosure="{latest}">.*?</tr>', carbon.get("/support/disclosures").text, re.S
    )
    assert "该年度最新快照" in row.group(0)
    # Changing the draft's snapshot reloads the figures.
    retaken = _fire(
        carbon, latest, "retake_snapshot", {**draft, "reporting_year": "2024", "snapshot_choice": ""}
    )
    assert retaken.status_code == 303, retaken.text
    assert _record(web, latest)[2]["snapshot_year"] == "2024"


def test_resources_import_from_a_sheet_with_owners_by_name(web):
    from io import BytesIO

    from openpyxl import Workbook, load_workbook

    client = web.as_role("carbon_manager")
    template = client.get("/records/resource/import/template.xlsx")
    header = [cell.value for cell in next(load_workbook(BytesIO(template.content)).active.iter_rows())]

    def sheet(*rows: dict) -> bytes:
        workbook = Workbook()
        workbook.active.append(header)
        for row in rows:
            workbook.active.append([row.get(column.rstrip(" *").split(" ")[0]) for column in header])
        buffer = BytesIO()
        workbook.save(buffer)
        return buffer.getvalue()

    def upload(content: bytes):
        token = csrf_of(client.get("/records/resource/import").text)
        return client.post(
            "/records/resource/import", data={"csrf_token": token}, files={"file": ("资源.xlsx", content)}
        )

    def count() -> int:
        with web.db.engine.connect() as connection:
            return connection.execute(
                text("SELECT count(*) FROM record WHERE workflow_key = 'resource'")
            ).scalar()

    good = {
        "资源名称": "碳排放管理员（专职）",
        "资源类别": "人力资源",
        "数量/金额": 2,
        "单位": "人",
        "负责人": "李娜",
    }
    bad = {**good, "资源名称": "在线监测系统", "资源类别": "魔法资源"}
    before = count()
    refused = upload(sheet(good, bad))
    assert refused.status_code == 422 and "魔法资源" in refused.text and count() == before
    assert upload(sheet(good, {**bad, "资源类别": "信息资源与信息系统"})).status_code in (200, 303)
    assert count() == before + 2

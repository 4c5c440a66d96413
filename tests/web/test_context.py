"""4.1–4.3, 5.2 and 6.2.2 over HTTP: the registers of context issues, interested parties' requirements
and compliance obligations, the scope statement and the carbon policy — their lists in Chinese, adopting a
requirement as an obligation (linked both ways), a new version of an obligation flagging its linked
records and opening its owner's evaluation task, the approved version superseding the one in force, and
the scheduler's review reminders."""

import json
from datetime import date

from sqlalchemy import text

from demo.seed import DEMO_LOGINS, DEMO_PASSWORD
from tests.web.conftest import api_token, bearer_client
from tests.web.test_visible_text import ISO_INSTANT, SNAKE, visible_text
from workflows.hooks.compliance_evaluation import obligations_due
from workflows.hooks.context_register import issues_due

EMAIL = {login.role.value: login.email for login in DEMO_LOGINS}
KEYS = ("context_issue", "party_requirement", "compliance_obligation", "scope_statement", "carbon_policy")


def api(web, role: str):
    return bearer_client(web, api_token(web, EMAIL[role], name=f"ctx-{role}"))


def rows(web, key: str) -> list[tuple[int, str, str, str, dict]]:
    with web.db.engine.connect() as connection:
        found = connection.execute(
            text("SELECT id, number, title, state, data FROM record WHERE workflow_key = :k ORDER BY id"),
            {"k": key},
        ).all()
    return [(i, n, t, s, json.loads(d) if isinstance(d, str) else d) for i, n, t, s, d in found]


def one(web, key: str, title: str) -> tuple[int, str, str, str, dict]:
    return next(row for row in rows(web, key) if row[2] == title)


def fire(client, record_id: int, trigger: str, data: dict, **extra):
    version = client.get(f"/api/v1/records/{record_id}").json()["version"]
    return client.post(
        f"/api/v1/records/{record_id}/transitions/{trigger}", json={"version": version, "data": data, **extra}
    )


def _plain(html: str) -> list[str]:
    problems = []
    for part in visible_text(html):
        problems += [f"key {m!r} in {part!r}" for m in SNAKE.findall(part)]
        problems += [f"timestamp in {part!r}" for m in ISO_INSTANT.findall(part)]
    return problems


LISTED = {
    "context_issue": ("议题类别", "欧盟碳边境调节机制（CBAM）进入正式期", "国际绿色贸易规则（如欧盟CBAM）",
                      "外部"),
    "party_requirement": ("相关方类别", "娄底市生态环境局", "已采纳", "不采纳", "待决定"),
    "compliance_obligation": ("国务院令第775号", "GB 16780-2021", "Regulation (EU) 2023/956", "每季度",
                              "适用"),
    "scope_statement": ("A/1", "现行有效", "已被替代"),
    "carbon_policy": ("现行有效", "湖南湘峰水泥有限公司碳方针"),
}  # fmt: skip


def test_each_register_lists_its_columns_in_chinese_and_exports(plant):
    client = plant.as_role("carbon_manager")
    menu = client.get("/").text
    for key in KEYS:
        assert f'href="/records/{key}"' in menu, key  # under its clause's section of the menu
        page = client.get(f"/records/{key}")
        assert page.status_code == 200
        for shown in LISTED[key]:
            assert shown in page.text, shown
        assert _plain(page.text) == []
        for record_id in (rows(plant, key)[0][0], rows(plant, key)[-1][0]):
            detail = client.get(f"/r/{record_id}")
            assert detail.status_code == 200 and _plain(detail.text) == []
            word = client.get(f"/r/{record_id}/export.docx")
            assert word.status_code == 200 and word.content[:2] == b"PK"
        export = client.get(f"/records/{key}/export.xlsx")
        assert export.status_code == 200 and export.content[:2] == b"PK"
        template = client.get(f"/records/{key}/import/template.xlsx")  # the generic bulk import
        assert template.status_code == 200 and template.content[:2] == b"PK"
        assert api(plant, "carbon_manager").get(f"/api/v1/workflows/{key}").status_code == 200


def test_adopting_a_requirement_creates_the_obligation_linked_both_ways(plant):
    carbon = api(plant, "carbon_manager")
    requirement_id = one(plant, "party_requirement", "开展碳管理培训并纳入绩效")[0]
    before = len(rows(plant, "compliance_obligation"))
    missing = fire(carbon, requirement_id, "adopt", {"obligation_source": "voluntary"})
    assert missing.status_code == 422 and "adoption_reason" in missing.text
    assert len(rows(plant, "compliance_obligation")) == before
    done = fire(
        carbon, requirement_id, "adopt",
        {"adoption_reason": "纳入年度培训计划并考核", "obligation_source": "voluntary",
         "obligation_frequency": "yearly"},
    )  # fmt: skip
    assert done.status_code == 200, done.text
    assert (done.json()["state"], done.json()["data"]["adoption"]) == ("adopted", "adopted")
    made = rows(plant, "compliance_obligation")
    assert len(made) == before + 1
    obligation_id, number, title, state, data = made[-1]
    assert fire(carbon, requirement_id, "revise", {}).status_code == 422  # the whole form, or nothing
    assert (title, state, data["source"], data["issuing_body"]) == (
        "开展碳管理培训并纳入绩效", "in_effect", "voluntary", "公司工会",
    )  # fmt: skip
    assert data["origin_requirement"] == requirement_id and data["owner"]
    browser = plant.as_role("carbon_manager")
    assert number in browser.get(f"/r/{requirement_id}").text  # the link shows on both records
    assert "XGF-008" in browser.get(f"/r/{obligation_id}").text
    again = fire(
        carbon, requirement_id, "adopt",
        {"adoption_reason": "再次", "obligation_source": "voluntary", "obligation_frequency": "yearly"},
    )  # fmt: skip
    assert again.status_code == 409 and "已采纳为合规义务" in again.json()["detail"]
    assert len(rows(plant, "compliance_obligation")) == before + 1
    staff = fire(api(plant, "staff"), requirement_id, "withdraw", {}, comment="x")
    assert staff.status_code == 403


def test_adopting_with_an_existing_obligation_links_it_and_creates_none(plant):
    carbon = api(plant, "carbon_manager")
    requirement_id = one(plant, "party_requirement", "提供完整的原始凭证和检测报告")[0]
    target = one(plant, "compliance_obligation", "碳排放权交易管理办法（试行）")
    before = len(rows(plant, "compliance_obligation"))
    done = fire(
        carbon, requirement_id, "adopt",
        {"obligation": target[0], "adoption_reason": "核查要求", "obligation_source": "regulation",
         "obligation_frequency": "yearly"},
    )  # fmt: skip
    assert done.status_code == 200, done.text
    assert len(rows(plant, "compliance_obligation")) == before
    assert "XGF-010" in plant.as_role("quality_manager").get(f"/r/{target[0]}").text


def test_a_new_version_flags_the_linked_records_and_opens_the_owners_evaluation(plant):
    carbon = api(plant, "carbon_manager")
    obligation_id, number, *_ = one(plant, "compliance_obligation", "碳排放权交易管理暂行条例")
    with plant.db.engine.connect() as connection:
        notices_before = connection.execute(text("SELECT count(*) FROM notification")).scalar()
    done = fire(
        carbon, obligation_id, "revise_version",
        {"new_edition": "2026年修订", "new_effective_date": "2026-12-01",
         "change_summary": "配额清缴期限调整"},
    )  # fmt: skip
    assert done.status_code == 200, done.text
    _, _, _, state, data = one(plant, "compliance_obligation", "碳排放权交易管理暂行条例")
    assert state == "evaluation_due" and data["edition"] == "2026年修订"
    # The issue and the adopted requirement link to it: both are listed and their owners notified.
    assert "YT-004" in data["affected_records"] and "XGF-001" in data["affected_records"]
    with plant.db.engine.connect() as connection:
        notices = (
            connection.execute(text("SELECT subject_zh FROM notification ORDER BY id DESC LIMIT 2"))
            .scalars()
            .all()
        )
        total = connection.execute(text("SELECT count(*) FROM notification")).scalar()
        task = connection.execute(
            text("SELECT assignee_id, due_date, detail FROM task WHERE record_id = :r AND closed_at IS NULL"),
            {"r": obligation_id},
        ).all()
    assert total == notices_before + 2 and all(number in subject for subject in notices)
    assert len(task) == 1 and task[0][0] == data["owner"] and "2026年修订" in task[0][2]
    inbox = plant.as_role("carbon_manager").get("/")  # the inbox
    assert inbox.status_code == 200 and number in inbox.text
    page = plant.as_role("carbon_manager").get(f"/r/{obligation_id}")
    assert "换版待评价" in page.text and "待评价" in page.text and _plain(page.text) == []
    word = plant.as_role("carbon_manager").get(f"/r/{obligation_id}/export.docx")
    assert word.status_code == 200 and word.content[:2] == b"PK"
    evaluated = fire(
        carbon, obligation_id, "evaluate",
        {"evaluated_on": "2026-12-05", "evaluation_result": "compliant", "evaluation_note": "已逐条核对"},
    )  # fmt: skip
    assert evaluated.status_code == 200, evaluated.text
    _, _, _, state, data = one(plant, "compliance_obligation", "碳排放权交易管理暂行条例")
    assert state == "in_effect" and data["last_result"] == "compliant"
    assert data["next_evaluation_due"] == "2027-03-05"  # quarterly
    assert data["evaluations"][-1]["status"] == "done"
    with plant.db.engine.connect() as connection:
        open_tasks = connection.execute(
            text("SELECT count(*) FROM task WHERE record_id = :r AND closed_at IS NULL"), {"r": obligation_id}
        ).scalar()
    assert open_tasks == 0


def test_approving_a_new_scope_supersedes_the_one_in_force(plant):
    carbon, quality, gm = (
        api(plant, "carbon_manager"),
        api(plant, "quality_manager"),
        api(plant, "top_management"),
    )
    in_force = [row for row in rows(plant, "scope_statement") if row[3] == "in_force"]
    assert len(in_force) == 1
    data = {key: value for key, value in in_force[0][4].items()}
    data.update(title="碳管理体系范围声明（A/2）", edition="A/2", effective_from="2027-01-01")
    created = carbon.post("/api/v1/records", json={"workflow": "scope_statement", "data": data})
    assert created.status_code == 201, created.text
    new_id = created.json()["id"]
    assert fire(carbon, new_id, "submit_for_review", {}).status_code == 200
    assert fire(carbon, new_id, "pass_review", {}).status_code == 403  # the drafter cannot review it
    assert fire(quality, new_id, "pass_review", {}).status_code == 200
    unsigned = fire(gm, new_id, "approve_scope", {})
    assert unsigned.status_code in (401, 403, 422), unsigned.text
    assert [row[3] for row in rows(plant, "scope_statement") if row[0] == in_force[0][0]] == ["in_force"]
    signed = fire(gm, new_id, "approve_scope", {}, signature_password=DEMO_PASSWORD)
    assert signed.status_code == 200, signed.text
    states = {row[0]: row[3] for row in rows(plant, "scope_statement")}
    assert states[new_id] == "in_force" and states[in_force[0][0]] == "superseded"
    assert list(states.values()).count("in_force") == 1


def test_a_carbon_policy_without_the_three_commitments_is_refused(plant):
    gm = api(plant, "top_management")
    draft = {
        "title": "碳方针（修订稿）", "edition": "A/1", "effective_from": "2027-01-01",
        "policy_text": "节能降碳", "commitments": ["compliance", "improvement"],
    }  # fmt: skip
    created = gm.post("/api/v1/records", json={"workflow": "carbon_policy", "data": draft})
    assert created.status_code == 201, created.text
    refused = fire(gm, created.json()["id"], "submit_for_approval", {})
    assert refused.status_code == 409 and "碳中和" in refused.json()["detail"]
    draft["commitments"] = ["compliance", "neutrality", "improvement"]
    fixed = fire(gm, created.json()["id"], "revise_draft", draft)
    assert fixed.status_code == 200
    assert fire(gm, created.json()["id"], "submit_for_approval", {}).status_code == 200
    signed = fire(gm, created.json()["id"], "approve_policy", {}, signature_password=DEMO_PASSWORD)
    assert signed.status_code == 200, signed.text
    assert [row[3] for row in rows(plant, "carbon_policy")] == ["superseded", "in_force"]


def test_bad_input_names_the_field_and_writes_nothing(plant):
    client = plant.as_role("carbon_manager")
    form = client.get("/records/compliance_obligation/new")
    assert form.status_code == 200
    from tests.web.conftest import csrf_of

    bad = client.post(
        "/records/compliance_obligation",
        data={"csrf_token": csrf_of(form.text), "source": "nonsense", "effective_date": "2026-02-30"},
    )
    assert bad.status_code == 422
    for name in ("title", "source", "effective_date", "owner"):
        assert f'data-error-for="{name}"' in bad.text, name


def test_the_scheduler_reminds_issue_and_evaluation_owners_when_due(plant):
    with plant.db.engine.connect() as connection:
        org_id = connection.execute(
            text("SELECT id FROM organization WHERE slug = 'xiangfeng-cement'")
        ).scalar()
    with plant.db.unit_of_work(org_id=org_id) as uow:
        early = list(issues_due(uow.session, date(2026, 11, 30)))
        due = list(issues_due(uow.session, date(2026, 12, 1)))
        assert early == [] and [d.subject for d in due] == [
            f"context_issue:{one(plant, 'context_issue', '碳数据管理能力不足')[0]}"
        ]
        assert len(list(issues_due(uow.session, date(2027, 12, 31)))) == 10
        soon = obligations_due(uow.session, by=date(2026, 12, 7))
        later = obligations_due(uow.session, by=date(2027, 12, 31))
    assert len(later) > len(soon) and all(r.data.get("owner") for r in later)
    # A review sets the next review date: the issue is not due again until then.
    issue_id = one(plant, "context_issue", "碳数据管理能力不足")[0]
    reviewed = fire(
        api(plant, "carbon_manager"), issue_id, "review_issue",
        {"reviewed_on": "2026-12-01", "review_conclusion": "培训已开展，仍需推进自动采集",
         "next_review_date": "2027-06-01"},
    )  # fmt: skip
    assert reviewed.status_code == 200, reviewed.text
    assert reviewed.json()["data"]["review_date"] == "2027-06-01"
    with plant.db.unit_of_work(org_id=org_id) as uow:
        assert list(issues_due(uow.session, date(2026, 12, 1))) == []


def test_the_registers_read_in_english_too(plant):
    client = plant.as_role("carbon_manager")
    client.cookies.set("tanguan_locale", "en")
    page = client.get("/records/compliance_obligation")
    assert page.status_code == 200
    for shown in ("Compliance obligations", "Source", "Evaluation frequency", "Standard", "Half-yearly"):
        assert shown in page.text, shown
    requirement_id = one(plant, "party_requirement", "按时报送年度排放报告并足额清缴配额")[0]
    detail = client.get(f"/r/{requirement_id}")
    assert (
        "Adopted as an obligation" in detail.text and "Government and environmental regulators" in detail.text
    )
    assert _plain(detail.text) == []


def test_the_scheduler_notifies_the_owner_once_when_an_issue_is_due(plant):
    from datetime import datetime

    from engine.config import Settings
    from engine.records.display import CHINA_TIME
    from engine.scheduler.runner import run_jobs

    def run(day: str) -> list[str]:
        moment = datetime.fromisoformat(f"{day}T09:00").replace(tzinfo=CHINA_TIME)
        return [line for line in run_jobs(plant.db, now=moment, settings=Settings()) if "议题评审" in line]

    assert run("2026-11-30") == []
    assert len(run("2026-12-01")) == 1 and run("2026-12-02") == []  # once per review date
    with plant.db.engine.connect() as connection:
        kinds = (
            connection.execute(text("SELECT kind FROM notification WHERE subject_zh LIKE '内外部议题评审%'"))
            .scalars()
            .all()
        )
    assert kinds == ["review"]

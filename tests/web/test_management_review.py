"""9.4 management review over HTTP: a full cycle (compiled inputs → refresh → meeting → outputs → top
management's signature), the input pack frozen and hashed at sign-off (live data changed afterwards leaves
the pack, its hash and the signature as they were), the actions opened as improvement records linked both
ways, only top management signing, the scheduler starting the yearly review, and bad input refused with
the field named."""

import hashlib
import io
import json
import re
import zipfile
from datetime import datetime, timedelta

from sqlalchemy import text

from demo.seed import DEMO_LOGINS, DEMO_PASSWORD
from engine.audit import canonical_json
from engine.config import Settings
from engine.records.display import CHINA_TIME
from engine.scheduler.runner import run_jobs
from tests.web.conftest import api_token, bearer_client, csrf_of
from tests.web.test_visible_text import ISO_INSTANT, SNAKE, visible_text
from workflows.hooks.management_review import PACK_FIELDS

EMAIL = {login.role.value: login.email for login in DEMO_LOGINS}
TODAY = datetime.now(CHINA_TIME).date()


def api(web, role: str):
    return bearer_client(web, api_token(web, EMAIL[role], name=f"mr-{role}"))


def user_id(web, role: str) -> int:
    with web.db.engine.connect() as connection:
        return connection.execute(
            text("SELECT id FROM user_account WHERE email = :e"), {"e": EMAIL[role]}
        ).scalar_one()


def stored(web, record_id: int) -> tuple[str, int, dict]:
    with web.db.engine.connect() as connection:
        state, version, data = connection.execute(
            text("SELECT state, version, data FROM record WHERE id = :i"), {"i": record_id}
        ).one()
    return state, version, json.loads(data) if isinstance(data, str) else data


def error_fields(response) -> set[str]:
    return {error["field"] for error in response.json()["errors"]}


def plain(html: str) -> list[str]:
    problems = []
    for part in visible_text(html):
        problems += [f"key {m!r} in {part!r}" for m in SNAKE.findall(part)]
        problems += [f"timestamp in {part!r}" for m in ISO_INSTANT.findall(part)]
    return problems


def fire(client, record_id: int, trigger: str, version: int, data: dict | None = None, **extra):
    return client.post(
        f"/api/v1/records/{record_id}/transitions/{trigger}",
        json={"version": version, "data": data or {}, **extra},
    )


def meeting(web) -> dict:
    return {
        "meeting_date": TODAY.isoformat(),
        "location": "公司二楼会议室",
        "attendees": [
            {"attendee": user_id(web, "top_management"), "capacity": "总经理（主持）"},
            {"attendee": user_id(web, "carbon_manager"), "capacity": "碳管理部"},
        ],
        "minutes": "逐项听取评审输入的汇报；讨论了熟料煤耗报警和两项逾期的不符合。",
    }


def outputs(web) -> dict:
    return {
        "conclusion": "needs_improvement",
        "decisions": "体系基本有效；加强计量器具配备，2026 年熟料煤耗降低 2%。",
        "actions": [
            {
                "action": "补齐窑尾煤粉计量秤",
                "owner": user_id(web, "process_owner"),
                "due": (TODAY + timedelta(days=90)).isoformat(),
            },
            {
                "action": "关闭逾期的不符合",
                "owner": user_id(web, "quality_manager"),
                "due": (TODAY + timedelta(days=30)).isoformat(),
            },
        ],  # fmt: skip
        "policy_change": "unchanged",
        "objectives_change": "revise",
        "changes_note": "熟料煤耗目标由 105 调整为 103 kgce/t。",
    }


def start(web, client=None) -> tuple[int, int]:
    created = (client or api(web, "carbon_manager")).post(
        "/api/v1/records",
        json={"workflow": "management_review", "data": {"title": f"{TODAY.year} 年度管理评审"}},
    )
    assert created.status_code == 201, created.text
    record = created.json()
    return record["id"], record["version"]


def section_summary(data: dict, key: str) -> str:
    return next(row["summary_zh"] for row in data["input_summaries"] if row["section"] == key)


def sections_of(html: str) -> list[str]:
    return re.findall(r'<div class="box" data-section=.*?</div>', html, re.S)


def open_a_nonconformity(web, title: str) -> None:
    created = api(web, "quality_manager").post(
        "/api/v1/records",
        json={
            "workflow": "nonconformity",
            "data": {
                "title": title,
                "source": "monitoring",
                "description": "窑头喂煤秤超差",
                "found_on": TODAY.isoformat(),
                "assignee": user_id(web, "process_owner"),
            },
        },  # fmt: skip
    )
    assert created.status_code == 201, created.text


def test_a_review_runs_from_compiled_inputs_to_top_managements_signature(web):
    review, version = start(web)
    state, version, data = stored(web, review)
    assert state == "mr_preparing" and version == 2  # created, then the inputs compiled in the same write
    assert len(data["input_summaries"]) == 11 and data["inputs"]
    assert (
        data["pack_sha256"]
        == hashlib.sha256(canonical_json({name: data.get(name) for name in PACK_FIELDS}).encode()).hexdigest()
    )
    assert "pack_frozen_on" not in data
    assert "首次管理评审" in section_summary(data, "previous_actions")
    # The inputs are refreshed before the meeting: a nonconformity raised now is counted.
    open_before = section_summary(data, "nonconformities")
    open_a_nonconformity(web, "喂煤秤超差")
    carbon = api(web, "carbon_manager")
    refreshed = fire(carbon, review, "refresh_review_inputs", version)
    assert refreshed.status_code == 200 and refreshed.json()["state"] == "mr_preparing"
    _, version, data = stored(web, review)
    assert section_summary(data, "nonconformities") != open_before
    assert fire(carbon, review, "record_review_meeting", version, meeting(web)).status_code == 200
    assert fire(carbon, review, "submit_review_outputs", version + 1, outputs(web)).status_code == 200
    version += 2
    # Only top management signs: not the carbon manager, not the administrator, not with a wrong password.
    for role in ("carbon_manager", "admin", "quality_manager"):
        refused = fire(
            api(web, role), review, "approve_management_review", version, signature_password=DEMO_PASSWORD
        )
        assert refused.status_code == 403, (role, refused.text)
    gm = api(web, "top_management")
    wrong = fire(gm, review, "approve_management_review", version, signature_password="wrong")
    assert wrong.status_code == 403
    signed = fire(gm, review, "approve_management_review", version, signature_password=DEMO_PASSWORD)
    assert signed.status_code == 200 and signed.json()["state"] == "mr_closed"
    state, _, data = stored(web, review)
    assert data["pack_frozen_on"] == TODAY.isoformat()
    # The actions are improvement records, owned and due as decided, linked both ways.
    with web.db.engine.connect() as connection:
        actions = connection.execute(
            text(
                "SELECT id, title, assignee_id, data FROM record WHERE workflow_key = 'improvement_item' "
                "ORDER BY id DESC LIMIT 2"
            )  # fmt: skip
        ).all()
    by_title = {title: (record_id, owner, json.loads(d) if isinstance(d, str) else d)
                for record_id, title, owner, d in actions}  # fmt: skip
    assert set(by_title) == {"补齐窑尾煤粉计量秤", "关闭逾期的不符合"}
    action_id, owner, action = by_title["补齐窑尾煤粉计量秤"]
    assert owner == user_id(web, "process_owner") and action["source_record"] == review
    assert action["source"] == "management_review"
    manager = web.as_role("carbon_manager")
    page = manager.get(f"/r/{review}").text
    assert f'href="/r/{action_id}"' in page and 'data-signature-status="valid"' in page
    assert plain(page) == []
    assert f'href="/r/{review}"' in manager.get(f"/r/{action_id}").text
    # The pack page and the report, in Chinese and in English, with no keys or raw times.
    pack = manager.get(f"/management-review/{review}")
    assert pack.status_code == 200 and data["pack_sha256"] in pack.text and 'data-frozen="yes"' in pack.text
    assert "不符合与纠正措施" in pack.text and plain(pack.text) == []
    english = web.as_role("carbon_manager")
    english.post("/locale", data={"locale": "en", "csrf_token": csrf_of(english.get("/").text)})
    pack_en = english.get(f"/management-review/{review}").text
    assert "Nonconformities and corrective actions" in pack_en and "Frozen at approval" in pack_en
    assert plain(manager.get("/management-review").text) == []
    report = manager.get(f"/management-review/{review}/export.docx")
    assert report.status_code == 200 and report.content[:2] == b"PK"
    body = zipfile.ZipFile(io.BytesIO(report.content)).read("word/document.xml").decode()
    for shown in (
        data["pack_sha256"],
        "评审输入",
        "评审会议",
        "评审输出",
        "补齐窑尾煤粉计量秤",
        "批准管理评审输出",
    ):
        assert shown in body, shown


def test_the_pack_is_frozen_at_sign_off_and_live_changes_leave_it_and_its_signature(web):
    review, _ = start(web)
    carbon, gm = api(web, "carbon_manager"), api(web, "top_management")
    assert fire(carbon, review, "record_review_meeting", 2, meeting(web)).status_code == 200
    assert fire(carbon, review, "submit_review_outputs", 3, outputs(web)).status_code == 200
    assert (
        fire(gm, review, "approve_management_review", 4, signature_password=DEMO_PASSWORD).status_code == 200
    )
    _, version, frozen = stored(web, review)
    pack_page = sections_of(web.as_role("carbon_manager").get(f"/management-review/{review}").text)
    # Live data changes after sign-off: a new nonconformity, a new risk …
    for number in range(3):
        open_a_nonconformity(web, f"签字后的不符合 {number}")
    # … the pack, its hash and the signature stay as they were.
    _, version_after, after = stored(web, review)
    assert version_after == version and after == frozen
    assert (
        after["pack_sha256"]
        == hashlib.sha256(
            canonical_json({name: after.get(name) for name in PACK_FIELDS}).encode()
        ).hexdigest()
    )
    page = web.as_role("carbon_manager")
    assert sections_of(page.get(f"/management-review/{review}").text) == pack_page
    assert 'data-signature-status="valid"' in page.get(f"/r/{review}").text
    # No refresh after sign-off: the review is closed.
    assert fire(carbon, review, "refresh_review_inputs", version).status_code == 409
    # A new review compiles the live figures, and sees the first one's actions as earlier actions.
    second, _ = start(web)
    _, _, data = stored(web, second)
    assert section_summary(data, "nonconformities") != section_summary(frozen, "nonconformities")
    assert "提出 2 项措施" in section_summary(data, "previous_actions")


def test_bad_input_is_refused_naming_the_field(web):
    review, version = start(web)
    carbon = api(web, "carbon_manager")
    no_attendees = fire(carbon, review, "record_review_meeting", version, {**meeting(web), "attendees": []})
    assert no_attendees.status_code == 422 and error_fields(no_attendees) == {"data.attendees"}
    stranger = {**meeting(web), "attendees": [{"attendee": 999999}]}
    refused = fire(carbon, review, "record_review_meeting", version, stranger)
    assert refused.status_code == 422 and error_fields(refused) == {"data.attendees.1.attendee"}
    future = {**meeting(web), "meeting_date": (TODAY + timedelta(days=3)).isoformat()}
    late = fire(carbon, review, "record_review_meeting", version, future)
    assert late.status_code == 409 and "会议日期不能晚于今天" in late.text
    assert fire(carbon, review, "record_review_meeting", version, meeting(web)).status_code == 200
    unexplained = {**outputs(web), "changes_note": None}
    assert fire(carbon, review, "submit_review_outputs", version + 1, unexplained).status_code == 409
    bad_due = {
        **outputs(web),
        "actions": [{"action": "x", "owner": user_id(web, "staff"), "due": "2026-13-01"}],
    }
    wrong = fire(carbon, review, "submit_review_outputs", version + 1, bad_due)
    assert wrong.status_code == 422 and error_fields(wrong) == {"data.actions.1.due"}
    # The HTML form names the field in Chinese, never a 500.
    client = web.as_role("carbon_manager")
    form = client.get(f"/r/{review}/transition/submit_review_outputs")
    posted = client.post(
        f"/r/{review}/transition/submit_review_outputs",
        data={
            "csrf_token": csrf_of(form.text),
            "version": str(version + 1),
            "conclusion": "effective",
            "decisions": "",
            "policy_change": "unchanged",
            "objectives_change": "unchanged",
        },  # fmt: skip
    )
    assert (
        posted.status_code == 422
        and 'data-error-for="decisions"' in posted.text
        and "此项必填" in posted.text
    )
    # The compiling step is the process's own: nobody can fire it by hand.
    assert (
        fire(api(web, "admin"), review, "compile_review_inputs", version + 1, {"inputs": []}).status_code
        == 409
    )
    assert stored(web, review)[1] == version + 1


def test_the_scheduler_starts_the_yearly_review_on_the_first_of_december(plant):
    """Where a carbon policy is in force (the plant's context seeds one; the other companies have none)."""
    web = plant

    def started(moment: datetime) -> list[str]:
        lines = run_jobs(web.db, now=moment.replace(tzinfo=CHINA_TIME), settings=Settings())
        return [line for line in lines if "管理评审" in line and line.startswith("湖南湘峰水泥")]

    everywhere = run_jobs(web.db, now=datetime(2026, 12, 1, 9, 30, tzinfo=CHINA_TIME), settings=Settings())
    reviews = [line for line in everywhere if "管理评审" in line]
    assert len(reviews) == 1 and reviews[0].startswith("湖南湘峰水泥")
    assert started(datetime(2026, 12, 2, 9, 30)) == []  # once per slot
    with web.db.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT state, title, data FROM record JOIN organization o ON o.id = record.org_id "
                "WHERE workflow_key = 'management_review' AND o.slug = 'xiangfeng-cement'"
            )
        ).all()
    assert [(state, title) for state, title, _ in rows] == [("mr_preparing", "年度管理评审")]
    data = rows[0][2] if isinstance(rows[0][2], dict) else json.loads(rows[0][2])
    assert len(data["input_summaries"]) == 11

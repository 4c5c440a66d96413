"""7.5 / 5.2 controlled documents over HTTP and the scheduler: numbering per type, approval with the
e-signature, a submitted version refused any edit, taking effect on the effective date (at once, or by the
scheduler with a moved clock), superseding in the same transaction, withdrawing with a reason, 作废 /
OBSOLETE on the page and in both docx, the diff, hostile Markdown, read-and-acknowledge, role checks and bad
input answered without a 500."""

import io
from datetime import UTC, date, datetime, timedelta

from docx import Document
from sqlalchemy import text

from demo.seed import DEMO_LOGINS, DEMO_PASSWORD
from engine.scheduler.runner import run_jobs
from tests.web.conftest import api_token, bearer_client, csrf_of
from tests.web.test_visible_text import ISO_INSTANT, SNAKE, visible_text

EMAIL = {login.role.value: login.email for login in DEMO_LOGINS}
TODAY = datetime.now(UTC).astimezone().date()


def _plain(html: str) -> list[str]:
    """Internal keys or raw ISO timestamps a person would read on the page."""
    problems = []
    for part in visible_text(html):
        problems += [f"key {m!r} in {part!r}" for m in SNAKE.findall(part)]
        problems += [f"timestamp in {part!r}" for m in ISO_INSTANT.findall(part)]
    return problems


def api(web, role: str):
    return bearer_client(web, api_token(web, EMAIL[role], name=f"doc-{role}"))


def fire(client, record_id: int, trigger: str, data: dict | None = None, **extra):
    version = client.get(f"/api/v1/records/{record_id}").json()["version"]
    return client.post(
        f"/api/v1/records/{record_id}/transitions/{trigger}",
        json={"version": version, "data": data or {}, **extra},
    )


def user_id(web, role: str) -> int:
    with web.db.engine.connect() as connection:
        return connection.execute(
            text("SELECT id FROM user_account WHERE email = :e"), {"e": EMAIL[role]}
        ).scalar_one()


def record(web, record_id: int) -> tuple[str, dict]:
    import json

    with web.db.engine.connect() as connection:
        state, data = connection.execute(
            text("SELECT state, data FROM record WHERE id = :i"), {"i": record_id}
        ).one()
    return state, json.loads(data) if isinstance(data, str) else data


def draft(web, client, **overrides) -> int:
    data = {
        "doc_type": "procedure",
        "title": "碳排放数据管理程序",
        "owner": user_id(web, "carbon_manager"),
        "clause": "8.6",
        "content": "# 目的\n规范碳排放数据的收集。\n## 职责\n碳管理员负责汇总。",
        "change_reason": "首次发布",
        "effective_date": TODAY.isoformat(),
        "review_date": (TODAY + timedelta(days=365)).isoformat(),
        "distribute_to": ["staff", "process_owner"],
        **overrides,
    }
    created = client.post("/api/v1/records", json={"workflow": "controlled_document", "data": data})
    assert created.status_code == 201, created.text
    return created.json()["id"]


def approve(client, record_id: int, trigger: str = "approve_document"):
    return fire(client, record_id, trigger, signature_password=DEMO_PASSWORD)


def test_life_cycle_supersede_scheduler_and_obsolete_marks(web):
    carbon, quality = api(web, "carbon_manager"), api(web, "quality_manager")
    first = draft(web, carbon)
    state, data = record(web, first)
    assert state == "draft" and data["document_number"] == "CX-001"  # numbered per type
    assert (
        fire(carbon, first, "submit_to_management").status_code == 409
    )  # a procedure is not top management's
    assert fire(carbon, first, "submit_for_approval").status_code == 200
    # Once submitted, the version is immutable: its content form is no longer offered.
    edited = fire(carbon, first, "edit_draft", {"content": "改过的"})
    assert edited.status_code == 409 and record(web, first)[1]["content"].startswith("# 目的")
    assert approve(carbon, first).status_code == 403  # the author does not approve their own
    assert fire(quality, first, "approve_document").status_code == 403  # no re-authentication, no signature
    assert approve(quality, first).status_code == 200
    assert record(web, first)[0] == "effective"  # effective date today: in force at once

    # Revise: a new draft copied from the version in force, which stays in force meanwhile.
    assert fire(carbon, first, "revise", comment="增加数据质量控制要求").status_code == 200
    assert fire(carbon, first, "revise", comment="again").status_code == 409  # one new version at a time
    with web.db.engine.connect() as connection:
        second = connection.execute(
            text("SELECT max(id) FROM record WHERE workflow_key = 'controlled_document'")
        ).scalar_one()
    state, data = record(web, second)
    assert (
        state == "draft"
        and data["document_number"] == "CX-001"
        and data["change_reason"] == "增加数据质量控制要求"
    )
    later = TODAY + timedelta(days=10)
    changed = "# 目的\n规范碳排放数据的收集与质量控制。\n## 职责\n碳管理员负责汇总。"
    assert (
        fire(
            carbon, second, "edit_draft", {**data, "content": changed, "effective_date": later.isoformat()}
        ).status_code
        == 200
    )
    assert fire(carbon, second, "submit_for_approval").status_code == 200
    assert approve(quality, second).status_code == 200
    assert record(web, second)[0] == "approved" and record(web, first)[0] == "effective"
    assert fire(quality, second, "take_effect").status_code == 409  # not before its date
    assert fire(quality, first, "supersede").status_code == 409  # only the system supersedes

    def jobs_at(day: date) -> list[str]:
        moment = datetime(day.year, day.month, day.day, 1, 0, tzinfo=UTC)
        return [line for line in run_jobs(web.db, now=moment, settings=web.settings) if "生效" in line]

    assert jobs_at(later - timedelta(days=1)) == []
    assert any("CX-001" in line for line in jobs_at(later))
    assert record(web, second)[0] == "effective" and record(web, first)[0] == "superseded"
    assert jobs_at(later) == []  # once

    page = web.as_role("staff")
    old = page.get(f"/documents/{first}")
    assert old.status_code == 200 and "作废 / OBSOLETE" in old.text
    assert "作废 / OBSOLETE" not in page.get(f"/documents/{second}").text
    diff = page.get(f"/documents/{second}").text
    assert 'data-diff="added"' in diff and "规范碳排放数据的收集与质量控制。" in diff
    assert 'data-diff="removed"' in diff
    docx = page.get(f"/documents/{first}/document.docx")
    assert docx.status_code == 200
    text_of = "\n".join(p.text for p in Document(io.BytesIO(docx.content)).paragraphs)
    assert "作废 / OBSOLETE" in text_of
    current = Document(io.BytesIO(page.get(f"/documents/{second}/document.docx").content))
    assert "作废 / OBSOLETE" not in "\n".join(p.text for p in current.paragraphs)

    # Withdrawn with a reason: obsolete, marked, the reason shown.
    assert fire(quality, second, "withdraw").status_code == 422  # a reason is required
    assert fire(quality, second, "withdraw", comment="业务停止，文件废止").status_code == 200
    withdrawn = page.get(f"/documents/{second}").text
    assert "作废 / OBSOLETE" in withdrawn and "业务停止，文件废止" in withdrawn
    register = page.get("/documents?doc_type=procedure&state=obsolete")
    assert register.status_code == 200 and 'data-document="CX-001"' in register.text
    assert 'data-document="CX-001"' not in page.get("/documents?state=effective").text


def test_policy_goes_to_top_management_and_external_documents_are_registered(web):
    carbon, gm = api(web, "carbon_manager"), api(web, "top_management")
    policy = draft(web, carbon, doc_type="manual", title="碳管理手册", clause="4.4")
    assert record(web, policy)[1]["document_number"] == "SC-001"
    assert fire(carbon, policy, "submit_for_approval").status_code == 409
    assert fire(carbon, policy, "submit_to_management").status_code == 200
    assert approve(api(web, "quality_manager"), policy, "approve_by_management").status_code == 403
    assert approve(gm, policy, "approve_by_management").status_code == 200
    assert record(web, policy)[0] == "effective"

    external = draft(web, carbon, doc_type="external", title="工业企业温室气体排放核算和报告通则", content="")
    assert fire(carbon, external, "register_external").status_code == 409  # needs its edition
    state, data = record(web, external)
    assert fire(carbon, external, "edit_draft", {**data, "edition": "GB/T 32150-2015"}).status_code == 200
    assert fire(carbon, external, "register_external").status_code == 200
    assert record(web, external)[0] == "effective"
    listed = web.as_role("internal_auditor").get("/documents?doc_type=external")
    assert "GB/T 32150-2015" in listed.text and "WL-001" in listed.text


def test_markdown_is_rendered_without_html_or_script(web):
    carbon = api(web, "carbon_manager")
    hostile = (
        "<script>alert(1)</script>\n\n[点我](javascript:alert(2)) "
        "[数据](data:text/html;base64,PHNjcmlwdD4=)\n\n"
        '<img src=x onerror="alert(3)">\n\n![图](http://evil.example/x.png)\n\n**粗体** 正常'
    )
    hostile_id = draft(web, carbon, content=hostile)
    html = web.as_role("carbon_manager").get(f"/documents/{hostile_id}").text
    body = html.split('id="document-text"', 1)[1].split("</div>", 2)[0]
    assert "<script>" not in body and "<img" not in body and 'href="javascript:' not in body
    assert 'href="data:' not in body and 'src="http://evil.example' not in body
    assert "&lt;script&gt;" in body and "<strong>粗体</strong>" in body


def test_read_and_acknowledge(web):
    carbon, quality = api(web, "carbon_manager"), api(web, "quality_manager")
    doc = draft(web, carbon, title="窑系统运行作业指导书", doc_type="work_instruction")
    assert fire(carbon, doc, "submit_for_approval").status_code == 200
    assert approve(quality, doc).status_code == 200
    staff = web.as_role("staff")
    assert f'data-to-read="{doc}"' in staff.get("/").text  # in the person's inbox
    owner_view = web.as_role("carbon_manager").get(f"/documents/{doc}").text
    assert "已阅读确认 0 / 2" in owner_view or "0 / 2" in owner_view
    assert "赵敏" in owner_view.split('id="acknowledgements"')[1]  # still missing
    page = staff.get(f"/documents/{doc}")
    token = csrf_of(page.text)
    done = staff.post(f"/documents/{doc}/acknowledge", data={"csrf_token": token})
    assert done.status_code == 303
    assert f'data-to-read="{doc}"' not in staff.get("/").text
    status = web.as_role("carbon_manager").get(f"/documents/{doc}").text.split('id="acknowledgements"')[1]
    assert "1 / 2" in status and "data-acknowledged" in status
    for html in (web.as_role("carbon_manager").get(f"/documents/{doc}").text, staff.get("/documents").text):
        assert _plain(html) == []
    english = web.signed_in(EMAIL["carbon_manager"], **{"Accept-Language": "en"})
    english.post("/locale", data={"locale": "en", "csrf_token": csrf_of(english.get("/").text)})
    shown = english.get(f"/documents/{doc}").text
    assert "Read and acknowledged" in shown and "Staff" in shown and _plain(shown) == []
    # Not distributed to the top manager: refused with a clear message, nothing written.
    gm = web.as_role("top_management")
    refused = gm.post(
        f"/documents/{doc}/acknowledge", data={"csrf_token": csrf_of(gm.get(f"/documents/{doc}").text)}
    )
    assert refused.status_code == 409 and "未分发给您" in refused.text
    with web.db.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM document_acknowledgement")).scalar_one() == 1
        assert (
            connection.execute(
                text("SELECT count(*) FROM audit_event WHERE action = 'acknowledged'")
            ).scalar_one()
            == 1
        )


def test_carbon_policy_is_acknowledged_by_all_staff(web):
    gm = api(web, "top_management")
    created = gm.post("/api/v1/records", json={"workflow": "carbon_policy", "data": {
        "title": "碳方针", "edition": "A/0", "effective_from": TODAY.isoformat(), "policy_text": "节能降碳",
        "commitments": ["compliance", "neutrality", "improvement"]}})  # fmt: skip
    policy = created.json()["id"]
    assert fire(gm, policy, "submit_for_approval").status_code == 200
    assert approve(gm, policy, "approve_policy").status_code == 200
    for role in ("staff", "process_owner", "quality_manager"):
        assert f'data-to-read="{policy}"' in web.as_role(role).get("/").text
    assert f'data-to-read="{policy}"' not in web.as_role("external_auditor").get("/").text
    page = web.as_role("top_management").get(f"/documents/{policy}").text
    assert "0 / 7" in page
    number = created.json()["number"]
    register = web.as_role("staff").get("/documents?doc_type=policy").text
    assert f'data-document="{number}"' in register and "现行有效" in register
    assert f'data-document="{number}"' not in web.as_role("staff").get("/documents?doc_type=manual").text


def test_roles_and_bad_input(web):
    staff = api(web, "staff")
    refused = staff.post("/api/v1/records", json={"workflow": "controlled_document", "data": {"title": "x"}})
    assert refused.status_code == 403
    carbon = api(web, "carbon_manager")
    wrong = {"doc_type": "procedure", "title": "", "effective_date": "2026-13-01", "document_number": "<x>"}
    bad = carbon.post("/api/v1/records", json={"workflow": "controlled_document", "data": wrong})
    assert bad.status_code == 422 and "title" in bad.text and "effective_date" in bad.text
    first = draft(web, carbon, document_number="CX-100")
    taken = carbon.post("/api/v1/records", json={"workflow": "controlled_document", "data": {
        **record(web, first)[1]}})  # fmt: skip
    assert taken.status_code == 422 and "CX-100" in taken.text
    page = web.as_role("staff")
    assert page.get("/documents?state=<script>").status_code == 422
    assert page.get("/documents/999999").status_code == 404
    assert page.get(f"/documents/{first}/original").status_code == 404


def test_clause_coverage_counts_document_control(web):
    from engine.clauses.coverage import CoverageStatus, coverage_map
    from tests.web.conftest import CATALOG
    from tests.web.support_setup import org_id_of

    def status(clause: str) -> CoverageStatus:
        with web.db.read_session(org_id=org_id_of(web)) as session:
            found = coverage_map(session, catalog=CATALOG, years=(TODAY.year,), today=TODAY)
            return found.cell(clause, TODAY.year).status

    assert status("7.5") == CoverageStatus.missing
    carbon = api(web, "carbon_manager")
    doc = draft(web, carbon)
    assert fire(carbon, doc, "submit_for_approval").status_code == 200
    assert approve(api(web, "quality_manager"), doc).status_code == 200
    assert status("7.5") == CoverageStatus.covered  # the document counts for 7.5 and the clause it names
    assert status("8.6") != CoverageStatus.missing
    page = web.as_role("carbon_manager").get(f"/evaluation/coverage?year={TODAY.year}")
    assert page.status_code == 200


def test_a_hostile_docx_is_read_as_text_only(tmp_path):
    """An uploaded docx whose document part declares external and recursive entities: the diff's text
    extraction resolves none (no file read, no expansion)."""
    import zipfile

    from engine.documents.renditions import UnreadableDocument, docx_text

    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-LINE", encoding="utf-8")
    source = io.BytesIO(_docx("正常段落"))
    hostile = io.BytesIO()
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(hostile, "w") as out:
        for item in original.infolist():
            data = original.read(item.filename)
            if item.filename == "word/document.xml":
                text_ = data.decode()
                head, rest = text_.split("?>", 1)
                doctype = (
                    f'<!DOCTYPE w:document [<!ENTITY xxe SYSTEM "file://{secret}">'
                    '<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
                )
                data = (head + "?>" + doctype + rest.replace("正常段落", "正常段落&xxe;&b;")).encode()
            out.writestr(item, data)
    try:
        extracted = docx_text(hostile.getvalue())
    except UnreadableDocument:
        extracted = ""
    assert "TOP-SECRET-LINE" not in extracted and "aaaaaaaaaa" not in extracted
    broken = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(_docx("x"))) as original, zipfile.ZipFile(broken, "w") as out:
        for item in original.infolist():
            data = original.read(item.filename)
            out.writestr(item, b"<w:document><unclosed>" if item.filename == "word/document.xml" else data)
    for damaged in (b"PK\x03\x04 not a zip", broken.getvalue()):
        try:
            docx_text(damaged)
            raise AssertionError("a damaged docx must be refused")
        except UnreadableDocument:
            pass


def _docx(*lines: str) -> bytes:
    document = Document()
    for line in lines:
        document.add_paragraph(line)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_uploaded_docx_compared_stamped_when_superseded_and_every_rendition_marked(web):
    browser = web.as_role("carbon_manager")
    form = browser.get("/records/controlled_document/new")
    assert form.status_code == 200
    fields = {
        "csrf_token": csrf_of(form.text), "doc_type": "work_instruction", "title": "生料磨操作规程",
        "owner": str(user_id(web, "carbon_manager")), "change_reason": "首次发布",
        "effective_date": TODAY.isoformat(), "distribute_to": "staff",
    }  # fmt: skip
    created = browser.post(
        "/records/controlled_document",
        data=fields,
        files={"file": ("生料磨操作规程.docx", _docx("开机前检查润滑。", "启动主电机。"))},
    )
    assert created.status_code == 303, created.text[-2000:]
    first = int(created.headers["location"].rsplit("/", 1)[1])
    picture = browser.post(
        "/records/controlled_document",
        data={**fields, "csrf_token": csrf_of(browser.get("/records/controlled_document/new").text)},
        files={"file": ("照片.txt", "不是文件格式".encode())},
    )
    assert picture.status_code == 422 and "docx、pdf 或 xlsx" in picture.text  # refused on the field
    carbon, quality = api(web, "carbon_manager"), api(web, "quality_manager")
    assert fire(carbon, first, "submit_for_approval").status_code == 200
    assert approve(quality, first).status_code == 200
    assert fire(carbon, first, "revise", comment="增加停机步骤").status_code == 200
    with web.db.engine.connect() as connection:
        second = connection.execute(
            text("SELECT max(id) FROM record WHERE workflow_key = 'controlled_document'")
        ).scalar_one()
    form = browser.get(f"/r/{second}/transition/edit_draft")
    assert form.status_code == 200
    data = record(web, second)[1]
    edited = browser.post(
        f"/r/{second}/transition/edit_draft",
        data={
            "csrf_token": csrf_of(form.text),
            "version": "1",
            "doc_type": "work_instruction",
            "title": data["title"],
            "owner": str(data["owner"]),
            "change_reason": data["change_reason"],
            "effective_date": TODAY.isoformat(),
            "distribute_to": "staff",
        },  # fmt: skip
        files={"file": ("生料磨操作规程-A1.docx", _docx("开机前检查润滑。", "启动主电机。", "停机后清理。"))},
    )
    assert edited.status_code in (200, 303), edited.text[-2000:]
    assert record(web, second)[1]["file"] != record(web, first)[1]["file"]
    assert fire(carbon, second, "submit_for_approval").status_code == 200
    assert approve(quality, second).status_code == 200
    assert record(web, first)[0] == "superseded"

    staff = web.as_role("staff")
    page = staff.get(f"/documents/{second}").text
    assert 'data-diff="added"' in page and "停机后清理。" in page.split('id="document-diff"')[1]
    original = staff.get(f"/documents/{first}/original")
    assert original.status_code == 200 and "OBSOLETE" in original.headers["content-disposition"]
    stamped = Document(io.BytesIO(original.content))
    assert stamped.paragraphs[0].text.startswith("作废 / OBSOLETE")
    assert "作废 / OBSOLETE" in stamped.sections[0].header.paragraphs[0].text
    current = Document(io.BytesIO(staff.get(f"/documents/{second}/original").content))
    assert not current.paragraphs[0].text.startswith("作废")
    # The record page and the generic Word export of the superseded version carry the mark too.
    record_page = staff.get(f"/r/{first}").text
    assert 'id="record-mark"' in record_page and f'href="/documents/{first}"' in record_page
    assert 'id="record-mark"' not in staff.get(f"/r/{second}").text
    export = Document(io.BytesIO(staff.get(f"/r/{first}/export.docx").content))
    assert export.paragraphs[0].text.startswith("作废 / OBSOLETE")


def test_periodic_review_reminds_the_owner_once(web):
    carbon = api(web, "carbon_manager")
    due = TODAY + timedelta(days=30)
    doc = draft(web, carbon, review_date=due.isoformat())
    assert fire(carbon, doc, "submit_for_approval").status_code == 200
    assert approve(api(web, "quality_manager"), doc).status_code == 200

    def reminders(day: date) -> list[str]:
        moment = datetime(day.year, day.month, day.day, 1, 0, tzinfo=UTC)
        return [
            line for line in run_jobs(web.db, now=moment, settings=web.settings) if "受控文件定期评审" in line
        ]

    assert reminders(due - timedelta(days=1)) == []
    assert len(reminders(due)) == 1 and reminders(due) == []
    with web.db.engine.connect() as connection:
        notified = connection.execute(
            text("SELECT count(*) FROM notification WHERE user_id = :u AND kind = 'review'"),
            {"u": user_id(web, "carbon_manager")},
        ).scalar_one()
    assert notified == 1
    escalated = reminders(due + timedelta(days=30))
    assert len(escalated) == 1 and "逾期 30 天" in escalated[0]  # to top management, once
    with web.db.engine.connect() as connection:
        assert (
            connection.execute(
                text("SELECT count(*) FROM notification WHERE user_id = :u AND kind = 'review'"),
                {"u": user_id(web, "top_management")},
            ).scalar_one()
            == 1
        )
    # Reviewed: the next reminder is a year after the review; the approval signature stays valid.
    assert fire(carbon, doc, "periodic_review").status_code == 422  # a conclusion is required
    assert fire(carbon, doc, "periodic_review", comment="仍然适宜，无需修订").status_code == 200
    signatures = web.as_role("carbon_manager").get(f"/r/{doc}").text.split('id="signatures"')[1][:3000]
    assert "有效" in signatures and "已失效" not in signatures

"""B9 the external verifier's portal, over HTTP on the demo (its verifier holds a grant for last year, clauses
8.6 and 9.1): the window, the scope, read-only, every view and download audited, the conflict-of-interest
declaration first, verified values beside reported ones, returns the enterprise sees, the close that locks
the year and the two-person unlock."""

import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text

from demo.seed import DEMO_PASSWORD
from demo.verification import VERIFIER_EMAIL
from engine.audit import SYSTEM, Actor
from engine.carbon_data.errors import EmissionsDataError
from engine.carbon_data.inputs import attach_reading_evidence, set_production
from engine.evidence.store import store_evidence
from engine.models.base import utcnow
from engine.verification.errors import OutsideWindow
from engine.verification.scope import current_grant
from engine.workflow.access import ActorRef
from engine.workflow.computed import china_today
from engine.workflow.errors import GuardRefused
from engine.workflow.lifecycle import fire_transition
from tests.web.conftest import csrf_of
from tests.web.routes import route_rules
from web.verifier_gate import ALWAYS, PORTAL, TRACE, VERIFIER_ACTIONS

YEAR = china_today().year - 1


def scalar(web, sql: str, **params):
    with web.db.engine.connect() as connection:
        return connection.execute(text(sql), params).scalar()


def views(web) -> int:
    return scalar(web, "SELECT count(*) FROM audit_event WHERE subject_type = 'verification_view'")


def verifier(web):
    client = web.signed_in(VERIFIER_EMAIL, DEMO_PASSWORD)
    page = client.get(PORTAL)
    assert page.status_code == 200, page.text
    return client, csrf_of(page.text)


def post(client, path: str, token: str, **data: str):
    return client.post(path, data={"csrf_token": token, **data})


def declared(web):
    client, token = verifier(web)
    assert post(client, f"{PORTAL}/coi", token, independent="yes").status_code == 303
    return client, token


def batch(web, period: str) -> tuple[int, str]:
    with web.db.engine.connect() as connection:
        for record_id, state, data in connection.execute(
            text("SELECT id, state, data FROM record WHERE workflow_key = 'carbon_data_batch'")
        ):
            if (json.loads(data) if isinstance(data, str) else data).get("period") == period:
                return record_id, state
    raise AssertionError(period)


def _evidence(web, name: str, *, month: str | None) -> int:
    """A file in the evidence store, pinned to a month's readings of the first source when ``month``."""
    org_id = scalar(web, "SELECT id FROM organization WHERE slug = 'xiangfeng-cement'")
    source = scalar(web, "SELECT min(id) FROM emission_source")
    with web.db.unit_of_work(org_id=org_id) as uow:
        row = store_evidence(
            uow.session, org_id=org_id, actor=SYSTEM, evidence_store=web.settings.evidence_store,
            filename=name, chunks=[f"{name} 抄表记录".encode()], max_bytes=10_000,
        )  # fmt: skip
        if month:
            attach_reading_evidence(
                uow.session, org_id=org_id, actor=SYSTEM, source_id=source, period=month,
                evidence_sha256=row.sha256,
            )  # fmt: skip
        assert row.id is not None
        return row.id


def test_the_portal_is_the_verifiers_landing_and_every_page_and_download_is_audited(web):
    in_scope = _evidence(web, "meter-2025-03.txt", month=f"{YEAR}-03")
    outside = _evidence(web, "meter-2024-03.txt", month=f"{YEAR - 1}-03")
    client, _ = verifier(web)
    assert client.get("/").headers["location"] == PORTAL
    before = views(web)
    page = client.get(PORTAL)
    assert page.status_code == 200 and f"{YEAR}-03" in page.text and "利益冲突声明" in page.text
    record_id, _ = batch(web, f"{YEAR}-03")
    assert client.get(f"{PORTAL}/records/{record_id}").status_code == 200
    assert views(web) == before + 2
    with web.db.engine.connect() as connection:
        last = connection.execute(
            text(
                "SELECT actor_name, action, reason, subject_id FROM audit_event "
                "WHERE subject_type = 'verification_view' ORDER BY seq DESC LIMIT 1"
            )
        ).one()
    assert tuple(last) == (
        "吴思远",
        "viewed",
        "记录",
        f"CD-{scalar(web, 'SELECT number FROM record WHERE id = :i', i=record_id)[3:]}",
    )
    assert f'href="/verification/portal/evidence/{in_scope}"' in page.text
    assert f'href="/verification/portal/evidence/{outside}"' not in page.text
    download = client.get(f"{PORTAL}/evidence/{in_scope}")
    assert download.status_code == 200 and download.content == "meter-2025-03.txt 抄表记录".encode()
    assert views(web) == before + 3
    assert client.get(f"{PORTAL}/evidence/{outside}").status_code == 404
    assert views(web) == before + 3  # a refusal shows nothing and records no view


def test_outside_the_scope_nothing_is_shown(web):
    client, _ = verifier(web)
    other_year, _ = batch(web, f"{YEAR - 1}-03")
    assert client.get(f"{PORTAL}/records/{other_year}").status_code == 404
    outside_clause = scalar(web, "SELECT id FROM record WHERE workflow_key = 'nonconformity' LIMIT 1")
    assert client.get(f"{PORTAL}/records/{outside_clause}").status_code == 404
    unknown_file = scalar(web, "SELECT coalesce(max(id), 0) + 1 FROM evidence_file")
    assert client.get(f"{PORTAL}/evidence/{unknown_file}").status_code == 404
    for page in ("/emissions", f"/r/{other_year}", "/records/nonconformity", "/audit", "/evidence/1"):
        refused = client.get(page)
        assert refused.status_code == 403 and "核查门户" in refused.text, page


def test_a_verifier_may_send_nothing_but_their_own_actions(web):
    client, token = verifier(web)
    tried = 0
    for rule in route_rules(web.app):
        path = re.sub(r"\{[^}]+\}", "1", rule.path)
        if not rule.is_unsafe or rule.path in VERIFIER_ACTIONS or rule.path in ALWAYS:
            continue
        response = client.request(rule.method, path, data={"csrf_token": token})
        assert response.status_code == 403, (rule.method, rule.path, response.status_code)
        tried += 1
    assert tried > 30  # every form and API write of the app
    for rule in route_rules(web.app):
        # The trust chain answers within the grant's year (tests/web/test_trust_chain.py checks it).
        if (
            rule.method == "GET"
            and not rule.path.startswith((PORTAL, TRACE))
            and rule.path not in ALWAYS | {"/"}
        ):
            path = re.sub(r"\{[^}]+\}", "1", rule.path)
            assert client.get(path).status_code in (403, 404), rule.path


def test_access_is_refused_before_and_after_its_window(web):
    client, _ = verifier(web)
    org_id = scalar(web, "SELECT id FROM organization WHERE slug = 'xiangfeng-cement'")
    user_id = scalar(web, "SELECT id FROM user_account WHERE email = :e", e=VERIFIER_EMAIL)
    with web.db.read_session(org_id=org_id) as session:
        grant = current_grant(session, org_id=org_id, user_id=user_id)
        assert grant is not None
        with pytest.raises(OutsideWindow, match="ended"):
            current_grant(
                session, org_id=org_id, user_id=user_id, now=grant.valid_until + timedelta(seconds=1)
            )
        with pytest.raises(OutsideWindow, match="starts"):
            current_grant(
                session, org_id=org_id, user_id=user_id, now=grant.valid_from - timedelta(seconds=1)
            )
    with web.db.engine.begin() as connection:
        connection.execute(text("UPDATE verification_grant SET valid_until = :t"), {"t": utcnow()})
    refused = client.get(PORTAL)
    assert refused.status_code == 403 and "已于" in refused.text and "到期" in refused.text
    assert client.get("/emissions").status_code == 403


def test_nothing_before_the_declaration_then_values_returns_and_the_close(web):
    client, token = verifier(web)
    month = f"{YEAR}-03"
    early = post(client, f"{PORTAL}/values", token, period=month, verified_value="1", comment="x")
    assert early.status_code == 422 and "请先签署利益冲突声明" in early.text
    unchecked = post(client, f"{PORTAL}/coi", token, statement="")
    assert unchecked.status_code == 422 and "不存在利益冲突" in unchecked.text
    assert post(client, f"{PORTAL}/coi", token, independent="yes").status_code == 303
    for bad, field_text in (
        ({"period": month, "verified_value": "abc", "comment": "c"}, "核查值应为数字"),
        ({"period": month, "verified_value": "-1", "comment": "c"}, "非负数"),
        ({"period": month, "verified_value": "10", "comment": " "}, "请填写核查说明"),
        ({"period": f"{YEAR - 1}-03", "verified_value": "10", "comment": "c"}, f"只能核查 {YEAR} 年度"),
    ):
        refused = post(client, f"{PORTAL}/values", token, **bad)
        assert refused.status_code == 422 and field_text in refused.text, bad
    assert (
        post(
            client, f"{PORTAL}/values", token, period=month, verified_value="1000.5", comment="抽查发票"
        ).status_code
        == 303
    )
    manager = web.as_role("carbon_manager")
    results = manager.get(f"/verification?year={YEAR}")
    row = re.search(rf'<tr data-period="{month}">(.*?)</tr>', results.text, re.S)
    assert row and "1,000.5" in row.group(1) and "抽查发票" in row.group(1) and "吴思远" in row.group(1)
    reported = re.search(r"data-reported>([^<]+)<", row.group(1)).group(1)
    difference = re.search(r"data-difference>([^<]+)<", row.group(1)).group(1)
    assert Decimal("1000.5") - Decimal(reported.replace(",", "")) == Decimal(difference.replace(",", ""))
    total = post(
        client, f"{PORTAL}/values", token, period=str(YEAR), verified_value="1200000", comment="全年核查"
    )
    assert total.status_code == 303
    year_row = re.search(
        rf'<tr data-period="{YEAR}">(.*?)</tr>', manager.get(f"/verification?year={YEAR}").text, re.S
    )
    assert year_row and "全年合计" in year_row.group(1) and "1,200,000" in year_row.group(1)
    assert re.search(r"data-reported>[\d,.]+<", year_row.group(1))  # the inventory's total beside it

    record_id, state = batch(web, month)
    assert state == "reported"
    blank = post(client, f"{PORTAL}/returns", token, period=month, comment="")
    assert blank.status_code == 422 and "请填写退回意见" in blank.text
    assert (
        post(client, f"{PORTAL}/returns", token, period=month, comment="3 月电表读数缺少校准证书").status_code
        == 303
    )
    assert batch(web, month)[1] == "collected"
    assert "3 月电表读数缺少校准证书" in manager.get(f"/r/{record_id}").text
    assert "3 月电表读数缺少校准证书" in manager.get("/notifications").text
    assert "3 月电表读数缺少校准证书" in manager.get(f"/verification?year={YEAR}").text

    assert post(client, f"{PORTAL}/close", token).status_code == 303
    assert (
        post(client, f"{PORTAL}/values", token, period=month, verified_value="1", comment="c").status_code
        == 422
    )
    locked = manager.get(f"/verification?year={YEAR}")
    assert 'id="year-locked"' in locked.text
    _year_is_locked_then_unlocked_by_two(web, manager, month)


def _year_is_locked_then_unlocked_by_two(web, manager, month):
    page = manager.get(f"/emissions/production?year={YEAR}")
    token = csrf_of(page.text)
    product = scalar(web, "SELECT id FROM product WHERE code = 'CLK'")
    refused = manager.post(
        "/emissions/production",
        data={"csrf_token": token, "product_id": str(product), "period": month, "quantity": "1"},
    )
    assert refused.status_code == 422 and "已由核查关闭并锁定" in refused.text
    org_id = scalar(web, "SELECT id FROM organization WHERE slug = 'xiangfeng-cement'")
    with pytest.raises(EmissionsDataError, match="locked"), web.db.unit_of_work(org_id=org_id) as uow:
        set_production(
            uow.session, org_id=org_id, actor=Actor(1, "x"), product_id=product, period=month, quantity="1"
        )

    record_id, _ = batch(web, month)
    version = scalar(web, "SELECT version FROM record WHERE id = :i", i=record_id)
    manager_id = scalar(web, "SELECT id FROM user_account WHERE email = 'carbon@xiangfeng.example'")
    carbon = ActorRef(id=manager_id, name="李娜", roles=frozenset({"carbon_manager"}))
    with pytest.raises(GuardRefused, match="locked"), web.db.unit_of_work(org_id=org_id) as uow:
        fire_transition(
            uow.session, record_id=record_id, trigger="return_for_correction", actor=carbon,
            form_data={}, expected_version=version, comment="再退回",
        )  # fmt: skip
    token = csrf_of(manager.get(f"/verification?year={YEAR}").text)
    no_reason = manager.post(
        "/verification/locks/unlock-request", data={"csrf_token": token, "year": str(YEAR), "reason": ""}
    )
    assert no_reason.status_code == 422 and "请填写解锁原因" in no_reason.text
    asked = manager.post(
        "/verification/locks/unlock-request",
        data={"csrf_token": token, "year": str(YEAR), "reason": "更正 3 月电量"},
    )
    assert asked.status_code == 303
    alone = manager.post("/verification/locks/unlock-confirm", data={"csrf_token": token, "year": str(YEAR)})
    assert alone.status_code == 403 and "另一人确认" in alone.text
    staff = web.as_role("staff")
    staff_token = csrf_of(staff.get(f"/verification?year={YEAR}").text)
    assert (
        staff.post(
            "/verification/locks/unlock-confirm", data={"csrf_token": staff_token, "year": str(YEAR)}
        ).status_code
        == 403
    )
    top = web.as_role("top_management")
    top_token = csrf_of(top.get(f"/verification?year={YEAR}").text)
    assert (
        top.post(
            "/verification/locks/unlock-confirm", data={"csrf_token": top_token, "year": str(YEAR)}
        ).status_code
        == 303
    )
    actions = scalar(web, "SELECT count(*) FROM audit_event WHERE subject_type = 'year_lock'")
    assert actions == 3  # locked, unlock asked, unlocked
    saved = manager.post(
        "/emissions/production",
        data={"csrf_token": token, "product_id": str(product), "period": month, "quantity": "1"},
    )
    assert saved.status_code == 303


def test_an_admin_grants_access_and_bad_input_is_named(web):
    admin = web.as_role("admin")
    token = csrf_of(admin.get("/verification/grants").text)
    today = china_today().isoformat()
    good = {"email": "new@verify.example", "display_name": "钱核查", "body": "某认证机构", "year": str(YEAR),
            "clauses": "8.6", "valid_from": today, "valid_until": today}  # fmt: skip
    for change, message in (
        ({"year": "abc"}, "报告年度应为四位年份"),
        ({"clauses": "99.9"}, "标准中没有条款 99.9"),
        ({"clauses": ""}, "请填写核查范围内的条款"),
        ({"valid_from": "2026-13-01"}, "生效日期应为日期"),
        ({"valid_until": "2000-01-01"}, "截止日期不能早于生效日期"),
        ({"email": "not-an-email"}, "电子邮箱格式不正确"),
        ({"display_name": ""}, "请填写核查人员姓名"),
    ):
        refused = admin.post("/verification/grants", data={"csrf_token": token, **good, **change})
        assert refused.status_code == 422 and message in refused.text, change
    created = admin.post("/verification/grants", data={"csrf_token": token, **good})
    assert created.status_code == 200 and 'id="one-time-password"' in created.text
    assert scalar(web, "SELECT count(*) FROM verification_grant") == 2
    assert web.as_role("carbon_manager").get("/verification/grants").status_code == 403

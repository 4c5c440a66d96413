"""The evidence life cycle through the app: owner and validity given at upload, versions (the old kept and
downloadable, marked superseded), the register's filters, expired evidence making its clause stale in the
coverage map (and the drill-down naming it), withdrawal as a tombstone with a reason, expiry reminders."""

import re
from datetime import datetime

from sqlalchemy import text

from engine.config import Settings
from engine.records.display import CHINA_TIME
from engine.scheduler.jobs import JOBS
from engine.scheduler.runner import run_jobs
from engine.workflow.computed import china_today
from tests.web.conftest import csrf_of

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PDF2 = PDF + b"% version 2\n"


def _scalar(web, sql: str, **params):
    with web.db.engine.connect() as connection:
        return connection.execute(text(sql), params).scalar()


def _close_nonconformity_with_certificate(web, valid_until: str) -> int:
    """The effectiveness review of a demo nonconformity, its evidence file valid until ``valid_until``."""
    with web.db.engine.connect() as connection:
        record_id, version = connection.execute(
            text("SELECT id, version FROM record WHERE state = 'effectiveness_review' AND workflow_key = :k"),
            {"k": "nonconformity"},
        ).first()
    auditor = web.as_role("internal_auditor")
    done = auditor.post(
        f"/r/{record_id}/transition/verify_effective",
        data={
            "csrf_token": csrf_of(auditor.get(f"/r/{record_id}").text),
            "version": str(version),
            "criteria": "连续 4 周点检记录完整",
            "evidence": "复测报告见附件",
            "result": "effective",
            "signature_password": "Xiangfeng#2026",
            "evidence_file__valid_from": "2026-01-01",
            "evidence_file__valid_until": valid_until,
        },
        files={"evidence_file": ("复测报告.pdf", PDF)},
    )
    assert done.status_code == 303, re.findall(r'data-error-for="([^"]+)">([^<]*)<', done.text)
    return _scalar(web, "SELECT id FROM evidence_file WHERE sha256 IS NOT NULL ORDER BY id DESC")


def test_expired_evidence_makes_the_clause_stale_until_a_new_version_replaces_it(web):
    evidence_id = _close_nonconformity_with_certificate(web, "2026-06-30")
    assert _scalar(web, "SELECT valid_until FROM evidence_file WHERE id = :i", i=evidence_id) is not None
    assert _scalar(web, "SELECT count(*) FROM evidence_link WHERE evidence_id = :i", i=evidence_id) == 1
    # The uploader owns it by default.
    auditor_id = _scalar(web, "SELECT id FROM user_account WHERE email = 'auditor@xiangfeng.example'")
    assert _scalar(web, "SELECT owner_id FROM evidence_file WHERE id = :i", i=evidence_id) == auditor_id
    manager = web.as_role("carbon_manager")
    year = china_today().year
    drill = manager.get(f"/evaluation/coverage/10.1?year={year}").text
    assert 'data-status="stale"' in drill
    assert f'data-expired="{evidence_id}"' in drill and "有效期至 2026-06-30" in drill
    coverage = manager.get(f"/evaluation/coverage?year={year}").text
    assert "份证据已过期" in coverage or 'data-status="stale"' in coverage
    # A new version valid for a year: the old one is kept, marked superseded, and still downloads.
    page = manager.get(f"/evidence-items/{evidence_id}")
    assert page.status_code == 200 and "复测报告.pdf" in page.text
    uploaded = manager.post(
        f"/evidence-items/{evidence_id}/version",
        data={"csrf_token": csrf_of(page.text), "valid_from": "2026-07-01", "valid_until": "2099-06-30"},
        files={"file": ("复测报告-2026下半年.pdf", PDF2)},
    )
    assert uploaded.status_code == 303
    new_id = int(uploaded.headers["location"].rsplit("/", 1)[1])
    item = manager.get(f"/evidence-items/{new_id}").text
    assert 'data-version="1" data-freshness="replaced"' in item
    assert 'data-version="2" data-freshness="current"' in item
    assert manager.get(f"/evidence/{evidence_id}").content == PDF
    assert manager.get(f"/evidence/{new_id}").content == PDF2
    assert _scalar(web, "SELECT owner_id FROM evidence_file WHERE id = :i", i=new_id) == auditor_id
    drill = manager.get(f"/evaluation/coverage/10.1?year={year}").text
    assert "data-expired=" not in drill
    # The same bytes again are no new version.
    again = manager.post(
        f"/evidence-items/{new_id}/version",
        data={"csrf_token": csrf_of(page.text)},
        files={"file": ("again.pdf", PDF2)},
    )
    assert again.status_code == 422 and 'data-error-for="file"' in again.text


def test_uploads_take_a_period_and_owner_and_the_register_filters(web):
    client = web.as_role("staff")
    page = client.get("/emissions/production?year=2026")
    product = _scalar(web, "SELECT id FROM product WHERE code = 'CLK'")
    quality_id = _scalar(web, "SELECT id FROM user_account WHERE email = 'quality@xiangfeng.example'")
    posted = {
        "csrf_token": csrf_of(page.text),
        "product_id": str(product),
        "period": "2026-01",
        "quantity": "131000",
        "evidence_valid_from": "2026-02-01",
        "evidence_valid_until": "2026-01-01",  # before the start
        "evidence_owner": str(quality_id),
    }
    refused = client.post("/emissions/production", data=posted, files={"evidence": ("产量.pdf", PDF)})
    assert refused.status_code == 422 and 'data-issue-field="evidence_valid_until"' in refused.text
    assert _scalar(web, "SELECT count(*) FROM evidence_file") == 0
    stranger = client.post(
        "/emissions/production",
        data={**posted, "evidence_valid_until": "2026-12-20", "evidence_owner": "999999"},
        files={"evidence": ("产量.pdf", PDF)},
    )
    assert stranger.status_code == 422 and 'data-issue-field="evidence_owner"' in stranger.text
    saved = client.post(
        "/emissions/production",
        data={**posted, "evidence_valid_until": (china_today().replace(day=1)).isoformat()},
        files={"evidence": ("产量.pdf", PDF)},
    )
    assert saved.status_code == 303
    evidence_id = _scalar(web, "SELECT id FROM evidence_file")
    assert _scalar(web, "SELECT owner_id FROM evidence_file") == quality_id
    register = client.get("/evidence").text
    assert f'data-evidence-row="{evidence_id}"' in register
    filtered = client.get(f"/evidence?owner={quality_id}&state=expired").text
    expected_state = "expired" if china_today().day > 1 else "expiring"
    assert (f'data-evidence-row="{evidence_id}"' in filtered) == (expected_state == "expired")
    assert f'data-evidence-row="{evidence_id}"' not in client.get("/evidence?state=current").text
    item = client.get(f"/evidence-items/{evidence_id}").text
    assert "产量 · 2026-01" in item  # the data that names it
    # Withdrawal: a reason is required; the row and the file stay, the audit trail has the reason.
    refused = client.post(f"/evidence-items/{evidence_id}/withdraw", data={"csrf_token": csrf_of(item)})
    assert refused.status_code == 422 and 'data-error-for="reason"' in refused.text
    withdrawn = client.post(
        f"/evidence-items/{evidence_id}/withdraw", data={"csrf_token": csrf_of(item), "reason": "传错了月份"}
    )
    assert withdrawn.status_code == 303
    assert _scalar(web, "SELECT count(*) FROM evidence_file WHERE id = :i", i=evidence_id) == 1
    assert _scalar(web, "SELECT withdrawn_reason FROM evidence_file") == "传错了月份"
    assert (
        _scalar(
            web,
            "SELECT reason FROM audit_event WHERE subject_type = 'evidence' "
            " AND action = 'evidence_withdrawn'",
        )
        == "传错了月份"
    )
    assert client.get(f"/evidence/{evidence_id}").content == PDF  # kept, still readable
    assert f'data-evidence-row="{evidence_id}"' in client.get("/evidence?state=retracted").text


def test_the_owner_is_reminded_once_before_expiry(web):
    client = web.as_role("carbon_manager")
    page = client.get("/emissions/production?year=2026")
    saved = client.post(
        "/emissions/production",
        data={
            "csrf_token": csrf_of(page.text),
            "product_id": str(_scalar(web, "SELECT id FROM product WHERE code = 'CLK'")),
            "period": "2026-02",
            "quantity": "120000",
            "evidence_valid_until": "2027-03-31",
        },
        files={"evidence": ("2月产量.pdf", PDF)},
    )
    assert saved.status_code == 303
    job = [j for j in JOBS if j.name == "evidence_expiry"]
    settings = Settings(evidence_reminder_days=30)

    def run(day: str) -> list[str]:
        moment = datetime.fromisoformat(day + "T09:00").replace(tzinfo=CHINA_TIME)
        return run_jobs(web.db, now=moment, settings=settings, jobs=job)

    assert run("2027-02-01") == []  # 58 days before
    reminded = run("2027-03-05")
    assert len(reminded) == 1 and "证据即将到期：2月产量.pdf（有效期至 2027-03-31）" in reminded[0]
    assert run("2027-03-06") == []  # once per end of validity
    owner = _scalar(web, "SELECT owner_id FROM evidence_file")
    assert (
        _scalar(web, "SELECT count(*) FROM notification WHERE kind = 'evidence' AND user_id = :u", u=owner)
        == 1
    )

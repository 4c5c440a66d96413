"""Evidence files through the app: production, measured parameters and monthly activity data carry
their evidence; hostile uploads are refused with nothing saved; downloads are checked and sandboxed."""

import hashlib
import io
import re
import zipfile

import pytest
from sqlalchemy import text

from engine.config import Settings
from engine.evidence.store import orphan_files
from engine.storage import stored_path
from tests.web.conftest import CATALOG, OTHER_ORG_ADMIN, OTHER_PASSWORD, WebEnv, csrf_of
from web.app import create_app

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def _scalar(web, sql: str, **params):
    with web.db.engine.connect() as connection:
        return connection.execute(text(sql), params).scalar()


def _product_id(web, code: str) -> int:
    return _scalar(web, "SELECT id FROM product WHERE code = :c", c=code)


def _post_production(
    client, web, *, filename: str, content: bytes, quantity: str = "131000", period="2026-01"
):
    page = client.get("/emissions/production?year=2026")
    return client.post(
        "/emissions/production",
        data={
            "csrf_token": csrf_of(page.text),
            "product_id": str(_product_id(web, "CLK")),
            "period": period,
            "quantity": quantity,
            "output_value_10k_cny": "4500",
        },
        files={"evidence": (filename, content)},
    )


def test_production_with_evidence_is_saved_and_the_file_downloads_checked_and_sandboxed(web):
    client = web.as_role("staff")
    saved = _post_production(client, web, filename="1月产量统计表.pdf", content=PDF)
    assert saved.status_code == 303
    sha = hashlib.sha256(PDF).hexdigest()
    assert _scalar(web, "SELECT evidence_sha256 FROM production_output WHERE period = '2026-01'") == sha
    assert stored_path(web.settings.evidence_dir, sha).read_bytes() == PDF
    page = client.get("/emissions/production?year=2026").text
    evidence_id = re.search(r'<a href="/evidence/(\d+)"[^>]*data-evidence>', page).group(1)
    download = client.get(f"/evidence/{evidence_id}")
    assert download.status_code == 200 and download.content == PDF
    assert download.headers["content-disposition"].startswith("attachment; filename*=UTF-8''")
    assert "sandbox" in download.headers["content-security-policy"]
    assert download.headers["x-content-type-options"] == "nosniff"
    assert _scalar(web, "SELECT count(*) FROM audit_event WHERE subject_type = 'evidence'") == 1
    # Another organization's admin does not get it.
    other = web.signed_in(OTHER_ORG_ADMIN, OTHER_PASSWORD)
    assert other.get(f"/evidence/{evidence_id}").status_code == 404
    # A stored file changed behind Tanguan's back is refused, not served.
    stored_path(web.settings.evidence_dir, sha).write_bytes(PDF + b"tampered")
    altered = client.get(f"/evidence/{evidence_id}")
    assert altered.status_code == 409 and "已被改动" in altered.text


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


HOSTILE = {
    "program.exe": b"MZ\x90\x00",
    "page.html": b"<script>alert(1)</script>",
    "image.svg": b"<svg onload=alert(1)>",
    "report.pdf": b"\x89PNG\r\n\x1a\n....",  # magic of another type
    "polyglot.png": b"%PDF-1.4 not really a png",
    "bomb.xlsx": _zip({"xl/big.xml": b"0" * 20_000_000}),  # ratio far above 100:1
    "many.docx": _zip({f"word/{i}.xml": b"x" for i in range(1001)}),
    "slip.docx": _zip({"../../etc/cron.d/x": b"* * * * * root id"}),
    "broken.docx": b"PK\x03\x04 not a zip at all",
    "binary.csv": b"a,b\n\x00\x01\x02",
    "empty.pdf": b"",
}


@pytest.mark.parametrize("filename", sorted(HOSTILE))
def test_hostile_files_are_refused_and_nothing_is_saved(web, filename):
    client = web.as_role("carbon_manager")
    before = (
        _scalar(web, "SELECT count(*) FROM production_output"),
        _scalar(web, "SELECT count(*) FROM evidence_file"),
        _scalar(web, "SELECT count(*) FROM audit_event"),
    )
    refused = _post_production(client, web, filename=filename, content=HOSTILE[filename])
    assert refused.status_code == 422
    assert 'data-issue-field="evidence"' in refused.text
    after = (
        _scalar(web, "SELECT count(*) FROM production_output"),
        _scalar(web, "SELECT count(*) FROM evidence_file"),
        _scalar(web, "SELECT count(*) FROM audit_event"),
    )
    assert after == before
    stored = [p for p in web.settings.evidence_dir.rglob("*") if p.is_file()]
    assert stored == []  # a refused file is not kept, not even in the temporary folder


def test_the_file_name_never_becomes_a_path(web):
    client = web.as_role("carbon_manager")
    saved = _post_production(client, web, filename="../../..\\etc/\u202eevil\x00.pdf", content=PDF)
    assert saved.status_code == 303
    name = _scalar(web, "SELECT filename FROM evidence_file")
    assert "/" not in name and "\\" not in name and "\u202e" not in name and "\x00" not in name
    assert name.endswith(".pdf")
    files = [p for p in web.settings.evidence_dir.rglob("*") if p.is_file()]
    assert [p.name for p in files] == [hashlib.sha256(PDF).hexdigest()]


def test_a_bad_field_with_a_good_file_saves_neither(web):
    client = web.as_role("carbon_manager")
    refused = _post_production(client, web, filename="产量.pdf", content=PDF, quantity="-5")
    assert refused.status_code == 422 and 'data-issue-field="quantity"' in refused.text
    assert _scalar(web, "SELECT count(*) FROM evidence_file") == 0
    assert _scalar(web, "SELECT count(*) FROM production_output WHERE period = '2026-01'") == 0
    with web.db.read_session(all_orgs=True) as session:
        leftovers = orphan_files(session, evidence_store=web.settings.evidence_store)
    assert len(leftovers) == 1  # the bytes were written before the rollback; the GC list names them


def test_an_oversized_upload_is_refused_before_it_is_read(web, tmp_path):
    settings = Settings(
        data_dir=tmp_path / "small", database_url=web.db.url, secret_key=web.settings.secret_key,
        evidence_max_bytes=4096,
    )  # fmt: skip
    small = WebEnv(
        db=web.db, app=create_app(settings=settings, db=web.db, catalog=CATALOG), settings=settings
    )
    client = small.as_role("carbon_manager")
    refused = _post_production(client, small, filename="big.pdf", content=PDF + b"0" * 200_000)
    assert refused.status_code == 413
    limited = _post_production(client, small, filename="medium.pdf", content=PDF + b"0" * 8000)
    assert limited.status_code == 422 and 'data-issue-field="evidence"' in limited.text
    assert "4 KiB" in limited.text
    assert _scalar(small, "SELECT count(*) FROM evidence_file") == 0


def test_measured_parameters_with_evidence_and_range_checks(web):
    client = web.as_role("carbon_manager")
    page = client.get("/emissions/measured?year=2026")
    source_id = re.search(r'<option value="(\d+)"[^>]*>[^<]*\(烟煤\)', page.text) or re.search(
        r'name="source_id"><option value="(\d+)"', page.text
    )
    assert source_id
    bad = client.post(
        "/emissions/measured",
        data={
            "csrf_token": csrf_of(page.text),
            "source_id": source_id.group(1),
            "period": "2026-02",
            "ncv": "abc",
            "oxidation_rate": "1.7",
        },
        files={"evidence": ("化验单.pdf", PDF)},
    )
    assert bad.status_code == 422
    assert {"ncv"} <= set(re.findall(r'data-issue-field="([^"]+)"', bad.text))
    assert _scalar(web, "SELECT count(*) FROM measured_parameter WHERE period = '2026-02'") == 0
    good = client.post(
        "/emissions/measured",
        data={
            "csrf_token": csrf_of(page.text),
            "source_id": source_id.group(1),
            "period": "2026-02",
            "ncv": "23.05",
            "ncv_unit": "GJ/t",
            "oxidation_rate": "0.98",
        },
        files={"evidence": ("化验单.pdf", PDF)},
    )
    assert good.status_code == 303
    shown = client.get("/emissions/measured?year=2026").text
    assert "23.05" in shown and '<span class="paperclip" aria-hidden="true"></span>化验单.pdf' in shown


def test_evidence_is_attached_to_a_month_of_activity_data(web):
    client = web.as_role("carbon_manager")
    grid = client.get("/emissions/data?year=2025")
    source_id = re.search(r'name="q-(\d+)-2025-03"', grid.text).group(1)
    sheet = b"meter,kWh\nM-01,1200\n"
    attached = client.post(
        "/emissions/data/evidence",
        data={"csrf_token": csrf_of(grid.text), "source_id": source_id, "period": "2025-03"},
        files={"evidence": ("3月抄表单.csv", sheet)},
    )
    assert attached.status_code == 303
    shown = client.get("/emissions/data?year=2025").text
    assert f'data-evidence="{source_id}-2025-03"' in shown
    assert _scalar(web, "SELECT count(*) FROM audit_event WHERE action = 'evidence_attached'") == 1
    empty_month = client.post(
        "/emissions/data/evidence",
        data={"csrf_token": csrf_of(grid.text), "source_id": source_id, "period": "2031-03"},
        files={"evidence": ("3月抄表单.csv", sheet)},
    )
    assert empty_month.status_code == 422 and 'data-issue-field="period"' in empty_month.text
    no_file = client.post(
        "/emissions/data/evidence",
        data={"csrf_token": csrf_of(grid.text), "source_id": source_id, "period": "2025-03"},
    )
    assert no_file.status_code == 422 and 'data-issue-field="evidence"' in no_file.text


def test_a_measured_parameter_for_a_reported_month_needs_a_reason(web):
    client = web.as_role("carbon_manager")
    page = client.get("/emissions/measured?year=2025")
    source_id = re.search(r'name="source_id"><option value="(\d+)"', page.text).group(1)
    posted = {
        "csrf_token": csrf_of(page.text),
        "source_id": source_id,
        "period": "2025-04",
        "ncv": "22.9",
        "ncv_unit": "GJ/t",
    }
    refused = client.post("/emissions/measured", data=posted)
    assert refused.status_code == 422 and 'data-issue-field="reason"' in refused.text
    assert (
        _scalar(web, "SELECT count(*) FROM measured_parameter WHERE period = '2025-04' AND ncv = '22.9'") == 0
    )
    saved = client.post(
        "/emissions/measured", data={**posted, "reason": "4 月化验复检结果更正", "ncv_unit": "GJ/t"}
    )
    assert saved.status_code == 303
    assert _scalar(web, "SELECT count(*) FROM audit_event WHERE action = 'reopen'") >= 1


def test_an_evidence_field_of_a_workflow_form_takes_a_file(web):
    """The generic record forms: the effectiveness review's evidence file goes to the evidence store, the
    record keeps its id, and the detail page links it; a refused file refuses the whole transition."""
    with web.db.engine.connect() as connection:
        record_id, version = connection.execute(
            text("SELECT id, version FROM record WHERE state = 'effectiveness_review' AND workflow_key = :k"),
            {"k": "nonconformity"},
        ).first()
    auditor = web.as_role("internal_auditor")
    token = csrf_of(auditor.get(f"/r/{record_id}").text)
    review = {
        "csrf_token": token,
        "version": str(version),
        "criteria": "连续 4 周点检记录完整",
        "evidence": "第 10–13 周点检表，复测报告见附件",
        "result": "effective",
        "signature_password": "Xiangfeng#2026",
    }
    refused = auditor.post(
        f"/r/{record_id}/transition/verify_effective",
        data=review,
        files={"evidence_file": ("run.exe", b"MZ\x90")},
    )
    assert refused.status_code == 422 and 'data-error-for="evidence_file"' in refused.text
    assert _scalar(web, "SELECT state FROM record WHERE id = :i", i=record_id) == "effectiveness_review"
    assert _scalar(web, "SELECT count(*) FROM evidence_file") == 0
    done = auditor.post(
        f"/r/{record_id}/transition/verify_effective",
        data=review,
        files={"evidence_file": ("复测报告.pdf", PDF)},
    )
    assert done.status_code == 303, re.findall(r'data-error-for="([^"]+)">([^<]*)<', done.text)
    assert _scalar(web, "SELECT state FROM record WHERE id = :i", i=record_id) == "closed"
    detail = auditor.get(f"/r/{record_id}").text
    evidence_id = re.search(
        r'<a href="/evidence/(\d+)" hx-boost="false" data-evidence>'
        r'<span class="paperclip" aria-hidden="true"></span>复测报告.pdf</a>',
        detail,
    )
    assert evidence_id
    assert auditor.get(f"/evidence/{evidence_id.group(1)}").content == PDF

"""Evidence storage backends (docs/adr/0038): the same upload, download and tamper checks on the local
file system and on an S3-compatible server (moto in server mode, started by the tests on a free port);
a changed or missing object is refused, orphans are listed and removed on both."""

import hashlib
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import text

from engine.audit import SYSTEM
from engine.config import ConfigError, Settings, get_settings
from engine.evidence.store import EvidenceError, orphan_files, read_evidence, store_evidence
from engine.storage import LocalStore, S3Store, StoreUnavailable, parse_storage_url
from tests.s3 import Bucket
from tests.web.conftest import CATALOG, SECRET_KEY, WebEnv, csrf_of
from web.app import create_app

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
SHA = hashlib.sha256(PDF).hexdigest()
KINDS = ["file", "s3"]


class Tamper:
    """Changes or removes a stored file behind the app's back, wherever it is kept."""

    def __init__(self, settings: Settings, bucket: Bucket | None) -> None:
        self.settings, self.bucket = settings, bucket

    def stored(self, sha256: str) -> bytes:
        if self.bucket is None:
            return (self.settings.evidence_dir / sha256[:2] / sha256).read_bytes()
        return (
            self.bucket.client()
            .get_object(Bucket=self.bucket.name, Key=self.bucket.key(sha256))["Body"]
            .read()
        )

    def overwrite(self, sha256: str, content: bytes) -> None:
        if self.bucket is None:
            (self.settings.evidence_dir / sha256[:2] / sha256).write_bytes(content)
        else:
            self.bucket.client().put_object(
                Bucket=self.bucket.name, Key=self.bucket.key(sha256), Body=content
            )

    def remove(self, sha256: str) -> None:
        if self.bucket is None:
            (self.settings.evidence_dir / sha256[:2] / sha256).unlink()
        else:
            self.bucket.client().delete_object(Bucket=self.bucket.name, Key=self.bucket.key(sha256))


@pytest.fixture(params=KINDS)
def stored_web(request, backend, tmp_path, seeded_templates) -> Iterator[tuple[WebEnv, Tamper]]:
    """The app with its evidence on the file system or in a bucket of the local S3 server."""
    bucket = request.getfixturevalue("s3_bucket") if request.param == "s3" else None
    with seeded_templates.copy(backend, tmp_path) as db:
        settings = Settings(
            data_dir=tmp_path / "var",
            database_url=db.url,
            secret_key=SECRET_KEY,
            storage_url=bucket.url if bucket else None,
        )
        app = create_app(settings=settings, db=db, catalog=CATALOG)
        yield WebEnv(db=db, app=app, settings=settings), Tamper(settings, bucket)


def _scalar(web, sql: str):
    with web.db.engine.connect() as connection:
        return connection.execute(text(sql)).scalar()


def _post_production(client, web, *, content: bytes = PDF, quantity: str = "131000"):
    page = client.get("/emissions/production?year=2026")
    product = _scalar(web, "SELECT id FROM product WHERE code = 'CLK'")
    return client.post(
        "/emissions/production",
        data={
            "csrf_token": csrf_of(page.text),
            "product_id": str(product),
            "period": "2026-01",
            "quantity": quantity,
            "output_value_10k_cny": "4500",
        },
        files={"evidence": ("1月产量统计表.pdf", content)},
    )


def test_upload_download_and_a_changed_or_missing_file_is_refused(stored_web):
    web, tamper = stored_web
    client = web.as_role("staff")
    assert _post_production(client, web).status_code == 303
    assert tamper.stored(SHA) == PDF
    if tamper.bucket is not None:  # nothing of it on the local disk
        assert not (web.settings.evidence_dir / SHA[:2]).exists()
    page = client.get("/emissions/production?year=2026").text
    evidence_id = re.search(r'<a href="/evidence/(\d+)"[^>]*data-evidence>', page).group(1)
    download = client.get(f"/evidence/{evidence_id}")
    assert download.status_code == 200 and download.content == PDF
    assert download.headers["x-content-sha256"] == SHA

    tamper.overwrite(SHA, PDF + b"tampered")
    altered = client.get(f"/evidence/{evidence_id}")
    assert altered.status_code == 409 and "已被改动" in altered.text

    tamper.remove(SHA)
    missing = client.get(f"/evidence/{evidence_id}")
    assert missing.status_code == 409 and "缺失" in missing.text


def test_a_damaged_stored_copy_is_replaced_by_the_same_upload(stored_web):
    web, tamper = stored_web
    client = web.as_role("staff")
    assert _post_production(client, web).status_code == 303
    tamper.overwrite(SHA, b"%PDF-1.4 damaged")
    assert _post_production(client, web, quantity="131001").status_code == 303
    assert tamper.stored(SHA) == PDF


def test_a_rolled_back_upload_is_an_orphan_that_the_store_lists_and_removes(stored_web):
    web, tamper = stored_web
    client = web.as_role("staff")
    refused = _post_production(client, web, quantity="-5")
    assert refused.status_code == 422
    assert _scalar(web, "SELECT count(*) FROM evidence_file") == 0
    store = web.settings.evidence_store
    with web.db.read_session(all_orgs=True) as session:
        orphans = orphan_files(session, evidence_store=store)
    assert [orphan.sha256 for orphan in orphans] == [SHA] and orphans[0].size == len(PDF)
    assert orphans[0].written.tzinfo is not None
    store.delete(SHA)
    with web.db.read_session(all_orgs=True) as session:
        assert orphan_files(session, evidence_store=store) == []


def test_the_store_is_writable_and_a_probe_leaves_nothing(stored_web):
    web, _ = stored_web
    store = web.settings.evidence_store
    store.check_writable()
    assert list(store.stored()) == []


def test_an_unreachable_bucket_refuses_the_upload_clearly_and_saves_nothing(web, tmp_path, s3_endpoint):
    settings = Settings(
        data_dir=tmp_path / "down",
        database_url=web.db.url,
        secret_key=SECRET_KEY,
        storage_url="s3://no-such-bucket-here/x?endpoint=" + s3_endpoint,
    )
    with pytest.raises(StoreUnavailable):
        settings.evidence_store.check_writable()
    with pytest.raises(EvidenceError) as refused, web.db.unit_of_work(org_id=1) as uow:
        store_evidence(
            uow.session,
            org_id=1,
            actor=SYSTEM,
            evidence_store=settings.evidence_store,
            filename="a.pdf",
            chunks=[PDF],
            max_bytes=10**6,
        )
    assert refused.value.message_zh == "证据存储暂时无法访问，请稍后再试"
    assert _scalar(web, "SELECT count(*) FROM evidence_file") == 0


def test_the_engine_reads_back_through_either_store(web, tmp_path, s3_bucket):
    for store in (LocalStore(tmp_path / "evidence"), S3Store(s3_bucket.url)):
        with web.db.unit_of_work(org_id=1) as uow:
            row = store_evidence(
                uow.session,
                org_id=1,
                actor=SYSTEM,
                evidence_store=store,
                filename=f"{type(store).__name__}.txt",
                chunks=[b"line one\n", "第二行\n".encode()],
                max_bytes=10**6,
            )
            evidence_id = row.id
        with web.db.read_session(org_id=1) as session:
            found = read_evidence(session, org_id=1, evidence_id=evidence_id, evidence_store=store)
        assert found.content == "line one\n第二行\n".encode()
        assert store.sha256_of(found.file.sha256) == found.file.sha256
        assert store.sha256_of("0" * 64) is None
        if isinstance(store, LocalStore):
            assert not list(store.spool_dir.iterdir())  # the spooled upload was moved, not copied


def test_the_storage_url_is_checked_at_start(monkeypatch):
    location = parse_storage_url(
        "s3://evidence/group/plants?endpoint=http://127.0.0.1:9000&region=cn-central-1"
    )
    assert (location.bucket, location.prefix, location.endpoint, location.region) == (
        "evidence",
        "group/plants/",
        "http://127.0.0.1:9000",
        "cn-central-1",
    )
    assert parse_storage_url("s3://evidence").prefix == ""
    for wrong in ("ftp://x/y", "s3:///nobucket", "s3://b/p?endpoint=ftp://h", "s3://b/p?token=1"):
        monkeypatch.setenv("TANGUAN_STORAGE_URL", wrong)
        get_settings.cache_clear()
        try:
            with pytest.raises(ConfigError, match="TANGUAN_STORAGE_URL"):
                get_settings()
        finally:
            get_settings.cache_clear()


def test_the_orphan_grace_period_applies_to_the_bucket(web, s3_bucket):
    from datetime import UTC, datetime

    from engine.scheduler.runner import run_jobs

    store = S3Store(s3_bucket.url)
    s3_bucket.client().put_object(Bucket=s3_bucket.name, Key=s3_bucket.key(SHA), Body=PDF)
    settings = Settings(database_url=web.db.url, secret_key=SECRET_KEY, storage_url=s3_bucket.url)
    now = datetime.now(UTC)
    early = run_jobs(web.db, now=now + timedelta(hours=1), settings=settings)
    assert not [line for line in early if "孤立" in line] and [o.sha256 for o in store.stored()] == [SHA]
    late = run_jobs(web.db, now=now + timedelta(hours=25), settings=settings)
    assert [line for line in late if "孤立" in line] and list(store.stored()) == []


def test_the_trust_chain_says_when_the_store_cannot_be_reached(s3_endpoint, s3_bucket):
    from datetime import UTC, datetime

    from engine.evidence.models import EvidenceFile
    from engine.trust_chain.checks import MISSING, UNREACHABLE, Keys, checked_file

    row = EvidenceFile(
        id=1, org_id=1, sha256=SHA, filename="a.pdf", content_type="application/pdf", size_bytes=len(PDF),
        uploaded_by=1, owner_id=1, uploaded_at=datetime.now(UTC),
    )  # fmt: skip
    down = S3Store(f"s3://no-such-bucket-here/x?endpoint={s3_endpoint}")
    unreachable = checked_file(row, keys=Keys(SECRET_KEY, (), down)).check
    assert not unreachable.ok and unreachable.note == UNREACHABLE
    missing = checked_file(row, keys=Keys(SECRET_KEY, (), S3Store(s3_bucket.url))).check
    assert not missing.ok and missing.note == MISSING
    s3_bucket.client().put_object(Bucket=s3_bucket.name, Key=s3_bucket.key(SHA), Body=PDF)
    assert checked_file(row, keys=Keys(SECRET_KEY, (), S3Store(s3_bucket.url))).check.ok

"""The auditor's evidence pack (issue 13): how long a clause-year pack takes to build and to verify, and how
much memory the export needs.

python -m bench.pack [--records N] [--file-kib K] [--pdf-sample S]

Builds, on a fresh SQLite file, one organization with N communication records (clause 7.4) of one year,
each closed with its own evidence file of K KiB (N files, N × K KiB in all) stored through the evidence
store, and an audit event per record. Then, each as one ``name: value unit`` line:

    pack_export_seconds        `export_pack` for clause 7.4 and that year (records as docx and JSON, the
                               evidence streamed in with its hash checked, the audit slice, signed manifest;
                               no PDF) — goal < 30 s for 1,000 records and 100 MB
    pack_export_cpu_seconds    the processor time of that export (its own, whatever else the machine runs)
    pack_export_peak_rss_mb    the exporting process's peak resident memory (a child process, interpreter
                               and imports included) — goal < 300 MB
    pack_verify_seconds        `verify_pack.verify` of that pack — goal < 10 s
    peer_zip_seconds           the peer: the same evidence files streamed into a zip with the standard
                               library's zipfile and hashed with SHA-256 (no records, no index, no audit)
    peer_unzip_hash_seconds    the peer of verifying: every entry read back and hashed
    pack_pdf_seconds_per_record  LibreOffice converting S of the pack's record documents in one batch, per
                               record (only where LibreOffice is installed; PDFs are off in the timing above)
"""

import argparse
import hashlib
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

os.environ.setdefault("TANGUAN_ARGON2_TIME_COST", "1")
os.environ.setdefault("TANGUAN_ARGON2_MEMORY_KIB", "8192")

YEAR = 2025
KEY = "bench-pack-installation-key-" + "k" * 40


def build(directory: Path, *, records: int, file_kib: int) -> None:
    from sqlalchemy import insert

    import engine.models  # noqa: F401  # the table registry before any module's tables
    from engine.audit import SYSTEM, append_event
    from engine.db import Database
    from engine.evidence.store import store_evidence
    from engine.identity.models import OrganizationCreate
    from engine.identity.organizations import create_organization
    from engine.migrate import upgrade
    from engine.storage import LocalStore
    from engine.workflow.catalog import WorkflowCatalog
    from engine.workflow.models import Record

    db = Database(f"sqlite:///{directory / 'bench.db'}")
    upgrade(db.engine)
    version = WorkflowCatalog.load().get("communication").spec.version  # type: ignore[union-attr]
    filler = os.urandom(1024).hex().encode()[: 1024 * 2]
    with db.unit_of_work(all_orgs=True) as uow:
        org = create_organization(
            uow.session, data=OrganizationCreate(slug="bench-pack", name="证据包基准企业"), actor=SYSTEM
        )
        assert org.id is not None
        rows = []
        for serial in range(1, records + 1):
            body = f"第 {serial} 份交流回执 / receipt {serial}\n".encode() + filler * (file_kib // 2)
            evidence = store_evidence(
                uow.session, org_id=org.id, actor=SYSTEM, evidence_store=LocalStore(directory / "evidence"),
                filename=f"回执-{serial:05d}.txt", chunks=[body[: file_kib * 1024]], max_bytes=50 << 20,
            )  # fmt: skip
            created = datetime(YEAR, 1, 1, tzinfo=UTC) + timedelta(hours=8 * serial % 8000)
            rows.append({
                "org_id": org.id, "workflow_key": "communication", "workflow_version": version,
                "number": f"XX-{YEAR}-{serial:05d}", "title": f"交流 {serial}", "state": "com_done",
                "data": {"subject": f"交流 {serial}", "direction": "external", "entry_kind": "sent",
                         "party": "主管部门", "channel": "email", "outcome": "已答复",
                         "evidence": evidence.id, "actual_date": created.date().isoformat()},
                "participants": {}, "clause_refs": ["7.4"], "due_date": created.date() + timedelta(days=30),
                "created_at": created, "updated_at": created + timedelta(days=2),
                "closed_at": created + timedelta(days=2), "version": 2,
            })  # fmt: skip
        uow.session.execute(insert(Record.__table__), rows)  # type: ignore[arg-type]
        ids = uow.session.execute(
            Record.__table__.select().with_only_columns(Record.__table__.c.id)
        ).scalars()  # type: ignore[attr-defined]
        for record_id in ids:
            append_event(
                uow.session, org_id=org.id, actor=SYSTEM, subject_type="record", subject_id=record_id,
                action="created", to_state="com_done",
            )  # fmt: skip
    db.dispose()


def export_child(directory: Path) -> None:
    """Run in a child process, so that its peak memory is the export's alone."""
    from engine.config import KeyRing
    from engine.db import Database
    from engine.evidence_pack.build import PackRequest, export_pack
    from engine.storage import LocalStore
    from engine.workflow.catalog import WorkflowCatalog

    db = Database(f"sqlite:///{directory / 'bench.db'}")
    started, cpu = time.perf_counter(), time.process_time()
    export_pack(
        db,
        request=PackRequest("bench-pack", "7.4", date(YEAR, 1, 1), date(YEAR, 12, 31)),
        out=directory / "pack.zip",
        catalog=WorkflowCatalog.load(),
        key_ring=KeyRing(KEY),
        evidence_store=LocalStore(directory / "evidence"),
        checkpoint_dir=directory / "checkpoints",
        pdf=False,
    )
    print(f"{time.perf_counter() - started:.2f} {time.process_time() - cpu:.2f}")


def peer_zip(directory: Path) -> float:
    started = time.perf_counter()
    with zipfile.ZipFile(directory / "peer.zip", "w") as archive:
        for path in sorted((directory / "evidence").rglob("*")):
            if path.is_file() and path.parent.name != "tmp":
                digest = hashlib.sha256()
                with open(path, "rb") as source, archive.open(path.name, "w") as target:
                    while chunk := source.read(1 << 20):
                        digest.update(chunk)
                        target.write(chunk)
    return time.perf_counter() - started


def peer_unzip_hash(path: Path) -> float:
    started = time.perf_counter()
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            digest = hashlib.sha256()
            with archive.open(name) as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
    return time.perf_counter() - started


def pdf_per_record(pack: Path, directory: Path, sample: int) -> float | None:
    from engine.reports.pdf import docx_to_pdf, pdf_converter

    if pdf_converter() is None or sample <= 0:
        return None
    sources = directory / "pdf-sources"
    sources.mkdir()
    with zipfile.ZipFile(pack) as archive:
        names = [n for n in archive.namelist() if n.startswith("records/") and n.endswith(".docx")][:sample]
        for name in names:
            (sources / Path(name).name).write_bytes(archive.read(name))
    started = time.perf_counter()
    converted = docx_to_pdf(sorted(sources.iterdir()), out_dir=directory / "pdf")
    return (time.perf_counter() - started) / max(len(converted), 1)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        export_child(Path(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--file-kib", type=int, default=100)
    parser.add_argument("--pdf-sample", type=int, default=20)
    arguments = parser.parse_args()
    from engine.evidence_pack.verify_pack import verify

    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        build(directory, records=arguments.records, file_kib=arguments.file_kib)
        child = subprocess.run(
            [sys.executable, "-m", "bench.pack", "--child", str(directory)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        pack = directory / "pack.zip"
        print(f"pack_records: {arguments.records} records")
        print(f"pack_size_mb: {pack.stat().st_size / 1e6:.1f} MB")
        wall, cpu = (float(value) for value in child.stdout.strip().splitlines()[-1].split())
        print(f"pack_export_seconds: {wall:.2f} s", flush=True)
        print(f"pack_export_cpu_seconds: {cpu:.2f} s", flush=True)
        print(f"pack_export_peak_rss_mb: {peak_mb:.0f} MB", flush=True)
        started = time.perf_counter()
        verify(pack)
        print(f"pack_verify_seconds: {time.perf_counter() - started:.2f} s", flush=True)
        print(f"peer_zip_seconds: {peer_zip(directory):.2f} s", flush=True)
        print(f"peer_unzip_hash_seconds: {peer_unzip_hash(pack):.2f} s", flush=True)
        per_record = pdf_per_record(pack, directory, arguments.pdf_sample)
        if per_record is not None:
            print(f"pack_pdf_seconds_per_record: {per_record:.2f} s", flush=True)


if __name__ == "__main__":
    main()

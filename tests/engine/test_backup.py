"""RELIABILITY T26, short (`python -m bench.backup` is the long run): a backup taken while writers upload
evidence, restored into a fresh instance, equals the snapshot; and `tanguan backup` / `tanguan restore` as
real processes: the key check, refusals in one line, a damaged backup refused before anything is written."""

import json
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

from bench.backup import Plan, run_drill
from engine.audit import SYSTEM
from engine.backup.archive import BackupSummary, RestoreReport, file_sha256, restore_backup, take_backup
from engine.config import KeyRing
from engine.db import Database
from engine.evidence.store import store_evidence
from engine.identity.models import OrganizationCreate
from engine.identity.organizations import create_organization
from engine.migrate import downgrade, upgrade
from engine.storage import LocalStore, stored_path
from tests.conftest import POSTGRES_URL, PostgresDatabase

TANGUAN = str(Path(sys.executable).with_name("tanguan"))
KEY = "test-backup-installation-key-0123456789"


def test_a_backup_during_writes_restores_exactly_the_snapshot(backend):
    figures = run_drill(
        backend, plan=Plan(demo=False, writers=2, before=20, after=5), server_url=POSTGRES_URL
    )
    print(backend, figures)
    assert figures["load_errors"] == 0 and figures["restore_checks_failed"] == 0, figures
    assert figures["tables_matching_pct"] == 100.0 and figures["tables"] > 30, figures
    assert figures["chains_intact_pct"] == 100.0 and figures["evidence_matching_pct"] == 100.0, figures
    assert figures["evidence_files"] >= 20 and figures["writes_in_backup"] >= 20, figures
    assert figures["writes_before_backup_missing"] == 0, figures  # what was committed before is all there
    assert figures["rpo_writes"] <= figures["writes_during_backup"], figures


def _upload(db: Database, evidence_dir: Path, content: bytes) -> str:
    with db.unit_of_work(all_orgs=True) as uow:
        org = create_organization(uow.session, data=OrganizationCreate(slug="s", name="甲"), actor=SYSTEM)
    assert org.id is not None
    with db.unit_of_work(org_id=org.id) as uow:
        row = store_evidence(
            uow.session,
            org_id=org.id,
            actor=SYSTEM,
            evidence_store=LocalStore(evidence_dir),
            filename="记录.txt",
            chunks=[content],
            max_bytes=1024,
        )
        return row.sha256


def _backup(url: str, directory: Path, *, to: Path) -> BackupSummary:
    """Of the instance on ``url`` whose evidence and checkpoints are in ``directory``."""
    return take_backup(
        database_url=url,
        evidence_store=LocalStore(directory / "evidence"),
        checkpoint_dir=directory / "checkpoints",
        to=to,
        key_ring=KeyRing(KEY),
        include_key=False,
        key_stored_elsewhere=True,
    )


def test_an_evidence_file_altered_before_the_backup_is_named_and_fails_the_restore(db, tmp_path):
    sha256 = _upload(db, tmp_path / "evidence", "电表读数 1234\n".encode())
    stored_path(tmp_path / "evidence", sha256).write_bytes("电表读数 9999\n".encode())
    summary = _backup(db.url, tmp_path, to=tmp_path / "backup")
    assert len(summary.missing_evidence) == 1 and sha256 in summary.missing_evidence[0]
    report = _restore_into(db, backup=tmp_path / "backup", target=tmp_path / "restored")
    assert not report.ok
    failed = [check.en for check in report.checks if not check.ok]
    assert any("evidence files re-hashed and matching: 0/1" in line for line in failed), failed
    assert any("already missing or altered when the backup was taken" in line for line in failed), failed


def _restore_into(db: Database, *, backup: Path, target: Path) -> RestoreReport:
    """Into a fresh instance on ``db``'s backend."""
    postgres = None if db.is_sqlite else PostgresDatabase(prefix="r")
    try:
        return restore_backup(
            source=backup,
            database_url=postgres.url if postgres else f"sqlite:///{target / 'tanguan.sqlite3'}",
            evidence_store=LocalStore(target / "evidence"),
            checkpoint_dir=target / "checkpoints",
            key_ring=KeyRing(KEY),
            force=False,
            known_revision=True,
        )
    finally:
        if postgres:
            postgres.drop()


def test_a_database_of_an_earlier_revision_is_backed_up_and_restored_as_it_was(db, tmp_path):
    """The backup before an upgrade: taken and restored at its revision, evidence checked by hash."""
    _upload(db, tmp_path / "evidence", "升级前的证据\n".encode())
    downgrade(db.engine, "0012")
    summary = _backup(db.url, tmp_path, to=tmp_path / "backup")
    assert summary.manifest["revision"] == "0012" and summary.missing_evidence == []
    report = _restore_into(db, backup=tmp_path / "backup", target=tmp_path / "restored")
    assert report.ok, [check.en for check in report.checks]
    assert report.counts["evidence"] == report.counts["evidence_matched"] == 1
    assert any("not counted (the schema is older than this code)" in check.en for check in report.checks)


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([TANGUAN, *args], env=env, capture_output=True, text=True, timeout=300)


def environment(data_dir: Path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANGUAN_")}
    return {**env, "TANGUAN_DATA_DIR": str(data_dir), **values}


def test_backup_and_restore_commands(tmp_path):
    source = environment(tmp_path / "source", TANGUAN_SECRET_KEY=KEY)
    init = ("init", "--org-slug", "acme", "--org-name", "湘江化工", "--admin-email", "boss@acme.example",
            "--admin-name", "老板", "--admin-password", "Correct-Horse-42")  # fmt: skip
    assert run(*init, env=source).returncode == 0
    db = Database(f"sqlite:///{tmp_path / 'source' / 'tanguan.sqlite3'}")
    upgrade(db.engine)
    _upload(db, tmp_path / "source" / "evidence", "化验报告\n".encode())
    db.dispose()
    assert run("audit", "checkpoint", env=source).returncode == 0
    backup = tmp_path / "backup"

    refused = run("backup", "--to", str(backup), env=source)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "--include-key" in refused.stderr and "--key-stored-elsewhere" in refused.stderr
    assert "安装密钥" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert not backup.exists()

    made = run("backup", "--to", str(backup), "--include-key", env=source)
    assert made.returncode == 0, made.stderr
    assert "备份完成 / backup written" in made.stdout and "evidence files 1" in made.stdout
    assert stat.S_IMODE((backup / "keys.env").stat().st_mode) == 0o600
    again = run("backup", "--to", str(backup), "--key-stored-elsewhere", env=source)
    assert again.returncode == 2 and "not an empty directory" in again.stderr

    target = environment(tmp_path / "target", TANGUAN_SECRET_KEY=KEY)
    restored = run("restore", "--from", str(backup), env=target)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    for line in (
        "audit chains intact: 2/2",
        "evidence files re-hashed and matching: 1/1",
        "restore time (RTO)",
    ):
        assert line in restored.stdout, restored.stdout
    assert re.search(r"tables matching the snapshot: (\d+)/\1 ", restored.stdout), restored.stdout
    assert "FAILED" not in restored.stdout
    assert run("audit", "verify", env=target).stdout.count("chain intact") == 2

    twice = run("restore", "--from", str(backup), env=target)
    assert twice.returncode == 2 and "not empty" in twice.stderr and "--force" in twice.stderr
    assert run("restore", "--from", str(backup), "--force", env=target).returncode == 0

    wrong_key = environment(tmp_path / "wrong", TANGUAN_SECRET_KEY="another-installation-key-0123456789abc")
    mismatch = run("restore", "--from", str(backup), env=wrong_key)
    assert mismatch.returncode == 1 and "FAILED" in mismatch.stdout
    assert "the configured installation key is not the backup's" in mismatch.stdout

    demo = environment(tmp_path / "demo", TANGUAN_DEMO="1")  # the key comes back into the data directory
    assert run("restore", "--from", str(backup), env=demo).returncode == 0
    assert (tmp_path / "demo" / "secret.key").read_text() == KEY

    manifest = json.loads((backup / "manifest.json").read_text())
    newer = tmp_path / "newer"
    shutil.copytree(backup, newer)
    (newer / "manifest.json").write_text(json.dumps({**manifest, "revision": "9999_from_the_future"}))
    future = run("restore", "--from", str(newer), env=environment(tmp_path / "f", TANGUAN_SECRET_KEY=KEY))
    assert future.returncode == 2 and "newer than this Tanguan" in future.stderr

    evidence = next((backup / "evidence").rglob("*"))
    while evidence.is_dir():
        evidence = next(evidence.iterdir())
    evidence.write_bytes(b"altered")
    damaged = run("restore", "--from", str(backup), env=environment(tmp_path / "d", TANGUAN_SECRET_KEY=KEY))
    assert (
        damaged.returncode == 2
        and "the backup is damaged" in damaged.stderr
        and evidence.name in damaged.stderr
    )
    assert not (tmp_path / "d" / "tanguan.sqlite3").exists()


def test_a_backup_whose_chain_and_manifest_were_rewritten_fails_against_the_signed_checkpoint(tmp_path):
    """Someone with write access to a backup cuts the last audit event, moves the chain head back and
    rewrites the manifest to match: the tables and the chain check out on their own, the signed
    checkpoint does not."""
    from engine.audit_trail.checkpoints import sign_checkpoint
    from engine.backup.checksums import table_checksums

    db = Database(f"sqlite:///{tmp_path / 'source.sqlite3'}")
    upgrade(db.engine)
    _upload(db, tmp_path / "evidence", "月报\n".encode())
    with db.unit_of_work(org_id=1) as uow:
        sign_checkpoint(uow.session, org_id=1, key_ring=KeyRing(KEY), reason="manual", mirror_dir=None)
    backup = tmp_path / "backup"
    _backup(db.url, tmp_path, to=backup)
    db.dispose()
    copy = sqlite3.connect(backup / "database.sqlite3")
    copy.executescript(
        "DROP TRIGGER audit_event_no_delete;"
        "DELETE FROM audit_event WHERE org_id = 1 AND seq = "
        "(SELECT max(seq) FROM audit_event WHERE org_id = 1);"
        "UPDATE audit_chain_head SET last_seq = last_seq - 1, last_hash = (SELECT hash FROM audit_event "
        "WHERE org_id = 1 ORDER BY seq DESC LIMIT 1) WHERE org_id = 1;"
    )
    copy.commit()
    copy.close()
    manifest = json.loads((backup / "manifest.json").read_text())
    forged = Database(f"sqlite:///{backup / 'database.sqlite3'}")
    with forged.engine.connect() as connection, connection.begin():
        manifest["tables"] = {name: total.as_json() for name, total in table_checksums(connection).items()}
    forged.dispose()
    manifest["files"]["database.sqlite3"]["sha256"] = file_sha256(backup / "database.sqlite3")
    (backup / "manifest.json").write_text(json.dumps(manifest))

    report = _restore_into(db, backup=backup, target=tmp_path / "restored")
    failed = [check.en for check in report.checks if not check.ok]
    assert report.counts["tables_matched"] == report.counts["tables"], failed
    assert report.counts["chains_intact"] == report.counts["chains"] == 1, failed
    assert failed and failed[0].startswith("audit chains agreeing with their signed checkpoints: 0/1"), failed

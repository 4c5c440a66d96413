"""``take_backup`` and ``restore_backup`` (RELIABILITY T26, docs/adr/0038).

A backup is a directory: the database at one instant (SQLite's online backup API, or ``pg_dump -Fc`` under
an exported snapshot), the evidence files and signed-checkpoint copies the database refers to, optionally
the installation key, and ``manifest.json``, written last: each file's SHA-256, each table's row count and
checksum at the snapshot, the migration revision and the key's fingerprints. The checksums are computed
on the snapshot itself (the backup file for SQLite, the snapshot's transaction for PostgreSQL), so writes
that carry on during the backup neither block it nor blur it.

A restore goes into an empty target only (``force`` empties it), checks every file against the manifest
before it touches the target, and afterwards compares every table with the manifest, verifies every audit
chain and re-reads every evidence file through the evidence store, which checks its hash."""

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from engine.audit import verify_chain
from engine.backup.checksums import TableSum, compare, table_checksums
from engine.config import KeyRing
from engine.db import Database
from engine.evidence.store import EvidenceError, read_evidence
from engine.migrate import schema_head
from engine.models.base import utc_iso, utcnow
from engine.storage import EvidenceStore, stored_path
from engine.tenancy import bind_session_scope

FORMAT = "tanguan-backup/1"
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite3"
PG_FILE = "database.dump"
KEY_FILE = "keys.env"
CHUNK = 1024 * 1024


class BackupError(Exception):
    """Refused or failed, said in Chinese and English on one line."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")


def key_fingerprint(key: str) -> str:
    """Names a key without revealing it: which key sealed the backed-up signatures."""
    return hashlib.sha256(b"tanguan-installation-key\0" + key.encode()).hexdigest()[:16]


def file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _write_file(path: Path, content: bytes, *, mode: int = 0o644) -> None:
    """Written whole or not at all (a temporary file, fsynced, renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".part")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _backend(url: str) -> str:
    return make_url(url).get_backend_name()


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("只能备份 SQLite 数据库文件", "only a SQLite database file can be backed up")
    return Path(database)


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The URL for pg_dump and pg_restore, and their environment: the password in PGPASSWORD, not in the
    command line that every user of the machine can read."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(command: list[str], *, env: dict[str, str], what_zh: str, what_en: str) -> None:
    try:
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise BackupError(
            f"找不到 {command[0]}（请安装与服务器版本相同的 postgresql-client）",
            f"{command[0]} not found (install postgresql-client of the server's version)",
        ) from None
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["exit code " + str(result.returncode)])[-1]
        raise BackupError(f"{what_zh}失败：{reason}", f"{what_en} failed: {reason}")


@dataclass
class BackupSummary:
    directory: Path
    manifest: dict[str, Any]
    seconds: float
    snapshot_seconds: float  # from the start to the snapshot: writes after it are not in the backup
    missing_evidence: list[str] = field(default_factory=list)


@contextmanager
def _sqlite_snapshot(url: str, target: Path) -> Iterator[tuple[Connection, float]]:
    """The online backup API in one step (a consistent copy while writers carry on in WAL mode), then a
    connection to the copy."""
    source_path = _sqlite_path(url)
    source, copy = sqlite3.connect(source_path), sqlite3.connect(target)
    with closing(source), closing(copy):
        taken = time.perf_counter()  # the step's read transaction starts here: its snapshot
        source.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    engine = create_engine(f"sqlite:///{target}")
    try:
        with engine.connect() as connection:
            yield connection, taken
    finally:
        engine.dispose()


def _require_row_level_security_bypass(connection: Connection) -> None:
    """pg_dump and pg_restore see every organization's rows only as a role that bypasses row-level security
    (ADR 0038): refused otherwise, before anything is written, rather than a backup with empty tables."""
    bypasses = connection.execute(
        text("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user")
    ).scalar_one()
    if not bypasses:
        raise BackupError(
            "备份与恢复须以数据库所有者角色（具有 BYPASSRLS）连接，而不是应用角色："
            "见 docs/production.md 第 2 步",
            "backup and restore must connect as the database owner role (with BYPASSRLS), "
            "not the application role: see docs/production.md, step 2",
        )


@contextmanager
def _postgres_snapshot(url: str, target: Path) -> Iterator[tuple[Connection, float]]:
    """``pg_dump -Fc`` of a snapshot exported by a repeatable-read transaction, which stays open to read
    the checksums of the very same snapshot."""
    engine = create_engine(make_url(url).set(drivername="postgresql+psycopg"))
    try:
        connection = engine.connect().execution_options(isolation_level="REPEATABLE READ")
        with connection, connection.begin():
            _require_row_level_security_bypass(connection)
            snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            taken = time.perf_counter()
            uri, env = _libpq(url)
            command = ["pg_dump", "-Fc", f"--snapshot={snapshot}", "-f", str(target), "-d", uri]
            _run(command, env=env, what_zh="pg_dump 导出", what_en="pg_dump")
            yield connection, taken
    finally:
        engine.dispose()


def _evidence_rows(connection: Connection) -> list[tuple[int, int, str]]:
    rows = connection.execute(text("SELECT org_id, id, sha256 FROM evidence_file ORDER BY id"))
    return [(org_id, evidence_id, sha256) for org_id, evidence_id, sha256 in rows]


def _read_evidence(
    session: Session, *, row: tuple[int, int, str], evidence_store: EvidenceStore, current_schema: bool
) -> bytes:
    """The one place backup and restore read an evidence file: through the evidence service, which checks
    the hash, when the schema is this code's. A database of an earlier revision (backed up before an
    upgrade) lacks columns the service reads, so its file is read from the store by hash and hashed here."""
    org_id, evidence_id, sha256 = row
    if current_schema:
        return read_evidence(
            session, org_id=org_id, evidence_id=evidence_id, evidence_store=evidence_store
        ).content
    try:
        content = evidence_store.read(sha256)
    except FileNotFoundError:
        content = b""
    if hashlib.sha256(content).hexdigest() != sha256:
        raise EvidenceError("证据文件缺失或已被改动", "the evidence file is missing or altered")
    return content


def take_backup(
    *,
    database_url: str,
    evidence_store: EvidenceStore,
    checkpoint_dir: Path,
    to: Path,
    key_ring: KeyRing,
    include_key: bool,
    key_stored_elsewhere: bool,
) -> BackupSummary:
    """Back the installation up into the new or empty directory ``to``."""
    if not include_key and not key_stored_elsewhere:
        raise BackupError(
            "安装密钥不在备份中：加 --include-key 把密钥写入备份，"
            "或在密钥已另行备份后加 --key-stored-elsewhere（没有密钥，恢复后的电子签名全部无效）",
            "the installation key is not in this backup: add --include-key to write it in, or "
            "--key-stored-elsewhere once it is backed up apart "
            "(without it every restored e-signature is invalid)",
        )
    if to.exists() and (not to.is_dir() or any(to.iterdir())):
        raise BackupError(f"{to} 不是空目录", f"{to} is not an empty directory")
    started = time.perf_counter()
    to.mkdir(parents=True, exist_ok=True)
    backend = _backend(database_url)
    database_file = SQLITE_FILE if backend == "sqlite" else PG_FILE
    snapshot = _sqlite_snapshot if backend == "sqlite" else _postgres_snapshot
    files: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    with snapshot(database_url, to / database_file) as (connection, taken):
        snapshot_seconds = taken - started
        snapshot_at = utc_iso(utcnow() - timedelta(seconds=time.perf_counter() - taken))
        revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        tables = table_checksums(connection)
        heads = {
            str(org_id): {"last_seq": seq, "last_hash": last_hash}
            for org_id, seq, last_hash in connection.execute(
                text("SELECT org_id, last_seq, last_hash FROM audit_chain_head ORDER BY org_id")
            )
        }
        current = revision == schema_head()
        with Session(bind=connection) as session:
            bind_session_scope(session, org_id=None, all_orgs=True)
            for row in _evidence_rows(connection):
                sha256 = row[2]
                name = "evidence/" + stored_path(Path(), sha256).as_posix()
                if name in files:
                    continue
                try:
                    content = _read_evidence(
                        session, row=row, evidence_store=evidence_store, current_schema=current
                    )
                except EvidenceError as error:
                    missing.append(f"{sha256} ({error})")
                    continue
                _write_file(to / name, content)
                files[name] = {"sha256": sha256, "bytes": len(content)}
    for path in sorted(checkpoint_dir.glob("*.jsonl")) if checkpoint_dir.is_dir() else []:
        name = f"checkpoints/{path.name}"
        content = path.read_bytes()
        content = content[: content.rfind(b"\n") + 1]  # a line being appended right now is left out
        _write_file(to / name, content)
        files[name] = {"sha256": hashlib.sha256(content).hexdigest(), "bytes": len(content)}
    if include_key:
        lines = f"TANGUAN_SECRET_KEY={key_ring.signing}\nTANGUAN_OLD_SECRET_KEYS={','.join(key_ring.old)}\n"
        _write_file(to / KEY_FILE, lines.encode(), mode=0o600)
        files[KEY_FILE] = {"sha256": file_sha256(to / KEY_FILE), "bytes": len(lines.encode())}
    files[database_file] = {
        "sha256": file_sha256(to / database_file),
        "bytes": (to / database_file).stat().st_size,
    }
    manifest = {
        "format": FORMAT,
        "backend": backend,
        "database_file": database_file,
        "revision": revision,
        "snapshot_at": snapshot_at,
        "created_at": utc_iso(utcnow()),
        "tables": {name: total.as_json() for name, total in tables.items()},
        "audit_chains": heads,
        "evidence": {"files": sum(name.startswith("evidence/") for name in files), "missing": missing},
        "key": {
            "included": include_key,
            "fingerprints": [key_fingerprint(key) for key in key_ring.all],
        },
        "files": files,
    }
    _write_file(to / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1).encode())
    return BackupSummary(to, manifest, time.perf_counter() - started, snapshot_seconds, missing)


@dataclass(frozen=True)
class Check:
    """One thing a restore checked, said for a person."""

    ok: bool
    zh: str
    en: str


@dataclass
class RestoreReport:
    manifest: dict[str, Any]
    checks: list[Check] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # what was checked and what matched, by name
    seconds: float = 0.0
    database_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def add(self, ok: bool, zh: str, en: str) -> None:
        self.checks.append(Check(ok, zh, en))


def read_manifest(source: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((source / MANIFEST).read_text())
    except FileNotFoundError:
        raise BackupError(
            f"{source} 不是完整的 Tanguan 备份（缺少 {MANIFEST}）",
            f"{source} is not a complete Tanguan backup (no {MANIFEST})",
        ) from None
    except ValueError:
        raise BackupError(f"{MANIFEST} 已损坏", f"{MANIFEST} is damaged (not JSON)") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(
            f"不认识的备份格式 {manifest.get('format')!r}",
            f"unknown backup format {manifest.get('format')!r}",
        )
    return manifest


def check_files(source: Path, manifest: dict[str, Any]) -> int:
    """Every file of the manifest present with its SHA-256, before anything is restored; the count."""
    for name, entry in sorted(manifest["files"].items()):
        path = source / name
        if not path.is_file():
            raise BackupError(f"备份中缺少文件 {name}", f"the backup lacks {name}")
        if file_sha256(path) != entry["sha256"]:
            raise BackupError(
                f"备份已损坏：{name} 的 SHA-256 与清单不符",
                f"the backup is damaged: {name} differs from its SHA-256",
            )
    return len(manifest["files"])


def _postgres_tables(connection: Connection) -> int:
    count: int = connection.execute(
        text("SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")
    ).scalar_one()
    return count


def _target_is_empty(url: str, evidence_store: EvidenceStore, checkpoint_dir: Path) -> bool:
    if any(True for _ in evidence_store.stored()):
        return False
    if checkpoint_dir.is_dir() and any(path.is_file() for path in checkpoint_dir.rglob("*")):
        return False
    if _backend(url) == "sqlite":
        path = _sqlite_path(url)
        if not path.exists():
            return True
        with closing(sqlite3.connect(path)) as connection:
            (tables,) = connection.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
            ).fetchone()
        return bool(tables == 0)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            _require_row_level_security_bypass(connection)
            return _postgres_tables(connection) == 0
    finally:
        engine.dispose()


def _empty_target(url: str, evidence_store: EvidenceStore, checkpoint_dir: Path) -> None:
    """``--force``: the target's database and files go (the app must be stopped)."""
    for stored in list(evidence_store.stored()):
        evidence_store.delete(stored.sha256)
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    if _backend(url) == "sqlite":
        path = _sqlite_path(url)
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            schemas = connection.execute(
                text(
                    "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' "
                    "AND nspname <> 'information_schema'"
                )
            ).scalars()
            for schema in list(schemas):
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            connection.execute(text("CREATE SCHEMA IF NOT EXISTS public"))
    finally:
        engine.dispose()


def _restore_database(source: Path, manifest: dict[str, Any], url: str) -> None:
    dump = source / manifest["database_file"]
    if manifest["backend"] == "sqlite":
        target = _sqlite_path(url)
        target.parent.mkdir(parents=True, exist_ok=True)
        backup, copy = sqlite3.connect(dump), sqlite3.connect(target)
        with closing(backup), closing(copy):
            backup.backup(copy)
            copy.execute("PRAGMA journal_mode=WAL")
        return
    uri, env = _libpq(url)
    command = ["pg_restore", "--no-owner", "--exit-on-error", "--single-transaction", "-d", uri, str(dump)]
    _run(command, env=env, what_zh="pg_restore 恢复", what_en="pg_restore")


def _restore_files(
    source: Path, manifest: dict[str, Any], evidence_store: EvidenceStore, checkpoint_dir: Path
) -> int:
    copied = 0
    for name in manifest["files"]:
        if name.startswith("evidence/"):  # checked against the manifest already; the store keeps a copy
            if evidence_store.spool_dir is not None:
                evidence_store.spool_dir.mkdir(parents=True, exist_ok=True)
            spool = Path(tempfile.mkdtemp(dir=evidence_store.spool_dir)) / "restore"
            shutil.copyfile(source / name, spool)
            evidence_store.keep(Path(name).name, spool)
            shutil.rmtree(spool.parent, ignore_errors=True)
            copied += 1
            continue
        if name.startswith("checkpoints/"):
            target = checkpoint_dir / name.removeprefix("checkpoints/")
        else:
            continue
        _write_file(target, (source / name).read_bytes())
        copied += 1
    return copied


def restore_backup(
    *,
    source: Path,
    database_url: str,
    evidence_store: EvidenceStore,
    checkpoint_dir: Path,
    key_ring: KeyRing | None,
    force: bool,
    known_revision: bool,
) -> RestoreReport:
    """Restore ``source`` into an empty target (``force``: emptied first) and check it."""
    started = time.perf_counter()
    manifest = read_manifest(source)
    backend = _backend(database_url)
    if manifest["backend"] != backend:
        raise BackupError(
            f"备份来自 {manifest['backend']}，目标是 {backend}",
            f"the backup is of {manifest['backend']}, the target is {backend}",
        )
    if not known_revision:
        raise BackupError(
            f"备份的数据库版本 {manifest['revision']} 比本程序新，请先升级 Tanguan",
            f"the backup's schema revision {manifest['revision']} is newer than this Tanguan: "
            "upgrade Tanguan first",
        )
    report = RestoreReport(manifest)
    count = check_files(source, manifest)
    report.add(
        True, f"备份文件 {count} 个，SHA-256 与清单一致", f"{count} backup files match the manifest's SHA-256"
    )
    if not _target_is_empty(database_url, evidence_store, checkpoint_dir):
        if not force:
            raise BackupError(
                "目标数据库或数据目录不是空的（确认要覆盖时加 --force）",
                "the target database or data directory is not empty (add --force to overwrite it)",
            )
        _empty_target(database_url, evidence_store, checkpoint_dir)
    database_started = time.perf_counter()
    _restore_database(source, manifest, database_url)
    report.database_seconds = time.perf_counter() - database_started
    copied = _restore_files(source, manifest, evidence_store, checkpoint_dir)
    report.add(True, f"已恢复数据库与文件 {copied} 个", f"database and {copied} files restored")
    _check_restored(
        report,
        database_url=database_url,
        evidence_store=evidence_store,
        checkpoint_dir=checkpoint_dir,
        key_ring=key_ring,
    )
    report.seconds = time.perf_counter() - started
    return report


def _check_restored(
    report: RestoreReport,
    *,
    database_url: str,
    evidence_store: EvidenceStore,
    checkpoint_dir: Path,
    key_ring: KeyRing | None,
) -> None:
    manifest = report.manifest
    expected = {name: TableSum(entry["rows"], entry["sha256"]) for name, entry in manifest["tables"].items()}
    database = Database(database_url)
    try:
        with database.engine.connect() as connection:
            with connection.begin():
                problems = compare(expected, table_checksums(connection))
            rows = sum(total.rows for total in expected.values())
            matched = len(expected) - len(problems)
            report.counts.update(tables=len(expected), tables_matched=matched, rows=rows)
            report.add(
                not problems,
                f"数据表 {matched}/{len(expected)} 与快照一致（共 {rows} 行）"
                + (f"：{problems[0]}" if problems else ""),
                f"tables matching the snapshot: {matched}/{len(expected)} ({rows} rows)"
                + (f"; {problems[0]}" if problems else ""),
            )
            chains = [verify_chain(connection, org_id=int(org_id)) for org_id in manifest["audit_chains"]]
            broken = [check for check in chains if not check.ok]
            events = sum(check.events_checked for check in chains)
            report.counts.update(chains=len(chains), chains_intact=len(chains) - len(broken), events=events)
            detail = (
                f"：组织 {broken[0].org_id} 第 {broken[0].broken_seq} 条 {broken[0].problem}"
                if broken
                else ""
            )
            report.add(
                not broken,
                f"审计链 {len(chains) - len(broken)}/{len(chains)} 完整（{events} 条事件）{detail}",
                f"audit chains intact: {len(chains) - len(broken)}/{len(chains)} ({events} events)"
                + (
                    f"; organization {broken[0].org_id} seq {broken[0].broken_seq}: {broken[0].problem}"
                    if broken
                    else ""
                ),
            )
            if key_ring is not None and manifest["revision"] == schema_head():  # older: no checkpoint table
                _check_checkpoints(report, connection, key_ring=key_ring, checkpoint_dir=checkpoint_dir)
            evidence = _evidence_rows(connection)
        _check_evidence(report, database, evidence, evidence_store)
        _check_key(report, database, key_ring)
    finally:
        database.dispose()


def _check_checkpoints(
    report: RestoreReport, connection: Connection, *, key_ring: KeyRing, checkpoint_dir: Path
) -> None:
    """The restored chains against their signed checkpoints (docs/adr/0032): a chain recomputed or cut
    short in the backup verifies on its own, not against a signature it cannot forge."""
    from engine.audit_trail.checkpoints import check_against_checkpoints

    checks = [
        check_against_checkpoints(
            connection, org_id=int(org_id), key_ring=key_ring, mirror_dir=checkpoint_dir
        )
        for org_id in report.manifest["audit_chains"]
    ]
    broken = [check for check in checks if not check.ok]
    signed = sum(check.checkpoints for check in checks)
    detail_zh = f"：第 {broken[0].broken_seq} 条 {broken[0].problem}" if broken else ""
    detail_en = f"; seq {broken[0].broken_seq}: {broken[0].problem}" if broken else ""
    report.counts.update(checkpoints=signed, checkpoint_chains_agreeing=len(checks) - len(broken))
    report.add(
        not broken,
        f"审计链与签名检查点一致 {len(checks) - len(broken)}/{len(checks)}（检查点 {signed} 个）{detail_zh}",
        f"audit chains agreeing with their signed checkpoints: {len(checks) - len(broken)}/{len(checks)} "
        f"({signed} checkpoints){detail_en}",
    )


def _check_evidence(
    report: RestoreReport, database: Database, rows: list[tuple[int, int, str]], evidence_store: EvidenceStore
) -> None:
    matched, failures = 0, []
    with database.read_session(all_orgs=True) as session:
        current = report.manifest["revision"] == schema_head()
        for row in rows:
            try:
                _read_evidence(session, row=row, evidence_store=evidence_store, current_schema=current)
                matched += 1
            except EvidenceError as error:
                failures.append(f"{row[2][:12]}… {error}")
    report.counts.update(evidence=len(rows), evidence_matched=matched)
    missing = report.manifest["evidence"]["missing"]
    report.add(
        not failures,
        f"证据文件 {matched}/{len(rows)} 重新计算 SHA-256 一致" + (f"：{failures[0]}" if failures else ""),
        f"evidence files re-hashed and matching: {matched}/{len(rows)}"
        + (f"; {failures[0]}" if failures else ""),
    )
    if missing:
        report.add(
            False,
            f"备份时已有 {len(missing)} 个证据文件缺失或被改动",
            f"{len(missing)} evidence files were already missing or altered when the backup was taken",
        )


def _check_key(report: RestoreReport, database: Database, key_ring: KeyRing | None) -> None:
    from engine.records.signatures import seal_census

    key = report.manifest["key"]
    where = "备份中的 keys.env" if key["included"] else "另行保存的密钥"
    where_en = "keys.env in the backup" if key["included"] else "the key kept apart"
    if key_ring is None:
        report.add(
            False,
            f"未配置安装密钥：请按{where}设置 TANGUAN_SECRET_KEY",
            f"no installation key configured: set TANGUAN_SECRET_KEY from {where_en}",
        )
        return
    if key_fingerprint(key_ring.signing) not in key["fingerprints"]:
        report.add(
            False,
            f"当前安装密钥不是备份时的密钥：请按{where}设置 TANGUAN_SECRET_KEY",
            f"the configured installation key is not the backup's: set TANGUAN_SECRET_KEY from {where_en}",
        )
    if report.manifest["revision"] != schema_head():
        report.add(
            True,
            "电子签名未逐一核对（数据库版本早于本程序）：升级后运行 tanguan secret status",
            "e-signatures not counted (the schema is older than this code): "
            "run `tanguan secret status` after `tanguan db upgrade`",
        )
        return
    with database.read_session(all_orgs=True) as session:
        *by_key, unverified = seal_census(session, keys=key_ring.all)
    total = sum(by_key) + unverified
    report.counts.update(signatures=total, signatures_verified=total - unverified)
    report.add(
        unverified == 0,
        f"电子签名 {total - unverified}/{total} 可用当前密钥验证",
        f"e-signatures verified by the configured keys: {total - unverified}/{total}",
    )

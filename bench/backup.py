"""`python -m bench.backup`: RELIABILITY T26, the backup and restore drill, on SQLite and (with
TANGUAN_TEST_POSTGRES_URL, a server where it may create and drop databases) on PostgreSQL; one
`name: value unit` per line.

The source is the demo enterprise (`seed_demo`: records, e-signatures, evidence files). Writer threads
upload evidence through the services while the backup runs — each upload is an audited write: a file, its
row and an audit event, committed together. The backup is restored into a
fresh database and data directory, and the figures come from the restore's own checks (every table's rows
and checksum against the manifest, every audit chain, every evidence file re-hashed through the store,
every signature against the key) and from the writers' log: the writes committed before the backup
started are all in it, and RPO is what was committed while it ran and is not."""

import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text

from engine.audit import Actor
from engine.backup.archive import BackupSummary, RestoreReport, restore_backup, take_backup
from engine.config import KeyRing, Settings
from engine.db import Database
from engine.evidence.store import store_evidence
from engine.migrate import upgrade
from engine.storage import EvidenceStore

KEY = "backup-drill-installation-key-0123456789abcdef"


@dataclass(frozen=True)
class Plan:
    demo: bool = True  # the demo enterprise as the dataset, else one organization and one person
    writers: int = 2
    before: int = 200  # writes committed before the backup starts
    after: int = 50  # writes committed after it finished, before the load stops


@contextmanager
def instance(backend: str, *, server_url: str | None, directory: Path, name: str) -> Iterator[Settings]:
    """An empty instance's settings: its data directory, with its SQLite file or a PostgreSQL database of
    its own."""
    data_dir = directory / name
    data_dir.mkdir(parents=True)
    if backend == "sqlite":
        yield Settings(data_dir=data_dir, database_url=None)
        return
    from bench.t25 import scratch_database

    assert server_url is not None
    with scratch_database(server_url, prefix="drill") as url:
        yield Settings(data_dir=data_dir, database_url=url)


def prepare(db: Database, source: Settings, *, demo: bool) -> tuple[int, int]:
    """The dataset; the organization and the person the load writes as."""
    from sqlmodel import select

    from engine.audit import SYSTEM
    from engine.identity.models import Membership, OrganizationCreate
    from engine.identity.organizations import create_organization
    from engine.identity.users import create_user, grant_membership

    upgrade(db.engine)
    with db.unit_of_work(all_orgs=True) as uow:
        if demo:
            from demo.seed import seed_demo
            from engine.workflow.catalog import WorkflowCatalog

            org = seed_demo(
                uow.session,
                catalog=WorkflowCatalog.load(),
                secret_key=KEY,
                evidence_store=source.evidence_store,
            )
        else:
            org = create_organization(
                uow.session, data=OrganizationCreate(slug="drill", name="演练"), actor=SYSTEM
            )
        assert org.id is not None
        membership = uow.session.exec(select(Membership).where(Membership.org_id == org.id)).first()
        if membership is None:
            user = create_user(
                uow.session, email="drill@example.com", display_name="演练员", password="Drill-2026-ok!"
            )
            membership = grant_membership(
                uow.session, org_id=org.id, user=user, roles=["staff"], actor=SYSTEM
            )
        return org.id, membership.user_id


@dataclass
class Load:
    """Threads uploading evidence through the services until stopped, each upload one audited write;
    every write's SHA-256 and the moment its commit returned."""

    db: Database
    org_id: int
    actor: Actor
    evidence_store: EvidenceStore
    writers: int
    done: list[tuple[str, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        for worker in range(self.writers):
            thread = threading.Thread(target=self._run, args=(worker,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _run(self, worker: int) -> None:
        number = 0
        while not self._stop.is_set():
            number += 1
            content = f"演练 drill {worker} {number} {uuid.uuid4().hex}\n".encode()
            try:
                with self.db.unit_of_work(org_id=self.org_id) as uow:
                    row = store_evidence(
                        uow.session,
                        org_id=self.org_id,
                        actor=self.actor,
                        evidence_store=self.evidence_store,
                        filename=f"drill-{worker}-{number}.txt",
                        chunks=[content],
                        max_bytes=1 << 20,
                    )
                    sha256 = row.sha256
            except Exception as error:  # counted: the drill expects none
                self.errors.append(f"{type(error).__name__}: {error}")
                continue
            with self._lock:
                self.done.append((sha256, time.monotonic()))

    def wait_for(self, count: int, *, seconds: float = 600) -> None:
        deadline = time.monotonic() + seconds
        while len(self.done) < count:
            if time.monotonic() > deadline or self.errors:
                raise RuntimeError(f"the load reached {len(self.done)} of {count} writes: {self.errors[:1]}")
            time.sleep(0.01)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def run_drill(backend: str, *, plan: Plan, server_url: str | None = None) -> dict[str, float]:
    """Back up during the load, restore into a fresh instance; the figures."""
    with tempfile.TemporaryDirectory(prefix="drill-") as scratch:
        directory = Path(scratch)
        with (
            instance(backend, server_url=server_url, directory=directory, name="source") as source,
            instance(backend, server_url=server_url, directory=directory, name="restored") as target,
        ):
            db = Database(source.effective_database_url)
            try:
                org_id, user_id = prepare(db, source, demo=plan.demo)
                load = Load(db, org_id, Actor(user_id, "演练员"), source.evidence_store, plan.writers)
                load.start()
                try:
                    load.wait_for(plan.before)
                    started = time.monotonic()
                    summary = take_backup(
                        database_url=source.effective_database_url,
                        evidence_store=source.evidence_store,
                        checkpoint_dir=source.checkpoint_dir,
                        to=directory / "backup",
                        key_ring=KeyRing(KEY),
                        include_key=False,
                        key_stored_elsewhere=True,
                    )
                    finished = time.monotonic()
                    load.wait_for(len(load.done) + plan.after)
                finally:
                    load.stop()
            finally:
                db.dispose()
            report = restore_backup(
                source=directory / "backup",
                database_url=target.effective_database_url,
                evidence_store=target.evidence_store,
                checkpoint_dir=target.checkpoint_dir,
                key_ring=KeyRing(KEY),
                force=False,
                known_revision=True,
            )
            restored = _load_writes_in(target)
    return _figures(summary, report, load, restored, started=started, finished=finished)


def _load_writes_in(target: Settings) -> set[str]:
    database = Database(target.effective_database_url)
    try:
        with database.engine.connect() as connection:
            return set(connection.execute(text("SELECT sha256 FROM evidence_file")).scalars())
    finally:
        database.dispose()


def _percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 100.0


def _figures(
    summary: BackupSummary,
    report: RestoreReport,
    load: Load,
    restored: set[str],
    *,
    started: float,
    finished: float,
) -> dict[str, float]:
    counts = report.counts
    before = [sha for sha, at in load.done if at < started]
    by_end = [sha for sha, at in load.done if at <= finished]
    during = [at for _sha, at in load.done if started <= at <= finished]
    return {
        "tables_matching_pct": _percent(counts["tables_matched"], counts["tables"]),
        "tables": counts["tables"],
        "rows": counts["rows"],
        "chains_intact_pct": _percent(counts["chains_intact"], counts["chains"]),
        "audit_events": counts["events"],
        "evidence_matching_pct": _percent(counts["evidence_matched"], counts["evidence"]),
        "evidence_files": counts["evidence"],
        "signatures_verified_pct": _percent(counts["signatures_verified"], counts["signatures"]),
        "signatures": counts["signatures"],
        "restore_checks_failed": sum(not check.ok for check in report.checks),
        "load_writes": len(load.done),
        "load_errors": len(load.errors),
        "writes_during_backup": len(during),
        "writes_before_backup_missing": sum(sha not in restored for sha in before),
        "rpo_writes": sum(sha not in restored for sha in by_end),
        "writes_in_backup": sum(sha in restored for sha, _at in load.done),
        "snapshot_lag_s": round(summary.seconds - summary.snapshot_seconds, 3),
        "backup_s": round(summary.seconds, 3),
        "rto_s": round(report.seconds, 3),
        "restore_database_s": round(report.database_seconds, 3),
    }


UNITS = {"_pct": "%", "_s": "s"}


def main() -> None:
    server_url = os.environ.get("TANGUAN_TEST_POSTGRES_URL")
    backends = ["sqlite", "postgresql"] if server_url else ["sqlite"]
    plan = Plan()
    print(f"plan: {plan}")
    for backend in backends:
        figures = run_drill(backend, plan=plan, server_url=server_url)
        for name, value in figures.items():
            unit = next((u for suffix, u in UNITS.items() if name.endswith(suffix)), "")
            print(f"{backend}_{name}: {value} {unit}".rstrip())
        sys.stdout.flush()
    if not server_url:
        print("postgresql: skipped (TANGUAN_TEST_POSTGRES_URL is not set)")


if __name__ == "__main__":
    main()

"""`python -m bench.faults`: RELIABILITY T23 — a transition killed (SIGKILL) at injected points, then the
database reopened and checked; one `name: value unit` per line.

Each trial creates a nonconformity, then a child process (`python -m bench.faults child …`, the engine
without the web) uploads an evidence file and fires ``assess`` on it in one unit of work, and is killed by
SIGKILL at one point: after the record's state UPDATE, after the audit INSERT, just before COMMIT, in the
middle of writing the evidence file, after COMMIT but before its domain events are dispatched, just after
the unit of work (COMMIT and dispatch); or while it exports the evidence pack, in the middle of rendering
its records as DOCX. The child's one subscriber appends each event's outbox id to a file (a real side
effect). The kill is injected by the child's harness around the engine's own functions (no switch in the
product). The parent then reopens the database as a restarted instance would
and checks: the record's new state ⇔ its audit row ⇔ its new task ⇔ the evidence row ⇔ its event's outbox
row (all or none, and none unless the kill came after COMMIT; the row undispatched and the event undelivered
when the kill came before dispatch); `PRAGMA integrity_check` = ok (SQLite) or a new connection's
write (PostgreSQL) succeeds; the chain verifies; no pack file where the export was killed. Recovery time:
from the child's death to the same transition committed by the restarted side. After the trials the
scheduler's evidence clean-up runs (files aged past its grace period): orphan evidence files left: 0; and
the scheduler's outbox redelivery, past its grace period, as a restarted instance with the same subscriber:
every event delivered exactly once in all, every outbox row dispatched (docs/adr/0045).

``--trials 200`` per database (the catalogue's figure); SQLite always, PostgreSQL when
TANGUAN_TEST_POSTGRES_URL is set. The suite runs 14 per database
(tests/engine/test_fault_injection.py)."""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, select, text
from sqlalchemy.engine import make_url

from bench.signing import percentile
from engine.audit import SYSTEM, verify_chain
from engine.config import Settings
from engine.db import Database
from engine.events import PENDING, DomainEvent
from engine.evidence.store import abandoned_uploads, orphan_files
from engine.identity.models import OrganizationCreate
from engine.identity.organizations import create_organization
from engine.identity.users import create_user, grant_membership
from engine.migrate import upgrade
from engine.models.base import table_of, utcnow
from engine.models.outbox import EventOutbox
from engine.scheduler.jobs import run_evidence_cleanup
from engine.scheduler.outbox import run_outbox_redelivery
from engine.scheduler.registry import JobContext
from engine.storage import EvidenceStore, LocalStore
from engine.workflow.access import ActorRef
from engine.workflow.catalog import WorkflowCatalog
from engine.workflow.lifecycle import PROCESS_CONTEXT, ProcessContext, create_record, fire_transition

KEY = "t23-installation-key-0123456789abcdef"
_outbox = table_of(EventOutbox)
ORG = "t23-faults"
POINTS = (
    "after_state_update",
    "after_audit_insert",
    "before_commit",
    "during_evidence_write",
    "after_commit_before_dispatch",
    "after_commit",
    "during_docx_export",
)
ASSESS = {"severity": "minor", "containment": "隔离并复核相关数据"}
CHILD_TIMEOUT_S = 300


@dataclass
class Trial:
    point: str
    killed: bool
    changed: bool
    consistent: bool
    healthy: bool
    chain_ok: bool
    pack_left: bool
    recovery_ms: float
    detail: str = ""


@dataclass
class Figures:
    backend: str
    trials: list[Trial] = field(default_factory=list)
    orphans_before_gc: int = 0
    orphans_after_gc: int = 0
    outbox: "OutboxFigures | None" = None

    def lines(self) -> list[str]:
        name = f"t23_{self.backend}"
        trials = self.trials
        recovery = sorted(trial.recovery_ms for trial in trials)
        per_point = Counter(trial.point for trial in trials)
        return [
            f"{name}_trials: {len(trials)} trials ({', '.join(f'{p} {n}' for p, n in per_point.items())})",
            f"{name}_killed: {sum(t.killed for t in trials)} trials",
            f"{name}_inconsistent: {sum(not t.consistent for t in trials)} trials",
            f"{name}_committed_after_kill_point: {sum(t.changed for t in trials)} trials",
            f"{name}_unhealthy_database: {sum(not t.healthy for t in trials)} trials",
            f"{name}_chain_broken: {sum(not t.chain_ok for t in trials)} trials",
            f"{name}_partial_pack_left: {sum(t.pack_left for t in trials)} files",
            f"{name}_orphan_evidence_before_gc: {self.orphans_before_gc} files",
            f"{name}_orphan_evidence_after_gc: {self.orphans_after_gc} files",
            f"{name}_recovery_p50: {percentile(recovery, 0.5):.0f} ms",
            f"{name}_recovery_max: {(recovery[-1] if recovery else float('nan')):.0f} ms",
            *(self.outbox.lines(name) if self.outbox else []),
        ]

    @property
    def failures(self) -> list[str]:
        outbox = self.outbox.failures if self.outbox else ["the outbox was not checked"]
        return [f"{t.point}: {t.detail}" for t in self.trials if t.detail] + outbox


@dataclass
class OutboxFigures:
    rows: int  # the organization's events (every create and assess that committed)
    undispatched_after_trials: int
    redelivered: int
    not_delivered_once: int  # events delivered 0 or ≥ 2 times, in all (children + redelivery)
    undispatched_after_redelivery: int
    redelivered_again: int  # by a second run of the job: nothing

    def lines(self, name: str) -> list[str]:
        return [
            f"{name}_outbox_rows: {self.rows} events",
            f"{name}_outbox_undispatched_after_trials: {self.undispatched_after_trials} events",
            f"{name}_outbox_redelivered: {self.redelivered} events",
            f"{name}_outbox_not_delivered_exactly_once: {self.not_delivered_once} events",
            f"{name}_outbox_undispatched_after_redelivery: {self.undispatched_after_redelivery} events",
        ]

    @property
    def failures(self) -> list[str]:
        wrong = self.not_delivered_once or self.undispatched_after_redelivery or self.redelivered_again
        return [f"outbox: {self}"] if wrong else []


class DeliveryLog:
    """The subscriber of the trials: appends each event's outbox id to a file, a side effect that survives
    the process (a line written is in the file, SIGKILL or not)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, event: DomainEvent, _database: Any) -> None:
        with self.path.open("a", encoding="utf-8") as log:
            log.write(f"{event.id}\n")

    def counts(self) -> Counter[int]:
        text_ = self.path.read_text(encoding="utf-8") if self.path.exists() else ""
        return Counter(int(line) for line in text_.split())


# --- the child: one unit of work, killed at its point ---------------------------------------------------


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _after(module: Any, name: str) -> None:
    """Kill the process as soon as ``module.name`` (called by the engine) has returned."""
    original = getattr(module, name)

    def killing(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        _die()
        return result

    setattr(module, name, killing)


def _evidence_chunks(content: bytes, *, die_midway: bool) -> Iterator[bytes]:
    half = len(content) // 2
    yield content[:half]
    if die_midway:  # the first half is in the temporary file, the rest never comes
        _die()
    yield content[half:]


def child(options: argparse.Namespace) -> None:
    from engine.evidence.store import store_evidence

    point = options.point
    database = Database(options.url, busy_timeout_ms=30000)
    catalog = WorkflowCatalog.load()
    database.session_info[PROCESS_CONTEXT] = ProcessContext(catalog, KEY)
    database.subscribe(DeliveryLog(Path(options.deliveries)))
    evidence_store = LocalStore(Path(options.evidence_dir))
    actor = ActorRef(id=options.actor_id, name="张伟", roles=frozenset({"quality_manager"}))
    if point == "during_docx_export":
        _export_pack_killed_midway(database, catalog, options)
        return
    if point == "after_state_update":
        import engine.workflow.fire as fire_module

        _after(fire_module, "_write_record")
    elif point == "after_audit_insert":
        import engine.workflow.writes as writes_module

        _after(writes_module, "append_event")
    elif point == "before_commit":
        event.listen(database.write_engine.engine, "commit", lambda _connection: _die())
    elif point == "after_commit_before_dispatch":
        database.dispatch = lambda _events: _die()  # type: ignore[method-assign]
    content = f"T23 试验 {options.record_id} {uuid.uuid4()}\n".encode() * 2000
    with database.unit_of_work(org_id=options.org_id) as uow:
        store_evidence(
            uow.session,
            org_id=options.org_id,
            actor=actor.audit_actor,
            evidence_store=evidence_store,
            filename=f"现场记录-{options.record_id}.txt",
            chunks=_evidence_chunks(content, die_midway=point == "during_evidence_write"),
            max_bytes=10 * 1024 * 1024,
        )
        fire_transition(
            uow.session,
            record_id=options.record_id,
            trigger="assess",
            actor=actor,
            form_data=ASSESS,
            expected_version=options.version,
        )
    if point == "after_commit":
        _die()
    raise SystemExit(f"not killed at {point}")


def _export_pack_killed_midway(
    database: Database, catalog: WorkflowCatalog, options: argparse.Namespace
) -> None:
    import engine.evidence_pack.build as build
    from engine.evidence_pack.build import PackRequest, export_pack

    rendered = 0
    original = build.record_docx

    def record_docx(**kwargs: Any) -> bytes:
        nonlocal rendered
        rendered += 1
        if rendered > options.docx_before_kill:
            _die()
        return original(**kwargs)

    build.record_docx = record_docx  # type: ignore[assignment]
    settings = Settings(secret_key=KEY, data_dir=Path(options.evidence_dir).parent, database_url=options.url)
    today = date.today()
    export_pack(
        database,
        request=PackRequest(ORG, "10.1", today - timedelta(days=400), today + timedelta(days=1)),
        out=Path(options.pack),
        catalog=catalog,
        key_ring=settings.key_ring(),
        evidence_store=LocalStore(Path(options.evidence_dir)),
        checkpoint_dir=None,
        pdf=False,
    )
    raise SystemExit("not killed during the export")


# --- the parent: set up, run the trials, check --------------------------------------------------------


@dataclass
class Setup:
    url: str
    directory: Path
    org_id: int
    actor: ActorRef
    catalog: WorkflowCatalog

    @property
    def evidence_dir(self) -> Path:
        return self.directory / "var" / "evidence"

    @property
    def deliveries(self) -> DeliveryLog:
        return DeliveryLog(self.directory / "deliveries.txt")

    def database(self) -> Database:
        database = Database(self.url, busy_timeout_ms=30000)
        database.session_info[PROCESS_CONTEXT] = ProcessContext(self.catalog, KEY)
        return database


def prepare(url: str, directory: Path) -> Setup:
    catalog = WorkflowCatalog.load()
    database = Database(url, busy_timeout_ms=30000)
    try:
        upgrade(database.engine)
        with database.unit_of_work(all_orgs=True) as uow:
            catalog.register(uow.session)
            org = create_organization(
                uow.session, data=OrganizationCreate(slug=ORG, name="T23 故障注入"), actor=SYSTEM
            )
            user = create_user(
                uow.session, email="t23@faults.example", display_name="张伟", password="T23-faults#1"
            )
            assert org.id is not None and user.id is not None
            grant_membership(uow.session, org_id=org.id, user=user, roles=["quality_manager"], actor=SYSTEM)
            actor = ActorRef(id=user.id, name="张伟", roles=frozenset({"quality_manager"}))
            return Setup(url, directory, org.id, actor, catalog)
    finally:
        database.dispose()


def new_record(setup: Setup, database: Database, number: int) -> tuple[int, int]:
    with database.unit_of_work(org_id=setup.org_id) as uow:
        record = create_record(
            uow.session,
            workflow=setup.catalog.current["nonconformity"],
            org_id=setup.org_id,
            actor=setup.actor,
            form_data={
                "title": f"T23 第 {number} 次试验",
                "source": "monitoring",
                "description": "在注入点被强制终止的状态迁移",
                "found_on": date.today().isoformat(),
            },
        )
        assert record.id is not None
        return record.id, record.version


def _state(connection: Any, record_id: int) -> dict[str, Any]:
    one = connection.execute
    return {
        "state": one(text("SELECT state FROM record WHERE id = :r"), {"r": record_id}).scalar_one(),
        "audit": one(
            text(
                "SELECT count(*) FROM audit_event WHERE subject_type = 'record' AND subject_id = :r "
                "AND action = 'assess'"
            ),
            {"r": str(record_id)},
        ).scalar_one(),
        "task": one(
            text("SELECT count(*) FROM task WHERE record_id = :r AND state = 'assessed'"), {"r": record_id}
        ).scalar_one(),
        "evidence": one(
            text("SELECT count(*) FROM evidence_file WHERE filename = :f"), {"f": f"现场记录-{record_id}.txt"}
        ).scalar_one(),
        "outbox": [  # (id, dispatched) of the assess event's row
            (row.id, row.dispatched_at is not None)
            for row in one(
                select(_outbox.c.id, _outbox.c.payload, _outbox.c.dispatched_at).where(
                    _outbox.c.name == "nonconformity.assess"
                )
            )
            if row.payload.get("record_id") == record_id
        ],
    }


def _outbox_consistent(point: str, changed: bool, outbox: list[tuple[int, bool]], log: DeliveryLog) -> bool:
    """state changed ⇔ outbox row; killed before dispatch: the row undispatched and the event undelivered;
    killed after the unit of work: dispatched, delivered once."""
    if len(outbox) != int(changed):
        return False
    if not changed or point not in ("after_commit_before_dispatch", "after_commit"):
        return True
    [(event_id, dispatched)] = outbox
    before_dispatch = point == "after_commit_before_dispatch"
    return dispatched != before_dispatch and log.counts()[event_id] == int(not before_dispatch)


def _healthy(database: Database) -> bool:
    with database.engine.connect() as connection:
        if database.is_sqlite:
            return connection.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        return connection.execute(text("SELECT 1")).scalar() == 1


def run_trial(setup: Setup, number: int, point: str) -> Trial:
    database = setup.database()
    try:
        record_id, version = new_record(setup, database, number)
    finally:
        database.dispose()
    pack = setup.directory / f"pack-{number}.zip"
    command = [
        sys.executable, "-m", "bench.faults", "child", "--url", setup.url,
        "--evidence-dir", str(setup.evidence_dir), "--org-id", str(setup.org_id),
        "--actor-id", str(setup.actor.id), "--record-id", str(record_id),
        "--version", str(version), "--point", point, "--pack", str(pack),
        "--docx-before-kill", str(number % 3), "--deliveries", str(setup.deliveries.path),
    ]  # fmt: skip
    env = {**os.environ, "TANGUAN_SECRET_KEY": KEY, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    died = time.perf_counter()
    killed = done.returncode == -signal.SIGKILL
    detail = "" if killed else f"not killed (exit {done.returncode}): {done.stderr[-400:]}"
    database = setup.database()  # the restarted instance
    try:
        with database.engine.connect() as connection:
            seen = _state(connection, record_id)
        changed = seen["state"] == "assessed"
        expected_evidence = 0 if point == "during_docx_export" else int(changed)
        consistent = (seen["audit"], seen["task"], seen["evidence"]) == (
            int(changed),
            int(changed),
            expected_evidence,
        )
        consistent = consistent and _outbox_consistent(point, changed, seen["outbox"], setup.deliveries)
        if not point.startswith("after_commit") and changed:
            consistent = False  # nothing may be kept of a transaction killed before its COMMIT
        if not consistent:
            detail += f" inconsistent: {seen}"
        if not changed:
            with database.unit_of_work(org_id=setup.org_id) as uow:
                fire_transition(
                    uow.session, record_id=record_id, trigger="assess", actor=setup.actor, form_data=ASSESS,
                    expected_version=version,
                )  # fmt: skip
        recovery_ms = (time.perf_counter() - died) * 1000
        healthy = _healthy(database)
        with database.engine.connect() as connection:
            chain = verify_chain(connection, org_id=setup.org_id)
        if not healthy or not chain.ok:
            detail += f" healthy={healthy} chain={chain}"
    finally:
        database.dispose()
    pack_left = pack.exists()
    if pack_left:
        detail += f" a partial pack was left at {pack.name}"
    return Trial(
        point,
        killed,
        changed and not point.startswith("after_commit"),
        consistent,
        healthy,
        chain.ok,
        pack_left,
        recovery_ms,
        detail.strip(),
    )


def _leftovers(session: Any, store: EvidenceStore) -> int:
    return len(orphan_files(session, evidence_store=store)) + len(abandoned_uploads(evidence_store=store))


def collect_garbage(setup: Setup) -> tuple[int, int]:
    """Orphan evidence files before and after the scheduler's clean-up, with every file aged two days
    (past its grace period)."""
    settings = Settings(secret_key=KEY, data_dir=setup.evidence_dir.parent, database_url=setup.url)
    aged = time.time() - 2 * 86400
    for path in setup.evidence_dir.rglob("*"):
        if path.is_file():
            os.utime(path, (aged, aged))
    database = setup.database()
    try:
        with database.read_session(all_orgs=True) as session:
            before = _leftovers(session, settings.evidence_store)
        with database.unit_of_work(all_orgs=True) as uow:
            context = JobContext("evidence_cleanup", uow.session, 0, datetime.now(UTC), settings)
            list(run_evidence_cleanup(context))
        with database.read_session(all_orgs=True) as session:
            after = _leftovers(session, settings.evidence_store)
    finally:
        database.dispose()
    return before, after


def _redeliver(database: Database, settings: Settings) -> int:
    """One run of the scheduler's outbox redelivery, past its grace period; the events it took."""
    now = utcnow() + timedelta(seconds=settings.outbox_grace_seconds + 1)
    with database.unit_of_work(all_orgs=True) as uow:  # publishes what the job took after its COMMIT
        list(run_outbox_redelivery(JobContext("outbox_redelivery", uow.session, 0, now, settings)))
        return len(uow.session.info.get(PENDING, []))


def check_outbox(setup: Setup) -> OutboxFigures:
    """The restarted scheduler's redelivery with the trials' subscriber: every event of the organization
    delivered exactly once in all, every row dispatched; a second run takes nothing."""
    settings = Settings(secret_key=KEY, data_dir=setup.evidence_dir.parent, database_url=setup.url)
    database = setup.database()
    log = setup.deliveries
    database.subscribe(log)
    query = select(_outbox.c.id, _outbox.c.dispatched_at).where(_outbox.c.org_id == setup.org_id)
    try:
        with database.engine.connect() as connection:
            before = connection.execute(query).all()
        redelivered = 0
        while taken := _redeliver(database, settings):  # REDELIVERY_BATCH at a time
            redelivered += taken
        again = _redeliver(database, settings)
        with database.engine.connect() as connection:
            after = connection.execute(query).all()
    finally:
        database.dispose()
    counts = log.counts()
    return OutboxFigures(
        rows=len(after),
        undispatched_after_trials=sum(row.dispatched_at is None for row in before),
        redelivered=redelivered,
        not_delivered_once=sum(counts[row.id] != 1 for row in after),
        undispatched_after_redelivery=sum(row.dispatched_at is None for row in after),
        redelivered_again=again,
    )


def run_faults(url: str, directory: Path, *, trials: int, backend: str, parallel: int = 3) -> Figures:
    """``trials`` trials, ``parallel`` at a time (each on its own record: they meet only at the locks)."""
    setup = prepare(url, directory)
    figures = Figures(backend)
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        figures.trials = list(
            pool.map(lambda number: run_trial(setup, number, POINTS[number % len(POINTS)]), range(trials))
        )
    figures.orphans_before_gc, figures.orphans_after_gc = collect_garbage(setup)
    figures.outbox = check_outbox(setup)
    return figures


class ScratchPostgres:
    """A database of its own on the PostgreSQL server named by ``admin_url``; dropped at the end."""

    def __init__(self, admin_url: str) -> None:
        self.admin = create_engine(
            Settings(database_url=admin_url).database_url, isolation_level="AUTOCOMMIT"
        )
        self.name = f"t23_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.name}"'))
        self.url = make_url(str(self.admin.url)).set(database=self.name).render_as_string(hide_password=False)

    def drop(self) -> None:
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run")
    run.add_argument("--trials", type=int, default=200, help="per database")
    run.add_argument("--parallel", type=int, default=3, help="trials at a time")
    kid = sub.add_parser("child")
    for name in ("--url", "--evidence-dir", "--point", "--pack", "--deliveries"):
        kid.add_argument(name, required=True)
    for name in ("--org-id", "--actor-id", "--record-id", "--version", "--docx-before-kill"):
        kid.add_argument(name, type=int, required=True)
    argv = sys.argv[1:] or ["run"]
    options = parser.parse_args(argv if argv[0] in ("run", "child") else ["run", *argv])
    if options.command == "child":
        child(options)
        return
    backends = ["sqlite"] + (["postgresql"] if os.environ.get("TANGUAN_TEST_POSTGRES_URL") else [])
    for backend in backends:
        with tempfile.TemporaryDirectory(prefix="tanguan-t23-") as scratch:
            directory = Path(scratch)
            server = (
                ScratchPostgres(os.environ["TANGUAN_TEST_POSTGRES_URL"]) if backend == "postgresql" else None
            )
            try:
                url = server.url if server else f"sqlite:///{directory / 't23.sqlite3'}"
                figures = run_faults(
                    url, directory, trials=options.trials, backend=backend, parallel=options.parallel
                )
            finally:
                if server:
                    server.drop()
        for line in figures.lines():
            print(line, flush=True)
        for failure in figures.failures[:10]:
            print(f"# {failure}")


if __name__ == "__main__":
    main()

"""`python -m bench.t25`: RELIABILITY T25 on PostgreSQL — real `tanguan scheduler` processes competing for
one database; one `name: value unit` per line. Needs TANGUAN_TEST_POSTGRES_URL (or TANGUAN_DATABASE_URL)
naming a PostgreSQL server where it may create and drop a database of its own (advisory locks are per
database, so nothing else running there competes for the leader's lock).

3 instances × 2 processes, beating every second on a shared simulated clock (engine.scheduler.clock: one
simulated minute = 3 real seconds, each job's slot a simulated minute). Open nonconformity tasks fall due
around midnight (China time), so the ladder sends reminders and escalations on both days. At minute 5
the leader process is killed (SIGKILL); at minute 10 every process stops; they restart as if an hour had
passed (past midnight: more work due) and run 3 more minutes. Counted from the runners' own records — the
`scheduler: slot … taken` line each process logs when it takes a slot, the `scheduler_claim` rows and
the notifications — not from the benchmark's own view."""

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from engine.audit import SYSTEM
from engine.config import Settings
from engine.db import Database
from engine.identity.models import OrganizationCreate
from engine.identity.organizations import create_organization
from engine.identity.users import create_user, grant_membership
from engine.migrate import upgrade
from engine.records.display import CHINA_TIME
from engine.scheduler.jobs import JOBS
from engine.workflow.catalog import WorkflowCatalog
from engine.workflow.lifecycle import PROCESS_CONTEXT, ProcessContext

START = datetime(2027, 3, 15, 23, 30, tzinfo=CHINA_TIME)  # half an hour before the day's rungs change
KEY = "t25-installation-key-0123456789abcdef"
TAKEN = re.compile(r"scheduler: slot (\S+) (\S+) taken")
DUE_OFFSETS = range(-5, 4)  # due dates from 5 days ago to 3 days ahead of the first day


@dataclass(frozen=True)
class Plan:
    instances: int = 3
    workers: int = 2
    minutes: int = 10  # simulated minutes before the downtime
    kill_at: int = 5  # the leader is killed once this minute's slot has run
    downtime: int = 60  # simulated minutes with every process stopped
    after: int = 3  # simulated minutes after the restart
    minute_seconds: float = 3.0  # real seconds per simulated minute
    startup_seconds: float = 12.0  # the clock starts this long after the processes are launched
    records_per_org: int = 9 * 3
    orgs: int = 2
    deadline_seconds: float = 120.0  # for each condition waited on (a busy machine is slow, never stuck)

    @property
    def processes(self) -> int:
        return self.instances * self.workers


@dataclass
class Run:
    """One phase's processes and what they log."""

    folder: Path
    url: str
    start: datetime
    plan: Plan
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def launch(self, phase: str) -> None:
        anchor = datetime.now(UTC) + timedelta(seconds=self.plan.startup_seconds)
        env = os.environ | {
            "TANGUAN_DATABASE_URL": self.url,
            "TANGUAN_SECRET_KEY": KEY,
            "TANGUAN_DATA_DIR": str(self.folder),
            "TANGUAN_SCHEDULER_INTERVAL_SECONDS": "1",
            "TANGUAN_SCHEDULER_CLOCK_START": self.start.isoformat(),
            "TANGUAN_SCHEDULER_CLOCK_ANCHOR": anchor.isoformat(),
            "TANGUAN_SCHEDULER_CLOCK_SPEED": str(60 / self.plan.minute_seconds),
        }
        tanguan = Path(sys.executable).parent / "tanguan"
        for n in range(self.plan.processes):
            log = self.folder / f"{phase}-instance{n // self.plan.workers}-worker{n % self.plan.workers}.log"
            with log.open("wb") as out:
                self.procs.append(
                    subprocess.Popen(
                        [str(tanguan), "scheduler"], cwd=self.folder, env=env, stdout=out, stderr=out
                    )
                )
            self.logs.append(log)

    def text(self, n: int) -> str:
        return self.logs[n].read_text(encoding="utf-8", errors="replace")

    def leader(self) -> int | None:
        """The live process that last logged taking the lead."""
        live = [
            n for n, proc in enumerate(self.procs) if proc.poll() is None and "instance leads" in self.text(n)
        ]
        return live[-1] if len(live) >= 1 else None

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def taken(self) -> Counter[tuple[str, str]]:
        counted: Counter[tuple[str, str]] = Counter()
        for n in range(len(self.logs)):
            counted.update(TAKEN.findall(self.text(n)))
        return counted


def wait_for(condition: Callable[[], object], *, seconds: float, what: str) -> None:
    """Poll until ``condition`` holds; a generous deadline, never a fixed sleep."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"T25: {what} did not happen within {seconds:.0f} s")
        time.sleep(0.1)


@contextmanager
def scratch_database(server_url: str, *, prefix: str = "t25", template: str | None = None) -> Iterator[str]:
    """A database of its own on the server (empty, or a copy of the database ``template`` names, which
    nobody may be connected to), dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(Settings(database_url=server_url).database_url or "", isolation_level="AUTOCOMMIT")
    copy = f' TEMPLATE "{make_url(template).database}"' if template else ""
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    try:
        yield make_url(admin.url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def seed(db: Database, plan: Plan) -> None:
    """Organizations with one person per role, and open tasks in a state with a ladder (`reported`) and in
    one without (`assessed`, overdue notices), due around the first day."""
    catalog = WorkflowCatalog.load()
    nc = catalog.get("nonconformity")
    assert nc is not None
    db.session_info[PROCESS_CONTEXT] = ProcessContext(catalog, KEY)
    with db.unit_of_work(all_orgs=True) as uow:
        org_ids = []
        for o in range(plan.orgs):
            org = create_organization(
                uow.session, data=OrganizationCreate(slug=f"t{o}", name=f"厂{o}"), actor=SYSTEM
            )
            for role in ("quality_manager", "top_management"):
                user = create_user(
                    uow.session,
                    email=f"{role}{o}@t25.example",
                    display_name=f"{role}{o}",
                    password="T25-Pass-2026!",
                )
                grant_membership(uow.session, org_id=org.id, user=user, roles=[role], actor=SYSTEM)
            org_ids.append(org.id)
        catalog.register(uow.session)
    first = START.date()
    rows = [
        {"org": org_id, "key": nc.key, "version": nc.spec.version, "number": f"T25-{i:04}",
         "state": "reported" if i % 3 else "assessed", "due": first + timedelta(days=DUE_OFFSETS[i % 9])}
        for org_id in org_ids for i in range(plan.records_per_org)
    ]  # fmt: skip
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO record (org_id, workflow_key, workflow_version, number, title, state, data,"
                " participants, clause_refs, due_date, created_at, updated_at, version)"
                " VALUES (:org, :key, :version, :number, '记录', :state, '{}', '{}', '[]', :due,"
                " '2027-03-01', '2027-03-01', 1)"
            ),
            rows,
        )
        connection.execute(
            text(
                "INSERT INTO task (org_id, record_id, state, role, due_date, opened_at)"
                " SELECT org_id, id, state, 'quality_manager', due_date, created_at FROM record"
            )
        )


def expected_claims(db: Database, day: date) -> set[tuple[str, int, str, str]]:
    """What the reminder and overdue jobs must have done once as of ``day``: (job, org, subject, period),
    worked out here from the workflow file's ladder, not by the jobs."""
    nc = WorkflowCatalog.load().get("nonconformity")
    assert nc is not None
    with db.engine.connect() as connection:
        tasks = connection.execute(text("SELECT id, org_id, state, due_date FROM task")).all()
    claims = set()
    for task_id, org_id, state, due in tasks:
        passed = (day - due).days
        ladder = nc.spec.states[state].ladder
        reached = [rung for rung in ladder if rung.offset_days <= passed]
        if reached:
            claims.add(
                ("reminders", org_id, f"task:{task_id}", f"{reached[-1].offset_days:+d}:{due.isoformat()}")
            )
        elif not ladder and passed > 0:
            claims.add(("overdue", org_id, f"task:{task_id}", due.isoformat()))
    return claims


def expected_slots(start: datetime, minutes: int) -> set[tuple[str, str]]:
    return {
        (job.name, job.slot(start + timedelta(minutes=m)).isoformat()) for job in JOBS for m in range(minutes)
    }


def slots_claimed(db: Database) -> set[tuple[str, str]]:
    with db.engine.connect() as connection:
        return {
            (job, period)
            for job, period in connection.execute(
                text("SELECT job, period FROM scheduler_claim WHERE subject = 'slot'")
            )
        }


def run_t25(server_url: str, plan: Plan) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder, scratch_database(server_url) as url:
        db = Database(url)
        try:
            upgrade(db.engine)
            seed(db, plan)
            return _measure(db, Path(folder), url, plan)
        finally:
            db.dispose()


def _measure(db: Database, folder: Path, url: str, plan: Plan) -> dict[str, float]:
    wait = plan.deadline_seconds
    first = Run(folder, url, START, plan)
    minute = timedelta(minutes=1)
    try:
        first.launch("before")
        wait_for(lambda: first.leader() is not None, seconds=wait, what="a leader")
        wait_for(
            lambda: expected_slots(START, plan.kill_at + 1) <= slots_claimed(db),
            seconds=wait,
            what="minute 5",
        )
        leader = first.leader()
        assert leader is not None
        first.procs[leader].send_signal(signal.SIGKILL)  # the leader dies mid-work
        first.procs[leader].wait()
        killed_at = time.monotonic()
        killed_slot = max(p for j, p in slots_claimed(db) if j == JOBS[0].name)  # the dead leader's last
        taken_over = lambda: any(p > killed_slot for j, p in slots_claimed(db) if j == JOBS[0].name)  # noqa: E731
        wait_for(taken_over, seconds=wait, what="failover")
        failover_seconds = time.monotonic() - killed_at
        new_slot = min(p for j, p in slots_claimed(db) if j == JOBS[0].name and p > killed_slot)
        failover = round((datetime.fromisoformat(new_slot) - datetime.fromisoformat(killed_slot)) / minute)
        wait_for(
            lambda: expected_slots(START, plan.minutes) <= slots_claimed(db), seconds=wait, what="minute 10"
        )
        new_leader = first.leader()
    finally:
        first.stop()
    assert new_leader is not None and new_leader != leader
    day_one = expected_claims(db, START.date())
    done_before = _claims(db)
    restart = START + (plan.minutes + plan.downtime) * minute
    second = Run(folder, url, restart, plan)
    try:
        second.launch("after")
        wait_for(
            lambda: expected_slots(restart, plan.after) <= slots_claimed(db), seconds=wait, what="the restart"
        )
    finally:
        second.stop()
    day_two = expected_claims(db, restart.date())
    done = _claims(db)
    fell_due = day_two - day_one  # work that fell due while every process was stopped
    windows = expected_slots(START, plan.minutes) | expected_slots(restart, plan.after)
    taken = first.taken() + second.taken()
    downtime = expected_slots(START + plan.minutes * minute, plan.downtime) - windows
    notified = _notifications(db)
    once = sum(
        1 for claim in fell_due if claim in done and notified.get(claim[2], {}).get(restart.date()) == 1
    )
    return {
        "processes": plan.processes,
        "slots_expected": len(windows),
        "executions_per_slot": sum(taken[slot] for slot in windows) / len(windows),
        "slots_missed": len(windows - slots_claimed(db)),
        "slots_run_twice": sum(1 for count in taken.values() if count > 1),
        # Only what the restarted processes ran: on a busy machine the first ones may still take a slot or
        # two of the downtime while they stop, which is live work, not a replay.
        "downtime_slots_replayed": len(downtime & set(second.taken())),
        "downtime_slots_taken_while_stopping": len(downtime & set(first.taken())),
        "failover_intervals": failover,
        "failover_seconds": failover_seconds,
        "due_actions_before_downtime": len(day_one),
        "due_actions_missed_before_downtime": len(day_one - done_before),
        "unexpected_actions": len(done - (day_one | day_two)),
        "duplicate_reminders": _duplicates(db),
        "notifications_per_action": sum(sum(days.values()) for days in notified.values()) / max(len(done), 1),
        "fell_due_during_downtime": len(fell_due),
        "after_downtime_overdue_processed_once": once / max(len(fell_due), 1),
    }


def _claims(db: Database) -> set[tuple[str, int, str, str]]:
    with db.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT job, org_id, subject, period FROM scheduler_claim"
                " WHERE job IN ('reminders', 'overdue') AND subject <> 'slot'"
            )
        ).all()
    return {(job, org_id, subject, period) for job, org_id, subject, period in rows}


def _notifications(db: Database) -> dict[str, dict[date, int]]:
    """Per task (`task:<id>`): reminders, escalations and overdue notices by China day."""
    with db.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT t.id, n.created_at FROM notification n JOIN task t ON t.record_id = n.record_id"
                " WHERE n.kind IN ('reminder', 'escalation', 'overdue')"
            )
        ).all()
    by_task: dict[str, dict[date, int]] = {}
    for task_id, created in rows:
        day = created.astimezone(CHINA_TIME).date()
        days = by_task.setdefault(f"task:{task_id}", {})
        days[day] = days.get(day, 0) + 1
    return by_task


def _duplicates(db: Database) -> int:
    """Reminders or escalations sent twice: the same notice to the same person about the same record."""
    with db.engine.connect() as connection:
        return int(
            connection.execute(
                text(
                    "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM notification"
                    " WHERE kind IN ('reminder', 'escalation', 'overdue')"
                    " GROUP BY org_id, user_id, record_id, kind, subject_zh) AS counted"
                )
            ).scalar()
        )


UNITS = {"failover_intervals": "intervals", "failover_seconds": "s", "processes": "count"}


def main() -> None:
    server = os.environ.get("TANGUAN_TEST_POSTGRES_URL") or os.environ.get("TANGUAN_DATABASE_URL")
    if not server or not server.startswith("postgres"):
        raise SystemExit("T25 needs PostgreSQL: set TANGUAN_TEST_POSTGRES_URL=postgresql://…")
    started = time.perf_counter()
    for name, value in run_t25(server, Plan()).items():
        unit = UNITS.get(name, "ratio" if "per_" in name or "once" in name else "count")
        print(f"{name}: {value:.2f} {unit}" if isinstance(value, float) else f"{name}: {value} {unit}")
    print(f"wall_time: {time.perf_counter() - started:.1f} s")
    print(f"measured_at: {datetime.now(UTC).date().isoformat()} date")


if __name__ == "__main__":
    main()

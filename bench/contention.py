"""`python -m bench.contention`: RELIABILITY T24 — SQLite write contention and pragmas; one `name: value unit`
per line.

8 processes (2 threads each) run read-then-write transactions through the app's own ``Database.unit_of_work``
on one SQLite file: each reads a counter, writes it back plus one and appends an audit event (which reads the
chain head and writes after it). Every connection the pools hand out is checked for the pragmas
(``journal_mode=wal``, ``busy_timeout>=5000``, ``foreign_keys=1``, ``synchronous=2``). Reported: the
"database is locked" errors, lost updates (the counter against the transactions committed), the chain
check, p50/p99 write latency. The peer, in the same run: the same read-then-write on the bare driver with a
deferred ``BEGIN`` (what the app avoids), counting its "database is locked" failures.

``--processes 8 --transactions 500`` (the default) is the catalogue's run; the suite runs 8 × 50."""

import argparse
import multiprocessing
import sqlite3
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

from bench.signing import percentile
from engine.audit import SYSTEM, Actor, append_event, verify_chain
from engine.db import Database
from engine.identity.models import OrganizationCreate
from engine.identity.organizations import create_organization
from engine.migrate import upgrade

BUSY_TIMEOUT_MS = 15000  # the app's default (TANGUAN_SQLITE_BUSY_TIMEOUT_MS)
THREADS = 2
EXPECTED_PRAGMAS = {"journal_mode": "wal", "foreign_keys": 1, "synchronous": 2}
LOCKED = ("database is locked", "database is busy", "SQLITE_BUSY")


@dataclass
class WorkerResult:
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    connections: int = 0
    bad_pragmas: list[str] = field(default_factory=list)


@dataclass
class Figures:
    processes: int
    transactions: int
    committed: int
    locked: int
    other_errors: list[str]
    counter: int
    chain_ok: bool
    chain_events: int
    connections_checked: int
    bad_pragmas: list[str]
    p50_ms: float
    p99_ms: float
    peer_locked: int = -1
    peer_committed: int = -1

    @property
    def lost_updates(self) -> int:
        return self.committed - self.counter

    def lines(self) -> list[str]:
        lines = [
            f"t24_processes: {self.processes} processes",
            f"t24_transactions: {self.transactions} transactions",
            f"t24_committed: {self.committed} transactions",
            f"t24_database_is_locked: {self.locked} errors",
            f"t24_other_errors: {len(self.other_errors)} errors",
            f"t24_lost_updates: {self.lost_updates} updates",
            f"t24_chain_verified: {int(self.chain_ok)} ok ({self.chain_events} events)",
            f"t24_connections_checked: {self.connections_checked} connections",
            f"t24_connections_with_wrong_pragmas: {len(self.bad_pragmas)} connections",
            f"t24_write_p50: {self.p50_ms:.1f} ms",
            f"t24_write_p99: {self.p99_ms:.1f} ms",
        ]
        if self.peer_committed >= 0:
            lines += [
                f"t24_peer_deferred_begin_committed: {self.peer_committed} transactions",
                f"t24_peer_deferred_begin_database_is_locked: {self.peer_locked} errors",
            ]
        return lines


def prepare(path: Path) -> int:
    """A migrated SQLite file with one organization and the counter table; the organization's id."""
    database = Database(f"sqlite:///{path}", busy_timeout_ms=BUSY_TIMEOUT_MS)
    try:
        upgrade(database.engine)
        with database.unit_of_work(all_orgs=True) as uow:
            org = create_organization(
                uow.session, data=OrganizationCreate(slug="t24", name="T24 写入竞争"), actor=SYSTEM
            )
            uow.session.execute(
                text("CREATE TABLE t24_counter (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)")
            )
            uow.session.execute(text("INSERT INTO t24_counter (id, value) VALUES (1, 0), (2, 0)"))
            assert org.id is not None
            return org.id
    finally:
        database.dispose()


def _pragmas(dbapi_connection: Any) -> dict[str, Any]:
    cursor = dbapi_connection.cursor()
    try:
        values = {name: cursor.execute(f"PRAGMA {name}").fetchone()[0] for name in EXPECTED_PRAGMAS}
        values["busy_timeout"] = cursor.execute("PRAGMA busy_timeout").fetchone()[0]
    finally:
        cursor.close()
    return values


def check_every_connection(database: Database, result: WorkerResult) -> None:
    """Every connection handed out by the pool (at each checkout) is checked once for the pragmas."""
    seen: set[int] = set()
    lock = threading.Lock()

    @event.listens_for(database.engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        with lock:
            if id(dbapi_connection) in seen:
                return
            seen.add(id(dbapi_connection))
            result.connections += 1
        values = _pragmas(dbapi_connection)
        wrong = {k: v for k, v in EXPECTED_PRAGMAS.items() if str(values[k]).lower() != str(v)}
        if wrong or values["busy_timeout"] < 5000:
            with lock:
                result.bad_pragmas.append(repr(values))


def _transactions(database: Database, org_id: int, worker: int, count: int, result: WorkerResult) -> None:
    actor = Actor(None, f"T24 进程 {worker}")
    for _ in range(count):
        started = time.perf_counter()
        try:
            with database.unit_of_work(org_id=org_id) as uow:
                value = uow.session.execute(text("SELECT value FROM t24_counter WHERE id = 1")).scalar_one()
                uow.session.execute(text("UPDATE t24_counter SET value = :v WHERE id = 1"), {"v": value + 1})
                append_event(
                    uow.session,
                    org_id=org_id,
                    actor=actor,
                    subject_type="t24_counter",
                    subject_id=1,
                    action="increment",
                    changes={"value": [value, value + 1]},
                )
        except Exception as error:  # counted and reported, never retried
            result.errors.append(f"{type(error).__name__}: {error}"[:300])
            continue
        result.latencies_ms.append((time.perf_counter() - started) * 1000)


def worker(path: str, org_id: int, number: int, count: int, start: Any, results: Any) -> None:
    """One process: THREADS threads sharing one app Database (its pool) for ``count`` transactions."""
    database = Database(f"sqlite:///{path}", busy_timeout_ms=BUSY_TIMEOUT_MS)
    result = WorkerResult()
    check_every_connection(database, result)
    shares = [count // THREADS + (1 if i < count % THREADS else 0) for i in range(THREADS)]
    threads = [
        threading.Thread(target=_transactions, args=(database, org_id, number, share, result))
        for share in shares
    ]
    start.wait()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    database.dispose()
    results.put(result)


def peer_worker(path: str, count: int, start: Any, results: Any) -> None:
    """The same read-then-write with a deferred BEGIN on the bare driver (same busy timeout)."""
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    committed = locked = 0
    start.wait()
    for _ in range(count):
        try:
            connection.execute("BEGIN")
            value = connection.execute("SELECT value FROM t24_counter WHERE id = 2").fetchone()[0]
            connection.execute("UPDATE t24_counter SET value = ? WHERE id = 2", (value + 1,))
            connection.execute("COMMIT")
            committed += 1
        except sqlite3.OperationalError as error:
            connection.execute("ROLLBACK") if connection.in_transaction else None
            if any(marker in str(error) for marker in LOCKED):
                locked += 1
            else:
                raise
    connection.close()
    results.put((committed, locked))


def _run_processes(target: Any, argument_lists: list[tuple[Any, ...]]) -> list[Any]:
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    results = context.Queue()
    processes = [context.Process(target=target, args=(*args, start, results)) for args in argument_lists]
    for process in processes:
        process.start()
    start.set()  # every process starts its transactions at once (start-up is not measured)
    collected = [results.get(timeout=3600) for _ in processes]
    for process in processes:
        process.join()
        assert process.exitcode == 0, f"a worker process exited with {process.exitcode}"
    return collected


def run_contention(
    directory: Path, *, processes: int = 8, transactions: int = 500, peer: bool = False
) -> Figures:
    path = directory / "t24.sqlite3"
    org_id = prepare(path)
    results: list[WorkerResult] = _run_processes(
        worker, [(str(path), org_id, number, transactions) for number in range(processes)]
    )
    latencies = [ms for result in results for ms in result.latencies_ms]
    errors = [error for result in results for error in result.errors]
    locked = [error for error in errors if any(marker in error for marker in LOCKED)]
    database = Database(f"sqlite:///{path}", busy_timeout_ms=BUSY_TIMEOUT_MS)
    try:
        with database.engine.connect() as connection:
            counter = connection.execute(text("SELECT value FROM t24_counter WHERE id = 1")).scalar_one()
            check = verify_chain(connection, org_id=org_id)
    finally:
        database.dispose()
    figures = Figures(
        processes=processes,
        transactions=processes * transactions,
        committed=len(latencies),
        locked=len(locked),
        other_errors=[error for error in errors if error not in locked],
        counter=counter,
        chain_ok=check.ok,
        chain_events=check.events_checked,
        connections_checked=sum(result.connections for result in results),
        bad_pragmas=[bad for result in results for bad in result.bad_pragmas],
        p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99),
    )
    if peer:
        answers = _run_processes(peer_worker, [(str(path), transactions) for _ in range(processes)])
        figures.peer_committed = sum(committed for committed, _ in answers)
        figures.peer_locked = sum(locked for _, locked in answers)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--transactions", type=int, default=500, help="per process")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tanguan-t24-") as directory:
        figures = run_contention(
            Path(directory), processes=options.processes, transactions=options.transactions, peer=True
        )
    for line in figures.lines():
        print(line)
    if figures.other_errors:
        print("\n".join(figures.other_errors[:10]))


if __name__ == "__main__":
    main()

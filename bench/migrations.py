"""`python -m bench.migrations`: RELIABILITY T27, migration safety, on SQLite and (with
TANGUAN_TEST_POSTGRES_URL, a server where it may create and drop databases) on PostgreSQL; one
`name: value unit` per line.

From every revision in migrations/versions (each is a release) to the head, on a production-like dataset:
the demo enterprise is seeded at the head and a copy is downgraded to the revision (the migrations' own
downgrades, in SQLite batch mode), which leaves that revision's schema holding the data it can hold. Its
tables are checksummed over their columns, the copy is upgraded to the head, and the same columns of the
same tables must give the same checksums; every audit chain verifies and the triggers are those of a
database built at the head. Then three `tanguan db upgrade` processes start at once on one PostgreSQL
database (empty, and at the first revision with the dataset): exactly one applies the migrations, the
others wait on the advisory lock and find nothing to do, and none fails."""

import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, text

from engine.audit import verify_chain
from engine.backup.checksums import compare, table_checksums, table_columns, triggers
from engine.db import Database
from engine.migrate import alembic_config, downgrade, upgrade, upgrade_with_report
from engine.storage import LocalStore

KEY = "migration-drill-installation-key-0123456789"
LOCK_KEY = 7_331_001  # migrations/env.py
TANGUAN = str(Path(sys.executable).with_name("tanguan"))


def revisions() -> list[str]:
    """Every revision, oldest first."""
    scripts = ScriptDirectory.from_config(alembic_config())
    return [script.revision for script in reversed(list(scripts.walk_revisions()))]


def seed(db: Database, evidence_dir: Path) -> None:
    from demo.seed import seed_demo
    from engine.workflow.catalog import WorkflowCatalog

    upgrade(db.engine)
    with db.unit_of_work(all_orgs=True) as uow:
        seed_demo(
            uow.session,
            catalog=WorkflowCatalog.load(),
            secret_key=KEY,
            evidence_store=LocalStore(evidence_dir),
        )


@dataclass(frozen=True)
class Rehearsal:
    revision: str
    tables: int
    rows: int
    changed: list[str]  # tables whose earlier rows or columns differ after the upgrade
    chains: int
    chains_intact: int
    missing_triggers: set[str]
    downgrade_seconds: float
    upgrade_seconds: float


def rehearse(url: str, revision: str, *, head_triggers: set[str]) -> Rehearsal:
    """Downgrade the copy at ``url`` to ``revision``, checksum, upgrade to the head, check."""
    db = Database(url)
    try:
        started = time.perf_counter()
        downgrade(db.engine, revision)
        downgraded = time.perf_counter()
        with db.engine.connect() as connection, connection.begin():
            columns = {
                name: cols for name, cols in table_columns(connection).items() if name != "alembic_version"
            }
            before = table_checksums(connection, columns=columns)
        upgrade_started = time.perf_counter()
        upgrade_with_report(db.engine)
        upgraded = time.perf_counter()
        with db.engine.connect() as connection:
            with connection.begin():
                after = table_checksums(connection, columns=columns)
                present = triggers(connection)
            orgs = connection.execute(text("SELECT org_id FROM audit_chain_head")).scalars().all()
            checks = [verify_chain(connection, org_id=org_id) for org_id in orgs]
    finally:
        db.dispose()
    return Rehearsal(
        revision=revision,
        tables=len(columns),
        rows=sum(total.rows for total in before.values()),
        changed=compare(before, after),
        chains=len(checks),
        chains_intact=sum(check.ok for check in checks),
        missing_triggers=head_triggers - present,
        downgrade_seconds=downgraded - started,
        upgrade_seconds=upgraded - upgrade_started,
    )


class Copies:
    """A seeded database at the head, and copies of it (SQLite's backup API, PostgreSQL's TEMPLATE)."""

    def __init__(self, backend: str, directory: Path, server_url: str | None) -> None:
        self.backend, self.directory, self.server_url = backend, directory, server_url
        self._stack: list[Callable[[], None]] = []
        self.template = self.empty("template")
        db = Database(self.template)
        try:
            seed(db, directory / "evidence")
            with db.engine.connect() as connection:
                self.head_triggers = triggers(connection)
        finally:
            db.dispose()

    def empty(self, name: str, template: str | None = None) -> str:
        if self.backend == "sqlite":
            return f"sqlite:///{self.directory / (name + '.sqlite3')}"
        from bench.t25 import scratch_database

        assert self.server_url is not None
        context = scratch_database(self.server_url, prefix="t27", template=template)
        url = context.__enter__()
        self._stack.append(lambda: context.__exit__(None, None, None))
        return url

    def copy(self, name: str) -> str:
        if self.backend == "postgresql":
            return self.empty(name, template=self.template)
        url = self.empty(name)
        source = sqlite3.connect(self.template.removeprefix("sqlite:///"))
        target = sqlite3.connect(url.removeprefix("sqlite:///"))
        with closing(source), closing(target):
            source.backup(target)
        return url

    def close(self) -> None:
        while self._stack:
            self._stack.pop()()


@contextmanager
def copies(backend: str, server_url: str | None) -> Iterator[Copies]:
    with tempfile.TemporaryDirectory(prefix="t27-") as scratch:
        made = Copies(backend, Path(scratch), server_url)
        try:
            yield made
        finally:
            made.close()


@dataclass(frozen=True)
class Concurrent:
    applied: int  # processes that applied migrations
    idle: int  # processes that found nothing to do
    failed: int
    waited: int  # processes seen queueing on the advisory lock when it was released
    seconds: float
    outputs: list[str]


APPLIED = re.compile(r"^applied (\d+) migrations", re.M)


def concurrent_upgrades(url: str, *, processes: int = 3) -> Concurrent:
    """``processes`` × `tanguan db upgrade` on one PostgreSQL database, released together: the lock is held
    here until every process waits on it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANGUAN_")}
    with tempfile.TemporaryDirectory(prefix="t27-") as data_dir:
        env.update(TANGUAN_DATABASE_URL=url, TANGUAN_DATA_DIR=data_dir)
        holder = create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with holder.connect() as connection:
                connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": LOCK_KEY})
                started = time.perf_counter()
                running = [
                    subprocess.Popen(
                        [TANGUAN, "db", "upgrade"],
                        env=env,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        text=True,
                    )
                    for _ in range(processes)
                ]
                _wait_until(
                    lambda: _waiting(connection) >= processes or any(p.poll() is not None for p in running)
                )
                waited = _waiting(connection)
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
                outputs = [" ".join(p.communicate(timeout=600)) for p in running]
                seconds = time.perf_counter() - started
        finally:
            holder.dispose()
    codes = [p.returncode for p in running]
    return Concurrent(
        applied=sum(
            bool(APPLIED.search(out)) and code == 0 for out, code in zip(outputs, codes, strict=True)
        ),
        idle=sum("nothing to apply" in out and code == 0 for out, code in zip(outputs, codes, strict=True)),
        failed=sum(code != 0 for code in codes),
        waited=waited,
        seconds=seconds,
        outputs=outputs,
    )


def _waiting(connection: Connection) -> int:
    waiting: int = connection.execute(
        text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = :key "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ),
        {"key": LOCK_KEY},
    ).scalar_one()
    return waiting


def _wait_until(condition: Callable[[], object], *, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"T27: not within {seconds:.0f} s")
        time.sleep(0.05)


def _share(results: list[Rehearsal], passed: Callable[[Rehearsal], bool]) -> str:
    return f"{100.0 * sum(passed(r) for r in results) / len(results):.1f} %"


def _downgraded(url: str, revision: str) -> str:
    db = Database(url)
    try:
        downgrade(db.engine, revision)
    finally:
        db.dispose()
    return url


def main() -> None:
    server_url = os.environ.get("TANGUAN_TEST_POSTGRES_URL")
    backends = ["sqlite", "postgresql"] if server_url else ["sqlite"]
    every = revisions()
    print(f"revisions: {len(every)} ({every[0]} … {every[-1]})")
    for backend in backends:
        started = time.perf_counter()
        with copies(backend, server_url) as made:
            print(f"{backend}_seed_s: {time.perf_counter() - started:.1f} s")
            results = [
                rehearse(made.copy(f"r{revision}"), revision, head_triggers=made.head_triggers)
                for revision in every[:-1]
            ]
            for r in results:
                print(
                    f"{backend}_from_{r.revision}: tables {r.tables}, rows {r.rows}, "
                    f"changed {len(r.changed)}, chains {r.chains_intact}/{r.chains}, "
                    f"missing triggers {len(r.missing_triggers)}, "
                    f"downgrade {r.downgrade_seconds:.2f} s, upgrade {r.upgrade_seconds:.2f} s"
                )
            print(f"{backend}_revisions_checked: {len(results)}")
            print(f"{backend}_checksums_preserved_pct: {_share(results, lambda r: not r.changed)}")
            print(f"{backend}_chains_intact_pct: {_share(results, lambda r: r.chains_intact == r.chains)}")
            print(f"{backend}_triggers_present_pct: {_share(results, lambda r: not r.missing_triggers)}")
            print(f"{backend}_upgrade_max_s: {max(r.upgrade_seconds for r in results):.2f} s")
            if backend == "postgresql":
                targets = (
                    ("empty", made.empty("empty")),
                    ("first_revision", _downgraded(made.copy("first"), every[0])),
                )
                for label, url in targets:
                    result = concurrent_upgrades(url)
                    print(
                        f"postgresql_concurrent_{label}: applied {result.applied}, "
                        f"nothing to do {result.idle}, errors {result.failed}, "
                        f"waited on the lock {result.waited}, {result.seconds:.1f} s"
                    )
        sys.stdout.flush()
    if not server_url:
        print("postgresql: skipped (TANGUAN_TEST_POSTGRES_URL is not set)")


if __name__ == "__main__":
    main()

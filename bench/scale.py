"""`python -m bench.scale [--backend sqlite|postgresql] [--small]`: Tanguan at the size of a group (issue 15
item 9); one `name: value unit` per line.

The dataset, in one database: the demo enterprise (``tanguan demo``: two organizations), 17 more small
organizations and one big one, whose carbon manager signs in. The big organization has 100,000 records
(copies of every demo record of every process, each with the tasks its template had), 1,000,000 audit events
(each copied record's own history, then field updates, spread over five years: a valid hash chain built
with engine.audit's canonical_json / chain_hash and bulk-inserted in one transaction with the append-only
triggers in place) and 200 emission sources with five years of monthly readings. ``--small`` builds a tenth.

Then ``tanguan serve`` (one worker) serves it and, signed in as that carbon manager, each page is fetched
50 times in a row (one user: p50/p95), each time under a URL of its own so that it is rendered, not
answered from a kept page (docs/adr/0048; ``NAME_kept_p95`` is the same URL again), and driven by wrk at 16
connections (req/s, p99, the share of ``/ping``): the same URL (kept) and a URL per request (``_rendered``).
PostgreSQL needs TANGUAN_TEST_POSTGRES_URL naming a server where a throw-away database may be created
(bench.t25).
"""

import argparse
import math
import os
import statistics
import subprocess
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.http import (
    HOST,
    PASSWORD,
    SESSION_COOKIE,
    bench_environment,
    free_port,
    sign_in,
    tanguan_script,
    wait_until_healthy,
)
from bench.wrk import run_wrk
from engine.audit import MIRRORED_COLUMNS

BIG_EMAIL = "carbon@group.example"
START = datetime(2021, 12, 1, tzinfo=UTC)  # the generated history runs from here to a day ago
YEARS = (2021, 2022, 2023, 2024, 2025)
SEQUENTIAL = 50


@contextmanager
def _database(backend: str, workdir: Path) -> Iterator[tuple[str, dict[str, str]]]:
    env = bench_environment(workdir / "var")
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'var' / 'tanguan.sqlite3'}", env
        return
    from bench.t25 import scratch_database

    server = os.environ.get("TANGUAN_TEST_POSTGRES_URL") or os.environ.get("TANGUAN_DATABASE_URL")
    if not server:
        raise SystemExit("bench.scale: set TANGUAN_TEST_POSTGRES_URL for --backend postgresql")
    with scratch_database(server, prefix="scale") as url:
        key = "scale-bench-installation-key-0123456789abcdef"  # instances sharing a database need one key
        yield url, {**env, "TANGUAN_DATABASE_URL": url, "TANGUAN_SECRET_KEY": key}


def _services(url: str, *, sources: int, small_orgs: int) -> tuple[int, int]:
    """The organizations, the big one's carbon manager, unit and sources, through the services, dated at the
    start of the generated history (the chain's time order then holds)."""
    import engine.audit
    from engine.audit import SYSTEM
    from engine.carbon_data.sources import add_source
    from engine.db import Database
    from engine.identity.models import OrganizationCreate, OrgUnitKind
    from engine.identity.organizations import add_org_unit, create_organization
    from engine.identity.users import create_user, grant_membership

    real_now = engine.audit.utcnow
    engine.audit.utcnow = lambda: START  # type: ignore[assignment]
    db = Database(url)
    try:
        with db.unit_of_work(all_orgs=True) as uow:
            session = uow.session
            for number in range(small_orgs):
                create_organization(
                    session,
                    data=OrganizationCreate(slug=f"plant{number:02d}", name=f"集团分厂{number:02d}"),
                    actor=SYSTEM,
                )
            big = create_organization(
                session, data=OrganizationCreate(slug="group-big", name="集团大型水泥厂"), actor=SYSTEM
            )
            assert big.id is not None
            user = create_user(session, email=BIG_EMAIL, display_name="集团碳管理专员", password=PASSWORD)
            grant_membership(session, org_id=big.id, user=user, roles=["carbon_manager"], actor=SYSTEM)
            unit = add_org_unit(
                session, org_id=big.id, kind=OrgUnitKind.facility, code="F01", name="一号厂区", actor=SYSTEM
            )
            assert unit.id is not None and user.id is not None
            for index in range(sources):
                add_source(
                    session,
                    org_id=big.id,
                    actor=SYSTEM,
                    org_unit_id=unit.id,
                    code=f"S{index:04d}",
                    name=f"排放源 {index}",
                    category="purchased_electricity",
                    fuel_or_material=None,
                    unit="kWh",
                    parameters={},
                    tier="measured",
                )
        return big.id, user.id
    finally:
        engine.audit.utcnow = real_now  # type: ignore[assignment]
        db.dispose()


def _json_text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _moment(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


class _Writer:
    """Bulk inserts on the driver: COPY on PostgreSQL, executemany on SQLite; one transaction."""

    def __init__(self, url: str) -> None:
        self.postgres = url.startswith("postgresql")
        if self.postgres:
            import psycopg
            from sqlalchemy.engine import make_url

            plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
            self.connection: Any = psycopg.connect(plain)
        else:
            import sqlite3

            self.connection = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
            self.connection.execute("PRAGMA synchronous=OFF")
            self.connection.execute("BEGIN")

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self.connection.cursor()
        cursor.execute(sql.replace("?", "%s") if self.postgres else sql, params)
        return list(cursor.fetchall())

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.connection.cursor().execute(sql.replace("?", "%s") if self.postgres else sql, params)

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        names = ", ".join(columns)
        if self.postgres:
            with self.connection.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" for _ in columns)
            self.connection.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)

    def commit(self) -> None:
        self.connection.execute("COMMIT") if not self.postgres else self.connection.commit()
        if self.postgres:
            self.connection.autocommit = True
        self.connection.execute("ANALYZE")
        self.connection.close()


RECORD_COLUMNS = (
    "id, workflow_key, workflow_version, number, title, state, data, participants, clause_refs, due_date, "
    "closed_at, version"
)
# The row engine.audit.append_event writes, in its order.
EVENT_COLUMNS = ("org_id", *MIRRORED_COLUMNS, "prev_hash", "hash", "payload")


def _bulk(url: str, *, org_id: int, user_id: int, records: int, events: int, source_count: int) -> None:
    """Records, tasks and the audit chain copied from the demo organization's, and the monthly readings."""
    from engine.audit import canonical_json, chain_hash
    from engine.carbon_data.parsing import month_start
    from engine.models.base import utc_iso

    w = _Writer(url)
    templates = w.rows(f"SELECT {RECORD_COLUMNS} FROM record WHERE org_id = 1 ORDER BY id")
    tasks_of: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for task in w.rows(
        "SELECT record_id, state, role, due_date, detail, closed_at FROM task WHERE org_id = 1"
    ):
        tasks_of[task[0]].append(task[1:])
    history: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for event in w.rows(
        "SELECT subject_id, action, from_state, to_state, reason, payload FROM audit_event "
        "WHERE org_id = 1 AND subject_type = 'record' ORDER BY seq"
    ):
        history[event[0]].append(event[1:])
    ((last_seq, last_hash),) = w.rows(
        "SELECT last_seq, last_hash FROM audit_chain_head WHERE org_id = ?", (org_id,)
    )
    ((next_id,),) = w.rows("SELECT coalesce(max(id), 0) + 1 FROM record")
    ((next_task,),) = w.rows("SELECT coalesce(max(id), 0) + 1 FROM task")

    replayed = sum(len(history[str(t[0])]) for t in templates) * records / len(templates)
    filler = max(0, math.floor((events - last_seq - replayed) / records))
    extra = max(0, events - last_seq - int(replayed) - filler * records)
    end = datetime.now(UTC) - timedelta(days=1)
    step = (end - START) / (events - last_seq + 1)
    seq, prev = last_seq, last_hash
    event_rows: list[tuple[Any, ...]] = []
    record_rows: list[tuple[Any, ...]] = []
    task_rows: list[tuple[Any, ...]] = []

    def append(subject: int, action: str, from_state: Any, to_state: Any, reason: Any, changes: Any) -> str:
        nonlocal seq, prev
        seq += 1
        ts = utc_iso(START + step * (seq - last_seq))
        row = {
            "org_id": org_id,
            "seq": seq,
            "ts": ts,
            "actor_id": user_id,
            "actor_name": "集团碳管理专员",
            "subject_type": "record",
            "subject_id": str(subject),
            "action": action,
            "from_state": from_state,
            "to_state": to_state,
            "reason": reason,
            "signature_id": None,
        }
        payload = canonical_json({**row, "changes": changes})
        prev = chain_hash(prev, payload)
        event_rows.append((*row.values(), None, prev, payload))
        return ts

    for index in range(records):
        template = templates[index % len(templates)]
        copy = index // len(templates)
        record_id = next_id + index
        first = last = ""
        for action, from_state, to_state, reason, payload in history[str(template[0])]:
            last = append(record_id, action, from_state, to_state, reason, orjson.loads(payload)["changes"])
            first = first or last
        for number in range(filler + (1 if index < extra else 0)):
            last = append(
                record_id, "update", None, None, None, {"remark": [None, f"第 {number + 1} 次补充说明"]}
            )
            first = first or last
        if not first:
            first = last = append(record_id, "create", None, template[5], None, {})
        closed = last if template[10] is not None else None
        record_rows.append(
            (
                org_id,
                record_id,
                template[1],
                template[2],
                f"{template[3]}-G{copy:04d}",
                f"{template[4]}（{copy}）",
                template[5],
                _json_text(template[6]),
                _json_text(template[7]),
                _json_text(template[8]),
                None,
                None,
                template[9],
                user_id,
                first,
                last,
                closed,
                template[11],
            )
        )
        for state, role, due, detail, task_closed in tasks_of[template[0]]:
            task_rows.append(
                (
                    org_id,
                    next_task + len(task_rows),
                    record_id,
                    state,
                    role,
                    None,
                    due,
                    detail,
                    first,
                    last if task_closed is not None else None,
                )
            )
    fixed = []
    previous = last_hash
    for row in event_rows:  # prev_hash is the hash before it in the chain
        fixed.append((*row[:12], previous, row[13], row[14]))
        previous = row[13]
    w.insert(
        "record",
        (
            "org_id",
            "id",
            "workflow_key",
            "workflow_version",
            "number",
            "title",
            "state",
            "data",
            "participants",
            "clause_refs",
            "owner_id",
            "assignee_id",
            "due_date",
            "created_by",
            "created_at",
            "updated_at",
            "closed_at",
            "version",
        ),
        record_rows,
    )
    w.insert(
        "task",
        (
            "org_id",
            "id",
            "record_id",
            "state",
            "role",
            "assignee_id",
            "due_date",
            "detail",
            "opened_at",
            "closed_at",
        ),
        task_rows,
    )
    w.insert("audit_event", EVENT_COLUMNS, fixed)
    w.execute(
        "UPDATE audit_chain_head SET last_seq = ?, last_hash = ? WHERE org_id = ?", (seq, previous, org_id)
    )
    sources = [r[0] for r in w.rows("SELECT id FROM emission_source WHERE org_id = ? ORDER BY id", (org_id,))]
    assert len(sources) == source_count
    months = [month_start(year, month) for year in YEARS for month in range(1, 13)]
    stamp = (lambda m: m) if w.postgres else (lambda m: m.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"))
    w.insert(
        "activity_reading",
        ("org_id", "source_id", "period_start", "quantity", "tier"),
        (
            (org_id, source, stamp(moment), 1_000_000_000 + (source * 7919 + index) % 500_000_000, "measured")
            for source in sources
            for index, moment in enumerate(months)
        ),
    )
    if w.postgres:
        for table in ("record", "task"):
            w.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
    w.commit()


def build(url: str, env: dict[str, str], workdir: Path, *, small: bool) -> int:
    """Builds the group; prints its size and how long it took; returns the big organization's id."""
    from engine.audit import verify_chain
    from engine.carbon_data.versions import EVERY_YEAR, bump_input_versions
    from engine.db import Database

    scale = 10 if small else 1
    tanguan = tanguan_script()
    started = time.perf_counter()
    for command in (["db", "upgrade"], ["demo"]):
        subprocess.run([tanguan, *command], cwd=workdir, env=env, stdout=subprocess.DEVNULL, check=True)
    org_id, user_id = _services(url, sources=200 // scale, small_orgs=17)
    _bulk(
        url,
        org_id=org_id,
        user_id=user_id,
        records=100_000 // scale,
        events=1_000_000 // scale,
        source_count=200 // scale,
    )
    db = Database(url)
    with db.unit_of_work(all_orgs=True) as uow:  # written past the services: say so, as an import would
        bump_input_versions(uow.session, org_id=org_id, years=[EVERY_YEAR, *YEARS])
    print(f"build_s: {time.perf_counter() - started:.1f} s", flush=True)
    started = time.perf_counter()
    with db.engine.connect() as connection:
        check = verify_chain(connection, org_id=org_id)
    if not check.ok:
        raise SystemExit(f"bench.scale: the generated chain does not verify: {check}")
    print(
        f"verify_chain_s: {time.perf_counter() - started:.1f} s ({check.events_checked} events)", flush=True
    )
    with db.engine.connect() as connection:
        from sqlalchemy import text

        for table in ("organization", "record", "task", "audit_event", "activity_reading"):
            count = connection.execute(text(f"SELECT count(*) FROM {table}")).scalar()
            print(f"rows_{table}: {count} rows", flush=True)
    db.dispose()
    return org_id


def _pages(url: str, org_id: int) -> list[tuple[str, str]]:
    """The pages measured: the busiest process, its commonest state, a title word, a long history."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as connection:
        workflow, count = connection.execute(
            text(
                "SELECT workflow_key, count(*) FROM record WHERE org_id = :org GROUP BY workflow_key "
                "ORDER BY count(*) DESC LIMIT 1"
            ),
            {"org": org_id},
        ).one()
        state = connection.execute(
            text(
                "SELECT state FROM record WHERE org_id = :org AND workflow_key = :w GROUP BY state "
                "ORDER BY count(*) DESC LIMIT 1"
            ),
            {"org": org_id, "w": workflow},
        ).scalar_one()
        record_id = connection.execute(
            text(
                "SELECT subject_id FROM audit_event WHERE org_id = :org AND subject_type = 'record' "
                "AND action <> 'update' GROUP BY subject_id ORDER BY count(*) DESC, subject_id LIMIT 1"
            ),
            {"org": org_id},
        ).scalar_one()
    engine.dispose()
    print(f"# busiest process {workflow}: {count} records; state {state}; record {record_id}", flush=True)
    return [
        ("list_all", f"/records/{workflow}"),
        ("list_state", f"/records/{workflow}?state={state}"),
        ("list_search", f"/records/{workflow}?q=%E6%95%B0%E6%8D%AE"),  # 数据
        ("record_page", f"/r/{record_id}"),
        ("audit_subject", f"/audit?subject_type=record&subject_id={record_id}"),
        ("audit_period", "/audit?date_from=2023-03-01&date_to=2023-03-31"),
        ("dashboard", "/"),
        ("inbox", "/notifications"),
    ]


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


def _drain(base_url: str) -> None:
    """Waits until the server has finished what an earlier wrk run left queued (wrk stops counting, not the
    server): /ping answers quickly twice in a row, or two minutes pass."""
    deadline, quick = time.monotonic() + 120, 0
    while quick < 2 and time.monotonic() < deadline:
        started = time.perf_counter()
        httpx.get(base_url + "/ping", timeout=120)
        quick = quick + 1 if time.perf_counter() - started < 0.05 else 0
        time.sleep(0.2)


def measure(url: str, env: dict[str, str], workdir: Path, org_id: int, *, seconds: float) -> None:
    tanguan = tanguan_script()
    pages = _pages(url, org_id)
    port = free_port()
    base_url = f"http://{HOST}:{port}"
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [tanguan, "serve", "--host", HOST, "--port", str(port), "--workers", "1"],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    missed: list[str] = []
    missed_c16: list[str] = []
    try:
        wait_until_healthy(server, base_url, log_path)
        cookie = f"{SESSION_COOKIE}={sign_in(base_url, BIG_EMAIL)}"
        with httpx.Client(base_url=base_url, headers={"Cookie": cookie}, timeout=120) as client:
            for name, path in pages:
                # Rendered: a URL of its own per fetch (a query parameter the app ignores), so no fetch is
                # answered from a kept page (docs/adr/0048); then kept: the same URL again and again.
                rendered = _timings(client, path, fresh=True)
                kept = _timings(client, path, fresh=False)
                p95 = _percentile(rendered, 0.95)
                print(f"{name}_p50: {statistics.median(rendered):.1f} ms", flush=True)
                print(f"{name}_p95: {p95:.1f} ms", flush=True)
                print(f"{name}_kept_p95: {_percentile(kept, 0.95):.1f} ms", flush=True)
                if p95 >= 150:
                    missed.append(name)
        _drain(base_url)
        ping = run_wrk(base_url + "/ping", connections=16, seconds=seconds)
        print(f"ping_rps_c16: {ping.rps:.1f} req/s", flush=True)
        for name, path in pages:
            for label, fresh in (("", False), ("_rendered", True)):
                _drain(base_url)
                result = run_wrk(
                    base_url + path, connections=16, seconds=seconds, cookie=cookie, fresh_urls=fresh
                )
                print(f"{name}{label}_rps_c16: {result.rps:.1f} req/s", flush=True)
                print(f"{name}{label}_vs_ping_c16: {100 * result.rps / ping.rps:.1f} %", flush=True)
                print(f"{name}{label}_p99_c16: {result.p99_ms:.1f} ms", flush=True)
                if result.errors:
                    print(f"# {name}{label}: {result.errors} failed requests", flush=True)
                if not fresh and (result.rps < 0.3 * ping.rps or result.p99_ms >= 250):
                    missed_c16.append(name)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    print(f"load_average: {os.getloadavg()[0]:.2f}", flush=True)
    for label, names in (("pages_over_150ms_p95", missed), ("pages_missing_item8_at_c16", missed_c16)):
        print(f"{label}: {len(names)} pages{' (' + ', '.join(names) + ')' if names else ''}")


def _timings(client: httpx.Client, path: str, *, fresh: bool) -> list[float]:
    """Milliseconds of SEQUENTIAL fetches after one that warms the caches."""
    timings = []
    for attempt in range(SEQUENTIAL + 1):
        url = f"{path}{'&' if '?' in path else '?'}fresh={attempt}" if fresh else path
        started = time.perf_counter()
        answer = client.get(url)
        elapsed = 1000 * (time.perf_counter() - started)
        if answer.status_code != 200:
            raise SystemExit(f"bench.scale: {url} answered {answer.status_code}")
        if attempt:
            timings.append(elapsed)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--small", action="store_true", help="a tenth of the dataset, for a quick run")
    parser.add_argument("--seconds", type=float, default=10.0, help="each wrk run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tanguan-scale-") as folder:
        workdir = Path(folder)
        with _database(args.backend, workdir) as (url, env):
            org_id = build(url, env, workdir, small=args.small)
            measure(url, env, workdir, org_id, seconds=args.seconds)


if __name__ == "__main__":
    main()

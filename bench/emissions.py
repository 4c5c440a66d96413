"""Benchmark of the emissions data services on SQLite files (python -m bench.emissions).

Prints one figure per line, ``name: value unit``:

    rows: N readings                        readings in the annual-inventory database
    inventory_annual_s: S s                 build_inventory for one year: SQL monthly sums + calculation
    monthly_totals_s: S s                   the SQL monthly sums alone (monthly_totals)
    inventory_json_s: S s                   inventory_to_json of that inventory (the JSON a page shows)
    groupby_clustered_s: S s                the same sums as one GROUP BY strftime(...) on activity_reading
    plain_groupby_s: S s                    that GROUP BY on an ordinary table without the clustered key
    ingest_readings_per_s: N readings/s     ingest_readings, batches of 100,000, one transaction each
    raw_executemany_per_s: N readings/s     sqlite3 executemany of the same rows into the same table
    xlsx_import_100k_s: S s                 import_readings of a 100,000-row xlsx, validation included
    page_first_view_s: S s                  GET /emissions of a real `tanguan serve` (demo data), first view
    page_rps_c16 / page_p99_c16             that page driven by wrk at 16 connections: req/s, p99 ms
    dashboard_rps_c16 / dashboard_p99_c16   the signed-in dashboard GET / in the same run (the peer)
    page_vs_dashboard: N %                  page_rps / dashboard_rps
    page_after_write_s: S s                 the first view after a reading changed through the service
    page_after_write_server_cpu_s: S s      the server's CPU time for that view (a recompute)
    page_cached_view_s: S s                 the view after that (cached again)
    big_…                                   the same on an organization of 500 sources × 8,760 readings

(bench.emissions_http says how the page figures are taken.)

Generating data (sources, 4.38 M readings, the xlsx file) is setup and not timed. The readings are
written hour by hour, as meters deliver them, not in key order. Timed runs are repeated and the
median is printed; ``--quick`` uses fewer sources for a smoke run.
"""

import argparse
import io
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.emissions_http import bench_page
from engine.audit import SYSTEM
from engine.carbon_data.aggregation import monthly_totals
from engine.carbon_data.imports import COLUMNS, header_text, import_readings
from engine.carbon_data.ingest import ingest_readings
from engine.carbon_data.inventory import build_inventory
from engine.carbon_data.parsing import LOCAL_TZ, month_start
from engine.carbon_data.sources import add_source
from engine.db import Database
from engine.identity.models import OrganizationCreate, OrgUnitKind
from engine.identity.organizations import add_org_unit, create_organization
from engine.migrate import upgrade

YEAR = 2025  # not a leap year: 8,760 hours
# (category, fuel or material, unit, parameters): a mix of what a plant meters.
KINDS = (
    ("purchased_electricity", None, "kWh", {}),
    ("combustion", "烟煤", "t", {}),
    ("combustion", "天然气", "Nm3", {}),
    ("combustion", "柴油", "t", {}),
    ("process", "熟料", "t", {"cao_content": "0.65", "mgo_content": "0.02"}),
    ("purchased_heat", None, "GJ", {}),
)
SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's storage format for DateTime on SQLite


def median_of(runs: int, action: Callable[[], object]) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def new_plant(path: Path, *, sources: int) -> tuple[Database, int, list[int]]:
    """A migrated SQLite file with one organization, 20 facilities and ``sources`` sources."""
    db = Database(f"sqlite:///{path}")
    upgrade(db.engine)
    with db.unit_of_work(all_orgs=True) as uow:
        session = uow.session
        org = create_organization(
            session, data=OrganizationCreate(slug="bench", name="基准测试水泥"), actor=SYSTEM
        )
        units = [
            add_org_unit(
                session,
                org_id=org.id,
                kind=OrgUnitKind.facility,
                code=f"F{i:02d}",
                name=f"设施{i:02d}",
                actor=SYSTEM,
            ).id
            for i in range(20)
        ]
        ids = []
        for index in range(sources):
            category, fuel, unit, parameters = KINDS[index % len(KINDS)]
            ids.append(
                add_source(
                    session,
                    org_id=org.id,
                    actor=SYSTEM,
                    org_unit_id=units[index % len(units)],
                    code=f"S{index:04d}",
                    name=f"排放源 {index}",
                    category=category,
                    fuel_or_material=fuel,
                    unit=unit,
                    parameters=parameters,
                    tier="measured",
                ).id
            )
    return db, org.id, ids


def hours_of(year: int) -> list[datetime]:
    start = month_start(year, 1)
    end = month_start(year + 1, 1)
    return [start + timedelta(hours=h) for h in range(int((end - start).total_seconds() // 3600))]


def fill_readings(path: Path, *, org_id: int, source_ids: list[int], hours: list[datetime]) -> int:
    """Hourly readings for every source, written hour by hour with the driver (setup)."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA synchronous=OFF")
    connection.execute("BEGIN")
    statement = (
        "INSERT INTO activity_reading (org_id, source_id, period_start, quantity, tier) "
        "VALUES (?, ?, ?, ?, 'measured')"
    )
    for index, moment in enumerate(hours):
        stamp = moment.strftime(SQLITE_DATETIME)
        connection.executemany(
            statement,
            [
                (org_id, source_id, stamp, 1_000_000 + (source_id * 7919 + index) % 500_000)
                for source_id in source_ids
            ],
        )
    connection.execute("COMMIT")
    count = connection.execute("SELECT count(*) FROM activity_reading").fetchone()[0]
    connection.execute("ANALYZE")
    connection.close()
    return count


GROUP_BY_SQL = (
    "SELECT source_id, strftime('%Y-%m', period_start, '+8 hours') AS month, sum(quantity) FROM {table} "
    "WHERE org_id = ? AND period_start >= ? AND period_start < ? GROUP BY source_id, month"
)


def bench_inventory(directory: Path, *, sources: int, runs: int) -> None:
    path = directory / "inventory.sqlite3"
    db, org_id, ids = new_plant(path, sources=sources)
    rows = fill_readings(path, org_id=org_id, source_ids=ids, hours=hours_of(YEAR))
    print(f"rows: {rows} readings", flush=True)
    results = []

    def build() -> None:
        with db.read_session(org_id=org_id) as session:
            results.append(build_inventory(session, org_id=org_id, year=YEAR))

    def sums() -> None:
        with db.read_session(org_id=org_id) as session:
            monthly_totals(session, org_id=org_id, year=YEAR)

    build()  # warm the OS page cache and the factor library, as a running server has them
    print(f"inventory_annual_s: {median_of(runs, build):.3f} s", flush=True)
    print(f"monthly_totals_s: {median_of(runs, sums):.3f} s", flush=True)
    inventory = results[-1].inventory
    from engine.emissions import inventory_to_json

    print(f"inventory_json_s: {median_of(runs, lambda: inventory_to_json(inventory)):.3f} s", flush=True)
    assert len(inventory.lines) == sources * 12, len(inventory.lines)
    db.dispose()

    connection = sqlite3.connect(path)
    bounds = (
        month_start(YEAR, 1).strftime(SQLITE_DATETIME),
        month_start(YEAR + 1, 1).strftime(SQLITE_DATETIME),
    )

    def group_by(table: str) -> Callable[[], object]:
        return lambda: connection.execute(GROUP_BY_SQL.format(table=table), (org_id, *bounds)).fetchall()

    print(f"groupby_clustered_s: {median_of(runs, group_by('activity_reading')):.3f} s", flush=True)
    connection.execute(
        "CREATE TABLE plain_reading (org_id INTEGER NOT NULL, source_id INTEGER NOT NULL, "
        "period_start DATETIME NOT NULL, quantity BIGINT NOT NULL, tier VARCHAR(16) NOT NULL)"
    )
    connection.execute(
        "INSERT INTO plain_reading SELECT org_id, source_id, period_start, quantity, tier "
        "FROM activity_reading ORDER BY period_start, source_id"
    )
    connection.commit()
    plain = group_by("plain_reading")
    plain()
    print(f"plain_groupby_s: {median_of(runs, plain):.3f} s", flush=True)
    connection.close()


def bench_ingest(directory: Path, *, sources: int, batches: int, batch_size: int) -> None:
    path = directory / "ingest.sqlite3"
    db, org_id, ids = new_plant(path, sources=sources)
    hours = hours_of(YEAR)
    per_batch_hours = batch_size // len(ids)
    requests = []
    for batch in range(batches):
        readings = [
            {
                "source_id": source_id,
                "period_start": moment.isoformat(),
                "quantity": 12.5 + (source_id % 7) * 0.25,
            }
            for moment in hours[batch * per_batch_hours : (batch + 1) * per_batch_hours]
            for source_id in ids
        ]
        requests.append(readings)
    started = time.perf_counter()
    total = 0
    for number, readings in enumerate(requests):
        with db.unit_of_work(org_id=org_id) as uow:
            result = ingest_readings(
                uow.session, org_id=org_id, readings=readings, idempotency_key=f"bench-{number}", actor=SYSTEM
            )
        total += result.inserted
    elapsed = time.perf_counter() - started
    print(f"ingest_readings_per_s: {total / elapsed:,.0f} readings/s", flush=True)
    db.dispose()

    # The same rows, already converted, through the driver's executemany into the same table.
    raw_path = directory / "raw.sqlite3"
    raw_db, raw_org, raw_ids = new_plant(raw_path, sources=sources)
    raw_db.dispose()
    connection = sqlite3.connect(raw_path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("PRAGMA foreign_keys=ON")
    statement = (
        "INSERT INTO activity_reading (org_id, source_id, period_start, quantity, tier, evidence_sha256, "
        "entered_by, batch_id, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    raw_batches = [
        [
            (
                raw_org,
                raw_ids[ids.index(r["source_id"])],
                datetime.fromisoformat(r["period_start"]).astimezone(UTC).strftime(SQLITE_DATETIME),
                int(r["quantity"] * 1_000_000),
                "measured",
                None,
                None,
                None,
                None,
            )
            for r in readings
        ]
        for readings in requests
    ]
    started = time.perf_counter()
    for rows in raw_batches:
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(statement, rows)
        connection.execute("COMMIT")
    elapsed = time.perf_counter() - started
    connection.close()
    print(f"raw_executemany_per_s: {total / elapsed:,.0f} readings/s", flush=True)


def bench_xlsx(directory: Path, *, rows: int, runs: int) -> None:
    from openpyxl import Workbook

    sources = 100
    path = directory / "import.sqlite3"
    db, org_id, _ = new_plant(path, sources=sources)
    hours = hours_of(YEAR)
    files = []
    for run in range(runs):
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("readings")
        sheet.append([header_text(key) for key, _, _ in COLUMNS])
        offset = run * (rows // sources)
        for index in range(rows):
            moment = hours[offset + index // sources].astimezone(LOCAL_TZ).replace(tzinfo=None)
            sheet.append([f"S{index % sources:04d}", moment, 10.25 + index % 13, None, None, None])
        buffer = io.BytesIO()
        workbook.save(buffer)
        files.append(buffer.getvalue())
    timings = []
    for number, content in enumerate(files):
        started = time.perf_counter()
        with db.unit_of_work(org_id=org_id) as uow:
            result = import_readings(
                uow.session, org_id=org_id, actor=SYSTEM, filename=f"readings-{number}.xlsx", content=content
            )
        timings.append(time.perf_counter() - started)
        assert result.inserted == rows, result
    print(f"xlsx_import_100k_s: {statistics.median(timings):.3f} s", flush=True)
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=500, help="sources in the annual inventory (500)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per figure (median)")
    parser.add_argument("--batches", type=int, default=5, help="ingestion batches of 100,000 readings")
    parser.add_argument("--dir", type=Path, default=None, help="directory for the SQLite files (a temp dir)")
    parser.add_argument(
        "--quick", action="store_true", help="50 sources, 1 ingestion batch, 10,000 xlsx rows"
    )
    parser.add_argument("--only", choices=("inventory", "ingest", "xlsx", "http", "http-big"), default=None)
    parser.add_argument("--seconds", type=float, default=10.0, help="wrk seconds per round (10)")
    parser.add_argument("--rounds", type=int, default=2, help="wrk rounds per URL, the best counts (2)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (16)")
    args = parser.parse_args()
    sources = 50 if args.quick else args.sources
    with tempfile.TemporaryDirectory(dir=args.dir) as name:
        directory = Path(name)
        if args.only in (None, "inventory"):
            bench_inventory(directory, sources=sources, runs=args.runs)
        if args.only in (None, "ingest"):
            bench_ingest(
                directory, sources=500, batches=1 if args.quick else args.batches, batch_size=100_000
            )
        if args.only in (None, "xlsx"):
            bench_xlsx(directory, rows=10_000 if args.quick else 100_000, runs=1 if args.quick else args.runs)
        for only, big in (("http", False), ("http-big", True)):
            if args.only in (None, only):
                bench_page(
                    directory,
                    year=YEAR,
                    big=big,
                    sources=sources,
                    seconds=args.seconds,
                    rounds=args.rounds,
                    connections=args.connections,
                )


if __name__ == "__main__":
    main()

"""`python -m bench.scheduler`: the scheduler's sweeps on SQLite, one `name: value unit` per line.

1. The reminder and overdue jobs over 100,000 open records (bulk-inserted), of which 1,000 are due: the first
   sweep acts on the 1,000, the second finds nothing left to do.
2. The data-quality control plan's monthly filing over a plan of 2,000 rows × 12 ended months: the first
   sweep opens 24,000 tasks (none filed), the second, with all of them open, does nothing.
The goal (issue 10): each sweep under 5 s."""

import json
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from engine.audit import SYSTEM
from engine.config import Settings
from engine.db import Database
from engine.identity.models import OrganizationCreate
from engine.identity.organizations import create_organization
from engine.identity.users import create_user, grant_membership
from engine.migrate import upgrade
from engine.records.display import CHINA_TIME
from engine.scheduler.jobs import JOBS
from engine.scheduler.runner import run_jobs
from engine.workflow.catalog import WorkflowCatalog
from engine.workflow.lifecycle import PROCESS_CONTEXT, ProcessContext

RECORDS, DUE = 100_000, 1_000
PLAN_ROWS = 2_000
NOW = datetime(2027, 3, 15, 9, tzinfo=CHINA_TIME)
FILING_NOW = datetime(2027, 1, 15, 9, tzinfo=CHINA_TIME)  # 2026's twelve months have ended


def _seed_records(db: Database, *, org_id: int, key: str, version: int) -> None:
    far, near = date(2030, 1, 1), date(2027, 3, 15)
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO record (org_id, workflow_key, workflow_version, number, title, state, data,"
                " participants, clause_refs, due_date, created_at, updated_at, version)"
                " VALUES (:org, :key, :version, :number, '记录', 'reported', '{}', '{}', '[]', :due,"
                " '2027-01-01', '2027-01-01', 1)"
            ),
            [
                {"org": org_id, "key": key, "version": version, "number": f"B-{i:06}",
                 "due": near - timedelta(days=i % 10) if i < DUE else far}
                for i in range(RECORDS)
            ],
        )  # fmt: skip
        connection.execute(
            text(
                "INSERT INTO task (org_id, record_id, state, role, due_date, opened_at)"
                " SELECT org_id, id, state, 'quality_manager', due_date, created_at FROM record"
            )
        )


def _seed_plan(db: Database, *, org_id: int, key: str, version: int, person: int) -> None:
    rows = [
        {"code": f"P-{i:04}", "parameter": f"参数 {i}", "kind": "activity", "subject": f"S-{i:04}",
         "unit": "t", "obtained": "metered", "frequency": "monthly", "missing_rule": "max_previous_12",
         "proof": "ledger_scan", "responsible": person, "department": None}
        for i in range(PLAN_ROWS)
    ]  # fmt: skip
    data = {"title": "基准计划", "effective_from": "2026-01-01", "revision_trigger": "first_issue",
            "revision_reason": "基准", "rows": rows}  # fmt: skip
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO record (org_id, workflow_key, workflow_version, number, title, state, data,"
                " participants, clause_refs, created_at, updated_at, version)"
                " VALUES (:org, :key, :version, 'DQCP-B', '基准计划', 'in_force', :data, '{}', '[]',"
                " '2026-01-01', '2026-01-01', 1)"
            ),
            {"org": org_id, "key": key, "version": version, "data": json.dumps(data, ensure_ascii=False)},
        )


def _timed(db: Database, *, now: datetime, settings: Settings, names: tuple[str, ...]) -> tuple[float, int]:
    started = time.perf_counter()
    lines = run_jobs(db, now=now, settings=settings, jobs=[job for job in JOBS if job.name in names])
    return time.perf_counter() - started, len(lines)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite:///{Path(folder) / 'bench.sqlite3'}")
        upgrade(db.engine)
        catalog = WorkflowCatalog.load()
        nc, plan = catalog.get("nonconformity"), catalog.get("dqcp")
        assert nc is not None and plan is not None
        db.session_info[PROCESS_CONTEXT] = ProcessContext(catalog, "bench-installation-key-0123456789abcdef")
        with db.unit_of_work(all_orgs=True) as uow:
            orgs = [
                create_organization(uow.session, data=OrganizationCreate(slug=slug, name=name), actor=SYSTEM)
                for slug, name in (("b", "基准一"), ("p", "基准二"))
            ]
            user = create_user(
                uow.session, email="q@b.example", display_name="质量", password="Bench-Pass-2026!"
            )
            for org in orgs:
                grant_membership(
                    uow.session, org_id=org.id, user=user, roles=["quality_manager"], actor=SYSTEM
                )
            catalog.register(uow.session)
            org_ids, person = [org.id for org in orgs], user.id
        assert all(org_ids) and person is not None
        started = time.perf_counter()
        _seed_records(db, org_id=org_ids[0], key=nc.key, version=nc.spec.version)
        print(f"seed_open_records: {time.perf_counter() - started:.2f} s")
        settings = Settings(data_dir=Path(folder))
        for run in ("first", "second"):
            seconds, actions = _timed(db, now=NOW, settings=settings, names=("reminders", "overdue"))
            print(f"sweep_100k_open_records_{run}: {seconds:.2f} s")
            print(f"sweep_100k_open_records_{run}_actions: {actions} actions")
        _seed_plan(db, org_id=org_ids[1], key=plan.key, version=plan.spec.version, person=person)
        for run in ("first", "second"):
            seconds, actions = _timed(db, now=FILING_NOW, settings=settings, names=("monthly_filing",))
            print(f"sweep_dqcp_2000_rows_x_12_months_{run}: {seconds:.2f} s")
            print(f"sweep_dqcp_2000_rows_x_12_months_{run}_actions: {actions} actions")
        db.dispose()
        print(f"measured_at: {datetime.now(UTC).date().isoformat()} date")


if __name__ == "__main__":
    main()

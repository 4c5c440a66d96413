"""`python -m bench.scheduler`: one sweep of the reminder and overdue jobs over 100,000 open records on SQLite
(bulk-inserted), of which 1,000 are due, then the same sweep again (nothing left to do)."""

import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import text

from engine.audit import SYSTEM
from engine.config import Settings
from engine.db import Database
from engine.identity.models import OrganizationCreate
from engine.identity.organizations import create_organization
from engine.identity.users import create_user, grant_membership
from engine.migrate import upgrade
from engine.scheduler.jobs import JOBS
from engine.scheduler.runner import run_jobs
from engine.workflow.catalog import WorkflowCatalog
from engine.workflow.lifecycle import PROCESS_CONTEXT, ProcessContext
from tests.scheduler.conftest import at

RECORDS, DUE = 100_000, 1_000


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite:///{Path(folder) / 'bench.sqlite3'}")
        upgrade(db.engine)
        catalog = WorkflowCatalog.load()
        nc = catalog.get("nonconformity")
        assert nc is not None
        db.session_info[PROCESS_CONTEXT] = ProcessContext(catalog, "bench-installation-key-0123456789abcdef")
        with db.unit_of_work(all_orgs=True) as uow:
            org = create_organization(
                uow.session, data=OrganizationCreate(slug="b", name="基准"), actor=SYSTEM
            )
            user = create_user(
                uow.session, email="q@b.example", display_name="质量", password="Bench-Pass-2026!"
            )
            grant_membership(uow.session, org_id=org.id, user=user, roles=["quality_manager"], actor=SYSTEM)
            catalog.register(uow.session)
        far, near = date(2030, 1, 1), date(2027, 3, 15)
        started = time.perf_counter()
        with db.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO record (org_id, workflow_key, workflow_version, number, title, state, data,"
                    " participants, clause_refs, due_date, created_at, updated_at, version)"
                    " VALUES (:org, :key, :version, :number, '记录', 'reported', '{}', '{}', '[]', :due,"
                    " '2027-01-01', '2027-01-01', 1)"
                ),
                [
                    {"org": org.id, "key": nc.key, "version": nc.spec.version, "number": f"B-{i:06}",
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
        print(f"seed {RECORDS} records: {time.perf_counter() - started:.2f} s")
        jobs = [job for job in JOBS if job.name in ("reminders", "overdue")]
        settings = Settings(data_dir=Path(folder))
        for name in ("first sweep (1,000 due of 100,000 open)", "second sweep (nothing due)"):
            started = time.perf_counter()
            lines = run_jobs(db, now=at("2027-03-15T09:00"), settings=settings, jobs=jobs)
            print(f"{name}: {time.perf_counter() - started:.2f} s ({len(lines)} actions)")
        db.dispose()


if __name__ == "__main__":
    main()

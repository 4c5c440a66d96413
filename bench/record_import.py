"""Bulk register import: N metering instruments from one xlsx sheet, against its peer.

python -m bench.record_import [--rows N] [--rounds R]

On a fresh SQLite file (WAL, synchronous=FULL) with the demo enterprise seeded:

    import      engine.records.bulk_import.import_records: read the sheet (python-calamine), match the
                header, resolve each unit and person by name, create every record through create_record
                (form validation, reference and unique checks, computed values, audit), one transaction
    peer        the same N records through create_record in one transaction from ready-made form data:
                everything the import does except reading the sheet and resolving names

Prints ``import: N rows/s``, ``peer_create_record: N rows/s`` and ``import_overhead: X %`` (the best of the
interleaved rounds of each). The unique check on the instrument code reads the rows written before it in
the same transaction, so both grow with N in the same way.
"""

import argparse
import os
import sys
import tempfile
import time
from io import BytesIO
from pathlib import Path
from typing import Any

os.environ.setdefault("TANGUAN_ARGON2_TIME_COST", "1")
os.environ.setdefault("TANGUAN_ARGON2_MEMORY_KIB", "8192")
os.environ.setdefault("TANGUAN_ARGON2_PARALLELISM", "1")

HEADER = [
    "器具编号",
    "器具名称",
    "器具类别",
    "所属设施",
    "测量参数",
    "计量级别（GB 17167）",
    "准确度等级",
    "检定/校准周期（月）",
    "责任人",
]


def _setup(path: Path) -> tuple[Any, Any, int, Any, dict[str, int]]:
    from sqlalchemy import text

    from demo.seed import DEMO_LOGINS, seed_demo
    from engine.db import Database
    from engine.identity.users import get_user_by_email
    from engine.migrate import upgrade
    from engine.workflow.access import ActorRef
    from engine.workflow.catalog import WorkflowCatalog
    from engine.workflow.lifecycle import PROCESS_CONTEXT, ProcessContext

    db = Database(f"sqlite:///{path}")
    upgrade(db.engine)
    catalog = WorkflowCatalog.load()
    db.session_info[PROCESS_CONTEXT] = ProcessContext(catalog, "bench-secret-key-" + "x" * 32)
    with db.unit_of_work(all_orgs=True) as uow:
        org = seed_demo(uow.session, catalog=catalog, secret_key="bench")
        carbon = get_user_by_email(uow.session, email=DEMO_LOGINS[1].email)
        assert org.id is not None and carbon is not None and carbon.id is not None
        actor = ActorRef(id=carbon.id, name=carbon.display_name, roles=frozenset({"carbon_manager"}))
        units = dict(
            uow.session.execute(text("SELECT code, id FROM org_unit WHERE org_id = :o"), {"o": org.id}).all()
        )
    return db, catalog, org.id, actor, units


def _sheet(rows: int) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(HEADER)
    for i in range(rows):
        sheet.append(
            [f"JL-B-{i:05d}", f"电能表 {i}", "电能表", "KILN1", "用电量", "主要用能设备", "1.0", 12, "周强"]
        )
    buffer = BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def run_import(rows: int) -> float:
    with tempfile.TemporaryDirectory() as directory:
        db, catalog, org_id, actor, _ = _setup(Path(directory) / "bench.db")
        from engine.records.bulk_import import import_records  # after the table registry is loaded

        content = _sheet(rows)
        workflow = catalog.get("metering_instrument")
        titles = {key: w.spec.title for key, w in catalog.current.items()}
        started = time.perf_counter()
        with db.unit_of_work(org_id=org_id) as uow:
            result = import_records(
                uow.session,
                workflow=workflow,
                org_id=org_id,
                actor=actor,
                content=content,
                catalog_titles=titles,
            )
        elapsed = time.perf_counter() - started
        assert len(result.created) == rows
        db.engine.dispose()
    return rows / elapsed


def run_peer(rows: int) -> float:
    from sqlalchemy import text

    from engine.workflow.lifecycle import create_record

    with tempfile.TemporaryDirectory() as directory:
        db, catalog, org_id, actor, units = _setup(Path(directory) / "bench.db")
        workflow = catalog.get("metering_instrument")
        with db.engine.connect() as connection:
            owner = connection.execute(
                text("SELECT id FROM user_account WHERE email = 'kiln@xiangfeng.example'")
            ).scalar_one()
        forms = [
            {
                "code": f"JL-B-{i:05d}",
                "name": f"电能表 {i}",
                "instrument_type": "electricity_meter",
                "facility": units["KILN1"],
                "parameter": "用电量",
                "energy_flow_class": "device",
                "accuracy_class": "1.0",
                "calibration_interval_months": "12",
                "responsible": owner,
            }
            for i in range(rows)
        ]
        started = time.perf_counter()
        with db.unit_of_work(org_id=org_id) as uow:
            for form in forms:
                create_record(uow.session, workflow=workflow, org_id=org_id, actor=actor, form_data=form)
        elapsed = time.perf_counter() - started
        db.engine.dispose()
    return rows / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    imported, peer = 0.0, 0.0
    for _ in range(args.rounds):  # interleaved, so that both see the same machine
        imported = max(imported, run_import(args.rows))
        peer = max(peer, run_peer(args.rows))
    print(f"import: {imported:.0f} rows/s")
    print(f"peer_create_record: {peer:.0f} rows/s")
    print(f"import_overhead: {(peer / imported - 1) * 100:.1f} %")
    print(f"rows: {args.rows} rows", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

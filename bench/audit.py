"""Audit-chain benchmark: append throughput (one transaction per event and batched) and verify speed.

python -m bench.audit [--events N]
"""

import argparse
import tempfile
import time
from pathlib import Path

from engine.audit import SYSTEM, Actor, append_event, verify_chain
from engine.db import Database
from engine.identity.models import OrganizationCreate
from engine.identity.organizations import create_organization
from engine.migrate import upgrade


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--single", type=int, default=2_000, help="events appended one transaction each")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        upgrade(db.engine)
        with db.unit_of_work(all_orgs=True) as uow:
            org_id = create_organization(
                uow.session, data=OrganizationCreate(slug="bench", name="bench"), actor=SYSTEM
            ).id
        actor = Actor(1, "李娜")

        def append(session, i: int) -> None:
            append_event(
                session,
                org_id=org_id,
                actor=actor,
                subject_type="record",
                subject_id=i % 500,
                action="transition",
                from_state="assessed",
                to_state="root_cause",
                changes={"severity": ["minor", "major"], "note": [None, f"第 {i} 条"]},
                reason="定期复核",
            )

        started = time.perf_counter()
        for i in range(args.single):
            with db.unit_of_work(org_id=org_id) as uow:
                append(uow.session, i)
        single = args.single / (time.perf_counter() - started)

        batch_count = args.events - args.single - 1
        started = time.perf_counter()
        with db.unit_of_work(org_id=org_id) as uow:
            for i in range(batch_count):
                append(uow.session, i)
        batched = batch_count / (time.perf_counter() - started)

        with db.engine.connect() as connection:
            started = time.perf_counter()
            check = verify_chain(connection, org_id=org_id)
            elapsed = time.perf_counter() - started
        assert check.ok and check.events_checked == args.events, check
        print(f"append_committed: {single:,.0f} events/s (sqlite, synchronous=FULL, one transaction each)")
        print(f"append_batched: {batched:,.0f} events/s (sqlite, one transaction)")
        print(f"verify: {check.events_checked / elapsed:,.0f} events/s ({check.events_checked:,} events)")
        db.dispose()


if __name__ == "__main__":
    main()

"""Check and act (issue 12): how fast the review-side reads answer on a busy year.

python -m bench.review [--records N] [--rounds R]

Builds one year of records on a fresh SQLite file with the demo enterprise seeded (its emissions data, the
performance parameters and targets): N records spread over the registers a management review reads —
nonconformities, improvement items, risks, communications, issues, requirements, obligations, resources,
objectives and action plans — inserted in bulk (the measurement is of reading them, not of creating
them), with an earlier approved review whose actions are among the improvement items. Then each
measurement runs its rounds and prints its best as one ``name: value unit`` line:

    review_pack_compile_seconds   the management-review input pack (all eleven sections of 9.4) compiled
                                  from that year by workflows/hooks/review_inputs.py — goal < 2 s
    coverage_map_p95_ms           the clause-coverage map over three years (two more years of as many
                                  records are added first) — goal < 300 ms at p95; its peer
    coverage_peer_p95_ms          is the same grouped count by hand: one written-out SQL statement and the
                                  rows placed under their clauses in plain Python (UTC years), no ORM,
                                  no statuses, no scores

A further measurement is a function (Year, rounds) → lines added to MEASUREMENTS.
"""

import argparse
import json
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("TANGUAN_ARGON2_TIME_COST", "1")
os.environ.setdefault("TANGUAN_ARGON2_MEMORY_KIB", "8192")
os.environ.setdefault("TANGUAN_ARGON2_PARALLELISM", "1")

YEAR = 2025
# workflow → (share of the records, states to spread them over, a data maker)
MIX: dict[str, tuple[float, tuple[str, ...]]] = {
    "nonconformity": (0.25, ("reported", "assessed", "implementing", "closed")),
    "improvement_item": (0.15, ("open_item", "item_done")),
    "risk_opportunity": (0.10, ("registered",)),
    "communication": (0.15, ("com_open", "com_done")),
    "context_issue": (0.05, ("monitored",)),
    "party_requirement": (0.05, ("identified",)),
    "compliance_obligation": (0.05, ("in_effect",)),
    "resource": (0.07, ("res_planned", "res_provided")),
    "carbon_objective": (0.03, ("pursuing",)),
    "action_plan": (0.10, ("planned", "in_progress", "done")),
}
LEVELS = ("low", "medium", "high", "very_high")


@dataclass(frozen=True)
class Year:
    db: Any
    org_id: int
    records: int
    review_id: int
    catalog: Any


def _data(key: str, number: int, rng: random.Random, day: date, previous_review: int) -> dict[str, Any]:
    if key == "nonconformity":
        return {"title": f"不符合 {number}", "source": "monitoring", "found_on": day.isoformat()}
    if key == "improvement_item":
        source = previous_review if number % 10 == 0 else None
        return {"title": f"改进 {number}", "source": "management_review", "source_record": source}
    if key == "risk_opportunity":
        return {"title": f"风险 {number}", "nature": "risk", "level": rng.choice(LEVELS)}
    if key == "communication":
        return {
            "subject": f"交流 {number}",
            "direction": rng.choice(("internal", "external")),
            "entry_kind": rng.choice(("planned", "received", "sent")),
            "party": "主管部门",
        }
    if key == "resource":
        return {"name": f"资源 {number}", "resource_kind": "technical", "needed_by": day.isoformat()}
    if key == "carbon_objective":
        return {"title": f"目标 {number}", "target_value": "100", "unit": "kgce/t"}
    return {"title": f"{key} {number}"}


def _rows(
    org_id: int,
    records: int,
    previous_review: int,
    versions: dict[str, int],
    clauses: dict[str, str],
    *,
    year: int = YEAR,
) -> Iterator[dict[str, Any]]:
    rng = random.Random(12 + year)
    start = datetime(year, 1, 1, tzinfo=UTC)
    serial = 0
    for key, (share, states) in MIX.items():
        for index in range(int(records * share)):
            serial += 1
            created = start + timedelta(minutes=rng.randrange(365 * 24 * 60))
            state = states[index % len(states)]
            closed = (
                created + timedelta(days=rng.randrange(1, 120))
                if state in ("closed", "item_done", "done", "com_done")
                else None
            )
            yield {
                "org_id": org_id, "workflow_key": key, "workflow_version": versions[key],
                "number": f"BENCH-{year}-{serial:06d}", "title": f"{key} {serial}", "state": state,
                "data": _data(key, serial, rng, created.date(), previous_review),
                "participants": {}, "clause_refs": [clauses[key]],
                "due_date": (created + timedelta(days=60)).date(),
                "created_at": created, "updated_at": closed or created, "closed_at": closed, "version": 1,
            }  # fmt: skip


def build_year(path: Path, records: int) -> Year:
    from sqlalchemy import insert

    import engine.models  # noqa: F401  # the table registry before any module's tables
    from demo.seed import DEMO_LOGINS, demo_people, seed_demo
    from engine.db import Database
    from engine.identity.users import get_user_by_email
    from engine.migrate import upgrade
    from engine.workflow.catalog import WorkflowCatalog
    from engine.workflow.lifecycle import PROCESS_CONTEXT, ProcessContext, create_record, fire_transition
    from engine.workflow.models import Record

    db = Database(f"sqlite:///{path}")
    upgrade(db.engine)
    catalog = WorkflowCatalog.load()
    db.session_info[PROCESS_CONTEXT] = ProcessContext(catalog, "bench-secret-key-" + "x" * 32)
    with db.unit_of_work(all_orgs=True) as uow:
        org = seed_demo(uow.session, catalog=catalog, secret_key="bench")
        assert org.id is not None and get_user_by_email(uow.session, email=DEMO_LOGINS[0].email)
        people = demo_people(uow.session)
        review = catalog.get("management_review")
        earlier = create_record(
            uow.session, workflow=review, org_id=org.id, actor=people["carbon_manager"],
            form_data={"title": "上年度管理评审", "review_year": str(YEAR - 1)},
        )  # fmt: skip
        assert earlier.id is not None
        version = 2
        for trigger, role, form in (
            ("record_review_meeting", "carbon_manager", {
                "meeting_date": date.today().isoformat(), "minutes": "会议纪要",
                "attendees": [{"attendee": people["top_management"].id}]}),
            ("submit_review_outputs", "carbon_manager", {
                "conclusion": "effective", "decisions": "保持", "policy_change": "unchanged",
                "objectives_change": "unchanged"}),
            ("approve_management_review", "top_management", {}),
        ):  # fmt: skip
            version = fire_transition(
                uow.session, record_id=earlier.id, trigger=trigger, actor=people[role], form_data=form,
                expected_version=version, password_verified=True,
            ).version  # fmt: skip
        versions = {key: catalog.get(key).spec.version for key in MIX}  # type: ignore[union-attr]
        clauses = {key: catalog.get(key).spec.clause for key in MIX}  # type: ignore[union-attr]
        rows = list(_rows(org.id, records, earlier.id, versions, clauses))
        uow.session.execute(insert(Record.__table__), rows)  # type: ignore[arg-type]
        current = create_record(
            uow.session, workflow=review, org_id=org.id, actor=people["carbon_manager"],
            form_data={"title": "本年度管理评审", "review_year": str(YEAR)},
        )  # fmt: skip
        assert current.id is not None
    return Year(db=db, org_id=org.id, records=len(rows), review_id=current.id, catalog=catalog)


def review_pack_compile(year: Year, rounds: int) -> list[str]:
    from workflows.hooks.review_inputs import compile_inputs, review_period

    best = float("inf")
    for _ in range(rounds):
        with year.db.read_session(org_id=year.org_id) as session:
            started = time.perf_counter()
            period = review_period(
                session, org_id=year.org_id, year=YEAR, review_id=year.review_id, today=date(YEAR, 12, 20)
            )
            sections = compile_inputs(session, org_id=year.org_id, period=period, review_id=year.review_id)
            best = min(best, time.perf_counter() - started)
        assert len(sections) == 11
    return [f"review_pack_compile_seconds: {best:.3f} s", f"review_pack_records: {year.records} records"]


def _p95_ms(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)] * 1000


def _evidence_links(year: Year) -> int:
    """One evidence file per ten records, linked to it, valid until a day spread over the three years (the
    map's expired-evidence count reads them)."""
    from sqlalchemy import insert, text

    from engine.evidence.models import EvidenceFile, EvidenceLink

    with year.db.unit_of_work(all_orgs=True) as uow:
        ids = [row[0] for row in uow.session.execute(text("SELECT id FROM record ORDER BY id")).all()][::10]
        first = 1_000_000
        start = date(YEAR - 2, 1, 1)
        files = [
            {
                "id": first + i, "org_id": year.org_id, "sha256": f"{first + i:064x}",
                "filename": f"证书-{i}.pdf", "content_type": "application/pdf", "size_bytes": 1000,
                "uploaded_at": datetime(YEAR - 2, 1, 1), "item_id": first + i, "version": 1,
                "valid_until": start + timedelta(days=i % 1095),
            }
            for i in range(len(ids))
        ]  # fmt: skip
        uow.session.execute(insert(EvidenceFile.__table__), files)  # type: ignore[arg-type]
        links = [
            {"org_id": year.org_id, "record_id": record_id, "evidence_id": first + i}
            for i, record_id in enumerate(ids)
        ]
        uow.session.execute(insert(EvidenceLink.__table__), links)  # type: ignore[arg-type]
    return len(links)


def coverage_map_three_years(year: Year, rounds: int) -> list[str]:
    from sqlalchemy import insert, text

    from engine.clauses.coverage import coverage_map
    from engine.clauses.library import clause_library, falls_under
    from engine.workflow.models import Record

    versions = {key: year.catalog.get(key).spec.version for key in MIX}
    clauses = {key: year.catalog.get(key).spec.clause for key in MIX}
    with year.db.unit_of_work(all_orgs=True) as uow:
        for earlier in (YEAR - 2, YEAR - 1):
            rows = list(_rows(year.org_id, year.records, year.review_id, versions, clauses, year=earlier))
            uow.session.execute(insert(Record.__table__), rows)  # type: ignore[arg-type]
    links = _evidence_links(year)
    years, today, runs = (YEAR - 2, YEAR - 1, YEAR), date(YEAR, 12, 31), max(20, rounds * 7)
    product: list[float] = []
    for _ in range(runs):
        with year.db.read_session(org_id=year.org_id) as session:
            started = time.perf_counter()
            grid = coverage_map(session, catalog=year.catalog, years=years, today=today)
            product.append(time.perf_counter() - started)
    library = [clause.number for clause in clause_library()]
    # The peer: the same grouped count by hand — one SQL statement per run, written out, the rows placed
    # under their clauses in plain Python; no ORM, no statuses, no scores, UTC years.
    alive = "created_at < '{end}' AND (closed_at IS NULL OR closed_at >= '{start}')"
    per_year = ", ".join(
        f"SUM(CASE WHEN {alive.format(start=f'{y}-01-01', end=f'{y + 1}-01-01')} THEN 1 ELSE 0 END), "
        f"MAX(CASE WHEN {alive.format(start=f'{y}-01-01', end=f'{y + 1}-01-01')} THEN updated_at END), "
        f"SUM(CASE WHEN {alive.format(start=f'{y}-01-01', end=f'{y + 1}-01-01')} AND due_date < '{y}-12-31' "
        "THEN 1 ELSE 0 END)"
        for y in years
    )
    statement = text(
        f"SELECT clause_refs, workflow_key, state, {per_year} FROM record WHERE org_id = :o "
        f"AND {alive.format(start=f'{years[0]}-01-01', end=f'{years[-1] + 1}-01-01')} "
        "GROUP BY clause_refs, workflow_key, state"
    )
    peer: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        with year.db.engine.connect() as connection:
            found = connection.execute(statement, {"o": year.org_id}).all()
        counts: dict[tuple[str, int], int] = {}
        for row in found:
            for ref in json.loads(row[0]):
                for clause in library:
                    if falls_under(ref, clause):
                        for index, each in enumerate(years):
                            counts[(clause, each)] = counts.get((clause, each), 0) + int(row[3 + 3 * index])
        peer.append(time.perf_counter() - started)
    shown = sum(grid.cell(clause, each).count for clause in library for each in years)
    # The peer buckets by the stored UTC year, the map by China's day (New Year's Eve evenings differ).
    assert abs(shown - sum(counts.values())) < 0.001 * shown, (shown, sum(counts.values()))
    return [
        f"coverage_map_p95_ms: {_p95_ms(product):.0f} ms",
        f"coverage_peer_p95_ms: {_p95_ms(peer):.0f} ms",
        f"coverage_map_records: {year.records * 3} records",
        f"coverage_map_evidence_links: {links} links (a third of the files expired)",
    ]


MEASUREMENTS: list[Callable[[Year, int], list[str]]] = [review_pack_compile, coverage_map_three_years]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        year = build_year(Path(directory) / "bench.db", arguments.records)
        try:
            for measurement in MEASUREMENTS:
                for line in measurement(year, arguments.rounds):
                    print(line, flush=True)
        finally:
            year.db.engine.dispose()


if __name__ == "__main__":
    main()

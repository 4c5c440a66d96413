"""9.3 auditor independence (GB/T 19011 objectivity): nobody audits their own function — the unit the audit
plan gives each auditor is, or lies below, an audited unit — nor their own records — a record of a clause in
scope, active in the audited period, that the auditor created, owns or was assigned. The team is checked
when the plan is confirmed and the auditor on each fieldwork answer. An override needs a reason and a
second person (quality manager or top management, neither the requester nor an auditor: the workflow's
separation rule); it covers the plan as it was approved, and both steps are on the record's trail."""

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from engine.forms.spec import Text
from engine.identity.models import OrgUnit
from engine.identity.org_tree import subtree_ids
from engine.workflow.models import Record
from engine.workflow.writes import as_date
from workflows.hooks.internal_audit_rules import scope_clauses

REQUESTED, APPROVED = "requested", "approved"  # override_status
OWN_FUNCTION, OWN_RECORDS = "own_function", "own_records"
PLAN_FIELDS = ("scope_clauses", "scope_units", "team", "lead_auditor", "records_from", "end_date")
SHOWN_RECORDS = 5  # a conflict names at most this many of the auditor's records


@dataclass(frozen=True)
class Conflict:
    member: int
    kind: str  # OWN_FUNCTION or OWN_RECORDS
    clause: str | None  # the clause of the auditor's records (OWN_RECORDS)
    detail: Text


def plan_fingerprint(data: dict[str, Any]) -> str:
    """What an approved override covers: the plan's scope, team and period as they were."""
    plan = {name: data.get(name) for name in PLAN_FIELDS}
    return hashlib.sha256(json.dumps(plan, sort_keys=True, default=str).encode()).hexdigest()


def override_covers(data: dict[str, Any]) -> bool:
    return data.get("override_status") == APPROVED and data.get("override_plan") == plan_fingerprint(data)


def team_members(data: dict[str, Any]) -> dict[int, int | None]:
    """Each auditor of the plan (the lead included) → the unit the plan gives them."""
    members: dict[int, int | None] = {}
    for row in data.get("team") or []:
        if isinstance(row, dict) and isinstance(row.get("member"), int):
            unit = row.get("home_unit")
            members[row["member"]] = unit if isinstance(unit, int) else None
    lead = data.get("lead_auditor")
    if isinstance(lead, int):
        members.setdefault(lead, None)
    return members


def _units(session: Session, org_id: int) -> list[OrgUnit]:
    return list(session.scalars(select(OrgUnit).where(col(OrgUnit.org_id) == org_id)).all())


def _audited_units(data: dict[str, Any]) -> list[int]:
    return [
        row["unit"]
        for row in data.get("scope_units") or []
        if isinstance(row, dict) and isinstance(row.get("unit"), int)
    ]


def _unit_name(units: Iterable[OrgUnit], unit_id: int) -> str:
    return next((unit.name for unit in units if unit.id == unit_id), "")


def own_function_conflicts(session: Session, *, org_id: int, data: dict[str, Any]) -> list[Conflict]:
    units = _units(session, org_id)
    found = []
    for audited in _audited_units(data):
        below = subtree_ids(units, unit_id=audited)
        for member, home in team_members(data).items():
            if home is not None and home in below:
                name = _unit_name(units, audited)
                found.append(
                    Conflict(
                        member,
                        OWN_FUNCTION,
                        None,
                        Text(zh=f"审核本部门「{name}」", en=f"audits their own unit '{name}'"),
                    )
                )
    return found


def _period(data: dict[str, Any]) -> tuple[date, date] | None:
    start, end = as_date(data.get("records_from")), as_date(data.get("end_date"))
    return None if start is None or end is None else (start, end)


def _people_of(record: Record) -> set[int]:
    owner = record.data.get("owner") if isinstance(record.data, dict) else None
    people = {
        record.created_by,
        record.owner_id,
        record.assignee_id,
        owner if isinstance(owner, int) else None,
    }
    return {person for person in people if isinstance(person, int)}


def _concerns(refs: Iterable[str], clause: str) -> bool:
    return any(ref == clause or ref.startswith(clause + ".") for ref in refs)


def own_record_conflicts(
    session: Session,
    *,
    org_id: int,
    record_id: int,
    data: dict[str, Any],
    clauses: Iterable[str] | None = None,
) -> list[Conflict]:
    """The auditors' own records among those of the clauses in scope (or ``clauses``) active in the period."""
    period = _period(data)
    members = team_members(data)
    if period is None or not members:
        return []
    start, end = period
    wanted = (
        list(clauses) if clauses is not None else [c.number for c in scope_clauses(data.get("scope_clauses"))]
    )
    records = session.scalars(
        select(Record).where(
            col(Record.org_id) == org_id,
            col(Record.id) != record_id,
            func.date(Record.updated_at) >= start,
            func.date(Record.created_at) <= end,
        )
    ).all()
    mine: dict[tuple[int, str], list[str]] = {}
    for record in records:
        people = _people_of(record) & set(members)
        for clause in wanted:
            if people and _concerns(record.clause_refs or [], clause):
                for person in people:
                    mine.setdefault((person, clause), []).append(record.number)
    return [
        Conflict(
            member,
            OWN_RECORDS,
            clause,
            Text(
                zh=f"审核自己的 {clause} 记录（{'、'.join(sorted(numbers)[:SHOWN_RECORDS])}）",
                en=f"audits their own records of {clause} ({', '.join(sorted(numbers)[:SHOWN_RECORDS])})",
            ),
        )
        for (member, clause), numbers in sorted(mine.items())
    ]


def team_conflicts(session: Session, *, org_id: int, record_id: int, data: dict[str, Any]) -> list[Conflict]:
    return own_function_conflicts(session, org_id=org_id, data=data) + own_record_conflicts(
        session, org_id=org_id, record_id=record_id, data=data
    )


def answer_conflicts(
    session: Session, *, org_id: int, record_id: int, data: dict[str, Any], auditor: int, clause: str
) -> list[Conflict]:
    """The conflicts of one auditor answering one row (of ``clause``)."""
    found = own_function_conflicts(session, org_id=org_id, data=data) + own_record_conflicts(
        session, org_id=org_id, record_id=record_id, data=data, clauses=[clause]
    )
    return [conflict for conflict in found if conflict.member == auditor]


def described(conflicts: Iterable[Conflict], names: dict[int, str]) -> Text:
    lines = list(conflicts)
    return Text(
        zh="；".join(f"{names.get(c.member, '')}{c.detail.zh}" for c in lines),
        en="; ".join(f"{names.get(c.member, '')} {c.detail.en}" for c in lines),
    )

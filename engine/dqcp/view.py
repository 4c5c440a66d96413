"""The plan as people read it: every row's cells as labels and names (never a key or an id), each
version's approval, and the board's cells with what can be done about them."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from engine.dqcp.filing import Cell
from engine.dqcp.plan import Plan
from engine.evidence.store import evidence_names
from engine.forms.spec import FieldSpec, FieldType
from engine.records.display import display_value
from engine.records.queries import names_of
from engine.workflow.models import Signature


@dataclass(frozen=True)
class Approval:
    signer: str
    signed_at: datetime


def shown_rows(
    session: Session, *, org_id: int, plan: Plan, columns: Sequence[FieldSpec], locale: str
) -> list[dict[str, str]]:
    """Each row's cells as text, by column name."""
    wanted: dict[FieldType, set[int]] = {}
    raw_rows: list[dict[str, Any]] = [row for row in plan.data.get("rows") or [] if isinstance(row, dict)]
    for column in columns:
        if column.type in (FieldType.user, FieldType.org_unit, FieldType.record_link):
            wanted.setdefault(column.type, set()).update(
                int(row[column.name]) for row in raw_rows if isinstance(row.get(column.name), int)
            )
    names = names_of(session, org_id=org_id, wanted=wanted)
    return [
        {column.name: display_value(column, row.get(column.name), names, locale) for column in columns}
        for row in raw_rows
    ]


def approvals(session: Session, *, record_ids: Sequence[int]) -> dict[int, Approval]:
    """The last signature of each record (its approval)."""
    found: dict[int, Approval] = {}
    for signature in session.scalars(
        select(Signature).where(col(Signature.record_id).in_(record_ids)).order_by(col(Signature.id))
    ).all():
        signed = signature.signed_at
        when = signed if isinstance(signed, datetime) else datetime.fromisoformat(str(signed))
        found[signature.record_id] = Approval(signature.signer_name, when)
    return found


def proof_names(session: Session, *, board: Sequence[Sequence[Cell]]) -> dict[int, str]:
    ids = {cell.proof_evidence_id for line in board for cell in line if cell.proof_evidence_id}
    return evidence_names(session, ids=ids)


def department_names(session: Session, *, org_id: int, plan: Plan) -> dict[int, str]:
    """The departments (facilities, production lines) the plan's rows are assigned to, by id."""
    ids = {row.department_id for row in plan.rows if row.department_id is not None}
    return dict(names_of(session, org_id=org_id, wanted={FieldType.org_unit: ids}).units)

"""4.3 statement of applicability: a draft pre-filled from the clause library and the processes in force
(or from the version in force, with any clause it lacks), the check that every clause is answered, and the
answers in force that the clause-coverage map reads."""

from datetime import date
from typing import Any

from sqlmodel import Session

from engine.clauses.coverage import Applicability
from engine.clauses.library import Clause, clause_library, falls_under
from engine.forms.spec import Text
from engine.workflow.access import ActorRef
from engine.workflow.catalog import WorkflowCatalog
from engine.workflow.lifecycle import create_record
from engine.workflow.models import Record
from engine.workflow.registry import GuardContext, declare_names, guard
from workflows.hooks.controlled_statement import in_force

WORKFLOW = "applicability_statement"
declare_names(WORKFLOW, states=("drafting",), triggers=())
APPLIES, DOES_NOT_APPLY = "yes", "no"


def _implementation(clause: Clause, *, catalog: WorkflowCatalog) -> str:
    """The processes in force that run a clause, and what else the system gives it: the draft's first
    answer to "how is it implemented"."""
    titles = [
        f"{w.spec.title.zh}（{w.spec.clause}）"
        for w in sorted(catalog.current.values(), key=lambda w: w.spec.clause)
        if falls_under(w.spec.clause, clause.number)
    ]
    parts = ["按系统流程运行：" + "、".join(titles)] if titles else []
    if clause.means:
        parts.append(clause.means.zh)
    return "；".join(parts)[:1000]


def draft_rows(*, catalog: WorkflowCatalog, current: Record | None) -> list[dict[str, Any]]:
    """One row per clause of the library: the answer in force where there is one, else "applies" with
    the processes that run it."""
    earlier = {
        row.get("clause"): row
        for row in (current.data.get("clauses") if current else None) or []
        if isinstance(row, dict)
    }
    rows = []
    for clause in clause_library():
        row = earlier.get(clause.number)
        rows.append(
            dict(row)
            if row
            else {
                "clause": clause.number,
                "applies": APPLIES,
                "justification": None,
                "implementation": _implementation(clause, catalog=catalog) or None,
            }
        )
    return rows


def suggested_edition(today: date) -> str:
    return f"{today.year}-{today.month:02d}"


def start_draft(
    session: Session,
    *,
    catalog: WorkflowCatalog,
    org_id: int,
    actor: ActorRef,
    today: date,
    edition: str | None = None,
) -> Record:
    """A new draft version: the statement in force (if any) brought up to the clause library."""
    workflow = catalog.get(WORKFLOW)
    assert workflow is not None
    current = in_force(session, workflow_key=WORKFLOW)
    edition = edition or suggested_edition(today)
    return create_record(
        session,
        workflow=workflow,
        org_id=org_id,
        actor=actor,
        form_data={
            "title": f"碳管理体系适用性声明（{edition}）",
            "edition": edition,
            "effective_from": today.isoformat(),
            "clauses": draft_rows(catalog=catalog, current=current),
            "change_note": f"在 {current.number} 的基础上修订" if current else "首次编制",
        },
        today=today,
    )


def _row_problems(rows: list[Any]) -> list[tuple[int, Text]]:
    problems: list[tuple[int, Text]] = []
    known = {clause.number for clause in clause_library()}
    seen: set[str] = set()
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            continue
        clause = str(row.get("clause") or "")
        if clause not in known:
            problems.append(
                (
                    number,
                    Text(zh=f"条款 {clause} 不是标准的条款", en=f"{clause} is not a clause of the standard"),
                )
            )
        elif clause in seen:
            problems.append((number, Text(zh=f"条款 {clause} 重复", en=f"clause {clause} appears twice")))
        elif row.get("applies") == DOES_NOT_APPLY and not str(row.get("justification") or "").strip():
            problems.append((number, Text(zh="不适用须说明理由", en="say why it does not apply")))
        elif row.get("applies") == APPLIES and not str(row.get("implementation") or "").strip():
            problems.append((number, Text(zh="适用须说明实施方式", en="say how it is implemented")))
        seen.add(clause)
    missing = [c.number for c in clause_library() if c.number not in seen]
    if missing:
        problems.append(
            (
                0,
                Text(
                    zh=f"缺少条款 {'、'.join(missing[:8])}", en=f"clauses missing: {', '.join(missing[:8])}"
                ),
            )
        )
    return problems


@guard("every_clause_answered")
def every_clause_answered(context: GuardContext) -> Text | None:
    """Every clause of the standard has exactly one row; a clause that does not apply says why, one that
    applies says how."""
    problems = _row_problems(list(context.record_data.get("clauses") or []))
    if not problems:
        return None
    zh = "；".join(f"第 {n} 行：{p.zh}" if n else p.zh for n, p in problems[:6])
    en = "; ".join(f"row {n}: {p.en}" if n else p.en for n, p in problems[:6])
    return Text(zh=f"适用性声明不完整：{zh}", en=f"The statement is incomplete: {en}")


def applicability_in_force(session: Session) -> dict[str, Applicability]:
    """The answers of the statement in force, by clause (empty when none is in force)."""
    current = in_force(session, workflow_key=WORKFLOW)
    answers: dict[str, Applicability] = {}
    for row in (current.data.get("clauses") if current else None) or []:
        if isinstance(row, dict) and isinstance(row.get("clause"), str):
            answers[row["clause"]] = Applicability(
                applies=row.get("applies") != DOES_NOT_APPLY,
                justification=str(row.get("justification") or ""),
                implementation=str(row.get("implementation") or ""),
            )
    return answers

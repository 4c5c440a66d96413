"""The data-quality control plan (数据质量控制计划): the plan in force with its revision log, a revision
started from it, and the monthly filing board with its proofs and substitutions."""

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from engine.carbon_data.errors import DataIssue
from engine.dqcp.filing import CellState, FilingRefused, file_proof, filing_board
from engine.dqcp.plan import Plan, plan_in_force, plan_versions, registered_process
from engine.dqcp.revision import start_revision
from engine.dqcp.substitution import substitute_missing_value
from engine.dqcp.view import approvals, department_names, proof_names, shown_rows
from engine.evidence.store import find_evidence
from engine.forms.spec import FieldSpec, FormSpec
from engine.values import Id, Year
from engine.workflow.errors import TransitionRefused
from web.deps import (
    BlankIsNone,
    CarbonManager,
    DatabaseDep,
    DataEditor,
    Member,
    OrgSession,
    PostedForm,
    Principal,
    actor_of,
    actor_ref,
    reporting_year,
)
from web.forms import save_with_evidence
from web.templating import render

router = APIRouter()
UPLOAD_PATHS = ("/dqcp/filing/proofs", "/dqcp/filing/substitutions")
CELL_LABELS = {
    CellState.filed: ("已存证", "Filed"),
    CellState.substituted: ("已替代", "Substituted"),
    CellState.open: ("待提交", "Due"),
    CellState.overdue: ("逾期", "Overdue"),
    CellState.future: ("—", "—"),
}


def _plan_form(request: Request, session: Session, plan: Plan) -> FormSpec:
    workflow = request.app.state.catalog.pinned(session, key=plan.workflow_key, version=plan.workflow_version)
    form: FormSpec = workflow.create_form
    return form


def _columns(form: FormSpec) -> tuple[FieldSpec, ...]:
    rows = form.field("rows")
    return rows.columns if rows else ()


def _plan_context(
    request: Request, session: Session, principal: Principal, *, errors: dict[str, str] | None = None
) -> dict[str, Any]:
    assert principal.org is not None
    plan, versions = plan_in_force(session), plan_versions(session)
    shown = plan or (versions[0] if versions else None)
    context: dict[str, Any] = {
        "plan": plan, "shown": shown, "versions": versions, "rows": [], "columns": (), "errors": errors or {},
    }  # fmt: skip
    process = registered_process()
    context["plan_workflow_key"] = process.workflow_key if process else None
    if shown is not None:
        workflow = request.app.state.catalog.pinned(
            session, key=shown.workflow_key, version=shown.workflow_version
        )
        context["state_labels"] = {
            name: state.label.get(request.state.locale) for name, state in workflow.spec.states.items()
        }
        form = _plan_form(request, session, shown)
        context["columns"] = _columns(form)
        context["trigger_field"] = form.field("revision_trigger")
        context["rows"] = shown_rows(
            session,
            org_id=principal.org.id,
            plan=shown,
            columns=context["columns"],
            locale=request.state.locale,
        )
        context["approvals"] = approvals(session, record_ids=[version.record_id for version in versions])
    return context


def _choice_labels(column: FieldSpec | None, locale: str) -> dict[str, str]:
    return {choice.value: choice.label(locale) for choice in column.choices} if column else {}


@router.get("/dqcp")
def plan_page(request: Request, principal: Member, session: OrgSession) -> Response:
    return render(request, "dqcp/plan.html", _plan_context(request, session, principal))


@router.post("/dqcp/revisions")
def revise(request: Request, principal: CarbonManager, db: DatabaseDep, form: PostedForm) -> Response:
    assert principal.org is not None
    values = {key: str(value).strip() for key, value in form.items() if isinstance(value, str)}
    try:
        with db.unit_of_work(org_id=principal.org.id) as uow:
            plan = plan_in_force(uow.session)
            if plan is None:
                raise HTTPException(409, detail="conflict")
            record = start_revision(
                uow.session, org_id=principal.org.id, plan=plan, actor=actor_ref(principal),
                trigger=values.get("revision_trigger", ""), reason=values.get("revision_reason", ""),
                title=values.get("title") or plan.title,
            )  # fmt: skip
            record_id = record.id
    except TransitionRefused as refused:
        english = request.state.locale.startswith("en")
        errors = {field: text["en" if english else "zh"] for field, text in refused.field_errors.items()}
        with db.read_session(org_id=principal.org.id) as session:
            context = _plan_context(
                request, session, principal, errors=errors or {"": refused.reason.get(request.state.locale)}
            )
            return render(request, "dqcp/plan.html", context, status_code=422)
    return RedirectResponse(f"/r/{record_id}", status_code=303)


def _filing_context(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    year: int,
    issues: list[DataIssue] | tuple[DataIssue, ...] = (),
    values: dict[str, str] | None = None,
    department: int | None = None,
) -> dict[str, Any]:
    assert principal.org is not None
    plan = plan_in_force(session)
    board = (
        filing_board(session, org_id=principal.org.id, plan=plan, year=year, today=date.today())
        if plan
        else []
    )
    if department is not None:  # one department's (a facility's, a production line's) rows
        board = [line for line in board if line[0].row.department_id == department]
    counts = {state: sum(cell.state == state for line in board for cell in line) for state in CellState}
    columns = {column.name: column for column in _columns(_plan_form(request, session, plan))} if plan else {}
    locale = request.state.locale
    return {
        "plan": plan,
        "year": year,
        "months": [f"{year}-{month:02d}" for month in range(1, 13)],
        "board": board,
        "counts": counts,
        "cell_labels": CELL_LABELS,
        "proofs": proof_names(session, board=board),
        "issues": issues,
        "form": values or {},
        "proof_labels": _choice_labels(columns.get("proof"), locale),
        "departments": department_names(session, org_id=principal.org.id, plan=plan) if plan else {},
        "department": department,
        "rule_labels": _choice_labels(columns.get("missing_rule"), locale),
    }


@router.get("/dqcp/filing")
def filing_page(
    request: Request,
    principal: Member,
    session: OrgSession,
    year: Year | None = None,
    department: Annotated[Id | None, BlankIsNone] = None,
) -> Response:
    context = _filing_context(request, session, principal, year=reporting_year(year), department=department)
    return render(request, "dqcp/filing.html", context)


def _period(values: dict[str, str], issues: list[DataIssue]) -> str:
    period = values.get("period", "")
    if len(period) != 7 or not period[:4].isdigit() or period[4] != "-" or not period[5:].isdigit():
        issues.append(DataIssue(None, "period", "请选择月份（YYYY-MM）", "choose a month (YYYY-MM)"))
    return period


def _filed_or_refused(request: Request, principal: Principal, db: Any, form: Any, save: Any) -> Response:
    issues, values = save_with_evidence(request, principal, db, form, save)
    period = values.get("period", "")
    year = (
        int(period[:4]) if period[:4].isdigit() and 1990 <= int(period[:4]) <= 2100 else reporting_year(None)
    )
    if issues:
        assert principal.org is not None
        with db.read_session(org_id=principal.org.id) as session:
            context = _filing_context(request, session, principal, year=year, issues=issues, values=values)
            return render(request, "dqcp/filing.html", context, status_code=422)
    return RedirectResponse(f"/dqcp/filing?year={year}", status_code=303)


@router.post("/dqcp/filing/proofs")
def file_month_proof(request: Request, principal: DataEditor, db: DatabaseDep, form: PostedForm) -> Response:
    def save(session: Session, values: dict[str, str], evidence: str | None, issues: list[DataIssue]) -> None:
        assert principal.org is not None
        period = _period(values, issues)
        plan = plan_in_force(session)
        if plan is None:
            issues.append(DataIssue(None, "row", "尚无现行的数据质量控制计划", "no plan is in force"))
            return
        stored = find_evidence(session, org_id=principal.org.id, sha256=evidence) if evidence else None
        if stored is None or stored.id is None:
            issues.append(DataIssue(None, "evidence", "请选择存证文件", "choose the proof file"))
            return
        if issues:
            return
        try:
            file_proof(
                session, org_id=principal.org.id, plan=plan, row_code=values.get("row", ""), period=period,
                evidence_id=stored.id, actor=actor_of(principal),
            )  # fmt: skip
        except FilingRefused as refused:
            issues.append(DataIssue(None, refused.field, refused.message.zh, refused.message.en))

    return _filed_or_refused(request, principal, db, form, save)


@router.post("/dqcp/filing/substitutions")
def substitute(request: Request, principal: CarbonManager, db: DatabaseDep, form: PostedForm) -> Response:
    def save(
        session: Session, values: dict[str, str], _evidence: str | None, issues: list[DataIssue]
    ) -> None:
        assert principal.org is not None
        period = _period(values, issues)
        plan = plan_in_force(session)
        value: Decimal | None = None
        if values.get("value"):
            try:
                value = Decimal(values["value"])
            except InvalidOperation:
                issues.append(DataIssue(None, "value", "应为数字", "must be a number"))
        if plan is None or issues:
            return
        try:
            substitute_missing_value(
                session, org_id=principal.org.id, plan=plan, row_code=values.get("row", ""), period=period,
                reason=values.get("reason", ""), actor=actor_of(principal), value=value,
            )  # fmt: skip
        except FilingRefused as refused:
            issues.append(DataIssue(None, refused.field, refused.message.zh, refused.message.en))

    return _filed_or_refused(request, principal, db, form, save)

"""The trust chain from a figure (issue 13 item 5): one page per step, each with what was checked by hash.
The roles that review the system read it; an external verifier reads it within their grant's year, and
every page they read is written to the audit trail."""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import Response
from sqlmodel import Session

from engine.carbon_data.errors import EmissionsDataError
from engine.emissions.errors import CalcError
from engine.records.queries import get_record
from engine.trust_chain.checks import Keys
from engine.trust_chain.data import (
    evidence_step,
    instrument_step,
    row_step,
    source_month_step,
    source_year_step,
)
from engine.trust_chain.figures import (
    frozen_figure_value,
    inventory_step,
    parameter_step,
    product_step,
    review_step,
)
from engine.values import Id, Year
from engine.verification.scope import current_grant, evidence_in_scope, record_in_scope
from engine.verification.service import audit_view
from web.deps import AuditReader, DatabaseDep, OrgSession, Principal, actor_of, reporting_year
from web.templating import render

router = APIRouter()
MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"
Period = Annotated[str, Path(pattern=MONTH)]
MonthQuery = Annotated[str | None, Query(pattern=MONTH)]
RowCode = Annotated[str, Path(min_length=1, max_length=64)]


def _keys(request: Request) -> Keys:
    state = request.app.state
    return Keys(state.secret_key, tuple(state.old_secret_keys), state.settings.evidence_store)


def _page(
    request: Request,
    principal: Principal,
    db: Any,
    session: Session,
    *,
    template: str,
    step: Any,
    subject: str,
    in_scope: Callable[[Any], bool],
    **context: Any,
) -> Response:
    """The step's page; for a verifier (a member holding a grant) only inside the grant, and audited."""
    if step is None:
        raise HTTPException(404)
    if getattr(request.state, "verifier_portal", False):
        assert principal.org is not None
        grant = current_grant(session, org_id=principal.org.id, user_id=principal.user_id)
        if grant is None or not in_scope(grant):
            raise HTTPException(404)
        with db.unit_of_work(org_id=principal.org.id) as uow:
            audit_view(uow.session, grant=grant, actor=actor_of(principal), page="trace", subject=subject)
    context |= {
        "step": step,
        "catalog": request.app.state.catalog,
        "verifier": getattr(request.state, "verifier_portal", False),
    }
    return render(request, f"trust_chain/{template}.html", context)


def _year_is(year: int) -> Callable[[Any], bool]:
    return lambda grant: grant.year == year


@router.get("/trace/inventory")
def inventory(
    request: Request, principal: AuditReader, db: DatabaseDep, session: OrgSession, year: Year | None = None
) -> Response:
    assert principal.org is not None
    year = reporting_year(year)
    try:
        step: Any = inventory_step(session, org_id=principal.org.id, year=year)
        problem = None
    except (EmissionsDataError, CalcError) as error:
        step, problem = {"year": year}, str(error)
    return _page(
        request,
        principal,
        db,
        session,
        template="inventory",
        step=step,
        subject=f"inventory {year}",
        in_scope=_year_is(year),
        year=year,
        problem=problem,
    )


@router.get("/trace/sources/{source_id}")
def source_year(
    request: Request,
    principal: AuditReader,
    db: DatabaseDep,
    session: OrgSession,
    source_id: Id,
    year: Year | None = None,
) -> Response:
    assert principal.org is not None
    year = reporting_year(year)
    step = source_year_step(
        session, org_id=principal.org.id, source_id=source_id, year=year, keys=_keys(request)
    )
    subject = f"source {step.source.code} {year}" if step else ""
    return _page(
        request,
        principal,
        db,
        session,
        template="source_year",
        step=step,
        subject=subject,
        in_scope=_year_is(year),
    )


@router.get("/trace/sources/{source_id}/{period}")
def source_month(
    request: Request,
    principal: AuditReader,
    db: DatabaseDep,
    session: OrgSession,
    source_id: Id,
    period: Period,
) -> Response:
    assert principal.org is not None
    step = source_month_step(
        session, org_id=principal.org.id, source_id=source_id, period=period, keys=_keys(request)
    )
    subject = f"source {step.source.code} {period}" if step else ""
    return _page(
        request,
        principal,
        db,
        session,
        template="source_month",
        step=step,
        subject=subject,
        in_scope=_year_is(int(period[:4])),
    )


@router.get("/trace/dqcp/{row_code}/{period}")
def plan_row(
    request: Request,
    principal: AuditReader,
    db: DatabaseDep,
    session: OrgSession,
    row_code: RowCode,
    period: Period,
) -> Response:
    assert principal.org is not None
    step = row_step(session, org_id=principal.org.id, row_code=row_code, period=period, keys=_keys(request))
    columns = {}
    if step is not None:  # the row's choices shown by their labels, as the plan's own form names them
        workflow = request.app.state.catalog.pinned(
            session, key=step.plan.workflow_key, version=step.plan.workflow_version
        )
        rows = workflow.create_form.field("rows")
        columns = {column.name: column for column in (rows.columns if rows else ())}
    return _page(
        request,
        principal,
        db,
        session,
        template="plan_row",
        step=step,
        subject=f"dqcp {row_code} {period}",
        in_scope=_year_is(int(period[:4])),
        columns=columns,
    )


@router.get("/trace/instruments/{record_id}")
def instrument(
    request: Request,
    principal: AuditReader,
    db: DatabaseDep,
    session: OrgSession,
    record_id: Id,
    period: MonthQuery = None,
) -> Response:
    assert principal.org is not None
    step = instrument_step(
        session, org_id=principal.org.id, record_id=record_id, period=period, keys=_keys(request)
    )
    return _page(
        request,
        principal,
        db,
        session,
        template="instrument",
        step=step,
        subject=step.record.record.number if step else "",
        in_scope=lambda grant: step is not None and record_in_scope(grant, step.record.record),
    )


@router.get("/trace/evidence/{evidence_id}")
def evidence(
    request: Request, principal: AuditReader, db: DatabaseDep, session: OrgSession, evidence_id: Id
) -> Response:
    assert principal.org is not None
    step = evidence_step(session, org_id=principal.org.id, evidence_id=evidence_id, keys=_keys(request))
    return _page(
        request,
        principal,
        db,
        session,
        template="evidence",
        step=step,
        subject=step.row.sha256 if step else "",
        in_scope=lambda grant: (
            evidence_id in evidence_in_scope(session, grant=grant, catalog=request.app.state.catalog)
        ),
    )


@router.get("/trace/parameters/{parameter_id}")
def parameter(
    request: Request,
    principal: AuditReader,
    db: DatabaseDep,
    session: OrgSession,
    parameter_id: Id,
    year: Year | None = None,
    review: Id | None = None,
) -> Response:
    assert principal.org is not None
    year = reporting_year(year)
    frozen = None
    reviewed = _review(request, session, principal, review) if review else None
    if reviewed is not None:
        frozen = frozen_figure_value(reviewed.figures, parameter_id=parameter_id, year=year)
    step = parameter_step(
        session, org_id=principal.org.id, parameter_id=parameter_id, year=year, frozen_value=frozen
    )
    return _page(
        request,
        principal,
        db,
        session,
        template="parameter",
        step=step,
        subject=f"parameter {step.value.parameter.code} {year}" if step else "",
        in_scope=_year_is(year),
        review=reviewed,
    )


@router.get("/trace/products/{product_id}")
def product(
    request: Request,
    principal: AuditReader,
    db: DatabaseDep,
    session: OrgSession,
    product_id: Id,
    year: Year | None = None,
) -> Response:
    assert principal.org is not None
    year = reporting_year(year)
    step = product_step(
        session, org_id=principal.org.id, product_id=product_id, year=year, keys=_keys(request)
    )
    return _page(
        request,
        principal,
        db,
        session,
        template="product",
        step=step,
        subject=f"product {step.product.code} {year}" if step else "",
        in_scope=_year_is(year),
    )


def _review(request: Request, session: Session, principal: Principal, record_id: int) -> Any:
    assert principal.org is not None
    record = get_record(session, record_id=record_id)
    if record is None:
        return None
    return review_step(session, org_id=principal.org.id, record=record, keys=_keys(request))


@router.get("/trace/reviews/{record_id}")
def review(
    request: Request, principal: AuditReader, db: DatabaseDep, session: OrgSession, record_id: Id
) -> Response:
    step = _review(request, session, principal, record_id)
    return _page(
        request,
        principal,
        db,
        session,
        template="review",
        step=step,
        subject=step.record.record.number if step else "",
        in_scope=lambda grant: step is not None and record_in_scope(grant, step.record.record),
    )

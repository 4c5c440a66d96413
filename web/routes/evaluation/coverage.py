"""9 The clause-coverage map (clause × year → status, records, evidence, self-assessment score), its
drill-down per clause, and the statement of applicability in force (4.3)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Request
from fastapi.responses import RedirectResponse, Response

from engine.clauses.coverage import (
    STATUS_LABELS,
    CoverageStatus,
    clause_coverage,
    coverage_map,
    evidence_of,
    first_record_year,
)
from engine.clauses.library import clause_library, find_clause
from engine.evidence.store import evidence_names
from engine.identity.models import Role
from engine.values import CleanText, Year
from engine.workflow.computed import china_today
from engine.workflow.errors import RoleRefused
from web.deps import DatabaseDep, Member, OrgSession, Principal, RoleRequirement, actor_ref
from web.templating import htmx_aware_redirect, render
from workflows.hooks.applicability import WORKFLOW as APPLICABILITY
from workflows.hooks.applicability import applicability_in_force, start_draft, suggested_edition
from workflows.hooks.controlled_statement import in_force

router = APIRouter()
YEARS_SHOWN = 3
StatementDrafter = Annotated[Principal, Depends(RoleRequirement(Role.carbon_manager))]  # its start role
Edition = Annotated[CleanText, Form(min_length=1, max_length=40)]
ClauseNumber = Annotated[str, Path(pattern=r"^\d{1,2}(\.\d{1,2}){0,3}$", max_length=16)]


def _years(until: int | None, *, first: int | None) -> tuple[int, ...]:
    """Up to three years ending at ``until`` (this year by default), none before the first record."""
    last = min(until or china_today().year, china_today().year)
    start = max(last - YEARS_SHOWN + 1, min(first or last, last))
    return tuple(range(start, last + 1))


@router.get("/evaluation/coverage")
def coverage_page(
    request: Request, principal: Member, session: OrgSession, until: Year | None = None
) -> Response:
    catalog = request.app.state.catalog
    first_year = first_record_year(session)
    years = _years(until, first=first_year)
    statement = in_force(session, workflow_key=APPLICABILITY)
    grid = coverage_map(
        session,
        catalog=catalog,
        years=years,
        today=china_today(),
        applicability=applicability_in_force(session),
    )
    return render(
        request,
        "evaluation/coverage.html",
        {
            "grid": grid,
            "clauses": clause_library(),
            "statuses": STATUS_LABELS,
            "status_kinds": CoverageStatus,
            "statement": statement,
            "until": years[-1],
            "first_year": first_year or years[0],
        },
    )


@router.get("/evaluation/coverage/{clause}")
def clause_page(
    request: Request, principal: Member, session: OrgSession, clause: ClauseNumber, year: Year | None = None
) -> Response:
    found = find_clause(clause)
    if found is None:
        raise HTTPException(404)
    catalog = request.app.state.catalog
    year = min(year or china_today().year, china_today().year)
    applicability = applicability_in_force(session)
    cell = clause_coverage(
        session,
        catalog=catalog,
        clause=found,
        year=year,
        today=china_today(),
        applicability=applicability.get(found.number),
    )
    evidence = evidence_of(session, catalog=catalog, record_ids=(r.id for r in cell.records))
    return render(
        request,
        "evaluation/clause.html",
        {
            "clause": found,
            "cell": cell,
            "year": year,
            "years": _years(None, first=first_record_year(session)),
            "statuses": STATUS_LABELS,
            "statement": applicability.get(found.number),
            "evidence": evidence,
            "evidence_names": evidence_names(session, ids={i for ids in evidence.values() for i in ids}),
            "catalog": catalog,
        },
    )


@router.get("/evaluation/applicability")
def applicability_page(request: Request, principal: Member, session: OrgSession) -> Response:
    statement = in_force(session, workflow_key=APPLICABILITY)
    return render(
        request,
        "evaluation/applicability.html",
        {
            "statement": statement,
            "answers": applicability_in_force(session),
            "clauses": clause_library(),
            "workflow": request.app.state.catalog.get(APPLICABILITY),
            "suggested_edition": suggested_edition(china_today()),
        },
    )


@router.post("/evaluation/applicability/draft")
def draft_statement(
    request: Request, principal: StatementDrafter, db: DatabaseDep, edition: Edition
) -> Response:
    """A new draft version of the statement, pre-filled from the one in force and the clause library."""
    assert principal.org is not None
    try:
        with db.unit_of_work(org_id=principal.org.id) as uow:
            record = start_draft(
                uow.session,
                catalog=request.app.state.catalog,
                org_id=principal.org.id,
                actor=actor_ref(principal),
                today=china_today(),
                edition=edition.strip(),
            )
            record_id = record.id
    except RoleRefused as refused:
        raise HTTPException(403, refused.reason.get(request.state.locale)) from refused
    return htmx_aware_redirect(request, RedirectResponse(f"/r/{record_id}", status_code=303))

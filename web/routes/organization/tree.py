"""4.3 The organization tree as a page: every unit from the group down to a process, its own and rolled-up
emissions of the year and its emission sources; the carbon manager and the admin add, rename and move
units (engine.identity.org_tree audits every change)."""

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from engine.carbon_data.by_unit import emissions_by_unit, sources_by_unit
from engine.carbon_data.errors import EmissionsDataError
from engine.emissions.errors import CalcError
from engine.identity.models import OrgUnitKind
from engine.identity.org_tree import KIND_LABELS, OrgTreeRefused, add_unit, flatten, unit_tree, update_unit
from engine.identity.organizations import list_org_units
from engine.values import CleanText, Id, Year
from web.deps import (
    BlankIsNone,
    CarbonManager,
    DatabaseDep,
    Member,
    OrgSession,
    OrgUnitId,
    Principal,
    actor_of,
    reporting_year,
)
from web.templating import htmx_aware_redirect, render

router = APIRouter()
Code = Annotated[CleanText, Form(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
Name = Annotated[CleanText, Form(min_length=1, max_length=200)]
NameEn = Annotated[CleanText, Form(max_length=200)]
Parent = Annotated[Id | None, Form(), BlankIsNone]


def _page(
    request: Request,
    session: OrgSession,
    *,
    org_id: int,
    year: int,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    units = list_org_units(session)
    forest = unit_tree(units)
    try:
        emissions: dict[int, Decimal] | None = emissions_by_unit(session, org_id=org_id, year=year)
        problem = None
    except (EmissionsDataError, CalcError) as error:
        emissions, problem = None, str(error)
    nodes = flatten(forest)
    return render(
        request,
        "organization/tree.html",
        {
            "nodes": nodes,
            "year": year,
            "own": emissions or {},
            "rolled": {n.unit.id: n.rolled_up(emissions) for n in nodes} if emissions is not None else {},
            "inventory_problem": problem,
            "sources": sources_by_unit(session, org_id=org_id),
            "kinds": KIND_LABELS,
            "errors": errors or {},
        },
        status_code=status_code,
    )


@router.get("/organization")
def tree_page(request: Request, principal: Member, session: OrgSession, year: Year | None = None) -> Response:
    assert principal.org is not None
    return _page(request, session, org_id=principal.org.id, year=reporting_year(year))


def _refused(request: Request, db: DatabaseDep, principal: Principal, refused: OrgTreeRefused) -> Response:
    assert principal.org is not None
    with db.read_session(org_id=principal.org.id) as session:
        return _page(
            request,
            session,
            org_id=principal.org.id,
            year=reporting_year(None),
            errors={refused.field: refused.message.get(request.state.locale)},
            status_code=422,
        )


@router.post("/organization/units")
def add(
    request: Request,
    principal: CarbonManager,
    db: DatabaseDep,
    kind: Annotated[OrgUnitKind, Form()],
    code: Code,
    name: Name,
    parent_id: Parent = None,
    name_en: NameEn = "",
) -> Response:
    assert principal.org is not None
    try:
        with db.unit_of_work(org_id=principal.org.id) as uow:
            unit = add_unit(
                uow.session,
                org_id=principal.org.id,
                kind=kind,
                code=code.strip(),
                name=name.strip(),
                name_en=name_en.strip(),
                parent_id=parent_id,
                actor=actor_of(principal),
            )
    except OrgTreeRefused as refused:
        return _refused(request, db, principal, refused)
    return htmx_aware_redirect(request, RedirectResponse(f"/organization#unit-{unit.id}", status_code=303))


@router.post("/organization/units/{unit_id}")
def update(
    request: Request,
    principal: CarbonManager,
    db: DatabaseDep,
    unit_id: OrgUnitId,
    kind: Annotated[OrgUnitKind, Form()],
    code: Code,
    name: Name,
    parent_id: Parent = None,
    name_en: NameEn = "",
) -> Response:
    assert principal.org is not None
    try:
        with db.unit_of_work(org_id=principal.org.id) as uow:
            update_unit(
                uow.session,
                org_id=principal.org.id,
                unit_id=unit_id,
                kind=kind,
                code=code.strip(),
                name=name.strip(),
                name_en=name_en.strip(),
                parent_id=parent_id,
                actor=actor_of(principal),
            )
    except LookupError:
        raise HTTPException(404) from None
    except OrgTreeRefused as refused:
        return _refused(request, db, principal, refused)
    return htmx_aware_redirect(request, RedirectResponse(f"/organization#unit-{unit_id}", status_code=303))

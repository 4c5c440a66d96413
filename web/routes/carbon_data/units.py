"""Allocation units (issue 14 item 7): the year's inventory of each node of the organization tree, with
shared purchased electricity and heat allocated to production lines and processes by a recorded key, each
product's intensity from the unit that makes it, and the unit's performance parameters."""

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session
from starlette.datastructures import FormData

from engine.carbon_data.allocation import (
    ALLOCATION_UNIT_KINDS,
    METHOD_LABELS,
    SHARED_CATEGORIES,
    NodeInventory,
    ShareInput,
    list_allocations,
    node_inventory,
    set_allocation,
    set_product_unit,
)
from engine.carbon_data.errors import DataIssue, EmissionsDataError
from engine.carbon_data.models import AllocationMethod
from engine.carbon_data.sources import get_source, list_sources
from engine.emissions.errors import CalcError
from engine.identity.models import OrgUnit
from engine.identity.org_tree import KIND_LABELS, flatten, unit_tree
from engine.identity.organizations import list_org_units, list_products
from engine.planning.performance import evaluate_parameters
from engine.values import Id, Year, parse_id, parse_year
from web.deps import (
    CarbonManager,
    DatabaseDep,
    Member,
    OrgSession,
    OrgUnitId,
    PostedForm,
    Principal,
    actor_of,
    reporting_year,
)
from web.forms import save_all_or_nothing
from web.templating import render

router = APIRouter()
MAX_SHARE_ROWS = 50


def _figures(
    session: Session, *, org_id: int, year: int, locale: str
) -> tuple[NodeInventory | None, str | None]:
    try:
        return node_inventory(session, org_id=org_id, year=year), None
    except EmissionsDataError as error:
        return None, error.summary(locale)
    except CalcError as error:
        zh = locale.startswith("zh")
        return None, "；".join(issue.message_zh if zh else issue.message_en for issue in error.issues[:3])


@router.get("/emissions/units")
def units_page(
    request: Request, principal: Member, session: OrgSession, year: Year | None = None
) -> Response:
    """Every unit of the tree with its emissions after allocation, each linked to its own page."""
    assert principal.org is not None
    year = reporting_year(year)
    figures, problem = _figures(session, org_id=principal.org.id, year=year, locale=request.state.locale)
    return render(
        request,
        "emissions/units.html",
        {
            "year": year,
            "nodes": flatten(unit_tree(list_org_units(session))),
            "figures": figures,
            "problem": problem,
            "kinds": KIND_LABELS,
            "line_kinds": ALLOCATION_UNIT_KINDS,
        },
    )


def _unit_context(
    request: Request,
    session: Session,
    *,
    org_id: int,
    unit_id: int,
    year: int,
    issues: tuple[DataIssue, ...] = (),
    failed_source: int | None = None,
) -> dict[str, Any]:
    units = list_org_units(session)
    by_id = {unit.id: unit for unit in units}
    unit = by_id.get(unit_id)
    if unit is None:
        raise HTTPException(404)
    nodes = {node.unit.id: node for node in flatten(unit_tree(units))}
    node = nodes[unit_id]
    ancestors: list[OrgUnit] = []
    parent = by_id.get(unit.parent_id)
    while parent is not None and len(ancestors) < 50:
        ancestors.insert(0, parent)
        parent = by_id.get(parent.parent_id)
    figures, problem = _figures(session, org_id=org_id, year=year, locale=request.state.locale)
    sources = [s for s in list_sources(session, org_id=org_id) if s.org_unit_id == unit_id]
    products = list_products(session)
    targets = [
        n.unit for n in flatten([node]) if n.unit.kind in ALLOCATION_UNIT_KINDS and n.unit.id != unit_id
    ]
    keys = list_allocations(session, org_id=org_id, year=year)
    shared = [
        {"source": source, "key": keys.get(source.id or 0)}
        for source in sources
        if source.category in SHARED_CATEGORIES and targets
    ]
    parameters = [
        value
        for value in evaluate_parameters(session, org_id=org_id, year=year)
        if value.parameter.org_unit_id == unit_id
        or (
            value.parameter.product_id is not None
            and any(p.id == value.parameter.product_id and p.org_unit_id == unit_id for p in products)
        )
    ]
    return {
        "year": year,
        "unit": unit,
        "node": node,
        "ancestors": ancestors,
        "kinds": KIND_LABELS,
        "figures": figures,
        "here": figures.nodes.get(unit_id) if figures else None,
        "lines": figures.allocation_units(unit_id) if figures else [],
        "remainder": figures.remainder(unit_id) if figures else None,
        "intensities": figures.intensities(unit_id) if figures else [],
        "problem": problem,
        "sources": sources,
        "shared": shared,
        "targets": targets,
        "made_here": [p for p in products if p.org_unit_id == unit_id],
        "products": products,
        "units_by_id": by_id,
        "parameters": parameters,
        "methods": METHOD_LABELS,
        "issues": issues,
        "failed_source": failed_source,
    }


@router.get("/emissions/units/{unit_id}")
def unit_page(
    request: Request, principal: Member, session: OrgSession, unit_id: Id, year: Year | None = None
) -> Response:
    assert principal.org is not None
    context = _unit_context(
        request, session, org_id=principal.org.id, unit_id=unit_id, year=reporting_year(year)
    )
    return render(request, "emissions/unit.html", context)


def _shares(form: FormData, method: str, issues: list[DataIssue]) -> tuple[list[ShareInput], list[int]]:
    """Rows ``share-N-unit`` with ``share-N-quantity`` or ``share-N-product``, and the form's row number of
    each (a row left empty is skipped, so the service's row 2 may be the form's row 5)."""
    shares, rows = [], []
    for row in range(1, MAX_SHARE_ROWS + 1):
        unit = str(form.get(f"share-{row}-unit") or "").strip()
        quantity = str(form.get(f"share-{row}-quantity") or "").strip()
        product = str(form.get(f"share-{row}-product") or "").strip()
        if not unit:
            continue
        if method == AllocationMethod.submeter:
            if not quantity:
                continue
            shares.append(ShareInput(parse_id(unit), metered_quantity=quantity))
        else:
            if not product:
                continue
            product_id = parse_id(product)
            if product_id is None:
                issues.append(DataIssue(len(shares) + 1, "product_id", "请选择一项", "choose one"))
            shares.append(ShareInput(parse_id(unit), product_id=product_id))
        rows.append(row)
    return shares, rows


def _on_form_rows(error: EmissionsDataError, rows: list[int]) -> EmissionsDataError:
    """The issues with the rows of the form the person filled in."""
    return EmissionsDataError(
        replace(issue, row=rows[issue.row - 1])
        if issue.row is not None and 0 < issue.row <= len(rows)
        else issue
        for issue in error.issues
    )


@router.post("/emissions/sources/{source_id}/allocation")
def save_allocation(
    request: Request, principal: CarbonManager, db: DatabaseDep, source_id: Id, form: PostedForm
) -> Response:
    """Record or replace the year's key of a shared source; every problem named by row and field."""
    assert principal.org is not None
    org_id = principal.org.id
    with db.read_session(org_id=org_id) as session:
        source = get_source(session, org_id=org_id, source_id=source_id)
    if source is None:
        raise HTTPException(404)
    year = parse_year_field(form)
    method = str(form.get("method") or "")
    issues: list[DataIssue] = []
    shares, rows = _shares(form, method, issues)
    error = save_all_or_nothing(
        db,
        org_id=org_id,
        parse_issues=issues,
        save=lambda session: set_allocation(
            session,
            org_id=org_id,
            actor=actor_of(principal),
            source_id=source_id,
            year=year,
            method=method,
            basis=str(form.get("basis") or ""),
            shares=shares,
        ),
    )
    if error:
        error = _on_form_rows(error, rows)
        return _refused(
            request, principal, db, unit_id=source.org_unit_id, year=year, error=error, source=source_id
        )
    return RedirectResponse(f"/emissions/units/{source.org_unit_id}?year={year}#allocation-{source_id}", 303)


def parse_year_field(form: FormData) -> int:
    return parse_year(str(form.get("year") or "")) or reporting_year(None)


def _refused(
    request: Request,
    principal: Principal,
    db: DatabaseDep,
    *,
    unit_id: int,
    year: int,
    error: EmissionsDataError,
    source: int | None = None,
) -> Response:
    assert principal.org is not None
    with db.read_session(org_id=principal.org.id) as session:
        context = _unit_context(
            request,
            session,
            org_id=principal.org.id,
            unit_id=unit_id,
            year=year,
            issues=error.issues,
            failed_source=source,
        )
        return render(request, "emissions/unit.html", context, status_code=422)


@router.post("/emissions/units/{unit_id}/products")
def assign_product(
    request: Request,
    principal: CarbonManager,
    db: DatabaseDep,
    unit_id: OrgUnitId,
    product_id: Annotated[Id, Form()],
    year: Annotated[Year | None, Form()] = None,
    remove: Annotated[bool, Form()] = False,
) -> Response:
    """Say that the unit makes the product (or, with ``remove``, that it no longer does)."""
    assert principal.org is not None
    org_id = principal.org.id
    with db.read_session(org_id=org_id) as session:
        made_here = any(p.id == product_id and p.org_unit_id == unit_id for p in list_products(session))
    if remove and not made_here:  # another unit's product: nothing to take away here
        return RedirectResponse(f"/emissions/units/{unit_id}#products", 303)
    shown = reporting_year(year)
    error = save_all_or_nothing(
        db,
        org_id=org_id,
        parse_issues=[],
        save=lambda session: set_product_unit(
            session,
            org_id=org_id,
            actor=actor_of(principal),
            product_id=product_id,
            org_unit_id=None if remove else unit_id,
        ),
    )
    if error:
        return _refused(request, principal, db, unit_id=unit_id, year=shown, error=error)
    return RedirectResponse(f"/emissions/units/{unit_id}?year={shown}#products", 303)

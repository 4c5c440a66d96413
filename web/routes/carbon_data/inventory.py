"""The annual inventory with its charts, frozen snapshots and the annual GHG report (docx)."""

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from engine.carbon_data.cache import cached_inventory
from engine.carbon_data.errors import EmissionsDataError
from engine.carbon_data.provenance import measurements
from engine.carbon_data.reporting import annual_figures, classified
from engine.carbon_data.snapshots import (
    freeze_snapshot,
    get_snapshot,
    latest_snapshot,
    list_snapshots,
    snapshot_blockers,
    snapshot_details,
)
from engine.carbon_data.sources import list_sources
from engine.dqcp.report import substitutions_in_year
from engine.emissions.classification import VIEW_KEYS, View
from engine.emissions.errors import CalcError
from engine.identity.organizations import get_organization, list_org_units
from engine.planning.baselines import TargetStatus
from engine.reports.inventory_overview import inventory_overview
from engine.values import Id, Year
from web.deps import (
    CarbonManager,
    DatabaseDep,
    Member,
    OrgSession,
    actor_of,
    reporting_year,
)
from web.report_exports import docx_export
from web.templating import render

router = APIRouter()


@router.get("/emissions")
def inventory_page(
    request: Request,
    principal: Member,
    session: OrgSession,
    year: Year | None = None,
    frozen: Id | None = None,
    unchanged: bool = False,
    view: str | None = None,
) -> Response:
    assert principal.org is not None
    year = reporting_year(year)
    org_id = principal.org.id
    grid_year = None
    try:
        result = cached_inventory(session, org_id=org_id, year=year)
        inventory, problem, grid_year = result.summary, None, result.grid_year
    except (EmissionsDataError, CalcError) as error:
        inventory, problem = None, _problem_text(error, locale=request.state.locale)
    overview = inventory_overview(session, org_id=org_id, year=year)
    snapshots = overview.snapshots
    chart = None
    if inventory:
        chart = {
            "categories": {k: float(v) for k, v in inventory["by_category"].items()},
            "facilities": {k: float(v) for k, v in inventory["by_org_unit"].items()},
            "months": {k: float(v) for k, v in inventory["by_period"].items()},
            "baselines": [
                {"name": b.baseline.name, "value": float(b.evaluation.baseline.value)}
                for b in overview.baselines
                if b.evaluation
            ],
            "targets": [_target_path(status) for status in overview.targets if status.progress],
        }
    context = {
        "year": year,
        # No grid factor published for the year yet: the latest one is used, and the page says so.
        "grid_year_fallback": grid_year if grid_year is not None and grid_year != year else None,
        "inventory": inventory,
        "problem": problem,
        "chart": chart,
        "baselines": overview.baselines,
        "targets": overview.targets,
        "snapshots": snapshots,
        # Just frozen (the redirect after freezing says which): the page confirms it.
        "frozen": next((s for s in snapshots if s.id == frozen), None),
        "unchanged": unchanged,
        "blockers": overview.blockers,
        # Months filled under the data-quality control plan's missing-data rules: shown as such.
        "substitutions": overview.substitutions,
        # Measured values that do not name their lab report, laboratory or report number: flagged.
        "unsourced": overview.unsourced,
        # The year's edition and GWP set; the inventory by GB/T 32150, ISO 14064-1 and GHG Protocol.
        "settings": overview.settings,
        **_views(classified(inventory) if inventory else (), view, path="/emissions", query=f"year={year}&"),
    }
    return render(request, "emissions/inventory.html", context, whole_page_only=True)


def _views(views: tuple[View, ...], view: str | None, *, path: str, query: str = "") -> dict[str, Any]:
    """The views box's context: the views, the one shown, and where its tabs lead: ``path`` (the page, without
    JavaScript) or ``path``/views (the box alone, htmx), each with ``query`` and then ``view=``."""
    views_path = "/emissions/views" if path == "/emissions" else f"{path}/views"
    return {
        "views": views,
        "view": view if view in VIEW_KEYS else VIEW_KEYS[0],
        "page_url": f"{path}?{query}",
        "views_url": f"{views_path}?{query}",
    }


@router.get("/emissions/views")
def views_fragment(
    request: Request,
    principal: Member,
    session: OrgSession,
    year: Year | None = None,
    view: str | None = None,
) -> Response:
    """The live inventory's views box alone (the switch on the inventory page); empty when the inventory
    cannot be built (the page says why)."""
    assert principal.org is not None
    year = reporting_year(year)
    try:
        views = classified(cached_inventory(session, org_id=principal.org.id, year=year).summary)
    except (EmissionsDataError, CalcError):
        views = ()
    return render(
        request, "emissions/_views.html", _views(views, view, path="/emissions", query=f"year={year}&")
    )


@router.get("/emissions/snapshots/{snapshot_id}/views")
def snapshot_views_fragment(
    request: Request, principal: Member, session: OrgSession, snapshot_id: Id, view: str | None = None
) -> Response:
    """A frozen snapshot's views box alone, from its stored result."""
    assert principal.org is not None
    snapshot = get_snapshot(session, org_id=principal.org.id, snapshot_id=snapshot_id)
    if snapshot is None:
        raise HTTPException(404)
    context = _views(classified(snapshot.result), view, path=f"/emissions/snapshots/{snapshot_id}")
    return render(request, "emissions/_views.html", context)


def _problem_text(error: EmissionsDataError | CalcError, *, locale: str) -> str:
    """Why there is no inventory, for a person: the first problems, labelled, in the page's language."""
    if isinstance(error, EmissionsDataError):
        return error.summary(locale)
    zh = locale.startswith("zh")
    return "；".join(issue.message_zh if zh else issue.message_en for issue in error.issues[:3])


def _target_path(status: TargetStatus) -> dict[str, Any]:
    """A target's straight line from the base year to the target year, with the known actuals."""
    progress, target = status.progress, status.target
    assert progress is not None  # the page passes only targets with progress
    base = progress.target.base_value
    span = target.target_year - target.base_year
    years = list(range(target.base_year, target.target_year + 1))
    actual = {target.base_year: base, progress.current_year: progress.current_value}
    return {
        "name": f"−{target.reduction_pct}% {target.base_year}→{target.target_year}",
        "unit": "tCO2e" if target.kind == "total" else "tCO2e/t",
        "years": [str(y) for y in years],
        "path": [
            float(base * (1 - target.reduction_pct / 100 * (y - target.base_year) / span)) for y in years
        ],
        "actual": [float(actual[y]) if y in actual else None for y in years],
    }


@router.get("/emissions/snapshots/new")
def freeze_page(
    request: Request, principal: CarbonManager, session: OrgSession, year: Year | None = None
) -> Response:
    """The confirmation step: what would be frozen; a reason field when the grid factor is another year's."""
    assert principal.org is not None
    context = _freeze_context(request, session, org_id=principal.org.id, year=reporting_year(year))
    return render(request, "emissions/snapshot_freeze.html", context)


@router.post("/emissions/snapshots")
def freeze(
    request: Request,
    principal: CarbonManager,
    db: DatabaseDep,
    year: Annotated[Year, Form()],
    freeze_reason: Annotated[str, Form()] = "",
) -> Response:
    assert principal.org is not None
    org_id = principal.org.id
    try:
        with db.unit_of_work(org_id=org_id) as uow:
            earlier = {s.id for s in list_snapshots(uow.session, org_id=org_id, year=year)}
            snapshot = freeze_snapshot(
                uow.session, org_id=org_id, year=year, actor=actor_of(principal), reason=freeze_reason
            )
    except EmissionsDataError as error:
        with db.read_session(org_id=org_id) as session:
            context = _freeze_context(request, session, org_id=org_id, year=year)
        context.update(issues=error.issues, typed_reason=freeze_reason)
        # Unverified months are a state of the data (409); a missing or long reason is bad input (422).
        status = 422 if all(issue.field == "freeze_reason" for issue in error.issues) else 409
        return render(request, "emissions/snapshot_freeze.html", context, status_code=status)
    flag = "&unchanged=1" if snapshot.id in earlier else ""
    return RedirectResponse(f"/emissions?year={year}&frozen={snapshot.id}{flag}", status_code=303)


def _freeze_context(request: Request, session: Session, *, org_id: int, year: int) -> dict[str, Any]:
    inventory, grid_year, problem, edition = None, None, None, None
    try:
        result = cached_inventory(session, org_id=org_id, year=year)
        inventory, grid_year, edition = result.json, result.grid_year, result.gbt32150_edition
    except (EmissionsDataError, CalcError) as error:
        problem = _problem_text(error, locale=request.state.locale)
    return {
        "year": year,
        "inventory": inventory,
        "grid_year": grid_year,
        "edition": edition,
        "grid_year_fallback": grid_year is not None and grid_year != year,
        "problem": problem,
        "blockers": snapshot_blockers(session, org_id=org_id, year=year),
        # Frozen before: freezing again restates the year and needs a reason.
        "restating": latest_snapshot(session, org_id=org_id, year=year),
        "issues": (),
        "typed_reason": "",
    }


@router.get("/emissions/snapshots/{snapshot_id}")
def snapshot_page(
    request: Request, principal: Member, session: OrgSession, snapshot_id: Id, view: str | None = None
) -> Response:
    """A frozen snapshot: its inputs, the factors per line, its results (in the three classifications too)
    and its checked SHA-256."""
    assert principal.org is not None
    details = snapshot_details(session, org_id=principal.org.id, snapshot_id=snapshot_id)
    if details is None:
        raise HTTPException(404)
    views = _views(classified(details.result), view, path=f"/emissions/snapshots/{snapshot_id}")
    return render(
        request, "emissions/snapshot.html", {"details": details, "snapshot": details.snapshot, **views}
    )


@router.get("/emissions/report.docx")
def ghg_report(
    request: Request, principal: Member, session: OrgSession, year: Year | None = None
) -> Response:
    """The annual GHG report in the GB/T 32150 structure, from the year's frozen snapshot if there is one;
    through the organization's own template when it has one."""
    assert principal.org is not None
    from engine.reports.ghg_report import ghg_report_context, ghg_report_docx

    year = reporting_year(year)
    org_id = principal.org.id
    try:
        figures = annual_figures(session, org_id=org_id, year=year)
    except (EmissionsDataError, CalcError) as error:
        raise HTTPException(422, detail=str(error)) from None
    organization = get_organization(session, org_id=org_id)
    assert organization is not None
    units = {unit.id: unit.name for unit in list_org_units(session)}
    sources = [
        {
            "code": s.code,
            "name": s.name,
            "category": s.category,
            "fuel": s.fuel_or_material or "—",
            "meter": s.meter or "—",
        }
        for s in list_sources(session, org_id=org_id)
    ]
    inputs: dict[str, Any] = {
        "figures": figures,
        "substitutions": substitutions_in_year(session, year=year),
        "measurements": measurements(session, org_id=org_id, year=year),
        "organization": organization.name,
        "industry": organization.industry,
        "units": list(units.values()),
        "sources": sources,
        "prepared_by": principal.display_name,
    }
    return docx_export(
        request,
        session,
        kind="ghg_report",
        filename=f"{organization.slug}-ghg-report-{year}.docx",
        context=lambda: ghg_report_context(**inputs),
        builtin=lambda: ghg_report_docx(**inputs),
    )

"""The annual inventory with its charts, frozen snapshots and the annual GHG report (docx)."""

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from engine.carbon_data.errors import EmissionsDataError
from engine.carbon_data.inventory import build_inventory
from engine.carbon_data.reporting import annual_figures
from engine.carbon_data.snapshots import freeze_snapshot, list_snapshots, snapshot_blockers
from engine.carbon_data.sources import list_sources
from engine.emissions.errors import CalcError
from engine.identity.organizations import get_organization, list_org_units
from engine.planning.baselines import TargetStatus, baselines_overview, targets_overview
from web.deps import (
    CarbonManager,
    DatabaseDep,
    Member,
    OrgSession,
    actor_of,
    reporting_year,
)
from web.templating import render

router = APIRouter()


@router.get("/emissions")
def inventory_page(
    request: Request, principal: Member, session: OrgSession, year: int | None = None
) -> Response:
    assert principal.org is not None
    year = reporting_year(year)
    org_id = principal.org.id
    grid_year = None
    try:
        result = build_inventory(session, org_id=org_id, year=year)
        inventory, problem, grid_year = result.json, None, result.grid_year
    except (EmissionsDataError, CalcError) as error:
        inventory, problem = None, _problem_text(error, locale=request.state.locale)
    baselines = baselines_overview(session, org_id=org_id)
    targets = targets_overview(session, org_id=org_id, current_year=year)
    chart = None
    if inventory:
        chart = {
            "categories": {k: float(v) for k, v in inventory["by_category"].items()},
            "facilities": {k: float(v) for k, v in inventory["by_org_unit"].items()},
            "months": {k: float(v) for k, v in inventory["by_period"].items()},
            "baselines": [
                {"name": b.baseline.name, "value": float(b.evaluation.baseline.value)}
                for b in baselines
                if b.evaluation
            ],
            "targets": [_target_path(status) for status in targets if status.progress],
        }
    context = {
        "year": year,
        # No grid factor published for the year yet: the latest one is used, and the page says so.
        "grid_year_fallback": grid_year if grid_year is not None and grid_year != year else None,
        "inventory": inventory,
        "problem": problem,
        "chart": chart,
        "baselines": baselines,
        "targets": targets,
        "snapshots": list_snapshots(session, org_id=org_id, year=year),
        "blockers": snapshot_blockers(session, org_id=org_id, year=year),
    }
    return render(request, "emissions/inventory.html", context, whole_page_only=True)


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


@router.post("/emissions/snapshots")
def freeze(
    request: Request, principal: CarbonManager, db: DatabaseDep, year: Annotated[int, Form(ge=2000, le=2100)]
) -> Response:
    assert principal.org is not None
    try:
        with db.unit_of_work(org_id=principal.org.id) as uow:
            freeze_snapshot(uow.session, org_id=principal.org.id, year=year, actor=actor_of(principal))
    except EmissionsDataError as error:
        zh = request.state.locale == "zh_CN"
        reasons = "; ".join(issue.message_zh if zh else issue.message_en for issue in error.issues)
        raise HTTPException(409, detail=f"snapshot:{reasons}") from None
    return RedirectResponse(f"/emissions?year={year}", status_code=303)


@router.get("/emissions/report.docx")
def ghg_report(principal: Member, session: OrgSession, year: int | None = None) -> Response:
    """The annual GHG report in the GB/T 32150 structure, from the year's frozen snapshot if there is one."""
    assert principal.org is not None
    from urllib.parse import quote

    from engine.reports.ghg_report import ghg_report_docx

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
    content = ghg_report_docx(
        figures=figures,
        organization=organization.name,
        industry=organization.industry,
        units=list(units.values()),
        sources=sources,
        prepared_by=principal.display_name,
    )
    filename = quote(f"{organization.slug}-ghg-report-{year}.docx")
    return Response(
        content,
        media_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{filename}"},
    )

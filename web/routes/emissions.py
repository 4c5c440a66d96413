"""Emissions pages: the inventory with charts, the source register, the monthly entry grid, the import page;
and the bulk meter-data API. The numbers come from engine.services.emissions and the pure calculator."""

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Header, HTTPException, Request, UploadFile
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlmodel import select

from engine.audit import Actor
from engine.carbon_data.aggregation import monthly_totals
from engine.carbon_data.errors import DataIssue, EmissionsDataError
from engine.carbon_data.imports import import_readings, import_template
from engine.carbon_data.ingest import ingest_readings
from engine.carbon_data.inputs import evidence_of_months
from engine.carbon_data.inventory import build_inventory
from engine.carbon_data.readings import record_readings
from engine.carbon_data.snapshots import freeze_snapshot, list_snapshots
from engine.carbon_data.sources import add_source, list_sources
from engine.emissions.errors import CalcError
from engine.emissions.model import Category
from engine.evidence.store import evidence_by_hash
from engine.identity.models import OrgUnit, Role
from engine.planning.baselines import baselines_overview, targets_overview
from engine.records.queries import records_in_states
from engine.workflow.lifecycle import fire_transition
from engine.workflow.runner import TransitionRefused
from web.deps import DatabaseDep, Member, OrgSession, Principal, RoleRequirement
from web.routes.records import actor_ref
from web.templating import render
from workflows import COLLECTED_BATCH_STATE, DATA_BATCH_WORKFLOW, REOPEN_TRIGGER, VERIFIED_BATCH_STATES

router = APIRouter()
DataEditor = Annotated[
    Principal, Depends(RoleRequirement(Role.admin, Role.carbon_manager, Role.process_owner, Role.staff))
]
CarbonManager = Annotated[Principal, Depends(RoleRequirement(Role.admin, Role.carbon_manager))]
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
UPLOAD_PATHS = ("/emissions/import",)
CATEGORIES = tuple(category.value for category in Category)


def actor_of(principal: Principal) -> Actor:
    return Actor(principal.user_id, principal.display_name)


def save_all_or_nothing(db, principal, parse_issues: list[DataIssue], save) -> EmissionsDataError | None:
    """Run ``save(session)`` in one unit of work; every problem (the form's parsing, issues ``save`` adds
    to ``parse_issues``, and the service's checks, one per row and field) comes back together, and then
    nothing is written."""
    try:
        with db.unit_of_work(org_id=principal.org.id) as uow:
            try:
                save(uow.session)
                service_issues: tuple[DataIssue, ...] = ()
            except EmissionsDataError as error:
                service_issues = error.issues
            reported = {(issue.row, issue.field) for issue in parse_issues}
            problems = parse_issues + [i for i in service_issues if (i.row, i.field) not in reported]
            if problems:
                raise EmissionsDataError(problems)
    except EmissionsDataError as error:
        return error
    return None


def reporting_year(year: int | None) -> int:
    return year or date.today().year - 1  # the last complete year is what gets reported


@router.get("/emissions")
def inventory_page(
    request: Request, principal: Member, session: OrgSession, year: int | None = None
) -> Response:
    year = reporting_year(year)
    org_id = principal.org.id
    grid_year = None
    try:
        result = build_inventory(session, org_id=org_id, year=year)
        inventory, problem, grid_year = result.json, None, result.grid_year
    except (EmissionsDataError, CalcError) as error:
        inventory, problem = None, error
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
        "unverified": unverified_months(session, year=year),
        "may_freeze": principal.has_any(frozenset({"admin", "carbon_manager"})),
    }
    return render(request, "emissions/inventory.html", context)


def _target_path(status) -> dict[str, Any]:
    """A target's straight line from the base year to the target year, with the known actuals."""
    progress, target = status.progress, status.target
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
    with db.unit_of_work(org_id=principal.org.id) as uow:
        unverified = unverified_months(uow.session, year=year)
        if unverified:
            raise HTTPException(409, detail=f"unverified: {', '.join(unverified)}")
        freeze_snapshot(uow.session, org_id=principal.org.id, year=year, actor=actor_of(principal))
    return RedirectResponse(f"/emissions?year={year}", status_code=303)


def unverified_months(session, *, year: int) -> list[str]:
    """Months of ``year`` without a verified (or reported) data batch: a snapshot takes verified data only."""
    verified = {
        record.data.get("period")
        for record in records_in_states(
            session, workflow_key=DATA_BATCH_WORKFLOW, states=VERIFIED_BATCH_STATES
        )
    }
    return [month for month in (f"{year}-{m:02d}" for m in range(1, 13)) if month not in verified]


def _units(session) -> list[tuple[int, str]]:
    return [(unit.id, unit.name) for unit in session.exec(select(OrgUnit).order_by(OrgUnit.code)).all()]


@router.get("/emissions/sources")
def sources_page(request: Request, principal: Member, session: OrgSession) -> Response:
    return render(
        request,
        "emissions/sources.html",
        {
            "sources": list_sources(session, org_id=principal.org.id),
            "units": _units(session),
            "categories": CATEGORIES,
            "issues": [],
            "values": {},
        },
    )


@router.post("/emissions/sources")
async def create_source(request: Request, principal: DataEditor, db: DatabaseDep) -> Response:
    form = await request.form()
    values = {
        key: (str(form.get(key) or "").strip() or None)
        for key in (
            "code",
            "name",
            "category",
            "unit",
            "fuel_or_material",
            "region",
            "meter",
            "tier",
            "org_unit_id",
            "method",
        )
    }
    unit_text = values["org_unit_id"] or ""
    try:
        with db.unit_of_work(org_id=principal.org.id) as uow:
            if not unit_text.isdigit():
                raise EmissionsDataError.single(
                    "org_unit_id", zh="请选择设施", en="choose a facility", row=None
                )
            add_source(
                uow.session,
                org_id=principal.org.id,
                actor=actor_of(principal),
                org_unit_id=int(unit_text),
                code=values["code"] or "",
                name=values["name"] or "",
                category=values["category"] or "",
                unit=values["unit"] or "",
                fuel_or_material=values["fuel_or_material"],
                region=values["region"],
                meter=values["meter"],
                tier=values["tier"] or "statistical",
                method=values["method"] or "",
            )
    except EmissionsDataError as error:
        with db.read_session(org_id=principal.org.id) as session:
            return render(
                request,
                "emissions/sources.html",
                {
                    "sources": list_sources(session, org_id=principal.org.id),
                    "units": _units(session),
                    "categories": CATEGORIES,
                    "issues": error.issues,
                    "values": values,
                },
                status_code=422,
            )
    return RedirectResponse("/emissions/sources", status_code=303)


def _grid(session, org_id: int, year: int) -> tuple[list, dict[tuple[int, str], str], list[str]]:
    sources = list_sources(session, org_id=org_id, include_inactive=False)
    # Plain decimal text for the inputs (Decimal.normalize alone would print 1.02E+5).
    totals = {
        (t.source_id, t.period): format(t.quantity.normalize(), "f")
        for t in monthly_totals(session, org_id=org_id, year=year)
    }
    months = [f"{year}-{month:02d}" for month in range(1, 13)]
    return sources, totals, months


def data_grid_response(
    request: Request, session, principal: Principal, *, year: int, issues=(), saved=None, status_code=200
) -> Response:
    sources, totals, months = _grid(session, principal.org.id, year)
    evidence_hashes = evidence_of_months(session, org_id=principal.org.id, year=year)
    files = evidence_by_hash(session, org_id=principal.org.id, hashes=evidence_hashes.values())
    return render(
        request,
        "emissions/data.html",
        {
            "year": year,
            "sources": sources,
            "totals": totals,
            "months": months,
            "evidence": {cell: files[sha] for cell, sha in evidence_hashes.items() if sha in files},
            "issues": issues,
            "saved": saved,
        },
        status_code=status_code,
    )


@router.get("/emissions/data")
def data_grid(request: Request, principal: Member, session: OrgSession, year: int | None = None) -> Response:
    return data_grid_response(request, session, principal, year=reporting_year(year))


@router.post("/emissions/data")
async def save_grid(request: Request, principal: DataEditor, db: DatabaseDep) -> Response:
    """Each changed cell becomes one audited monthly reading; a bad cell saves nothing and names itself."""
    form = await request.form()
    year_text = str(form.get("year") or "").strip()
    year = int(year_text) if year_text.isdigit() and 1990 <= int(year_text) <= 2100 else reporting_year(None)
    entries: list[dict[str, Any]] = []
    issues: list[DataIssue] = []
    if year_text and str(year) != year_text:
        issues.append(DataIssue(None, "year", f"年份无效：{year_text}", f"not a valid year: {year_text}"))
    for key, value in form.multi_items():
        if not key.startswith("q-") or not isinstance(value, str):
            continue
        source_id, _, period = key[2:].partition("-")
        if not source_id.isdigit():
            issues.append(DataIssue(None, key, "无法识别的数据格", f"unknown grid cell {key}"))
            continue
        original = str(form.get(f"o-{source_id}-{period}") or "")
        if value.strip() != original.strip() and value.strip() != "":
            entries.append({"source_id": int(source_id), "period": period, "quantity": value.strip()})
    reason = str(form.get("reason") or "").strip()
    saved = 0
    try:
        with db.unit_of_work(org_id=principal.org.id) as uow:
            if issues:
                raise EmissionsDataError(issues)
            saved = len(
                record_readings(
                    uow.session, org_id=principal.org.id, actor=actor_of(principal), entries=entries
                )
            )
            record_data_change(
                uow.session,
                request=request,
                principal=principal,
                periods={e["period"] for e in entries},
                reason=reason,
            )
    except EmissionsDataError as error:
        issues = error.issues
    with db.read_session(org_id=principal.org.id) as session:
        return data_grid_response(
            request,
            session,
            principal,
            year=year,
            issues=issues,
            saved=None if issues else saved,
            status_code=422 if issues else 200,
        )


def record_data_change(session, *, request: Request, principal: Principal, periods: set[str], reason: str):
    """8.6, whenever a month's data changes: a verified or reported month changes only with a reason and
    its batch goes back to collection (through the workflow, so roles, audit and separation of duties
    apply); and whoever changed the data joins the collecting batch's "create" participants, so that the
    workflow keeps them from verifying or reporting it."""
    _reopen_verified_batches(session, request=request, principal=principal, periods=periods, reason=reason)
    for batch in records_in_states(
        session, workflow_key=DATA_BATCH_WORKFLOW, states=(COLLECTED_BATCH_STATE,)
    ):
        creators = batch.participants.get("create", [])
        if batch.data.get("period") in periods and principal.user_id not in creators:
            batch.participants = {**batch.participants, "create": sorted({*creators, principal.user_id})}
            session.add(batch)
    session.flush()


def _reopen_verified_batches(
    session, *, request: Request, principal: Principal, periods: set[str], reason: str
):
    batches = [
        record
        for record in records_in_states(
            session, workflow_key=DATA_BATCH_WORKFLOW, states=VERIFIED_BATCH_STATES
        )
        if record.data.get("period") in periods
    ]
    if not batches:
        return
    months = ", ".join(sorted(batch.data["period"] for batch in batches))
    if not reason:
        raise EmissionsDataError(
            [
                DataIssue(
                    row=None,
                    field="reason",
                    message_zh=f"{months} 的数据已核验或已报送：修改须填写原因，数据批次将被退回重新核验",
                    message_en=f"{months} is verified or reported: give a reason (the batch is sent back)",
                )
            ]
        )
    for batch in batches:
        try:
            fire_transition(
                session,
                catalog=request.app.state.catalog,
                record_id=batch.id,
                trigger=REOPEN_TRIGGER[batch.state],
                actor=actor_ref(principal),
                form_data={},
                expected_version=batch.version,
                comment=reason,
                secret_key=request.app.state.secret_key,
            )
        except TransitionRefused as refused:
            raise EmissionsDataError(
                [
                    DataIssue(
                        row=None,
                        field="reason",
                        message_zh=f"{batch.number}：{refused.reason.zh}",
                        message_en=f"{batch.number}: {refused.reason.en}",
                    )
                ]
            ) from None


@router.get("/emissions/import")
def import_page(request: Request, principal: Member) -> Response:
    return render(request, "emissions/import.html", {"result": None, "issues": []})


@router.get("/emissions/import/template.xlsx")
def template(principal: Member, session: OrgSession) -> Response:
    content = import_template(session, org_id=principal.org.id)
    return Response(
        content,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": "attachment; filename*=UTF-8''activity-data-template.xlsx"},
    )


@router.post("/emissions/import")
async def upload(
    request: Request,
    principal: DataEditor,
    db: DatabaseDep,
    file: Annotated[UploadFile, File()],
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    content = await file.read(MAX_UPLOAD_BYTES + 1)
    if len(content) > MAX_UPLOAD_BYTES:
        raise HTTPException(413, detail="upload")
    try:
        with db.unit_of_work(org_id=principal.org.id) as uow:
            result = import_readings(
                uow.session,
                org_id=principal.org.id,
                actor=actor_of(principal),
                filename=file.filename or "upload",
                content=content,
            )
            record_data_change(
                uow.session, request=request, principal=principal, periods=set(result.periods), reason=reason
            )
    except EmissionsDataError as error:
        return render(
            request, "emissions/import.html", {"result": None, "issues": error.issues}, status_code=422
        )
    return render(request, "emissions/import.html", {"result": result, "issues": []})


class MeterReadingsIn(BaseModel):
    readings: list[dict[str, Any]] = Field(max_length=100_000)
    # Needed when readings land in a month whose data batch is verified or reported (8.6): the batch is
    # sent back for verification with this reason.
    reason: str = Field(default="", max_length=500)


@router.post("/api/v1/meter-readings", tags=["emissions"])
def meter_readings(
    request: Request,
    principal: DataEditor,
    db: DatabaseDep,
    body: MeterReadingsIn,
    idempotency_key: Annotated[str, Header(min_length=8, max_length=128)],
) -> JSONResponse:
    """Bulk meter data for energy-monitoring systems; a replayed Idempotency-Key returns the first result."""
    try:
        with db.unit_of_work(org_id=principal.org.id) as uow:
            result = ingest_readings(
                uow.session,
                org_id=principal.org.id,
                readings=body.readings,
                idempotency_key=idempotency_key,
                actor=actor_of(principal),
            )
            if not result.replayed:
                record_data_change(
                    uow.session,
                    request=request,
                    principal=principal,
                    periods=set(result.periods),
                    reason=body.reason.strip(),
                )
    except EmissionsDataError as error:
        return JSONResponse({"errors": [issue.to_dict() for issue in error.issues]}, status_code=422)
    return JSONResponse(
        {**result.to_dict(), "replayed": result.replayed}, status_code=200 if result.replayed else 201
    )


@router.get("/emissions/report.docx")
def ghg_report(principal: Member, session: OrgSession, year: int | None = None) -> Response:
    """The annual GHG report in the GB/T 32150 structure, from the year's frozen snapshot if there is one."""
    from urllib.parse import quote

    from engine.identity.models import Organization
    from engine.reports.ghg_report import ghg_report_docx

    year = reporting_year(year)
    org_id = principal.org.id
    snapshots = list_snapshots(session, org_id=org_id, year=year)
    try:
        inventory = (
            snapshots[0].result if snapshots else build_inventory(session, org_id=org_id, year=year).json
        )
    except (EmissionsDataError, CalcError) as error:
        raise HTTPException(422, detail=str(error)) from None
    organization = session.get(Organization, org_id)
    units = dict(_units(session))
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
        inventory=inventory,
        year=year,
        organization=organization.name,
        industry=organization.industry,
        units=list(units.values()),
        sources=sources,
    )
    filename = quote(f"{organization.slug}-ghg-report-{year}.docx")
    return Response(
        content,
        media_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{filename}"},
    )

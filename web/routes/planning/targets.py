"""Planning pages of 6.3: baselines and reduction targets, and the definitions of carbon performance
parameters. Every form says what is wrong, field by field (and row by row), and saves nothing then."""

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session
from starlette.datastructures import FormData

from engine.carbon_data.errors import DataIssue, EmissionsDataError
from engine.db import Database
from engine.identity.models import Product
from engine.identity.organizations import list_org_units, list_products
from engine.identity.users import list_members
from engine.planning.baselines import add_baseline, add_target, baselines_overview, targets_overview
from engine.planning.performance import LEVELS, add_parameter, evaluate_parameters
from engine.values import Year, parse_id
from web.deps import (
    CarbonManager,
    DatabaseDep,
    Member,
    OrgSession,
    PostedForm,
    Principal,
    actor_of,
    reporting_year,
)
from web.forms import save_all_or_nothing
from web.templating import render

router = APIRouter()
BASELINE_PERIOD_ROWS = 5
BASELINE_ADJUSTMENT_ROWS = 3
TARGET_FIELDS = ("kind", "base_year", "target_year", "reduction_pct", "product_id", "note")
PARAMETER_FIELDS = (
    "code",
    "name",
    "level",
    "formula",
    "unit",
    "org_unit_id",
    "product_id",
    "owner_id",
    "threshold_warn",
    "threshold_alarm",
)


def _text(form: FormData, name: str) -> str:
    return str(form.get(name) or "").strip()


def _whole_number(value: str, field: str, issues: list[DataIssue], *, row: int | None = None) -> Any:
    """An int, or the text back (the service names it) with an issue for a value that is not one."""
    try:
        return int(value)
    except ValueError:
        issues.append(DataIssue(row, field, f"应为整数：“{value}”", f"must be a whole number: '{value}'"))
        return value


def _optional_id(value: str, field: str, issues: list[DataIssue]) -> int | None:
    chosen = parse_id(value) if value else None
    if value and chosen is None:
        issues.append(DataIssue(None, field, "请选择一项", "choose one"))
    return chosen


def _products(session: Session) -> list[Product]:
    return list_products(session)


# ---------------------------------------------------------------- baselines and targets


def _targets_context(
    session: Session,
    principal: Principal,
    *,
    year: Year,
    issues: Sequence[DataIssue] = (),
    values: dict[str, str] | None = None,
    failed: str | None = None,
) -> dict[str, Any]:
    assert principal.org is not None
    org_id = principal.org.id
    return {
        "year": year,
        "baselines": baselines_overview(session, org_id=org_id),
        "targets": targets_overview(session, org_id=org_id, current_year=year),
        "products": _products(session),
        "period_rows": range(1, BASELINE_PERIOD_ROWS + 1),
        "adjustment_rows": range(1, BASELINE_ADJUSTMENT_ROWS + 1),
        "issues": issues,
        "values": values or {},
        "failed": failed,  # which form the issues belong to: "baseline" or "target"
    }


@router.get("/emissions/targets")
def targets_page(
    request: Request, principal: Member, session: OrgSession, year: Year | None = None
) -> Response:
    context = _targets_context(session, principal, year=reporting_year(year))
    return render(request, "emissions/targets.html", context)


@router.post("/emissions/baselines")
def create_baseline(
    request: Request, principal: CarbonManager, db: DatabaseDep, form: PostedForm
) -> Response:
    assert principal.org is not None
    org_id = principal.org.id
    values = {key: _text(form, key) for key in form if key != "csrf_token"}
    issues: list[DataIssue] = []
    periods = []
    for row in range(1, BASELINE_PERIOD_ROWS + 1):
        year, weight = values.get(f"year-{row}", ""), values.get(f"weight-{row}", "")
        if not year and not weight:
            continue
        period: dict[str, Any] = {"year": _whole_number(year, "year", issues, row=row) if year else None}
        if weight:
            period["weight"] = weight
        periods.append(period)
    adjustments = [
        {"reason": values.get(f"reason-{row}", ""), "delta_tco2e": values.get(f"delta-{row}", "")}
        for row in range(1, BASELINE_ADJUSTMENT_ROWS + 1)
        if values.get(f"reason-{row}") or values.get(f"delta-{row}")
    ]
    error = save_all_or_nothing(
        db,
        org_id=org_id,
        parse_issues=issues,
        save=lambda session: add_baseline(
            session,
            org_id=org_id,
            actor=actor_of(principal),
            name=values.get("name", ""),
            periods=periods,
            adjustments=adjustments,
        ),
    )
    if error:
        return _refused(request, principal, db, error, values, failed="baseline")
    return RedirectResponse("/emissions/targets", status_code=303)


@router.post("/emissions/targets")
def create_target(request: Request, principal: CarbonManager, db: DatabaseDep, form: PostedForm) -> Response:
    assert principal.org is not None
    org_id = principal.org.id
    values = {key: _text(form, key) for key in TARGET_FIELDS}
    issues: list[DataIssue] = []
    base_year = _whole_number(values["base_year"], "base_year", issues)
    target_year = _whole_number(values["target_year"], "target_year", issues)
    product_id = _optional_id(values["product_id"], "product_id", issues)
    error = save_all_or_nothing(
        db,
        org_id=org_id,
        parse_issues=issues,
        save=lambda session: add_target(
            session,
            org_id=org_id,
            actor=actor_of(principal),
            kind=values["kind"],
            base_year=base_year,
            target_year=target_year,
            reduction_pct=values["reduction_pct"],
            product_id=product_id,
            note=values["note"],
        ),
    )
    if error:
        return _refused(request, principal, db, error, values, failed="target")
    return RedirectResponse("/emissions/targets", status_code=303)


def _refused(
    request: Request,
    principal: Principal,
    db: Database,
    error: EmissionsDataError,
    values: dict[str, str],
    *,
    failed: str,
) -> Response:
    assert principal.org is not None
    with db.read_session(org_id=principal.org.id) as session:
        context = _targets_context(
            session, principal, year=reporting_year(None), issues=error.issues, values=values, failed=failed
        )
        return render(request, "emissions/targets.html", context, status_code=422)


# ---------------------------------------------------------------- carbon performance parameters


def _parameters_context(
    session: Session,
    principal: Principal,
    *,
    year: Year,
    issues: Sequence[DataIssue] = (),
    values: dict[str, str] | None = None,
) -> dict[str, Any]:
    assert principal.org is not None
    org_id = principal.org.id
    members = list_members(session, org_id=org_id)
    return {
        "year": year,
        "values": evaluate_parameters(session, org_id=org_id, year=year),
        "owners": {user.id: user.display_name for user, _ in members},
        "levels": LEVELS,
        "units": list_org_units(session),
        "products": _products(session),
        "issues": issues,
        "form": values or {},
    }


@router.get("/emissions/parameters")
def parameters_page(
    request: Request, principal: Member, session: OrgSession, year: Year | None = None
) -> Response:
    context = _parameters_context(session, principal, year=reporting_year(year))
    return render(request, "emissions/parameters.html", context)


@router.post("/emissions/parameters")
def create_parameter(
    request: Request, principal: CarbonManager, db: DatabaseDep, form: PostedForm
) -> Response:
    assert principal.org is not None
    org_id = principal.org.id
    values = {key: _text(form, key) for key in PARAMETER_FIELDS}
    issues: list[DataIssue] = []
    ids = {key: _optional_id(values[key], key, issues) for key in ("org_unit_id", "product_id", "owner_id")}
    error = save_all_or_nothing(
        db,
        org_id=org_id,
        parse_issues=issues,
        save=lambda session: add_parameter(
            session,
            org_id=org_id,
            actor=actor_of(principal),
            code=values["code"],
            name=values["name"],
            level=values["level"],
            formula=values["formula"],
            unit=values["unit"],
            threshold_warn=values["threshold_warn"] or None,
            threshold_alarm=values["threshold_alarm"] or None,
            **ids,
        ),
    )
    if error:
        with db.read_session(org_id=org_id) as session:
            context = _parameters_context(
                session, principal, year=reporting_year(None), issues=error.issues, values=values
            )
            return render(request, "emissions/parameters.html", context, status_code=422)
    return RedirectResponse("/emissions/parameters", status_code=303)

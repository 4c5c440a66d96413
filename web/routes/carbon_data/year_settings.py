"""A reporting year's settings: the GB/T 32150 edition and the GWP set (ADR 0043)."""

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from engine.carbon_data.editions import EDITIONS, GWP_SETS, default_edition, editions_for, year_settings
from engine.carbon_data.errors import DataIssue, EmissionsDataError
from engine.carbon_data.snapshots import latest_snapshot
from engine.carbon_data.year_settings import change_year_settings
from engine.emissions.factors import DEFAULT_GWP_SET
from engine.identity.users import get_user
from engine.values import Year, parse_year
from web.deps import CarbonManager, DatabaseDep, Member, OrgSession, PostedForm, actor_of, reporting_year
from web.templating import render

router = APIRouter()


def settings_context(
    session: Session,
    *,
    org_id: int,
    year: int,
    issues: Sequence[DataIssue] = (),
    typed: dict[str, str] | None = None,
) -> dict[str, Any]:
    settings = year_settings(session, org_id=org_id, year=year)
    stored = settings.stored
    changed_by = get_user(session, user_id=stored.updated_by) if stored and stored.updated_by else None
    return {
        "year": year,
        "settings": settings,
        "edition_text": EDITIONS[settings.gbt32150_edition],
        "changed_by": changed_by.display_name if changed_by else None,
        "default_edition": default_edition(year),
        "default_gwp_set": DEFAULT_GWP_SET,
        "editions": [(key, EDITIONS[key]) for key in editions_for(year)],
        "gwp_sets": list(GWP_SETS.items()),
        "frozen": latest_snapshot(session, org_id=org_id, year=year),
        "issues": issues,
        "typed": typed or {},
    }


@router.get("/emissions/settings")
def settings_page(
    request: Request, principal: Member, session: OrgSession, year: Year | None = None
) -> Response:
    assert principal.org is not None
    context = settings_context(session, org_id=principal.org.id, year=reporting_year(year))
    return render(request, "emissions/year_settings.html", context)


@router.post("/emissions/settings")
def change_settings(
    request: Request, principal: CarbonManager, db: DatabaseDep, form: PostedForm
) -> Response:
    assert principal.org is not None
    org_id = principal.org.id
    typed = {name: str(form.get(name) or "") for name in ("year", "gbt32150_edition", "gwp_set", "reason")}
    year = parse_year(typed["year"])
    try:
        if year is None:
            raise EmissionsDataError.single("year", zh="请填写有效的年份", en="give a valid year")
        with db.unit_of_work(org_id=org_id) as uow:
            change = change_year_settings(
                uow.session,
                org_id=org_id,
                year=year,
                actor=actor_of(principal),
                gbt32150_edition=typed["gbt32150_edition"],
                gwp_set=typed["gwp_set"],
                reason=typed["reason"],
            )
    except EmissionsDataError as error:
        with db.read_session(org_id=org_id) as session:
            context = settings_context(
                session, org_id=org_id, year=year or reporting_year(None), issues=error.issues, typed=typed
            )
        return render(request, "emissions/year_settings.html", context, status_code=422)
    if change.restated is not None:  # recalculated and frozen again: the restatement's page
        return RedirectResponse(f"/emissions/snapshots/{change.restated.id}", status_code=303)
    flag = "saved" if change.changes else "unchanged"
    return RedirectResponse(f"/emissions/settings?year={year}&{flag}=1", status_code=303)

"""The emission-source register: list and add."""

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from engine.carbon_data.errors import EmissionsDataError
from engine.carbon_data.sources import add_source, list_sources
from engine.emissions.model import Category
from engine.identity.organizations import list_org_units
from engine.values import parse_id
from web.deps import DatabaseDep, DataEditor, Member, OrgSession, PostedForm, actor_of
from web.templating import render

router = APIRouter()

CATEGORIES = tuple(category.value for category in Category)


@router.get("/emissions/sources")
def sources_page(request: Request, principal: Member, session: OrgSession) -> Response:
    assert principal.org is not None
    return render(
        request,
        "emissions/sources.html",
        {
            "sources": list_sources(session, org_id=principal.org.id),
            "units": [(unit.id, unit.name) for unit in list_org_units(session)],
            "categories": CATEGORIES,
            "issues": [],
            "values": {},
        },
    )


@router.post("/emissions/sources")
def create_source(request: Request, principal: DataEditor, db: DatabaseDep, form: PostedForm) -> Response:
    assert principal.org is not None
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
            org_unit_id = parse_id(unit_text)
            if org_unit_id is None:
                raise EmissionsDataError.single(
                    "org_unit_id", zh="请选择设施", en="choose a facility", row=None
                )
            add_source(
                uow.session,
                org_id=principal.org.id,
                actor=actor_of(principal),
                org_unit_id=org_unit_id,
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
                    "units": [(unit.id, unit.name) for unit in list_org_units(session)],
                    "categories": CATEGORIES,
                    "issues": error.issues,
                    "values": values,
                },
                status_code=422,
            )
    return RedirectResponse("/emissions/sources", status_code=303)

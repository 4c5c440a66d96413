"""9.1 / 6.2.3 metering instruments: the GB 17167 coverage page (equipping rate per facility and level,
accuracy of the instruments in service, instruments past their calibration date). The register itself is
the generic record list and record pages (/records/metering_instrument)."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from engine.identity.organizations import list_org_units
from engine.workflow.computed import china_today
from web.deps import Member, OrgSession
from web.templating import render
from workflows.hooks.metering_instrument import WORKFLOW, coverage, instruments_overdue, requirements

router = APIRouter()


@router.get("/instruments/coverage")
def coverage_page(request: Request, principal: Member, session: OrgSession) -> Response:
    assert principal.org is not None
    units = list_org_units(session)
    today = china_today()
    workflow = request.app.state.catalog.get(WORKFLOW)
    return render(
        request,
        "instruments/coverage.html",
        {
            "workflow": workflow,
            "facilities": coverage(
                session,
                org_id=principal.org.id,
                org_slug=principal.org.slug,
                units={unit.id: unit.code for unit in units if unit.id is not None},
            ),
            "overdue": instruments_overdue(session, org_id=principal.org.id, today=today),
            "requirements": requirements(),
            "unit_names": {
                unit.id: (unit.name if request.state.locale.startswith("zh") else unit.name_en or unit.name)
                for unit in units
            },
            "today": today,
        },
    )

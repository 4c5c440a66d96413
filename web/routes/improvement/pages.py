"""6.3 and 10.2: the objectives with their progress read from the performance parameters (/objectives), and
the PDCA page (/improvement): objectives → parameter trend → audits and nonconformities → open actions.
The registers themselves are the generic record lists."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from engine.records.queries import names_in
from engine.workflow.computed import china_today
from web.deps import Member, OrgSession
from web.templating import render
from workflows.hooks.carbon_objective import WORKFLOW as OBJECTIVES
from workflows.hooks.carbon_objective import objectives_progress, plans_by_objective
from workflows.hooks.improvement_item import ACTION_PLAN, NONCONFORMITY, pdca_loop
from workflows.hooks.improvement_item import WORKFLOW as IMPROVEMENTS
from workflows.hooks.planned_change import WORKFLOW as CHANGES
from workflows.hooks.risk_opportunity import INHERENT, heat_map
from workflows.hooks.risk_opportunity import WORKFLOW as RISKS

router = APIRouter()


def _trend(progress: list, years: list[int]) -> dict:  # type: ignore[type-arg]
    """The chart's series: each objective's parameter as % of its baseline value, per year."""
    series = []
    for item in progress:
        baseline = item.record.data.get("baseline_value")
        try:
            base = float(baseline)
        except (TypeError, ValueError):
            continue
        points = [
            None
            if (value := item.values.get(year)) is None or not base
            else round(float(value) / base * 100, 2)
            for year in years
        ]
        series.append(
            {"name": f"{item.record.number} {item.record.data.get('parameter_code', '')}", "data": points}
        )
    return {"years": [str(year) for year in years], "series": series}


@router.get("/objectives")
def objectives_page(request: Request, principal: Member, session: OrgSession) -> Response:
    assert principal.org is not None
    catalog = request.app.state.catalog
    workflow = catalog.get(OBJECTIVES)
    progress, years = objectives_progress(session, org_id=principal.org.id, current_year=china_today().year)
    return render(
        request,
        "improvement/objectives.html",
        {
            "workflow": workflow,
            "plan_workflow": catalog.get(ACTION_PLAN),
            "progress": progress,
            "years": years,
            "plans": plans_by_objective(session),
            "names": names_in(
                session,
                org_id=principal.org.id,
                workflow=workflow,
                records=[item.record for item in progress],
            ),
            "chart": _trend(progress, years),
        },
    )


@router.get("/improvement")
def pdca_page(request: Request, principal: Member, session: OrgSession) -> Response:
    assert principal.org is not None
    catalog = request.app.state.catalog
    today = china_today()
    progress, years = objectives_progress(
        session, org_id=principal.org.id, current_year=today.year, include_closed=False
    )
    keys = (OBJECTIVES, ACTION_PLAN, NONCONFORMITY, IMPROVEMENTS, CHANGES, RISKS)
    loop = pdca_loop(session, workflow_keys=keys, today=today)
    workflows = {key: catalog.get(key) for key in keys}
    return render(
        request,
        "improvement/pdca.html",
        {
            "workflows": workflows,
            "progress": progress,
            "years": years,
            "pdca": loop,
            "risks": heat_map(session, mode=INHERENT),
            "chart": _trend(progress, years),
            "today": today,
        },
    )

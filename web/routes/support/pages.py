"""7.4.3 carbon disclosure: the page that ties each disclosure to the frozen snapshot its figures come from
and says when the year was frozen again since. The disclosures themselves are the generic record pages
(/records/disclosure); their figures are copied by the process (workflows/hooks/disclosure.py)."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from web.deps import Member, OrgSession
from web.templating import render
from workflows.hooks.disclosure import WORKFLOW, disclosures, frozen_snapshots

router = APIRouter()


@router.get("/support/disclosures")
def disclosures_page(request: Request, principal: Member, session: OrgSession) -> Response:
    assert principal.org is not None
    workflow = request.app.state.catalog.get(WORKFLOW)
    return render(
        request,
        "support/disclosures.html",
        {
            "workflow": workflow,
            "disclosures": disclosures(session, org_id=principal.org.id),
            "snapshots": frozen_snapshots(session, org_id=principal.org.id),
        },
    )

"""6.2.3 carbon review: the review as one page (the rule, the sources ranked by share and trend, metering,
proposed parameters, opportunities, and the reduction projects it opened) and its report as docx. The steps
themselves are the generic record page's (/r/{id})."""

from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from engine.records.queries import get_record, names_in, record_events
from engine.records.signatures import SignatureView, signatures_of
from engine.records.timeline import timeline_entries
from engine.reports.source_review import OpenedRecord, source_review_docx
from engine.values import Id
from engine.workflow.loader import Workflow
from engine.workflow.models import Record
from web.deps import Member, OrgSession
from web.templating import render
from workflows.hooks.carbon_review import PROJECTS, WORKFLOW, review_outputs, significance_rule

router = APIRouter()
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _review(request: Request, session: OrgSession, record_id: int) -> tuple[Record, Workflow]:
    """The review (404 for any other record) and the workflow version it is pinned to."""
    record = get_record(session, record_id=record_id, workflow_key=WORKFLOW)
    if record is None:
        raise HTTPException(404)
    workflow = request.app.state.catalog.pinned(
        session, key=record.workflow_key, version=record.workflow_version
    )
    return record, workflow


def _signatures(request: Request, session: OrgSession, record: Record) -> list[SignatureView]:
    state = request.app.state
    return signatures_of(
        session, record=record, secret_key=state.secret_key, old_secret_keys=state.old_secret_keys
    )


@router.get("/carbon-reviews/{record_id}")
def review_page(request: Request, principal: Member, session: OrgSession, record_id: Id) -> Response:
    assert principal.org is not None
    record, workflow = _review(request, session, record_id)
    outputs = review_outputs(session, record=record)
    return render(
        request,
        "reviews/carbon_review.html",
        {
            "record": record,
            "workflow": workflow,
            "projects_workflow": request.app.state.catalog.get(PROJECTS),
            "outputs": outputs,
            "rule": significance_rule(record.data).get(request.state.locale),
            "names": names_in(session, org_id=principal.org.id, workflow=workflow, records=[record]),
            "signatures": _signatures(request, session, record),
        },
    )


@router.get("/carbon-reviews/{record_id}/report.docx")
def review_report(request: Request, principal: Member, session: OrgSession, record_id: Id) -> Response:
    assert principal.org is not None
    record, workflow = _review(request, session, record_id)
    projects = request.app.state.catalog.get(PROJECTS)
    events = record_events(session, record_id=record_id)
    names = names_in(session, org_id=principal.org.id, workflow=workflow, records=[record], events=events)
    opened = [
        OpenedRecord(
            number=project.number,
            title=project.title,
            state=projects.spec.state(project.state).label.zh if projects else project.state,
        )
        for project in review_outputs(session, record=record).projects
    ]
    content = source_review_docx(
        record=record,
        workflow=workflow,
        timeline=timeline_entries(events, workflow=workflow, names=names, locale=request.state.locale),
        signatures=_signatures(request, session, record),
        names=names,
        opened=opened,
        rule=significance_rule(record.data),
        organization_name=principal.org.name,
        exported_by=principal.display_name,
    )
    filename = quote(f"{record.number}-碳评审报告.docx")
    return Response(
        content,
        media_type=DOCX,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{filename}"},
    )

"""9.4 management review: the list of reviews, a review's input pack as compiled (frozen once approved) and
its report as docx. The reviews themselves are the generic record pages (/r/{id}); the process compiles and
freezes the pack (workflows/hooks/management_review.py)."""

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from engine.records.display import Names
from engine.records.queries import get_record, names_in, record_events
from engine.records.signatures import SignatureView, signatures_of
from engine.values import Id
from engine.workflow.loader import Workflow
from engine.workflow.models import Record
from web.deps import Member, OrgSession
from web.report_exports import docx_export
from web.templating import render
from workflows.hooks.management_review import PackSection, pack_sections, review_actions, reviews
from workflows.hooks.review_docx import management_review_context, management_review_docx
from workflows.hooks.review_inputs import REVIEWS

router = APIRouter()


@router.get("/management-review")
def reviews_page(request: Request, principal: Member, session: OrgSession) -> Response:
    workflow = request.app.state.catalog.get(REVIEWS)
    return render(request, "review/list.html", {"workflow": workflow, "reviews": reviews(session)})


@dataclass(frozen=True)
class Review:
    record: Record
    workflow: Workflow
    sections: list[PackSection]
    actions: list[Record]
    signatures: list[SignatureView]
    names: Names


def _review(request: Request, session: OrgSession, principal: Member, record_id: int) -> Review:
    record = get_record(session, record_id=record_id, workflow_key=REVIEWS)
    if record is None or record.id is None or principal.org is None:
        raise HTTPException(404)
    workflow = request.app.state.catalog.pinned(
        session, key=record.workflow_key, version=record.workflow_version
    )
    state = request.app.state
    return Review(
        record=record,
        workflow=workflow,
        sections=pack_sections(record.data, workflow.forms["mr_inputs"]),
        actions=review_actions(session, review_id=record.id),
        signatures=signatures_of(
            session, record=record, secret_key=state.secret_key, old_secret_keys=state.old_secret_keys
        ),
        names=names_in(
            session,
            org_id=principal.org.id,
            workflow=workflow,
            records=[record],
            events=record_events(session, record_id=record.id),
        ),
    )


@router.get("/management-review/{record_id}")
def pack_page(request: Request, principal: Member, session: OrgSession, record_id: Id) -> Response:
    return render(request, "review/pack.html", vars(_review(request, session, principal, record_id)))


@router.get("/management-review/{record_id}/export.docx")
def review_docx(request: Request, principal: Member, session: OrgSession, record_id: Id) -> Response:
    assert principal.org is not None
    review = _review(request, session, principal, record_id)
    inputs: dict[str, Any] = {
        "record": review.record,
        "workflow": review.workflow,
        "signatures": review.signatures,
        "actions": review.actions,
        "names": review.names,
        "organization_name": principal.org.name,
        "exported_by": principal.display_name,
    }
    return docx_export(
        request,
        session,
        kind=REVIEWS,
        filename=f"{review.record.number}-管理评审.docx",
        context=lambda: management_review_context(**inputs),
        builtin=lambda: management_review_docx(**inputs),
    )

"""7.5 controlled documents: the register, a document's page (its versions, the text, the diff with the
version before, who has read it), its docx and original file, and read-and-acknowledge. Drafting,
approving (with the e-signature), revising and withdrawing happen on the generic record pages (/r/{id});
the process's rules are in workflows/hooks/controlled_document.py and document_register.py."""

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response

from engine.documents.renditions import OBSOLETE_MARK
from engine.evidence.store import EvidenceError
from engine.forms.spec import Text
from engine.records.display import display_value
from engine.records.queries import names_in
from engine.records.signatures import signatures_of
from engine.values import Id
from web.deps import Member, OrgSession, OrgUnitOfWork, actor_of
from web.record_documents import register_document, register_mark
from web.templating import render
from workflows.hooks.controlled_document import FINAL_STATES, WORKFLOW, next_review
from workflows.hooks.document_register import (
    POLICY,
    SUPERSEDED_POLICY,
    DocumentRefused,
    DocumentView,
    acknowledge_reading,
    document_view,
    original_file,
    register,
    role_names,
    to_read,
    version_docx,
)

router = APIRouter()
Filter = Annotated[str, Query(max_length=40, pattern=r"^[A-Za-z0-9_.]*$")]
Search = Annotated[str, Query(max_length=100)]
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _obsolete_mark(finals: tuple[str, ...]) -> Callable[[Any], str | None]:
    return lambda record: OBSOLETE_MARK if record.state in finals else None


# The record page of a version links its document page; a superseded or withdrawn version is marked on
# every rendition (the record page and its Word export too).
for _key, _finals in ((WORKFLOW, tuple(FINAL_STATES)), (POLICY, (SUPERSEDED_POLICY,))):
    register_document(
        _key,
        label=Text(zh="文件页面（正文、版本、阅读确认）", en="Document page (text, versions, reading)"),
        path="/documents/{record_id}",
    )
    register_mark(_key, _obsolete_mark(_finals))


@router.get("/documents")
def register_page(
    request: Request,
    principal: Member,
    session: OrgSession,
    doc_type: Filter = "",
    state: Filter = "",
    clause: Filter = "",
    q: Search = "",
) -> Response:
    assert principal.org is not None
    workflow = request.app.state.catalog.get(WORKFLOW)
    rows = register(session, doc_type=doc_type, state=state, clause=clause, text=q)
    context = {
        "workflow": workflow,
        "rows": rows,
        "type_field": workflow.forms["cd_version"].field("doc_type"),
        "filters": {"doc_type": doc_type, "state": state, "clause": clause, "q": q},
        "names": names_in(
            session, org_id=principal.org.id, workflow=workflow, records=[r.record for r in rows]
        ),
        "next_review": {row.record.id: next_review(session, row.record) for row in rows},
        "to_read": to_read(
            session, org_id=principal.org.id, user_id=principal.user_id, roles=principal.roles
        ),
    }
    return render(request, "documents/register.html", context)


def _view(
    request: Request, session: OrgSession, principal: Member, record_id: int, compare: int | None = None
) -> DocumentView:
    assert principal.org is not None
    view = document_view(
        session,
        org_id=principal.org.id,
        record_id=record_id,
        evidence_store=request.app.state.settings.evidence_store,
        compare_to=compare,
    )
    if view is None:
        raise HTTPException(404)
    return view


@router.get("/documents/{record_id}")
def document_page(
    request: Request, principal: Member, session: OrgSession, record_id: Id, compare: Id | None = None
) -> Response:
    assert principal.org is not None
    view = _view(request, session, principal, record_id, compare)
    workflow = request.app.state.catalog.pinned(
        session, key=view.record.workflow_key, version=view.record.workflow_version
    )
    names = names_in(session, org_id=principal.org.id, workflow=workflow, records=view.versions)
    mine = to_read(session, org_id=principal.org.id, user_id=principal.user_id, roles=principal.roles)
    context = {
        "view": view,
        "workflow": workflow,
        "names": names,
        "display_value": display_value,
        "distribution": role_names(
            view.record.data.get("distribute_to") or ()
            if view.record.workflow_key == WORKFLOW
            else ["all_staff"],
            request.state.locale,
        ),
        "must_acknowledge": any(r.id == view.record.id for r in mine),
    }
    return render(request, "documents/document.html", context)


@router.post("/documents/{record_id}/acknowledge")
def acknowledge_page(request: Request, principal: Member, uow: OrgUnitOfWork, record_id: Id) -> Response:
    assert principal.org is not None
    try:
        acknowledge_reading(
            uow.session,
            org_id=principal.org.id,
            record_id=record_id,
            actor=actor_of(principal),
            roles=principal.roles,
        )
    except LookupError:
        raise HTTPException(404) from None
    except DocumentRefused as refused:
        raise HTTPException(409, "message:" + refused.reason.get(request.state.locale)) from None
    return RedirectResponse(f"/documents/{record_id}", status_code=303)


def _attachment(content: bytes, *, filename: str, media_type: str) -> Response:
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"},
    )


@router.get("/documents/{record_id}/document.docx")
def document_docx(request: Request, principal: Member, session: OrgSession, record_id: Id) -> Response:
    assert principal.org is not None
    view = _view(request, session, principal, record_id)
    state = request.app.state
    workflow = state.catalog.pinned(
        session, key=view.record.workflow_key, version=view.record.workflow_version
    )
    names = names_in(session, org_id=principal.org.id, workflow=workflow, records=[view.record])
    kind = view.record.data.get("doc_type")
    type_label = (
        display_value(workflow.forms["cd_version"].field("doc_type"), kind, names)
        if view.record.workflow_key == WORKFLOW
        else "方针 Policy"
    )
    label = workflow.spec.states[view.record.state].label
    content = version_docx(
        view=view,
        workflow=workflow,
        signatures=signatures_of(
            session, record=view.record, secret_key=state.secret_key, old_secret_keys=state.old_secret_keys
        ),
        names=names,
        organization_name=principal.org.name,
        exported_by=principal.display_name,
        type_label=type_label,
        state_label=f"{label.zh} / {label.en}",
    )
    number = view.record.data.get("document_number") or view.record.number
    prefix = "作废-OBSOLETE-" if view.obsolete else ""
    return _attachment(
        content, filename=f"{prefix}{number}-{view.ordinal.get(record_id, 1)}.docx", media_type=DOCX
    )


@router.get("/documents/{record_id}/original")
def original(request: Request, principal: Member, session: OrgSession, record_id: Id) -> Response:
    assert principal.org is not None
    view = _view(request, session, principal, record_id)
    try:
        found = original_file(
            session,
            org_id=principal.org.id,
            view=view,
            evidence_store=request.app.state.settings.evidence_store,
        )
    except EvidenceError as error:
        message = error.message_zh if request.state.locale.startswith("zh") else error.message_en
        raise HTTPException(409, "message:" + message) from None
    if found is None:
        raise HTTPException(404)
    name, media_type, content = found
    return _attachment(content, filename=name, media_type=media_type)

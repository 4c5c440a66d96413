"""Record pages, generic over every workflow: list, create, detail, transition forms, diagram, exports."""

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session
from starlette.datastructures import FormData, UploadFile

from engine.audit import Actor
from engine.evidence.lifecycle import period_from_form
from engine.evidence.store import EvidenceError, evidence_names, store_evidence
from engine.forms.spec import FieldType, FormSpec
from engine.identity.auth import reauthenticate
from engine.identity.org_tree import flatten, unit_tree
from engine.identity.organizations import list_org_units
from engine.identity.users import list_members
from engine.records.queries import (
    RecordFilter,
    get_record,
    linked_records,
    list_records,
    names_in,
    record_choices,
    record_events,
)
from engine.records.signatures import SignatureView, signatures_of
from engine.records.timeline import timeline_entries
from engine.values import Id
from engine.workflow.access import available_transitions
from engine.workflow.diagram import mermaid
from engine.workflow.errors import FORM_HAS_ERRORS, FormRefused, TransitionRefused
from engine.workflow.lifecycle import create_record, fire_transition
from engine.workflow.loader import Workflow
from engine.workflow.models import Record
from engine.workflow.signing import signing_unit_of_work
from web.deps import (
    BlankIsNone,
    DatabaseDep,
    Member,
    OrgSession,
    PostedForm,
    Principal,
    actor_ref,
    may_create,
    workflow_or_404,
)
from web.forms import SPARE_ROWS, parse_form
from web.record_documents import RECORD_DOCUMENTS, record_mark
from web.report_exports import docx_export
from web.templating import htmx_aware_redirect, render

router = APIRouter()
UPLOAD_PATHS = (r"/records/[a-z][a-z0-9_]*", r"/r/\d+/transition/[a-z][a-z0-9_]*")  # forms with files
EXPORT_PAGE = 1000


LINKABLE_RECORDS = 300  # the newest records a record-link field offers


def member_choices(session: Session, principal: Principal) -> list[tuple[int, str]]:
    assert principal.org is not None
    return [
        (user.id, user.display_name)
        for user, _ in list_members(session, org_id=principal.org.id)
        if user.id is not None
    ]


def form_options(session: Session, principal: Principal) -> dict[str, Any]:
    """Choices for user, org-unit and record-link fields, from the organization only."""
    return {
        "users": member_choices(session, principal),
        "units": [(unit.id, unit.name) for unit in list_org_units(session)],
        "records": record_choices(session, limit=LINKABLE_RECORDS),
    }


def unit_fields(workflow: Workflow) -> tuple[str, ...]:
    """The workflow's top-level org-unit fields: what "scoped to a unit" means for its records."""
    return tuple(
        dict.fromkeys(
            f.name for form in workflow.forms_in_order for f in form.fields if f.type == FieldType.org_unit
        )
    )


def unit_options(session: Session) -> list[tuple[int, str]]:
    """The organization's units in tree order, indented, for a filter that includes the units below."""
    return [
        (node.unit.id, "\u3000" * node.depth + f"{node.unit.code} {node.unit.name}")
        for node in flatten(unit_tree(list_org_units(session)))
        if node.unit.id is not None
    ]


def record_filter_of(
    request: Request,
    workflow_key: str,
    state: str | None = None,
    assignee: Annotated[Id | None, BlankIsNone] = None,
    overdue: Annotated[bool | None, BlankIsNone] = None,
    due_by: Annotated[date | None, BlankIsNone] = None,
    created_from: Annotated[date | None, BlankIsNone] = None,
    created_to: Annotated[date | None, BlankIsNone] = None,
    clause: str | None = None,
    q: str | None = None,
    unit: Annotated[Id | None, BlankIsNone] = None,
) -> RecordFilter:
    """The list's filters from the query string; the list page and its xlsx export read the same ones.
    A unit selects the records naming it or any unit below it (4.3: records roll up the tree)."""
    workflow = workflow_or_404(request, workflow_key)
    return RecordFilter(
        workflow_key=workflow_key,
        state=state or None,
        assignee_id=assignee,
        overdue_on=date.today() if overdue else None,
        due_by=due_by,
        created_from=created_from,
        created_to=created_to,
        clause=(clause or "").strip() or None,
        search=(q or "").strip() or None,
        unit_id=unit,
        unit_fields=unit_fields(workflow),
    )


Filters = Annotated[RecordFilter, Depends(record_filter_of)]


def _query_of(record_filter: RecordFilter) -> dict[str, Any]:
    return {
        "state": record_filter.state or "",
        "assignee": record_filter.assignee_id or "",
        "overdue": "1" if record_filter.overdue_on else "",
        "due_by": record_filter.due_by or "",
        "created_from": record_filter.created_from or "",
        "created_to": record_filter.created_to or "",
        "clause": record_filter.clause or "",
        "q": record_filter.search or "",
        "unit": record_filter.unit_id or "",
    }


@router.get("/records/{workflow_key}")
def record_list(
    request: Request,
    principal: Member,
    session: OrgSession,
    workflow_key: str,
    record_filter: Filters,
    after: Id | None = None,
) -> Response:
    workflow = workflow_or_404(request, workflow_key)
    records, next_after = list_records(session, record_filter=record_filter, after_id=after)
    query = _query_of(record_filter)
    assert principal.org is not None
    context = {
        "names": names_in(session, org_id=principal.org.id, workflow=workflow, records=records),
        "workflow": workflow,
        "records": records,
        "next_after": next_after,
        "query": query,
        "users": member_choices(session, principal),
        "today": date.today(),
        "can_create": may_create(workflow, principal),
        "unit_options": unit_options(session) if unit_fields(workflow) else [],
    }
    return render(request, "records/list.html", context, block="rows" if after else "results")


@router.get("/records/{workflow_key}/new")
def new_record_page(request: Request, principal: Member, session: OrgSession, workflow_key: str) -> Response:
    workflow = workflow_or_404(request, workflow_key)
    if not may_create(workflow, principal):
        raise HTTPException(403, detail="role")
    return render(
        request,
        "records/new.html",
        {
            "workflow": workflow,
            "form": workflow.create_form,
            "values": {},
            "errors": {},
            **form_options(session, principal),
        },
    )


@router.post("/records/{workflow_key}")
def create(
    request: Request, principal: Member, db: DatabaseDep, workflow_key: str, posted: PostedForm
) -> Response:
    assert principal.org is not None
    org_id = principal.org.id
    workflow = workflow_or_404(request, workflow_key)
    values = parse_form(workflow.create_form, posted)
    try:
        with db.unit_of_work(org_id=org_id) as uow:
            upload_errors = stored_uploads(
                request, uow.session, principal, workflow.create_form, posted, values
            )
            record = with_upload_errors(
                lambda: create_record(
                    uow.session,
                    workflow=workflow,
                    org_id=org_id,
                    actor=actor_ref(principal),
                    form_data=values,
                ),
                upload_errors,
            )
    except TransitionRefused as refused:
        with db.read_session(org_id=principal.org.id) as session:
            options = form_options(session, principal)
        return render(
            request,
            "records/new.html",
            {
                "workflow": workflow,
                "form": workflow.create_form,
                "values": values,
                "errors": refused.field_errors,
                "refusal": refused.reason,
                **options,
            },
            status_code=refused.status,
        )
    return htmx_aware_redirect(request, RedirectResponse(f"/r/{record.id}", status_code=303))


@router.get("/records/{workflow_key}/diagram")
def diagram(request: Request, principal: Member, workflow_key: str, current: str | None = None) -> Response:
    workflow = workflow_or_404(request, workflow_key)
    if current and current not in workflow.spec.states:
        current = None
    text = mermaid(workflow.spec, locale=request.state.locale, current=current)
    return render(
        request,
        "records/diagram.html",
        {"workflow": workflow, "diagram": text, "current": current},
        headers={"X-CSP-Allow-Inline-Style": "1"},
    )


def _signatures(request: Request, session: Session, record: Record) -> list[SignatureView]:
    """Verified by the signing key or a key rotated out (ADR 0017)."""
    state = request.app.state
    return signatures_of(
        session, record=record, secret_key=state.secret_key, old_secret_keys=state.old_secret_keys
    )


def _detail_context(
    request: Request, session: Session, principal: Principal, record_id: int
) -> dict[str, Any]:
    record = get_record(session, record_id=record_id)
    if record is None:
        raise HTTPException(404)
    assert record.id is not None and principal.org is not None
    workflow = request.app.state.catalog.pinned(
        session, key=record.workflow_key, version=record.workflow_version
    )
    events = record_events(session, record_id=record.id)
    names = names_in(session, org_id=principal.org.id, workflow=workflow, records=[record], events=events)
    options = form_options(session, principal)
    return {
        "record": record,
        "workflow": workflow,
        "available": available_transitions(workflow, record, actor_ref(principal)),
        "timeline": timeline_entries(events, workflow=workflow, names=names, locale=request.state.locale),
        "signatures": _signatures(request, session, record),
        "links": linked_records(session, record_id=record.id),
        "documents": RECORD_DOCUMENTS.get(record.workflow_key, []),
        "mark": record_mark(record),
        "user_names": dict(options["users"]),
        "unit_names": dict(options["units"]),
        "record_names": {record_id: label for record_id, label, _ in options["records"]},
        "evidence_names": _evidence_names(session, workflow, record.data),
        **options,
    }


def _evidence_names(session: Session, workflow: Workflow, data: dict[str, Any]) -> dict[int, str]:
    """The file names of the evidence a record's data names (the detail page links them)."""
    ids = {
        data[field.name]
        for form in workflow.forms.values()
        for field in form.fields
        if field.type == FieldType.evidence and isinstance(data.get(field.name), int)
    }
    ids |= {  # evidence in the rows of a table (an instrument's calibration certificates)
        row[column.name]
        for form in workflow.forms.values()
        for field in form.fields
        if field.type == FieldType.table and isinstance(data.get(field.name), list)
        for row in data[field.name]
        for column in field.columns
        if column.type == FieldType.evidence
        and isinstance(row, dict)
        and isinstance(row.get(column.name), int)
    }
    return evidence_names(session, ids=ids)


@router.get("/r/{record_id}")
def record_detail(request: Request, principal: Member, session: OrgSession, record_id: Id) -> Response:
    return render(request, "records/detail.html", _detail_context(request, session, principal, record_id))


@router.get("/r/{record_id}/transition/{trigger}")
def transition_form(
    request: Request, principal: Member, session: OrgSession, record_id: Id, trigger: str
) -> Response:
    context = _detail_context(request, session, principal, record_id)
    transition = context["workflow"].spec.transition(trigger, context["record"].state)
    if transition is None:
        raise HTTPException(409, detail="transition")
    form = context["workflow"].forms.get(transition.form) if transition.form else None
    values = {
        name: context["record"].data.get(name) for name in ([f.name for f in form.fields] if form else [])
    }
    return render(
        request,
        "records/detail.html",
        {
            **context,
            "transition": transition,
            "form": form,
            "values": values,
            "errors": {},
            "spare_rows": SPARE_ROWS,
        },
        block="transition_panel",
    )


@router.post("/r/{record_id}/transition/{trigger}")
def fire_route(
    request: Request,
    principal: Member,
    db: DatabaseDep,
    record_id: Id,
    trigger: str,
    posted: PostedForm,
    version: Annotated[int, Form()],
    comment: Annotated[str, Form(max_length=4000)] = "",
    signature_password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    assert principal.org is not None
    actor = actor_ref(principal)

    def transition_with_uploads(session: Session, password_verified: bool) -> None:
        record = get_record(session, record_id=record_id)
        if record is None:
            raise HTTPException(404)
        workflow = request.app.state.catalog.pinned(
            session, key=record.workflow_key, version=record.workflow_version
        )
        transition = workflow.spec.transition(trigger, record.state)
        form = workflow.forms.get(transition.form) if transition and transition.form else None
        values = parse_form(form, posted) if form else {}
        upload_errors = stored_uploads(request, session, principal, form, posted, values)
        with_upload_errors(
            lambda: fire_transition(
                session,
                record_id=record_id,
                trigger=trigger,
                actor=actor,
                form_data=values,
                expected_version=version,
                comment=comment,
                password_verified=password_verified,
            ),
            upload_errors,
        )

    try:
        signing_unit_of_work(
            db,
            org_id=principal.org.id,
            actor=actor,
            record_id=record_id,
            trigger=trigger,
            signature_password=signature_password,
            reauthenticate=lambda password: reauthenticate(db, user_id=principal.user_id, password=password),
            work=transition_with_uploads,
        )
    except TransitionRefused as refused:
        with db.read_session(org_id=principal.org.id) as session:
            context = _detail_context(request, session, principal, record_id)
        transition = context["workflow"].spec.transition(trigger, context["record"].state)
        form = context["workflow"].forms.get(transition.form) if transition and transition.form else None
        return render(
            request,
            "records/detail.html",
            {
                **context,
                "transition": transition,
                "form": form,
                "values": parse_form(form, posted) if form else {},
                "errors": refused.field_errors,
                "refusal": refused.reason,
                "comment": comment,
                "spare_rows": SPARE_ROWS,
            },
            block="transition_panel",
            status_code=refused.status,
        )
    return htmx_aware_redirect(request, RedirectResponse(f"/r/{record_id}", status_code=303))


def stored_uploads(
    request: Request,
    session: Session,
    principal: Principal,
    form: FormSpec | None,
    posted: FormData,
    values: dict[str, Any],
) -> dict[str, dict[str, str]]:
    """The files of a form's evidence fields, kept in the evidence store and replaced in ``values`` by
    their evidence ids; per-field errors (zh/en) for files the store refuses."""
    assert principal.org is not None
    settings = request.app.state.settings
    errors: dict[str, dict[str, str]] = {}
    for field in form.fields if form else ():
        upload = posted.get(field.name)
        if field.type != FieldType.evidence or not isinstance(upload, UploadFile) or not upload.filename:
            continue
        period, problems = period_from_form(
            session, org_id=principal.org.id, owner=_posted_text(posted, f"{field.name}__owner"),
            valid_from=_posted_text(posted, f"{field.name}__valid_from"),
            valid_until=_posted_text(posted, f"{field.name}__valid_until"),
        )  # fmt: skip
        if problems:
            errors[field.name] = {"zh": problems[0].zh, "en": problems[0].en}
            continue
        try:
            values[field.name] = store_evidence(
                session,
                period=period,
                org_id=principal.org.id,
                actor=Actor(principal.user_id, principal.display_name),
                evidence_store=settings.evidence_store,
                filename=upload.filename,
                # cast: mypy cannot infer a lambda with a default argument
                chunks=iter(
                    cast(Callable[[], bytes], lambda upload=upload: upload.file.read(1024 * 1024)), b""
                ),
                max_bytes=settings.evidence_max_bytes,
            ).id
        except EvidenceError as error:
            errors[field.name] = {"zh": error.message_zh, "en": error.message_en}
    return errors


def _posted_text(posted: FormData, name: str) -> str | None:
    value = posted.get(name)
    return value if isinstance(value, str) else None


def with_upload_errors(action: Callable[[], Any], upload_errors: dict[str, dict[str, str]]) -> Any:
    """Run the create or transition; the form's problems and the refused files are reported together,
    and a refused file refuses the whole submission (nothing is saved)."""
    try:
        result = action()
    except FormRefused as refused:
        raise FormRefused(refused.reason, field_errors={**upload_errors, **refused.field_errors}) from None
    if upload_errors:
        raise FormRefused(FORM_HAS_ERRORS, field_errors=upload_errors)
    return result


def _attachment(content: bytes, *, filename: str, media_type: str) -> Response:
    from urllib.parse import quote

    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"},
    )


@router.get("/records/{workflow_key}/export.xlsx")
def export_xlsx(
    request: Request,
    principal: Member,
    session: OrgSession,
    workflow_key: str,
    record_filter: Filters,
) -> Response:
    """Every record the list's filters select (all pages), not only the first."""
    from engine.reports.records import records_xlsx

    workflow = workflow_or_404(request, workflow_key)
    records, after = list_records(session, record_filter=record_filter, limit=EXPORT_PAGE)
    while after is not None:
        page, after = list_records(session, record_filter=record_filter, after_id=after, limit=EXPORT_PAGE)
        records += page
    assert principal.org is not None
    names = names_in(session, org_id=principal.org.id, workflow=workflow, records=records)
    content = records_xlsx(workflow=workflow, records=records, names=names)
    return _attachment(
        content,
        filename=f"{workflow_key}-{date.today().isoformat()}.xlsx",
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


@router.get("/r/{record_id}/export.docx")
def export_docx(request: Request, principal: Member, session: OrgSession, record_id: Id) -> Response:
    """The record as Word: through the organization's record template when it has one."""
    assert principal.org is not None
    from engine.reports.records import record_context, record_docx

    record = get_record(session, record_id=record_id)
    if record is None:
        raise HTTPException(404)
    assert record.id is not None
    workflow = request.app.state.catalog.pinned(
        session, key=record.workflow_key, version=record.workflow_version
    )
    events = record_events(session, record_id=record.id)
    names = names_in(session, org_id=principal.org.id, workflow=workflow, records=[record], events=events)
    mark = record_mark(record)
    inputs: dict[str, Any] = {
        "record": record,
        "workflow": workflow,
        "timeline": timeline_entries(events, workflow=workflow, names=names, locale=request.state.locale),
        "signatures": _signatures(request, session, record),
        "names": names,
        "organization_name": principal.org.name,
        "exported_by": principal.display_name,
        "mark": mark,
    }
    return docx_export(
        request,
        session,
        kind="record",
        filename=f"{record.number}.docx",
        context=lambda: record_context(**inputs),
        builtin=lambda: record_docx(**inputs),
        mark=mark,
    )

"""Records over the JSON API: list, get, create, available transitions, fire (with the version)."""

from datetime import date
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field
from sqlmodel import Session

from engine.identity.auth import reauthenticate
from engine.identity.models import TokenScope
from engine.records.queries import RecordFilter, get_record, list_records
from engine.values import CleanText, Id
from engine.workflow.access import available_transitions
from engine.workflow.errors import TransitionRefused
from engine.workflow.lifecycle import create_record, fire_transition
from engine.workflow.models import Record
from engine.workflow.signing import signing_unit_of_work
from web.deps import DatabaseDep, Member, OrgSession, actor_ref, needs_scope, workflow_or_404
from web.problems import from_refusal

router = APIRouter(prefix="/api/v1/records", tags=["records"])
READ = needs_scope(TokenScope.read)
WRITE = needs_scope(TokenScope.records_write)


class RecordOut(BaseModel):
    id: int
    number: str
    workflow: str
    workflow_version: int
    title: str
    state: str
    version: int
    data: dict[str, Any]
    due_date: date | None
    clause_refs: list[str]

    @classmethod
    def of(cls, record: Record) -> "RecordOut":
        return cls(
            id=record.id,
            number=record.number,
            workflow=record.workflow_key,
            workflow_version=record.workflow_version,
            title=record.title,
            state=record.state,
            version=record.version,
            data=record.data,
            due_date=record.due_date,
            clause_refs=record.clause_refs,
        )


class RecordPage(BaseModel):
    records: list[RecordOut]
    next_after: int | None


class TransitionOut(BaseModel):
    trigger: str
    label: dict[str, str]
    dest: str
    enabled: bool
    reason: dict[str, str] | None
    form: str | None
    signature: str | None


class CreateIn(BaseModel):
    workflow: str
    data: dict[str, Any]


class FireIn(BaseModel):
    version: int = Field(ge=1)
    data: dict[str, Any] = Field(default_factory=dict)
    comment: CleanText | None = Field(default=None, max_length=4000)
    signature_password: str | None = Field(default=None, max_length=1024)


@router.get("", dependencies=[READ], responses={404: {}})
def list_(
    request: Request,
    principal: Member,
    session: OrgSession,
    workflow: str,
    state: str | None = None,
    q: str | None = None,
    after: Id | None = None,
) -> RecordPage:
    workflow_or_404(request, workflow)
    records, next_after = list_records(
        session, record_filter=RecordFilter(workflow_key=workflow, state=state, search=q), after_id=after
    )
    return RecordPage(records=[RecordOut.of(r) for r in records], next_after=next_after)


@router.get("/{record_id}", dependencies=[READ])
def get(principal: Member, session: OrgSession, record_id: Id) -> RecordOut:
    record = get_record(session, record_id=record_id)
    if record is None:
        raise HTTPException(404)
    return RecordOut.of(record)


@router.get("/{record_id}/transitions", dependencies=[READ])
def transitions(
    request: Request, principal: Member, session: OrgSession, record_id: Id
) -> list[TransitionOut]:
    record = get_record(session, record_id=record_id)
    if record is None:
        raise HTTPException(404)
    workflow = request.app.state.catalog.pinned(
        session, key=record.workflow_key, version=record.workflow_version
    )
    return [
        TransitionOut(
            trigger=item.spec.trigger,
            label=item.spec.label.model_dump(),
            dest=item.spec.dest,
            enabled=item.enabled,
            reason=item.reason.model_dump() if item.reason else None,
            form=item.spec.form,
            signature=item.spec.signature,
        )
        for item in available_transitions(workflow, record, actor_ref(principal))
    ]


@router.post(
    "", status_code=201, response_model=RecordOut, dependencies=[WRITE], responses={404: {}, 409: {}}
)
def create(request: Request, principal: Member, db: DatabaseDep, body: CreateIn) -> RecordOut:
    assert principal.org is not None
    workflow = workflow_or_404(request, body.workflow)
    try:
        with db.unit_of_work(org_id=principal.org.id) as uow:
            record = create_record(
                uow.session,
                workflow=workflow,
                org_id=principal.org.id,
                actor=actor_ref(principal),
                form_data=body.data,
            )
            return RecordOut.of(record)
    except TransitionRefused as refused:
        raise from_refusal(refused) from None


@router.post(
    "/{record_id}/transitions/{trigger}", response_model=RecordOut, dependencies=[WRITE], responses={409: {}}
)
def fire(
    request: Request, principal: Member, db: DatabaseDep, record_id: Id, trigger: str, body: FireIn
) -> RecordOut:
    assert principal.org is not None
    actor = actor_ref(principal)

    def transition(session: Session, password_verified: bool) -> RecordOut:
        fire_transition(
            session,
            record_id=record_id,
            trigger=trigger,
            actor=actor,
            form_data=body.data,
            expected_version=body.version,
            comment=body.comment,
            password_verified=password_verified,
        )
        record = get_record(session, record_id=record_id)
        assert record is not None
        return RecordOut.of(record)

    try:
        return signing_unit_of_work(
            db,
            org_id=principal.org.id,
            actor=actor,
            record_id=record_id,
            trigger=trigger,
            signature_password=body.signature_password,
            reauthenticate=lambda password: reauthenticate(db, user_id=principal.user_id, password=password),
            work=transition,
        )
    except LookupError:
        raise HTTPException(404) from None
    except TransitionRefused as refused:
        raise from_refusal(refused) from None

"""A record's life, generic over every workflow: create it, fire its transitions, add a participant. Create
and fire share one path for tasks, audit, events and due dates (engine.workflow.writes); nothing here
commits. Policies and other callers inside a transaction reach the running application's catalog and
signing key through the session (:func:`process_context`)."""

from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from engine.audit import Actor, append_event
from engine.config import get_settings
from engine.forms.spec import Text
from engine.models.base import table_of, utcnow
from engine.workflow.access import ActorRef
from engine.workflow.catalog import WorkflowCatalog
from engine.workflow.computed import china_today, with_computed
from engine.workflow.errors import FORM_HAS_ERRORS, FormRefused, RoleRefused
from engine.workflow.fire import FireResult, fire
from engine.workflow.loader import Workflow, format_number
from engine.workflow.models import NumberSequence, Record
from engine.workflow.references import unique_errors
from engine.workflow.submission import validated_form
from engine.workflow.writes import as_date, due_date, entered_state, load_record_row

_sequences = table_of(NumberSequence)
PROCESS_CONTEXT = "tanguan_process_context"


@dataclass(frozen=True)
class ProcessContext:
    """What the running application gives the transactions it opens (``Database.session_info``)."""

    catalog: WorkflowCatalog
    secret_key: str


@cache
def _default_context() -> ProcessContext:
    return ProcessContext(WorkflowCatalog.load(), get_settings().key_ring().signing)


def process_context(session: Session) -> ProcessContext:
    """The application's catalog and signing key, or (outside an application: scripts, tests) the
    workflow files and the configured key."""
    return session.info.get(PROCESS_CONTEXT) or _default_context()


def next_number(session: Session, *, org_id: int, pattern: str, year: int) -> str:
    """The next human number in the organization's series; concurrent creators never share one."""
    series = format_number(pattern, year=year, seq=0)
    bumped = session.execute(
        update(_sequences)
        .where(_sequences.c.org_id == org_id, _sequences.c.series == series)
        .values(last=_sequences.c.last + 1)
        .returning(_sequences.c.last)
    ).scalar()
    if bumped is None:
        try:
            with session.begin_nested():
                session.execute(insert(_sequences).values(org_id=org_id, series=series, last=1))
            bumped = 1
        except IntegrityError:  # another transaction started the series first
            bumped = session.execute(
                update(_sequences)
                .where(_sequences.c.org_id == org_id, _sequences.c.series == series)
                .values(last=_sequences.c.last + 1)
                .returning(_sequences.c.last)
            ).scalar_one()
    return format_number(pattern, year=year, seq=bumped)


def create_record(
    session: Session,
    *,
    workflow: Workflow,
    org_id: int,
    actor: ActorRef,
    form_data: dict[str, Any],
    today: date | None = None,
) -> Record:
    spec = workflow.spec
    if spec.start.roles and not actor.roles & set(spec.start.roles):
        raise RoleRefused(
            Text(zh="您的角色不能创建此类记录", en="Your roles cannot create this kind of record")
        )
    data = validated_form(session, org_id=org_id, form=workflow.create_form, raw=form_data)
    taken = unique_errors(session, org_id=org_id, workflow_key=spec.key, form=workflow.create_form, data=data)
    if taken:
        raise FormRefused(FORM_HAS_ERRORS, field_errors=taken)
    now = utcnow()
    today = today or china_today()
    data = with_computed(
        workflow, data=data, submitted=data, state=spec.initial, trigger="create", today=today
    )
    columns = spec.start.record
    title = data.get(columns.title) if columns.title else None
    assignee = data.get(columns.assignee) if columns.assignee else None
    due = as_date(data.get(columns.due_date)) if columns.due_date else None
    if due is None:
        due = due_date(spec.state(spec.initial), today=today)
    record = Record(
        org_id=org_id,
        workflow_key=spec.key,
        workflow_version=spec.version,
        number=next_number(session, org_id=org_id, pattern=spec.numbering, year=today.year),
        title=str(title or spec.title.zh)[:300],
        state=spec.initial,
        data=data,
        participants={"create": [actor.id]},
        clause_refs=workflow.clause_refs(data),
        owner_id=actor.id,
        assignee_id=assignee if isinstance(assignee, int) else None,
        due_date=due,
        created_by=actor.id,
        created_at=now,
    )
    session.add(record)
    session.flush()
    entered_state(
        session,
        workflow=workflow,
        record=record,
        actor=actor,
        action="create",
        from_state=None,
        to_state=spec.initial,
        changes={key: [None, value] for key, value in data.items()},
        due=due,
        now=now,
        form=workflow.create_form,
        submitted=data,
        data=data,
    )
    return record


def fire_transition(
    session: Session,
    *,
    record_id: int,
    trigger: str,
    actor: ActorRef,
    form_data: dict[str, Any],
    expected_version: int,
    comment: str | None = None,
    password_verified: bool = False,
    today: date | None = None,
) -> FireResult:
    """Fire ``trigger`` on the record in the session's organization (404 → LookupError), with the
    workflow version the record is pinned to."""
    record = load_record_row(session, record_id=record_id)
    if record is None:
        raise LookupError(record_id)
    context = process_context(session)
    workflow = context.catalog.pinned(session, key=record.workflow_key, version=record.workflow_version)
    return fire(
        session,
        workflow=workflow,
        record=record,
        trigger=trigger,
        actor=actor,
        form_data=form_data,
        expected_version=expected_version,
        comment=comment,
        password_verified=password_verified,
        secret_key=context.secret_key,
        today=today,
    )


def add_participant(session: Session, *, record: Record, trigger: str, actor: Actor, reason: str) -> bool:
    """Count ``actor`` among the people who fired ``trigger`` on the record (so the workflow's separation
    rules apply to them), audited; False when they are already counted."""
    people = record.participants.get(trigger, [])
    if actor.id is None or record.id is None or actor.id in people:
        return False
    new = sorted({*people, actor.id})
    record.participants = {**record.participants, trigger: new}
    session.add(record)
    session.flush()
    append_event(
        session,
        org_id=record.org_id,
        actor=actor,
        subject_type="record",
        subject_id=record.id,
        action="participant_added",
        changes={f"participants.{trigger}": [people, new]},
        reason=reason,
    )
    return True

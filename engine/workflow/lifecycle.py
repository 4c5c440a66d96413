"""A record's life: create it, fire its transitions. Generic over every workflow."""

from datetime import date, timedelta
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from engine.audit import append_event
from engine.events import record_event
from engine.forms.spec import Text
from engine.models.base import utcnow
from engine.workflow.loader import Workflow, format_number
from engine.workflow.models import NumberSequence, Record, Task
from engine.workflow.runner import (
    ActorRef,
    RoleRefused,
    link_records,
    record_payload,
    validated_form,
)

_sequences = NumberSequence.__table__
_tasks = Task.__table__


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
            ).scalar()
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
    today = today or utcnow().date()
    initial = spec.state(spec.initial)
    due = today + timedelta(days=initial.due_days) if initial.due_days is not None else None
    record = Record(
        org_id=org_id,
        workflow_key=spec.key,
        workflow_version=spec.version,
        number=next_number(session, org_id=org_id, pattern=spec.numbering, year=today.year),
        title=str(data.get("title") or spec.title.zh)[:300],
        state=spec.initial,
        data=data,
        participants={"create": [actor.id]},
        clause_refs=workflow.clause_refs(data),
        owner_id=actor.id,
        assignee_id=data.get("assignee") if isinstance(data.get("assignee"), int) else None,
        due_date=due,
        created_by=actor.id,
    )
    session.add(record)
    session.flush()
    append_event(
        session,
        org_id=org_id,
        actor=actor.audit_actor,
        subject_type="record",
        subject_id=record.id,
        action="create",
        to_state=spec.initial,
        changes={key: [None, value] for key, value in data.items()},
    )
    link_records(session, org_id=org_id, record_id=record.id, form=workflow.create_form, data=data)
    record_event(
        session,
        name=f"{spec.key}.create",
        org_id=org_id,
        payload=record_payload(record, actor=actor, trigger="create", from_state=None, to_state=spec.initial),
    )
    session.execute(
        insert(_tasks).values(
            org_id=org_id,
            record_id=record.id,
            state=spec.initial,
            role=initial.owner_role,
            assignee_id=record.assignee_id,
            due_date=due,
            opened_at=record.created_at,
        )
    )
    return record


def fire_transition(
    session: Session,
    *,
    catalog,
    record_id: int,
    trigger: str,
    actor: ActorRef,
    form_data: dict[str, Any],
    expected_version: int,
    comment: str | None = None,
    signature_password: str | None = None,
    reauthenticate=None,
    secret_key: str = "",
    today: date | None = None,
):
    """Fire ``trigger`` on the record in the session's organization (404 → LookupError)."""
    from engine.workflow.runner import fire, load_record_row

    record = load_record_row(session, record_id=record_id)
    if record is None:
        raise LookupError(record_id)
    workflow = catalog.pinned(session, key=record.workflow_key, version=record.workflow_version)
    return fire(
        session,
        workflow=workflow,
        record=record,
        trigger=trigger,
        actor=actor,
        form_data=form_data,
        expected_version=expected_version,
        comment=comment,
        signature_password=signature_password,
        reauthenticate=reauthenticate,
        secret_key=secret_key,
        today=today,
    )

"""What a create and a transition write, shared by both: tasks, due dates, record links, the audit event
and the domain event. Built once and run on the driver's cursor (the hot path, see ADR 0007)."""

import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from engine.audit import append_event
from engine.db import DriverStatement
from engine.events import announce, record_event
from engine.evidence.lifecycle import link_record_evidence
from engine.forms.spec import FieldType, FormSpec
from engine.models.base import table_of
from engine.records.timeline import referenced_ids
from engine.tenancy import ALL_ORGS, TenantScopeError, session_org_id
from engine.workflow.access import ActorRef
from engine.workflow.events import RecordEnteredState
from engine.workflow.loader import Workflow
from engine.workflow.models import Record, RecordLink, Task
from engine.workflow.spec import StateSpec

_records = table_of(Record)
_tasks = table_of(Task)
_links = table_of(RecordLink)

UPDATE_RECORD = DriverStatement(
    update(_records)
    .where(_records.c.id == bindparam("record_id"), _records.c.version == bindparam("expected_version"))
    .values(
        {
            name: bindparam(name)
            for name in ("state", "data", "participants", "clause_refs", "version", "updated_at", "due_date")
            + ("closed_at",)
        }
    )
)
_CLOSE_TASKS = DriverStatement(
    update(_tasks)
    .where(_tasks.c.record_id == bindparam("task_record_id"), _tasks.c.closed_at.is_(None))
    .values(closed_at=bindparam("closed_at"))
)
_INSERT_TASK = DriverStatement(
    insert(_tasks).values(
        {
            name: bindparam(name)
            for name in (
                "org_id",
                "record_id",
                "state",
                "role",
                "assignee_id",
                "due_date",
                "detail",
                "opened_at",
            )
        }
    )
)
_LINK_EXISTS = DriverStatement(
    select(_links.c.id).where(
        _links.c.from_record_id == bindparam("from_id"),
        _links.c.to_record_id == bindparam("to_id"),
        _links.c.kind == bindparam("kind"),
    )
)
_INSERT_LINK = DriverStatement(
    insert(_links).values(
        org_id=bindparam("org_id"),
        from_record_id=bindparam("from_id"),
        to_record_id=bindparam("to_id"),
        kind=bindparam("kind"),
    )
)
_SELECT_RECORD = select(_records).where(_records.c.id == bindparam("record_id"))
_LOAD_RECORD = DriverStatement(_SELECT_RECORD.where(_records.c.org_id == bindparam("org_id")))
_LOAD_RECORD_ANY_ORG = DriverStatement(_SELECT_RECORD)


def load_record_row(session: Session, *, record_id: int) -> Any:
    """The record as a plain row, read with one Core statement and scoped to the session's organization
    (the transition path reads it once and never needs an ORM object)."""
    org_id = session_org_id(session)
    if org_id is not None:
        return _LOAD_RECORD.first(session.connection(), {"record_id": record_id, "org_id": org_id})
    if not session.info.get(ALL_ORGS):
        raise TenantScopeError("record read without an organization scope")
    return _LOAD_RECORD_ANY_ORG.first(session.connection(), {"record_id": record_id})


def forget_loaded_copy(session: Session, record_id: int) -> None:
    """An ORM copy of the record loaded earlier in this session is now stale."""
    loaded = session.identity_map.get(identity_key(Record, record_id))
    if loaded is not None:
        session.expire(loaded)


def as_date(value: Any) -> date | None:
    """A date field's value as the form layer stores it (ISO text in the record's JSON data); else None."""
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def due_date(state: StateSpec, *, today: date) -> date | None:
    """Entering a state with ``due_days`` sets the record's due date; a final state has none."""
    if state.due_days is None or state.final:
        return None
    return today + timedelta(days=state.due_days)


def link_records(
    session: Session, *, org_id: int, record_id: int, form: FormSpec, data: dict[str, Any]
) -> None:
    """A record-link field's value links the record to that record (kind = the field's name); the form's
    reference check has already confirmed the target is in the organization."""
    for name in form.link_fields:
        target = data.get(name)
        if isinstance(target, int):
            link_record(session, org_id=org_id, from_id=record_id, to_id=target, kind=name)


def link_record(session: Session, *, org_id: int, from_id: int, to_id: int, kind: str) -> None:
    """Link two records of the organization (both record pages list the link) unless they are linked so
    already; a process's hook links the records it makes or names in a table row this way."""
    if from_id == to_id:
        return
    connection = session.connection()
    link = {"org_id": org_id, "from_id": from_id, "to_id": to_id, "kind": kind[:32]}
    if _LINK_EXISTS.first(connection, link) is None:
        _INSERT_LINK.execute(connection, link)


# Each thread keeps one subject bound to each machine (binding costs far more than firing).
_subjects = threading.local()


class _Subject:
    """What transitions drives: a plain object, never the table class."""

    state: str
    trigger: Callable[[str], bool]  # added by Machine.add_model


def next_state(workflow: Workflow, trigger: str, state: str) -> str:
    """Fire the trigger on the workflow's machine from ``state``; the state it leads to."""
    bound = getattr(_subjects, "by_machine", None)
    if bound is None:
        bound = _subjects.by_machine = {}
    subject = bound.get(id(workflow.machine))
    if subject is None:
        subject = bound[id(workflow.machine)] = _Subject()
        workflow.machine.add_model(subject, initial=state)
    subject.state = state
    subject.trigger(trigger)
    return subject.state


def entered_state(
    session: Session,
    *,
    workflow: Workflow,
    record: Any,
    actor: ActorRef,
    action: str,
    from_state: str | None,
    to_state: str,
    changes: dict[str, Any],
    due: date | None,
    now: datetime,
    comment: str | None = None,
    signature_id: int | None = None,
    form: FormSpec | None = None,
    submitted: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Everything a create and a transition both write once the record is in its new state: the audit
    event, the links its form names, the tasks (the old state's closed; the new one's opened, with one per
    open row of its task tables, from ``data``, the record's data now), the policies of the processes (in
    this transaction) and the domain event published after commit."""
    append_event(
        session,
        org_id=record.org_id,
        actor=actor.audit_actor,
        subject_type="record",
        subject_id=record.id,
        action=action,
        from_state=from_state,
        to_state=to_state,
        changes=changes,
        reason=(comment or "").strip() or None,
        signature_id=signature_id,
    )
    if form is not None and form.link_fields:
        link_records(session, org_id=record.org_id, record_id=record.id, form=form, data=submitted or {})
    if workflow.has_evidence and data:
        evidence = referenced_ids((), workflow=workflow, data=data)[FieldType.evidence]
        link_record_evidence(session, org_id=record.org_id, record_id=record.id, evidence_ids=evidence)
    connection = session.connection()
    if from_state is not None:
        _CLOSE_TASKS.execute(connection, {"task_record_id": record.id, "closed_at": now})
    state = workflow.spec.state(to_state)
    if not state.final:
        task = {"org_id": record.org_id, "record_id": record.id, "state": to_state, "opened_at": now}
        tasks = [
            {**task, "role": None, "assignee_id": owner, "due_date": as_date(when), "detail": label[:300]}
            for field in workflow.row_task_tables
            for _, owner, when, label in field.open_row_tasks((data or {}).get(field.name))
        ]
        if state.owner_role or record.assignee_id:  # a state nobody owns is where a record rests
            tasks.insert(
                0,
                {
                    **task,
                    "role": state.owner_role,
                    "assignee_id": record.assignee_id,
                    "due_date": due,
                    "detail": None,
                },
            )
        for row in tasks:
            _INSERT_TASK.execute(connection, row)
    announce(
        session,  # type: ignore[arg-type]  # the ORM session of the unit of work (sqlmodel's is a subclass)
        RecordEnteredState(
            org_id=record.org_id,
            workflow_key=record.workflow_key,
            record_id=record.id,
            trigger=action,
            from_state=from_state,
            to_state=to_state,
            actor=actor,
        ),
    )
    record_event(
        session,
        name=f"{record.workflow_key}.{action}",
        org_id=record.org_id,
        payload=record_payload(record, actor=actor, trigger=action, from_state=from_state, to_state=to_state),
    )


def record_payload(
    record: Any, *, actor: ActorRef, trigger: str, from_state: str | None, to_state: str
) -> dict[str, Any]:
    """What a record's domain event carries: enough for a subscriber to start a linked record (a
    record-link field of the started workflow's start form takes ``record_id``)."""
    return {
        "record_id": record.id,
        "number": record.number,
        "title": record.title,
        "workflow": record.workflow_key,
        "trigger": trigger,
        "from_state": from_state,
        "to_state": to_state,
        "actor_id": actor.id,
        "actor_name": actor.name,
    }

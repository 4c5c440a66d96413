"""Firing a transition: roles → separation of duties → form → guards → signature → transition →
data merge, audit event, tasks, due dates, version bump. All in the caller's transaction; the caller
rolls everything back on any error (transitions does not undo its own state change, so the state is
only ever written from a throw-away subject object)."""

import hashlib
import hmac
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from engine.audit import Actor, append_event, canonical_json, field_changes
from engine.db import DriverStatement
from engine.events import record_event
from engine.forms.spec import FormErrors, Text, clean_input, validate_form
from engine.models.base import utc_iso, utcnow
from engine.tenancy import ALL_ORGS, TenantScopeError, session_org_id
from engine.workflow.loader import Workflow
from engine.workflow.models import Record, RecordLink, Signature, Task
from engine.workflow.references import reference_errors
from engine.workflow.registry import ACTIONS, GUARDS, GuardContext
from engine.workflow.spec import TransitionSpec

_records = Record.__table__
_tasks = Task.__table__
_signatures = Signature.__table__

# Built once and run on the driver's cursor: these run on every transition.
_UPDATE_RECORD = DriverStatement(
    update(_records)
    .where(_records.c.id == bindparam("record_id"), _records.c.version == bindparam("expected_version"))
    .values(
        {
            name: bindparam(name)
            for name in (
                "state",
                "data",
                "participants",
                "clause_refs",
                "version",
                "updated_at",
                "due_date",
                "closed_at",
            )
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
            for name in ("org_id", "record_id", "state", "role", "assignee_id", "due_date", "opened_at")
        }
    )
)
_links = RecordLink.__table__
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


def link_records(session: Session, *, org_id: int, record_id: int, form, data: dict[str, Any]) -> None:
    """A record-link field's value links the record to that record (kind = the field's name); the form's
    reference check has already confirmed the target is in the organization."""
    connection = session.connection()
    for name in form.link_fields:
        target = data.get(name)
        if not isinstance(target, int) or target == record_id:
            continue
        link = {"org_id": org_id, "from_id": record_id, "to_id": target, "kind": name[:32]}
        if _LINK_EXISTS.first(connection, link) is None:
            _INSERT_LINK.execute(connection, link)


_INSERT_SIGNATURE = DriverStatement(
    insert(_signatures)
    .values({column.name: bindparam(column.name) for column in _signatures.columns if column.name != "id"})
    .returning(_signatures.c.id)
)
_LOAD_RECORD_ANY_ORG = select(_records).where(_records.c.id == bindparam("record_id"))
_LOAD_RECORD = DriverStatement(_LOAD_RECORD_ANY_ORG.where(_records.c.org_id == bindparam("org_id")))
_LOAD_RECORD_ANY_ORG = DriverStatement(_LOAD_RECORD_ANY_ORG)


def load_record_row(session: Session, *, record_id: int):
    """The record as a plain row, read with one Core statement and scoped to the session's organization
    (the transition path reads it once and never needs an ORM object)."""
    org_id = session_org_id(session)
    if org_id is not None:
        return _LOAD_RECORD.first(session.connection(), {"record_id": record_id, "org_id": org_id})
    if not session.info.get(ALL_ORGS):
        raise TenantScopeError("record read without an organization scope")
    return _LOAD_RECORD_ANY_ORG.first(session.connection(), {"record_id": record_id})


def _forget_loaded_copy(session: Session, record_id: int) -> None:
    """An ORM copy of the record loaded earlier in this session is now stale."""
    loaded = session.identity_map.get(identity_key(Record, record_id))
    if loaded is not None:
        session.expire(loaded)


@dataclass(frozen=True)
class ActorRef:
    id: int
    name: str
    roles: frozenset[str]

    @property
    def audit_actor(self) -> Actor:
        return Actor(self.id, self.name)


class TransitionRefused(Exception):
    """Why a transition was not made; ``status`` is the HTTP answer (403, 409, 422)."""

    status = 409

    def __init__(self, reason: Text, *, field_errors: dict[str, dict[str, str]] | None = None) -> None:
        super().__init__(reason.en)
        self.reason = reason
        self.field_errors = field_errors or {}


class NotAvailable(TransitionRefused):
    status = 409


class VersionConflict(TransitionRefused):
    status = 409


class RoleRefused(TransitionRefused):
    status = 403


class SeparationRefused(TransitionRefused):
    status = 403


class GuardRefused(TransitionRefused):
    status = 409


class FormRefused(TransitionRefused):
    status = 422


class SignatureRefused(TransitionRefused):
    status = 403


FORM_HAS_ERRORS = Text(zh="表单有误", en="The form has errors")


def validated_form(session: Session, *, org_id: int, form, raw: dict[str, Any]) -> dict[str, Any]:
    """Validated data, references checked against the organization; FormRefused with per-field messages."""
    try:
        data = validate_form(form, raw)
    except FormErrors as errors:
        raise FormRefused(FORM_HAS_ERRORS, field_errors=errors.errors) from None
    problems = reference_errors(session, org_id=org_id, form=form, data=data)
    if problems:
        raise FormRefused(FORM_HAS_ERRORS, field_errors=problems)
    return data


class _Subject:
    """What transitions drives: a plain object, never the table class."""

    state: str


_subjects = threading.local()


def _next_state(workflow: Workflow, trigger: str, state: str) -> str:
    """Fire the trigger on the workflow's machine. Each thread keeps one subject bound to each machine
    (binding costs far more than firing) and sets its state before every trigger."""
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


@dataclass(frozen=True)
class AvailableTransition:
    spec: TransitionSpec
    enabled: bool
    reason: Text | None = None


@dataclass
class FireResult:
    record_id: int
    from_state: str
    to_state: str
    version: int
    signature_id: int | None


def _participant_ids(record: Record, data: dict[str, Any], rule) -> set[int]:
    excluded: set[int] = set()
    for trigger in rule.not_actors_of:
        excluded.update(record.participants.get(trigger, []))
    for dotted in rule.not_users_in:
        head, _, column = dotted.partition(".")
        value = data.get(head)
        if column and isinstance(value, list):
            excluded.update(row.get(column) for row in value if isinstance(row, dict) and row.get(column))
        elif isinstance(value, int):
            excluded.add(value)
    if rule.not_creator and record.created_by:
        excluded.add(record.created_by)
    return excluded


def check_access(workflow: Workflow, record: Record, transition: TransitionSpec, actor: ActorRef) -> None:
    """Role and separation-of-duties checks (the ones that do not need the form)."""
    if not actor.roles & set(transition.roles):
        raise RoleRefused(
            Text(zh="您的角色不能执行此操作", en="Your roles do not allow this action"),
        )
    for rule in transition.separation:
        if actor.id in _participant_ids(record, record.data, rule):
            raise SeparationRefused(rule.reason)


def available_transitions(workflow: Workflow, record: Record, actor: ActorRef) -> list[AvailableTransition]:
    """Every transition out of the record's state, enabled or with the reason it is not."""
    result = []
    for transition in workflow.spec.transitions_from(record.state):
        try:
            check_access(workflow, record, transition, actor)
            for name in transition.guards if not transition.form else ():
                reason = GUARDS[name](GuardContext(record.data, {}, record.state, actor.id))
                if reason is not None:
                    raise GuardRefused(reason)
        except TransitionRefused as refused:
            result.append(AvailableTransition(transition, enabled=False, reason=refused.reason))
        else:
            result.append(AvailableTransition(transition, enabled=True))
    return result


def signed_content_hash(
    record_id: int, number: str, workflow_key: str, title: str, data: dict[str, Any]
) -> str:
    """The hash of exactly what a signature covers: the record's identity and its content."""
    content = {
        "record_id": record_id,
        "number": number,
        "workflow": workflow_key,
        "title": title,
        "data": data,
    }
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()


def signature_seal(
    secret_key: str,
    *,
    record_id: int,
    record_version: int,
    trigger: str,
    meaning: str,
    signer_id: int,
    signed_at: str,
    content_hash: str,
) -> str:
    message = f"{record_id}|{record_version}|{trigger}|{meaning}|{signer_id}|{signed_at}|{content_hash}"
    return hmac.new(secret_key.encode(), message.encode(), hashlib.sha256).hexdigest()


SIGNATURE_FAILURES_BEFORE_ALERT = 5
_CONSECUTIVE_SIGNATURE_FAILURES = text(
    "SELECT count(*) FROM audit_event WHERE org_id = :org_id AND actor_id = :actor_id "
    "AND action = 'signature_failed' AND seq > (SELECT coalesce(max(seq), 0) FROM audit_event "
    "WHERE org_id = :org_id AND actor_id = :actor_id AND signature_id IS NOT NULL)"
)


def _alert_on_repeated_signature_failures(session: Session, *, org_id: int, actor: ActorRef) -> None:
    """Every fifth failed signing attempt in a row raises a security alert in the audit trail, where the
    administrators' dashboard shows it (21 CFR 11.300(d))."""
    failures = (
        session.connection()
        .execute(_CONSECUTIVE_SIGNATURE_FAILURES, {"org_id": org_id, "actor_id": actor.id})
        .scalar_one()
    )
    if failures and failures % SIGNATURE_FAILURES_BEFORE_ALERT == 0:
        append_event(
            session,
            org_id=org_id,
            actor=actor.audit_actor,
            subject_type="user",
            subject_id=actor.id,
            action="security_alert",
            reason=f"{failures} failed signing attempts in a row",
        )


def fire(
    session: Session,
    *,
    workflow: Workflow,
    record,  # an ORM Record or a row with the same columns (see load_record_row)
    trigger: str,
    actor: ActorRef,
    form_data: dict[str, Any],
    expected_version: int,
    comment: str | None = None,
    signature_password: str | None = None,
    reauthenticate: Callable[[str], bool] | None = None,
    secret_key: str = "",
    today: date | None = None,
) -> FireResult:
    if expected_version != record.version:
        raise VersionConflict(
            Text(
                zh=f"记录已被他人修改（您看到的是第 {expected_version} 版，"
                f"当前为第 {record.version} 版），请刷新后重试",
                en=f"The record was changed by someone else (you saw version {expected_version}, "
                f"it is now {record.version}); reload and try again",
            )
        )
    transition = workflow.spec.transition(trigger, record.state)
    if transition is None:
        raise NotAvailable(
            Text(
                zh=f"当前状态“{workflow.spec.state(record.state).label.zh}”下不能执行“{trigger}”",
                en=f"“{trigger}” is not possible in state “{workflow.spec.state(record.state).label.en}”",
            )
        )
    check_access(workflow, record, transition, actor)
    # Every problem at once: invalid values, then required fields left empty, then the comment.
    submitted: dict[str, Any] = {}
    errors: dict[str, dict[str, str]] = {}
    form = workflow.forms[transition.form] if transition.form else None
    if form is not None:
        try:
            submitted = validated_form(session, org_id=record.org_id, form=form, raw=form_data)
        except FormRefused as refused:
            errors.update(refused.field_errors)
    present = clean_input(form, form_data) if form is not None else {}
    for name in transition.required:
        if name not in present and name not in errors:
            errors[name] = {"zh": "此项必填", "en": "This field is required"}
    if transition.comment_required and not (comment or "").strip():
        errors["comment"] = {"zh": "请填写说明", "en": "A comment is required"}
    if errors:
        raise FormRefused(FORM_HAS_ERRORS, field_errors=errors)
    new_data = {**record.data, **submitted}
    context = GuardContext(record_data=new_data, form_data=submitted, state=record.state, actor_id=actor.id)
    for rule in transition.separation:  # again, now that the form may name people
        if actor.id in _participant_ids(record, new_data, rule):
            raise SeparationRefused(rule.reason)
    for name in transition.guards:
        reason = GUARDS[name](context)
        if reason is not None:
            raise GuardRefused(reason)
    for name in transition.actions:
        new_data = {**new_data, **ACTIONS[name](context)}
    if transition.signature and (
        not signature_password or reauthenticate is None or not reauthenticate(signature_password)
    ):
        append_event(
            session,
            org_id=record.org_id,
            actor=actor.audit_actor,
            subject_type="record",
            subject_id=record.id,
            action="signature_failed",
            reason=f"{transition.trigger}: wrong or missing password",
        )
        _alert_on_repeated_signature_failures(session, org_id=record.org_id, actor=actor)
        session.commit()  # the failed attempt is logged even though the transition is refused
        raise SignatureRefused(Text(zh="签名密码不正确", en="The signature password is wrong"))

    from_state, to_state = record.state, _next_state(workflow, transition.trigger, record.state)
    dest = workflow.spec.state(to_state)
    now = utcnow()
    due = (
        (today or now.date()) + timedelta(days=dest.due_days)
        if dest.due_days is not None and not dest.final
        else None
    )
    participants = {**record.participants, trigger: sorted({*record.participants.get(trigger, []), actor.id})}
    new_version = record.version + 1
    connection = session.connection()
    changed = _UPDATE_RECORD.execute(
        connection,
        {
            "record_id": record.id,
            "expected_version": expected_version,
            "state": to_state,
            "data": new_data,
            "participants": participants,
            "clause_refs": workflow.clause_refs(new_data),
            "version": new_version,
            "updated_at": now,
            "due_date": due,
            "closed_at": now if dest.final else None,
        },
    ).rowcount
    if changed != 1:  # the version guard: a concurrent winner committed first
        raise VersionConflict(
            Text(zh="记录已被他人修改，请刷新后重试", en="The record was changed meanwhile; reload")
        )
    _forget_loaded_copy(session, record.id)

    signature_id = None
    if transition.signature:
        signed_at = utc_iso(now)
        content_hash = signed_content_hash(
            record.id, record.number, record.workflow_key, record.title, new_data
        )
        signature = {
            "org_id": record.org_id,
            "record_id": record.id,
            "record_version": new_version,
            "trigger": trigger,
            "meaning": transition.signature.value,
            "signer_id": actor.id,
            "signer_name": actor.name,
            "signed_at": signed_at,
            "content_hash": content_hash,
        }
        signature["seal"] = signature_seal(
            secret_key,
            record_id=record.id,
            record_version=new_version,
            trigger=trigger,
            meaning=transition.signature.value,
            signer_id=actor.id,
            signed_at=signed_at,
            content_hash=content_hash,
        )
        signature_id = _INSERT_SIGNATURE.scalar(connection, signature)

    append_event(
        session,
        org_id=record.org_id,
        actor=actor.audit_actor,
        subject_type="record",
        subject_id=record.id,
        action=trigger,
        from_state=from_state,
        to_state=to_state,
        changes=field_changes(record.data, new_data),
        reason=(comment or "").strip() or None,
        signature_id=signature_id,
    )
    if form is not None and form.link_fields:
        link_records(session, org_id=record.org_id, record_id=record.id, form=form, data=submitted)
    _CLOSE_TASKS.execute(connection, {"task_record_id": record.id, "closed_at": now})
    if not dest.final:
        _INSERT_TASK.execute(
            connection,
            {
                "org_id": record.org_id,
                "record_id": record.id,
                "state": to_state,
                "role": dest.owner_role,
                "assignee_id": record.assignee_id,
                "due_date": due,
                "opened_at": now,
            },
        )
    record_event(
        session,
        name=f"{record.workflow_key}.{trigger}",
        org_id=record.org_id,
        payload=record_payload(
            record, actor=actor, trigger=trigger, from_state=from_state, to_state=to_state
        ),
    )
    return FireResult(
        record_id=record.id,
        from_state=from_state,
        to_state=to_state,
        version=new_version,
        signature_id=signature_id,
    )


def record_payload(record, *, actor: ActorRef, trigger: str, from_state: str | None, to_state: str) -> dict:
    """What a record's domain event carries: enough for a subscriber to start a linked record."""
    return {
        "record_id": record.id,
        "related_record": record.id,
        "number": record.number,
        "title": record.title,
        "workflow": record.workflow_key,
        "trigger": trigger,
        "from_state": from_state,
        "to_state": to_state,
        "actor_id": actor.id,
        "actor_name": actor.name,
    }

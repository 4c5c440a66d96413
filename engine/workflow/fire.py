"""Firing a transition, in small named steps: the version and the transition → roles and separation of
duties → the form → guards and actions → the signature → the state machine → the writes. All in the
caller's transaction, and nothing here commits: the caller rolls everything back on any error
(transitions does not undo its own state change, so the state is only ever written from a throw-away
subject object)."""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import Session

from engine.audit import field_changes
from engine.forms.spec import FormSpec, Text
from engine.models.base import utc_iso, utcnow
from engine.workflow.access import ActorRef, check_access, check_separation
from engine.workflow.computed import china_today, with_computed
from engine.workflow.errors import (
    FORM_HAS_ERRORS,
    FormRefused,
    GuardRefused,
    NotAvailable,
    SignatureRefused,
    VersionConflict,
)
from engine.workflow.loader import Workflow
from engine.workflow.references import unique_errors
from engine.workflow.registry import ACTIONS, GUARDS, GuardContext
from engine.workflow.signing import HASH_SCHEME, signed_content_hash, write_signature
from engine.workflow.spec import TransitionSpec
from engine.workflow.submission import submitted_data
from engine.workflow.writes import UPDATE_RECORD, due_date, entered_state, forget_loaded_copy, next_state


@dataclass
class FireResult:
    record_id: int
    from_state: str
    to_state: str
    version: int
    signature_id: int | None


def _transition_at_version(
    workflow: Workflow, record: Any, trigger: str, expected_version: int
) -> TransitionSpec:
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
        label = workflow.spec.state(record.state).label
        raise NotAvailable(
            Text(
                zh=f"当前状态“{label.zh}”下不能执行“{trigger}”",
                en=f"“{trigger}” is not possible in state “{label.en}”",
            )
        )
    return transition


def _data_after_guards_and_actions(
    record: Any, transition: TransitionSpec, actor: ActorRef, submitted: dict[str, Any]
) -> dict[str, Any]:
    new_data = {**record.data, **submitted}
    check_separation(record, new_data, transition, actor)  # again, now that the form may name people
    context = GuardContext(record_data=new_data, form_data=submitted, state=record.state, actor_id=actor.id)
    for name in transition.guards:
        reason = GUARDS[name](context)
        if reason is not None:
            raise GuardRefused(reason)
    for name in transition.actions:
        new_data = {**new_data, **ACTIONS[name](context)}
    return new_data


def fire(
    session: Session,
    *,
    workflow: Workflow,
    record: Any,  # an ORM Record or a row with the same columns (see load_record_row)
    trigger: str,
    actor: ActorRef,
    form_data: dict[str, Any],
    expected_version: int,
    comment: str | None = None,
    password_verified: bool = False,
    secret_key: str = "",
    today: date | None = None,
) -> FireResult:
    """Fire ``trigger``. A signing transition needs ``password_verified``: the caller checked the password
    before the transaction (see engine.workflow.signing.signing_unit_of_work)."""
    transition = _transition_at_version(workflow, record, trigger, expected_version)
    check_access(record, transition, actor)
    form: FormSpec | None = workflow.forms[transition.form] if transition.form else None
    submitted = submitted_data(
        session, org_id=record.org_id, transition=transition, form=form, form_data=form_data, comment=comment
    )
    if form is not None and form.unique_fields:
        taken = unique_errors(
            session,
            org_id=record.org_id,
            workflow_key=workflow.key,
            form=form,
            data=submitted,
            record_id=record.id,
        )
        if taken:
            raise FormRefused(FORM_HAS_ERRORS, field_errors=taken)
    new_data = _data_after_guards_and_actions(record, transition, actor, submitted)
    if transition.signature and not password_verified:
        raise SignatureRefused(Text(zh="签名密码不正确", en="The signature password is wrong"))

    from_state, to_state = record.state, next_state(workflow, transition.trigger, record.state)
    now = utcnow()
    new_data = with_computed(
        workflow,
        data=new_data,
        submitted=submitted,
        state=to_state,
        trigger=trigger,
        today=today or china_today(),
    )
    due = due_date(workflow.spec.state(to_state), today=today or now.date())
    new_version = _write_record(
        session, workflow=workflow, record=record, trigger=trigger, actor=actor,
        expected_version=expected_version, to_state=to_state, new_data=new_data, due=due, now=now,
    )  # fmt: skip
    signature_id = None
    if transition.signature:
        signed_at = utc_iso(now)
        signature_id = write_signature(
            session,
            secret_key=secret_key,
            signature={
                "org_id": record.org_id,
                "record_id": record.id,
                "record_version": new_version,
                "trigger": trigger,
                "meaning": transition.signature,
                "signer_id": actor.id,
                "signer_name": actor.name,
                "signed_at": signed_at,
                "content_hash": signed_content_hash(session, record=record, data=new_data),
                "hash_scheme": HASH_SCHEME,
            },
        )
    entered_state(
        session, workflow=workflow, record=record, actor=actor, action=trigger, from_state=from_state,
        to_state=to_state, changes=field_changes(record.data, new_data), due=due, now=now, comment=comment,
        signature_id=signature_id, form=form, submitted=submitted, data=new_data,
    )  # fmt: skip
    return FireResult(record.id, from_state, to_state, new_version, signature_id)


def _write_record(
    session: Session,
    *,
    workflow: Workflow,
    record: Any,
    trigger: str,
    actor: ActorRef,
    expected_version: int,
    to_state: str,
    new_data: dict[str, Any],
    due: date | None,
    now: datetime,
) -> int:
    """The record's new state, data, participants and version, guarded by the version the form was built
    at; a concurrent winner that committed first makes this a VersionConflict."""
    participants = {**record.participants, trigger: sorted({*record.participants.get(trigger, []), actor.id})}
    new_version: int = record.version + 1
    changed = UPDATE_RECORD.execute(
        session.connection(),
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
            "closed_at": now if workflow.spec.state(to_state).final else None,
        },
    ).rowcount
    if changed != 1:
        raise VersionConflict(
            Text(zh="记录已被他人修改，请刷新后重试", en="The record was changed meanwhile; reload")
        )
    forget_loaded_copy(session, record.id)
    return new_version

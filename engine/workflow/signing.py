"""E-signatures: the hash of exactly what is signed, the seal (HMAC of the installation key), the
signature row; and the signing unit of work — the password is checked *before* the write transaction
opens (Argon2 takes ≈ 350 ms and must not hold SQLite's write lock), and a refused signature is recorded
in its own short transaction after the refused one rolled back."""

import hashlib
import hmac
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import sqlmodel
from sqlalchemy import bindparam, insert, text
from sqlmodel import Session

from engine.audit import append_event, canonical_json
from engine.db import Database, DriverStatement
from engine.models.base import table_of
from engine.workflow.access import ActorRef
from engine.workflow.errors import SignatureRefused
from engine.workflow.models import Signature
from engine.workflow.registry import SIGNED_CONTENT

T = TypeVar("T")
_signatures = table_of(Signature)
_INSERT_SIGNATURE = DriverStatement(
    insert(_signatures)
    .values({column.name: bindparam(column.name) for column in _signatures.columns if column.name != "id"})
    .returning(_signatures.c.id)
)
SIGNATURE_FAILURES_BEFORE_ALERT = 5
_CONSECUTIVE_SIGNATURE_FAILURES = text(
    "SELECT count(*) FROM audit_event WHERE org_id = :org_id AND actor_id = :actor_id "
    "AND action = 'signature_failed' AND seq > (SELECT coalesce(max(seq), 0) FROM audit_event "
    "WHERE org_id = :org_id AND actor_id = :actor_id AND signature_id IS NOT NULL)"
)


# How a signature's content hash is made; each signature row says which (``Signature.hash_scheme``).
RECORD_ONLY = 1  # the record: id, number, workflow, title and data (every signature before ADR 0012)
RECORD_AND_DECLARED = 2  # that and what the record's process declares its signatures cover (or null)
HASH_SCHEMES = (RECORD_ONLY, RECORD_AND_DECLARED)
HASH_SCHEME = RECORD_AND_DECLARED  # what new signatures use


def signed_content_hash(
    session: Session, *, record: Any, data: dict[str, Any], scheme: int = HASH_SCHEME
) -> str:
    """The hash of exactly what a signature covers: the record's identity and its content (``data``), and
    under scheme 2 what the process declares with ``@signed_content`` — computed again from the database
    whenever a signature is checked, so a change to that content makes the signature stale."""
    content: dict[str, Any] = {
        "record_id": record.id,
        "number": record.number,
        "workflow": record.workflow_key,
        "title": record.title,
        "data": data,
    }
    if scheme == RECORD_AND_DECLARED:
        covered = SIGNED_CONTENT.get(record.workflow_key)
        content["covers"] = None if covered is None else covered(session, org_id=record.org_id, data=data)
    elif scheme != RECORD_ONLY:
        raise ValueError(f"unknown signature hash scheme {scheme}")
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


def sealing_key(keys: Sequence[str], *, seal: str, **sealed: Any) -> int | None:
    """The position in ``keys`` of the key that made ``seal`` over the ``sealed`` fields, None when no key
    did: after a rotation the old keys still verify what they sealed (ADR 0017)."""
    for position, key in enumerate(keys):
        if hmac.compare_digest(signature_seal(key, **sealed), seal):
            return position
    return None


def write_signature(session: Session, *, secret_key: str, signature: dict[str, Any]) -> int:
    """Insert the signature row (``signature`` holds every column but the seal and the id), sealed."""
    row = {**signature, "seal": signature_seal(secret_key, **{k: signature[k] for k in SEALED_FIELDS})}
    signature_id: int = _INSERT_SIGNATURE.scalar(session.connection(), row)
    return signature_id


SEALED_FIELDS = (
    "record_id", "record_version", "trigger", "meaning", "signer_id", "signed_at", "content_hash"
)  # fmt: skip


def record_failed_signature(
    db: Database, *, org_id: int, actor: ActorRef, record_id: int, trigger: str
) -> None:
    """A refused signing attempt, in its own transaction; every fifth in a row raises a security alert in
    the audit trail, where the administrators' dashboard shows it (21 CFR 11.300(d))."""
    with db.unit_of_work(org_id=org_id) as uow:
        session = uow.session
        append_event(
            session,
            org_id=org_id,
            actor=actor.audit_actor,
            subject_type="record",
            subject_id=record_id,
            action="signature_failed",
            reason=f"{trigger}: wrong or missing password",
        )
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


def signing_unit_of_work(
    db: Database,
    *,
    org_id: int,
    actor: ActorRef,
    record_id: int,
    trigger: str,
    signature_password: str | None,
    reauthenticate: Callable[[str], bool],
    work: Callable[[sqlmodel.Session, bool], T],
) -> T:
    """Check the password first (outside any transaction), then run ``work(session, password_verified)``
    in one unit of work. If the work refuses the signature, everything it did rolls back (an evidence file
    uploaded with it included) and the failed attempt is recorded on its own."""
    verified = bool(signature_password) and reauthenticate(signature_password or "")
    try:
        with db.unit_of_work(org_id=org_id) as uow:
            return work(uow.session, verified)
    except SignatureRefused:
        record_failed_signature(db, org_id=org_id, actor=actor, record_id=record_id, trigger=trigger)
        raise

"""A record's e-signatures with their status: valid, stale (content changed since) or invalid (seal)."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from engine.forms.spec import Text
from engine.workflow.models import Record, Signature
from engine.workflow.signing import HASH_SCHEMES, SEALED_FIELDS, sealing_key, signed_content_hash


@dataclass(frozen=True)
class SignatureView:
    id: int
    meaning: str
    signer_name: str
    signed_at: str
    trigger: str
    status: str  # valid, stale (content changed after signing), invalid (seal does not verify)
    content_hash: str  # sha256 hex of what was signed


SIGNATURE_STATUS = {
    "valid": Text(zh="有效", en="Valid"),
    "stale": Text(
        zh="已失效 — 需重新签署", en="No longer valid — the record changed since; re-sign required"
    ),
    "invalid": Text(zh="无效 — 签名校验失败", en="Invalid — the signature does not verify"),
}


def _sealed(signature: Signature, *, record_id: int) -> dict[str, Any]:
    """What the seal covers; ``record_id`` is the record it is shown on, so a row copied to another record
    does not verify."""
    return {name: getattr(signature, name) for name in SEALED_FIELDS} | {"record_id": record_id}


def signed_record_ids(session: Session, *, record_ids: Sequence[int]) -> set[int]:
    """Those of these records that have e-signatures, in one query: ``signatures_of`` the others is empty."""
    if not record_ids:
        return set()
    query = select(col(Signature.record_id)).where(col(Signature.record_id).in_(record_ids)).distinct()
    return set(session.scalars(query).all())


def signatures_of(
    session: Session, *, record: Record, secret_key: str, old_secret_keys: Sequence[str] = ()
) -> list[SignatureView]:
    """Sealed by ``secret_key`` or by one of the keys rotated out (``old_secret_keys``): valid."""
    assert record.id is not None
    current_hashes: dict[int, str] = {}  # by hash scheme: computed once, as a scheme may read other data
    views = []
    for signature in session.scalars(
        select(Signature).where(col(Signature.record_id) == record.id).order_by(col(Signature.id))
    ).all():
        key = sealing_key(
            (secret_key, *old_secret_keys), seal=signature.seal, **_sealed(signature, record_id=record.id)
        )
        assert signature.id is not None
        scheme = signature.hash_scheme
        if scheme in HASH_SCHEMES and scheme not in current_hashes:
            current_hashes[scheme] = signed_content_hash(
                session, record=record, data=record.data, scheme=scheme
            )
        if key is None or scheme not in HASH_SCHEMES:
            status = "invalid"
        elif signature.content_hash != current_hashes[scheme]:
            status = "stale"
        else:
            status = "valid"
        views.append(
            SignatureView(
                signature.id,
                signature.meaning,
                signature.signer_name,
                signature.signed_at,
                signature.trigger,
                status,
                signature.content_hash,
            )
        )
    return views


def count_signatures(session: Session) -> int:
    """Every organization's (the session is unscoped)."""
    return session.scalar(select(func.count()).select_from(Signature)) or 0


def seal_census(session: Session, *, keys: Sequence[str]) -> list[int]:
    """How many signatures each of ``keys`` sealed, in their order, then how many no key verifies: before
    an old key is dropped, its count must be 0 (every organization's; the session is unscoped)."""
    counts = [0] * (len(keys) + 1)
    for signature in session.scalars(select(Signature).execution_options(yield_per=1000)):
        position = sealing_key(keys, seal=signature.seal, **_sealed(signature, record_id=signature.record_id))
        counts[len(keys) if position is None else position] += 1
    return counts

"""A record's e-signatures with their status: valid, stale (content changed since) or invalid (seal)."""

from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import Session, col

from engine.forms.spec import Text
from engine.workflow.models import Record, Signature
from engine.workflow.signing import HASH_SCHEMES, signature_seal, signed_content_hash


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


def signatures_of(session: Session, *, record: Record, secret_key: str) -> list[SignatureView]:
    assert record.id is not None
    current_hashes: dict[int, str] = {}  # by hash scheme: computed once, as a scheme may read other data
    views = []
    for signature in session.scalars(
        select(Signature).where(col(Signature.record_id) == record.id).order_by(col(Signature.id))
    ).all():
        expected_seal = signature_seal(
            secret_key,
            record_id=record.id,
            record_version=signature.record_version,
            trigger=signature.trigger,
            meaning=signature.meaning,
            signer_id=signature.signer_id,
            signed_at=signature.signed_at,
            content_hash=signature.content_hash,
        )
        assert signature.id is not None
        scheme = signature.hash_scheme
        if scheme in HASH_SCHEMES and scheme not in current_hashes:
            current_hashes[scheme] = signed_content_hash(
                session, record=record, data=record.data, scheme=scheme
            )
        if expected_seal != signature.seal or scheme not in HASH_SCHEMES:
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

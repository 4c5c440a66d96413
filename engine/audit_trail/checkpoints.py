"""Signed checkpoints of the audit chains (RELIABILITY T05, docs/adr/0032).

The chain alone proves nothing to someone who can rewrite the database: edit an event, recompute every
later hash and the head, and the chain verifies. A checkpoint signs (organization, seq, head hash, time)
with an Ed25519 key derived from the installation key, which never enters the database; a rewritten or
truncated chain no longer matches the checkpoints, and new checkpoints cannot be forged. Each checkpoint
is kept twice: in the append-only ``audit_checkpoint`` table and as a line in the data directory's
``checkpoints/ORG.jsonl``, so that deleting rows from the database does not delete the proof.
"""

import hashlib
import hmac
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, insert, select
from sqlmodel import Session

from engine.audit import chain_head
from engine.audit_trail import ed25519
from engine.audit_trail.offline import against_checkpoints, checkpoint_message, checkpoint_problem
from engine.config import KeyRing
from engine.models.audit import AuditCheckpoint, AuditEvent
from engine.models.base import table_of, utc_iso, utcnow

_checkpoints = table_of(AuditCheckpoint)
_events = table_of(AuditEvent)
_DERIVATION = b"tanguan audit checkpoint ed25519 v1"


def signing_seed(installation_key: str) -> bytes:
    """The Ed25519 private key: derived from the installation key, so it is held where that key is."""
    return hmac.new(installation_key.encode(), _DERIVATION, hashlib.sha256).digest()


def public_key_of(installation_key: str) -> str:
    return ed25519.public_key(signing_seed(installation_key)).hex()


def trusted_public_keys(key_ring: KeyRing) -> set[str]:
    """The public keys of the signing key and of the keys rotated out (their checkpoints stay valid)."""
    return {public_key_of(key) for key in key_ring.all}


@dataclass(frozen=True)
class Checkpoint:
    org_id: int
    seq: int
    head_hash: str
    signed_at: str
    reason: str
    public_key: str
    signature: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mirror_path(mirror_dir: Path, org_id: int) -> Path:
    return mirror_dir / f"org-{org_id}.jsonl"


def _write_mirror(mirror_dir: Path, checkpoint: Checkpoint) -> None:
    mirror_dir.mkdir(parents=True, exist_ok=True)
    line = json.dumps(checkpoint.as_dict(), sort_keys=True, ensure_ascii=False) + "\n"
    with open(_mirror_path(mirror_dir, checkpoint.org_id), "a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def sign_checkpoint(
    session: Session, *, org_id: int, key_ring: KeyRing, reason: str, mirror_dir: Path | None
) -> Checkpoint | None:
    """Sign the organization's chain head in the session's transaction (None for an empty chain)."""
    seq, head_hash = chain_head(session, org_id=org_id)
    if seq == 0:
        return None
    seed = signing_seed(key_ring.signing)
    signed_at = utc_iso(utcnow())
    unsigned = {"org_id": org_id, "seq": seq, "head_hash": head_hash, "signed_at": signed_at}
    checkpoint = Checkpoint(
        org_id=org_id,
        seq=seq,
        head_hash=head_hash,
        signed_at=signed_at,
        reason=reason,
        public_key=ed25519.public_key(seed).hex(),
        signature=ed25519.sign(seed, checkpoint_message(unsigned)).hex(),
    )
    session.execute(insert(_checkpoints).values(checkpoint.as_dict()))
    if mirror_dir is not None:
        _write_mirror(mirror_dir, checkpoint)
    return checkpoint


def _read_mirror(mirror_dir: Path | None, org_id: int) -> list[Checkpoint]:
    if mirror_dir is None or not _mirror_path(mirror_dir, org_id).exists():
        return []
    found = []
    for line in _mirror_path(mirror_dir, org_id).read_text(encoding="utf-8").splitlines():
        if line.strip():
            data = json.loads(line)
            found.append(Checkpoint(**{name: data[name] for name in Checkpoint.__dataclass_fields__}))
    return found


def checkpoints_of(connection: Connection, *, org_id: int, mirror_dir: Path | None) -> list[Checkpoint]:
    """The database's checkpoints and the mirror's, each once, in chain order."""
    rows = connection.execute(
        select(*(_checkpoints.c[name] for name in Checkpoint.__dataclass_fields__)).where(
            _checkpoints.c.org_id == org_id
        )
    ).all()
    unique = {
        (c.seq, c.signature): c for c in [Checkpoint(*row) for row in rows] + _read_mirror(mirror_dir, org_id)
    }
    return sorted(unique.values(), key=lambda checkpoint: (checkpoint.seq, checkpoint.signed_at))


@dataclass(frozen=True)
class CheckpointCheck:
    checkpoints: int
    latest: Checkpoint | None
    broken_seq: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def check_against_checkpoints(
    connection: Connection, *, org_id: int, key_ring: KeyRing, mirror_dir: Path | None
) -> CheckpointCheck:
    """Every checkpoint's signature checked with the installation's keys, then the chain compared with
    them: a truncated tail and a recomputed chain are both named."""
    checkpoints = checkpoints_of(connection, org_id=org_id, mirror_dir=mirror_dir)
    trusted = trusted_public_keys(key_ring)
    for checkpoint in checkpoints:
        problem = checkpoint_problem(checkpoint.as_dict(), trusted_keys=trusted)
        if problem:
            return CheckpointCheck(len(checkpoints), None, checkpoint.seq, problem)
    latest = checkpoints[-1] if checkpoints else None
    last_seq = connection.execute(select(func.max(_events.c.seq)).where(_events.c.org_id == org_id)).scalar()
    hashes = _hashes_at(connection, org_id=org_id, seqs={checkpoint.seq for checkpoint in checkpoints})
    broken, problem = against_checkpoints(
        hashes, last_seq=last_seq or 0, checkpoints=[checkpoint.as_dict() for checkpoint in checkpoints]
    )
    return CheckpointCheck(len(checkpoints), latest, broken, problem)


def _hashes_at(connection: Connection, *, org_id: int, seqs: Iterable[int]) -> dict[int, str]:
    wanted, found = sorted(seqs), {}
    for start in range(0, len(wanted), 500):
        rows = connection.execute(
            select(_events.c.seq, _events.c.hash).where(
                _events.c.org_id == org_id, _events.c.seq.in_(wanted[start : start + 500])
            )
        ).all()
        found.update({seq: hash_ for seq, hash_ in rows})
    return found

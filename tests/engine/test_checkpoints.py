"""Signed checkpoints (RELIABILITY T05): a truncated tail and a recomputed chain are both detected against
the checkpoints, whose signatures are checked with a key that is not in the database."""

import hashlib
import json
from contextlib import contextmanager

import pytest
from sqlalchemy import text

from engine.audit import canonical_json, verify_chain
from engine.audit_trail import ed25519
from engine.audit_trail.checkpoints import (
    check_against_checkpoints,
    public_key_of,
    sign_checkpoint,
    trusted_public_keys,
)
from engine.config import KeyRing
from tests.engine.test_audit import append_many, make_org

KEYS = KeyRing("installation-key-for-the-checkpoint-tests-0123456789")

RFC8032 = [  # (secret, public, message, signature) — RFC 8032 §7.1, tests 1 and 2
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0"
        "595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eae"
        "b4302aeeb00d291612bb0c00",
    ),
]


@pytest.mark.parametrize(("secret", "public", "message", "signature"), RFC8032)
def test_ed25519_matches_the_rfc_vectors(secret, public, message, signature):
    seed, msg = bytes.fromhex(secret), bytes.fromhex(message)
    assert ed25519.public_key(seed).hex() == public
    assert ed25519.sign(seed, msg).hex() == signature
    assert ed25519.verify(bytes.fromhex(public), msg, bytes.fromhex(signature))
    assert not ed25519.verify(bytes.fromhex(public), msg + b"x", bytes.fromhex(signature))
    forged = bytearray(bytes.fromhex(signature))
    forged[40] ^= 1
    assert not ed25519.verify(bytes.fromhex(public), msg, bytes(forged))


@contextmanager
def tampering(db, *, keep=False):
    """A transaction with the append-only triggers out of the way, as someone holding the database file or a
    superuser could; rolled back afterwards unless ``keep``."""
    with db.engine.connect() as connection:
        transaction = connection.begin()
        if db.is_sqlite:
            for trigger in ("audit_event_no_update", "audit_event_no_delete", "audit_checkpoint_no_delete"):
                connection.execute(text(f"DROP TRIGGER {trigger}"))
        else:
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        try:
            yield connection
        finally:
            transaction.commit() if keep else transaction.rollback()


def _events(connection, org_id):
    return connection.execute(
        text("SELECT seq, prev_hash, hash, payload FROM audit_event WHERE org_id = :o ORDER BY seq"),
        {"o": org_id},
    ).all()


def _move_head(connection, org_id, seq, hash_):
    connection.execute(
        text("UPDATE audit_chain_head SET last_seq = :s, last_hash = :h WHERE org_id = :o"),
        {"s": seq, "h": hash_, "o": org_id},
    )


def truncate(connection, org_id, count):
    """Delete the last ``count`` events and move the head back: the chain alone still verifies."""
    rows = _events(connection, org_id)
    keep = rows[-count - 1]
    connection.execute(
        text("DELETE FROM audit_event WHERE org_id = :o AND seq > :s"), {"o": org_id, "s": keep.seq}
    )
    _move_head(connection, org_id, keep.seq, keep.hash)


def rewrite(connection, org_id, seq):
    """Edit one event and recompute every later hash and the head: the chain alone still verifies."""
    previous = None
    for row in _events(connection, org_id):
        if row.seq < seq:
            previous = row.hash
            continue
        payload, reason = row.payload, None
        if row.seq == seq:
            reason = "伪造的原因 forged"
            payload = canonical_json({**json.loads(row.payload), "reason": reason})
        new_hash = hashlib.sha256((previous + payload).encode()).hexdigest()
        connection.execute(
            text(
                "UPDATE audit_event SET prev_hash = :p, hash = :h, payload = :pl, "
                "reason = coalesce(:r, reason) WHERE org_id = :o AND seq = :s"
            ),
            {"p": previous, "h": new_hash, "pl": payload, "r": reason, "o": org_id, "s": row.seq},
        )
        previous = new_hash
    last = _events(connection, org_id)[-1]
    _move_head(connection, org_id, last.seq, last.hash)


def _sign(db, org_id, mirror_dir):
    with db.unit_of_work(org_id=org_id) as uow:
        return sign_checkpoint(
            uow.session, org_id=org_id, key_ring=KEYS, reason="daily", mirror_dir=mirror_dir
        )


def test_truncation_and_recomputed_chains_are_detected_against_checkpoints(db, tmp_path):
    org_id = make_org(db, "checkpointed")
    append_many(db, org_id, 20)
    _sign(db, org_id, tmp_path)
    append_many(db, org_id, 10)
    latest = _sign(db, org_id, tmp_path)
    assert latest is not None and latest.seq == 31
    with db.engine.connect() as connection:
        clean = check_against_checkpoints(connection, org_id=org_id, key_ring=KEYS, mirror_dir=tmp_path)
    assert clean.ok and clean.checkpoints == 2

    trials = detected = 0
    cases = [("truncate", n) for n in range(1, 6)] + [("rewrite", seq) for seq in (10, 21, 30)]
    for kind, amount in cases:
        with tampering(db) as connection:
            truncate(connection, org_id, amount) if kind == "truncate" else rewrite(
                connection, org_id, amount
            )
            assert verify_chain(connection, org_id=org_id).ok, "the tampering must fool the chain alone"
            check = check_against_checkpoints(connection, org_id=org_id, key_ring=KEYS, mirror_dir=tmp_path)
            trials += 1
            detected += not check.ok
            expected = "events removed" if kind == "truncate" else "rewritten"
            assert check.problem and expected in check.problem, (kind, amount, check)
    # The checkpoint rows deleted from the database too: the copy outside it still tells.
    with tampering(db) as connection:
        truncate(connection, org_id, 3)
        connection.execute(text("DELETE FROM audit_checkpoint WHERE org_id = :o"), {"o": org_id})
        check = check_against_checkpoints(connection, org_id=org_id, key_ring=KEYS, mirror_dir=tmp_path)
        trials += 1
        detected += not check.ok
    print(f"\nT05 checkpoints: tampering detected={detected}/{trials}")
    assert detected == trials == 9


def test_a_checkpoint_signed_by_another_key_is_refused(db, tmp_path):
    org_id = make_org(db, "forged")
    append_many(db, org_id, 5)
    with db.unit_of_work(org_id=org_id) as uow:  # signed with a key that is not the installation's
        sign_checkpoint(
            uow.session, org_id=org_id, key_ring=KeyRing("someone-else"), reason="manual", mirror_dir=None
        )
    with db.engine.connect() as connection:
        check = check_against_checkpoints(connection, org_id=org_id, key_ring=KEYS, mirror_dir=None)
    assert not check.ok and "unknown key" in (check.problem or "")


def test_a_rotated_key_still_verifies_its_checkpoints(db):
    org_id = make_org(db, "rotated")
    append_many(db, org_id, 3)
    old = KeyRing("the-key-before-rotation")
    with db.unit_of_work(org_id=org_id) as uow:
        sign_checkpoint(uow.session, org_id=org_id, key_ring=old, reason="daily", mirror_dir=None)
    rotated = KeyRing("the-key-after-rotation", ("the-key-before-rotation",))
    assert public_key_of(old.signing) in trusted_public_keys(rotated)
    with db.engine.connect() as connection:
        assert check_against_checkpoints(connection, org_id=org_id, key_ring=rotated, mirror_dir=None).ok


def test_checkpoints_are_append_only(db):
    org_id = make_org(db, "appendonly")
    append_many(db, org_id, 2)
    with db.unit_of_work(org_id=org_id) as uow:
        sign_checkpoint(uow.session, org_id=org_id, key_ring=KEYS, reason="daily", mirror_dir=None)
    for statement in ("UPDATE audit_checkpoint SET seq = 1", "DELETE FROM audit_checkpoint"):
        with pytest.raises(Exception, match="append-only"), db.engine.begin() as connection:
            connection.execute(text(statement))

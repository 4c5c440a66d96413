"""Checks of the audit chain that need nothing but the standard library.

`tanguan audit verify` uses them on the database, and the evidence pack carries this file (with
``ed25519.py``) so that an auditor runs the same checks offline: a checkpoint's signature, an event range's
hash links, and an event range against the checkpoints that sign it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

try:
    from engine.audit_trail import ed25519
except ImportError:  # inside an evidence pack, beside ed25519.py
    import ed25519  # type: ignore[no-redef]

CHECKPOINT_KIND = "tanguan-audit-checkpoint/1"
CHECKPOINT_FIELDS = ("org_id", "seq", "head_hash", "signed_at")


def checkpoint_message(checkpoint: Mapping[str, Any]) -> bytes:
    """The bytes a checkpoint signs: its kind, organization, chain position, head hash and time."""
    signed = {"kind": CHECKPOINT_KIND, **{name: checkpoint[name] for name in CHECKPOINT_FIELDS}}
    return json.dumps(signed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def checkpoint_problem(checkpoint: Mapping[str, Any], *, trusted_keys: Iterable[str]) -> str | None:
    """Why a checkpoint cannot be trusted, or None: a key not ours, or a signature that does not verify."""
    if checkpoint.get("public_key") not in set(trusted_keys):
        return f"checkpoint at seq {checkpoint.get('seq')} is signed by an unknown key"
    try:
        public = bytes.fromhex(str(checkpoint["public_key"]))
        signature = bytes.fromhex(str(checkpoint["signature"]))
        message = checkpoint_message(checkpoint)
    except (KeyError, ValueError):
        return f"checkpoint at seq {checkpoint.get('seq')} is malformed"
    if not ed25519.verify(public, message, signature):
        return (
            f"checkpoint at seq {checkpoint.get('seq')} (signed {checkpoint.get('signed_at')}): bad signature"
        )
    return None


def against_checkpoints(
    hashes: Mapping[int, str], *, last_seq: int, checkpoints: Iterable[Mapping[str, Any]]
) -> tuple[int | None, str | None]:
    """Compare the chain with (already trusted) checkpoints: ``hashes`` maps seq → stored hash for every
    checkpointed seq present, ``last_seq`` is where the trail ends. ``(first bad seq, why)`` or nothing."""
    for checkpoint in sorted(checkpoints, key=lambda item: int(item["seq"])):
        seq, signed_at = int(checkpoint["seq"]), checkpoint["signed_at"]
        if seq > last_seq:
            return last_seq + 1, (
                f"the checkpoint signed {signed_at} covers {seq} events but the trail ends at {last_seq} "
                "(events removed from the end)"
            )
        if hashes.get(seq) != checkpoint["head_hash"]:
            return seq, (
                f"event {seq} does not match the checkpoint signed {signed_at} "
                "(the chain was rewritten and its hashes recomputed)"
            )
    return None, None


def chain_slice_problem(events: Iterable[Mapping[str, Any]]) -> tuple[int | None, str | None]:
    """Walk consecutive events (each with seq, prev_hash, hash, payload): every hash recomputed, every
    link checked, no gap. ``(first bad seq, why)`` or (None, None)."""
    previous: Mapping[str, Any] | None = None
    for event in events:
        seq = int(event["seq"])
        if previous is not None:
            if seq != int(previous["seq"]) + 1:
                return int(previous["seq"]) + 1, f"event {int(previous['seq']) + 1} is missing"
            if event["prev_hash"] != previous["hash"]:
                return seq, f"event {seq} does not link to event {seq - 1}"
        digest = hashlib.sha256((str(event["prev_hash"]) + str(event["payload"])).encode()).hexdigest()
        if digest != event["hash"]:
            return seq, f"event {seq}: hash does not match its content (altered)"
        payload = json.loads(str(event["payload"]))
        if payload.get("seq") != seq:
            return seq, f"event {seq}: its content names another position"
        previous = event
    return None, None

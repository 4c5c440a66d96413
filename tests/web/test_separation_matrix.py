"""RELIABILITY T08, separation of duties: every conflict the workflow files declare — whoever drafted a
statement approving it, an implementer verifying their own action, a collector verifying their own data …
— is blocked, each rule and each of its clauses taken as one combination; over HTTP, the drafter of a scope
statement cannot approve it, and nobody signs with another person's password. (The auditor-independence
combinations and their overrides are in test_auditor_independence.)"""

from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import text

from demo.seed import DEMO_PASSWORD
from engine.workflow.access import ActorRef, check_access
from engine.workflow.errors import SeparationRefused
from tests.web.conftest import CATALOG
from tests.web.test_context import api, fire, rows

CONFLICTED, OTHER = 7, 8  # two people holding every role


@dataclass
class _Record:
    """What the separation check reads of a record."""

    created_by: int | None = None
    participants: dict[str, list[int]] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)


def _conflicts() -> list[tuple[str, str, str, _Record]]:
    """(workflow, trigger, what conflicts, a record on which the conflicted person holds that part)."""
    found = []
    for workflow in CATALOG.current.values():
        for transition in workflow.spec.transitions:
            for rule in transition.separation:
                parts: list[tuple[str, _Record]] = []
                if rule.not_creator:
                    parts.append(("creator", _Record(created_by=CONFLICTED)))
                for trigger in rule.not_actors_of:
                    parts.append((f"actor of {trigger}", _Record(participants={trigger: [CONFLICTED]})))
                for dotted in rule.not_users_in:
                    head, _, column = dotted.partition(".")
                    value: Any = [{column: CONFLICTED}] if column else CONFLICTED
                    parts.append((f"named in {dotted}", _Record(data={head: value})))
                found += [(workflow.key, transition.trigger, what, record) for what, record in parts]
    return found


CONFLICTS = _conflicts()


def test_every_declared_conflict_is_blocked_and_nobody_else_is():
    everyone = frozenset(
        role for w in CATALOG.current.values() for t in w.spec.transitions for role in t.roles
    )
    conflicted = ActorRef(id=CONFLICTED, name="冲突者", roles=everyone)
    other = ActorRef(id=OTHER, name="他人", roles=everyone)
    blocked = 0
    for key, trigger, _what, record in CONFLICTS:
        transition = next(t for t in CATALOG.get(key).spec.transitions if t.trigger == trigger)
        with pytest.raises(SeparationRefused) as refused:
            check_access(record, transition, conflicted)
        assert refused.value.reason.zh and refused.value.reason.en  # said in both languages
        blocked += 1
        check_access(record, transition, other)  # the same step by someone else passes
    workflows = {key for key, *_ in CONFLICTS}
    print(f"\nseparation_conflicts_blocked: {blocked}/{len(CONFLICTS)} over {len(workflows)} workflows")
    assert blocked == len(CONFLICTS) >= 12
    # The combinations RELIABILITY T08 names, as the files declare them.
    named = {(key, trigger, what) for key, trigger, what, _ in CONFLICTS}
    assert ("scope_statement", "approve_scope", "creator") in named  # author ≠ approver
    assert ("nonconformity", "verify_effective", "named in actions.owner") in named  # implementer ≠ verifier
    assert ("nonconformity", "verify_effective", "actor of complete") in named
    assert ("carbon_data_batch", "verify", "creator") in named  # collector ≠ verifier (8.6)


def test_over_http_the_drafter_cannot_approve_and_nobody_signs_for_another(plant):
    carbon, quality, gm = (
        api(plant, "carbon_manager"),
        api(plant, "quality_manager"),
        api(plant, "top_management"),
    )
    draft = carbon.post(
        "/api/v1/records",
        json={"workflow": "scope_statement", "data": {**_scope_data(plant), "edition": "T08"}},
    )
    assert draft.status_code == 201, draft.text
    record_id = draft.json()["id"]
    assert fire(carbon, record_id, "submit_for_review", {}).status_code == 200
    # The quality manager reviews; the carbon manager, who drafted it, may neither review nor approve.
    assert fire(carbon, record_id, "pass_review", {}).status_code == 403
    assert fire(quality, record_id, "pass_review", {}).status_code == 200
    assert fire(carbon, record_id, "approve_scope", {}, signature_password=DEMO_PASSWORD).status_code == 403
    # Top management signs with its own password only: another person's password is refused, and a field
    # naming someone else to sign for changes nothing — the signer is always whoever is signed in.
    wrong = fire(gm, record_id, "approve_scope", {}, signature_password="Not-the-GM-password-1")
    assert wrong.status_code == 403
    before = [row for row in rows(plant, "scope_statement") if row[0] == record_id][0][3]
    assert before == "awaiting_approval"
    signed = fire(gm, record_id, "approve_scope", {}, signature_password=DEMO_PASSWORD, signer_id=1)
    assert signed.status_code == 200, signed.text
    with plant.db.engine.connect() as connection:
        signers = connection.execute(
            text(
                "SELECT u.email FROM signature s JOIN user_account u ON u.id = s.signer_id"
                " WHERE s.record_id = :r"
            ),
            {"r": record_id},
        ).scalars()
        assert list(signers) == ["gm@xiangfeng.example"]  # the general manager's signature, nobody else's


def _scope_data(web) -> dict[str, Any]:
    in_force = next(row for row in rows(web, "scope_statement") if row[3] == "in_force")
    return {
        k: v
        for k, v in in_force[4].items()
        if k in {f.name for f in CATALOG.get("scope_statement").create_form.fields}
    }

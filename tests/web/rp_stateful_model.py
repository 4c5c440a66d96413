"""The shadow model and strategies of the reduction-project state machine
(tests/web/test_reduction_project_stateful.py): the declared process read from its file, valid and invalid
forms for each trigger, and the answer each attempt must get."""

import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import strategies as st

from demo.seed import DEMO_LOGINS, DEMO_PASSWORD
from tests.web.conftest import CATALOG

EXAMPLES = int(os.environ.get("TANGUAN_STATEFUL_EXAMPLES", "12"))
STEPS = int(os.environ.get("TANGUAN_STATEFUL_STEPS", "25"))
MAX_RECORDS = 3

WORKFLOW = CATALOG.get("reduction_project").spec
TRIGGERS = sorted({t.trigger for t in WORKFLOW.transitions})
FINAL_STATES = {name for name, state in WORKFLOW.states.items() if state.final}
ROLES = ["staff", "process_owner", "carbon_manager", "top_management", "internal_auditor", "quality_manager"]
EMAIL_OF = {login.role.value: login.email for login in DEMO_LOGINS}
SEPARATED = "verify_reduction"  # not whoever finished the implementation
for _t in WORKFLOW.transitions:  # the model fails loudly if the workflow file changes underneath it
    assert not _t.guards and not _t.actions, _t.trigger
    assert bool(_t.separation) == (_t.trigger == SEPARATED), _t.trigger
(_rule,) = next(t for t in WORKFLOW.transitions if t.trigger == SEPARATED).separation
assert _rule.not_actors_of == ("finish_implementation",) and not _rule.not_users_in and not _rule.not_creator
assert WORKFLOW.computed is None

STATUS = {
    "ok": 200,
    "body": 422,
    "stale": 409,
    "not_available": 409,
    "role": 403,
    "separation": 403,
    "form": 422,
    "signature": 403,
}

WORDS = st.text(alphabet="余热窑头燃烧器粉磨电耗绿电替代燃料改造abcXYZ0123-", min_size=1, max_size=24)
DATES = st.dates(min_value=date(2024, 1, 1), max_value=date(2028, 12, 31)).map(date.isoformat)
AMOUNTS = st.integers(0, 10_000_000).map(str)
PROJECT_TYPES = ["energy_efficiency", "fuel_switch", "waste_heat_power", "green_power", "ccus", "other"]


@dataclass
class Actor:
    role: str
    user_id: int
    client: TestClient


@dataclass
class Context:
    db: Any
    org_id: int
    actors: dict[str, Actor]
    outsider_id: int
    evidence_id: int  # an evidence file of the organization (the verification report)
    foreign_evidence_id: int  # one of another organization
    facility_id: int
    counts: Counter = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    signature_failures: Counter = field(default_factory=Counter)


@dataclass
class Shadow:
    state: str
    version: int
    data: dict[str, Any]
    participants: dict[str, set[int]]


@dataclass
class Attempt:
    data: dict[str, Any]
    comment: str | None
    password: str | None
    form_ok: bool
    submitted: dict[str, Any]
    body_ok: bool = True
    variant: str = "valid"

    def body(self, version: int) -> dict[str, Any]:
        body: dict[str, Any] = {"version": version, "data": self.data}
        if self.comment is not None:
            body["comment"] = self.comment
        if self.password is not None:
            body["signature_password"] = self.password
        return body


def proposal(draw, ctx: Context) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": draw(WORDS),
        "project_type": draw(st.sampled_from(PROJECT_TYPES)),
        "baseline_scenario": draw(WORDS),
        "expected_reduction": draw(AMOUNTS),
        "owner": ctx.actors[draw(st.sampled_from(["process_owner", "carbon_manager"]))].user_id,
    }
    if draw(st.booleans()):
        data["investment"] = draw(st.integers(0, 100_000).map(str))
    if draw(st.booleans()):
        data["facility"] = ctx.facility_id
    if draw(st.booleans()):
        data["planned_completion"] = draw(DATES)
    return data


def valid_form(draw, trigger: str, ctx: Context) -> dict[str, Any]:
    match trigger:
        case "revise_proposal":
            return proposal(draw, ctx)
        case "approve_project":
            form = {"approved_investment": draw(st.integers(0, 100_000).map(str))}
            if draw(st.booleans()):
                form["approval_note"] = draw(WORDS)
            return form
        case "begin_implementation":
            return {"start_date": draw(DATES)}
        case "finish_implementation":
            return {
                "completion_date": draw(DATES),
                "actual_investment": draw(st.integers(0, 100_000).map(str)),
            }
        case "verify_reduction":
            return {
                "verified_reduction": draw(AMOUNTS),
                "verification_method": draw(WORDS),
                "verification_report": ctx.evidence_id,
            }
        case _:  # return_for_rework, cancel_project: no form
            return {}


# Per trigger, the ways a form can be wrong (each gives 422 naming a field).
INVALID = {
    "revise_proposal": [
        "missing:name", "missing:baseline_scenario", "bad:project_type", "negative:expected_reduction",
        "huge:expected_reduction", "outsider:owner", "unknown:owner", "bad_date:planned_completion",
    ],
    "approve_project": [
        "missing:approved_investment", "negative:approved_investment", "text:approved_investment",
    ],
    "begin_implementation": ["missing:start_date", "bad_date:start_date"],
    "finish_implementation": [
        "missing:completion_date", "missing:actual_investment", "bad_date:completion_date",
    ],
    "verify_reduction": [
        "missing:verified_reduction", "missing:verification_report", "foreign:verification_report",
        "unknown:verification_report", "negative:verified_reduction",
    ],
    "return_for_rework": ["no_comment", "blank_comment"],
    "cancel_project": ["no_comment", "blank_comment"],
}  # fmt: skip


def make_attempt(draw, trigger: str, ctx: Context, *, valid: bool, password: str) -> Attempt:
    spec = next(t for t in WORKFLOW.transitions if t.trigger == trigger)
    posted = valid_form(draw, trigger, ctx)
    comment = draw(WORDS) if spec.comment_required or draw(st.booleans()) else None
    signature = {"right": DEMO_PASSWORD, "wrong": DEMO_PASSWORD + "x", "missing": None}[password]
    if valid:
        return Attempt(posted, comment, signature, form_ok=True, submitted=dict(posted))
    variant = draw(st.sampled_from(["comment_too_long", *INVALID[trigger]]))
    kind, _, name = variant.partition(":")
    wrong = dict(posted)
    body_ok = True
    match kind:
        case "comment_too_long":
            comment, body_ok = "长" * 4001, False
        case "missing":
            wrong.pop(name, None)
        case "bad":
            wrong[name] = "bogus"
        case "negative":
            wrong[name] = "-1"
        case "huge":
            wrong[name] = "100000000000"
        case "text":
            wrong[name] = "很多"
        case "outsider":
            wrong[name] = ctx.outsider_id
        case "unknown":
            wrong[name] = 10**7
        case "foreign":
            wrong[name] = ctx.foreign_evidence_id
        case "bad_date":
            wrong[name] = "2026-02-30"
        case "no_comment":
            comment = None
        case "blank_comment":
            comment = "   "
    return Attempt(wrong, comment, signature, form_ok=False, submitted={}, body_ok=body_ok, variant=variant)


def report_form(draw, ctx: Context) -> tuple[dict[str, Any], dict[str, Any] | None, str]:
    data = proposal(draw, ctx)
    if draw(st.sampled_from([True, True, True, False])):
        return data, dict(data), "valid"
    variant = draw(st.sampled_from(["missing_name", "bad_type", "outsider", "negative", "long_baseline"]))
    match variant:
        case "missing_name":
            del data["name"]
        case "bad_type":
            data["project_type"] = "magic"
        case "outsider":
            data["owner"] = ctx.outsider_id
        case "negative":
            data["expected_reduction"] = "-5"
        case "long_baseline":
            data["baseline_scenario"] = "x" * 4001
    return data, None, variant

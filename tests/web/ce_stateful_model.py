"""The shadow model and strategies of the compliance-evaluation state machine
(tests/web/test_compliance_evaluation_stateful.py): the declared process read from its file, valid and
invalid forms for each trigger, and the answer each attempt must get."""

import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import strategies as st

from demo.seed import DEMO_LOGINS
from tests.web.conftest import CATALOG

EXAMPLES = int(os.environ.get("TANGUAN_STATEFUL_EXAMPLES", "8"))
STEPS = int(os.environ.get("TANGUAN_STATEFUL_STEPS", "20"))
MAX_RECORDS = 3
OBLIGATIONS = 3  # in the register the machine's context makes

WORKFLOW = CATALOG.get("compliance_evaluation").spec
TRIGGERS = sorted({t.trigger for t in WORKFLOW.transitions})
FINAL_STATES = {name for name, state in WORKFLOW.states.items() if state.final}
ROLES = ["carbon_manager", "quality_manager", "internal_auditor", "top_management", "process_owner", "staff"]
EVALUATOR_ROLES = ["carbon_manager", "quality_manager", "internal_auditor"]
EMAIL_OF = {login.role.value: login.email for login in DEMO_LOGINS}
SEPARATED = "pass_review"  # not an evaluator, nor whoever saved or submitted the results
GUARDED = "submit"  # every row answered with its evidence
# Triggers the hooks fire in the same transaction; a person finds them never available.
PASSED_THROUGH = {"set_scope", "note_nonconformities"}
VERSION_STEPS = {"submit": 2}  # submit, then the hook's note_nonconformities
for _t in WORKFLOW.transitions:  # the model fails loudly if the workflow file changes underneath it
    assert bool(_t.guards) == (_t.trigger == GUARDED), _t.trigger
    assert bool(_t.separation) == (_t.trigger == SEPARATED), _t.trigger
    assert not _t.actions and not _t.signature, _t.trigger
(_rule,) = next(t for t in WORKFLOW.transitions if t.trigger == SEPARATED).separation
assert set(_rule.not_actors_of) == {"record_results", "submit"}
assert set(_rule.not_users_in) == {"evaluator", "co_evaluator"}

STATUS = {"ok": 200, "stale": 409, "not_available": 409, "role": 403, "separation": 403, "form": 422,
          "guard": 409}  # fmt: skip
WORDS = st.text(alphabet="排放报告台账检测存证回执许可abcXYZ0123-", min_size=1, max_size=20)
DATES = st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31)).map(date.isoformat)
RESULTS = ["compliant", "non_compliant", "not_applicable"]


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
    obligations: list[int]
    other_record_id: int  # a record of the organization that is not an obligation
    counts: Counter = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)


@dataclass
class Shadow:
    state: str
    version: int
    evaluators: set[int]
    rows: list[dict[str, Any]]  # obligation, result, evidence_reference, note (as stored)
    evaluated_on: str | None = None
    participants: dict[str, set[int]] = field(default_factory=dict)
    nonconformities: dict[int, int] = field(default_factory=dict)  # obligation → the NC it opened


@dataclass
class Attempt:
    data: dict[str, Any]
    comment: str | None
    form_ok: bool
    variant: str = "valid"

    def body(self, version: int) -> dict[str, Any]:
        body: dict[str, Any] = {"version": version, "data": self.data}
        if self.comment is not None:
            body["comment"] = self.comment
        return body


def answered(row: dict[str, Any]) -> bool:
    """What the submit guard asks of a row (no evaluation evidence file in the machine)."""
    result = row.get("result")
    if result in ("compliant", "non_compliant"):
        return bool(row.get("evidence_reference"))
    return result == "not_applicable" and bool(row.get("note"))


def results_form(draw, shadow: Shadow) -> list[dict[str, Any]]:
    """One row per obligation of the evaluation, mostly answered in full."""
    rows = []
    for row in shadow.rows:
        new: dict[str, Any] = {"obligation": row["obligation"]}
        if draw(st.sampled_from([True] * 6 + [False])):
            new["result"] = draw(st.sampled_from(RESULTS))
        if draw(st.sampled_from([True] * 5 + [False])):
            new["evidence_reference"] = draw(WORDS)
        if draw(st.sampled_from([True] * 3 + [False])):
            new["note"] = draw(WORDS)
        rows.append(new)
    return rows


def valid_form(draw, trigger: str, shadow: Shadow) -> dict[str, Any]:
    match trigger:
        case "record_results" | "set_scope" | "note_nonconformities":
            return {"results": results_form(draw, shadow)}
        case "submit":
            return {"results": results_form(draw, shadow), "evaluated_on": draw(DATES)}
        case "pass_review":
            return {"review_conclusion": draw(WORDS)}
        case _:  # send_back, close: no form
            return {}


INVALID = {
    "record_results": [
        "bad_result", "unknown_obligation", "not_an_obligation", "missing_results", "long_note",
    ],
    "submit": ["bad_result", "unknown_obligation", "missing_results", "missing_date", "bad_date"],
    "pass_review": ["missing_conclusion"],
    "send_back": ["no_comment", "blank_comment"],
}  # fmt: skip


def make_attempt(draw, trigger: str, shadow: Shadow, ctx: Context, *, valid: bool) -> Attempt:
    spec = next(t for t in WORKFLOW.transitions if t.trigger == trigger)
    posted = valid_form(draw, trigger, shadow)
    comment = draw(WORDS) if spec.comment_required or draw(st.booleans()) else None
    if valid or trigger not in INVALID:
        return Attempt(posted, comment, form_ok=True)
    variant = draw(st.sampled_from(INVALID[trigger]))
    wrong = dict(posted)
    first = dict(wrong["results"][0]) if wrong.get("results") else {}
    match variant:
        case "bad_result":
            first["result"] = "maybe"
        case "unknown_obligation":
            first["obligation"] = 10**7
        case "not_an_obligation":
            first["obligation"] = ctx.other_record_id
        case "long_note":
            first["note"] = "长" * 501
        case "missing_results":
            wrong.pop("results", None)
        case "missing_date":
            wrong.pop("evaluated_on", None)
        case "bad_date":
            wrong["evaluated_on"] = "2026-02-30"
        case "missing_conclusion":
            wrong.pop("review_conclusion", None)
        case "no_comment":
            comment = None
        case "blank_comment":
            comment = "   "
    if first and "results" in wrong:
        wrong["results"] = [first, *wrong["results"][1:]]
    return Attempt(wrong, comment, form_ok=False, variant=variant)


def plan_form(draw, ctx: Context) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": draw(WORDS),
        "period": draw(WORDS),
        "scope": draw(st.sampled_from(["all", "one", "one"])),
        "evaluator": ctx.actors[draw(st.sampled_from(EVALUATOR_ROLES))].user_id,
        "planned_date": draw(DATES),
    }
    if data["scope"] == "one":
        data["obligation"] = draw(st.sampled_from(ctx.obligations))
    if draw(st.booleans()):
        data["co_evaluator"] = ctx.actors[draw(st.sampled_from(EVALUATOR_ROLES))].user_id
    return data


def predict(shadow: Shadow, trigger: str, actor: Actor, attempt: Attempt, version: int) -> str:
    """The answer the declared process gives, in the order the engine checks."""
    if version != shadow.version:
        return "stale"
    spec = WORKFLOW.transition(trigger, shadow.state)
    if spec is None:
        return "not_available"
    if actor.role not in spec.roles:
        return "role"
    if trigger == SEPARATED:
        excluded = shadow.evaluators | shadow.participants.get("record_results", set())
        if actor.user_id in excluded | shadow.participants.get("submit", set()):
            return "separation"
    if not attempt.form_ok:
        return "form"
    if trigger == GUARDED and not all(answered(row) for row in attempt.data["results"]):
        return "guard"
    return "ok"

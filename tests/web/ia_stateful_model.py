"""The shadow model of the internal-audit state machine (tests/web/test_internal_audit_stateful.py): the
declared process read from its file, the plans (clean, conflicted, mixed), the forms each trigger gets
(valid or not), and the answer each attempt must get, in the order the engine checks."""

import os
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import strategies as st

from demo.seed import DEMO_LOGINS
from engine.clauses.library import clauses_under
from tests.web.conftest import CATALOG
from workflows.hooks.internal_audit_rules import rules

EXAMPLES = int(os.environ.get("TANGUAN_STATEFUL_EXAMPLES", "6"))
STEPS = int(os.environ.get("TANGUAN_STATEFUL_STEPS", "30"))
MAX_RECORDS = 3

WORKFLOW = CATALOG.get("internal_audit").spec
FINAL_STATES = {name for name, state in WORKFLOW.states.items() if state.final}
TRIGGERS = sorted({t.trigger for t in WORKFLOW.transitions} - {"record_findings"})
# The people: role → who ("auditor2" is a second internal auditor, "quality2" a second quality manager).
PEOPLE = [
    "quality_manager",
    "quality2",
    "internal_auditor",
    "auditor2",
    "carbon_manager",
    "top_management",
    "staff",
]
ROLE_OF = {"quality2": "quality_manager", "auditor2": "internal_auditor"}
EMAIL_OF = {login.role.value: login.email for login in DEMO_LOGINS}
SCOPES = {"9.1": True, "9.2, 9.3": True, "4.1, 4.2": True, "99": False}
ANSWERS = list(rules().answers)
# A plan: its team (person, home unit code), its lead, its audited units. The second auditor belongs to the
# production department: auditing it is a conflict.
PLANS = {
    "clean": ((("internal_auditor", "QC"),), "internal_auditor", ("PROD",)),
    "conflicted": ((("auditor2", "PROD"),), "auditor2", ("PROD",)),
    "mixed": ((("internal_auditor", "QC"), ("auditor2", "PROD")), "internal_auditor", ("PROD",)),
    "mixed_elsewhere": ((("internal_auditor", "QC"), ("auditor2", "PROD")), "internal_auditor", ("PUR",)),
}

STATUS = {
    "ok": 200,
    "stale": 409,
    "not_available": 409,
    "role": 403,
    "separation": 403,
    "form": 422,
    "guard": 409,
    "independence": 403,
    "no_conflict": 409,
    "forged": 409,
    "follow_up": 422,
}


@dataclass
class Actor:
    who: str
    role: str
    user_id: int
    client: TestClient


@dataclass
class Context:
    db: Any
    org_id: int
    actors: dict[str, Actor]
    units: dict[str, int]
    counts: Counter = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)


@dataclass
class Shadow:
    state: str
    version: int
    scope: str
    plan: str | None = None
    override: str | None = None  # None, "requested", "approved"
    override_plan: str | None = None
    requesters: set[int] = field(default_factory=set)
    answers: list[str | None] = field(default_factory=list)
    max_points: list[int] = field(default_factory=list)
    findings: int = 0

    def team(self) -> set[str]:
        if self.plan is None:
            return set()
        team, lead, _ = PLANS[self.plan]
        return {who for who, _ in team} | {lead}

    def conflicted(self) -> set[str]:
        """Who audits their own unit under the current plan."""
        if self.plan is None:
            return set()
        team, _, units = PLANS[self.plan]
        return {who for who, home in team if home in units}

    def covered(self) -> bool:
        return self.override == "approved" and self.override_plan == self.plan


def checklist_of(scope: str) -> list[int]:
    """The max points of each row the library gives the scope."""
    numbers = [part.strip() for part in scope.split(",")]
    return [clause.points for clause in clauses_under(numbers) for _ in clause.questions]


def plan_form(ctx: Context, name: str) -> dict[str, Any]:
    team, lead, units = PLANS[name]
    return {
        "scope_units": [{"unit": ctx.units[code]} for code in units],
        "criteria": "碳管理体系实施指南",
        "lead_auditor": ctx.actors[lead].user_id,
        "team": [{"member": ctx.actors[who].user_id, "home_unit": ctx.units[home]} for who, home in team],
        "auditees": "周强",
        "records_from": "2030-01-01",
        "start_date": "2030-03-10",
        "end_date": "2030-03-12",
    }


@dataclass
class Attempt:
    trigger: str
    data: dict[str, Any]
    comment: str | None = None
    variant: str = "valid"  # or the kind of fault: "form", "guard", "forged", "follow_up"
    plan: str | None = None  # save_plan's plan
    answer: tuple[int, str] | None = None  # answer_item's (row index, answer)

    def body(self, version: int) -> dict[str, Any]:
        body: dict[str, Any] = {"version": version, "data": self.data}
        if self.comment is not None:
            body["comment"] = self.comment
        return body


WORDS = st.text(alphabet="检查记录证据现场询问窑尾生产abc123", min_size=1, max_size=20)


def make_attempt(draw, trigger: str, ctx: Context, shadow: Shadow, *, valid: bool) -> Attempt:
    match trigger:
        case "save_plan":
            name = draw(st.sampled_from(sorted(PLANS)))
            data = {**plan_form(ctx, name), "scope_clauses": shadow.scope}
            if valid:
                return Attempt(trigger, data, plan=name)
            fault = draw(st.sampled_from(["form", "guard"]))
            if fault == "form":
                return Attempt(
                    trigger, {k: v for k, v in data.items() if k != "criteria"}, variant="form", plan=name
                )
            return Attempt(trigger, {**data, "end_date": "2030-03-01"}, variant="guard", plan=name)
        case "request_override":
            return Attempt(
                trigger,
                {"override_reason": draw(WORDS)} if valid else {},
                variant="valid" if valid else "form",
            )
        case "approve_override":
            return Attempt(
                trigger, {"override_note": draw(WORDS)} if valid else {}, variant="valid" if valid else "form"
            )
        case "answer_item":
            rows = max(len(shadow.answers), 1)
            unanswered = [i for i, a in enumerate(shadow.answers) if a is None]
            index = draw(st.sampled_from(unanswered * 3 + list(range(rows))))
            answer = draw(st.sampled_from(ANSWERS))
            data = {
                "item": index + 1,
                "answer": answer,
                "evidence": draw(WORDS),
                "auditee": "周强",
                "note": draw(WORDS),
            }
            if valid:
                return Attempt(trigger, data, answer=(index, answer))
            fault = draw(st.sampled_from(["form", "guard", "guard_note"]))
            if fault == "form":
                return Attempt(trigger, {**data, "answer": "maybe"}, variant="form")
            if fault == "guard":
                return Attempt(trigger, {**data, "item": rows + 3}, variant="guard")
            finding = draw(st.sampled_from([a for a in ANSWERS if rules().answers[a].is_finding]))
            return Attempt(
                trigger, {**data, "answer": finding, "note": ""}, variant="guard", answer=(index, finding)
            )
        case "issue_report":
            data = {"report_date": "2030-03-20", "conclusion": draw(WORDS)}
            return Attempt(
                trigger, data if valid else {"conclusion": "x"}, variant="valid" if valid else "form"
            )
        case "close_audit":
            if not valid:
                return Attempt(trigger, {"closed_on": "2030-04-01"}, variant="follow_up")
            return Attempt(trigger, {"closed_on": "2030-04-01", "follow_up": draw(WORDS)})
        case "cancel_audit":
            return Attempt(
                trigger, {}, comment=draw(WORDS) if valid else None, variant="valid" if valid else "form"
            )
        case "load_checklist":
            row = {"clause": "9.1", "question": draw(WORDS), "kind": "question", "max_points": 1}
            return Attempt(trigger, {"checklist": [row]}, variant="forged")
        case _:
            return Attempt(trigger, {})


def predict(shadow: Shadow, attempt: Attempt, actor: Actor, *, stale: bool) -> str:
    """The answer the declared process gives, in the order the engine checks."""
    if stale:
        return "stale"
    spec = WORKFLOW.transition(attempt.trigger, shadow.state)
    if spec is None:
        return "not_available"
    if actor.role not in spec.roles:
        return "role"
    trigger = attempt.trigger
    if trigger == "approve_override" and (actor.user_id in shadow.requesters or actor.who in shadow.team()):
        return "separation"
    if attempt.variant == "form":
        return "form"
    if trigger == "save_plan":
        return "guard" if attempt.variant == "guard" else "ok"
    if trigger in ("request_override", "submit_plan") and shadow.plan is None:
        return "guard"
    if trigger == "request_override":
        return "ok" if shadow.conflicted() else "no_conflict"
    if trigger == "approve_override":
        return "ok" if shadow.override == "requested" and shadow.override_plan == shadow.plan else "guard"
    if trigger == "submit_plan":
        return "independence" if shadow.conflicted() and not shadow.covered() else "ok"
    if trigger == "answer_item":
        if attempt.variant == "guard":
            return "guard"
        if actor.who not in shadow.team():
            return "independence"
        return "independence" if actor.who in shadow.conflicted() and not shadow.covered() else "ok"
    if trigger == "issue_report":
        return "guard" if None in shadow.answers else "ok"
    if trigger == "close_audit":
        return "follow_up" if attempt.variant == "follow_up" and shadow.findings else "ok"
    if trigger == "load_checklist":
        return "forged"
    return "ok"


def points_of(shadow: Shadow) -> Decimal:
    total = Decimal(0)
    for answer, top in zip(shadow.answers, shadow.max_points, strict=True):
        if answer is not None:
            total += (rules().answers[answer].weight * top).quantize(Decimal("0.1"))
    return total

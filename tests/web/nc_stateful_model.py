"""The shadow model and the Hypothesis strategies of the nonconformity state machine
(tests/web/test_nc_stateful.py): actors, forms valid and invalid, the expected answer of each attempt."""

import os
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import strategies as st
from sqlalchemy import text

from demo.seed import DEMO_LOGINS, DEMO_PASSWORD
from tests.web.conftest import CATALOG

EXAMPLES = int(os.environ.get("TANGUAN_STATEFUL_EXAMPLES", "25"))
STEPS = int(os.environ.get("TANGUAN_STATEFUL_STEPS", "30"))
MAX_RECORDS = 4  # records an example creates: fewer, further-travelled records
CHAIN_EVERY = 10  # verify the audit chain every N steps (and at the end of every example)

WORKFLOW = CATALOG.get("nonconformity").spec
TRIGGERS = sorted({t.trigger for t in WORKFLOW.transitions})
FINAL_STATES = {name for name, state in WORKFLOW.states.items() if state.final}
ROLES = [
    "staff",
    "quality_manager",
    "process_owner",
    "internal_auditor",
    "carbon_manager",
    "external_auditor",
]
EMAIL_OF = {login.role.value: login.email for login in DEMO_LOGINS}

# What the model knows about the process beyond roles, sources and destinations (read from the spec);
# the assertions below make the test fail loudly if the workflow file changes underneath it.
GUARDED = {
    "complete": ("all_actions_done",),
    "verify_effective": ("all_actions_done", "effective_result"),
    "ineffective": ("ineffective_result",),
}
SEPARATED = "verify_effective"  # not whoever completed the actions, nor an owner of one
for _t in WORKFLOW.transitions:
    assert _t.guards == GUARDED.get(_t.trigger, ()), _t.trigger
    assert bool(_t.separation) == (_t.trigger == SEPARATED), _t.trigger
(_rule,) = next(t for t in WORKFLOW.transitions if t.trigger == SEPARATED).separation
assert _rule.not_actors_of == ("complete",) and _rule.not_users_in == ("actions.owner",)
assert not _rule.not_creator

# Every answer the model can predict, and its HTTP status.
STATUS = {
    "ok": 200,
    "body": 422,  # the request body itself is invalid (FastAPI validation, before anything else)
    "stale": 409,
    "not_available": 409,
    "role": 403,
    "separation": 403,
    "form": 422,
    "guard": 409,
    "signature": 403,
}


# Per record: state, version, creation + transition events (signature_failed excluded), the state of
# the latest such event, open tasks and their state. Over every record in the database, not only ours.
CONSISTENCY_SQL = text(
    """
    SELECT r.id, r.workflow_key, r.state, r.version, r.closed_at IS NOT NULL AS is_closed,
      (SELECT count(*) FROM audit_event e
        WHERE e.org_id = r.org_id AND e.subject_type = 'record'
          AND e.subject_id = CAST(r.id AS VARCHAR(64)) AND e.action <> 'signature_failed') AS events,
      (SELECT e.to_state FROM audit_event e
        WHERE e.org_id = r.org_id AND e.subject_type = 'record'
          AND e.subject_id = CAST(r.id AS VARCHAR(64)) AND e.action <> 'signature_failed'
        ORDER BY e.seq DESC LIMIT 1) AS last_to_state,
      (SELECT count(*) FROM task t
        WHERE t.record_id = r.id AND t.closed_at IS NULL AND t.detail IS NULL) AS open_tasks,
      (SELECT max(t.state) FROM task t WHERE t.record_id = r.id AND t.closed_at IS NULL) AS open_state,
      (SELECT count(*) FROM task t
        WHERE t.record_id = r.id AND t.closed_at IS NULL AND t.detail IS NOT NULL) AS open_row_tasks
    FROM record r
    ORDER BY r.id
    """
)

WORDS = st.text(alphabet="煤粉仓温度报警记录补录制度交接班窑尾烟气监测abcXYZ0123-", min_size=1, max_size=24)
DATES = st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31)).map(date.isoformat)
VERSION_CHOICE = st.sampled_from(["current", "current", "current", "older", "newer"])
PASSWORD_CHOICE = st.sampled_from(["right", "right", "right", "wrong", "missing"])


@dataclass
class Actor:
    role: str
    user_id: int
    client: TestClient


@dataclass
class Totals:
    backend: str
    started: float = field(default_factory=time.perf_counter)
    examples: int = 0
    steps: int = 0
    creates: Counter = field(default_factory=Counter)  # HTTP status → n
    accepted: int = 0
    refused: Counter = field(default_factory=Counter)  # HTTP status → n
    outcomes: Counter = field(default_factory=Counter)  # predicted kind → n
    reached: Counter = field(default_factory=Counter)  # destination of accepted transitions → n
    inspections: int = 0
    security_alerts: int = 0
    invariant_checks: int = 0
    chain_checks: int = 0
    violations: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"\nT09 NC state machine on {self.backend}: examples run {self.examples}, steps {self.steps}, "
            f"creates {dict(sorted(self.creates.items()))}, transitions accepted {self.accepted}, "
            f"refused by status {dict(sorted(self.refused.items()))}, "
            f"by reason {dict(sorted(self.outcomes.items()))}, reached {dict(sorted(self.reached.items()))}, "
            f"security alerts {self.security_alerts}, transition listings {self.inspections}, "
            f"invariant checks {self.invariant_checks}, "
            f"chain checks {self.chain_checks}, invariant violations {len(self.violations)}, "
            f"{time.perf_counter() - self.started:.1f} s"
        )


@dataclass
class Context:
    db: Any
    org_id: int
    actors: dict[str, Actor]
    outsider_id: int  # a real user who is not a member of the organization
    totals: Totals
    # Failed signing attempts in a row per user (since their last signature): every fifth raises a
    # security alert. Kept for the whole test, as the database is.
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
    form_ok: bool  # form, required fields and comment pass
    submitted: dict[str, Any]  # what the record's data gains on success
    body_ok: bool = True
    variant: str = "valid"

    def body(self, version: int) -> dict[str, Any]:
        body: dict[str, Any] = {"version": version, "data": self.data}
        if self.comment is not None:
            body["comment"] = self.comment
        if self.password is not None:
            body["signature_password"] = self.password
        return body


# ---------------------------------------------------------------------------------------------- forms


OWNER_ROLES = ("process_owner",) * 4 + ("quality_manager", "carbon_manager", "internal_auditor")


def _action_rows(draw, ctx: Context, *, statuses: list[str]) -> list[dict[str, Any]]:
    """Action rows; owners are mostly the process owner, sometimes a would-be verifier (separation)."""
    owners = [ctx.actors[role].user_id for role in OWNER_ROLES]
    return [
        {
            "description": draw(WORDS),
            "owner": draw(st.sampled_from(owners)),
            "due": draw(DATES),
            "status": status,
        }
        for status in statuses
    ]


def valid_form(draw, trigger: str, ctx: Context) -> tuple[dict[str, Any], dict[str, Any]]:
    """A valid form for the trigger: (what is posted, what the record's data gains)."""
    posted: dict[str, Any]
    match trigger:
        case "assess":
            posted = {
                "severity": draw(st.sampled_from(["minor", "major", "critical"])),
                "containment": draw(WORDS),
            }
            if draw(st.booleans()):
                posted["correction"] = draw(WORDS)
        case "analyse":
            posted = {"method": draw(st.sampled_from(["five_why", "fishbone"])), "cause": draw(WORDS)}
            if draw(st.booleans()):
                posted["fishbone_category"] = draw(st.sampled_from(["man", "machine", "method"]))
        case "plan" | "complete":
            count = draw(st.integers(1, 3))
            if trigger == "complete" and draw(st.sampled_from([True, True, True, False])):
                statuses = ["done"] * count
            else:
                statuses = draw(st.lists(st.sampled_from(["open", "done"]), min_size=count, max_size=count))
            rows = _action_rows(draw, ctx, statuses=statuses)
            submitted = {"actions": rows}
            if draw(st.booleans()):  # a spare blank row, as the HTML form shows, is dropped
                rows = [*rows, {"description": "", "owner": "", "due": "", "status": ""}]
            posted = {"actions": rows}
            return _with_ignored_keys(draw, posted), submitted
        case "verify_effective":
            result = draw(st.sampled_from(["effective", "effective", "effective", "ineffective"]))
            posted = {"criteria": draw(WORDS), "evidence": draw(WORDS), "result": result}
        case "ineffective":
            posted = {"criteria": draw(WORDS), "result": draw(st.sampled_from(["effective", "ineffective"]))}
            if draw(st.booleans()):
                posted["evidence"] = draw(WORDS)
        case _:  # reject, start: no form; whatever is posted is ignored
            return _with_ignored_keys(draw, {}), {}
    return _with_ignored_keys(draw, posted), dict(posted)


def _with_ignored_keys(draw, posted: dict[str, Any]) -> dict[str, Any]:
    """Sometimes add keys no form has, protected ones included: they must be ignored."""
    if draw(st.integers(0, 4)) == 0:
        return {**posted, "state": "closed", "version": 99, "participants": {}, "unknown_field": "x"}
    return posted


INVALID_VARIANTS = {
    "assess": ["missing:severity", "missing:containment", "bad:severity", "long:containment", "int:severity"],
    "analyse": ["missing:method", "missing:cause", "bad:method", "bad:fishbone_category", "long:cause"],
    "plan": [
        "missing:actions", "no_rows", "not_a_list", "outsider_owner", "unknown_owner", "bad_status",
        "bad_due", "long_description", "missing_owner", "too_many_rows",
    ],
    "verify_effective": [
        "missing:criteria", "missing:evidence", "missing:result", "bad:result", "long:criteria",
    ],
    "ineffective": ["no_comment", "blank_comment", "missing:criteria", "missing:result", "bad:result"],
    "reject": ["no_comment", "blank_comment"],
    "start": [],  # nothing to get wrong but the request body
}  # fmt: skip
INVALID_VARIANTS["complete"] = INVALID_VARIANTS["plan"]
LIMITS = {"containment": 4000, "cause": 4000, "criteria": 2000}


def make_attempt(draw, trigger: str, ctx: Context, *, valid: bool, password: str) -> Attempt:
    spec = next(t for t in WORKFLOW.transitions if t.trigger == trigger)
    posted, submitted = valid_form(draw, trigger, ctx)
    if spec.comment_required or draw(st.booleans()):
        comment: str | None = draw(WORDS)
    else:
        comment = None
    signature = {"right": DEMO_PASSWORD, "wrong": DEMO_PASSWORD + "x", "missing": None}[password]
    if valid:
        return Attempt(posted, comment, signature, form_ok=True, submitted=submitted)
    variant = draw(st.sampled_from(["comment_too_long", *INVALID_VARIANTS[trigger]]))
    kind, _, name = variant.partition(":")
    posted = {**posted}
    rows = [dict(row) for row in posted.get("actions", []) if row.get("description")]
    body_ok = True
    match kind:
        case "comment_too_long":
            comment, body_ok = "长" * 4001, False
        case "missing":
            posted.pop(name)
        case "bad":
            posted[name] = "bogus"
        case "int":
            posted[name] = 123
        case "long":
            posted[name] = "x" * (LIMITS[name] + 1)
        case "no_comment":
            comment = None
        case "blank_comment":
            comment = "   "
        case "no_rows":
            posted["actions"] = draw(st.sampled_from([[], [{"description": "", "owner": "", "due": ""}]]))
        case "not_a_list":
            posted["actions"] = "补充报警记录制度"
        case "too_many_rows":
            posted["actions"] = rows * 31
        case _:  # one bad cell in one row
            index = draw(st.integers(0, len(rows) - 1))
            row = rows[index]
            if kind == "outsider_owner":
                row["owner"] = ctx.outsider_id
            elif kind == "unknown_owner":
                row["owner"] = 10**7
            elif kind == "bad_status":
                row["status"] = "half"
            elif kind == "bad_due":
                row["due"] = "2026-02-30"
            elif kind == "long_description":
                row["description"] = "措" * 301
            elif kind == "missing_owner":
                del row["owner"]
            posted["actions"] = rows
    form_ok = variant == "comment_too_long"  # the body is refused before the form is looked at
    return Attempt(
        posted, comment, signature, form_ok=form_ok, submitted=submitted, body_ok=body_ok, variant=variant
    )


def report_form(draw, ctx: Context) -> tuple[dict[str, Any], dict[str, Any] | None, str]:
    """A report for a new record: (posted, expected data or None when invalid, variant)."""
    data: dict[str, Any] = {
        "title": draw(WORDS),
        "source": draw(
            st.sampled_from(["internal_audit", "external_audit", "monitoring", "complaint", "other"])
        ),
        "description": draw(WORDS),
        "found_on": draw(DATES),
    }
    if draw(st.booleans()):
        data["clause"] = draw(st.sampled_from(["8.6", "9.1", "10.1"]))
    if draw(st.booleans()):
        data["assignee"] = ctx.actors[draw(st.sampled_from(["quality_manager", "carbon_manager"]))].user_id
    if draw(st.sampled_from([True, True, True, False])):
        return data, dict(data), "valid"
    variant = draw(
        st.sampled_from(["missing_title", "bad_source", "bad_date", "bad_clause", "outsider", "long_text"])
    )
    match variant:
        case "missing_title":
            del data["title"]
        case "bad_source":
            data["source"] = "rumour"
        case "bad_date":
            data["found_on"] = "2026-13-01"
        case "bad_clause":
            data["clause"] = "8.6a"
        case "outsider":
            data["assignee"] = ctx.outsider_id
        case "long_text":
            data["description"] = "x" * 4001
    return data, None, variant

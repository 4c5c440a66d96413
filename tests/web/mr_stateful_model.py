"""The shadow model and strategies of the management-review state machine
(tests/web/test_management_review_stateful.py): the declared process read from its file, valid and invalid
forms for each trigger, the guards' rules, and the answer each attempt must get."""

import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import strategies as st

from demo.seed import DEMO_LOGINS, DEMO_PASSWORD
from engine.audit import canonical_json
from engine.records.display import CHINA_TIME
from tests.web.conftest import CATALOG
from workflows.hooks.management_review import PACK_FIELDS

EXAMPLES = int(os.environ.get("TANGUAN_STATEFUL_EXAMPLES", "8"))
STEPS = int(os.environ.get("TANGUAN_STATEFUL_STEPS", "20"))
MAX_RECORDS = 3

WORKFLOW = CATALOG.get("management_review").spec
TRIGGERS = sorted({t.trigger for t in WORKFLOW.transitions})
FINAL_STATES = {name for name, state in WORKFLOW.states.items() if state.final}
ROLES = [
    "staff",
    "process_owner",
    "carbon_manager",
    "top_management",
    "internal_auditor",
    "quality_manager",
    "admin",
]
EMAIL_OF = {login.role.value: login.email for login in DEMO_LOGINS}
MEETING, OUTPUTS, REFRESH = "record_review_meeting", "submit_review_outputs", "refresh_review_inputs"
APPROVE = "approve_management_review"
GUARDED = {
    MEETING: ("review_inputs_compiled", "review_meeting_not_in_future"),
    OUTPUTS: ("review_changes_explained",),
}
for _t in WORKFLOW.transitions:  # the model fails loudly if the workflow file changes underneath it
    assert _t.guards == GUARDED.get(_t.trigger, ()) and not _t.actions and not _t.separation, _t.trigger
assert {t.trigger for t in WORKFLOW.transitions if t.signature} == {APPROVE}
COMPUTED = {"pack_sha256", "pack_frozen_on", *PACK_FIELDS}  # written by the process, never posted

STATUS = {
    "ok": 200, "body": 422, "stale": 409, "not_available": 409, "role": 403, "form": 422, "guard": 409,
    "signature": 403,
}  # fmt: skip

WORDS = st.text(alphabet="管理评审会议纪要煤耗计量目标改进资源abcXYZ0123-", min_size=1, max_size=24)


def today() -> date:
    return datetime.now(CHINA_TIME).date()


def pack_hash(data: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json({name: data.get(name) for name in PACK_FIELDS}).encode()).hexdigest()


@dataclass
class Actor:
    role: str
    user_id: int
    client: TestClient


@dataclass
class Context:
    db: Any
    org_id: int
    secret_key: str
    actors: dict[str, Actor]
    outsider_id: int
    counts: Counter = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    signature_failures: Counter = field(default_factory=Counter)

    def members(self) -> list[int]:
        return [actor.user_id for actor in self.actors.values()]


@dataclass
class Shadow:
    state: str
    version: int
    data: dict[str, Any]  # what was posted, as stored (the process's own fields left out)
    frozen: dict[str, Any] | None = None  # the whole stored data at sign-off


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


def meeting_form(draw, ctx: Context) -> dict[str, Any]:
    members = ctx.members()
    attendees = [
        {
            "attendee": draw(st.sampled_from(members)),
            **({"capacity": draw(WORDS)} if draw(st.booleans()) else {}),
        }
        for _ in range(draw(st.integers(1, 3)))
    ]
    held = today() + timedelta(days=draw(st.sampled_from([-400, -30, -1, 0, 0, 2])))
    form = {"meeting_date": held.isoformat(), "attendees": attendees, "minutes": draw(WORDS)}
    if draw(st.booleans()):
        form["location"] = draw(WORDS)
    return form


def outputs_form(draw, ctx: Context) -> dict[str, Any]:
    actions = [
        {
            "action": draw(WORDS),
            "owner": draw(st.sampled_from(ctx.members())),
            "due": (today() + timedelta(days=draw(st.integers(1, 400)))).isoformat(),
        }
        for _ in range(draw(st.integers(0, 3)))
    ]
    form: dict[str, Any] = {
        "conclusion": draw(st.sampled_from(["effective", "needs_improvement", "not_effective"])),
        "decisions": draw(WORDS),
        "policy_change": draw(st.sampled_from(["unchanged", "unchanged", "revise"])),
        "objectives_change": draw(st.sampled_from(["unchanged", "unchanged", "revise"])),
    }
    if actions:
        form["actions"] = actions
    if draw(st.booleans()):
        form["changes_note"] = draw(WORDS)
    if draw(st.booleans()):
        form["resource_needs"] = draw(WORDS)
    return form


def valid_form(draw, trigger: str, ctx: Context) -> dict[str, Any]:
    if trigger == MEETING:
        return meeting_form(draw, ctx)
    if trigger == OUTPUTS:
        return outputs_form(draw, ctx)
    if trigger == "compile_review_inputs":
        return {"inputs": [{"section": "risks", "item": "伪造", "value": "0"}]}
    return {}


# Per trigger, the ways a form can be wrong (each gives 422 naming a field).
INVALID = {
    MEETING: [
        "missing:meeting_date", "missing:minutes", "empty:attendees", "outsider:attendees",
        "bad_date:meeting_date", "long:minutes",
    ],
    OUTPUTS: [
        "missing:conclusion", "bad:conclusion", "missing:decisions", "bad:policy_change",
        "missing:objectives_change", "outsider:actions", "bad_due:actions", "no_action:actions",
    ],
    "return_management_review": ["no_comment", "blank_comment"],
    "cancel_management_review": ["no_comment", "blank_comment"],
}  # fmt: skip


def _spoil(kind: str, name: str, wrong: dict[str, Any], ctx: Context) -> None:
    match kind:
        case "missing":
            wrong.pop(name, None)
        case "bad":
            wrong[name] = "bogus"
        case "bad_date":
            wrong[name] = "2026-02-30"
        case "long":
            wrong[name] = "纪" * 8001
        case "empty":
            wrong[name] = []
        case "outsider" if name == "attendees":
            wrong[name] = [{"attendee": ctx.outsider_id}]
        case "outsider":
            wrong[name] = [{"action": "外人负责", "owner": ctx.outsider_id, "due": today().isoformat()}]
        case "bad_due":
            wrong[name] = [{"action": "日期错", "owner": ctx.members()[0], "due": "2026-13-01"}]
        case "no_action":
            wrong[name] = [{"owner": ctx.members()[0], "due": today().isoformat()}]


def make_attempt(draw, trigger: str, ctx: Context, *, valid: bool, password: str) -> Attempt:
    spec = next(t for t in WORKFLOW.transitions if t.trigger == trigger)
    posted = valid_form(draw, trigger, ctx)
    comment = draw(WORDS) if spec.comment_required or draw(st.booleans()) else None
    signature = {"right": DEMO_PASSWORD, "wrong": DEMO_PASSWORD + "x", "missing": None}[password]
    if valid:
        return Attempt(posted, comment, signature, form_ok=True, submitted=dict(posted))
    variant = draw(st.sampled_from(["comment_too_long", *INVALID.get(trigger, [])]))
    kind, _, name = variant.partition(":")
    wrong, body_ok = dict(posted), True
    if kind == "comment_too_long":
        comment, body_ok = "长" * 4001, False
    elif kind == "no_comment":
        comment = None
    elif kind == "blank_comment":
        comment = "   "
    else:
        _spoil(kind, name, wrong, ctx)
    return Attempt(wrong, comment, signature, form_ok=False, submitted={}, body_ok=body_ok, variant=variant)


def guard_refuses(trigger: str, merged: dict[str, Any]) -> bool:
    """Whether the declared guards refuse, on the record's data with the form merged in."""
    if trigger == MEETING:
        return date.fromisoformat(merged["meeting_date"]) > today()
    if trigger == OUTPUTS:
        revised = "revise" in (merged.get("policy_change"), merged.get("objectives_change"))
        return revised and not merged.get("changes_note")
    return False


def start_form(draw, ctx: Context) -> tuple[dict[str, Any], dict[str, Any] | None]:
    data: dict[str, Any] = {"title": draw(WORDS)}
    if draw(st.booleans()):
        data["review_year"] = str(draw(st.integers(2024, 2027)))
    if draw(st.booleans()):
        data["chair"] = ctx.actors["top_management"].user_id
    if draw(st.sampled_from([True, True, True, False])):
        return data, dict(data)
    match draw(st.sampled_from(["missing_title", "early_year", "outsider", "long_title"])):
        case "missing_title":
            del data["title"]
        case "early_year":
            data["review_year"] = "1999"
        case "outsider":
            data["chair"] = ctx.outsider_id
        case "long_title":
            data["title"] = "评" * 201
    return data, None

"""A Hypothesis state machine drives the carbon disclosure (7.4.3) over the JSON API, with a shadow model.

Random actors (every role that touches it, a person holding both the carbon manager's and the quality
manager's roles, and staff) fire random triggers, legal or not, with valid or deliberately invalid forms,
the current or a stale version, the right, a wrong or no signature password. Drafts name a year and,
sometimes, a snapshot: the model predicts which frozen snapshot's figures the process copies (and the
loading step the process adds: nobody else is ever offered it), refuses a year with no snapshot or a
snapshot of another year. After every step the database must agree with the model (state,
version, data), the audit trail with the version, the open tasks with the state, and each published
disclosure must have logged exactly one communication; the audit chain is verified at the end.

Longer runs:
    TANGUAN_STATEFUL_EXAMPLES=200 TANGUAN_STATEFUL_STEPS=50 pytest tests/web/test_disclosure_stateful.py
"""

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import text

from demo.seed import DEMO_LOGINS, DEMO_PASSWORD
from engine.audit import SYSTEM, verify_chain
from engine.identity.auth import create_api_token
from engine.identity.users import create_user, get_user_by_email, grant_membership
from tests.web.conftest import ALL_SCOPES, BASE_URL, CATALOG
from tests.web.support_setup import Frozen, freeze_years

EXAMPLES = int(os.environ.get("TANGUAN_STATEFUL_EXAMPLES", "12"))
STEPS = int(os.environ.get("TANGUAN_STATEFUL_STEPS", "25"))
MAX_RECORDS = 3
WORKFLOW = CATALOG.get("disclosure").spec
TRIGGERS = sorted({t.trigger for t in WORKFLOW.transitions})
FINAL = {name for name, state in WORKFLOW.states.items() if state.final}
ROLES = ["carbon_manager", "admin", "quality_manager", "internal_auditor", "top_management", "staff", "dual"]
DUAL_ROLES = frozenset({"carbon_manager", "quality_manager"})
DRAFT_FORM = ("create", "retake_snapshot")
SEPARATED = "review_disclosure"
DRAFTING = "dis_drafting"  # where a draft is once the process has loaded its snapshot (from loading)
STATUS = {"ok": 200, "body": 422, "stale": 409, "not_available": 409, "role": 403, "separation": 403,
          "form": 422, "guard": 409, "signature": 403, "refused_draft": 422}  # fmt: skip
# What the model knows beyond the file's roles, sources and destinations: fail loudly if the file changes.
for _t in WORKFLOW.transitions:
    assert bool(_t.separation) == (_t.trigger == SEPARATED), _t.trigger
    assert _t.guards == (("figures_loaded",) if _t.trigger == "submit_disclosure" else ()), _t.trigger
    assert bool(_t.signature) == (_t.trigger == "approve_disclosure"), _t.trigger
    assert _t.required == (("review_notes",) if _t.trigger == SEPARATED else ()), _t.trigger
(_rule,) = next(t for t in WORKFLOW.transitions if t.trigger == SEPARATED).separation
assert _rule.not_actors_of == ("submit_disclosure",) and _rule.not_creator

WORDS = st.text(alphabet="碳信息披露熟料排放强度年度报告abcXYZ0123-", min_size=1, max_size=20)
EMAIL_OF = {login.role.value: login.email for login in DEMO_LOGINS} | {"dual": "dual@xiangfeng.example"}


@dataclass
class Actor:
    role: str
    user_id: int
    roles: frozenset[str]
    client: TestClient


@dataclass
class Shadow:
    state: str
    version: int
    data: dict[str, Any]
    participants: dict[str, set[int]]
    creator: int


@dataclass
class Totals:
    accepted: int = 0
    outcomes: Counter = field(default_factory=Counter)
    reached: Counter = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)

    def line(self, backend: str) -> str:
        return (
            f"\ndisclosure state machine on {backend}: accepted {self.accepted}, "
            f"outcomes {dict(sorted(self.outcomes.items()))}, reached {dict(sorted(self.reached.items()))}, "
            f"violations {len(self.violations)}"
        )


@dataclass
class Context:
    db: Any
    org_id: int
    actors: dict[str, Actor]
    frozen: Frozen
    totals: Totals

    def snapshot_of(self, data: dict[str, Any]) -> int | None:
        """The snapshot a draft's data chooses (its choice, else its year's latest), or None: refused."""
        year = data.get("reporting_year")
        by_year = {"2025": self.frozen.snapshots["2025b"], "2024": self.frozen.snapshots["2024"]}
        choice = data.get("snapshot_choice")
        if choice is None:
            return by_year.get(year)
        choice = int(choice)
        if choice not in self.frozen.figures or self.frozen.figures[choice]["snapshot_year"] != year:
            return None
        return choice


def draft_form(draw, ctx: Context, *, valid: bool) -> tuple[dict[str, Any], str]:
    """(posted, variant) for the draft form; the snapshot choice may still be refused by the process."""
    posted: dict[str, Any] = {
        "title": draw(WORDS),
        "reporting_year": draw(st.sampled_from(["2025", "2025", "2024"])),
        "channel": draw(st.sampled_from(["website", "esg_report", "customer"])),
    }
    snapshots = list(ctx.frozen.figures)
    choice = draw(st.sampled_from([None, None, *snapshots]))
    if choice is not None:
        posted["snapshot_choice"] = str(choice)
    if draw(st.booleans()):
        posted["audiences"] = draw(
            st.lists(st.sampled_from(["public", "customers"]), min_size=1, unique=True)
        )
    if valid:
        return posted, "valid"
    variant = draw(
        st.sampled_from(["missing_title", "bad_channel", "old_year", "no_snapshot_year", "no_such"])
    )
    match variant:
        case "missing_title":
            del posted["title"]
        case "bad_channel":
            posted["channel"] = "carrier_pigeon"
        case "old_year":
            posted["reporting_year"] = "1989"
        case "no_snapshot_year":
            posted["reporting_year"] = "2031"
        case "no_such":
            posted["snapshot_choice"] = "999999"
    return posted, variant


class DisclosureMachine(RuleBasedStateMachine):
    ctx: ClassVar[Context]
    records = Bundle("records")

    def __init__(self) -> None:
        super().__init__()
        self.shadows: dict[int, Shadow] = {}

    def check(self, condition: bool, message: str) -> None:
        if not condition:
            self.ctx.totals.violations.append(message)
            raise AssertionError(message)

    def row(self, record_id: int) -> tuple:
        with self.ctx.db.engine.connect() as connection:
            return tuple(
                connection.execute(
                    text("SELECT state, version, data FROM record WHERE id = :i"), {"i": record_id}
                ).one()
            )

    def counts(self) -> dict[str, int]:
        with self.ctx.db.engine.connect() as connection:
            return {
                table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar()
                for table in ("record", "task", "signature", "audit_event")
            }

    # -- the model ------------------------------------------------------------------------------

    def draft_outcome(self, shadow_data: dict[str, Any], posted: dict[str, Any], variant: str) -> tuple:
        """(outcome, data after, versions added) of a draft form (create or retake)."""
        if variant in ("missing_title", "bad_channel", "old_year"):
            return "form", None, 0
        merged = {**shadow_data, **posted}
        snapshot = self.ctx.snapshot_of(merged)
        if snapshot is None:
            return "refused_draft", None, 0
        # Into loading, then the process's own step back to drafting with the snapshot's figures.
        return "ok", {**merged, **self.ctx.frozen.figures[snapshot]}, 2

    def predict(self, shadow: Shadow, trigger: str, actor: Actor, posted: dict, variant: str, version: int,
                comment: str | None, password: str | None) -> tuple[str, dict | None, int]:  # fmt: skip
        if comment is not None and len(comment) > 4000:
            return "body", None, 0
        if version != shadow.version:
            return "stale", None, 0
        spec = WORKFLOW.transition(trigger, shadow.state)
        if spec is None:
            return "not_available", None, 0
        if not actor.roles & set(spec.roles):
            return "role", None, 0
        if trigger == SEPARATED and (
            actor.user_id == shadow.creator
            or actor.user_id in shadow.participants.get("submit_disclosure", set())
        ):
            return "separation", None, 0
        if spec.comment_required and not (comment or "").strip():
            return "form", None, 0
        if trigger == SEPARATED and not posted.get("review_notes"):
            return "form", None, 0
        if trigger == "retake_snapshot":
            return self.draft_outcome(shadow.data, posted, variant)
        if spec.signature and password != DEMO_PASSWORD:
            return "signature", None, 0
        merged = {**shadow.data, **posted}
        return "ok", merged, 1

    # -- steps ----------------------------------------------------------------------------------

    def create(self, actor: Actor, posted: dict[str, Any], variant: str):
        outcome, data, added = (
            ("role", None, 0)
            if not actor.roles & set(WORKFLOW.start.roles)
            else self.draft_outcome({}, posted, variant)
        )
        before = self.counts()
        response = actor.client.post("/api/v1/records", json={"workflow": "disclosure", "data": posted})
        where = f"create by {actor.role} ({variant}) {posted}"
        expected = 201 if outcome == "ok" else STATUS[outcome]
        self.check(response.status_code == expected, f"{where}: {response.status_code} {response.text}")
        self.ctx.totals.outcomes[f"create:{outcome}"] += 1
        if outcome != "ok":
            self.check(self.counts() == before, f"{where}: refused but rows changed")
            return multiple()
        body = response.json()
        self.check(
            (body["state"], body["version"], body["data"]) == (DRAFTING, added, data),
            f"{where}: {body}",
        )
        self.shadows[body["id"]] = Shadow(
            DRAFTING, added, data, {"create": {actor.user_id}}, creator=actor.user_id
        )
        return multiple(body["id"])

    def fire(
        self, record_id: int, trigger: str, actor: Actor, *, valid: bool, stale: bool, password: str, draw
    ):
        shadow = self.shadows[record_id]
        comment = draw(WORDS) if draw(st.booleans()) else None
        posted: dict[str, Any] = {}
        variant = "valid"
        if trigger == "retake_snapshot":
            posted, variant = draft_form(draw, self.ctx, valid=valid)
        elif trigger == SEPARATED and (valid or draw(st.booleans())):
            posted = {"review_notes": draw(WORDS)}
        if not valid and trigger in ("return_disclosure", "withdraw_disclosure"):
            comment = draw(st.sampled_from([None, "   ", "长" * 4001]))
        version = shadow.version + (draw(st.sampled_from([-1, 1])) if stale else 0)
        secret = {"right": DEMO_PASSWORD, "wrong": DEMO_PASSWORD + "x", "missing": None}[password]
        outcome, data, added = self.predict(shadow, trigger, actor, posted, variant, version, comment, secret)
        body: dict[str, Any] = {"version": max(version, 1), "data": posted}
        if version < 1:
            outcome, data, added = ("body", None, 0)
        if comment is not None:
            body["comment"] = comment
        if secret is not None:
            body["signature_password"] = secret
        before_row, before = self.row(record_id), self.counts()
        response = actor.client.post(f"/api/v1/records/{record_id}/transitions/{trigger}", json=body)
        where = (
            f"record {record_id} in {shadow.state} v{shadow.version}: {trigger} by {actor.role} ({variant})"
        )
        self.check(
            response.status_code == STATUS[outcome],
            f"{where}: expected {outcome}, got {response.status_code} {response.text}",
        )
        self.ctx.totals.outcomes[outcome] += 1
        if outcome != "ok":
            self.check(
                self.row(record_id) == before_row, f"{where}: refused ({outcome}) but the record changed"
            )
            after = self.counts()
            grew = {name: after[name] - before[name] for name in after}
            allowed_events = 2 if outcome == "signature" else 0  # a failed signature is logged (+ alert)
            self.check(
                grew["record"] == grew["task"] == grew["signature"] == 0
                and grew["audit_event"] <= allowed_events,
                f"{where}: refused ({outcome}) but rows grew {grew}",
            )
            return
        spec = WORKFLOW.transition(trigger, shadow.state)
        dest = DRAFTING if trigger == "retake_snapshot" else spec.dest
        shadow.state, shadow.version, shadow.data = dest, shadow.version + added, data
        shadow.participants.setdefault(trigger, set()).add(actor.user_id)
        self.ctx.totals.accepted += 1
        self.ctx.totals.reached[dest] += 1
        answer = response.json()
        self.check(
            (answer["state"], answer["version"], answer["data"])
            == (shadow.state, shadow.version, shadow.data),
            f"{where}: answered {answer}, model {shadow}",
        )

    @initialize(target=records, data=st.data())
    def first(self, data):
        posted, _ = draft_form(data.draw, self.ctx, valid=True)
        posted.pop("snapshot_choice", None)
        return self.create(self.ctx.actors["carbon_manager"], posted, "valid")

    @precondition(lambda self: len(self.shadows) < MAX_RECORDS)
    @rule(
        target=records,
        role=st.sampled_from(ROLES),
        valid=st.sampled_from([True, True, False]),
        data=st.data(),
    )
    def create_any(self, role, valid, data):
        posted, variant = draft_form(data.draw, self.ctx, valid=valid)
        return self.create(self.ctx.actors[role], posted, variant)

    @rule(record=records, trigger=st.sampled_from(TRIGGERS), role=st.sampled_from(ROLES), data=st.data(),
          valid=st.sampled_from([True, True, False]), stale=st.sampled_from([False] * 4 + [True]),
          password=st.sampled_from(["right", "right", "wrong", "missing"]))  # fmt: skip
    def fire_any(self, record, trigger, role, data, valid, stale, password):
        self.fire(
            record,
            trigger,
            self.ctx.actors[role],
            valid=valid,
            stale=stale,
            password=password,
            draw=data.draw,
        )

    @rule(record=records, data=st.data())
    def advance(self, record, data):
        """A transition the state offers, by a role that may fire it, valid: records get through the cycle."""
        valid = data.draw(st.sampled_from([True] * 5 + [False]))
        self.onward(record, data, valid=valid, password=data.draw(st.sampled_from(["right"] * 4 + ["wrong"])))

    @rule(record=records, data=st.data(), password=st.sampled_from(["right", "wrong", "missing"]))
    def advance_carelessly(self, record, data, password):
        """The same with a bad form (or comment, or hand-typed figures) or a bad signature password."""
        self.onward(record, data, valid=False, password=password)

    def onward(self, record, data, *, valid: bool, password: str) -> None:
        open_records = [rid for rid, s in self.shadows.items() if s.state not in FINAL]
        if open_records:
            record = open_records[0]
        offered = WORKFLOW.transitions_from(self.shadows[record].state)
        if not offered:
            return
        back = ("retake_snapshot", "return_disclosure", "withdraw_disclosure")  # stay, go back or leave
        forward = [t for t in offered if t.trigger not in back]
        weighted = [t for t in offered for _ in range(5 if t in forward else 1)]
        spec = data.draw(st.sampled_from(weighted))
        role = data.draw(st.sampled_from([r for r in ROLES if self.ctx.actors[r].roles & set(spec.roles)]))
        self.fire(
            record,
            spec.trigger,
            self.ctx.actors[role],
            valid=True,
            stale=False,
            password="right",
            draw=data.draw,
        )

    @invariant()
    def the_database_agrees(self):
        with self.ctx.db.engine.connect() as connection:
            for rid, shadow in self.shadows.items():
                state, version, data = self.row(rid)
                data = data if isinstance(data, dict) else __import__("json").loads(data)
                self.check(
                    (state, version, data) == (shadow.state, shadow.version, shadow.data),
                    f"{rid}: {state} v{version} {data} vs {shadow}",
                )
                events = connection.execute(
                    text("SELECT count(*) FROM audit_event WHERE subject_type = 'record' AND subject_id = :i "
                         "AND action <> 'signature_failed'"), {"i": str(rid)},
                ).scalar()  # fmt: skip
                self.check(events == version, f"{rid}: version {version} with {events} events")
                tasks = connection.execute(
                    text("SELECT state FROM task WHERE record_id = :i AND closed_at IS NULL"), {"i": rid}
                ).scalars().all()  # fmt: skip
                spec = WORKFLOW.state(state)
                wanted = [] if spec.final or not spec.owner_role else [state]
                self.check(tasks == wanted, f"{rid} in {state}: open tasks {tasks}")
                logged = connection.execute(
                    text("SELECT data FROM record WHERE workflow_key = 'communication'")
                ).scalars().all()  # fmt: skip
                ours = [
                    d
                    for d in logged
                    if (d if isinstance(d, dict) else __import__("json").loads(d)).get("related_record")
                    == rid
                ]
                self.check(
                    len(ours) == int(state == "dis_published"), f"{rid} in {state}: {len(ours)} logged"
                )

    def teardown(self):
        with self.ctx.db.engine.connect() as connection:
            self.check(verify_chain(connection, org_id=self.ctx.org_id).ok, "audit chain broken")


def _context(web) -> Context:
    frozen = freeze_years(web)
    actors = {}
    with web.db.unit_of_work(all_orgs=True) as uow:
        dual = create_user(uow.session, email=EMAIL_OF["dual"], display_name="王芳", password=DEMO_PASSWORD)
        grant_membership(uow.session, org_id=frozen.org_id, user=dual, roles=sorted(DUAL_ROLES), actor=SYSTEM)
        for role in ROLES:
            user = get_user_by_email(uow.session, email=EMAIL_OF[role])
            token = create_api_token(
                uow.session, user=user, org_id=frozen.org_id, name=f"dis-{role}", scopes=ALL_SCOPES
            )
            client = TestClient(web.app, base_url=BASE_URL, headers={"Authorization": f"Bearer {token}"})
            roles = DUAL_ROLES if role == "dual" else frozenset({role})
            actors[role] = Actor(role=role, user_id=user.id, roles=roles, client=client)
    return Context(db=web.db, org_id=frozen.org_id, actors=actors, frozen=frozen, totals=Totals())


def test_disclosure_process_state_machine(web):
    ctx = _context(web)
    DisclosureMachine.ctx = ctx
    try:
        run_state_machine_as_test(
            DisclosureMachine,
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            ),
        )
    finally:
        print(ctx.totals.line(web.db.engine.dialect.name))
    assert ctx.totals.violations == []
    assert ctx.totals.accepted > 0 and ctx.totals.reached["dis_published"] > 0

"""A Hypothesis state machine drives the training record (7.2: planned → delivered → evaluated, or
cancelled; certificates renewed) over the JSON API, with a shadow model: random actors, random triggers
(legal or not), valid or invalid forms, current or stale versions. After every step the database agrees
with the model (state, version, data), the audit trail with the version, and the open tasks with the state
(only "delivered, to evaluate" is someone's task: the carbon manager's); the audit chain is verified at the
end of each example."""

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
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

from demo.seed import DEMO_LOGINS
from engine.audit import Actor as AuditActor
from engine.audit import verify_chain
from engine.evidence.store import store_evidence
from engine.identity.auth import create_api_token
from engine.identity.users import get_user_by_email
from tests.web.conftest import ALL_SCOPES, BASE_URL, CATALOG, OTHER_ORG_ADMIN
from tests.web.support_setup import org_id_of

EXAMPLES = int(os.environ.get("TANGUAN_STATEFUL_EXAMPLES", "10"))
STEPS = int(os.environ.get("TANGUAN_STATEFUL_STEPS", "20"))
MAX_RECORDS = 3
WORKFLOW = CATALOG.get("training").spec
TRIGGERS = sorted({t.trigger for t in WORKFLOW.transitions})
FINAL = {name for name, state in WORKFLOW.states.items() if state.final}
ROLES = ["carbon_manager", "quality_manager", "admin", "process_owner", "staff"]
EMAIL_OF = {login.role.value: login.email for login in DEMO_LOGINS}
STATUS = {"ok": 200, "body": 422, "stale": 409, "not_available": 409, "role": 403, "form": 422}
WORDS = st.text(alphabet="碳排放核算培训课程讲师abcXYZ0123-", min_size=1, max_size=20)
DATES = st.dates(min_value=date(2025, 1, 1), max_value=date(2029, 12, 31)).map(date.isoformat)
for _t in WORKFLOW.transitions:  # what the model assumes of the file
    assert not _t.guards and not _t.actions and not _t.separation and not _t.signature, _t.trigger


@dataclass
class Actor:
    role: str
    user_id: int
    client: TestClient


@dataclass
class Shadow:
    state: str
    version: int
    data: dict[str, Any]


@dataclass
class Context:
    db: Any
    org_id: int
    actors: dict[str, Actor]
    evidence_id: int
    outsider_id: int
    outcomes: Counter = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)


def form_for(
    draw, trigger: str, ctx: Context, *, valid: bool
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(posted, what the data gains — None when the form is refused)."""
    people = [actor.user_id for actor in ctx.actors.values()]
    match trigger:
        case "create":
            posted = {"course": draw(WORDS), "planned_date": draw(DATES), "trainer": draw(WORDS),
                      "organizer": draw(st.sampled_from(people))}  # fmt: skip
            bad = ["missing:course", "missing:organizer", "outsider", "bad_date"]
        case "deliver_training":
            posted = {"delivered_on": draw(DATES), "hours": str(draw(st.integers(1, 40))),
                      "attendance": ctx.evidence_id,
                      "trainees": [{"person": draw(st.sampled_from(people)), "score": "88"}]}  # fmt: skip
            if draw(st.booleans()):
                posted["certificate_expiry"] = draw(DATES)
            bad = ["missing:attendance", "missing:trainees", "hours_zero", "no_such_file"]
        case "evaluate_training":
            posted = {
                "evaluation_method": draw(st.sampled_from(["exam", "observation"])),
                "evaluation_result": draw(st.sampled_from(["effective", "partly_effective"])),
            }
            bad = ["missing:evaluation_result", "bad_method"]
        case "renew_certificate":
            posted = {"certificate_expiry": draw(DATES)}
            bad = ["missing:certificate_expiry", "bad_date"]
        case _:  # cancel_training: no form (a comment is required)
            return {}, {}
    if valid:
        return posted, dict(posted)
    variant = draw(st.sampled_from(bad))
    kind, _, name = variant.partition(":")
    match kind:
        case "missing":
            posted.pop(name)
        case "outsider":
            posted["organizer"] = ctx.outsider_id
        case "bad_date":
            posted["planned_date" if trigger == "create" else "certificate_expiry"] = "2026-02-30"
        case "hours_zero":
            posted["hours"] = "0"
        case "no_such_file":
            posted["attendance"] = 10**8
        case "bad_method":
            posted["evaluation_method"] = "guessing"
    return posted, None


class TrainingMachine(RuleBasedStateMachine):
    ctx: ClassVar[Context]
    records = Bundle("records")

    def __init__(self) -> None:
        super().__init__()
        self.shadows: dict[int, Shadow] = {}

    def check(self, condition: bool, message: str) -> None:
        if not condition:
            self.ctx.violations.append(message)
            raise AssertionError(message)

    def row(self, record_id: int) -> tuple:
        with self.ctx.db.engine.connect() as connection:
            state, version, data = connection.execute(
                text("SELECT state, version, data FROM record WHERE id = :i"), {"i": record_id}
            ).one()
        return state, version, data if isinstance(data, dict) else json.loads(data)

    def create(self, actor: Actor, posted: dict[str, Any], gains: dict[str, Any] | None):
        outcome = (
            "role" if actor.role not in WORKFLOW.start.roles else ("ok" if gains is not None else "form")
        )
        response = actor.client.post("/api/v1/records", json={"workflow": "training", "data": posted})
        expected = 201 if outcome == "ok" else STATUS[outcome]
        self.check(
            response.status_code == expected, f"create by {actor.role}: {response.status_code} {posted}"
        )
        self.ctx.outcomes[f"create:{outcome}"] += 1
        if outcome != "ok":
            return multiple()
        body = response.json()
        self.shadows[body["id"]] = Shadow(WORKFLOW.initial, 1, gains)
        return multiple(body["id"])

    def fire(self, record_id: int, trigger: str, actor: Actor, *, valid: bool, stale: bool, draw) -> None:
        shadow = self.shadows[record_id]
        posted, gains = form_for(draw, trigger, self.ctx, valid=valid)
        spec = WORKFLOW.transition(trigger, shadow.state)
        comment = draw(WORDS) if (spec and spec.comment_required and valid) or draw(st.booleans()) else None
        if trigger == "cancel_training" and not valid:
            comment, gains = draw(st.sampled_from([None, "  "])), None
        version = shadow.version + (1 if stale else 0)
        if stale:
            outcome = "stale"
        elif spec is None:
            outcome = "not_available"
        elif actor.role not in spec.roles:
            outcome = "role"
        elif gains is None or (spec.comment_required and not (comment or "").strip()):
            outcome = "form"
        else:
            outcome = "ok"
        before = self.row(record_id)
        body: dict[str, Any] = {"version": version, "data": posted}
        if comment is not None:
            body["comment"] = comment
        response = actor.client.post(f"/api/v1/records/{record_id}/transitions/{trigger}", json=body)
        where = (
            f"record {record_id} in {shadow.state}: {trigger} by {actor.role} (valid {valid}, stale {stale})"
        )
        self.check(
            response.status_code == STATUS[outcome], f"{where}: {response.status_code} {response.text}"
        )
        self.ctx.outcomes[outcome] += 1
        if outcome != "ok":
            self.check(self.row(record_id) == before, f"{where}: refused but the record changed")
            return
        assert spec is not None and gains is not None
        shadow.state, shadow.version, shadow.data = spec.dest, shadow.version + 1, {**shadow.data, **gains}
        self.ctx.outcomes[f"reached:{spec.dest}"] += 1

    @initialize(target=records, data=st.data())
    def first(self, data):
        posted, gains = form_for(data.draw, "create", self.ctx, valid=True)
        return self.create(self.ctx.actors["carbon_manager"], posted, gains)

    @precondition(lambda self: len(self.shadows) < MAX_RECORDS)
    @rule(
        target=records,
        role=st.sampled_from(ROLES),
        valid=st.sampled_from([True, True, False]),
        data=st.data(),
    )
    def create_any(self, role, valid, data):
        posted, gains = form_for(data.draw, "create", self.ctx, valid=valid)
        return self.create(self.ctx.actors[role], posted, gains)

    @rule(
        record=records,
        trigger=st.sampled_from(TRIGGERS),
        role=st.sampled_from(ROLES),
        data=st.data(),
        valid=st.sampled_from([True, True, False]),
        stale=st.sampled_from([False, False, False, True]),
    )
    def fire_any(self, record, trigger, role, data, valid, stale):
        self.fire(record, trigger, self.ctx.actors[role], valid=valid, stale=stale, draw=data.draw)

    @rule(record=records, data=st.data())
    def advance(self, record, data):
        offered = WORKFLOW.transitions_from(self.shadows[record].state)
        if not offered:
            return
        weighted = [t for t in offered for _ in range(1 if t.trigger == "cancel_training" else 4)]
        spec = data.draw(st.sampled_from(weighted))
        role = data.draw(st.sampled_from([r for r in ROLES if r in spec.roles]))
        valid = data.draw(st.sampled_from([True] * 4 + [False]))
        self.fire(record, spec.trigger, self.ctx.actors[role], valid=valid, stale=False, draw=data.draw)

    @invariant()
    def the_database_agrees(self):
        with self.ctx.db.engine.connect() as connection:
            for rid, shadow in self.shadows.items():
                state, version, data = self.row(rid)
                self.check(
                    (state, version, data) == (shadow.state, shadow.version, shadow.data), f"{rid}: {data}"
                )
                events = connection.execute(
                    text(
                        "SELECT count(*) FROM audit_event WHERE subject_type = 'record' AND subject_id = :i"
                    ),
                    {"i": str(rid)},
                ).scalar()
                self.check(events == version, f"{rid}: version {version} with {events} events")
                tasks = connection.execute(
                    text("SELECT state, role FROM task WHERE record_id = :i AND closed_at IS NULL"),
                    {"i": rid},
                ).all()
                wanted = [("trn_delivered", "carbon_manager")] if state == "trn_delivered" else []
                self.check([tuple(task) for task in tasks] == wanted, f"{rid} in {state}: open tasks {tasks}")

    def teardown(self):
        with self.ctx.db.engine.connect() as connection:
            self.check(verify_chain(connection, org_id=self.ctx.org_id).ok, "audit chain broken")


def test_training_record_state_machine(web):
    org_id = org_id_of(web)
    actors = {}
    with web.db.unit_of_work(all_orgs=True) as uow:
        for role in ROLES:
            user = get_user_by_email(uow.session, email=EMAIL_OF[role])
            token = create_api_token(
                uow.session, user=user, org_id=org_id, name=f"trn-{role}", scopes=ALL_SCOPES
            )
            client = TestClient(web.app, base_url=BASE_URL, headers={"Authorization": f"Bearer {token}"})
            actors[role] = Actor(role=role, user_id=user.id, client=client)
        outsider_id = get_user_by_email(uow.session, email=OTHER_ORG_ADMIN).id
    with web.db.unit_of_work(org_id=org_id) as uow:
        sheet = store_evidence(
            uow.session, org_id=org_id, actor=AuditActor(actors["carbon_manager"].user_id, "李娜"),
            evidence_store=web.settings.evidence_store, filename="签到表.txt",
            chunks=iter(["签到表".encode()]), max_bytes=1024,
        )  # fmt: skip
        evidence_id = sheet.id
    ctx = Context(web.db, org_id, actors, evidence_id, outsider_id)
    TrainingMachine.ctx = ctx
    try:
        run_state_machine_as_test(
            TrainingMachine,
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            ),
        )
    finally:
        print(
            f"\ntraining state machine on {web.db.engine.dialect.name}: {dict(sorted(ctx.outcomes.items()))}"
        )
    assert ctx.violations == []
    assert ctx.outcomes["reached:trn_evaluated"] > 0

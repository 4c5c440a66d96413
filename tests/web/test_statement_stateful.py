"""A Hypothesis state machine drives the versioned statements — the scope statement (4.3, five states) and
the carbon policy (5.2, four states) — over the JSON API, against a shadow model.

Random actors fire random triggers (legal or not) with valid or invalid forms, the current or a stale
version, the right, a wrong or no signature password. The model predicts every answer (200 / 403 / 409 /
422) from the declared workflow, and also what the approval does to the other records: the version in
force before is superseded in the same transaction. After every step direct SQL checks the database against
the model and against itself: one version in force at most, state ⇔ last audit event ⇔ version, one open
task in a state with an owner role and none where a statement rests or ends. The database persists across
examples: each example creates its own records.

Longer runs:
TANGUAN_STATEFUL_EXAMPLES=200 TANGUAN_STATEFUL_STEPS=60 pytest tests/web/test_statement_stateful.py
"""

import os
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, multiple, rule
from sqlalchemy import text

from demo.seed import DEMO_LOGINS, DEMO_PASSWORD, DEMO_SLUG
from engine.identity.auth import create_api_token
from engine.identity.users import get_user_by_email
from tests.web.conftest import ALL_SCOPES, BASE_URL, CATALOG
from workflows.hooks.controlled_statement import APPROVALS, COMMITMENTS

EXAMPLES = int(os.environ.get("TANGUAN_STATEFUL_EXAMPLES", "8"))
STEPS = int(os.environ.get("TANGUAN_STATEFUL_STEPS", "30"))
MAX_RECORDS = 4
ROLES = ["carbon_manager", "quality_manager", "top_management", "staff", "internal_auditor"]
EMAIL_OF = {login.role.value: login.email for login in DEMO_LOGINS}
STATUS = {"ok": 200, "stale": 409, "not_available": 409, "role": 403, "separation": 403, "form": 422,
          "guard": 409, "signature": 403}  # fmt: skip
GUARDED = {"carbon_policy": {"submit_for_approval", "approve_policy"}}  # three_commitments
MODELLED = {key: APPROVALS[key] for key in ("scope_statement", "carbon_policy")}  # the statement of
# applicability has a guard of its own and is tested in test_clause_coverage
for _key in MODELLED:
    for _t in CATALOG.get(_key).spec.transitions:  # fail loudly if the files change under the model
        assert set(_t.guards) == ({"three_commitments"} if _t.trigger in GUARDED.get(_key, ()) else set())

# Per record of the statement workflows: state, version, audit events (refused signatures excluded), the
# to-state of the last one, open tasks and the state they belong to.
CONSISTENCY_SQL = text(
    """
    SELECT r.id, r.workflow_key, r.state, r.version,
      (SELECT count(*) FROM audit_event e WHERE e.org_id = r.org_id AND e.subject_type = 'record'
        AND e.subject_id = CAST(r.id AS VARCHAR(64)) AND e.action <> 'signature_failed') AS events,
      (SELECT e.to_state FROM audit_event e WHERE e.org_id = r.org_id AND e.subject_type = 'record'
        AND e.subject_id = CAST(r.id AS VARCHAR(64)) AND e.action <> 'signature_failed'
        ORDER BY e.seq DESC LIMIT 1) AS last_to_state,
      (SELECT count(*) FROM task t WHERE t.record_id = r.id AND t.closed_at IS NULL) AS open_tasks,
      (SELECT max(t.state) FROM task t WHERE t.record_id = r.id AND t.closed_at IS NULL) AS open_state
    FROM record r WHERE r.workflow_key IN ('scope_statement', 'carbon_policy') ORDER BY r.id
    """
)


@dataclass
class Actor:
    role: str
    user_id: int
    client: TestClient


@dataclass
class Shadow:
    workflow: str
    state: str
    version: int
    creator: int
    data: dict[str, Any]


@dataclass
class Context:
    db: Any
    org_id: int
    unit_id: int
    actors: dict[str, Actor]
    counts: dict[str, int] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)


def statement_form(workflow: str, unit_id: int, *, title: str, commitments: list[str]) -> dict[str, Any]:
    if workflow == "carbon_policy":
        return {
            "title": title, "edition": "A/1", "effective_from": "2027-01-01",
            "policy_text": "节能降碳，持续改进", "commitments": commitments,
        }  # fmt: skip
    return {
        "title": title, "edition": "A/2", "effective_from": "2027-01-01", "statement": "熟料及水泥生产",
        "physical_boundary": "厂界内及自有矿山", "organizational_boundary": "公司法人",
        "activity_boundary": "开采至发运", "considerations": ["obligations", "context_issues"],
        "covered_units": [{"unit": unit_id, "activities": "熟料煅烧"}],
        "exclusions": [{"item": "外包食堂", "justification": "不在运营控制范围内"}],
    }  # fmt: skip


class StatementMachine(RuleBasedStateMachine):
    ctx: ClassVar[Context]
    records = Bundle("records")

    def __init__(self) -> None:
        super().__init__()
        self.shadows: dict[int, Shadow] = {}

    def check(self, condition: bool, message: str) -> None:
        if not condition:
            self.ctx.violations.append(message)
            raise AssertionError(message)

    def count(self, name: str) -> None:
        self.ctx.counts[name] = self.ctx.counts.get(name, 0) + 1

    def row(self, record_id: int) -> tuple[str, int, str]:
        with self.ctx.db.engine.connect() as connection:
            state, version, updated = connection.execute(
                text("SELECT state, version, updated_at FROM record WHERE id = :i"), {"i": record_id}
            ).one()
        return state, version, str(updated)

    def predict(
        self, shadow: Shadow, trigger: str, actor: Actor, body: dict[str, Any], valid_form: bool
    ) -> str:
        if body["version"] != shadow.version:
            return "stale"
        spec = CATALOG.get(shadow.workflow).spec.transition(trigger, shadow.state)
        if spec is None:
            return "not_available"
        if actor.role not in spec.roles:
            return "role"
        if any(rule.not_creator for rule in spec.separation) and actor.user_id == shadow.creator:
            return "separation"
        if (spec.form and not valid_form) or (spec.comment_required and not body.get("comment")):
            return "form"
        data = {**shadow.data, **body["data"]}
        if trigger in GUARDED.get(shadow.workflow, ()) and not set(COMMITMENTS) <= set(data["commitments"]):
            return "guard"
        if spec.signature and body.get("signature_password") != DEMO_PASSWORD:
            return "signature"
        return "ok"

    @initialize(target=records)
    def first(self):
        return self.create_one("carbon_manager", "scope_statement", True)

    CREATORS = ["carbon_manager"] * 3 + ["top_management", "staff"]

    @rule(target=records, role=st.sampled_from(CREATORS), workflow=st.sampled_from(sorted(MODELLED)),
          full=st.sampled_from([True, True, True, False]))  # fmt: skip
    def create(self, role, workflow, full):
        if len(self.shadows) >= MAX_RECORDS:
            return multiple()
        return self.create_one(role, workflow, full)

    def create_one(self, role: str, workflow: str, full: bool):
        actor, spec = self.ctx.actors[role], CATALOG.get(workflow).spec
        data = statement_form(
            workflow, self.ctx.unit_id, title=f"{spec.title.zh} 测试", commitments=list(COMMITMENTS)
        )
        if not full:
            data.pop("title")
        expected = 403 if role not in spec.start.roles else 201 if full else 422
        response = actor.client.post("/api/v1/records", json={"workflow": workflow, "data": data})
        self.count(f"create {response.status_code}")
        self.check(response.status_code == expected, f"create {workflow} by {role}: {response.status_code}")
        if expected != 201:
            return multiple()
        body = response.json()
        self.shadows[body["id"]] = Shadow(workflow, spec.initial, 1, actor.user_id, body["data"])
        return multiple(body["id"])

    @rule(record=records, role=st.sampled_from(ROLES), data=st.data())
    def fire_any(self, record, role, data):
        shadow = self.shadows[record]
        spec = CATALOG.get(shadow.workflow).spec
        offered = spec.transitions_from(shadow.state)
        if offered and data.draw(st.sampled_from([True, True, False])):
            transition = data.draw(st.sampled_from(offered))
            trigger = transition.trigger
            if data.draw(st.booleans()):  # mostly a role that may fire it
                role = data.draw(st.sampled_from([r for r in ROLES if r in transition.roles] or ROLES))
        else:
            trigger = data.draw(st.sampled_from(sorted({t.trigger for t in spec.transitions})))
        valid_form = data.draw(st.sampled_from([True, True, True, False]))
        commitments = data.draw(st.sampled_from([list(COMMITMENTS), list(COMMITMENTS), ["compliance"]]))
        form = statement_form(shadow.workflow, self.ctx.unit_id, title="修订稿", commitments=commitments)
        if not valid_form:
            form["effective_from"] = "2027-02-30"
        transition = spec.transition(trigger, shadow.state)
        body: dict[str, Any] = {
            "version": shadow.version
            + data.draw(st.sampled_from([0, 0, 0, 0, -1 if shadow.version > 1 else 2, 1])),
            "data": form if transition and transition.form else {},
        }
        if data.draw(st.sampled_from([True, True, False])):
            body["comment"] = "请补充排除理由"
        password = data.draw(st.sampled_from(["right", "right", "wrong", None]))
        if password:
            body["signature_password"] = DEMO_PASSWORD if password == "right" else "wrong-password"
        self.attempt(record, trigger, role, body, valid_form)

    FORWARD = ("submit_for_review", "pass_review", "submit_for_approval", "approve_scope", "approve_policy")

    @rule(data=st.data())
    def advance(self, data):
        """The oldest record that can move on does, by a role that may move it, with a valid form and the
        right password: keeps statements getting approved (and superseding each other)."""
        movable = [
            (rid, t)
            for rid, shadow in self.shadows.items()
            for t in CATALOG.get(shadow.workflow).spec.transitions_from(shadow.state)
            if t.trigger in self.FORWARD
        ]
        if not movable:
            return
        record, transition = movable[0]
        shadow = self.shadows[record]
        role = data.draw(st.sampled_from([r for r in ROLES if r in transition.roles]))
        body = {"version": shadow.version, "data": {}, "signature_password": DEMO_PASSWORD}
        self.attempt(record, transition.trigger, role, body, True)

    def attempt(self, record: int, trigger: str, role: str, body: dict[str, Any], valid_form: bool) -> None:
        shadow, actor = self.shadows[record], self.ctx.actors[role]
        expected = self.predict(shadow, trigger, actor, body, valid_form)
        others = {rid: self.row(rid) for rid in self.shadows}
        response = actor.client.post(f"/api/v1/records/{record}/transitions/{trigger}", json=body)
        where = f"{shadow.workflow} {record} in {shadow.state} v{shadow.version}: {trigger} by {role}"
        self.count(expected)
        self.check(
            response.status_code == STATUS[expected],
            f"{where}: expected {expected}, got {response.status_code} {response.text[:300]}",
        )
        if expected != "ok":
            self.check(
                all(self.row(rid) == row for rid, row in others.items()), f"{where}: refused but changed"
            )
            return
        dest = CATALOG.get(shadow.workflow).spec.transition(trigger, shadow.state).dest  # type: ignore[union-attr]
        if trigger == MODELLED[shadow.workflow]:  # the version in force before is superseded
            for other_id, other in self.shadows.items():
                if other_id != record and other.workflow == shadow.workflow and other.state == "in_force":
                    other.state, other.version = "superseded", other.version + 1
                    self.count("superseded by the approval")
        shadow.state, shadow.version = dest, shadow.version + 1
        self.count(f"reached {dest}")
        shadow.data = response.json()["data"]
        self.check(response.json()["state"] == dest, f"{where}: answered {response.json()['state']}")

    @invariant()
    def database_agrees(self):
        with self.ctx.db.engine.connect() as connection:
            found = connection.execute(CONSISTENCY_SQL).all()
        in_force: dict[str, int] = {}
        for rid, key, state, version, events, last_to_state, open_tasks, open_state in found:
            spec = CATALOG.get(key).spec.state(state)
            in_force[key] = in_force.get(key, 0) + (state == "in_force")
            self.check(
                events == version and last_to_state == state, f"{key} {rid}: {state} v{version}, {events}"
            )
            wanted = 1 if spec.owner_role and not spec.final else 0
            self.check(
                open_tasks == wanted and (not wanted or open_state == state),
                f"{key} {rid} in {state}: {open_tasks} open tasks",
            )
            if rid in self.shadows:
                shadow = self.shadows[rid]
                self.check(
                    (state, version) == (shadow.state, shadow.version), f"{rid}: {state} v{version}, {shadow}"
                )
        self.check(all(n <= 1 for n in in_force.values()), f"more than one version in force: {in_force}")


def _context(web) -> Context:
    with web.db.engine.connect() as connection:
        org_id = connection.execute(
            text("SELECT id FROM organization WHERE slug = :s"), {"s": DEMO_SLUG}
        ).scalar()
        unit_id = connection.execute(
            text("SELECT id FROM org_unit WHERE org_id = :o AND code = 'KILN1'"), {"o": org_id}
        ).scalar()
    actors = {}
    with web.db.unit_of_work(all_orgs=True) as uow:
        for role in ROLES:
            user = get_user_by_email(uow.session, email=EMAIL_OF[role])
            token = create_api_token(
                uow.session, user=user, org_id=org_id, name=f"st-{role}", scopes=ALL_SCOPES
            )
            client = TestClient(web.app, base_url=BASE_URL, headers={"Authorization": f"Bearer {token}"})
            actors[role] = Actor(role=role, user_id=user.id, client=client)
    return Context(db=web.db, org_id=org_id, unit_id=unit_id, actors=actors)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_versioned_statements_state_machine(web):
    from hypothesis.stateful import run_state_machine_as_test

    ctx = _context(web)
    StatementMachine.ctx = ctx
    try:
        run_state_machine_as_test(
            StatementMachine,
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                database=None,  # the database under test persists across examples; so would replays
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            ),
        )
    finally:
        print(
            f"\nstatement state machine on {web.db.engine.dialect.name}: {dict(sorted(ctx.counts.items()))}"
        )
    assert ctx.violations == []
    assert ctx.counts.get("ok", 0) > 0

"""A Hypothesis state machine drives internal audits (9.3: planning → fieldwork → reported → closed, or
cancelled) over the JSON API. Random people — two quality managers, two internal auditors (one of them of
the audited production department), the carbon manager, top management, staff — fire random triggers,
legal or not, with valid or faulty forms, the current or a stale version; the shadow model predicts every
answer (200 / 403 / 409 / 422) from the declared workflow, the independence rule and the override; after
every step the stored state, version, answers and score must match the model, each finding must be a
nonconformity or an improvement item linked back to its audit, and every record's trail must agree with it.
The audit chain is verified at the end of each example.

Longer runs: TANGUAN_STATEFUL_EXAMPLES=200 TANGUAN_STATEFUL_STEPS=60 pytest \
    tests/web/test_internal_audit_stateful.py -s
"""

import json
from decimal import Decimal
from typing import ClassVar

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

from engine.audit import verify_chain
from engine.identity.auth import create_api_token
from engine.identity.users import get_user_by_email
from tests.web.conftest import ALL_SCOPES, BASE_URL
from tests.web.ia_setup import SECOND_AUDITOR, SECOND_MANAGER, plant_of
from tests.web.ia_stateful_model import (
    EMAIL_OF,
    EXAMPLES,
    FINAL_STATES,
    MAX_RECORDS,
    PEOPLE,
    ROLE_OF,
    SCOPES,
    STATUS,
    STEPS,
    TRIGGERS,
    WORKFLOW,
    Actor,
    Context,
    Shadow,
    checklist_of,
    make_attempt,
    points_of,
    predict,
)
from workflows.hooks.internal_audit_rules import rules

FINDING_WORKFLOWS = ("nonconformity", "improvement_item")
_EVENTS = (
    "FROM audit_event e WHERE e.org_id = r.org_id AND e.subject_type = 'record' "
    "AND e.subject_id = CAST(r.id AS VARCHAR(64)) AND e.action <> 'signature_failed'"
)
TRAIL_SQL = text(
    "SELECT r.id, r.workflow_key, r.state, r.version, r.closed_at IS NOT NULL, "
    f"(SELECT count(*) {_EVENTS}), (SELECT e.to_state {_EVENTS} ORDER BY e.seq DESC LIMIT 1) "
    "FROM record r WHERE r.id >= :first "
    "AND r.workflow_key IN ('internal_audit', 'nonconformity', 'improvement_item') ORDER BY r.id"
)


class InternalAuditMachine(RuleBasedStateMachine):
    ctx: ClassVar[Context]
    records = Bundle("records")

    def __init__(self) -> None:
        super().__init__()
        self.shadows: dict[int, Shadow] = {}
        self.ctx.counts["examples"] += 1

    def check(self, condition: bool, message: str) -> None:
        if not condition:
            self.ctx.violations.append(message)
            raise AssertionError(message)

    def stored(self, record_id: int) -> tuple[str, int, dict]:
        with self.ctx.db.engine.connect() as connection:
            state, version, data = connection.execute(
                text("SELECT state, version, data FROM record WHERE id = :i"), {"i": record_id}
            ).one()
        return state, version, json.loads(data) if isinstance(data, str) else data

    def finding_count(self) -> int:
        with self.ctx.db.engine.connect() as connection:
            return connection.execute(
                text(
                    "SELECT count(*) FROM record WHERE workflow_key IN ('nonconformity', 'improvement_item')"
                )
            ).scalar()

    def fire(self, record_id: int, trigger: str, who: str, valid: bool, stale: bool, draw) -> None:
        self.ctx.counts["steps"] += 1
        shadow, actor = self.shadows[record_id], self.ctx.actors[who]
        attempt = make_attempt(draw, trigger, self.ctx, shadow, valid=valid)
        expected = predict(shadow, attempt, actor, stale=stale)
        before, findings_before = self.stored(record_id), self.finding_count()
        version = shadow.version + (1 if stale else 0)
        response = actor.client.post(
            f"/api/v1/records/{record_id}/transitions/{trigger}", json=attempt.body(version)
        )
        where = (
            f"audit {record_id} in {shadow.state} v{shadow.version}: {trigger} by {who} ({attempt.variant})"
        )
        self.check(
            response.status_code == STATUS[expected],
            f"{where}: expected {expected}, got {response.status_code} {response.text[:300]}",
        )
        self.ctx.counts[f"answer:{expected}"] += 1
        if expected != "ok":
            self.check(
                self.stored(record_id) == before, f"{where}: refused ({expected}) but the record changed"
            )
            self.check(self.finding_count() == findings_before, f"{where}: refused but findings were made")
            if expected in ("form", "follow_up"):
                self.check(bool(response.json().get("errors")), f"{where}: 422 without field errors")
            return
        self.apply(shadow, attempt, actor)
        self.ctx.counts[f"reached:{shadow.state}"] += 1
        made = self.finding_count() - findings_before
        self.check(
            made == (shadow.findings if trigger == "issue_report" else 0), f"{where}: {made} findings made"
        )

    def apply(self, shadow: Shadow, attempt, actor: Actor) -> None:
        spec = WORKFLOW.transition(attempt.trigger, shadow.state)
        assert spec is not None
        shadow.state, shadow.version = spec.dest, shadow.version + 1
        match attempt.trigger:
            case "save_plan":  # a plan other than the one an override was requested for voids it
                shadow.plan = attempt.plan
                if shadow.override is not None and shadow.override_plan != shadow.plan:
                    shadow.override, shadow.override_plan = None, None
            case "request_override":
                shadow.override, shadow.override_plan = "requested", shadow.plan
                shadow.requesters.add(actor.user_id)
            case "approve_override":
                shadow.override = "approved"
            case "submit_plan":
                shadow.max_points = checklist_of(shadow.scope)
                shadow.answers = [None] * len(shadow.max_points)
                shadow.version += 1  # the checklist is loaded in the same transaction
            case "answer_item":
                index, answer = attempt.answer
                shadow.answers[index] = answer
            case "issue_report":
                shadow.findings = sum(1 for a in shadow.answers if rules().answers[a].is_finding)
                shadow.version += 1 if shadow.findings else 0  # the findings' records are noted

    def create(self, who: str, scope: str) -> object:
        self.ctx.counts["steps"] += 1
        actor = self.ctx.actors[who]
        allowed = actor.role in WORKFLOW.start.roles
        expected = 403 if not allowed else 201 if SCOPES[scope] else 422
        response = actor.client.post(
            "/api/v1/records",
            json={"workflow": WORKFLOW.key, "data": {"title": "内部审核", "scope_clauses": scope}},
        )
        self.check(
            response.status_code == expected, f"create {scope} by {who}: {response.status_code}, {expected}"
        )
        if expected != 201:
            return multiple()
        body = response.json()
        self.shadows[body["id"]] = Shadow(WORKFLOW.initial, 1, scope)
        return multiple(body["id"])

    @initialize(target=records)
    def first_audit(self):
        return self.create("quality_manager", "9.2, 9.3")

    @precondition(lambda self: len(self.shadows) < MAX_RECORDS)
    @rule(target=records, who=st.sampled_from(PEOPLE), scope=st.sampled_from(sorted(SCOPES)))
    def create_audit(self, who, scope):
        return self.create(who, scope)

    @rule(
        record=records,
        trigger=st.sampled_from(TRIGGERS),
        who=st.sampled_from(PEOPLE),
        valid=st.sampled_from([True, True, False]),
        stale=st.sampled_from([False, False, False, True]),
        data=st.data(),
    )
    def fire_any(self, record, trigger, who, valid, stale, data):
        self.fire(record, trigger, who, valid, stale, data.draw)

    @rule(record=records, data=st.data())
    def advance(self, record, data):
        """A trigger the state offers, by someone whose role may fire it, mostly valid, mostly on the oldest
        open audit: audits travel the whole cycle."""
        open_audits = [rid for rid, s in self.shadows.items() if s.state not in FINAL_STATES]
        if open_audits and data.draw(st.sampled_from([True, True, True, False])):
            record = open_audits[0]
        shadow = self.shadows[record]
        roles = {actor.role for actor in self.ctx.actors.values()}
        offered = [
            t
            for t in WORKFLOW.transitions_from(shadow.state)
            if t.trigger in TRIGGERS and roles & set(t.roles)
        ]
        if not offered:
            return
        weights = {"cancel_audit": 1, "load_checklist": 1, "request_override": 2, "approve_override": 3}
        if shadow.state == "fieldwork" and None in shadow.answers:
            weights["answer_item"] = 12
        if shadow.state == "planning":  # write a plan, clear its conflicts, confirm it
            blocked = shadow.conflicted() and not shadow.covered()
            weights["save_plan"] = 12 if shadow.plan is None else 2
            weights["request_override"] = 6 if blocked and shadow.override != "requested" else 1
            weights["approve_override"] = 8 if blocked and shadow.override == "requested" else 1
            weights["submit_plan"] = 2 if blocked else 10
        weighted = [t for t in offered for _ in range(weights.get(t.trigger, 5))]
        spec = data.draw(st.sampled_from(weighted))
        people = [p for p in PEOPLE if self.ctx.actors[p].role in spec.roles]
        if spec.trigger == "answer_item":  # mostly an auditor of the team
            team = [
                p for p in people if p in shadow.team() and (p not in shadow.conflicted() or shadow.covered())
            ]
            people = team * 4 + people if team else people
        if spec.trigger == "approve_override":  # mostly a second person
            second = [
                p
                for p in people
                if p not in shadow.team() and self.ctx.actors[p].user_id not in shadow.requesters
            ]
            people = second * 4 + people if second else people
        who = data.draw(st.sampled_from(people))
        valid = data.draw(st.sampled_from([True] * 5 + [False]))
        self.fire(record, spec.trigger, who, valid, False, data.draw)

    @invariant()
    def audits_match_the_model(self):
        for record_id, shadow in self.shadows.items():
            state, version, data = self.stored(record_id)
            self.check(
                (state, version) == (shadow.state, shadow.version),
                f"audit {record_id}: {state} v{version}, model {shadow}",
            )
            rows = data.get("checklist") or []
            self.check(
                [row.get("answer") for row in rows] == shadow.answers, f"audit {record_id}: answers differ"
            )
            if rows:
                self.check(
                    Decimal(str(data.get("score"))) == points_of(shadow),
                    f"audit {record_id}: score {data.get('score')}",
                )
            if shadow.state in ("reported", "closed") and rows:
                self.findings_link_back(record_id, rows)
            if data.get("override_status") == "approved":
                self.check(
                    data["override_approved_by"] != data["override_requested_by"],
                    f"audit {record_id}: override approved by its requester",
                )

    def findings_link_back(self, record_id: int, rows: list[dict]) -> None:
        for row in rows:
            finding = row.get("finding")
            self.check(
                isinstance(finding, int) == rules().answers[row["answer"]].is_finding,
                f"audit {record_id}: row {row} and its finding disagree",
            )
            if isinstance(finding, int):
                with self.ctx.db.engine.connect() as connection:
                    key, data = connection.execute(
                        text("SELECT workflow_key, data FROM record WHERE id = :i"), {"i": finding}
                    ).one()
                data = json.loads(data) if isinstance(data, str) else data
                self.check(key in FINDING_WORKFLOWS, f"finding {finding} is a {key}")
                self.check(
                    record_id in (data.get("related_record"), data.get("source_record")),
                    f"finding {finding} not linked back",
                )

    @invariant()
    def every_trail_agrees_with_its_record(self):
        """The example's audits and the findings they raised (ids from its first audit on; earlier
        examples' records were checked in their turn)."""
        if not self.shadows:
            return
        with self.ctx.db.engine.connect() as connection:
            rows = connection.execute(TRAIL_SQL, {"first": min(self.shadows)}).all()
        for rid, key, state, version, is_closed, events, last_to_state in rows:
            self.check(
                last_to_state == state, f"record {rid} is {state}, its last event says {last_to_state}"
            )
            self.check(events == version, f"record {rid} at version {version} with {events} events")
            if key == WORKFLOW.key:
                final = state in FINAL_STATES
                self.check(bool(is_closed) == final, f"record {rid} in {state}: closed_at {is_closed}")

    def teardown(self):
        with self.ctx.db.engine.connect() as connection:
            check = verify_chain(connection, org_id=self.ctx.org_id)
        self.check(check.ok, f"audit chain broken: {check}")


def _context(web) -> Context:
    plant = plant_of(web)
    emails = {**EMAIL_OF, "auditor2": SECOND_AUDITOR, "quality2": SECOND_MANAGER}
    actors = {}
    with web.db.unit_of_work(all_orgs=True) as uow:
        for who in PEOPLE:
            user = get_user_by_email(uow.session, email=emails[who])
            token = create_api_token(
                uow.session, user=user, org_id=plant.org_id, name=f"ia-{who}", scopes=ALL_SCOPES
            )
            client = TestClient(web.app, base_url=BASE_URL, headers={"Authorization": f"Bearer {token}"})
            actors[who] = Actor(who=who, role=ROLE_OF.get(who, who), user_id=user.id, client=client)
    return Context(db=web.db, org_id=plant.org_id, actors=actors, units=plant.units)


def test_internal_audit_state_machine(web):
    ctx = _context(web)
    InternalAuditMachine.ctx = ctx
    try:
        run_state_machine_as_test(
            InternalAuditMachine,
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            ),
        )
    finally:
        print(f"\ninternal-audit machine on {web.db.engine.dialect.name}: {dict(sorted(ctx.counts.items()))}")
        print(
            f"internal_audit_stateful: steps={ctx.counts['steps']} invariant_violations={len(ctx.violations)}"
        )
    assert ctx.violations == []
    assert ctx.counts["answer:ok"] > 0 and ctx.counts["steps"] > 0

"""A Hypothesis state machine drives the compliance evaluation (9.2: planned → under review → reviewed →
closed, sent back from review) over the JSON API on a register of three obligations. Random actors create
evaluations (all obligations, or one) and fire random triggers, legal or not, with valid or invalid forms
and the current or a stale version; the shadow model predicts every answer (200 / 403 / 409 / 422) — the
reviewer kept apart from the evaluators, the submit guard — and after every step direct SQL checks the
evaluations' states, versions and rows, that each non-compliant row names exactly one nonconformity linked
to the evaluation and to the obligation (never a second one), that each obligation holds the result of the
last evaluation closed, and that state, audit trail and open task agree. The audit chain is verified at
the end of each example.

Longer runs: TANGUAN_STATEFUL_EXAMPLES=200 TANGUAN_STATEFUL_STEPS=60 pytest \
    tests/web/test_compliance_evaluation_stateful.py
"""

import json
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
from sqlalchemy import func, select, text

from demo.seed import DEMO_SLUG
from engine.audit import verify_chain
from engine.identity.auth import create_api_token
from engine.identity.users import get_user_by_email
from engine.models.audit import AuditEvent
from engine.workflow.access import ActorRef
from engine.workflow.lifecycle import PROCESS_CONTEXT, ProcessContext, create_record
from engine.workflow.models import Record
from tests.web.ce_stateful_model import (
    EMAIL_OF,
    EXAMPLES,
    FINAL_STATES,
    MAX_RECORDS,
    OBLIGATIONS,
    PASSED_THROUGH,
    ROLES,
    STATUS,
    STEPS,
    TRIGGERS,
    VERSION_STEPS,
    WORKFLOW,
    Actor,
    Attempt,
    Context,
    Shadow,
    make_attempt,
    plan_form,
    predict,
)
from tests.web.conftest import ALL_SCOPES, BASE_URL, CATALOG
from tests.web.nc_stateful_model import CONSISTENCY_SQL

_records, _events = Record.__table__, AuditEvent.__table__
KEPT = ("obligation", "result", "evidence_reference", "note")  # the row's columns a person answers


def _rows_of(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: row[k] for k in KEPT if row.get(k) is not None} for row in data.get("results") or []]


class ComplianceEvaluationMachine(RuleBasedStateMachine):
    ctx: ClassVar[Context]
    records = Bundle("records")

    def __init__(self) -> None:
        super().__init__()
        self.shadows: dict[int, Shadow] = {}
        self.results: dict[int, str] = {}  # obligation → the result the last closed evaluation recorded
        self.ctx.counts["examples"] += 1
        with self.ctx.db.engine.connect() as connection:
            known = connection.execute(
                text("SELECT id, data FROM record WHERE workflow_key = 'compliance_obligation'")
            ).all()
            open_ones = connection.execute(
                text("SELECT id FROM record WHERE workflow_key = :k AND closed_at IS NULL"),
                {"k": WORKFLOW.key},
            ).scalars()
            self.foreign_open = set(open_ones)  # left open by an earlier example
        for obligation_id, data in known:
            data = json.loads(data) if isinstance(data, str) else data
            if data.get("last_result"):
                self.results[obligation_id] = data["last_result"]

    def check(self, condition: bool, message: str) -> None:
        if not condition:
            self.ctx.violations.append(message)
            raise AssertionError(message)

    def stored(self, record_id: int) -> tuple:
        with self.ctx.db.engine.connect() as connection:
            state, version, data = connection.execute(
                select(_records.c.state, _records.c.version, _records.c.data).where(
                    _records.c.id == record_id
                )
            ).one()
        return state, version, json.loads(data) if isinstance(data, str) else data

    def audit_events(self) -> int:
        with self.ctx.db.engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(_events)).scalar()

    def busy(self) -> set[int]:
        """The obligations evaluations not closed hold (these and any an earlier example left open)."""
        held = {
            row["obligation"] for s in self.shadows.values() if s.state not in FINAL_STATES for row in s.rows
        }
        with self.ctx.db.engine.connect() as connection:
            for record_id in self.foreign_open:
                state, data = connection.execute(
                    select(_records.c.state, _records.c.data).where(_records.c.id == record_id)
                ).one()
                data = json.loads(data) if isinstance(data, str) else data
                if state not in FINAL_STATES:
                    held |= {row["obligation"] for row in data.get("results") or []}
        return held

    def create(self, actor: Actor, posted: dict[str, Any]):
        self.ctx.counts["steps"] += 1
        scope = (
            [posted["obligation"]]
            if posted["scope"] == "one"
            else sorted(set(self.ctx.obligations) - self.busy())
        )
        expected = 403 if actor.role not in WORKFLOW.start.roles else 201 if scope else 422
        before = self.audit_events()
        response = actor.client.post("/api/v1/records", json={"workflow": WORKFLOW.key, "data": posted})
        self.check(
            response.status_code == expected,
            f"create by {actor.role} ({posted['scope']}): {response.status_code}, expected {expected} "
            f"{response.text[:200]}",
        )
        self.ctx.counts[f"create:{expected}"] += 1
        if expected != 201:
            self.check(self.audit_events() == before, "create refused but events were written")
            if expected == 422:
                self.check("scope" in response.text, f"no field named: {response.text[:200]}")
            return multiple()
        record_id = response.json()["id"]
        evaluators = {posted["evaluator"], posted.get("co_evaluator", posted["evaluator"])}
        shadow = Shadow(
            state="planned",
            version=2,
            evaluators=evaluators,
            rows=[{"obligation": obligation} for obligation in scope],
            participants={"create": {actor.user_id}, "set_scope": {actor.user_id}},
        )
        self.shadows[record_id] = shadow
        self.compare(record_id, "create")
        return multiple(record_id)

    def compare(self, record_id: int, where: str) -> None:
        shadow = self.shadows[record_id]
        state, version, data = self.stored(record_id)
        self.check(
            (state, version, _rows_of(data)) == (shadow.state, shadow.version, shadow.rows),
            f"{where}: stored {state} v{version} {_rows_of(data)}, model {shadow}",
        )
        for row in data.get("results") or []:
            wanted = (
                shadow.nonconformities.get(row["obligation"])
                if row.get("result") == "non_compliant"
                else None
            )
            if state == "planned":  # the numbers are written on submitting
                continue
            self.check(row.get("nonconformity") == wanted, f"{where}: row {row}, model NC {wanted}")

    def fire(self, record_id: int, trigger: str, actor: Actor, attempt: Attempt, stale: bool) -> None:
        self.ctx.counts["steps"] += 1
        shadow = self.shadows[record_id]
        version = shadow.version + (1 if stale else 0)
        expected = predict(shadow, trigger, actor, attempt, version)
        before, row_before = self.audit_events(), self.stored(record_id)
        response = actor.client.post(
            f"/api/v1/records/{record_id}/transitions/{trigger}", json=attempt.body(version)
        )
        where = (
            f"record {record_id} in {shadow.state} v{shadow.version}: "
            f"{trigger} by {actor.role} ({attempt.variant})"
        )
        self.check(
            response.status_code == STATUS[expected],
            f"{where}: expected {expected}, got {response.status_code} {response.text[:300]}",
        )
        self.ctx.counts[f"answer:{expected}"] += 1
        if expected != "ok":
            self.check(self.stored(record_id) == row_before, f"{where}: refused ({expected}) but it changed")
            self.check(self.audit_events() == before, f"{where}: refused but events were written")
            if expected == "form":
                self.check(bool(response.json().get("errors")), f"{where}: 422 without field errors")
            if expected == "guard":
                self.check("行" in response.json()["detail"], f"{where}: the guard names no row")
            return
        spec = WORKFLOW.transition(trigger, shadow.state)
        assert spec is not None
        shadow.participants.setdefault(trigger, set()).add(actor.user_id)
        shadow.version += VERSION_STEPS.get(trigger, 1)
        shadow.state = "under_review" if trigger == "submit" else spec.dest
        if "results" in attempt.data:
            shadow.rows = _rows_of(attempt.data)
        if trigger == "submit":
            shadow.participants.setdefault("note_nonconformities", set()).add(actor.user_id)
            shadow.evaluated_on = attempt.data["evaluated_on"]
            for row in shadow.rows:
                if row.get("result") == "non_compliant" and row["obligation"] not in shadow.nonconformities:
                    shadow.nonconformities[row["obligation"]] = self.newest_nonconformity()
        if trigger == "close":
            for row in shadow.rows:
                self.results[row["obligation"]] = row["result"]
        self.ctx.counts[f"reached:{shadow.state}"] += 1
        self.compare(record_id, where)

    def newest_nonconformity(self) -> int:
        """Read back when a submission opened one; the invariants then check it is linked and unique."""
        with self.ctx.db.engine.connect() as connection:
            return connection.execute(
                text("SELECT max(id) FROM record WHERE workflow_key = 'nonconformity'")
            ).scalar()

    @initialize(target=records, data=st.data())
    def first_record(self, data):
        posted = plan_form(data.draw, self.ctx)
        posted["scope"], posted["obligation"] = "one", self.ctx.obligations[0]
        return self.create(self.ctx.actors["carbon_manager"], posted)

    @precondition(lambda self: len(self.shadows) < MAX_RECORDS)
    @rule(target=records, role=st.sampled_from(ROLES), data=st.data())
    def create_evaluation(self, role, data):
        return self.create(self.ctx.actors[role], plan_form(data.draw, self.ctx))

    @rule(
        record=records,
        trigger=st.sampled_from(TRIGGERS),
        role=st.sampled_from(ROLES),
        valid=st.sampled_from([True, True, False]),
        stale=st.sampled_from([False, False, False, True]),
        data=st.data(),
    )
    def fire_any(self, record, trigger, role, valid, stale, data):
        shadow = self.shadows[record]
        attempt = make_attempt(data.draw, trigger, shadow, self.ctx, valid=valid)
        self.fire(record, trigger, self.ctx.actors[role], attempt, stale)

    @rule(record=records, data=st.data())
    def advance(self, record, data):
        """A trigger the state offers a person, by a role that may fire it, mostly valid, mostly on the
        oldest open record, mostly by someone the separation allows: records travel the whole cycle."""
        open_records = [rid for rid, s in self.shadows.items() if s.state not in FINAL_STATES]
        if open_records and data.draw(st.sampled_from([True, True, True, False])):
            record = open_records[0]
        shadow = self.shadows[record]
        offered = [t for t in WORKFLOW.transitions_from(shadow.state) if t.trigger not in PASSED_THROUGH]
        if not offered:
            return
        weighted = [t for t in offered for _ in range(1 if t.trigger == "send_back" else 4)]
        spec = data.draw(st.sampled_from(weighted))
        roles = [r for r in ROLES if r in spec.roles]
        apart = [r for r in roles if self.ctx.actors[r].user_id not in shadow.evaluators]
        role = data.draw(st.sampled_from(apart if apart and data.draw(st.booleans()) else roles))
        valid = data.draw(st.sampled_from([True] * 5 + [False]))
        attempt = make_attempt(data.draw, spec.trigger, shadow, self.ctx, valid=valid)
        if spec.trigger == "submit" and attempt.form_ok and data.draw(st.sampled_from([True, True, False])):
            attempt.data["results"] = [  # answered in full, with evidence
                {
                    **row,
                    "result": row.get("result") or "compliant",
                    "evidence_reference": "台账",
                    "note": "说明",
                }
                for row in attempt.data["results"]
            ]
        self.fire(record, spec.trigger, self.ctx.actors[role], attempt, False)

    @invariant()
    def nonconformities_are_linked_and_unique(self):
        with self.ctx.db.engine.connect() as connection:
            for record_id, shadow in self.shadows.items():
                for obligation, nc in shadow.nonconformities.items():
                    linked = connection.execute(
                        text(
                            "SELECT count(*) FROM record_link WHERE (from_record_id = :nc "
                            "AND to_record_id IN (:e, :o)) "
                            "OR (to_record_id = :nc AND from_record_id IN (:e, :o))"
                        ),
                        {"nc": nc, "e": record_id, "o": obligation},
                    ).scalar()
                    self.check(linked >= 2, f"NC {nc} of {record_id}/{obligation}: {linked} links")
                opened = connection.execute(
                    text("SELECT data FROM record WHERE workflow_key = 'nonconformity'")
                ).scalars()
                mine = [
                    d for d in opened
                    if (json.loads(d) if isinstance(d, str) else d).get("related_record") == record_id
                ]  # fmt: skip
                self.check(
                    len(mine) == len(shadow.nonconformities),
                    f"evaluation {record_id}: {len(mine)} NCs, model {shadow.nonconformities}",
                )

    @invariant()
    def obligations_hold_the_last_result(self):
        with self.ctx.db.engine.connect() as connection:
            for obligation in self.ctx.obligations:
                data = connection.execute(
                    text("SELECT data FROM record WHERE id = :i"), {"i": obligation}
                ).scalar()
                data = json.loads(data) if isinstance(data, str) else data
                self.check(
                    data.get("last_result") == self.results.get(obligation),
                    f"obligation {obligation}: {data.get('last_result')}, "
                    f"model {self.results.get(obligation)}",
                )

    @invariant()
    def database_is_consistent(self):
        with self.ctx.db.engine.connect() as connection:
            rows = connection.execute(CONSISTENCY_SQL).all()
        for rid, key, state, version, is_closed, events, last_to_state, open_tasks, open_state, _ in rows:
            if key != WORKFLOW.key:
                continue
            final = state in FINAL_STATES
            self.check(
                last_to_state == state, f"record {rid} is {state}, its last event says {last_to_state}"
            )
            self.check(events == version, f"record {rid} at version {version} with {events} events")
            self.check(bool(is_closed) == final, f"record {rid} in {state}: closed_at {is_closed}")
            wanted = (0, None) if final else (1, state)
            self.check((open_tasks, open_state) == wanted, f"record {rid} in {state}: tasks {open_tasks}")

    def teardown(self):
        with self.ctx.db.engine.connect() as connection:
            check = verify_chain(connection, org_id=self.ctx.org_id)
        self.check(check.ok, f"audit chain broken: {check}")


OBLIGATION = {
    "source": "regulation", "issuing_body": "生态环境部", "requirement_text": "按规定报告排放数据",
    "applicability": "applicable", "applicability_reason": "重点排放单位", "evaluation_frequency": "yearly",
    "edition": "2025年", "effective_date": "2025-01-01",
}  # fmt: skip


def _context(web) -> Context:
    with web.db.engine.connect() as connection:
        org_id = connection.execute(
            text("SELECT id FROM organization WHERE slug = :s"), {"s": DEMO_SLUG}
        ).scalar()
        other_record = connection.execute(
            text("SELECT id FROM record WHERE org_id = :o ORDER BY id LIMIT 1"), {"o": org_id}
        ).scalar()
    actors = {}
    with web.db.unit_of_work(all_orgs=True) as uow:
        uow.session.info[PROCESS_CONTEXT] = ProcessContext(CATALOG, web.app.state.secret_key)
        for role in ROLES:
            user = get_user_by_email(uow.session, email=EMAIL_OF[role])
            token = create_api_token(
                uow.session, user=user, org_id=org_id, name=f"ce-{role}", scopes=ALL_SCOPES
            )
            client = TestClient(web.app, base_url=BASE_URL, headers={"Authorization": f"Bearer {token}"})
            actors[role] = Actor(role=role, user_id=user.id, client=client)
        register = CATALOG.get("compliance_obligation")
        manager = ActorRef(
            id=actors["carbon_manager"].user_id, name="李娜", roles=frozenset({"carbon_manager"})
        )
        obligations = [
            create_record(
                uow.session,
                workflow=register,
                org_id=org_id,
                actor=manager,
                form_data={**OBLIGATION, "title": f"合规义务 {number}", "owner": manager.id},
            ).id
            for number in range(1, OBLIGATIONS + 1)
        ]
    return Context(
        db=web.db, org_id=org_id, actors=actors, obligations=obligations, other_record_id=other_record
    )


def test_compliance_evaluation_state_machine(web):
    ctx = _context(web)
    ComplianceEvaluationMachine.ctx = ctx
    try:
        run_state_machine_as_test(
            ComplianceEvaluationMachine,
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
            f"\ncompliance-evaluation machine on {web.db.engine.dialect.name}: "
            f"{dict(sorted(ctx.counts.items()))}"
        )
    assert ctx.violations == []
    assert ctx.counts["answer:ok"] > 0 and ctx.counts["steps"] > 0

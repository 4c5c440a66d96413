"""A Hypothesis state machine drives the reduction-project process (8.1: proposed → approved → implementing →
completed → verified, or cancelled) over the JSON API. Random actors fire random triggers, legal or not,
with valid or invalid forms, the current or a stale version, the right, a wrong or no signature password;
the shadow model predicts every answer (200 / 403 / 409 / 422) from the declared workflow, and after every
step direct SQL checks that state, audit trail, version and open task agree, for every record in the
database. The audit chain is verified at the end of each example.

Longer runs: TANGUAN_STATEFUL_EXAMPLES=200 TANGUAN_STATEFUL_STEPS=60 pytest \
    tests/web/test_reduction_project_stateful.py
"""

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

from demo.seed import DEMO_PASSWORD, DEMO_SLUG
from engine.audit import SYSTEM, verify_chain
from engine.evidence.store import store_evidence
from engine.identity.auth import create_api_token
from engine.identity.users import get_user_by_email
from engine.models.audit import AuditEvent
from engine.workflow.models import Record, Signature, Task
from engine.workflow.signing import SIGNATURE_FAILURES_BEFORE_ALERT
from tests.web.conftest import ALL_SCOPES, BASE_URL, OTHER_ORG_ADMIN
from tests.web.nc_stateful_model import CONSISTENCY_SQL
from tests.web.rp_stateful_model import (
    EMAIL_OF,
    EXAMPLES,
    FINAL_STATES,
    MAX_RECORDS,
    ROLES,
    SEPARATED,
    STATUS,
    STEPS,
    TRIGGERS,
    WORKFLOW,
    Actor,
    Attempt,
    Context,
    Shadow,
    make_attempt,
    report_form,
)

_records, _tasks, _signatures, _events = (
    Record.__table__,
    Task.__table__,
    Signature.__table__,
    AuditEvent.__table__,
)


class ReductionProjectMachine(RuleBasedStateMachine):
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

    def counts(self) -> dict[str, int]:
        with self.ctx.db.engine.connect() as connection:
            return {
                name: connection.execute(select(func.count()).select_from(table)).scalar()
                for name, table in (
                    ("record", _records),
                    ("audit_event", _events),
                    ("task", _tasks),
                    ("signature", _signatures),
                )
            }

    def stored(self, record_id: int) -> tuple:
        with self.ctx.db.engine.connect() as connection:
            return tuple(
                connection.execute(
                    select(
                        _records.c.state, _records.c.version, _records.c.data, _records.c.participants
                    ).where(_records.c.id == record_id)
                ).one()
            )

    def predict(self, shadow: Shadow, trigger: str, actor: Actor, attempt: Attempt, version: int) -> str:
        """The answer the declared process gives, in the order the engine checks."""
        if not attempt.body_ok:
            return "body"
        if version != shadow.version:
            return "stale"
        spec = WORKFLOW.transition(trigger, shadow.state)
        if spec is None:
            return "not_available"
        if actor.role not in spec.roles:
            return "role"
        if trigger == SEPARATED and actor.user_id in shadow.participants.get("finish_implementation", set()):
            return "separation"
        if not attempt.form_ok:
            return "form"
        if spec.signature and attempt.password != DEMO_PASSWORD:
            return "signature"
        return "ok"

    def fire(self, record_id: int, trigger: str, actor: Actor, attempt: Attempt, stale: bool) -> None:
        self.ctx.counts["steps"] += 1
        shadow = self.shadows[record_id]
        version = shadow.version + (1 if stale else 0)
        expected = self.predict(shadow, trigger, actor, attempt, version)
        before, row_before = self.counts(), self.stored(record_id)
        response = actor.client.post(
            f"/api/v1/records/{record_id}/transitions/{trigger}", json=attempt.body(version)
        )
        after, row_after = self.counts(), self.stored(record_id)
        where = (
            f"record {record_id} in {shadow.state} v{shadow.version}: "
            f"{trigger} by {actor.role} ({attempt.variant})"
        )
        self.check(
            response.status_code == STATUS[expected],
            f"{where}: expected {expected}, got {response.status_code} {response.text[:300]}",
        )
        self.ctx.counts[f"answer:{expected}"] += 1
        grew = {name: after[name] - before[name] for name in before}
        if expected != "ok":
            self.check(row_before == row_after, f"{where}: refused ({expected}) but the record changed")
            if expected in ("body", "form"):
                self.check(bool(response.json().get("errors")), f"{where}: 422 without field errors")
            if expected == "signature":
                self.ctx.signature_failures[actor.user_id] += 1
                alerts = int(
                    self.ctx.signature_failures[actor.user_id] % SIGNATURE_FAILURES_BEFORE_ALERT == 0
                )
                wanted = {"record": 0, "audit_event": 1 + alerts, "task": 0, "signature": 0}
                self.check(grew == wanted, f"{where}: a failed signature changed {grew}")
            else:
                self.check(not any(grew.values()), f"{where}: refused but rows changed {grew}")
            return
        spec = WORKFLOW.transition(trigger, shadow.state)
        assert spec is not None
        shadow.state, shadow.version = spec.dest, shadow.version + 1
        shadow.data = {**shadow.data, **attempt.submitted}
        shadow.participants.setdefault(trigger, set()).add(actor.user_id)
        if spec.signature:
            self.ctx.signature_failures[actor.user_id] = 0
        self.ctx.counts[f"reached:{spec.dest}"] += 1
        state, db_version, data, participants = row_after
        self.check(
            (state, db_version, data) == (shadow.state, shadow.version, shadow.data),
            f"{where}: stored {state} v{db_version} {data}, model {shadow}",
        )
        self.check(
            {k: sorted(v) for k, v in participants.items()}
            == {k: sorted(v) for k, v in shadow.participants.items()},
            f"{where}: participants {participants} != {shadow.participants}",
        )
        wanted = {
            "record": 0,
            "audit_event": 1,
            "task": 0 if spec.dest in FINAL_STATES else 1,
            "signature": int(bool(spec.signature)),
        }
        self.check(grew == wanted, f"{where}: rows grew {grew}, expected {wanted}")

    def create(self, actor: Actor, posted: dict[str, Any], expected_data: dict[str, Any] | None):
        self.ctx.counts["steps"] += 1
        expected = (
            403 if actor.role not in WORKFLOW.start.roles else 201 if expected_data is not None else 422
        )
        before = self.counts()
        response = actor.client.post("/api/v1/records", json={"workflow": WORKFLOW.key, "data": posted})
        grew = {name: self.counts()[name] - before[name] for name in before}
        self.check(
            response.status_code == expected, f"create by {actor.role}: {response.status_code}, {expected}"
        )
        if expected != 201:
            self.check(not any(grew.values()), f"create refused but rows changed: {grew}")
            return multiple()
        body = response.json()
        self.check(
            (body["state"], body["version"], body["data"]) == (WORKFLOW.initial, 1, expected_data),
            f"created {body}",
        )
        self.check(grew == {"record": 1, "audit_event": 1, "task": 1, "signature": 0}, f"create grew {grew}")
        self.shadows[body["id"]] = Shadow(WORKFLOW.initial, 1, expected_data, {"create": {actor.user_id}})
        return multiple(body["id"])

    @initialize(target=records, data=st.data())
    def first_record(self, data):
        posted, expected, _ = report_form(data.draw, self.ctx)
        while expected is None:
            posted, expected, _ = report_form(data.draw, self.ctx)
        return self.create(self.ctx.actors["carbon_manager"], posted, expected)

    @precondition(lambda self: len(self.shadows) < MAX_RECORDS)
    @rule(target=records, role=st.sampled_from(ROLES), data=st.data())
    def create_record(self, role, data):
        posted, expected, _ = report_form(data.draw, self.ctx)
        return self.create(self.ctx.actors[role], posted, expected)

    @rule(
        record=records,
        trigger=st.sampled_from(TRIGGERS),
        role=st.sampled_from(ROLES),
        valid=st.sampled_from([True, True, False]),
        stale=st.sampled_from([False, False, False, True]),
        password=st.sampled_from(["right", "right", "wrong", "missing"]),
        data=st.data(),
    )
    def fire_any(self, record, trigger, role, valid, stale, password, data):
        attempt = make_attempt(data.draw, trigger, self.ctx, valid=valid, password=password)
        self.fire(record, trigger, self.ctx.actors[role], attempt, stale)

    @rule(record=records, data=st.data())
    def advance(self, record, data):
        """A trigger the state offers, by a role that may fire it, mostly valid, mostly on the oldest open
        record: records travel the whole cycle (moving on weighted over revising, cancelling, returning)."""
        open_records = [rid for rid, s in self.shadows.items() if s.state not in FINAL_STATES]
        if open_records and data.draw(st.sampled_from([True, True, True, False])):
            record = open_records[0]
        shadow = self.shadows[record]
        offered = WORKFLOW.transitions_from(shadow.state)
        if not offered:
            return
        aside = ("cancel_project", "return_for_rework", "revise_proposal")
        weighted = [t for t in offered for _ in range(1 if t.trigger in aside else 5)]
        spec = data.draw(st.sampled_from(weighted))
        role = data.draw(st.sampled_from([r for r in ROLES if r in spec.roles]))
        valid = data.draw(st.sampled_from([True] * 5 + [False]))
        password = data.draw(st.sampled_from(["right"] * 4 + ["wrong", "missing"]))
        attempt = make_attempt(data.draw, spec.trigger, self.ctx, valid=valid, password=password)
        self.fire(record, spec.trigger, self.ctx.actors[role], attempt, False)

    @rule(record=records, role=st.sampled_from(ROLES))
    def list_transitions(self, record, role):
        actor, shadow = self.ctx.actors[role], self.shadows[record]
        response = actor.client.get(f"/api/v1/records/{record}/transitions")
        got = [(item["trigger"], item["dest"], item["enabled"]) for item in response.json()]
        wanted = [
            (
                spec.trigger,
                spec.dest,
                role in spec.roles
                and not (
                    spec.trigger == SEPARATED
                    and actor.user_id in shadow.participants.get("finish_implementation", set())
                ),
            )
            for spec in WORKFLOW.transitions_from(shadow.state)
        ]
        self.check(got == wanted, f"transitions of {record} in {shadow.state} for {role}: {got} != {wanted}")

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


def _context(web) -> Context:
    with web.db.engine.connect() as connection:
        org_id = connection.execute(
            text("SELECT id FROM organization WHERE slug = :s"), {"s": DEMO_SLUG}
        ).scalar()
        other_org = connection.execute(text("SELECT id FROM organization WHERE slug = 'other-co'")).scalar()
        facility = connection.execute(
            text("SELECT id FROM org_unit WHERE org_id = :o AND code = 'KILN1'"), {"o": org_id}
        ).scalar()
    actors = {}
    with web.db.unit_of_work(all_orgs=True) as uow:
        for role in ROLES:
            user = get_user_by_email(uow.session, email=EMAIL_OF[role])
            token = create_api_token(
                uow.session, user=user, org_id=org_id, name=f"rp-{role}", scopes=ALL_SCOPES
            )
            client = TestClient(web.app, base_url=BASE_URL, headers={"Authorization": f"Bearer {token}"})
            actors[role] = Actor(role=role, user_id=user.id, client=client)
        outsider_id = get_user_by_email(uow.session, email=OTHER_ORG_ADMIN).id
        files = {}
        for name, org in (("ours", org_id), ("theirs", other_org)):
            stored = store_evidence(
                uow.session,
                org_id=org,
                actor=SYSTEM,
                evidence_store=web.settings.evidence_store,
                filename=f"核证报告-{name}.txt",
                chunks=iter([f"减排量核证报告 {name}".encode()]),
                max_bytes=64 * 1024,
            )
            files[name] = stored.id
    return Context(
        db=web.db,
        org_id=org_id,
        actors=actors,
        outsider_id=outsider_id,
        evidence_id=files["ours"],
        foreign_evidence_id=files["theirs"],
        facility_id=facility,
    )


def test_reduction_project_state_machine(web):
    ctx = _context(web)
    ReductionProjectMachine.ctx = ctx
    try:
        run_state_machine_as_test(
            ReductionProjectMachine,
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
            f"\nreduction-project machine on {web.db.engine.dialect.name}: {dict(sorted(ctx.counts.items()))}"
        )
    assert ctx.violations == []
    assert ctx.counts["answer:ok"] > 0 and ctx.counts["steps"] > 0

"""A Hypothesis state machine drives the management review (9.4: compiled inputs → refreshed → meeting →
outputs → top management's signature → closed, or returned, or cancelled) over the JSON API, while live
data changes underneath (nonconformities raised). Random actors fire random triggers, legal or not, with
valid or invalid forms, the current or a stale version, the right, a wrong or no signature password; the
shadow model predicts every answer (200 / 403 / 409 / 422) from the declared workflow and its guards. After
every step direct SQL checks state, version, audit trail and open task of every review, and the input pack:
its SHA-256 always matches its content, and once signed the review's data — pack, hash and all — stays
exactly as signed, its signature stays valid and its actions are improvement records linked to it. The
audit chain is verified at the end of each example.

Longer runs: TANGUAN_STATEFUL_EXAMPLES=100 TANGUAN_STATEFUL_STEPS=100 pytest \
    tests/web/test_management_review_stateful.py
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
from sqlalchemy import bindparam, func, select, text

from demo.seed import DEMO_PASSWORD, DEMO_SLUG
from engine.audit import verify_chain
from engine.identity.auth import create_api_token
from engine.identity.users import get_user_by_email
from engine.models.audit import AuditEvent
from engine.records.signatures import signatures_of
from engine.workflow.models import Record, Signature
from engine.workflow.signing import SIGNATURE_FAILURES_BEFORE_ALERT
from tests.web.conftest import ALL_SCOPES, BASE_URL, OTHER_ORG_ADMIN
from tests.web.mr_stateful_model import (
    APPROVE,
    COMPUTED,
    EMAIL_OF,
    EXAMPLES,
    FINAL_STATES,
    MAX_RECORDS,
    MEETING,
    OUTPUTS,
    REFRESH,
    ROLES,
    STATUS,
    STEPS,
    TRIGGERS,
    WORKFLOW,
    Actor,
    Attempt,
    Context,
    Shadow,
    guard_refuses,
    make_attempt,
    pack_hash,
    start_form,
    today,
)
from tests.web.nc_stateful_model import CONSISTENCY_SQL

_records, _signatures, _events = Record.__table__, Signature.__table__, AuditEvent.__table__
# The consistency check of the other machines, on this example's reviews only: its cost stays flat however
# many records the long run leaves behind.
REVIEWS_CONSISTENCY = text(
    CONSISTENCY_SQL.text.replace("FROM record r\n", "FROM record r WHERE r.id IN :ids\n")
)
REVIEWS_CONSISTENCY = REVIEWS_CONSISTENCY.bindparams(bindparam("ids", expanding=True))
IMPROVEMENTS_OF = text(
    "SELECT count(*) FROM record WHERE workflow_key = 'improvement_item' AND org_id = :o "
    "AND EXISTS (SELECT 1 FROM record_link l WHERE l.from_record_id = record.id AND l.to_record_id = :r)"
)


def posted_part(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if key not in COMPUTED}


class ManagementReviewMachine(RuleBasedStateMachine):
    ctx: ClassVar[Context]
    records = Bundle("records")

    def __init__(self) -> None:
        super().__init__()
        self.shadows: dict[int, Shadow] = {}
        self.live_changes = 0
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
                    ("signature", _signatures),
                )
            }

    def stored(self, record_id: int) -> tuple:
        with self.ctx.db.engine.connect() as connection:
            row = connection.execute(
                select(_records.c.state, _records.c.version, _records.c.data).where(
                    _records.c.id == record_id
                )
            ).one()
        return tuple(row)

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
        if not attempt.form_ok:
            return "form"
        if guard_refuses(trigger, {**shadow.data, **attempt.submitted}):
            return "guard"
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
        where = f"review {record_id} in {shadow.state} v{shadow.version}: {trigger} by {actor.role}"
        where += f" ({attempt.variant})"
        self.check(
            response.status_code == STATUS[expected],
            f"{where}: expected {expected}, got {response.status_code} {response.text[:300]}",
        )
        self.ctx.counts[f"answer:{expected}"] += 1
        grew = {name: after[name] - before[name] for name in before}
        if expected != "ok":
            self.check(row_before == row_after, f"{where}: refused ({expected}) but the review changed")
            if expected in ("body", "form"):
                self.check(bool(response.json().get("errors")), f"{where}: 422 without field errors")
            audit = 0
            if expected == "signature":
                self.ctx.signature_failures[actor.user_id] += 1
                alert = self.ctx.signature_failures[actor.user_id] % SIGNATURE_FAILURES_BEFORE_ALERT == 0
                audit = 1 + int(alert)
            self.check(
                grew == {"record": 0, "audit_event": audit, "signature": 0}, f"{where}: refused, grew {grew}"
            )
            return
        spec = WORKFLOW.transition(trigger, shadow.state)
        assert spec is not None
        if trigger == REFRESH:  # to compiling and on to preparing in the same transaction
            shadow.version += 2
            shadow.state = WORKFLOW.transition("compile_review_inputs", spec.dest).dest  # type: ignore[union-attr]
        else:
            shadow.state, shadow.version = spec.dest, shadow.version + 1
            shadow.data = {**shadow.data, **attempt.submitted}
        self.ctx.counts[f"reached:{shadow.state}"] += 1
        state, db_version, data = row_after
        self.check(
            (state, db_version, posted_part(data)) == (shadow.state, shadow.version, shadow.data),
            f"{where}: stored {state} v{db_version} {posted_part(data)}, model {shadow}",
        )
        actions = len(shadow.data.get("actions") or []) if trigger == APPROVE else 0
        self.check(grew["signature"] == int(bool(spec.signature)), f"{where}: signatures grew {grew}")
        self.check(grew["record"] == actions, f"{where}: records grew {grew}, {actions} actions")
        if trigger == APPROVE:
            self.ctx.signature_failures[actor.user_id] = 0
            self.check(data.get("pack_frozen_on") == today().isoformat(), f"{where}: not frozen {data}")
            shadow.frozen = data
        elif trigger == REFRESH:
            self.check("pack_frozen_on" not in data, f"{where}: frozen before the signature")

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
        record_id = response.json()["id"]
        state, version, data = self.stored(record_id)
        self.check(
            (state, version, posted_part(data)) == ("mr_preparing", 2, expected_data),
            f"created {state} v{version} {posted_part(data)}, expected {expected_data}",
        )
        self.check(len(data["input_summaries"]) == 11, f"created without its 11 inputs: {data}")
        self.shadows[record_id] = Shadow("mr_preparing", 2, expected_data)
        return multiple(record_id)

    @initialize(target=records, data=st.data())
    def first_review(self, data):
        posted, expected = start_form(data.draw, self.ctx)
        while expected is None:
            posted, expected = start_form(data.draw, self.ctx)
        return self.create(self.ctx.actors["carbon_manager"], posted, expected)

    @initialize(data=st.data())
    def signed_review(self, data):
        """One review signed at the start of each example: the invariants watch its frozen pack while
        live data changes and the other reviews move."""
        posted, expected = start_form(data.draw, self.ctx)
        while expected is None:
            posted, expected = start_form(data.draw, self.ctx)
        (record_id,) = self.create(self.ctx.actors["carbon_manager"], posted, expected).values
        for trigger, role, extra in (
            (MEETING, "carbon_manager", {"meeting_date": today().isoformat()}),
            (OUTPUTS, "carbon_manager", {"changes_note": "按评审结论调整"}),
            (APPROVE, "top_management", {}),
        ):
            attempt = make_attempt(data.draw, trigger, self.ctx, valid=True, password="right")
            attempt.data.update(extra)
            attempt.submitted.update(extra)
            self.fire(record_id, trigger, self.ctx.actors[role], attempt, False)

    @precondition(lambda self: len(self.shadows) < MAX_RECORDS)
    @rule(target=records, role=st.sampled_from(ROLES), data=st.data())
    def start_review(self, role, data):
        posted, expected = start_form(data.draw, self.ctx)
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

    @rule(record=records, data=st.data(), careful=st.booleans())
    def advance(self, record, data, careful):
        """A trigger the state offers, by a role that may fire it, mostly on the oldest open review: reviews
        travel the whole cycle (moving on weighted over refreshing, returning, cancelling). A careful step
        posts a valid form with the right password; another is mostly valid."""
        open_records = [rid for rid, s in self.shadows.items() if s.state not in FINAL_STATES]
        if open_records and data.draw(st.sampled_from([True, True, True, False])):
            record = open_records[0]
        offered = WORKFLOW.transitions_from(self.shadows[record].state)
        if not offered:
            return
        aside = ("cancel_management_review", "return_management_review", REFRESH)
        spec = data.draw(st.sampled_from([t for t in offered for _ in range(1 if t.trigger in aside else 5)]))
        role = data.draw(st.sampled_from([r for r in ROLES if r in spec.roles]))
        valid = careful or data.draw(st.sampled_from([True] * 5 + [False]))
        password = "right" if careful else data.draw(st.sampled_from(["right"] * 4 + ["wrong", "missing"]))
        attempt = make_attempt(data.draw, spec.trigger, self.ctx, valid=valid, password=password)
        self.fire(record, spec.trigger, self.ctx.actors[role], attempt, False)

    @precondition(lambda self: self.live_changes < 3)  # a few per example: the steps go to the reviews
    @rule(number=st.integers(0, 999))
    def live_data_changes(self, number):
        """A nonconformity raised: the live figures move, signed packs must not."""
        self.ctx.counts["steps"] += 1
        self.live_changes += 1
        created = self.ctx.actors["quality_manager"].client.post(
            "/api/v1/records",
            json={
                "workflow": "nonconformity",
                "data": {
                    "title": f"现场发现 {number}",
                    "source": "monitoring",
                    "description": "计量超差",
                    "found_on": today().isoformat(),
                    "assignee": self.ctx.actors["process_owner"].user_id,
                },
            },  # fmt: skip
        )
        self.check(created.status_code == 201, f"nonconformity: {created.status_code} {created.text[:200]}")

    @invariant()
    def database_is_consistent(self):
        if not self.shadows:
            return
        with self.ctx.db.engine.connect() as connection:
            rows = connection.execute(REVIEWS_CONSISTENCY, {"ids": sorted(self.shadows)}).all()
        for rid, key, state, version, is_closed, events, last_to_state, open_tasks, open_state, _ in rows:
            if key != WORKFLOW.key:
                continue
            final = state in FINAL_STATES
            self.check(
                last_to_state == state, f"review {rid} is {state}, its last event says {last_to_state}"
            )
            self.check(events == version, f"review {rid} at version {version} with {events} events")
            self.check(bool(is_closed) == final, f"review {rid} in {state}: closed_at {is_closed}")
            wanted = (0, None) if final else (1, state)
            self.check((open_tasks, open_state) == wanted, f"review {rid} in {state}: tasks {open_tasks}")

    @invariant()
    def packs_keep_their_hash_and_signed_ones_stay_frozen(self):
        for record_id, shadow in self.shadows.items():
            _, _, data = self.stored(record_id)
            self.check(
                data.get("pack_sha256") == pack_hash(data), f"review {record_id}: pack hash does not match"
            )
            if shadow.frozen is None:
                continue
            self.check(data == shadow.frozen, f"review {record_id}: signed data changed")
            with self.ctx.db.engine.connect() as connection:
                linked = connection.execute(IMPROVEMENTS_OF, {"o": self.ctx.org_id, "r": record_id}).scalar()
            actions = len(shadow.data.get("actions") or [])
            self.check(
                linked == actions, f"review {record_id}: {linked} linked improvements for {actions} actions"
            )
            with self.ctx.db.read_session(org_id=self.ctx.org_id) as session:
                record = session.get(Record, record_id)
                views = signatures_of(session, record=record, secret_key=self.ctx.secret_key)
            self.check([v.status for v in views] == ["valid"], f"review {record_id}: signatures {views}")

    def teardown(self):
        with self.ctx.db.engine.connect() as connection:
            check = verify_chain(connection, org_id=self.ctx.org_id)
        self.check(check.ok, f"audit chain broken: {check}")


def _context(web) -> Context:
    with web.db.engine.connect() as connection:
        org_id = connection.execute(
            text("SELECT id FROM organization WHERE slug = :s"), {"s": DEMO_SLUG}
        ).scalar()
    actors = {}
    with web.db.unit_of_work(all_orgs=True) as uow:
        for role in ROLES:
            user = get_user_by_email(uow.session, email=EMAIL_OF[role])
            token = create_api_token(
                uow.session, user=user, org_id=org_id, name=f"mr-{role}", scopes=ALL_SCOPES
            )
            client = TestClient(web.app, base_url=BASE_URL, headers={"Authorization": f"Bearer {token}"})
            actors[role] = Actor(role=role, user_id=user.id, client=client)
        outsider_id = get_user_by_email(uow.session, email=OTHER_ORG_ADMIN).id
    return Context(
        db=web.db, org_id=org_id, secret_key=web.app.state.secret_key, actors=actors, outsider_id=outsider_id
    )


def test_management_review_state_machine(web):
    ctx = _context(web)
    ManagementReviewMachine.ctx = ctx
    try:
        run_state_machine_as_test(
            ManagementReviewMachine,
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
            f"\nmanagement-review machine on {web.db.engine.dialect.name}: {dict(sorted(ctx.counts.items()))}"
        )
    assert ctx.violations == []
    assert ctx.counts["answer:ok"] > 0 and ctx.counts["reached:mr_closed"] >= ctx.counts["examples"]

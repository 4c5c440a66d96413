"""A Hypothesis state machine over the JSON API for any workflow whose forms hold plain fields (text,
choice, date, user): the planned changes (6.4) and the action plans (6.3). Modelled on the nonconformity
machine (nc_stateful_model.py, test_nc_stateful.py), driven by the workflow file itself: random actors fire
random triggers, legal or not, with valid or deliberately invalid forms, the current or a stale version,
the right, a wrong or no signature password. A shadow model predicts every answer (200 / 403 / 409 / 422);
after every step the database must agree with it (state, version, data, closing, tasks, audit trail) and a
refusal must change nothing but the log of a failed signature. Process-specific guards and separation rules
are given by the test as two small functions.

Longer runs: TANGUAN_STATEFUL_EXAMPLES=200 TANGUAN_STATEFUL_STEPS=50 pytest tests/web/test_*_stateful.py -s
"""

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, multiple, rule
from sqlalchemy import text

from demo.seed import DEMO_LOGINS, DEMO_PASSWORD, DEMO_SLUG
from engine.audit import verify_chain
from engine.forms.spec import FieldType, FormSpec
from engine.identity.auth import create_api_token
from engine.identity.users import get_user_by_email
from tests.web.conftest import ALL_SCOPES, BASE_URL, CATALOG, OTHER_ORG_ADMIN

EXAMPLES = int(os.environ.get("TANGUAN_STATEFUL_EXAMPLES", "8"))
STEPS = int(os.environ.get("TANGUAN_STATEFUL_STEPS", "25"))
MAX_RECORDS = 3
ROLES = [login.role.value for login in DEMO_LOGINS]
EMAIL_OF = {login.role.value: login.email for login in DEMO_LOGINS}
STATUS = {"ok": 200, "body": 422, "stale": 409, "not_available": 409, "role": 403, "separation": 403,
          "form": 422, "guard": 409, "signature": 403}  # fmt: skip
WORDS = st.text(alphabet="窑头燃烧器替代燃料余热电站基准调整abcXYZ0123-", min_size=1, max_size=20)
DATES = st.dates(min_value=date(2025, 1, 1), max_value=date(2028, 12, 31)).map(date.isoformat)
PLAIN_TYPES = (FieldType.text, FieldType.long_text, FieldType.choice, FieldType.date, FieldType.user)


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
    creator: int
    actors_of: dict[str, set[int]] = field(default_factory=dict)  # trigger → who fired it


@dataclass
class Process:
    """What the test tells the machine beyond the workflow file."""

    key: str
    guard_refuses: Callable[[str, dict[str, Any]], bool]  # (trigger, data after the form) → refused
    separated: Callable[[str, Shadow, int], bool]  # (trigger, record, actor id) → refused


@dataclass
class Context:
    db: Any
    org_id: int
    actors: dict[str, Actor]
    outsider_id: int
    process: Process
    outcomes: Counter = field(default_factory=Counter)
    reached: Counter = field(default_factory=Counter)


@dataclass
class Attempt:
    data: dict[str, Any]
    comment: str | None
    password: str | None
    form_ok: bool
    body_ok: bool
    variant: str

    def body(self, version: int) -> dict[str, Any]:
        body: dict[str, Any] = {"version": version, "data": self.data}
        if self.comment is not None:
            body["comment"] = self.comment
        if self.password is not None:
            body["signature_password"] = self.password
        return body


def _value(draw, spec, ctx: Context) -> Any:
    match spec.type:
        case FieldType.choice:
            return draw(st.sampled_from([choice.value for choice in spec.choices]))
        case FieldType.date:
            return draw(DATES)
        case FieldType.user:
            return ctx.actors[
                draw(st.sampled_from(["carbon_manager", "process_owner", "quality_manager"]))
            ].user_id
        case _:
            return draw(WORDS)


def form_data(draw, form: FormSpec | None, required: tuple[str, ...], ctx: Context, *, valid: bool):
    """(posted, form passes, variant): every required field and some optional ones, or one thing wrong."""
    if form is None:
        return {}, True, "no form"
    needed = {f.name for f in form.fields if f.required} | set(required)
    posted = {
        f.name: _value(draw, f, ctx)
        for f in form.fields
        if f.type in PLAIN_TYPES and (f.name in needed or draw(st.booleans()))
    }
    if valid:
        return posted, True, "valid"
    variants = [f"missing:{name}" for name in sorted(needed)]
    variants += [f"bad:{f.name}" for f in form.fields if f.type in (FieldType.choice, FieldType.date)]
    variants += [f"long:{f.name}" for f in form.fields if f.type in (FieldType.text, FieldType.long_text)]
    variants += [f"outsider:{f.name}" for f in form.fields if f.type == FieldType.user]
    if not variants:
        return posted, True, "valid"
    kind, _, name = draw(st.sampled_from(variants)).partition(":")
    spec = form.field(name)
    assert spec is not None
    if kind == "missing":
        posted.pop(name, None)
    elif kind == "bad":
        posted[name] = "2026-02-30" if spec.type == FieldType.date else "bogus"
    elif kind == "long":
        posted[name] = "长" * ((spec.max_length or 5000) + 1)
    else:
        posted[name] = ctx.outsider_id
    return posted, False, f"{kind}:{name}"


class ProcessMachine(RuleBasedStateMachine):
    ctx: ClassVar[Context]
    records = Bundle("records")

    def __init__(self) -> None:
        super().__init__()
        self.shadows: dict[int, Shadow] = {}
        self.workflow = CATALOG.get(self.ctx.process.key)
        self.spec = self.workflow.spec
        self.triggers = sorted({t.trigger for t in self.spec.transitions})
        self.final = {name for name, state in self.spec.states.items() if state.final}

    def counts(self) -> dict[str, int]:
        with self.ctx.db.engine.connect() as connection:
            return {
                table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar()
                for table in ("record", "audit_event", "task", "signature")
            }

    def stored(self, record_id: int) -> tuple:
        with self.ctx.db.engine.connect() as connection:
            return tuple(
                connection.execute(
                    text("SELECT state, version, data, closed_at FROM record WHERE id = :i"), {"i": record_id}
                ).one()
            )

    def predict(self, shadow: Shadow, trigger: str, actor: Actor, attempt: Attempt, version: int) -> str:
        """The answer, in the order the engine checks."""
        if not attempt.body_ok:
            return "body"
        if version != shadow.version:
            return "stale"
        spec = self.spec.transition(trigger, shadow.state)
        if spec is None:
            return "not_available"
        if actor.role not in spec.roles:
            return "role"
        if self.ctx.process.separated(trigger, shadow, actor.user_id):
            return "separation"
        if not attempt.form_ok:
            return "form"
        if self.ctx.process.guard_refuses(trigger, {**shadow.data, **attempt.data}):
            return "guard"
        if spec.signature and attempt.password != DEMO_PASSWORD:
            return "signature"
        return "ok"

    def attempt(self, draw, trigger: str, shadow: Shadow, *, valid: bool, password: str) -> Attempt:
        spec = self.spec.transition(trigger, shadow.state) or next(
            t for t in self.spec.transitions if t.trigger == trigger
        )
        form = self.workflow.forms[spec.form] if spec.form else None
        posted, form_ok, variant = form_data(draw, form, spec.required, self.ctx, valid=valid)
        comment: str | None = draw(WORDS) if spec.comment_required or draw(st.booleans()) else None
        body_ok = True
        if not valid and draw(st.integers(0, 3)) == 0:
            if spec.comment_required and draw(st.booleans()):
                comment, form_ok, variant = draw(st.sampled_from([None, "   "])), False, "no comment"
            else:
                comment, body_ok, variant = "长" * 4001, False, "comment too long"
        signature = {"right": DEMO_PASSWORD, "wrong": DEMO_PASSWORD + "x", "missing": None}[password]
        return Attempt(posted, comment, signature, form_ok, body_ok, variant)

    def fire(self, record_id: int, trigger: str, actor: Actor, attempt: Attempt, version_choice: str) -> None:
        shadow = self.shadows[record_id]
        version = {"current": shadow.version, "older": shadow.version - 1 or 5, "newer": shadow.version + 1}[
            version_choice
        ]
        expected = self.predict(shadow, trigger, actor, attempt, version)
        self.ctx.outcomes[expected] += 1
        before, row_before = self.counts(), self.stored(record_id)
        response = actor.client.post(
            f"/api/v1/records/{record_id}/transitions/{trigger}", json=attempt.body(version)
        )
        after = self.counts()
        where = f"record {record_id} in {shadow.state} v{shadow.version}: {trigger} by {actor.role}"
        where += f" ({attempt.variant})"
        assert response.status_code == STATUS[expected], f"{where}: expected {expected}, got {response.text}"
        grew = {name: after[name] - before[name] for name in after}
        if expected != "ok":
            assert response.headers["content-type"] == "application/problem+json", where
            assert self.stored(record_id) == row_before, f"{where}: refused but the record changed"
            if expected == "signature":  # the failed attempt is logged (every fifth in a row alerts)
                assert grew["record"] == grew["task"] == grew["signature"] == 0 and grew["audit_event"] in (
                    1,
                    2,
                )
            else:
                assert not any(grew.values()), f"{where}: refused but rows changed: {grew}"
            return
        spec = self.spec.transition(trigger, shadow.state)
        shadow.state, shadow.version = spec.dest, shadow.version + 1
        shadow.data = {**shadow.data, **attempt.data} if spec.form else shadow.data
        shadow.actors_of.setdefault(trigger, set()).add(actor.user_id)
        self.ctx.reached[spec.dest] += 1
        body = response.json()
        assert (body["state"], body["version"], body["data"]) == (
            shadow.state,
            shadow.version,
            shadow.data,
        ), where
        final = spec.dest in self.final
        wanted = {
            "record": 0,
            "audit_event": 1,
            "task": 0 if final else 1,
            "signature": int(bool(spec.signature)),
        }
        assert grew == wanted, f"{where}: rows grew {grew}, expected {wanted}"

    def create(self, actor: Actor, draw, *, valid: bool):
        form = self.workflow.create_form
        posted, form_ok, variant = form_data(draw, form, (), self.ctx, valid=valid)
        expected = 403 if actor.role not in self.spec.start.roles else (201 if form_ok else 422)
        before = self.counts()
        response = actor.client.post("/api/v1/records", json={"workflow": self.spec.key, "data": posted})
        grew = {name: value - before[name] for name, value in self.counts().items()}
        assert response.status_code == expected, f"create by {actor.role} ({variant}): {response.text}"
        if expected != 201:
            assert not any(grew.values()), f"create refused but rows changed: {grew}"
            return multiple()
        body = response.json()
        assert (body["state"], body["version"], body["data"]) == (self.spec.initial, 1, posted)
        assert grew == {"record": 1, "audit_event": 1, "task": 1, "signature": 0}, grew
        self.shadows[body["id"]] = Shadow(self.spec.initial, 1, posted, creator=actor.user_id)
        return multiple(body["id"])

    @initialize(target=records, data=st.data())
    def first_record(self, data):
        return self.create(self.ctx.actors["carbon_manager"], data.draw, valid=True)

    @rule(
        target=records,
        role=st.sampled_from(ROLES),
        valid=st.sampled_from([True, True, False]),
        data=st.data(),
    )
    def create_record(self, role, valid, data):
        if len(self.shadows) >= MAX_RECORDS:
            return multiple()
        return self.create(self.ctx.actors[role], data.draw, valid=valid)

    @rule(record=records, trigger=st.data(), role=st.sampled_from(ROLES),
          valid=st.sampled_from([True, False]),
          version_choice=st.sampled_from(["current", "current", "older", "newer"]),
          password=st.sampled_from(["right", "wrong", "missing"]), data=st.data())  # fmt: skip
    def fire_any(self, record, trigger, role, valid, version_choice, password, data):
        """Any trigger, legal here or not, by anyone."""
        chosen = trigger.draw(st.sampled_from(self.triggers))
        attempt = self.attempt(data.draw, chosen, self.shadows[record], valid=valid, password=password)
        self.fire(record, chosen, self.ctx.actors[role], attempt, version_choice)

    @rule(record=records, data=st.data())
    def advance(self, record, data):
        """A trigger the state offers, by a role that may fire it, valid and signed: records move on."""
        open_records = [rid for rid, shadow in self.shadows.items() if shadow.state not in self.final]
        if open_records and data.draw(st.sampled_from([True, True, True, False])):
            record = open_records[0]  # mostly the oldest open one, so that records get through the cycle
        shadow = self.shadows[record]
        offered = self.spec.transitions_from(shadow.state)
        if not offered:
            return
        # Moving on is offered more often than withdrawing, cancelling or going back.
        weighted = [t for t in offered for _ in range(1 if t.style in ("danger", "warning", "light") else 4)]
        spec = data.draw(st.sampled_from(weighted))
        role = data.draw(st.sampled_from([r for r in ROLES if r in spec.roles]))
        password = data.draw(st.sampled_from(["right"] * 4 + ["wrong"]))
        attempt = self.attempt(data.draw, spec.trigger, shadow, valid=True, password=password)
        self.fire(record, spec.trigger, self.ctx.actors[role], attempt, "current")

    @invariant()
    def database_agrees(self):
        for record_id, shadow in self.shadows.items():
            state, version, data, closed_at = self.stored(record_id)
            data = data if isinstance(data, dict) else __import__("json").loads(data)
            assert (state, version, data) == (shadow.state, shadow.version, shadow.data), record_id
            assert (closed_at is not None) == (state in self.final), record_id
            with self.ctx.db.engine.connect() as connection:
                events, last = connection.execute(
                    text(
                        "SELECT count(*), max(seq) FROM audit_event WHERE org_id = :o"
                        " AND subject_type = 'record' AND subject_id = :s AND action <> 'signature_failed'"
                    ),
                    {"o": self.ctx.org_id, "s": str(record_id)},
                ).one()
                last_state = connection.execute(
                    text("SELECT to_state FROM audit_event WHERE org_id = :o AND seq = :q"),
                    {"o": self.ctx.org_id, "q": last},
                ).scalar()
                tasks = connection.execute(
                    text("SELECT count(*), max(state) FROM task WHERE record_id = :i AND closed_at IS NULL"),
                    {"i": record_id},
                ).one()
            assert events == version and last_state == state, (record_id, events, last_state)
            assert tuple(tasks) == ((0, None) if state in self.final else (1, state)), (
                record_id,
                tuple(tasks),
            )

    def teardown(self):
        with self.ctx.db.engine.connect() as connection:
            check = verify_chain(connection, org_id=self.ctx.org_id)
        assert check.ok, check


def run(web, process: Process) -> Context:
    actors = {}
    with web.db.engine.connect() as connection:
        org_id = connection.execute(
            text("SELECT id FROM organization WHERE slug = :s"), {"s": DEMO_SLUG}
        ).scalar()
    with web.db.unit_of_work(all_orgs=True) as uow:
        for role in ROLES:
            user = get_user_by_email(uow.session, email=EMAIL_OF[role])
            token = create_api_token(
                uow.session, user=user, org_id=org_id, name=f"sm-{role}", scopes=ALL_SCOPES
            )
            client = TestClient(web.app, base_url=BASE_URL, headers={"Authorization": f"Bearer {token}"})
            actors[role] = Actor(role=role, user_id=user.id, client=client)
        outsider_id = get_user_by_email(uow.session, email=OTHER_ORG_ADMIN).id
    ctx = Context(db=web.db, org_id=org_id, actors=actors, outsider_id=outsider_id, process=process)
    machine = type(f"{process.key.title().replace('_', '')}Machine", (ProcessMachine,), {"ctx": ctx})
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            database=None,  # the database under test persists across examples; so would replays
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        ),
    )
    print(f"\n{process.key}: outcomes {dict(ctx.outcomes)}, reached {dict(ctx.reached)}")
    return ctx

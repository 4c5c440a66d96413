"""The driver of T01 (audit completeness): random operations over HTTP and the database compared before and
after each against the audit rows it appended. Used by tests/web/test_audit_completeness.py.

Operations: create a record of any process (the JSON API, as a role its start allows, with a form generated
from the process's own form file), fire a transition (signed ones with the password), upload a new version
of an evidence file, change its validity, withdraw it with a reason, and enter or correct a month of activity
data on the data grid. What the database holds of the records (state and every data field), signatures,
evidence files and activity readings is read before and after each operation; every difference is an actual
change, and it is audited when an event appended by that operation names the row with the right old and new
value (a state by ``from_state``/``to_state``, a signature by ``signature_id``)."""

import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from demo.seed import DEMO_LOGINS, DEMO_PASSWORD
from engine.audit import SYSTEM
from engine.evidence.store import store_evidence
from engine.forms.spec import FieldSpec, FieldType, FormSpec
from engine.models.base import utc_iso
from tests.web.conftest import CATALOG, api_token, bearer_client, csrf_of

EMAIL_OF = {login.role.value: login.email for login in DEMO_LOGINS}
ROLES = [role for role in EMAIL_OF if role != "external_auditor"]
WORDS = ["窑头", "余热电站", "替代燃料", "计量", "复核", "整改", "培训", "Kiln", "audit", "2026"]
UTC_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
# The catalogue's record types: nonconformity with its corrective actions, internal audit (its findings),
# management review, compliance evaluation, document versions (evidence and activity data are operations of
# their own). Each turn through the processes tries these three times, since a create can meet a guard.
RECORD_TYPES = {"nonconformity", "internal_audit", "management_review", "compliance_evaluation",
                "controlled_document"}  # fmt: skip
# Values for text fields with a pattern (codes, clause numbers, months, accuracy classes, links).
PATTERN_CANDIDATES = ["A-001", "CX-001", "MI-001", "8.6", "9.1", "2026-03", "±0.5%", "https://example.com/r"]


def _plain(value: Any) -> Any:
    """JSON as both the database and the audit payload hold it."""
    return json.loads(json.dumps(value, default=str)) if value is not None else None


@dataclass
class World:
    org_id: int
    users: list[int]
    units: list[int]
    records_of: dict[str, list[int]]
    evidence: list[int]
    sources: list[int]


@dataclass
class Tally:
    ops: Counter = field(default_factory=Counter)  # kind → attempted
    accepted: Counter = field(default_factory=Counter)  # kind → changed something
    actual: Counter = field(default_factory=Counter)  # what changed → n
    audited: Counter = field(default_factory=Counter)
    misses: list[str] = field(default_factory=list)
    processes: Counter = field(default_factory=Counter)  # workflow → records it changed
    refused: dict[str, str] = field(default_factory=dict)  # workflow → its first refused create
    events: int = 0
    bad_events: list[str] = field(default_factory=list)
    reasons_needed: int = 0
    reasons_present: int = 0
    reasons_missing: list[str] = field(default_factory=list)

    def reason(self, present: bool, detail: str) -> None:
        self.reasons_needed += 1
        self.reasons_present += present
        if not present:
            self.reasons_missing.append(detail)

    def line(self) -> str:
        actual, audited = sum(self.actual.values()), sum(self.audited.values())
        return (
            f"T01 operations {sum(self.ops.values())} ({dict(sorted(self.ops.items()))}), that changed data "
            f"{sum(self.accepted.values())} ({dict(sorted(self.accepted.items()))}); "
            f"audited changes / actual changes = {audited}/{actual} ({dict(sorted(self.actual.items()))}); "
            f"audit rows {self.events}, "
            f"with a missing actor, UTC time, old or new value: {len(self.bad_events)}; reasons present "
            f"{self.reasons_present}/{self.reasons_needed}; processes whose records changed "
            f"{len(self.processes)}/{len(CATALOG.current)}"
        )


class Driver:
    def __init__(self, web, *, seed: int) -> None:
        self.web = web
        self.rng = random.Random(seed)
        self.tally = Tally()
        self.api = {role: bearer_client(web, api_token(web, EMAIL_OF[role])) for role in ROLES}
        self.page = web.as_role("carbon_manager")
        self.csrf = csrf_of(self.page.get("/").text)
        self.world = self._world()
        self.to_create: list[str] = []
        self.pdfs: list[int] = []  # what the forms' evidence fields name: every field takes a PDF
        self._first_evidence()

    def _first_evidence(self) -> None:
        """A few PDF files for the forms to name and to version, date and withdraw (the suite's demo
        seeds none)."""
        with self.web.db.unit_of_work(org_id=self.world.org_id) as uow:
            for number in range(10):
                row = store_evidence(
                    uow.session,
                    org_id=self.world.org_id,
                    actor=SYSTEM,
                    evidence_store=self.web.settings.evidence_store,
                    filename=f"检定证书-{number}.pdf",
                    chunks=[f"%PDF-1.4\n% certificate {number}\n%%EOF\n".encode()],
                    max_bytes=self.web.settings.evidence_max_bytes,
                )
                assert row.id is not None
                self.world.evidence.append(row.id)
                self.pdfs.append(row.id)

    # ------------------------------------------------------------------------------------------- reading

    def _rows(self, sql: str, **params: Any) -> list[Any]:
        with self.web.db.engine.connect() as connection:
            return list(connection.execute(text(sql), params).all())

    def _world(self) -> World:
        org_id = self._rows("SELECT id FROM organization WHERE slug = 'xiangfeng-cement'")[0][0]
        records: dict[str, list[int]] = {}
        for key, record_id in self._rows("SELECT workflow_key, id FROM record WHERE org_id = :o", o=org_id):
            records.setdefault(key, []).append(record_id)
        return World(
            org_id=org_id,
            users=[r[0] for r in self._rows("SELECT user_id FROM membership WHERE org_id = :o", o=org_id)],
            units=[r[0] for r in self._rows("SELECT id FROM org_unit WHERE org_id = :o", o=org_id)],
            records_of=records,
            evidence=[r[0] for r in self._rows("SELECT id FROM evidence_file WHERE org_id = :o", o=org_id)],
            sources=[r[0] for r in self._rows("SELECT id FROM emission_source WHERE org_id = :o", o=org_id)],
        )

    def snapshot(self) -> dict[str, dict[Any, Any]]:
        org = self.world.org_id
        records = {
            row[0]: (row[1], _plain(json.loads(row[2]) if isinstance(row[2], str) else row[2]))
            for row in self._rows("SELECT id, state, data FROM record WHERE org_id = :o", o=org)
        }
        signatures = {row[0]: None for row in self._rows("SELECT id FROM signature WHERE org_id = :o", o=org)}
        evidence = {
            row[0]: tuple(str(value) for value in row[1:])
            for row in self._rows(
                "SELECT id, superseded_by, withdrawn_at, withdrawn_reason, owner_id, valid_from, valid_until "
                "FROM evidence_file WHERE org_id = :o",
                o=org,
            )
        }
        readings = {}
        for source_id, start, *values in self._rows(
            "SELECT source_id, period_start, quantity, tier, evidence_sha256, note FROM activity_reading "
            "WHERE org_id = :o",
            o=org,
        ):
            moment = datetime.fromisoformat(start) if isinstance(start, str) else start
            moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
            readings[f"{source_id}@{utc_iso(moment)}"] = tuple(values)
        heads = dict(self._rows("SELECT org_id, last_seq FROM audit_chain_head"))
        return {"record": records, "signature": signatures, "evidence": evidence, "reading": readings,
                "heads": heads}  # fmt: skip

    def events_since(self, heads: dict[int, int]) -> list[dict[str, Any]]:
        rows = self._rows("SELECT org_id, seq, payload FROM audit_event ORDER BY org_id, seq")
        return [json.loads(payload) for org_id, seq, payload in rows if seq > heads.get(org_id, 0)]

    # ------------------------------------------------------------------------------------------- forms

    def value(self, spec: FieldSpec) -> Any:
        rng, world = self.rng, self.world
        match spec.type:
            case FieldType.choice:
                return rng.choice(spec.choices).value
            case FieldType.multi_choice:
                return [
                    choice.value for choice in rng.sample(spec.choices, rng.randint(1, len(spec.choices)))
                ]
            case FieldType.date:
                return (date(2026, 1, 1) + timedelta(days=rng.randint(0, 700))).isoformat()
            case FieldType.user:
                return rng.choice(world.users)
            case FieldType.org_unit:
                return rng.choice(world.units)
            case FieldType.clause:
                return rng.choice(["6.3", "8.6", "9.1", "10.1"])
            case FieldType.record_link:
                pool = world.records_of.get(spec.records_of or "", []) if spec.records_of else [
                    i for ids in world.records_of.values() for i in ids
                ]  # fmt: skip
                return rng.choice(pool) if pool else None
            case FieldType.evidence:
                return rng.choice(self.pdfs)
            case FieldType.number:
                low = spec.min if spec.min is not None else Decimal(0)
                high = spec.max if spec.max is not None else low + 1000
                return str(round(low + (high - low) * Decimal(rng.random()), 2))
            case FieldType.table:
                count = max(spec.min_rows, 1) + rng.randint(0, 1)
                return [self.form_values(spec.columns, everything=True) for _ in range(count)]
            case _:
                if spec.pattern:
                    fits = [c for c in PATTERN_CANDIDATES if re.fullmatch(spec.pattern, c)]
                    return rng.choice(fits) if fits else None
                words = "".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3)))
                return f"{words}{rng.randint(1, 99999)}"[: spec.max_length or 200]

    def form_values(self, fields: tuple[FieldSpec, ...], *, required: tuple[str, ...] = (),
                    everything: bool = False) -> dict[str, Any]:  # fmt: skip
        values = {}
        for spec in fields:
            if everything or spec.required or spec.name in required or self.rng.random() < 0.5:
                value = self.value(spec)
                if value is not None:
                    values[spec.name] = value
        return values

    # ------------------------------------------------------------------------------------------- operations

    def create(self) -> tuple[str, Any]:
        if not self.to_create:  # every process in turn, in a shuffled order
            self.to_create = sorted(CATALOG.current) + sorted(RECORD_TYPES) * 2
            self.rng.shuffle(self.to_create)
        key = self.to_create.pop()
        workflow = CATALOG.current[key]
        role = self.rng.choice(workflow.spec.start.roles)
        form: FormSpec = workflow.create_form
        data = self.form_values(form.fields)
        answer = self.api[role].post("/api/v1/records", json={"workflow": key, "data": data})
        if answer.status_code == 201:
            self.world.records_of.setdefault(key, []).append(answer.json()["id"])
        else:
            self.tally.refused.setdefault(key, answer.text[:300])
        return "create", answer

    def transition(self) -> tuple[str, Any]:
        key = self.rng.choice(sorted(self.world.records_of))
        record_id = self.rng.choice(self.world.records_of[key])
        record = self.api["admin"].get(f"/api/v1/records/{record_id}").json()
        workflow = CATALOG.current[key]
        choices = [t for t in workflow.spec.transitions if record["state"] in t.source]
        if not choices:
            return "create", self.create()[1]
        signing = [t for t in choices if t.signature]
        spec = self.rng.choice(signing if signing and self.rng.random() < 0.5 else choices)
        role = self.rng.choice([r for r in spec.roles if r in self.api] or ["admin"])
        form = workflow.forms.get(spec.form) if spec.form else None
        body: dict[str, Any] = {
            "version": record["version"],
            "data": self.form_values(form.fields, required=spec.required) if form else {},
        }
        if spec.comment_required or self.rng.random() < 0.3:
            body["comment"] = "按计划推进" if not spec.comment_required else "因现场条件变化需要调整"
        if spec.signature:
            body["signature_password"] = DEMO_PASSWORD
        answer = self.api[role].post(f"/api/v1/records/{record_id}/transitions/{spec.trigger}", json=body)
        return ("sign" if spec.signature else "transition"), answer

    def upload(self) -> tuple[str, Any]:
        evidence_id = self.rng.choice(self.world.evidence)
        content = f"meter,kWh\nM-{self.rng.randint(1, 99)},{self.rng.randint(1, 10**9)}\n".encode()
        answer = self.page.post(
            f"/evidence-items/{evidence_id}/version",
            data={"csrf_token": self.csrf, "valid_until": "2027-12-31"},
            files={"file": ("抄表单.csv", content, "text/csv")},
        )
        if answer.status_code == 303:
            self.world.evidence.append(int(answer.headers["location"].rsplit("/", 1)[1]))
        return "upload", answer

    def evidence_change(self) -> tuple[str, Any]:
        evidence_id = self.rng.choice(self.world.evidence)
        if self.rng.random() < 0.7:  # withdrawing is rarer: a withdrawn file takes no new version
            until = (date(2026, 6, 1) + timedelta(days=self.rng.randint(0, 900))).isoformat()
            data = {"csrf_token": self.csrf, "valid_until": until}
            return "evidence_period", self.page.post(f"/evidence-items/{evidence_id}/period", data=data)
        data = {"csrf_token": self.csrf, "reason": "上传错误，撤回"}
        return "evidence_withdraw", self.page.post(f"/evidence-items/{evidence_id}/withdraw", data=data)

    def reading(self) -> tuple[str, Any]:
        source_id = self.rng.choice(self.world.sources)
        year = self.rng.choice([2025, 2026])
        period = f"{year}-{self.rng.randint(1, 12):02d}"
        data = {
            "csrf_token": self.csrf,
            "year": str(year),
            f"q-{source_id}-{period}": str(self.rng.randint(1, 50000)),
            f"o-{source_id}-{period}": "",
            "reason": "抄表数据更正",
        }
        return "reading", self.page.post("/emissions/data", data=data)

    # ------------------------------------------------------------------------------------------- checking

    def run(self, operations: int) -> Tally:
        kinds = [self.create] * 3 + [self.transition] * 6 + [self.upload, self.evidence_change, self.reading]
        for _ in range(operations):
            before = self.snapshot()
            kind, answer = self.rng.choice(kinds)()
            assert answer.status_code < 500, (kind, answer.status_code, answer.text[:500])
            after = self.snapshot()
            events = self.events_since(before["heads"])
            self.tally.ops[kind] += 1
            if self.compare(before, after, events, kind=kind):
                self.tally.accepted[kind] += 1
        return self.tally

    def _check_event(self, event: dict[str, Any]) -> None:
        problems = []
        if event.get("actor_id") is None or not event.get("actor_name"):
            problems.append("actor")
        if not UTC_ISO.match(str(event.get("ts"))):
            problems.append("ts")
        for name, pair in (event.get("changes") or {}).items():
            if not isinstance(pair, list) or len(pair) != 2 or pair[0] == pair[1]:
                problems.append(f"change {name}")
        if problems:
            self.tally.bad_events.append(f"{event['subject_type']} {event['action']}: {problems}")

    def compare(self, before, after, events, *, kind: str) -> bool:
        tally = self.tally
        tally.events += len(events)
        for event in events:
            self._check_event(event)
        by_subject: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for event in events:
            by_subject.setdefault((event["subject_type"], event["subject_id"]), []).append(event)
        changed = False

        def count(what: str, ok: bool, detail: str) -> None:
            tally.actual[what] += 1
            tally.audited[what] += ok
            if not ok:
                tally.misses.append(f"{kind}: {detail}")

        for record_id, (state, data) in after["record"].items():
            old_state, old_data = before["record"].get(record_id, (None, {}))
            if (state, data) == (old_state, old_data):
                continue
            changed = True
            tally.processes[self._workflow_of(record_id)] += 1
            trail = by_subject.get(("record", str(record_id)), [])
            if state != old_state:
                ok = any(e["to_state"] == state for e in trail) and any(
                    e["from_state"] == old_state for e in trail
                )
                count("record state", ok, f"record {record_id} {old_state} → {state}")
            for name in sorted(set(data) | set(old_data)):
                old, new = old_data.get(name), data.get(name)
                if old == new:
                    continue
                pairs = [e["changes"][name] for e in trail if name in (e.get("changes") or {})]
                ok = bool(pairs) and _plain(pairs[0][0]) == old and _plain(pairs[-1][1]) == new
                count("record field", ok, f"record {record_id} {name}: {old!r} → {new!r}")
        for signature_id in set(after["signature"]) - set(before["signature"]):
            changed = True
            ok = any(e.get("signature_id") == signature_id for e in events)
            count("signature", ok, f"signature {signature_id}")
        for evidence_id, row in after["evidence"].items():
            old = before["evidence"].get(evidence_id)
            if row == old:
                continue
            changed = True
            named = {str(evidence_id), row[0], old[0] if old else "None"} - {"None"}
            ok = any(("evidence", name) in by_subject for name in named)
            count("evidence", ok, f"evidence {evidence_id}: {old} → {row}")
            if row[1] != "None" and (old is None or old[1] == "None"):  # withdrawn: a reason is required
                present = any(e.get("reason") for e in by_subject.get(("evidence", str(evidence_id)), []))
                tally.reason(present, f"evidence {evidence_id} withdrawn")
        for key, row in after["reading"].items():
            old = before["reading"].get(key)
            if row == old:
                continue
            changed = True
            trail = by_subject.get(("activity_reading", key), [])
            count("activity reading", bool(trail), f"reading {key}: {old} → {row}")
            if old is not None:  # a correction: the grid asks for a reason, and the trail keeps it
                tally.reason(any(e.get("reason") for e in trail), f"reading {key} corrected")
        for event in events:
            if event["subject_type"] == "record" and event.get("from_state") is not None:
                workflow = CATALOG.current.get(self._workflow_of(int(event["subject_id"])))
                spec = workflow.spec.transition(event["action"], event["from_state"]) if workflow else None
                if spec is not None and spec.comment_required:
                    tally.reason(bool(event.get("reason")), f"record {event['subject_id']} {event['action']}")
        return changed

    def _workflow_of(self, record_id: int) -> str:
        known = next((key for key, ids in self.world.records_of.items() if record_id in ids), None)
        if known is None:  # a record a policy made (a nonconformity opened by an evaluation, say)
            known = self._rows("SELECT workflow_key FROM record WHERE id = :i", i=record_id)[0][0]
            self.world.records_of.setdefault(known, []).append(record_id)
        return known

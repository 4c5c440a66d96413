"""`python -m bench.load`: RELIABILITY T28 — bounded load on localhost; one `name: value unit` per line.

``--users`` (50) asyncio clients (httpx) against ``tanguan serve`` (one worker) over the seeded demo, on
SQLite and, when TANGUAN_TEST_POSTGRES_URL is set, on PostgreSQL, for ``--minutes`` (10) or ``--seconds``.
Each user, like a person at a browser (and like a locust user with ``between(1, 2)``), thinks 1–2 s
(``--think-min``/``--think-max``) after each answer, then picks by weight:

- 80 % reads: the nonconformity list, a record page, the list's htmx partial (``HX-Request``), the dashboard;
- 15 % form writes: a nonconformity reported through the HTML form (CSRF token, 303 to the new record);
- 5 % transitions and uploads: ``assess`` on one of the user's own reported nonconformities (the form with its
  version), or, one time in three, an evidence file (a small PDF, different each time) attached to a source's
  month through the data page's multipart form.

``--think-max 0`` drops the think time: every user fires its next request as soon as the last is answered,
a stress run that measures the server's capacity (the queue), not the latency people see.

Reported per class: requests, p50/p95/p99 (ms), then the rate, 5xx answers, transport errors and other
refusals. Afterwards, read from the database: every record the users saw created exists, in the state
their last successful transition left it (lost updates: 0), with one ``create`` and at most one
``assess`` audit row each; every upload the users saw accepted is stored with its SHA-256, one audited
``uploaded`` event each; and the audit chain verifies.

The catalogue's goals (RELIABILITY T28): 5xx 0, reads p95 < 200 ms and p99 < 400 ms, writes p95 < 500 ms;
the figures are printed whether met or not (``*_goal_met: 0/1``)."""

import argparse
import asyncio
import hashlib
import os
import random
import re
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import httpx
from sqlalchemy import text

from bench.http import sign_in
from bench.signing import demo_server, percentile, scratch_schema
from engine.audit import verify_chain
from engine.config import Settings
from engine.db import Database
from web.deps import SESSION_COOKIE

CSRF = re.compile(r'name="csrf(?:-token" content|_token" value)="([^"]+)"')
VERSION = re.compile(r'name="version" value="(\d+)"')
RECORD_LINK = re.compile(r'href="/r/(\d+)"')
SOURCE_OPTION = re.compile(r'<select id="e-source" name="source_id">(.*?)</select>', re.S)
OPTION_VALUE = re.compile(r'<option value="(\d+)"')
UPLOAD_SHARE = 3  # one transition-class action in three is an upload
ACCOUNTS = ("carbon@xiangfeng.example", "quality@xiangfeng.example")  # both may report and assess
UPLOADERS = frozenset({"carbon@xiangfeng.example"})  # a data editor: may attach evidence to a month
SESSIONS = 10  # signed in before the clock starts; each shared by users / SESSIONS users
CLASSES = ("read", "form", "transition")
WEIGHTS = (80, 15, 5)
GOALS = {"read": (200.0, 400.0), "form": (500.0, None), "transition": (500.0, None)}  # p95, p99 (ms)
TIMEOUT_S = 120.0


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    server_errors: int = 0
    transport_errors: int = 0
    refused: list[str] = field(default_factory=list)
    expected: dict[int, str] = field(default_factory=dict)  # record id → the state the users left it in
    assessed: set[int] = field(default_factory=set)
    uploaded: set[str] = field(default_factory=set)  # SHA-256 of every upload answered 303


@dataclass(frozen=True)
class Pace:
    think_min: float = 1.0
    think_max: float = 2.0


@dataclass(frozen=True)
class Targets:
    record_ids: list[int]
    source_ids: list[int]
    year: int


class User:
    def __init__(
        self,
        client: httpx.AsyncClient,
        csrf: str,
        tally: Tally,
        rng: random.Random,
        targets: Targets,
        name: str,
        may_upload: bool,
    ):
        self.client, self.csrf, self.tally, self.rng = client, csrf, tally, rng
        self.ids, self.targets, self.name, self.may_upload = targets.record_ids, targets, name, may_upload
        self.reported: list[int] = []  # this user's nonconformities still in "reported"

    async def _timed(self, kind: str, method: str, url: str, **kwargs) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response = await self.client.request(method, url, **kwargs)
        except httpx.TransportError as error:
            self.tally.transport_errors += 1
            self.tally.refused.append(f"{kind} {url}: {type(error).__name__}")
            return None
        self.tally.latencies[kind].append((time.perf_counter() - started) * 1000)
        if response.status_code >= 500:
            self.tally.server_errors += 1
        return response

    async def read(self) -> None:
        choice = self.rng.randrange(4)
        if choice == 0:
            response = await self._timed("read", "GET", "/records/nonconformity")
        elif choice == 1:
            response = await self._timed("read", "GET", f"/r/{self.rng.choice(self.ids)}")
        elif choice == 2:
            response = await self._timed(
                "read", "GET", "/records/nonconformity", headers={"HX-Request": "true"}
            )
        else:
            response = await self._timed("read", "GET", "/")
        if response is not None and response.status_code != 200:
            self.tally.refused.append(f"read {response.request.url.path}: {response.status_code}")

    async def report(self, number: int) -> None:
        form = {
            "csrf_token": self.csrf,
            "title": f"负载测试不符合 {number}",
            "source": "monitoring",
            "description": "T28 有界负载测试通过网页表单报告的不符合",
            "found_on": date.today().isoformat(),
        }
        response = await self._timed("form", "POST", "/records/nonconformity", data=form)
        if response is None:
            return
        if response.status_code != 303:
            self.tally.refused.append(f"form: {response.status_code} {response.text[:200]!r}")
            return
        record_id = int(response.headers["location"].rsplit("/", 1)[1])
        self.tally.expected[record_id] = "reported"
        self.reported.append(record_id)
        self.ids.append(record_id)

    async def assess(self) -> None:
        if not self.reported:
            return await self.report(self.rng.randrange(10**6))
        record_id = self.reported.pop(0)
        page = await self.client.get(f"/r/{record_id}/transition/assess")
        version = VERSION.search(page.text)
        if page.status_code != 200 or version is None:
            self.tally.refused.append(f"transition form {record_id}: {page.status_code}")
            return
        form = {
            "csrf_token": self.csrf,
            "version": version.group(1),
            "severity": "minor",
            "containment": "隔离相关批次并复核",
        }
        response = await self._timed("transition", "POST", f"/r/{record_id}/transition/assess", data=form)
        if response is not None and response.status_code == 303:
            self.tally.expected[record_id] = "assessed"
            self.tally.assessed.add(record_id)
        elif response is not None:
            self.tally.refused.append(
                f"transition {record_id}: {response.status_code} {response.text[:200]!r}"
            )

    async def upload(self, number: int) -> None:
        body = b"%PDF-1.4\n% T28 " + f"{self.name} {number} {self.rng.random()}".encode() + b"\n%%EOF\n"
        form = {
            "csrf_token": self.csrf,
            "source_id": str(self.rng.choice(self.targets.source_ids)),
            "period": f"{self.targets.year}-{self.rng.randrange(1, 13):02d}",
        }
        files = {"evidence": (f"meter-{number}.pdf", body, "application/pdf")}
        response = await self._timed("transition", "POST", "/emissions/data/evidence", data=form, files=files)
        if response is not None and response.status_code == 303:
            self.tally.uploaded.add(hashlib.sha256(body).hexdigest())
        elif response is not None:
            self.tally.refused.append(f"upload: {response.status_code} {response.text[:200]!r}")

    async def run(self, until: float, pace: Pace) -> None:
        # Users arrive spread over the first think time, not all in the same millisecond (as a locust crowd
        # spawns); without think time they all start at once.
        await asyncio.sleep(self.rng.uniform(0, pace.think_max))
        number = 0
        while time.monotonic() < until:
            kind = self.rng.choices(CLASSES, WEIGHTS)[0]
            number += 1
            if kind == "read":
                await self.read()
            elif kind == "form":
                await self.report(number)
            elif self.may_upload and self.targets.source_ids and self.rng.randrange(UPLOAD_SHARE) == 0:
                await self.upload(number)
            else:
                await self.assess()
            if pace.think_max > 0:
                await asyncio.sleep(self.rng.uniform(pace.think_min, pace.think_max))


async def _drive(
    base_url: str, *, users: int, seconds: float, seed: int, pace: Pace = Pace()
) -> tuple[Tally, float]:
    tokens = [sign_in(base_url, ACCOUNTS[n % len(ACCOUNTS)]) for n in range(SESSIONS)]
    tally = Tally()
    limits = httpx.Limits(max_connections=users + 10, max_keepalive_connections=users + 10)
    clients = [
        httpx.AsyncClient(
            base_url=base_url, cookies={SESSION_COOKIE: token}, timeout=TIMEOUT_S, limits=limits
        )
        for token in tokens
    ]
    try:
        csrf_tokens, ids = [], []
        for client in clients:
            page = await client.get("/records/nonconformity/new")
            match = CSRF.search(page.text)
            if page.status_code != 200 or match is None:
                raise SystemExit(f"bench.load: the report form answered {page.status_code}")
            csrf_tokens.append(match.group(1))
        listing = await clients[0].get("/records/nonconformity")
        ids = [int(found) for found in RECORD_LINK.findall(listing.text)] or [1]
        year = date.today().year - 1  # a year the demo has readings for
        grid = await clients[0].get(f"/emissions/data?year={year}")
        select = SOURCE_OPTION.search(grid.text)
        sources = [int(found) for found in OPTION_VALUE.findall(select.group(1))] if select else []
        targets = Targets(record_ids=ids, source_ids=sources, year=year)
        rng = random.Random(seed)
        crowd = [
            User(
                clients[n % SESSIONS],
                csrf_tokens[n % SESSIONS],
                tally,
                random.Random(rng.random()),
                targets,
                name=f"user{n}",
                may_upload=ACCOUNTS[(n % SESSIONS) % len(ACCOUNTS)] in UPLOADERS,
            )
            for n in range(users)
        ]
        started = time.monotonic()
        await asyncio.gather(*(user.run(started + seconds, pace) for user in crowd))
        elapsed = time.monotonic() - started
    finally:
        for client in clients:
            await client.aclose()
    return tally, elapsed


@dataclass
class Afterwards:
    records_checked: int
    lost_updates: int
    audit_mismatches: int
    chain_ok: bool
    uploads_checked: int = 0
    uploads_missing: int = 0  # accepted uploads without their stored file row or their audit event


def check_database(url: str, tally: Tally) -> Afterwards:
    """What the users saw committed, against the database; and the chains."""
    database = Database(url)
    lost = mismatched = 0
    chain_ok = True
    try:
        with database.engine.connect() as connection:
            for record_id, state in tally.expected.items():
                row = connection.execute(
                    text("SELECT state FROM record WHERE id = :r"), {"r": record_id}
                ).first()
                if row is None or row.state != state:
                    lost += 1
                actions = dict(
                    connection.execute(
                        text(
                            "SELECT action, count(*) FROM audit_event WHERE subject_type = 'record' "
                            "AND subject_id = :r GROUP BY action"
                        ),
                        {"r": str(record_id)},
                    ).all()
                )
                wanted = {"create": 1, **({"assess": 1} if record_id in tally.assessed else {})}
                if {key: actions.get(key, 0) for key in ("create", "assess")} != {
                    "create": wanted["create"],
                    "assess": wanted.get("assess", 0),
                }:
                    mismatched += 1
            missing_uploads = 0
            for sha256 in tally.uploaded:
                stored = connection.execute(
                    text("SELECT id FROM evidence_file WHERE sha256 = :h"), {"h": sha256}
                ).first()
                audited = (
                    stored is not None
                    and connection.execute(
                        text(
                            "SELECT count(*) FROM audit_event WHERE subject_type = 'evidence' "
                            "AND subject_id = :e AND action = 'uploaded'"
                        ),
                        {"e": str(stored.id)},
                    ).scalar()
                    == 1
                )
                missing_uploads += 0 if audited else 1
            for (org_id,) in connection.execute(text("SELECT id FROM organization")).all():
                chain_ok = chain_ok and verify_chain(connection, org_id=org_id).ok
    finally:
        database.dispose()
    return Afterwards(len(tally.expected), lost, mismatched, chain_ok, len(tally.uploaded), missing_uploads)


def figures(backend: str, tally: Tally, elapsed: float, after: Afterwards, users: int) -> list[str]:
    name = f"t28_{backend}"
    total = sum(len(values) for values in tally.latencies.values())
    lines = [
        f"{name}_users: {users} users",
        f"{name}_duration: {elapsed:.0f} s",
        f"{name}_requests: {total} requests",
        f"{name}_rate: {total / elapsed:.1f} requests/s",
    ]
    for kind in CLASSES:
        values = tally.latencies[kind]
        p95, p99 = percentile(values, 0.95), percentile(values, 0.99)
        goal95, goal99 = GOALS[kind]
        met = p95 < goal95 and (goal99 is None or p99 < goal99)
        lines += [
            f"{name}_{kind}_requests: {len(values)} requests",
            f"{name}_{kind}_p50: {percentile(values, 0.5):.0f} ms",
            f"{name}_{kind}_p95: {p95:.0f} ms",
            f"{name}_{kind}_p99: {p99:.0f} ms",
            f"{name}_{kind}_goal_met: {int(met)} (p95 < {goal95:.0f} ms"
            + (f", p99 < {goal99:.0f} ms)" if goal99 else ")"),
        ]
    lines += [
        f"{name}_server_errors: {tally.server_errors} answers",
        f"{name}_transport_errors: {tally.transport_errors} requests",
        f"{name}_refused: {len(tally.refused)} answers",
        f"{name}_records_checked: {after.records_checked} records",
        f"{name}_uploads_checked: {after.uploads_checked} files",
        f"{name}_uploads_missing: {after.uploads_missing} files",
        f"{name}_lost_updates: {after.lost_updates} records",
        f"{name}_audit_mismatches: {after.audit_mismatches} records",
        f"{name}_chain_verified: {int(after.chain_ok)} ok",
    ]
    return lines


@dataclass
class LoadRun:
    lines: list[str]
    tally: Tally
    after: Afterwards


def run_load(
    backend: str,
    *,
    users: int,
    seconds: float,
    postgres_url: str | None = None,
    seed: int = 28,
    pace: Pace = Pace(),
) -> LoadRun:
    """One run against a fresh demo server on ``backend``."""
    with (
        scratch_schema(postgres_url if backend == "postgresql" else None) as url,
        demo_server(database_url=url) as server,
    ):
        tally, elapsed = asyncio.run(
            _drive(server.base_url, users=users, seconds=seconds, seed=seed, pace=pace)
        )
        data_dir = Path(server.log_path).parent / "var"
        effective = Settings(data_dir=data_dir, database_url=url).effective_database_url
        after = check_database(effective, tally)
        if "database is locked" in server.log():
            tally.refused.append("the server log says 'database is locked'")
    return LoadRun(figures(backend, tally, elapsed, after, users), tally, after)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, help="instead of --minutes")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--think-min", type=float, default=1.0, help="seconds a user thinks, at least")
    parser.add_argument(
        "--think-max", type=float, default=2.0, help="at most (0: no think time, a stress run)"
    )
    options = parser.parse_args(argv)
    seconds = options.seconds if options.seconds else options.minutes * 60
    postgres = os.environ.get("TANGUAN_TEST_POSTGRES_URL")
    backends = ["sqlite", "postgresql"] if options.backend == "both" else [options.backend]
    if not postgres:
        backends = [backend for backend in backends if backend != "postgresql"]
    failed = False
    for backend in backends:
        pace = Pace(think_min=min(options.think_min, options.think_max), think_max=options.think_max)
        run = run_load(backend, users=options.users, seconds=seconds, postgres_url=postgres, pace=pace)
        for line in run.lines:
            print(line, flush=True)
        for refusal in run.tally.refused[:10]:
            print(f"# {refusal}")
        failed = failed or run.tally.server_errors > 0 or run.after.lost_updates > 0 or not run.after.chain_ok
        failed = failed or run.after.uploads_missing > 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

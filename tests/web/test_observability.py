"""Observability (docs/adr/0038): a JSON log line per request and per scheduler job run, the request id
header, /metrics in Prometheus text for the local machine or a token, /healthz and /readyz (failing when
the database is unreachable, the schema behind, or the evidence store not writable)."""

import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from engine.config import Settings
from engine.db import Database
from engine.forms.spec import Text
from engine.observability import JOB_LOG, REQUEST_LOG
from engine.records.display import CHINA_TIME
from engine.scheduler.registry import ScheduledJob
from engine.scheduler.runner import run_jobs
from tests.web.conftest import BASE_URL, CATALOG, SECRET_KEY, csrf_of
from web.app import create_app

TOKEN = "metrics-token-of-the-observability-tests"


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(record.getMessage()))  # every line is one JSON object


def _captured(logger: logging.Logger) -> Iterator[list[dict]]:
    handler = Lines()
    logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)


@pytest.fixture
def request_lines() -> Iterator[list[dict]]:
    yield from _captured(REQUEST_LOG)


@pytest.fixture
def job_lines() -> Iterator[list[dict]]:
    yield from _captured(JOB_LOG)


def _local(app, **headers) -> TestClient:
    """A client on the instance's own machine (127.0.0.1), as a scraper beside it."""
    return TestClient(app, base_url=BASE_URL, client=("127.0.0.1", 50000), headers=headers)


def _metrics(response) -> dict:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def test_every_request_logs_one_json_line_and_answers_with_its_request_id(web, request_lines):
    client = web.as_role("staff")
    request_lines.clear()
    page = client.get("/records/nonconformity")
    assert page.status_code == 200
    generated = page.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    (line,) = request_lines
    assert line["event"] == "request" and line["request_id"] == generated
    assert line["route"] == "/records/{workflow_key}" and line["method"] == "GET" and line["status"] == 200
    assert line["org"] == "xiangfeng-cement" and isinstance(line["user_id"], int)
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] > 0
    assert line["ts"].endswith("Z") and datetime.fromisoformat(line["ts"]).tzinfo is not None

    # A well-formed id from the proxy or the client is kept; anything else is replaced.
    kept = client.get("/ping", headers={"X-Request-ID": "nginx-7f3a9c2e41b0"})
    assert kept.headers["x-request-id"] == "nginx-7f3a9c2e41b0"
    for bad in ("short", "has space in it", "x" * 200, "<script>alert(1)</script>"):
        replaced = client.get("/ping", headers={"X-Request-ID": bad})
        assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"])
    # A path no route answers, a redirect and a refused form: their status, one bounded route label.
    anonymous = web.client()
    assert anonymous.get("/no/such/page").status_code == 404
    assert anonymous.get("/").status_code == 303
    token = csrf_of(anonymous.get("/login").text)
    assert anonymous.post(
        "/login", data={"email": "x@y.z", "password": "no", "csrf_token": token}
    ).status_code
    routes = [(line["route"], line["status"], line["user_id"]) for line in request_lines[-4:]]
    assert routes[:3] == [("(unmatched)", 404, None), ("/", 303, None), ("/login", 200, None)]


def test_metrics_are_prometheus_text_for_the_local_machine_or_a_token(web, backend):
    settings = web.settings.model_copy(update={"metrics_token": TOKEN})
    app = create_app(settings=settings, db=web.db, catalog=CATALOG)
    local = _local(app)
    for _ in range(3):
        assert local.get("/ping").status_code == 200
    assert local.get("/no/such/page").status_code == 404
    assert local.get("/healthz").status_code == 200
    families = _metrics(local.get("/metrics"))
    latency = families["tanguan_http_request_duration_seconds"]
    assert latency.type == "histogram"
    pings = {
        sample.labels["le"]: sample.value
        for sample in latency.samples
        if sample.name.endswith("_bucket") and sample.labels["route"] == "/ping"
    }
    assert pings["+Inf"] >= 3 and all(
        s.labels["status_class"] in {"2xx", "3xx", "4xx", "5xx"} for s in latency.samples
    )
    assert any(
        s.labels["route"] == "(unmatched)" and s.labels["status_class"] == "4xx" for s in latency.samples
    )
    assert any(s.labels["route"] == "/healthz" and s.labels["status_class"] == "2xx" for s in latency.samples)
    assert "tanguan_scheduler_job_runs" in families and "tanguan_scheduler_job_failures" in families

    # Overdue tasks per organization, the same as counted directly.
    with web.db.engine.connect() as connection:
        expected = dict(
            connection.execute(
                text(
                    "SELECT o.slug, count(*) FROM task t JOIN organization o ON o.id = t.org_id "
                    "WHERE t.closed_at IS NULL AND t.due_date < :today GROUP BY o.slug"
                ),
                {"today": datetime.now(CHINA_TIME).date().isoformat()},
            ).all()
        )
    overdue = {s.labels["organization"]: s.value for s in families["tanguan_overdue_tasks"].samples}
    assert overdue == {slug: float(count) for slug, count in expected.items()}

    # The outbox's backlog, as counted directly.
    with web.db.engine.connect() as connection:
        waiting, given_up = connection.execute(
            text(
                "SELECT count(*) FILTER (WHERE attempts < 5), count(*) FILTER (WHERE attempts >= 5) "
                "FROM event_outbox WHERE dispatched_at IS NULL"
            )
        ).one()
    backlog = {s.labels["state"]: s.value for s in families["tanguan_outbox_events"].samples}
    assert backlog == {"waiting": float(waiting), "given_up": float(given_up)}

    # Anyone else: with the token only.
    remote = TestClient(app, base_url=BASE_URL)  # the client's address is not the local machine's
    refused = remote.get("/metrics")
    assert refused.status_code == 403 and "TANGUAN_METRICS_TOKEN" in refused.text
    assert remote.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert _metrics(remote.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}))
    untokened = create_app(settings=web.settings, db=web.db, catalog=CATALOG)
    assert TestClient(untokened).get("/metrics", headers={"Authorization": "Bearer "}).status_code == 403


def test_health_and_readiness(web):
    client = web.client()
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ready"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "migrations": True,
        "storage": True,
        "clock": True,
    }
    # Without TANGUAN_NTP_SERVERS the clock is not checked, and said so (test_time_source.py checks it).
    clock = body["checks"]["clock"]
    assert clock["checked"] is False and "TANGUAN_NTP_SERVERS" in clock["note"]


def test_readiness_fails_when_the_database_is_unreachable(backend, tmp_path):
    url = (
        f"sqlite:///{tmp_path / 'no-such-folder' / 'tanguan.sqlite3'}"
        if backend == "sqlite"
        else "postgresql+psycopg://postgres@127.0.0.1:1/test?connect_timeout=2"  # nothing listens on port 1
    )
    settings = Settings(data_dir=tmp_path / "var", database_url=url, secret_key=SECRET_KEY)
    db = Database(url)
    app = create_app(settings=settings, db=db, catalog=CATALOG)
    client = TestClient(app, base_url=BASE_URL)  # no lifespan: the app never reached the database
    assert client.get("/healthz").status_code == 200  # the process is up
    ready = client.get("/readyz")
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert ready.json()["status"] == "not ready"
    assert checks["database"]["ok"] is False and checks["migrations"]["ok"] is False
    assert checks["storage"]["ok"] is True
    families = _metrics(_local(app).get("/metrics"))  # still scraped: the overdue count is left out
    assert "tanguan_http_request_duration_seconds" in families
    assert not families["tanguan_overdue_tasks"].samples
    db.dispose()


def test_readiness_fails_when_the_schema_is_behind_or_the_store_is_not_writable(
    backend, database_url, tmp_path, s3_endpoint
):
    db = Database(database_url)  # reachable, never migrated
    settings = Settings(
        data_dir=tmp_path / "var",
        database_url=database_url,
        secret_key=SECRET_KEY,
        storage_url=f"s3://no-such-bucket-here/evidence?endpoint={s3_endpoint}",
    )
    client = TestClient(create_app(settings=settings, db=db, catalog=CATALOG), base_url=BASE_URL)
    ready = client.get("/readyz")
    checks = ready.json()["checks"]
    assert ready.status_code == 503
    assert checks["database"]["ok"] is True
    assert checks["migrations"] == {"ok": False, "current": None, "head": checks["migrations"]["head"]}
    assert checks["storage"]["ok"] is False and "no-such-bucket-here" in checks["storage"]["where"]
    db.dispose()


def _failing(_context) -> Iterator[str]:
    raise RuntimeError("boom")
    yield "never"


def test_every_job_run_logs_one_json_line_and_counts(web, job_lines):
    from engine.observability import JOB_FAILURES, JOB_RUNS

    def fine(_context) -> Iterator[str]:
        yield "做了一件事"

    jobs = [
        ScheduledJob("obs_fine", Text(zh="好", en="fine"), fine),
        ScheduledJob("obs_failing", Text(zh="坏", en="failing"), _failing, per_org=False),
    ]
    runs_before = JOB_RUNS.labels("obs_fine", "ok")._value.get()
    failures_before = JOB_FAILURES.labels("obs_failing")._value.get()
    now = datetime(2027, 3, 2, 2, 0, 30, tzinfo=UTC)
    run_jobs(web.db, now=now, settings=web.settings, jobs=jobs)
    with web.db.engine.connect() as connection:
        orgs = connection.execute(text("SELECT count(*) FROM organization")).scalar()
    fine_lines = [line for line in job_lines if line["job"] == "obs_fine"]
    assert len(fine_lines) == orgs and {line["outcome"] for line in fine_lines} == {"ok"}
    assert all(line["actions"] == 1 and line["period"] == "2027-03-02T02:00:00+00:00" for line in fine_lines)
    assert "xiangfeng-cement" in {line["org"] for line in fine_lines}
    (failed,) = [line for line in job_lines if line["job"] == "obs_failing"]
    assert failed["outcome"] == "failed" and failed["org"] == "" and failed["duration_ms"] >= 0
    assert JOB_RUNS.labels("obs_fine", "ok")._value.get() == runs_before + orgs
    assert JOB_FAILURES.labels("obs_failing")._value.get() == failures_before + 1


def test_an_unhandled_error_is_logged_as_a_500_with_its_route(web, request_lines):
    def boom() -> None:
        raise RuntimeError("boom")

    web.app.add_api_route("/obs-boom/{n}", boom)
    client = TestClient(web.app, base_url=BASE_URL, raise_server_exceptions=False)
    assert client.get("/obs-boom/1").status_code == 500
    (line,) = [line for line in request_lines if line["route"] == "/obs-boom/{n}"]
    assert line["status"] == 500 and re.fullmatch(r"[0-9a-f]{32}", line["request_id"])

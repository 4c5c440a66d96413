"""What an operator watches (docs/adr/0038): one JSON line per request, per scheduler job run and per security
alert (docs/adr/0046), and the Prometheus metrics behind ``/metrics``. The web layer (web/observability.py)
times requests; the scheduler's runner times jobs; both land here.

Metrics live in this process's registry: with ``tanguan serve --workers N`` each worker keeps its own, so
run one worker per instance (the deployment's units do) and scrape each instance; the scheduler process
serves its job metrics itself (``tanguan scheduler --metrics-port``)."""

import logging
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlmodel import col, select

from engine.clock_check import CachedClockCheck, clock_report
from engine.db import Database
from engine.identity.models import Organization
from engine.storage import EvidenceStore
from engine.workflow.models import Task

REGISTRY = CollectorRegistry(auto_describe=True)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
REQUEST_SECONDS = Histogram(
    "tanguan_http_request_duration_seconds",
    "Time to answer a request, by route template, method and status class (2xx, 3xx, 4xx, 5xx)",
    ["route", "method", "status_class"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
JOB_RUNS = Counter(
    "tanguan_scheduler_job_runs",
    "Scheduler job runs (one per job and organization), by job and outcome (ok, failed)",
    ["job", "outcome"],
    registry=REGISTRY,
)
JOB_FAILURES = Counter(
    "tanguan_scheduler_job_failures", "Scheduler job runs that failed, by job", ["job"], registry=REGISTRY
)
JOB_SECONDS = Histogram(
    "tanguan_scheduler_job_duration_seconds",
    "Time of one job run in one organization",
    ["job"],
    buckets=(0.01, 0.05, 0.25, 1.0, 5.0, 30.0, 120.0),
    registry=REGISTRY,
)
SECURITY_ALERTS = Counter(
    "tanguan_security_alerts",
    "Security alerts raised (one per window and account or address), by kind (account, address)",
    ["kind"],
    registry=REGISTRY,
)

REQUEST_LOG = logging.getLogger("tanguan.request")
JOB_LOG = logging.getLogger("tanguan.job")
SECURITY_LOG = logging.getLogger("tanguan.security")


def json_line(event: str, **fields: Any) -> str:
    """One log line: a JSON object with the UTC time and the event first."""
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return orjson.dumps({"ts": stamp, "event": event, **fields}).decode()


def configure_logging() -> None:
    """The JSON loggers write bare lines to standard error (once per process, whoever calls first)."""
    for logger in (REQUEST_LOG, JOB_LOG, SECURITY_LOG):
        if not logger.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(message)s"))
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
            logger.propagate = False


def job_ran(*, job: str, org: str, period: str, outcome: str, actions: int, seconds: float) -> None:
    JOB_RUNS.labels(job, outcome).inc()
    JOB_SECONDS.labels(job).observe(seconds)
    if outcome != "ok":
        JOB_FAILURES.labels(job).inc()
    if JOB_LOG.isEnabledFor(logging.INFO):
        JOB_LOG.info(
            json_line(
                "job",
                job=job,
                org=org,
                period=period,
                outcome=outcome,
                actions=actions,
                duration_ms=round(seconds * 1000, 2),
            )
        )


def security_alert(*, kind: str, **fields: Any) -> None:
    """An alert an operator must see: counted, and logged at WARNING (event ``security.alert``)."""
    SECURITY_ALERTS.labels(kind).inc()
    SECURITY_LOG.warning(json_line("security.alert", kind=kind, **fields))


def overdue_counts(db: Database, *, today: date) -> dict[str, int]:
    """Open tasks past their due date per organization slug: one grouped query on the open-task index."""
    with db.read_session(all_orgs=True) as session:
        rows = session.exec(
            select(Organization.slug, func.count(col(Task.id)))
            .join(Organization, col(Organization.id) == col(Task.org_id))
            .where(col(Task.closed_at).is_(None), col(Task.due_date) < today)
            .group_by(col(Organization.slug))
        ).all()
    return {slug: int(count) for slug, count in rows}


class OverdueTasks(Collector):
    """``tanguan_overdue_tasks{organization=…}``, computed when scraped (China date)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from engine.records.display import CHINA_TIME

        family = GaugeMetricFamily(
            "tanguan_overdue_tasks",
            "Open tasks past their due date, by organization",
            labels=["organization"],
        )
        today = datetime.now(CHINA_TIME).date()
        try:
            counts = overdue_counts(self.db, today=today)
        except Exception:  # the database is down: /readyz says so; the request metrics still scrape
            logging.getLogger("tanguan.web").warning("metrics: overdue tasks not counted", exc_info=True)
            counts = {}
        for slug, count in sorted(counts.items()):
            family.add_metric([slug], count)
        yield family


class OutboxBacklog(Collector):
    """``tanguan_outbox_events{state="waiting"|"given_up"}``: undispatched domain events, counted when scraped
    (docs/adr/0045). Given-up events wait for an operator: ``tanguan scheduler outbox``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from engine.events import outbox_backlog

        family = GaugeMetricFamily(
            "tanguan_outbox_events",
            "Undispatched domain events, by state (waiting, given_up)",
            labels=["state"],
        )
        try:
            with self.db.read_session(all_orgs=True) as session:
                counts = outbox_backlog(session)
        except Exception:  # the database is down: /readyz says so; the request metrics still scrape
            logging.getLogger("tanguan.web").warning("metrics: outbox not counted", exc_info=True)
            counts = {}
        for state, count in sorted(counts.items()):
            family.add_metric([state], count)
        yield family


class ClockOffset(Collector):
    """``tanguan_clock_offset_seconds``: this clock against NTP (the cached measurement); no sample when the
    check is disabled or no server answered."""

    def __init__(self, clock: CachedClockCheck) -> None:
        self.clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "tanguan_clock_offset_seconds",
            "Offset of this server's clock from NTP (positive: this clock is behind), by NTP server",
            labels=["server"],
        )
        reading = self.clock.status().reading
        if reading is not None:
            family.add_metric([reading.server], reading.offset_s)
        yield family


def readiness(
    db: Database,
    store: EvidenceStore,
    *,
    clock: CachedClockCheck | None = None,
    max_clock_offset_s: float = 5.0,
) -> tuple[bool, dict[str, Any]]:
    """Whether this instance can serve: the database answers, its schema is at this code's head, the
    evidence store takes a write, the clock is within ``max_clock_offset_s`` of NTP (when checked). Each
    check reports, none raises."""
    from sqlalchemy import text

    from engine.migrate import schema_status

    checks: dict[str, Any] = {}
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = {"ok": True, "dialect": db.engine.dialect.name}
    except Exception as error:  # a probe reports, it does not crash
        checks["database"] = {"ok": False, "dialect": db.engine.dialect.name, "error": type(error).__name__}
    try:
        status = schema_status(db.engine)
        checks["migrations"] = {"ok": status.up_to_date, "current": status.current, "head": status.head}
    except Exception as error:
        checks["migrations"] = {"ok": False, "error": type(error).__name__}
    try:
        store.check_writable()
        checks["storage"] = {"ok": True, "where": store.describe()}
    except Exception as error:
        checks["storage"] = {"ok": False, "where": store.describe(), "error": type(error).__name__}
    if clock is not None:
        checks["clock"] = clock_report(clock.status(), max_offset_s=max_clock_offset_s)
    ready = all(check["ok"] for check in checks.values())
    return ready, {"status": "ready" if ready else "not ready", "checks": checks}

"""``tanguan scheduler`` (the long-running process) and ``tanguan scheduler run-once --at …``."""

import contextlib
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler

    from engine.config import Settings
    from engine.db import Database

scheduler_app = typer.Typer(help="定时任务 / the scheduler: reminders, escalations, recurring starts, mail")


def parse_at(value: str) -> datetime:
    """An ISO moment; China time when it has no offset."""
    from engine.records.display import CHINA_TIME

    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} 不是时间 / is not a date and time (e.g. 2027-03-15T09:00, China time)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=CHINA_TIME)


def start_background(db: "Database", settings: "Settings") -> "BaseScheduler":
    """The scheduler on a thread of this process (``tanguan serve --with-scheduler``)."""
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(timezone="UTC")
    _add_tick(scheduler, db, settings)
    scheduler.start()
    return scheduler


def _subscribe(db: "Database") -> None:
    """The scheduler publishes the events of its jobs and redelivers undispatched ones: to the app's
    subscribers."""
    from engine.records.event_starts import subscribe_installation
    from engine.workflow.catalog import WorkflowCatalog

    subscribe_installation(db, WorkflowCatalog.load())


def _add_tick(scheduler: "BaseScheduler", db: "Database", settings: "Settings") -> None:
    from apscheduler.triggers.interval import IntervalTrigger

    from engine.models.base import utcnow
    from engine.scheduler.leader import Leadership
    from engine.scheduler.runner import tick

    _subscribe(db)
    leadership = Leadership(db)
    scheduler.add_job(
        lambda: tick(db, settings=settings, leadership=leadership),
        IntervalTrigger(seconds=settings.scheduler_interval_seconds),
        id="tanguan-tick",
        next_run_time=utcnow(),
        coalesce=True,  # beats missed while busy or suspended run once
        max_instances=1,
        misfire_grace_time=None,
    )


@scheduler_app.callback(invoke_without_command=True)
def scheduler(
    ctx: typer.Context,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="serve this process's job metrics (Prometheus text) on 127.0.0.1:PORT/metrics"),
    ] = None,
) -> None:
    """Run the scheduler until stopped (Ctrl+C). With several instances on PostgreSQL one leads."""
    if ctx.invoked_subcommand is not None:
        return
    import logging

    from apscheduler.schedulers.blocking import BlockingScheduler

    from engine.cli import _ready_database, _settings
    from engine.observability import REGISTRY, configure_logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    configure_logging()  # one JSON line per job run
    settings = _settings()
    db = _ready_database()
    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr="127.0.0.1", registry=REGISTRY)
    blocking = BlockingScheduler(timezone="UTC")
    _add_tick(blocking, db, settings)
    typer.echo(f"scheduler: every {settings.scheduler_interval_seconds} s (Ctrl+C stops)", err=True)
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        blocking.start()


@scheduler_app.command("run-once")
def run_once(
    at: Annotated[
        str | None,
        typer.Option(help="as of this moment, e.g. 2027-03-15T09:00 (China time without an offset)"),
    ] = None,
) -> None:
    """Run every job due as of a moment and print one line per action (执行一次)."""
    from engine.cli import _echo, _ready_database, _settings
    from engine.models.base import utcnow
    from engine.scheduler.runner import run_jobs

    moment = parse_at(at) if at else utcnow()
    db = _ready_database()
    _subscribe(db)
    lines = run_jobs(db, now=moment, settings=_settings())
    for line in lines:
        _echo(line)
    if not lines:
        _echo("无事可做 / nothing to do")


@scheduler_app.command("outbox")
def outbox(
    retry: Annotated[
        list[int] | None, typer.Option(help="deliver this given-up event again (repeatable)")
    ] = None,
    retry_all: Annotated[bool, typer.Option(help="deliver every given-up event again")] = False,
) -> None:
    """The events the outbox gave up delivering, with their last error; retry some or all (事件补发).
    Retried events are delivered by the scheduler's next redelivery; their receipts keep what already happened
    from happening twice (docs/adr/0045)."""
    from sqlmodel import select

    from engine.cli import _echo, _ready_database
    from engine.events import given_up_events, outbox_backlog, retry_given_up
    from engine.identity.models import Organization
    from engine.records.display import CHINA_TIME

    db = _ready_database()
    if retry or retry_all:
        with db.unit_of_work(all_orgs=True) as uow:
            count = retry_given_up(uow.session, ids=None if retry_all else retry)
        _echo(f"重新投递 {count} 个事件 / {count} events to be delivered again")
        return
    with db.read_session(all_orgs=True) as session:
        backlog = outbox_backlog(session)
        events = given_up_events(session, limit=200)
        names = {org.id: org.name for org in session.exec(select(Organization)).all()}
    waiting, stopped = backlog["waiting"], backlog["given_up"]
    _echo(f"待投递 {waiting} 个，已放弃 {stopped} 个 / waiting {waiting}, given up {stopped}")
    for event in events:
        when = event.created_at.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M")
        error = (event.last_error or "").splitlines()[0][:160] if event.last_error else "—"
        org = names.get(event.org_id, event.org_id)
        _echo(f"#{event.id}  {when}  {org}  {event.name}  × {event.attempts}  {error}")

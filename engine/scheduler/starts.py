"""Recurring starts: a workflow whose file says ``start: {kind: schedule, schedule: …}`` gets a record on
its calendar rule (``cron``, China time; the slots missed while the scheduler was down coalesce into the
latest one) or ``every_months`` after its last record was closed (the first one at once); ``only_if`` names a
condition the process registers, false for an organization that should get none yet. A process whose
records fall due by its own data (each item's frequency) registers a start hook instead, which starts
what is due and claims it through the job's context."""

import calendar
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import cast

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import func, select
from sqlmodel import col

from engine.forms.spec import Text
from engine.records.display import CHINA_TIME
from engine.scheduler.registry import JobContext
from engine.workflow.access import ActorRef
from engine.workflow.lifecycle import create_record, process_context
from engine.workflow.loader import Workflow
from engine.workflow.models import Record
from engine.workflow.registry import START_CONDITIONS
from engine.workflow.spec import StartKind

_WINDOWS = (
    timedelta(hours=2),
    timedelta(days=2),
    timedelta(days=33),
    timedelta(days=367),
    timedelta(days=1500),
)


@dataclass(frozen=True)
class StartHook:
    """``start`` starts the records due as of the context's day (idempotent through ``ctx.claim``) and
    yields one line per record started, for a person."""

    name: str
    label: Text
    start: Callable[[JobContext], Iterable[str]]


START_HOOKS: list[StartHook] = []


def register_start(hook: StartHook) -> StartHook:
    """Add a hook once (by name); a module registers at import."""
    if all(known.name != hook.name for known in START_HOOKS):
        START_HOOKS.append(hook)
    return hook


def last_fire(cron: str, *, now: datetime) -> datetime | None:
    """The latest moment of the calendar rule at or before ``now`` (China time), or None."""
    trigger = CronTrigger.from_crontab(cron, timezone=CHINA_TIME)
    for window in _WINDOWS:
        moment = trigger.get_next_fire_time(None, now - window)
        if moment is None or moment > now:
            continue
        while True:
            following = trigger.get_next_fire_time(moment, moment + timedelta(seconds=1))
            if following is None or following > now:
                return cast(datetime, moment)
            moment = following
    return None


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _period(ctx: JobContext, workflow: Workflow) -> str | None:
    """The period a record is due for now, or None."""
    schedule = workflow.spec.start.schedule
    assert schedule is not None
    if schedule.cron is not None:
        moment = last_fire(schedule.cron, now=ctx.now)
        return None if moment is None else moment.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M")
    open_count, last_closed, total = ctx.session.execute(
        select(
            func.count().filter(col(Record.closed_at).is_(None)),
            func.max(Record.closed_at),
            func.count(),
        ).where(col(Record.org_id) == ctx.org_id, col(Record.workflow_key) == workflow.key)
    ).one()
    if open_count:
        return None
    if not total:
        return "first"
    assert schedule.every_months is not None
    closed = last_closed if isinstance(last_closed, datetime) else datetime.fromisoformat(str(last_closed))
    due = add_months(
        closed.astimezone(CHINA_TIME).date() if closed.tzinfo else closed.date(), schedule.every_months
    )
    return due.isoformat() if ctx.today >= due else None


def run_recurring_starts(ctx: JobContext) -> Iterator[str]:
    for workflow in process_context(ctx.session).catalog.current.values():
        start = workflow.spec.start
        if start.kind != StartKind.schedule or start.schedule is None:
            continue
        condition = START_CONDITIONS.get(start.schedule.only_if or "")
        if condition is not None and not condition(ctx.session, ctx.org_id, ctx.today):
            continue
        period = _period(ctx, workflow)
        if period is None or not ctx.claim(f"workflow:{workflow.key}", period):
            continue
        actor = ActorRef(id=cast(int, None), name="scheduler", roles=frozenset(start.roles))
        record = create_record(
            ctx.session,
            workflow=workflow,
            org_id=ctx.org_id,
            actor=actor,
            form_data=dict(start.schedule.data),
            today=ctx.today,
        )
        yield f"{workflow.spec.title.zh}：{record.number}「{record.title}」"
    for hook in list(START_HOOKS):
        for line in hook.start(ctx):
            yield f"{hook.label.zh}：{line}"

"""Due dates and the reminder ladder: open tasks against the ladder their state declares (reminders before
the due date, on it, and escalations after it), and a single overdue notice where a state declares none.
When several rungs have passed (the scheduler was down), only the latest is sent: missed rungs coalesce."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import cast

from sqlalchemy import select
from sqlalchemy.orm import Mapped
from sqlmodel import col

from engine.forms.spec import Text
from engine.identity.models import Membership, User
from engine.scheduler.registry import JobContext
from engine.workflow.lifecycle import process_context
from engine.workflow.loader import Workflow
from engine.workflow.models import Record, Task
from engine.workflow.spec import Reminder, StateSpec

_OPEN_DUE = (
    select(
        cast("Mapped[int]", Task.id),
        col(Task.record_id),
        col(Task.state),
        col(Task.role),
        col(Task.assignee_id),
        col(Task.due_date),
        col(Task.detail),
        col(Record.number),
        col(Record.title),
        col(Record.workflow_key),
        col(Record.workflow_version),
        col(Record.assignee_id),
    )
    .join(Record, col(Record.id) == Task.record_id)
    .order_by(col(Task.id))
)


@dataclass(frozen=True)
class OpenTask:
    id: int
    record_id: int
    state: str
    role: str | None
    assignee_id: int | None
    due: date
    detail: str | None
    number: str
    title: str
    workflow_key: str
    workflow_version: int
    record_assignee_id: int | None


class People:
    """The organization's active members: names and who holds which role (one query per run)."""

    def __init__(self, ctx: JobContext) -> None:
        rows = ctx.session.execute(
            select(col(Membership.user_id), col(Membership.roles), col(User.display_name))
            .join(User, col(User.id) == Membership.user_id)
            .where(col(Membership.org_id) == ctx.org_id, col(User.is_active).is_(True))
        ).all()
        self.names = {user_id: name for user_id, _, name in rows}
        self.by_role: dict[str, list[int]] = {}
        for user_id, roles, _ in rows:
            for role in roles or []:
                self.by_role.setdefault(role, []).append(user_id)

    def with_role(self, role: str | None) -> list[int]:
        return list(self.by_role.get(role or "", []))

    def named(self, user_ids: list[int]) -> str:
        return "、".join(self.names.get(user_id, "?") for user_id in user_ids) or "—"


def open_tasks(ctx: JobContext, *, horizon_days: int) -> Iterator[OpenTask]:
    """Open tasks with a due date up to ``horizon_days`` after today."""
    statement = _OPEN_DUE.where(
        col(Task.org_id) == ctx.org_id,
        col(Task.closed_at).is_(None),
        col(Task.due_date).is_not(None),
        col(Task.due_date) <= ctx.today + timedelta(days=horizon_days),
    )
    for row in ctx.session.execute(statement):
        yield OpenTask(*row)


def _state(ctx: JobContext, cache: dict[tuple[str, int], Workflow], task: OpenTask) -> StateSpec | None:
    key = (task.workflow_key, task.workflow_version)
    if key not in cache:
        cache[key] = process_context(ctx.session).catalog.pinned(
            ctx.session, key=task.workflow_key, version=task.workflow_version
        )
    return cache[key].spec.states.get(task.state)


def _recipients(task: OpenTask, state: StateSpec, rung: Reminder, people: People) -> list[int]:
    if rung.to_role is not None:
        return people.with_role(rung.to_role)
    if rung.to == "assignee":
        assignee = task.assignee_id or task.record_assignee_id
        if assignee is not None and assignee in people.names:
            return [assignee]
    return people.with_role(task.role or state.owner_role)


def _what(task: OpenTask) -> Text:
    detail = f"（{task.detail}）" if task.detail else ""
    detail_en = f" ({task.detail})" if task.detail else ""
    return Text(zh=f"{task.number}「{task.title}」{detail}", en=f"{task.number} “{task.title}”{detail_en}")


def _message(task: OpenTask, state: StateSpec, offset: int, *, escalation: bool) -> Text:
    what, due = _what(task), task.due.isoformat()
    if offset < 0:
        zh, en = f"{what.zh}将于 {due} 到期", f"{what.en} is due on {due}"
    elif offset == 0:
        zh, en = f"{what.zh}今天到期", f"{what.en} is due today"
    else:
        zh, en = (
            f"{what.zh}已逾期 {offset} 天（{due} 到期）",
            f"{what.en} is {offset} days overdue (due {due})",
        )
    zh, en = f"{zh}：{state.label.zh}", f"{en}: {state.label.en}"
    return Text(zh=f"升级：{zh}", en=f"Escalated: {en}") if escalation else Text(zh=zh, en=en)


def run_reminders(ctx: JobContext) -> Iterator[str]:
    """The ladder of each open task's state: the latest rung reached, once per (task, rung, due date)."""
    people, workflows = People(ctx), {}  # type: ignore[var-annotated]
    for task in open_tasks(ctx, horizon_days=366):
        state = _state(ctx, workflows, task)
        if state is None or not state.ladder:
            continue
        passed = (ctx.today - task.due).days
        reached = [rung for rung in state.ladder if rung.offset_days <= passed]
        if not reached:
            continue
        rung = reached[-1]
        if not ctx.claim(f"task:{task.id}", f"{rung.offset_days:+d}:{task.due.isoformat()}"):
            continue
        to = _recipients(task, state, rung, people)
        message = _message(task, state, max(passed, rung.offset_days), escalation=rung.is_escalation)
        kind = "escalation" if rung.is_escalation else "reminder"
        ctx.notify(
            user_ids=to, kind=kind, subject=message, record_id=task.record_id, urgent=rung.is_escalation
        )
        yield f"{message.zh} → {people.named(to)}"


def run_overdue(ctx: JobContext) -> Iterator[str]:
    """A task past its due date in a state without a ladder: one notice to whoever holds it."""
    people, workflows = People(ctx), {}  # type: ignore[var-annotated]
    for task in open_tasks(ctx, horizon_days=-1):
        state = _state(ctx, workflows, task)
        if state is None or state.ladder:
            continue
        if not ctx.claim(f"task:{task.id}", task.due.isoformat()):
            continue
        to = _recipients(task, state, Reminder(after_days=1, to="assignee"), people)
        message = _message(task, state, (ctx.today - task.due).days, escalation=False)
        ctx.notify(user_ids=to, kind="overdue", subject=message, record_id=task.record_id)
        yield f"{message.zh} → {people.named(to)}"

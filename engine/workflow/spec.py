"""The schema of a workflow file (``workflows/*.yaml``)."""

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.forms.spec import Text


class StartKind(StrEnum):
    manual = "manual"
    event = "event"
    schedule = "schedule"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Escalation(_Strict):
    after_days: int = Field(ge=0)
    to_role: str


class Reminder(_Strict):
    """One rung of a state's reminder ladder: ``before_days`` before the due date or ``after_days`` after it,
    to the task's assignee (``to: assignee``), the state's owner role (``to: owner_role``) or a named role
    (``to_role``). A rung after the due date is an escalation."""

    before_days: int | None = Field(default=None, ge=0)
    after_days: int | None = Field(default=None, ge=0)
    to: Literal["assignee", "owner_role"] | None = None
    to_role: str | None = None

    @model_validator(mode="after")
    def _one_offset_one_recipient(self) -> "Reminder":
        if (self.before_days is None) == (self.after_days is None):
            raise ValueError("a reminder needs exactly one of before_days and after_days")
        if (self.to is None) == (self.to_role is None):
            raise ValueError("a reminder needs exactly one of to (assignee, owner_role) and to_role")
        return self

    @property
    def offset_days(self) -> int:
        """Days after the due date (negative: before it)."""
        return -self.before_days if self.before_days is not None else self.after_days or 0

    @property
    def is_escalation(self) -> bool:
        return self.after_days is not None and self.after_days > 0


class StateSpec(_Strict):
    label: Text
    final: bool = False
    owner_role: str | None = None
    due_days: int | None = Field(default=None, ge=0)  # due date = entering the state + N days
    escalation: Escalation | None = None  # one rung, kept for the files that predate ``reminders``
    reminders: tuple[Reminder, ...] = ()

    @property
    def ladder(self) -> tuple[Reminder, ...]:
        """The reminders, with ``escalation`` as one more rung, ordered by when they fall due."""
        rungs = list(self.reminders)
        if self.escalation is not None:
            rungs.append(Reminder(after_days=self.escalation.after_days, to_role=self.escalation.to_role))
        return tuple(sorted(rungs, key=lambda rung: rung.offset_days))


class Separation(_Strict):
    """The actor may not be anyone who fired these triggers on the record, nor a user named in these
    fields (``actions.owner`` reads a column of a table)."""

    not_actors_of: tuple[str, ...] = ()
    not_users_in: tuple[str, ...] = ()
    not_creator: bool = False
    reason: Text


class TransitionSpec(_Strict):
    trigger: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    source: tuple[str, ...]
    dest: str
    label: Text
    roles: tuple[str, ...]
    form: str | None = None
    required: tuple[str, ...] = ()
    guards: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    signature: str | None = None  # a meaning the workflow declares in signature_meanings
    separation: tuple[Separation, ...] = ()
    comment_required: bool = False
    style: str = "primary"  # the button's look: primary, danger, light

    @field_validator("source", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value


class RecordFields(_Strict):
    """Which start-form fields fill the record's own columns (the engine knows no field by name)."""

    title: str | None = None  # the record's title (else the workflow's title)
    assignee: str | None = None  # a user field: who the record and its tasks are assigned to
    due_date: str | None = None  # a date field: the record's first due date (else the state's due_days)


class ScheduleSpec(_Strict):
    """When a scheduled workflow starts a record: a calendar rule (``cron``, five fields, China time), or
    ``every_months`` after the last record of the workflow was closed (the first one at once). ``data``
    fills the start form."""

    cron: str | None = None
    every_months: int | None = Field(default=None, ge=1, le=120)
    data: dict[str, str | int | float | bool] = {}
    # A condition the process registers (engine.workflow.registry.start_condition): an organization for
    # which it is false gets no record (e.g. one that has no data to review yet).
    only_if: str | None = None

    @model_validator(mode="after")
    def _one_rule(self) -> "ScheduleSpec":
        if (self.cron is None) == (self.every_months is None):
            raise ValueError("a schedule needs exactly one of cron (a calendar rule) and every_months")
        return self


class StartSpec(_Strict):
    kind: StartKind = StartKind.manual
    roles: tuple[str, ...] = ()
    form: str
    event: str | None = None
    # A cron string (``"0 9 1 * *"``) or a ScheduleSpec mapping; read by the scheduler.
    schedule: ScheduleSpec | None = None
    record: RecordFields = RecordFields()

    @field_validator("schedule", mode="before")
    @classmethod
    def _cron_text(cls, value: object) -> object:
        return {"cron": value} if isinstance(value, str) else value


class ComputedSpec(_Strict):
    """Values a hook computes whenever a record is written (on create and on every transition), stored in
    the record's data beside the submitted fields (ADR 0010). ``form`` declares them (types and labels, for
    the record page, the list and the export); nobody posts it."""

    hook: str  # a name registered with engine.workflow.registry.computed
    form: str


class ListSpec(_Strict):
    """The columns the record list shows after number, title and state: fields of the workflow's forms."""

    columns: tuple[str, ...] = ()


class WorkflowSpec(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    version: int = Field(ge=1)
    title: Text
    clause: str
    numbering: str  # e.g. "NC-{year}-{seq:04}"
    initial: str
    start: StartSpec
    states: dict[str, StateSpec]
    transitions: tuple[TransitionSpec, ...]
    # What a signature in this process means (21 CFR 11.50: printed with every signature), by key.
    signature_meanings: dict[str, Text] = {}
    computed: ComputedSpec | None = None
    listing: ListSpec = Field(default=ListSpec(), alias="list")

    def state(self, name: str) -> StateSpec:
        return self.states[name]

    def transitions_from(self, state: str) -> list[TransitionSpec]:
        return [t for t in self.transitions if state in t.source]

    def transition(self, trigger: str, state: str) -> TransitionSpec | None:
        return next((t for t in self.transitions if t.trigger == trigger and state in t.source), None)

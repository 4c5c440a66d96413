"""A record's timeline as people read it: the audit events of the record with the labels of its pinned
workflow (transitions, states, fields, choices), names instead of ids, tables as rows and China time. The
record page and the record's Word export both show these entries."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.audit_trail.service import TrailEvent, actor_shown
from engine.forms.spec import FieldSpec, FieldType, Text
from engine.records.display import Names, as_china_time, display_value
from engine.workflow.loader import Workflow

# Actions the engine itself writes to a record's trail (a transition's action is its trigger).
ENGINE_ACTIONS = {
    "create": Text(zh="创建", en="Created"),
    "participant_added": Text(zh="加入参与人", en="Participant added"),
    "signature_failed": Text(zh="签名失败", en="Signature failed"),
    "event_start_failed": Text(zh="未能自动创建关联记录", en="A linked record could not be started"),
}
PARTICIPANTS = "participants."  # how participant_added names the changed list: participants.<trigger>


@dataclass(frozen=True)
class Change:
    """One changed field: its label and its old and new value as text (None: it had no value)."""

    field: Text
    old: Text | None
    new: Text | None


@dataclass(frozen=True)
class TimelineEntry:
    seq: int
    at: datetime  # China time
    actor: str
    action: Text
    from_state: Text | None
    to_state: Text | None
    comment: Text | None
    changes: tuple[Change, ...]
    action_key: str  # the stored action, for markup and tests only; never shown

    @property
    def when(self) -> str:
        return self.at.strftime("%Y-%m-%d %H:%M")


def timeline_entries(
    events: Iterable[TrailEvent], *, workflow: Workflow, names: Names, locale: str = "zh_CN"
) -> list[TimelineEntry]:
    """The record's events in the order given, each with labels from ``workflow`` (the record's pinned
    version) and the names in ``names``."""
    fields = _fields(workflow)
    return [_entry(event, workflow, fields, names, locale) for event in events]


def referenced_ids(
    events: Iterable[TrailEvent], *, workflow: Workflow, data: dict[str, Any]
) -> dict[FieldType, set[int]]:
    """The ids of users, units, records and evidence files that the record's data and its events' changes
    name, by kind, so that a caller can look their names up at once."""
    fields = _fields(workflow)
    wanted: dict[FieldType, set[int]] = {kind: set() for kind in _NAMED}
    values = list(data.items())
    for event in events:
        if event.actor_id is not None:
            wanted[FieldType.user].add(event.actor_id)
        for key, change in event.changes.items():
            if key.startswith(PARTICIPANTS):
                for people in change:
                    wanted[FieldType.user].update(_ints(people))
            else:
                values += [(key, value) for value in change]
    for key, value in values:
        field = fields.get(key)
        if field is None:
            continue
        if field.type in _NAMED:
            wanted[field.type].update(_ints(value))
        elif field.type == FieldType.table and isinstance(value, list):
            for row in value:
                for column in field.columns:
                    if column.type in _NAMED and isinstance(row, dict):
                        wanted[column.type].update(_ints(row.get(column.name)))
    return wanted


_NAMED = (FieldType.user, FieldType.org_unit, FieldType.record_link, FieldType.evidence)


def _ints(value: Any) -> set[int]:
    values = value if isinstance(value, list) else [value]
    return {item for item in values if isinstance(item, int) and not isinstance(item, bool)}


def _fields(workflow: Workflow) -> dict[str, FieldSpec]:
    """Every field of the workflow's forms by name, the first form in order winning."""
    fields: dict[str, FieldSpec] = {}
    for form in [*workflow.forms_in_order, *workflow.forms.values()]:
        for field in form.fields:
            fields.setdefault(field.name, field)
    return fields


def _text(render: Any) -> Text:
    return Text(zh=render("zh_CN"), en=render("en"))


def _transition_label(workflow: Workflow, trigger: str, from_state: str | None) -> Text | None:
    spec = workflow.spec
    transition = (spec.transition(trigger, from_state) if from_state else None) or next(
        (t for t in spec.transitions if t.trigger == trigger), None
    )
    return transition.label if transition else None


def _state_label(workflow: Workflow, state: str | None) -> Text | None:
    if state is None:
        return None
    spec = workflow.spec.states.get(state)
    return spec.label if spec else Text(zh=state, en=state)


def _entry(
    event: TrailEvent, workflow: Workflow, fields: dict[str, FieldSpec], names: Names, locale: str
) -> TimelineEntry:
    action = (
        _transition_label(workflow, event.action, event.from_state)
        or ENGINE_ACTIONS.get(event.action)
        or Text(zh=event.action, en=event.action)
    )
    at = as_china_time(event.ts)
    assert at is not None  # every audit event has a time
    return TimelineEntry(
        seq=event.seq,
        at=at,
        actor=actor_shown(event, locale=locale),
        action=action,
        from_state=_state_label(workflow, event.from_state),
        to_state=_state_label(workflow, event.to_state),
        comment=_comment(event, workflow),
        changes=_changes(event.changes, workflow, fields, names),
        action_key=event.action,
    )


def _comment(event: TrailEvent, workflow: Workflow) -> Text | None:
    reason = (event.reason or "").strip()
    if not reason:
        return None
    if event.action == "signature_failed":  # written as "<trigger>: wrong or missing password"
        trigger = reason.partition(":")[0]
        label = _transition_label(workflow, trigger, None) or Text(zh=trigger, en=trigger)
        return Text(zh=f"{label.zh}：签名密码错误或未填写", en=f"{label.en}: wrong or missing password")
    if event.action == "event_start_failed":  # "<workflow key>: <reason>; <field errors>"
        why = reason.partition(": ")[2].partition("; ")[0] or reason
        return Text(zh=why, en=why)
    return Text(zh=reason, en=reason)


def _changes(
    changes: dict[str, Any], workflow: Workflow, fields: dict[str, FieldSpec], names: Names
) -> tuple[Change, ...]:
    order = {name: index for index, name in enumerate(fields)}
    shown = []
    for key in sorted(changes, key=lambda name: (order.get(name, len(order)), name)):
        old, new = changes[key]
        if key.startswith(PARTICIPANTS):
            trigger = key.removeprefix(PARTICIPANTS)
            step = _transition_label(workflow, trigger, None) or Text(zh=trigger, en=trigger)
            label = Text(zh=f"参与人（{step.zh}）", en=f"Participants ({step.en})")
            field = FieldSpec(name="participants_list", type=FieldType.user, label=label)
        else:
            field = fields.get(key) or FieldSpec(
                name="unknown_field", type=FieldType.text, label=Text(zh=key, en=key)
            )
        shown.append(Change(field.label, _value(field, old, names), _value(field, new, names)))
    return tuple(shown)


def _value(field: FieldSpec, value: Any, names: Names) -> Text | None:
    if value is None or value == "" or value == []:
        return None
    return _text(lambda locale: display_value(field, value, names, locale))

"""Who may fire what: roles and separation of duties, and the transitions a person is offered."""

from dataclasses import dataclass
from typing import Any

from engine.audit import Actor
from engine.forms.spec import Text
from engine.workflow.errors import GuardRefused, RoleRefused, SeparationRefused, TransitionRefused
from engine.workflow.loader import Workflow
from engine.workflow.registry import GUARDS, GuardContext
from engine.workflow.spec import Separation, TransitionSpec


@dataclass(frozen=True)
class ActorRef:
    id: int
    name: str
    roles: frozenset[str]

    @property
    def audit_actor(self) -> Actor:
        return Actor(self.id, self.name, self.roles)

    @classmethod
    def of(cls, actor: Actor) -> "ActorRef":
        return cls(id=actor.id or 0, name=actor.name, roles=actor.roles)


def excluded_people(record: Any, data: dict[str, Any], rule: Separation) -> set[int]:
    """The people a separation rule keeps from acting on the record."""
    excluded: set[int] = set()
    for trigger in rule.not_actors_of:
        excluded.update(record.participants.get(trigger, []))
    for dotted in rule.not_users_in:
        head, _, column = dotted.partition(".")
        value = data.get(head)
        if column and isinstance(value, list):
            excluded.update(
                row[column] for row in value if isinstance(row, dict) and isinstance(row.get(column), int)
            )
        elif isinstance(value, int):
            excluded.add(value)
    if rule.not_creator and record.created_by:
        excluded.add(record.created_by)
    return excluded


def check_separation(record: Any, data: dict[str, Any], transition: TransitionSpec, actor: ActorRef) -> None:
    for rule in transition.separation:
        if actor.id in excluded_people(record, data, rule):
            raise SeparationRefused(rule.reason)


def check_access(record: Any, transition: TransitionSpec, actor: ActorRef) -> None:
    """Role and separation-of-duties checks (the ones that do not need the form)."""
    if not actor.roles & set(transition.roles):
        raise RoleRefused(Text(zh="您的角色不能执行此操作", en="Your roles do not allow this action"))
    check_separation(record, record.data, transition, actor)


@dataclass(frozen=True)
class AvailableTransition:
    spec: TransitionSpec
    enabled: bool
    reason: Text | None = None


def available_transitions(workflow: Workflow, record: Any, actor: ActorRef) -> list[AvailableTransition]:
    """Every transition out of the record's state, enabled or with the reason it is not."""
    result = []
    for transition in workflow.spec.transitions_from(record.state):
        try:
            check_access(record, transition, actor)
            for name in transition.guards if not transition.form else ():
                reason = GUARDS[name](GuardContext(record.data, {}, record.state, actor.id))
                if reason is not None:
                    raise GuardRefused(reason)
        except TransitionRefused as refused:
            result.append(AvailableTransition(transition, enabled=False, reason=refused.reason))
        else:
            result.append(AvailableTransition(transition, enabled=True))
    return result

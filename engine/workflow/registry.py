"""Named guards and actions that workflow files may reference, the workflow names a hooks module uses, and
what else a process's signatures cover. ``workflows/hooks/<key>.py`` registers them; the engine only looks
names up, and the loader checks every declared name against the workflow files."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from sqlmodel import Session

from engine.forms.spec import Text


@dataclass(frozen=True)
class GuardContext:
    record_data: dict[str, Any]  # the record's data with the submitted form merged in
    form_data: dict[str, Any]
    state: str
    actor_id: int


Guard = Callable[[GuardContext], Text | None]  # None: passes; Text: why not
Action = Callable[[GuardContext], dict[str, Any]]  # returns extra data to merge

GUARDS: dict[str, Guard] = {}
ACTIONS: dict[str, Action] = {}


def guard(name: str) -> Callable[[Guard], Guard]:
    def register(function: Guard) -> Guard:
        GUARDS[name] = function
        return function

    return register


@dataclass(frozen=True)
class DeclaredNames:
    """The states and triggers of one workflow that a hooks module names in Python."""

    states: frozenset[str] = frozenset()
    triggers: frozenset[str] = frozenset()


DECLARED_NAMES: dict[str, DeclaredNames] = {}


def declare_names(workflow_key: str, *, states: Iterable[str] = (), triggers: Iterable[str] = ()) -> None:
    """A hooks module declares the workflow names its code uses; loading the workflows fails if the
    workflow file does not have them (so a renamed state cannot silently disable a policy)."""
    known = DECLARED_NAMES.get(workflow_key, DeclaredNames())
    DECLARED_NAMES[workflow_key] = DeclaredNames(
        states=known.states | frozenset(states), triggers=known.triggers | frozenset(triggers)
    )


def action(name: str) -> Callable[[Action], Action]:
    def register(function: Action) -> Action:
        ACTIONS[name] = function
        return function

    return register


@dataclass(frozen=True)
class ComputeContext:
    """What a computed-values hook sees when a record is written: its data with the submitted form merged
    in (and any earlier computed values), the state it is entering, the trigger ("create" on create) and
    the day it is written (China's or the caller's ``today``)."""

    data: dict[str, Any]
    submitted: dict[str, Any]
    state: str
    trigger: str
    today: date


Compute = Callable[[ComputeContext], dict[str, Any]]  # returns the computed values to store
COMPUTED: dict[str, Compute] = {}


def computed(name: str) -> Callable[[Compute], Compute]:
    """Register a computed-values hook that a workflow file names in ``computed.hook``."""

    def register(function: Compute) -> Compute:
        COMPUTED[name] = function
        return function

    return register


class SignedContent(Protocol):
    """What a signature of one of a process's records covers besides the record itself, as JSON-able data
    (e.g. the activity data of the month a data batch signs off). Called when signing and again whenever
    the signature's status is checked, with the session of that moment."""

    def __call__(self, session: Session, *, org_id: int, data: dict[str, Any]) -> Any: ...


SIGNED_CONTENT: dict[str, SignedContent] = {}


def signed_content(workflow_key: str) -> Callable[[SignedContent], SignedContent]:
    """Declare what the signatures of ``workflow_key``'s records cover besides the record (one per process).
    A signature made since then goes stale when that content changes, as when the record does."""

    def register(function: SignedContent) -> SignedContent:
        SIGNED_CONTENT[workflow_key] = function
        declare_names(workflow_key)  # the loader checks that the workflow exists
        return function

    return register


StartCondition = Callable[[Session, int, date], bool]  # (session, org_id, today) → start a record now?
START_CONDITIONS: dict[str, StartCondition] = {}


def start_condition(name: str) -> Callable[[StartCondition], StartCondition]:
    """Register a condition a scheduled start names in ``schedule.only_if``."""

    def register(function: StartCondition) -> StartCondition:
        START_CONDITIONS[name] = function
        return function

    return register

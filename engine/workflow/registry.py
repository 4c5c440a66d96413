"""Named guards and actions that workflow files may reference. ``workflows/hooks.py`` registers them;
the engine only looks names up."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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


def action(name: str) -> Callable[[Action], Action]:
    def register(function: Action) -> Action:
        ACTIONS[name] = function
        return function

    return register

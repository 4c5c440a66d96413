"""What the record lifecycle announces inside its transaction, for a process's hooks module to act on or
refuse (ADR 0011): e.g. approving a new version of a plan supersedes the one before, in the same commit."""

from dataclasses import dataclass

from engine.events import PolicyEvent
from engine.workflow.access import ActorRef


@dataclass(frozen=True)
class RecordEnteredState(PolicyEvent):
    """A record was created (``trigger`` "create", no ``from_state``) or moved by a transition."""

    workflow_key: str
    record_id: int
    trigger: str
    from_state: str | None
    to_state: str
    actor: ActorRef

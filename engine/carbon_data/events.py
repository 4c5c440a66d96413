"""What carbon-data services announce inside their transaction, for the processes that govern the data
(8.6: the data batches) to act on or refuse. The services know no process; the policies live in the
process's hooks module."""

from dataclasses import dataclass, field

from engine.audit import Actor
from engine.events import PolicyEvent
from engine.forms.spec import Text


@dataclass(frozen=True)
class MonthDataChanged(PolicyEvent):
    """Activity data, or a measured parameter, of these local months (YYYY-MM) was entered or changed —
    by the grid, a file import, the meter API or the measured-parameter form alike."""

    periods: frozenset[str]
    actor: Actor
    reason: str = ""


@dataclass(frozen=True)
class SnapshotRequested(PolicyEvent):
    """Asked before an inventory snapshot of ``year`` is frozen, and by the inventory page to say why it
    cannot be yet: a policy adds what stands in the way to ``blockers``."""

    year: int
    blockers: list[Text] = field(default_factory=list)

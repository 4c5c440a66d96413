"""How the verifier reaches the process that governs a month's data: its hooks module registers which record
stands for each month and how a verifier's return sends it back (the engine names no process)."""

from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import Session

from engine.workflow.access import ActorRef
from engine.workflow.models import Record


@dataclass(frozen=True)
class MonthProcess:
    records_of_year: Callable[[Session, int], dict[str, Record]]  # year → {YYYY-MM: its record}
    send_back: Callable[[Session, Record, ActorRef, str], None]  # raises TransitionRefused


_REGISTERED: list[MonthProcess] = []


def register_month_process(process: MonthProcess) -> None:
    _REGISTERED[:] = [process]


def month_process() -> MonthProcess | None:
    from engine.events import load_policy_modules  # the hooks module registers itself when imported

    load_policy_modules()
    return _REGISTERED[0] if _REGISTERED else None

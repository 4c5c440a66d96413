"""Self-assessment scores per clause. A process that rates clauses (an internal audit's checklist, say)
registers a source; the coverage map shows the latest score of each clause from all of them."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlmodel import Session


@dataclass(frozen=True)
class ClauseScore:
    clause: str
    points: Decimal
    max_points: Decimal
    record_id: int  # the record that holds the rating (the checklist)
    assessed_on: date

    @property
    def percent(self) -> Decimal | None:
        if not self.max_points:
            return None
        return (self.points * 100 / self.max_points).quantize(Decimal("0.1"))


ScoreSource = Callable[[Session, date], Iterable[ClauseScore]]  # the latest score per clause up to that day

_SOURCES: dict[str, ScoreSource] = {}


def register_score_source(name: str, source: ScoreSource) -> None:
    _SOURCES[name] = source


def latest_scores(session: Session, *, until: date) -> dict[str, ClauseScore]:
    """The latest score of each clause up to ``until``, whichever source gave it."""
    latest: dict[str, ClauseScore] = {}
    for source in _SOURCES.values():
        for score in source(session, until):
            known = latest.get(score.clause)
            if known is None or (score.assessed_on, score.record_id) > (known.assessed_on, known.record_id):
                latest[score.clause] = score
    return latest

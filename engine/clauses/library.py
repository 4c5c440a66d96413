"""The clause library: the standard's clauses as data (engine/clauses/standard.yaml), read once."""

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.forms.spec import Text

_SOURCE = Path(__file__).with_name("standard.yaml")


class _ClauseEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    number: str = Field(pattern=r"^\d+(\.\d+)*$")
    title: Text
    requires: Text
    evidence: Text
    questions: tuple[Text, ...] = Field(min_length=1)
    points: int = Field(gt=0)
    cycle_months: int | None = Field(default=None, gt=0)
    means: Text | None = None
    shown_by: tuple[str, ...] = ()

    @field_validator("number")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()


@dataclass(frozen=True)
class Clause:
    number: str
    title: Text
    requires: Text  # what the clause requires
    evidence: Text  # what evidence satisfies it
    questions: tuple[Text, ...]  # what an internal audit asks about it
    points: int  # points each question carries in a checklist
    cycle_months: int | None  # how often it must be shown to run; None: when events call for it
    means: Text | None = None  # what the system gives it besides the processes of its clause
    shown_by: tuple[str, ...] = ()  # other clauses whose records show this one is run

    @property
    def chapter(self) -> str:
        return self.number.split(".")[0]

    @property
    def shown_through(self) -> tuple[str, ...]:
        """The clauses whose records show this one is run: itself and its ``shown_by``."""
        return (self.number, *self.shown_by)

    @property
    def sort_key(self) -> tuple[int, ...]:
        return clause_sort_key(self.number)


def clause_sort_key(number: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in number.split("."))


@cache
def clause_library() -> tuple[Clause, ...]:
    """Every clause, in the standard's order."""
    entries = [
        _ClauseEntry.model_validate(raw) for raw in yaml.safe_load(_SOURCE.read_text(encoding="utf-8"))
    ]
    numbers = [entry.number for entry in entries]
    if len(set(numbers)) != len(numbers):
        raise ValueError(f"{_SOURCE.name}: a clause number appears twice")
    clauses = (
        Clause(
            number=e.number,
            title=e.title,
            requires=e.requires,
            evidence=e.evidence,
            questions=e.questions,
            points=e.points,
            cycle_months=e.cycle_months,
            means=e.means,
            shown_by=e.shown_by,
        )
        for e in entries
    )
    return tuple(sorted(clauses, key=lambda clause: clause.sort_key))


def find_clause(number: str) -> Clause | None:
    number = number.strip()
    return next((clause for clause in clause_library() if clause.number == number), None)


def falls_under(number: str, prefix: str) -> bool:
    """``9.3`` falls under ``9`` and ``9.3``; ``6.2.3`` under ``6.2``; ``10.1`` not under ``1``."""
    prefix = prefix.strip()
    return number == prefix or number.startswith(prefix + ".")


def clauses_under(prefixes: Iterable[str]) -> tuple[Clause, ...]:
    """The clauses under any of ``prefixes`` ("9" → 9.1 … 9.4), in the standard's order."""
    wanted = [prefix for prefix in prefixes if prefix and prefix.strip()]
    return tuple(c for c in clause_library() if any(falls_under(c.number, prefix) for prefix in wanted))

"""9.3 internal audit, the rules as data: the answer scale (what each answer earns and becomes) and the
programme's frequency rule, read from workflows/data/internal_audit.yaml; the scope of an audit as clauses
of the library; its checklist (one row per question of each clause in scope, plus a re-audit row per
finding closed since) and its scores per clause."""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from engine.clauses.library import Clause, clauses_under
from engine.forms.spec import Text

RULES_FILE = Path(__file__).resolve().parent.parent / "data" / "internal_audit.yaml"
QUESTION, REAUDIT = "question", "reaudit"  # the checklist rows' kinds (choices of ia_checklist)
NONCONFORMITY, IMPROVEMENT = "nonconformity", "improvement"  # what a finding becomes (the scale's word)
_SEPARATORS = re.compile(r"[,，、;；\s]+")
_CLAUSE = re.compile(r"^\d+(\.\d+)*$")


@dataclass(frozen=True)
class Answer:
    key: str
    label: Text
    weight: Decimal  # the share of the row's points it earns
    becomes: str | None  # NONCONFORMITY, IMPROVEMENT or None
    severity: str | None  # a nonconformity's severity (nc_assessment's choices)

    @property
    def is_finding(self) -> bool:
        return self.becomes is not None


@dataclass(frozen=True)
class ProgrammeGroup:
    clauses: str
    label: Text
    risk_kinds: tuple[str, ...]


@dataclass(frozen=True)
class Rules:
    answers: dict[str, Answer]
    reaudit_points: Decimal
    groups: tuple[ProgrammeGroup, ...]
    twice_from_level: str
    twice_after: str
    months: dict[str, tuple[int, ...]]


@cache
def rules() -> Rules:
    raw = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    answers = {
        key: Answer(
            key=key,
            label=Text(zh=value["zh"], en=value["en"]),
            weight=Decimal(str(value["weight"])),
            becomes=value.get("becomes"),
            severity=value.get("severity"),
        )
        for key, value in raw["answers"].items()
    }
    for answer in answers.values():
        if answer.becomes not in (None, NONCONFORMITY, IMPROVEMENT) or not 0 <= answer.weight <= 1:
            raise ValueError(f"{RULES_FILE.name}: answer {answer.key} is not of the scale's form")
    programme = raw["programme"]
    return Rules(
        answers=answers,
        reaudit_points=Decimal(str(raw["reaudit_points"])),
        groups=tuple(
            ProgrammeGroup(
                clauses=str(group["clauses"]),
                label=Text(zh=group["zh"], en=group["en"]),
                risk_kinds=tuple(group.get("risk_kinds") or ()),
            )
            for group in programme["groups"]
        ),
        twice_from_level=programme["twice_from_level"],
        twice_after=programme["twice_after"],
        months={key: tuple(int(m) for m in value) for key, value in programme["months"].items()},
    )


def scope_prefixes(text: Any) -> tuple[str, ...]:
    """The clause numbers a scope names ("8, 9.3" → ("8", "9.3")), each once, in order."""
    parts = [part for part in _SEPARATORS.split(str(text or "")) if part]
    return tuple(dict.fromkeys(part for part in parts if _CLAUSE.match(part)))


def scope_clauses(text: Any) -> tuple[Clause, ...]:
    """The library's clauses the scope covers ("8" covers 8.1 … 8.7)."""
    return clauses_under(scope_prefixes(text))


def unknown_prefixes(text: Any) -> list[str]:
    """The scope's numbers that name no clause of the library."""
    return [prefix for prefix in scope_prefixes(text) if not clauses_under((prefix,))]


def as_decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None and str(value) != "" else None
    except InvalidOperation:
        return None


def question_rows(clauses: Iterable[Clause]) -> list[dict[str, Any]]:
    """One row per question of each clause, worth the clause's points, not yet answered."""
    return [
        {
            "clause": clause.number,
            "question": f"{question.zh} / {question.en}"[:1000],
            "kind": QUESTION,
            "max_points": clause.points,
        }
        for clause in clauses
        for question in clause.questions
    ]


def reaudit_row(*, clause: str, finding_id: int, finding_number: str, finding_title: str) -> dict[str, Any]:
    """A check that a finding closed since the clause's last audit stays closed."""
    return {
        "clause": clause,
        "question": (
            f"复审已关闭的发现 {finding_number}「{finding_title}」：纠正措施是否持续有效？ / "
            f"Re-audit of the closed finding {finding_number}: are its corrective actions still effective?"
        )[:1000],
        "kind": REAUDIT,
        "max_points": int(rules().reaudit_points),
        "reaudited": finding_id,
    }


def earned(answer_key: Any, max_points: Any) -> Decimal | None:
    """The points an answer earns on a row: the scale's weight × the row's points."""
    answer = rules().answers.get(str(answer_key))
    top = as_decimal(max_points)
    if answer is None or top is None:
        return None
    return (answer.weight * top).quantize(Decimal("0.1"))


def comparable(value: Any) -> str | None:
    """A stored value as text that survives a form's round trip (10, "10" and 10.0 are the same)."""
    if value is None or value == "":
        return None
    number = as_decimal(value) if not isinstance(value, bool) else None
    return format(number.normalize(), "f") if number is not None else str(value)


def checklist_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    rows = data.get("checklist")
    return [row for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []


def scores_by_clause(rows: Iterable[dict[str, Any]]) -> dict[str, tuple[Decimal, Decimal]]:
    """(points, max points) per clause over the answered rows, in the checklist's order."""
    totals: dict[str, tuple[Decimal, Decimal]] = {}
    for row in rows:
        points, top = as_decimal(row.get("points")), as_decimal(row.get("max_points"))
        if points is None or top is None or not row.get("answer"):
            continue
        clause = str(row.get("clause"))
        got, out_of = totals.get(clause, (Decimal(0), Decimal(0)))
        totals[clause] = (got + points, out_of + top)
    return totals


def is_finding(row: dict[str, Any]) -> bool:
    answer = rules().answers.get(str(row.get("answer")))
    return answer is not None and answer.is_finding

"""The plan as the filing reads it: its rows, from the plan in force. The plan is a process's record (its
workflow file and hooks module say which); the hooks module registers how to find it, so the engine names
no process (ADR 0011)."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from sqlmodel import Session

from engine.events import load_policy_modules

# What each kind of row measures, and which missing-data rules are conservative for it: an activity datum
# or a factor parameter is never underestimated, a production datum (which allocation depends on) never
# overstated.
ROW_KINDS = ("activity", "ncv", "carbon_content", "oxidation_rate", "production")
FACTOR_KINDS = ("ncv", "carbon_content", "oxidation_rate")
RULES_FOR_KIND: dict[str, frozenset[str]] = {
    "activity": frozenset({"max_previous_12", "rated_capacity_hours"}),
    "ncv": frozenset({"max_previous_12", "upper_default"}),
    "carbon_content": frozenset({"max_previous_12", "upper_default"}),
    "oxidation_rate": frozenset({"full_oxidation", "max_previous_12"}),
    "production": frozenset({"min_previous_12"}),
}
COMPUTED_RULES = frozenset({"max_previous_12", "min_previous_12", "full_oxidation"})  # else a value is given


@dataclass(frozen=True)
class PlanRow:
    code: str
    parameter: str
    kind: str
    subject: str  # an emission source's code, or a product's for production rows
    unit: str
    obtained: str
    frequency: str
    missing_rule: str
    proof: str
    responsible_id: int | None
    department_id: int | None
    instrument_id: int | None = None
    method: str = ""
    accuracy: str = ""
    calibration: str = ""
    change_threshold: Decimal | None = None

    @property
    def filed_monthly(self) -> bool:
        """A row determined by a default value or once a year has nothing to file each month."""
        return self.obtained != "default_value" and self.frequency != "yearly"

    @classmethod
    def of(cls, row: dict[str, Any]) -> "PlanRow":
        threshold = row.get("change_threshold")
        return cls(
            code=str(row["code"]),
            parameter=str(row["parameter"]),
            kind=str(row["kind"]),
            subject=str(row["subject"]),
            unit=str(row.get("unit") or ""),
            obtained=str(row.get("obtained") or ""),
            frequency=str(row.get("frequency") or ""),
            missing_rule=str(row.get("missing_rule") or ""),
            proof=str(row.get("proof") or ""),
            responsible_id=row.get("responsible"),
            department_id=row.get("department"),
            instrument_id=row.get("instrument"),
            method=str(row.get("method") or ""),
            accuracy=str(row.get("accuracy") or ""),
            calibration=str(row.get("calibration") or ""),
            change_threshold=Decimal(str(threshold)) if threshold is not None else None,
        )


@dataclass(frozen=True)
class Plan:
    workflow_key: str
    workflow_version: int
    record_id: int
    number: str
    title: str
    state: str
    effective_from: date | None
    rows: tuple[PlanRow, ...]
    data: dict[str, Any]

    def row(self, code: str) -> PlanRow | None:
        return next((row for row in self.rows if row.code == code), None)

    @property
    def monthly_rows(self) -> tuple[PlanRow, ...]:
        return tuple(row for row in self.rows if row.filed_monthly)


def row_problems(rows: list[dict[str, Any]]) -> list[tuple[int, str, str, str]]:
    """(row number, column, zh, en) of every inconsistency between a plan's rows: a code used twice, a
    missing-data rule that is not conservative for the row's kind."""
    problems: list[tuple[int, str, str, str]] = []
    seen: set[str] = set()
    for number, row in enumerate(rows, start=1):
        code = str(row.get("code") or "")
        if code in seen:
            problems.append((number, "code", f"行编号“{code}”重复", f"row code '{code}' is used twice"))
        seen.add(code)
        rule, kind = row.get("missing_rule"), row.get("kind")
        if kind in RULES_FOR_KIND and rule and rule not in RULES_FOR_KIND[kind]:
            problems.append(
                (
                    number,
                    "missing_rule",
                    "该数据缺失处理对此类参数不保守（可能低估排放或多分配配额）",
                    "this missing-data rule is not conservative for this kind of parameter",
                )
            )
    return problems


class PlanProcess(Protocol):
    """How the engine finds the plan: registered by the plan process's hooks module."""

    workflow_key: str

    def in_force(self, session: Session) -> Plan | None: ...

    def versions(self, session: Session) -> list[Plan]: ...


_PROCESS: list[PlanProcess] = []


def plan_process(process: PlanProcess) -> PlanProcess:
    """Register the process whose records are the plan (one per installation)."""
    _PROCESS[:] = [process]
    return process


def registered_process() -> PlanProcess | None:
    load_policy_modules()  # the hooks modules register on import
    return _PROCESS[0] if _PROCESS else None


def plan_in_force(session: Session) -> Plan | None:
    process = registered_process()
    return process.in_force(session) if process else None


def plan_versions(session: Session) -> list[Plan]:
    process = registered_process()
    return process.versions(session) if process else []

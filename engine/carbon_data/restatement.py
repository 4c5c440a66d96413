"""Restating a year (issue 14 item 6): freezing a year again, with other inputs than its last snapshot,
needs a reason; the earlier snapshot stays; the differences are shown line by line; and the records that
used the earlier figures — a disclosure, a management review's frozen pack — are named, through what their
processes register (the engine names no process)."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlmodel import Session

from engine.carbon_data.editions import EDITION_2015
from engine.carbon_data.errors import EmissionsDataError
from engine.carbon_data.models import InventorySnapshot
from engine.emissions.factors import canonical_factor_set_id
from engine.events import load_policy_modules
from engine.workflow.models import Record

# year, the earlier snapshots' ids → the records whose figures came from them
FigureUsers = Callable[[Session, int, frozenset[int]], list[Record]]
_USERS: list[FigureUsers] = []


def register_figure_users(finder: FigureUsers) -> FigureUsers:
    _USERS.append(finder)
    return finder


def records_using(session: Session, *, year: int, snapshot_ids: frozenset[int]) -> list[Record]:
    load_policy_modules()
    found: dict[int, Record] = {}
    for finder in _USERS:
        for record in finder(session, year, snapshot_ids):
            if record.id is not None:
                found[record.id] = record
    return sorted(found.values(), key=lambda record: record.number)


def require_reason(previous: InventorySnapshot | None, *, reason: str | None) -> None:
    """A restatement (a year frozen before, now with other inputs) says why."""
    if previous is not None and not (reason or "").strip():
        raise EmissionsDataError.single(
            "freeze_reason",
            zh=f"{previous.year} 年已冻结过（合计 {previous.total_tco2e} tCO2e）："
            "重新冻结即重述，须填写原因；原快照保留",
            en=f"{previous.year} was frozen before ({previous.total_tco2e} tCO2e): freezing it again "
            "restates it and needs a reason; the earlier snapshot is kept",
        )


@dataclass(frozen=True)
class Change:
    key: str  # a category, or a source line's name and month
    before: Decimal | None
    after: Decimal | None

    @property
    def delta(self) -> Decimal:
        return (self.after or Decimal(0)) - (self.before or Decimal(0))


@dataclass(frozen=True)
class Restatement:
    previous: InventorySnapshot
    total: Change
    categories: list[Change]
    lines: list[Change]  # only the lines that changed
    # factor set, GWP set, edition, grid year: (name, before, after) when changed
    settings: list[tuple[str, Any, Any]]


def _numbers(values: Mapping[str, Any]) -> dict[str, Decimal]:
    return {key: Decimal(str(value)) for key, value in values.items()}


def _line_totals(result: Mapping[str, Any]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    for line in result.get("lines") or []:
        key = f"{line.get('name') or line.get('source') or ''} {line.get('period') or ''}".strip()
        totals[key] = totals.get(key, Decimal(0)) + Decimal(str(line.get("tco2e", 0)))
    return totals


def _changes(before: Mapping[str, Decimal], after: Mapping[str, Decimal], *, all_keys: bool) -> list[Change]:
    keys = sorted(set(before) | set(after))
    changes = [Change(key, before.get(key), after.get(key)) for key in keys]
    return changes if all_keys else [change for change in changes if change.before != change.after]


def _edition(snapshot: InventorySnapshot) -> str:
    return snapshot.gbt32150_edition or EDITION_2015  # frozen before editions were recorded: 2015


def _grid_year(snapshot: InventorySnapshot) -> Any:
    return (snapshot.inputs or {}).get("_grid_year")


def restatement(previous: InventorySnapshot, current: InventorySnapshot) -> Restatement:
    old, new = previous.result or {}, current.result or {}
    settings = [
        (name, before, after)
        for name, before, after in (
            # an earlier id of the same set (GB/T 32151.22-2024 → GB/T 32151 表C.1 (2024)) is no change
            (
                "factor_set",
                canonical_factor_set_id(previous.factor_set),
                canonical_factor_set_id(current.factor_set),
            ),
            ("gwp_set", previous.gwp_set, current.gwp_set),
            ("gbt32150_edition", _edition(previous), _edition(current)),
            (
                "grid_year",
                (previous.inputs or {}).get("_grid_year"),
                (current.inputs or {}).get("_grid_year"),
            ),
        )
        if before != after
    ]
    return Restatement(
        previous=previous,
        total=Change("total", previous.total_tco2e, current.total_tco2e),
        categories=_changes(
            _numbers(old.get("by_category") or {}), _numbers(new.get("by_category") or {}), all_keys=True
        ),
        lines=_changes(_line_totals(old), _line_totals(new), all_keys=False),
        settings=settings,
    )

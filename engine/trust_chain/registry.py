"""What the trust chain reads from processes it does not name: their hooks modules register how to read
an instrument's calibrations and a record's frozen figures (ADR 0011: the engine names no process)."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from engine.events import load_policy_modules
from engine.workflow.models import Record


@dataclass(frozen=True)
class Calibration:
    calibrated_on: date
    passed: bool
    certificate_no: str
    body: str
    certificate_evidence_id: int | None
    valid_until: date | None  # the next calibration due after this one (None: no interval is set)


@dataclass(frozen=True)
class FrozenFigure:
    label: str
    value: str | None
    unit: str
    parameter_name: str | None = None  # a carbon performance parameter's name: its value can be traced
    year: int | None = None


@dataclass(frozen=True)
class FrozenFigures:
    recorded_sha256: str | None  # the hash stored when the figures were frozen
    computed_sha256: str | None  # the same hash computed again from the stored figures now
    frozen_on: str | None  # YYYY-MM-DD
    figures: tuple[FrozenFigure, ...]


@dataclass(frozen=True)
class Readers:
    calibrations: dict[str, Callable[[Record], list[Calibration]]]  # workflow key → reader
    frozen_figures: dict[str, Callable[[Record], FrozenFigures]]  # workflow key → reader


_READERS = Readers(calibrations={}, frozen_figures={})


def register_calibrations(workflow_key: str, reader: Callable[[Record], list[Calibration]]) -> None:
    _READERS.calibrations[workflow_key] = reader


def register_frozen_figures(workflow_key: str, reader: Callable[[Record], FrozenFigures]) -> None:
    _READERS.frozen_figures[workflow_key] = reader


def readers() -> Readers:
    load_policy_modules()  # the hooks modules register on import
    return _READERS

"""Carbon performance parameters (6.3): definitions at four levels and their values for a year, from the
inventory (emissions by category and by org unit, rolled up the unit tree) and production totals."""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlmodel import Session, select

from engine.audit import Actor, append_event
from engine.emissions.formula import FormulaError, evaluate, names_in
from engine.models import OrgUnit, PerformanceParameter
from engine.services.emissions import EmissionsDataError, build_inventory, production_totals

LEVELS = ("enterprise", "department", "facility", "product")


@dataclass(frozen=True)
class ParameterValue:
    parameter: PerformanceParameter
    value: Decimal | None
    status: str  # ok | warn | alarm | error
    problem: str | None = None


def quantities(session: Session, *, org_id: int, year: int) -> dict[str, Decimal]:
    """Every name a formula may use for ``year``: ``total``, ``category.X``, ``unit.CODE`` (the unit and
    everything below it in the tree) and ``production.CODE``."""
    inventory = build_inventory(session, org_id=org_id, year=year).json
    values: dict[str, Decimal] = {"total": Decimal(str(inventory["total_tco2e"]))}
    values.update({f"category.{k}": Decimal(str(v)) for k, v in inventory["by_category"].items()})
    units = session.exec(select(OrgUnit).where(OrgUnit.org_id == org_id)).all()
    own = {unit.id: Decimal(str(inventory["by_org_unit"].get(unit.name, 0))) for unit in units}
    children: dict[int | None, list[OrgUnit]] = {}
    for unit in units:
        children.setdefault(unit.parent_id, []).append(unit)

    def rolled_up(unit: OrgUnit) -> Decimal:
        return own[unit.id] + sum((rolled_up(child) for child in children.get(unit.id, [])), Decimal(0))

    values.update({f"unit.{unit.code}": rolled_up(unit) for unit in units})
    for total in production_totals(session, org_id=org_id, year=year).values():
        values[f"production.{total.code}"] = total.quantity
    return values


def add_parameter(
    session: Session,
    *,
    org_id: int,
    actor: Actor,
    code: str,
    name: str,
    level: str,
    formula: str,
    unit: str,
    org_unit_id: int | None = None,
    product_id: int | None = None,
    owner_id: int | None = None,
    threshold_warn: Decimal | None = None,
    threshold_alarm: Decimal | None = None,
) -> PerformanceParameter:
    if level not in LEVELS:
        raise FormulaError(f"层级应为 {'、'.join(LEVELS)} 之一", f"level must be one of {', '.join(LEVELS)}")
    names_in(formula)  # syntax is checked now; names are checked against each year's data
    parameter = PerformanceParameter(
        org_id=org_id,
        code=code,
        name=name,
        level=level,
        formula=formula,
        unit=unit,
        org_unit_id=org_unit_id,
        product_id=product_id,
        owner_id=owner_id,
        threshold_warn=threshold_warn,
        threshold_alarm=threshold_alarm,
    )
    session.add(parameter)
    session.flush()
    fields = {"code": code, "name": name, "level": level, "formula": formula, "unit": unit}
    append_event(
        session,
        org_id=org_id,
        actor=actor,
        subject_type="performance_parameter",
        subject_id=parameter.id,
        action="created",
        changes={key: [None, value] for key, value in fields.items()},
    )
    return parameter


def _status(parameter: PerformanceParameter, value: Decimal) -> str:
    if parameter.threshold_alarm is not None and value > parameter.threshold_alarm:
        return "alarm"
    if parameter.threshold_warn is not None and value > parameter.threshold_warn:
        return "warn"
    return "ok"


def evaluate_parameters(session: Session, *, org_id: int, year: int) -> list[ParameterValue]:
    parameters = session.exec(
        select(PerformanceParameter)
        .where(PerformanceParameter.org_id == org_id)
        .order_by(PerformanceParameter.level, PerformanceParameter.code)
    ).all()
    if not parameters:
        return []
    try:
        values: Mapping[str, Any] = quantities(session, org_id=org_id, year=year)
    except EmissionsDataError as error:
        return [ParameterValue(p, None, "error", str(error)) for p in parameters]
    results = []
    for parameter in parameters:
        try:
            value = evaluate(parameter.formula, values)
            results.append(ParameterValue(parameter, value, _status(parameter, value)))
        except FormulaError as error:
            results.append(
                ParameterValue(parameter, None, "error", f"{error.message_zh} / {error.message_en}")
            )
    return results


DEMO_PARAMETERS = (
    ("CPP-ENT-TOTAL", "企业碳排放总量", "enterprise", None, "total", "tCO2e", "1300000", "1400000"),
    (
        "CPP-ENT-CLK",
        "吨熟料综合碳排放强度",
        "enterprise",
        None,
        "total / production.CLK",
        "tCO2e/t",
        "0.86",
        "0.90",
    ),
    ("CPP-DEP-PROD", "生产技术部碳排放量", "department", "PROD", "unit.PROD", "tCO2e", None, None),
    (
        "CPP-FAC-KILN1",
        "1# 窑吨熟料排放强度",
        "facility",
        "KILN1",
        "unit.KILN1 / production.CLK",
        "tCO2e/t",
        "0.84",
        "0.88",
    ),
    (
        "CPP-PRD-CEM",
        "吨水泥碳排放强度",
        "product",
        None,
        "total / (production.PO425 + production.PC325R)",
        "tCO2e/t",
        None,
        None,
    ),
)


def seed_demo_parameters(session: Session, *, org_id: int, actor: Actor, owner_id: int | None) -> None:
    if session.exec(select(PerformanceParameter.id).where(PerformanceParameter.org_id == org_id)).first():
        return
    units = {u.code: u.id for u in session.exec(select(OrgUnit).where(OrgUnit.org_id == org_id)).all()}
    for code, name, level, unit_code, formula, unit, warn, alarm in DEMO_PARAMETERS:
        add_parameter(
            session,
            org_id=org_id,
            actor=actor,
            code=code,
            name=name,
            level=level,
            formula=formula,
            unit=unit,
            org_unit_id=units.get(unit_code),
            owner_id=owner_id,
            threshold_warn=Decimal(warn) if warn else None,
            threshold_alarm=Decimal(alarm) if alarm else None,
        )

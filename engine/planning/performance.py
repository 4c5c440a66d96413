"""Carbon performance parameters (6.3): definitions at four levels and their values for a year, from the
inventory (emissions by category and by org unit, rolled up the unit tree) and production totals."""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlmodel import Session, select

from engine.audit import Actor, append_event
from engine.carbon_data.allocation import node_inventory
from engine.carbon_data.cache import cached_inventory
from engine.carbon_data.errors import DataIssue, EmissionsDataError
from engine.carbon_data.inputs import production_totals
from engine.emissions.formula import FormulaError, evaluate, names_in
from engine.emissions.rounding import plain
from engine.identity.models import Membership, OrgUnit, Product
from engine.planning.models import PerformanceParameter

LEVELS = ("enterprise", "department", "facility", "product")


@dataclass(frozen=True)
class ParameterValue:
    parameter: PerformanceParameter
    value: Decimal | None
    status: str  # ok | warn | alarm | error
    problem: str | None = None


def quantities(session: Session, *, org_id: int, year: int) -> dict[str, Decimal]:
    """Every name a formula may use for ``year``: ``total``, ``category.X``, ``unit.CODE`` (the unit and
    everything below it in the tree, shared electricity and heat allocated to its lines and processes by the
    year's keys — engine.carbon_data.allocation) and ``production.CODE``."""
    inventory = cached_inventory(session, org_id=org_id, year=year).summary
    values: dict[str, Decimal] = {"total": Decimal(str(inventory["total_tco2e"]))}
    values.update({f"category.{k}": Decimal(str(v)) for k, v in inventory["by_category"].items()})
    nodes = node_inventory(session, org_id=org_id, year=year).nodes
    values.update({f"unit.{figures.unit.code}": figures.rolled for figures in nodes.values()})
    for total in production_totals(session, org_id=org_id, year=year).values():
        values[f"production.{total.code}"] = total.quantity
    return values


_NAME_PREFIXES = ("category.", "unit.", "production.")
# A facility-level parameter may sit on any operational unit of the tree (4.3): a site, a production line
# (the unit ETS allowances are allocated to), a process or a facility.
_LEVEL_UNIT_KINDS = {
    "department": {"department"},
    "facility": {"facility", "site", "production_line", "process"},
}


def _formula_issues(formula: str) -> list[DataIssue]:
    if not formula.strip():
        return [DataIssue(None, "formula", "缺少公式", "the formula is missing")]
    try:
        names = names_in(formula)
    except FormulaError as error:
        return [DataIssue(None, "formula", error.message_zh, error.message_en)]
    unknown = sorted(n for n in names if n != "total" and not n.startswith(_NAME_PREFIXES))
    if unknown:
        listed = "、".join(unknown)
        return [
            DataIssue(
                None,
                "formula",
                f"公式中的名称无法识别：{listed}"
                "（可用 total、category.类别、unit.单元代码、production.产品代码）",
                f"unknown names in the formula: {', '.join(unknown)} "
                "(use total, category.X, unit.CODE, production.CODE)",
            )
        ]
    return []


def _threshold(value: Decimal | str | None, field: str, issues: list[DataIssue]) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        issues.append(DataIssue(None, field, f"不是有效的数字：{value}", f"not a number: {value}"))
        return None
    return number


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
    threshold_warn: Decimal | str | None = None,
    threshold_alarm: Decimal | str | None = None,
) -> PerformanceParameter:
    """Define a CPP; every problem is reported at once (EmissionsDataError) and nothing is written."""
    code, name, formula, unit = (str(v or "").strip() for v in (code, name, formula, unit))
    issues: list[DataIssue] = []
    for field, value, limit in (("code", code, 64), ("name", name, 200), ("unit", unit, 32)):
        if not value:
            issues.append(DataIssue(None, field, "此项必填", "this field is required"))
        elif len(value) > limit:
            issues.append(DataIssue(None, field, f"不能超过 {limit} 个字符", f"at most {limit} characters"))
    if (
        code
        and session.exec(
            select(PerformanceParameter.id).where(
                PerformanceParameter.org_id == org_id, PerformanceParameter.code == code
            )
        ).first()
    ):
        issues.append(DataIssue(None, "code", f"代码 {code} 已被使用", f"the code {code} is already used"))
    if level not in LEVELS:
        issues.append(
            DataIssue(
                None,
                "level",
                f"层级应为 {'、'.join(LEVELS)} 之一",
                f"level must be one of {', '.join(LEVELS)}",
            )
        )
    issues += _formula_issues(formula)
    if level in _LEVEL_UNIT_KINDS:
        unit_row = (
            session.exec(select(OrgUnit).where(OrgUnit.org_id == org_id, OrgUnit.id == org_unit_id)).first()
            if org_unit_id is not None
            else None
        )
        if unit_row is None:
            issues.append(
                DataIssue(
                    None,
                    "org_unit_id",
                    "部门级和设施级参数需要选择本组织的单元",
                    "choose a unit of the organization",
                )
            )
        elif unit_row.kind not in _LEVEL_UNIT_KINDS[level]:
            issues.append(
                DataIssue(
                    None,
                    "org_unit_id",
                    f"所选单元“{unit_row.name}”不是{'部门' if level == 'department' else '设施'}",
                    f"the unit “{unit_row.name}” is not a {level}",
                )
            )
    elif org_unit_id is not None:
        org_unit_id = None  # enterprise and product parameters belong to no unit
    if level == "product":
        if (
            product_id is None
            or not session.exec(
                select(Product.id).where(Product.org_id == org_id, Product.id == product_id)
            ).first()
        ):
            issues.append(DataIssue(None, "product_id", "产品级参数需要选择本组织的产品", "choose a product"))
    else:
        product_id = None
    if (
        owner_id is not None
        and not session.exec(
            select(Membership.id).where(Membership.org_id == org_id, Membership.user_id == owner_id)
        ).first()
    ):
        issues.append(DataIssue(None, "owner_id", "负责人不是本组织成员", "the owner is not a member"))
    warn = _threshold(threshold_warn, "threshold_warn", issues)
    alarm = _threshold(threshold_alarm, "threshold_alarm", issues)
    if warn is not None and alarm is not None and alarm < warn:
        issues.append(
            DataIssue(
                None, "threshold_alarm", "报警值不能低于预警值", "the alarm threshold is below the warning"
            )
        )
    if issues:
        raise EmissionsDataError(issues)
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
        threshold_warn=warn,
        threshold_alarm=alarm,
    )
    session.add(parameter)
    session.flush()
    assert parameter.id is not None
    fields = {
        "code": code,
        "name": name,
        "level": level,
        "formula": formula,
        "unit": unit,
        "org_unit_id": org_unit_id,
        "product_id": product_id,
        "owner_id": owner_id,
        "threshold_warn": None if warn is None else plain(warn),
        "threshold_alarm": None if alarm is None else plain(alarm),
    }
    append_event(
        session,
        org_id=org_id,
        actor=actor,
        subject_type="performance_parameter",
        subject_id=parameter.id,
        action="created",
        changes={key: [None, value] for key, value in fields.items() if value is not None},
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

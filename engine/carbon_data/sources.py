"""The emission-source register and the calculator line each source becomes."""

import contextlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from engine.audit import Actor, append_event
from engine.carbon_data.errors import BadValue, DataIssue, EmissionsDataError, data_issue
from engine.carbon_data.models import (
    ActivityReading,
    DataTier,
    EmissionSource,
    FactorChoiceKind,
    SourceCategory,
)
from engine.carbon_data.parsing import (
    CATEGORY_NEEDS_FUEL,
    CATEGORY_NEEDS_MATERIAL,
    ELECTRICITY,
    MAX_YEAR,
    MIN_YEAR,
    PARAMETER_DECIMALS,
    PARAMETER_TEXTS,
    SOURCE_FIELDS,
    as_utc,
    parse_decimal,
)
from engine.carbon_data.versions import EVERY_YEAR, bump_input_versions
from engine.emissions import (
    ActivityTier,
    CalcError,
    CalcInput,
    CalcLine,
    Category,
    convert,
    parse_unit,
    validate,
)
from engine.emissions.factors import (
    DEFAULT_FACTOR_SET,
    DEFAULT_GRID_CALIBER,
    GridFactor,
    factor_sets,
    grid_factor,
)
from engine.emissions.rounding import plain
from engine.identity.models import Organization, OrgUnit
from engine.models.base import table_of, utc_iso, utcnow

_readings = table_of(ActivityReading)


# ---------------------------------------------------------------- source lookups for readings


class ReadingContext:
    """The organization's sources and cached unit conversions, for validating many readings."""

    def __init__(self, session: Session, *, org_id: int) -> None:
        self.org_id = org_id
        rows = session.exec(select(EmissionSource).where(EmissionSource.org_id == org_id)).all()
        self.by_id: dict[int, EmissionSource] = {row.id: row for row in rows if row.id is not None}
        self.by_code: dict[str, EmissionSource] = {row.code: row for row in rows}
        self._factors: dict[tuple[str, str], Decimal | BadValue | None] = {}

    def source(self, *, source_id: Any = None, source_code: Any = None) -> EmissionSource:
        if source_id is not None:
            source = self.by_id.get(source_id) if type(source_id) is int else None
            if source is None:
                raise BadValue(f"排放源 {source_id} 不存在", f"source {source_id} does not exist")
        elif source_code is not None and str(source_code).strip():
            source = self.by_code.get(str(source_code).strip())
            if source is None:
                raise BadValue(
                    f"排放源编码“{source_code}”不存在", f"source code '{source_code}' does not exist"
                )
        else:
            raise BadValue("缺少排放源", "the source is missing")
        if not source.active:
            raise BadValue(f"排放源 {source.code} 已停用", f"source {source.code} is inactive")
        return source

    def unit_factor(self, source: EmissionSource, unit: Any) -> Decimal | None:
        """How many of the source's unit one ``unit`` is; None when it is the source's unit."""
        if unit is None or unit == "" or unit == source.unit:
            return None
        key = (str(unit).strip(), source.unit)
        if key not in self._factors:
            try:
                factor = convert(Decimal(1), source=parse_unit(key[0]), target=parse_unit(source.unit))
                self._factors[key] = None if factor == 1 else factor
            except CalcError as error:
                self._factors[key] = BadValue(error.message_zh, error.message_en)
        found = self._factors[key]
        if isinstance(found, BadValue):
            raise found
        return found


# ---------------------------------------------------------------- sources


def latest_grid_year(
    region: str, *, year: int, caliber: str = DEFAULT_GRID_CALIBER, published: Sequence[GridFactor] = ()
) -> int | None:
    """The latest data year ≤ ``year`` that has a grid factor for ``region`` (any level), counting the
    factors the organization entered (``published``)."""
    for candidate in range(year, MIN_YEAR - 1, -1):
        try:
            grid_factor(region=region, year=candidate, caliber=caliber, published=published)
        except CalcError as error:
            if error.field != "year":
                return None  # unknown region or caliber: the calculator reports it
            continue
        return candidate
    return None


def factor_set_with(fuel: str) -> str | None:
    for set_id, fuel_set in factor_sets().items():
        if fuel_set.find_fuel(fuel) is not None:
            return set_id
    return None


_CALC_TO_SOURCE_FIELD = {
    "fuel": "fuel_or_material",
    "material": "fuel_or_material",
    "unit": "unit",
    "region": "region",
    "year": "region",
    "factor": "factor_value",
    "factor_unit": "factor_unit",
    "gas": "gas",
    "category": "category",
}


def _source_issues(values: Mapping[str, Any]) -> list[DataIssue]:
    """Everything wrong with a source's configuration, checked by the calculator on a probe line."""
    issues: list[DataIssue] = []
    for name in ("code", "name", "unit"):
        if not str(values.get(name) or "").strip():
            issues.append(data_issue(name, f"缺少 {name}", f"{name} is missing"))
    category = values.get("category")
    if category not in {item.value for item in SourceCategory}:
        issues.append(
            data_issue(
                "category",
                f"类别“{category}”无效；可用：{'、'.join(SourceCategory)}",
                f"category '{category}' is not valid; use one of {', '.join(SourceCategory)}",
            )
        )
        return issues
    category = SourceCategory(category)
    if values.get("tier") not in {item.value for item in DataTier}:
        issues.append(data_issue("tier", "数据等级无效", "tier must be measured, statistical or estimated"))
    choice = values.get("factor_choice")
    if choice not in {item.value for item in FactorChoiceKind}:
        issues.append(
            data_issue("factor_choice", "因子选择无效", "factor_choice must be default, measured or direct")
        )
    fuel = values.get("fuel_or_material")
    if category in CATEGORY_NEEDS_FUEL | CATEGORY_NEEDS_MATERIAL and not fuel:
        what_zh, what_en = ("燃料", "fuel") if category in CATEGORY_NEEDS_FUEL else ("物料", "material")
        issues.append(
            data_issue("fuel_or_material", f"该类别需要填写{what_zh}", f"this category needs a {what_en}")
        )
    if category not in CATEGORY_NEEDS_FUEL | CATEGORY_NEEDS_MATERIAL and fuel:
        issues.append(
            data_issue(
                "fuel_or_material",
                "电力、热力和回收类排放源不填燃料或物料",
                "electricity, heat and recovery sources have no fuel or material",
            )
        )
    if choice == FactorChoiceKind.direct and values.get("factor_value") is None:
        issues.append(
            data_issue("factor_value", "直接因子需要填写因子值", "a direct factor needs factor_value")
        )
    if choice == FactorChoiceKind.measured and category not in CATEGORY_NEEDS_FUEL:
        issues.append(
            data_issue(
                "factor_choice",
                "实测参数（热值、含碳量、氧化率）只适用于燃烧类排放源",
                "measured parameters (NCV, carbon content, oxidation rate) apply to combustion sources only",
            )
        )
    if choice != FactorChoiceKind.direct and (values.get("factor_value") is not None):
        issues.append(
            data_issue(
                "factor_value", "只有直接因子才填写因子值", "factor_value is only used with a direct factor"
            )
        )
    parameters = values.get("parameters") or {}
    if not isinstance(parameters, Mapping):
        issues.append(data_issue("parameters", "参数必须是键值对", "parameters must be a mapping"))
        parameters = {}
    for key, value in parameters.items():
        if key in PARAMETER_DECIMALS:
            try:
                parse_decimal(value, what=key)
            except BadValue as bad:
                issues.append(data_issue(f"parameters.{key}", bad.zh, bad.en))
        elif key not in PARAMETER_TEXTS:
            known = ", ".join((*PARAMETER_DECIMALS, *PARAMETER_TEXTS))
            issues.append(
                data_issue(
                    f"parameters.{key}",
                    f"未知参数 {key}；可用：{known}",
                    f"unknown parameter {key}; use {known}",
                )
            )
    if issues:
        return issues
    # The calculator checks the rest (fuel known, unit fits, region, parameters of the method).
    given: dict[str, Any] = {name: values.get(name) for name in SOURCE_FIELDS if name in values}
    source = EmissionSource(**given)
    factor_set_id = factor_set_with(fuel) if category in CATEGORY_NEEDS_FUEL and fuel else None
    grid_year = None
    if category in ELECTRICITY and source.region:
        grid_year = latest_grid_year(source.region, year=MAX_YEAR)
    try:
        probe = calc_line(
            source, line=1, quantity=Decimal(1), period=None, org_unit=None, grid_year=grid_year
        )
    except BadValue as bad:
        return [data_issue("parameters", bad.zh, bad.en)]
    found = validate(CalcInput(lines=(probe,), factor_set=factor_set_id or DEFAULT_FACTOR_SET))
    for problem in found:
        if problem.field == "year" and grid_year is None and category in ELECTRICITY:
            continue  # reported as the region's problem below, or a region with no factor yet
        name = _CALC_TO_SOURCE_FIELD.get(problem.field, f"parameters.{problem.field}")
        issues.append(data_issue(name, problem.message_zh, problem.message_en))
    return issues


def _source_values(source: EmissionSource) -> dict[str, Any]:
    return {name: getattr(source, name) for name in SOURCE_FIELDS}


def audit_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return plain(value)
    if isinstance(value, datetime):
        return utc_iso(as_utc(value))
    return value


def _org_unit(session: Session, *, org_id: int, org_unit_id: Any) -> OrgUnit | None:
    if type(org_unit_id) is not int:
        return None
    return session.exec(select(OrgUnit).where(OrgUnit.org_id == org_id, OrgUnit.id == org_unit_id)).first()


def _normalized_source_values(session: Session, *, org_id: int, values: dict[str, Any]) -> dict[str, Any]:
    """Trim texts, canonical fuel name, default region for electricity, decimals as Decimal."""
    for name in (
        "code",
        "name",
        "method",
        "unit",
        "region",
        "factor_unit",
        "gas",
        "meter",
        "fuel_or_material",
    ):
        if isinstance(values.get(name), str):
            values[name] = values[name].strip() or (
                None if name not in ("code", "name", "method", "unit") else ""
            )
    category = values.get("category")
    fuel = values.get("fuel_or_material")
    if category in (SourceCategory.combustion, SourceCategory.biomass) and fuel:
        for fuel_set in factor_sets().values():
            found = fuel_set.find_fuel(fuel)
            if found is not None:
                values["fuel_or_material"] = found.fuel
                break
    if category in ELECTRICITY and not values.get("region"):
        org = session.get(Organization, org_id)
        values["region"] = (org.region if org else None) or "湖南"
    if category not in ELECTRICITY:
        values["region"] = None
    if values.get("factor_value") is not None:
        with contextlib.suppress(BadValue):  # reported by _source_issues
            values["factor_value"] = parse_decimal(values["factor_value"], what="factor_value")
    if values.get("parameters"):
        values["parameters"] = {
            key: _normalized_parameter(key, value) for key, value in dict(values["parameters"]).items()
        }
    return values


def _normalized_parameter(key: str, value: Any) -> Any:
    """Numbers as exact decimal text, texts trimmed (a carbon balance group is matched by its name);
    anything unreadable is left for _source_issues to report."""
    if key in PARAMETER_TEXTS and isinstance(value, str):
        return value.strip()
    if key not in PARAMETER_DECIMALS:
        return value
    try:
        return plain(parse_decimal(value, what=key))
    except BadValue:
        return value


def add_source(
    session: Session,
    *,
    org_id: int,
    actor: Actor,
    org_unit_id: int,
    code: str,
    name: str,
    category: str,
    unit: str,
    fuel_or_material: str | None = None,
    method: str = "",
    region: str | None = None,
    factor_choice: str = FactorChoiceKind.default,
    factor_value: Decimal | str | None = None,
    factor_unit: str | None = None,
    gas: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    meter: str | None = None,
    tier: str = DataTier.statistical,
    active: bool = True,
) -> EmissionSource:
    """A new emission source of one of the organization's org units; the calculator checks that it
    can be calculated (fuel known, unit fits the method, region has grid factors, parameters used)."""
    values = _normalized_source_values(
        session,
        org_id=org_id,
        values={
            "org_unit_id": org_unit_id,
            "code": code,
            "name": name,
            "category": category,
            "fuel_or_material": fuel_or_material,
            "method": method or "",
            "unit": unit,
            "region": region,
            "factor_choice": factor_choice,
            "factor_value": factor_value,
            "factor_unit": factor_unit,
            "gas": gas,
            "parameters": dict(parameters or {}),
            "meter": meter,
            "tier": tier,
            "active": active,
        },
    )
    issues = _source_issues(values)
    if _org_unit(session, org_id=org_id, org_unit_id=org_unit_id) is None:
        issues.append(
            data_issue("org_unit_id", "组织单元不存在", "the org unit does not exist in this organization")
        )
    code_taken = session.exec(
        select(EmissionSource.id).where(
            EmissionSource.org_id == org_id, EmissionSource.code == values["code"]
        )
    ).first()
    if code_taken is not None:
        issues.append(
            data_issue("code", f"编码 {values['code']} 已被使用", f"code {values['code']} is already used")
        )
    if issues:
        raise EmissionsDataError(issues)
    source = EmissionSource(org_id=org_id, **values)
    session.add(source)
    session.flush()
    assert source.id is not None
    bump_input_versions(session, org_id=org_id, years=[EVERY_YEAR])  # a source is in every year's inputs
    append_event(
        session,
        org_id=org_id,
        actor=actor,
        subject_type="emission_source",
        subject_id=source.id,
        action="created",
        changes={
            key: [None, audit_value(value)] for key, value in values.items() if value not in (None, "", {})
        },
    )
    return source


def get_source(session: Session, *, org_id: int, source_id: int) -> EmissionSource | None:
    return session.exec(
        select(EmissionSource).where(EmissionSource.org_id == org_id, EmissionSource.id == source_id)
    ).first()


def update_source(
    session: Session,
    *,
    org_id: int,
    source_id: int,
    actor: Actor,
    changes: Mapping[str, Any],
    reason: str | None = None,
) -> EmissionSource:
    """Change a source's fields (any of SOURCE_FIELDS). The unit cannot change once readings exist
    (they are in that unit). Frozen inventories are not affected."""
    source = get_source(session, org_id=org_id, source_id=source_id)
    if source is None:
        raise EmissionsDataError.single("source_id", zh="排放源不存在", en="the source does not exist")
    unknown = sorted(set(changes) - set(SOURCE_FIELDS))
    if unknown:
        raise EmissionsDataError(
            data_issue(name, f"不能修改字段 {name}", f"field {name} cannot be changed") for name in unknown
        )
    before = _source_values(source)
    values = _normalized_source_values(session, org_id=org_id, values={**before, **dict(changes)})
    issues = _source_issues(values)
    if (
        values["org_unit_id"] != before["org_unit_id"]
        and _org_unit(session, org_id=org_id, org_unit_id=values["org_unit_id"]) is None
    ):
        issues.append(
            data_issue("org_unit_id", "组织单元不存在", "the org unit does not exist in this organization")
        )
    if values["code"] != before["code"]:
        taken = session.exec(
            select(EmissionSource.id).where(
                EmissionSource.org_id == org_id, EmissionSource.code == values["code"]
            )
        ).first()
        if taken is not None:
            issues.append(
                data_issue(
                    "code", f"编码 {values['code']} 已被使用", f"code {values['code']} is already used"
                )
            )
    if values["unit"] != before["unit"]:
        has_readings = (
            session.connection()
            .execute(
                sa.select(_readings.c.source_id)
                .where(_readings.c.org_id == org_id, _readings.c.source_id == source_id)
                .limit(1)
            )
            .first()
        )
        if has_readings is not None:
            issues.append(
                data_issue(
                    "unit",
                    "已有读数的排放源不能改单位（读数按原单位保存）",
                    "the unit of a source with readings cannot change (they are stored in that unit)",
                )
            )
    if issues:
        raise EmissionsDataError(issues)
    diff = {
        key: [audit_value(before[key]), audit_value(values[key])]
        for key in SOURCE_FIELDS
        if before[key] != values[key]
    }
    if not diff:
        return source
    for key in SOURCE_FIELDS:
        setattr(source, key, values[key])
    source.updated_at = utcnow()
    session.add(source)
    session.flush()
    assert source.id is not None
    bump_input_versions(session, org_id=org_id, years=[EVERY_YEAR])  # a source is in every year's inputs
    append_event(
        session,
        org_id=org_id,
        actor=actor,
        subject_type="emission_source",
        subject_id=source.id,
        action="updated",
        changes=diff,
        reason=reason,
    )
    return source


def list_sources(
    session: Session, *, org_id: int, include_inactive: bool = True, org_unit_id: int | None = None
) -> list[EmissionSource]:
    query = select(EmissionSource).where(EmissionSource.org_id == org_id)
    if not include_inactive:
        query = query.where(col(EmissionSource.active).is_(True))
    if org_unit_id is not None:
        query = query.where(EmissionSource.org_unit_id == org_unit_id)
    return list(session.exec(query.order_by(EmissionSource.code)).all())


def calc_line(
    source: EmissionSource,
    *,
    line: int,
    quantity: Decimal,
    period: str | None,
    org_unit: str | None,
    grid_year: int | None,
    measured: Mapping[str, Any] | None = None,
) -> CalcLine:
    fields = line_fields(source, org_unit=org_unit, grid_year=grid_year, measured=measured)
    return CalcLine(line=line, quantity=quantity, period=period, **fields)


def line_fields(
    source: EmissionSource,
    *,
    org_unit: str | None,
    grid_year: int | None,
    measured: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A source's calculator line fields other than line number, quantity and period."""
    category = Category(source.category)
    category_name: str = category  # compared with the SourceCategory sets (both StrEnums)
    fields: dict[str, Any] = {}
    for key, value in (source.parameters or {}).items():
        if key in PARAMETER_DECIMALS:
            try:
                fields[key] = parse_decimal(value, what=key)
            except BadValue:
                raise BadValue(f"参数 {key} 不是数字", f"parameter {key} is not a number") from None
        elif key in PARAMETER_TEXTS:
            fields[key] = str(value)
    for key, value in (measured or {}).items():
        if value is not None:
            fields[key] = value
    if source.factor_choice == FactorChoiceKind.direct:
        fields["factor"] = source.factor_value
        if source.factor_unit:
            fields["factor_unit"] = source.factor_unit
    if source.gas:
        fields["gas"] = source.gas
    fuel = source.fuel_or_material
    fields.update(
        category=category,
        unit=source.unit,
        name=f"{source.code} {source.name}",
        fuel=fuel if category_name in CATEGORY_NEEDS_FUEL else None,
        material=fuel if category_name in CATEGORY_NEEDS_MATERIAL else None,
        region=source.region if category_name in ELECTRICITY else None,
        year=grid_year if category_name in ELECTRICITY else None,
        tier=ActivityTier(source.tier),
        org_unit=org_unit,
    )
    return fields

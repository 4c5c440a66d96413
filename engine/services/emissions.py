"""Emissions data: sources, activity readings, production, measured parameters, inventories.

Every function takes keyword-only arguments after the session; every change to business data is
audited (engine.audit.append_event) in the caller's transaction. Problems with input are raised as
:class:`EmissionsDataError`, which lists *every* problem found (row, field, Chinese and English
message); nothing is written when any row is wrong.

Numbers: quantities are stored as integer micro-units (engine.models.emissions.MicroUnits): rounded
half-even to 6 decimal places of the source's unit on entry, summed exactly in SQL; the calculator
then works in ``Decimal`` (28 digits, half-even, rounded only for presentation: see
engine/emissions/rounding.py).

Time: readings are stored with a UTC ``period_start``; months and years are China Standard Time
(UTC+8) months and years, and a timestamp without an offset is read as UTC+8 (:data:`LOCAL_TZ`).

Annual aggregation (:func:`monthly_totals`) runs in one SQL statement. On SQLite it is one range
sum per (source, month) over the table's clustered key (org_id, source_id, period_start): SQLite's
GROUP BY loop costs about four times a plain range aggregate, and no per-row date function runs. On
PostgreSQL it is a GROUP BY on the UTC+8 month (``to_char``).
"""

import contextlib
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from engine.audit import Actor, append_event, canonical_json
from engine.emissions import (
    ActivityTier,
    Adjustment,
    Baseline,
    CalcError,
    CalcInput,
    CalcLine,
    Category,
    Intensity,
    Inventory,
    PeriodEmissions,
    Production,
    Target,
    TargetKind,
    TargetProgress,
    baseline,
    calculate,
    convert,
    intensity,
    inventory_to_json,
    parse_unit,
    target_progress,
    validate,
)
from engine.emissions.factors import (
    DEFAULT_FACTOR_SET,
    DEFAULT_GRID_CALIBER,
    DEFAULT_GWP_SET,
    factor_sets,
    grid_factor,
)
from engine.emissions.rounding import plain
from engine.models import OrgUnit, Product
from engine.models.base import utc_iso, utcnow
from engine.models.emissions import (
    MICRO,
    ActivityReading,
    BatchKind,
    DataTier,
    EmissionBaseline,
    EmissionSource,
    EmissionTarget,
    FactorChoiceKind,
    IngestIdempotency,
    InventorySnapshot,
    MeasuredParameter,
    ProductionOutput,
    ReadingBatch,
    SourceCategory,
    from_micro,
    to_micro,
)
from engine.models.tenancy import Organization

LOCAL_TZ = timezone(timedelta(hours=8), "UTC+08:00")  # China Standard Time, no daylight saving
MIN_YEAR, MAX_YEAR = 1990, 2100
MAX_QUANTITY = Decimal(10) ** 12  # per reading, in the source's unit (keeps sums far inside BIGINT)
MAX_LISTED_ISSUES = 500
MAX_IDEMPOTENCY_KEY = 128

_readings = ActivityReading.__table__
_sources = EmissionSource.__table__
_batches = ReadingBatch.__table__
_idempotency = IngestIdempotency.__table__
_production = ProductionOutput.__table__
# The insert path binds micro-units as plain integers (no per-value TypeDecorator call).
_reading_rows = sa.table(
    "activity_reading",
    sa.column("org_id", sa.Integer),
    sa.column("source_id", sa.Integer),
    sa.column("period_start", sa.DateTime(timezone=True)),
    sa.column("quantity", sa.BigInteger),
    sa.column("tier", sa.String),
    sa.column("evidence_sha256", sa.String),
    sa.column("entered_by", sa.Integer),
    sa.column("batch_id", sa.Integer),
    sa.column("note", sa.String),
)

TIER_SPELLINGS: Mapping[str, DataTier] = {
    "measured": DataTier.measured,
    "实测": DataTier.measured,
    "计量": DataTier.measured,
    "statistical": DataTier.statistical,
    "统计": DataTier.statistical,
    "estimated": DataTier.estimated,
    "估算": DataTier.estimated,
}
CATEGORY_NEEDS_FUEL = frozenset({SourceCategory.combustion, SourceCategory.biomass})
CATEGORY_NEEDS_MATERIAL = frozenset({SourceCategory.process})
ELECTRICITY = frozenset({SourceCategory.purchased_electricity, SourceCategory.exported_electricity})
# Categories whose readings may be negative. None: the calculator takes exports and recovery as
# positive quantities and subtracts them itself, and a monthly total below zero is always an error.
NEGATIVE_ALLOWED: frozenset[SourceCategory] = frozenset()
# Method constants a source may carry in ``parameters`` (calculator line keys).
PARAMETER_DECIMALS = (
    "purity",
    "calcination_fraction",
    "carbon_fraction",
    "cao_content",
    "mgo_content",
    "cao_noncarbonate",
    "mgo_noncarbonate",
    "anode_effect_minutes",
    "ncv",
    "carbon_content",
    "oxidation_rate",
    "uncertainty",
    "factor_uncertainty",
)
PARAMETER_TEXTS = ("ncv_unit",)
SOURCE_FIELDS = (
    "org_unit_id",
    "code",
    "name",
    "category",
    "fuel_or_material",
    "method",
    "unit",
    "region",
    "factor_choice",
    "factor_value",
    "factor_unit",
    "gas",
    "parameters",
    "meter",
    "tier",
    "active",
)
_HEX64 = re.compile(r"[0-9a-f]{64}")
_MONTH = re.compile(r"(\d{4})-(\d{1,2})")


# ---------------------------------------------------------------- errors


@dataclass(frozen=True, slots=True)
class DataIssue:
    """One problem: ``row`` is the 1-based position in the submitted list (sheet row for files)."""

    row: int | None
    field: str
    message_zh: str
    message_en: str
    source_code: str | None = None
    period: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "field": self.field,
            "message_zh": self.message_zh,
            "message_en": self.message_en,
            "source_code": self.source_code,
            "period": self.period,
        }


class EmissionsDataError(ValueError):
    """Bad emissions data. ``issues`` lists every problem found (capped at MAX_LISTED_ISSUES + 1)."""

    def __init__(self, issues: Iterable[DataIssue]) -> None:
        listed = sorted(issues, key=lambda issue: (issue.row is None, issue.row or 0))
        if not listed:
            raise ValueError("EmissionsDataError needs at least one issue")
        if len(listed) > MAX_LISTED_ISSUES:
            more = len(listed) - MAX_LISTED_ISSUES
            listed = listed[:MAX_LISTED_ISSUES] + [
                DataIssue(
                    row=None,
                    field="*",
                    message_zh=f"另有 {more} 个问题未列出",
                    message_en=f"{more} more problems not listed",
                )
            ]
        self.issues: tuple[DataIssue, ...] = tuple(listed)
        first = self.issues[0]
        where = f"row {first.row}, " if first.row is not None else ""
        super().__init__(f"{len(self.issues)} problem(s); first: {where}{first.field}: {first.message_en}")

    @classmethod
    def single(cls, field: str, *, zh: str, en: str, row: int | None = None) -> "EmissionsDataError":
        return cls([DataIssue(row=row, field=field, message_zh=zh, message_en=en)])

    def to_json(self) -> dict[str, Any]:
        return {"errors": [issue.to_dict() for issue in self.issues]}


class _Bad(Exception):
    """A field could not be used; carries the two messages."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh = zh
        self.en = en


# ---------------------------------------------------------------- time and numbers


def month_start(year: int, month: int) -> datetime:
    """The UTC instant at which the UTC+8 month starts."""
    return datetime(year, month, 1, tzinfo=LOCAL_TZ).astimezone(UTC)


def month_bounds(year: int) -> list[tuple[str, datetime, datetime]]:
    """``[(YYYY-MM, start, end)]`` for the 12 months of ``year`` (UTC+8), as UTC instants."""
    starts = [month_start(year, month) for month in range(1, 13)] + [month_start(year + 1, 1)]
    return [(f"{year:04d}-{month:02d}", starts[month - 1], starts[month]) for month in range(1, 13)]


def period_label(moment: datetime) -> str:
    """'YYYY-MM' of the UTC+8 month containing ``moment`` (naive values are UTC, as SQLite returns)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(LOCAL_TZ).strftime("%Y-%m")


_LOCAL_OFFSET = timedelta(hours=8)  # China Standard Time: no daylight saving, so a fixed offset is exact


def local_months(moments: Iterable[datetime]) -> tuple[str, ...]:
    """The distinct 'YYYY-MM' UTC+8 months of UTC instants (naive = UTC), fast enough for bulk ingestion
    (a tenth of the cost of ``period_label`` per reading)."""
    months = {(shifted.year, shifted.month) for shifted in (moment + _LOCAL_OFFSET for moment in moments)}
    return tuple(f"{year:04d}-{month:02d}" for year, month in sorted(months))


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_month(value: Any) -> tuple[int, int]:
    """'2024-03' (also '2024-3', '2024/03', 202403) → (2024, 3); anything else raises _Bad."""
    if isinstance(value, datetime | date):
        return value.year, value.month
    text = str(value).strip().replace("/", "-").replace(".", "-") if value is not None else ""
    if re.fullmatch(r"\d{6}", text):
        text = f"{text[:4]}-{text[4:]}"
    match = _MONTH.fullmatch(text)
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise _Bad(
            f"期间“{value}”不是 YYYY-MM 格式的月份", f"period '{value}' is not a month in YYYY-MM form"
        )
    year, month = int(match.group(1)), int(match.group(2))
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise _Bad(
            f"年份 {year} 超出范围 {MIN_YEAR}–{MAX_YEAR}", f"year {year} is outside {MIN_YEAR}–{MAX_YEAR}"
        )
    return year, month


def parse_instant(value: Any, *, allow_month: bool) -> datetime:
    """A reading's start as a UTC datetime. Accepts a datetime, ISO-8601 text ('Z' or an offset;
    without one it is UTC+8) and, with ``allow_month``, a month 'YYYY-MM' (its first instant)."""
    moment: datetime
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        if allow_month and len(text) <= 7:
            year, month = parse_month(text)
            return month_start(year, month)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            expected_zh = "YYYY-MM 或 " if allow_month else ""
            expected_en = "YYYY-MM or " if allow_month else ""
            raise _Bad(
                f"时间“{value}”无法识别：请用 {expected_zh}ISO 8601 时间（如 2024-03-01T08:00:00+08:00）",
                f"time '{value}' is not understood: use {expected_en}ISO 8601 "
                "(e.g. 2024-03-01T08:00:00+08:00)",
            ) from None
    else:
        raise _Bad(f"时间“{value}”无法识别", f"time '{value}' is not understood")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LOCAL_TZ)
    if not MIN_YEAR <= moment.year <= MAX_YEAR:
        raise _Bad(
            f"年份 {moment.year} 超出范围 {MIN_YEAR}–{MAX_YEAR}",
            f"year {moment.year} is outside {MIN_YEAR}–{MAX_YEAR}",
        )
    return moment.astimezone(UTC)


def parse_decimal(value: Any, *, what: str = "quantity") -> Decimal:
    """A finite number (int, float, Decimal or text) as Decimal; floats by their shortest repr."""
    if isinstance(value, bool):
        raise _Bad(f"{what} 必须是数字（{value}）", f"{what} must be a number ({value})")
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, str) and value.strip():
        try:
            number = Decimal(value.strip().replace(",", ""))
        except InvalidOperation:
            raise _Bad(f"{what} 必须是数字（“{value}”）", f"{what} must be a number ('{value}')") from None
    else:
        raise _Bad(f"缺少 {what}", f"{what} is missing")
    if not number.is_finite():
        raise _Bad(f"{what} 必须是有限数字（{value}）", f"{what} must be a finite number ({value})")
    return number


def _micro_quantity(value: Any, *, factor: Decimal | None, negative_ok: bool) -> int:
    """A reading quantity in micro-units of the source's unit (``factor`` converts the given unit)."""
    if factor is None and type(value) is int:  # the fast path of meter data
        if value < 0 and not negative_ok:
            raise _Bad(f"数量不能为负数（{value}）", f"quantity must not be negative ({value})")
        if value > MAX_QUANTITY:
            raise _Bad(f"数量过大（{value}）", f"quantity is too large ({value})")
        return value * MICRO
    number = parse_decimal(value)
    if factor is not None:
        number = number * factor
    if number < 0 and not negative_ok:
        raise _Bad(f"数量不能为负数（{value}）", f"quantity must not be negative ({value})")
    if abs(number) > MAX_QUANTITY:
        raise _Bad(f"数量过大（{value}）", f"quantity is too large ({value})")
    return to_micro(number)


def parse_tier(value: Any, *, default: str) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    tier = TIER_SPELLINGS.get(str(value).strip().lower())
    if tier is None:
        raise _Bad(
            f"数据等级“{value}”无效：请填 measured（实测）、statistical（统计）或 estimated（估算）",
            f"tier '{value}' is not valid: use measured, statistical or estimated",
        )
    return tier.value


def parse_sha256(value: Any) -> str | None:
    if value is None or value == "":
        return None
    text = str(value).strip().lower()
    if not _HEX64.fullmatch(text):
        raise _Bad("证据哈希必须是 64 位十六进制 SHA-256", "evidence_sha256 must be a 64-digit hex SHA-256")
    return text


def parse_note(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if len(text) > 200:
        raise _Bad("备注不能超过 200 个字符", "the note must be at most 200 characters")
    return text or None


def sha256_of(data: Any) -> str:
    return hashlib.sha256(canonical_json(data).encode() if isinstance(data, Mapping) else data).hexdigest()


# ---------------------------------------------------------------- source lookups for readings


class ReadingContext:
    """The organization's sources and cached unit conversions, for validating many readings."""

    def __init__(self, session: Session, *, org_id: int) -> None:
        self.org_id = org_id
        rows = session.exec(select(EmissionSource).where(EmissionSource.org_id == org_id)).all()
        self.by_id: dict[int, EmissionSource] = {row.id: row for row in rows}
        self.by_code: dict[str, EmissionSource] = {row.code: row for row in rows}
        self._factors: dict[tuple[str, str], Decimal | _Bad | None] = {}

    def source(self, *, source_id: Any = None, source_code: Any = None) -> EmissionSource:
        if source_id is not None:
            source = self.by_id.get(source_id) if type(source_id) is int else None
            if source is None:
                raise _Bad(f"排放源 {source_id} 不存在", f"source {source_id} does not exist")
        elif source_code is not None and str(source_code).strip():
            source = self.by_code.get(str(source_code).strip())
            if source is None:
                raise _Bad(f"排放源编码“{source_code}”不存在", f"source code '{source_code}' does not exist")
        else:
            raise _Bad("缺少排放源", "the source is missing")
        if not source.active:
            raise _Bad(f"排放源 {source.code} 已停用", f"source {source.code} is inactive")
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
                self._factors[key] = _Bad(error.message_zh, error.message_en)
        found = self._factors[key]
        if isinstance(found, _Bad):
            raise found
        return found


# ---------------------------------------------------------------- sources


def _issue(field_name: str, zh: str, en: str, *, row: int | None = None) -> DataIssue:
    return DataIssue(row=row, field=field_name, message_zh=zh, message_en=en)


def _latest_grid_year(region: str, *, year: int, caliber: str = DEFAULT_GRID_CALIBER) -> int | None:
    """The latest data year ≤ ``year`` that has a grid factor for ``region`` (any level)."""
    for candidate in range(year, MIN_YEAR - 1, -1):
        try:
            grid_factor(region=region, year=candidate, caliber=caliber)
        except CalcError as error:
            if error.field != "year":
                return None  # unknown region or caliber: the calculator reports it
            continue
        return candidate
    return None


def _factor_set_with(fuel: str) -> str | None:
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
            issues.append(_issue(name, f"缺少 {name}", f"{name} is missing"))
    category = values.get("category")
    if category not in {item.value for item in SourceCategory}:
        issues.append(
            _issue(
                "category",
                f"类别“{category}”无效；可用：{'、'.join(SourceCategory)}",
                f"category '{category}' is not valid; use one of {', '.join(SourceCategory)}",
            )
        )
        return issues
    category = SourceCategory(category)
    if values.get("tier") not in {item.value for item in DataTier}:
        issues.append(_issue("tier", "数据等级无效", "tier must be measured, statistical or estimated"))
    choice = values.get("factor_choice")
    if choice not in {item.value for item in FactorChoiceKind}:
        issues.append(
            _issue("factor_choice", "因子选择无效", "factor_choice must be default, measured or direct")
        )
    fuel = values.get("fuel_or_material")
    if category in CATEGORY_NEEDS_FUEL | CATEGORY_NEEDS_MATERIAL and not fuel:
        what_zh, what_en = ("燃料", "fuel") if category in CATEGORY_NEEDS_FUEL else ("物料", "material")
        issues.append(
            _issue("fuel_or_material", f"该类别需要填写{what_zh}", f"this category needs a {what_en}")
        )
    if category not in CATEGORY_NEEDS_FUEL | CATEGORY_NEEDS_MATERIAL and fuel:
        issues.append(
            _issue(
                "fuel_or_material",
                "电力、热力和回收类排放源不填燃料或物料",
                "electricity, heat and recovery sources have no fuel or material",
            )
        )
    if choice == FactorChoiceKind.direct and values.get("factor_value") is None:
        issues.append(_issue("factor_value", "直接因子需要填写因子值", "a direct factor needs factor_value"))
    if choice == FactorChoiceKind.measured and category not in CATEGORY_NEEDS_FUEL:
        issues.append(
            _issue(
                "factor_choice",
                "实测参数（热值、含碳量、氧化率）只适用于燃烧类排放源",
                "measured parameters (NCV, carbon content, oxidation rate) apply to combustion sources only",
            )
        )
    if choice != FactorChoiceKind.direct and (values.get("factor_value") is not None):
        issues.append(
            _issue(
                "factor_value", "只有直接因子才填写因子值", "factor_value is only used with a direct factor"
            )
        )
    parameters = values.get("parameters") or {}
    if not isinstance(parameters, Mapping):
        issues.append(_issue("parameters", "参数必须是键值对", "parameters must be a mapping"))
        parameters = {}
    for key, value in parameters.items():
        if key in PARAMETER_DECIMALS:
            try:
                parse_decimal(value, what=key)
            except _Bad as bad:
                issues.append(_issue(f"parameters.{key}", bad.zh, bad.en))
        elif key not in PARAMETER_TEXTS:
            known = ", ".join((*PARAMETER_DECIMALS, *PARAMETER_TEXTS))
            issues.append(
                _issue(
                    f"parameters.{key}",
                    f"未知参数 {key}；可用：{known}",
                    f"unknown parameter {key}; use {known}",
                )
            )
    if issues:
        return issues
    # The calculator checks the rest (fuel known, unit fits, region, parameters of the method).
    source = EmissionSource(**{name: values.get(name) for name in SOURCE_FIELDS if name in values})
    factor_set_id = _factor_set_with(fuel) if category in CATEGORY_NEEDS_FUEL and fuel else None
    grid_year = None
    if category in ELECTRICITY and source.region:
        grid_year = _latest_grid_year(source.region, year=MAX_YEAR)
    try:
        probe = _calc_line(
            source, line=1, quantity=Decimal(1), period=None, org_unit=None, grid_year=grid_year
        )
    except _Bad as bad:
        return [_issue("parameters", bad.zh, bad.en)]
    found = validate(CalcInput(lines=(probe,), factor_set=factor_set_id or DEFAULT_FACTOR_SET))
    for problem in found:
        if problem.field == "year" and grid_year is None and category in ELECTRICITY:
            continue  # reported as the region's problem below, or a region with no factor yet
        name = _CALC_TO_SOURCE_FIELD.get(problem.field, f"parameters.{problem.field}")
        issues.append(_issue(name, problem.message_zh, problem.message_en))
    return issues


def _source_values(source: EmissionSource) -> dict[str, Any]:
    return {name: getattr(source, name) for name in SOURCE_FIELDS}


def _audit_value(value: Any) -> Any:
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
        with contextlib.suppress(_Bad):  # reported by _source_issues
            values["factor_value"] = parse_decimal(values["factor_value"], what="factor_value")
    if values.get("parameters"):
        values["parameters"] = {
            key: _normalized_parameter(key, value) for key, value in dict(values["parameters"]).items()
        }
    return values


def _normalized_parameter(key: str, value: Any) -> Any:
    """Numbers as exact decimal text; anything unreadable is left for _source_issues to report."""
    if key not in PARAMETER_DECIMALS:
        return value
    try:
        return plain(parse_decimal(value, what=key))
    except _Bad:
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
            _issue("org_unit_id", "组织单元不存在", "the org unit does not exist in this organization")
        )
    code_taken = session.exec(
        select(EmissionSource.id).where(
            EmissionSource.org_id == org_id, EmissionSource.code == values["code"]
        )
    ).first()
    if code_taken is not None:
        issues.append(
            _issue("code", f"编码 {values['code']} 已被使用", f"code {values['code']} is already used")
        )
    if issues:
        raise EmissionsDataError(issues)
    source = EmissionSource(org_id=org_id, **values)
    session.add(source)
    session.flush()
    append_event(
        session,
        org_id=org_id,
        actor=actor,
        subject_type="emission_source",
        subject_id=source.id,
        action="created",
        changes={
            key: [None, _audit_value(value)] for key, value in values.items() if value not in (None, "", {})
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
            _issue(name, f"不能修改字段 {name}", f"field {name} cannot be changed") for name in unknown
        )
    before = _source_values(source)
    values = _normalized_source_values(session, org_id=org_id, values={**before, **dict(changes)})
    issues = _source_issues(values)
    if (
        values["org_unit_id"] != before["org_unit_id"]
        and _org_unit(session, org_id=org_id, org_unit_id=values["org_unit_id"]) is None
    ):
        issues.append(
            _issue("org_unit_id", "组织单元不存在", "the org unit does not exist in this organization")
        )
    if values["code"] != before["code"]:
        taken = session.exec(
            select(EmissionSource.id).where(
                EmissionSource.org_id == org_id, EmissionSource.code == values["code"]
            )
        ).first()
        if taken is not None:
            issues.append(
                _issue("code", f"编码 {values['code']} 已被使用", f"code {values['code']} is already used")
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
                _issue(
                    "unit",
                    "已有读数的排放源不能改单位（读数按原单位保存）",
                    "the unit of a source with readings cannot change (they are stored in that unit)",
                )
            )
    if issues:
        raise EmissionsDataError(issues)
    diff = {
        key: [_audit_value(before[key]), _audit_value(values[key])]
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
        query = query.where(EmissionSource.active.is_(True))
    if org_unit_id is not None:
        query = query.where(EmissionSource.org_unit_id == org_unit_id)
    return list(session.exec(query.order_by(EmissionSource.code)).all())


# ---------------------------------------------------------------- manual readings


@dataclass(frozen=True, slots=True)
class ParsedReading:
    source: EmissionSource
    period_start: datetime  # UTC
    quantity_micro: int
    tier: str
    evidence_sha256: str | None
    note: str | None

    @property
    def quantity(self) -> Decimal:
        return from_micro(self.quantity_micro)

    def insert_row(self, to_db: Any) -> "InsertRow":
        return (
            self.source.id,
            to_db(self.period_start),
            self.quantity_micro,
            self.tier,
            self.evidence_sha256,
            self.note,
        )


@dataclass(frozen=True, slots=True)
class RecordedReading:
    source_id: int
    period_start: datetime
    quantity: Decimal
    action: str  # created | updated | unchanged


def _parse_entry(
    context: ReadingContext, entry: Mapping[str, Any], *, row: int, allow_month: bool, period_key: str
) -> tuple[ParsedReading | None, list[DataIssue]]:
    issues: list[DataIssue] = []
    source = None
    try:
        source = context.source(source_id=entry.get("source_id"), source_code=entry.get("source_code"))
    except _Bad as bad:
        issues.append(_issue("source_id" if "source_id" in entry else "source_code", bad.zh, bad.en, row=row))
    moment = None
    try:
        moment = parse_instant(entry.get(period_key), allow_month=allow_month)
    except _Bad as bad:
        issues.append(_issue(period_key, bad.zh, bad.en, row=row))
    micro = tier = sha = note = None
    factor = None
    if source is not None:
        try:
            factor = context.unit_factor(source, entry.get("unit"))
        except _Bad as bad:
            issues.append(_issue("unit", bad.zh, bad.en, row=row))
    try:
        negative_ok = source is not None and source.category in NEGATIVE_ALLOWED
        micro = _micro_quantity(entry.get("quantity"), factor=factor, negative_ok=negative_ok)
    except _Bad as bad:
        issues.append(_issue("quantity", bad.zh, bad.en, row=row))
    try:
        tier = parse_tier(entry.get("tier"), default=source.tier if source else DataTier.statistical)
    except _Bad as bad:
        issues.append(_issue("tier", bad.zh, bad.en, row=row))
    try:
        sha = parse_sha256(entry.get("evidence_sha256"))
    except _Bad as bad:
        issues.append(_issue("evidence_sha256", bad.zh, bad.en, row=row))
    try:
        note = parse_note(entry.get("note"))
    except _Bad as bad:
        issues.append(_issue("note", bad.zh, bad.en, row=row))
    if issues or source is None or moment is None or micro is None or tier is None:
        return None, issues
    return ParsedReading(source, moment, micro, tier, sha, note), []


MANUAL_KEYS = frozenset(
    {"source_id", "source_code", "period", "quantity", "unit", "tier", "evidence_sha256", "note"}
)


def record_readings(
    session: Session, *, org_id: int, actor: Actor, entries: Sequence[Mapping[str, Any]]
) -> list[RecordedReading]:
    """Manual entry, typically one value per source and month: ``period`` is 'YYYY-MM' (or a
    timestamp), ``quantity`` in the source's unit or in ``unit`` (converted when compatible).

    An entry for a (source, period) that already has a reading corrects it (audited old → new).
    All entries are validated first; nothing is written when any is wrong."""
    context = ReadingContext(session, org_id=org_id)
    parsed: list[ParsedReading] = []
    issues: list[DataIssue] = []
    seen: dict[tuple[int, datetime], int] = {}
    for row, entry in enumerate(entries, start=1):
        for key in sorted(set(entry) - MANUAL_KEYS):
            issues.append(_issue(key, f"未知字段 {key}", f"unknown field {key}", row=row))
        reading, found = _parse_entry(context, entry, row=row, allow_month=True, period_key="period")
        issues += found
        if reading is None:
            continue
        key = (reading.source.id, reading.period_start)
        if key in seen:
            issues.append(
                _issue("period", f"与第 {seen[key]} 行重复", f"duplicates row {seen[key]}", row=row)
            )
            continue
        seen[key] = row
        parsed.append(reading)
    if not entries:
        issues.append(_issue("entries", "没有任何读数", "there are no readings"))
    if issues:
        raise EmissionsDataError(issues)
    connection = session.connection()
    batch = _new_batch(
        session, org_id=org_id, kind=BatchKind.manual, label="manual", actor=actor, rows=len(parsed)
    )
    existing = _existing_readings(connection, org_id=org_id, readings=parsed)
    results: list[RecordedReading] = []
    inserts: list[InsertRow] = []
    to_db = db_instant(connection.dialect.name)
    for reading in parsed:
        key = (reading.source.id, reading.period_start)
        old = existing.get(key)
        subject = f"{reading.source.id}@{utc_iso(reading.period_start)}"
        if old is None:
            inserts.append(reading.insert_row(to_db))
            changes = {
                "source": [None, reading.source.code],
                "period": [None, period_label(reading.period_start)],
                "period_start": [None, utc_iso(reading.period_start)],
                "quantity": [None, plain(reading.quantity)],
                "unit": [None, reading.source.unit],
                "tier": [None, reading.tier],
            }
            if reading.evidence_sha256:
                changes["evidence_sha256"] = [None, reading.evidence_sha256]
            append_event(
                session,
                org_id=org_id,
                actor=actor,
                subject_type="activity_reading",
                subject_id=subject,
                action="created",
                changes=changes,
            )
            results.append(
                RecordedReading(reading.source.id, reading.period_start, reading.quantity, "created")
            )
            continue
        new = {
            "quantity": reading.quantity_micro,
            "tier": reading.tier,
            "evidence_sha256": reading.evidence_sha256,
            "note": reading.note,
        }
        diff = {name: [old[name], value] for name, value in new.items() if old[name] != value}
        if not diff:
            results.append(
                RecordedReading(reading.source.id, reading.period_start, reading.quantity, "unchanged")
            )
            continue
        connection.execute(
            sa.update(_reading_rows)
            .where(
                _reading_rows.c.org_id == org_id,
                _reading_rows.c.source_id == reading.source.id,
                _reading_rows.c.period_start == reading.period_start,
            )
            .values(**new, entered_by=actor.id, batch_id=batch.id)
        )
        if "quantity" in diff:
            diff["quantity"] = [plain(from_micro(diff["quantity"][0])), plain(reading.quantity)]
        append_event(
            session,
            org_id=org_id,
            actor=actor,
            subject_type="activity_reading",
            subject_id=subject,
            action="corrected",
            changes=diff,
        )
        results.append(RecordedReading(reading.source.id, reading.period_start, reading.quantity, "updated"))
    insert_rows(connection, org_id=org_id, entered_by=actor.id, batch_id=batch.id, rows=inserts)
    _finish_batch(
        connection,
        batch_id=batch.id,
        inserted=len(inserts),
        updated=sum(1 for item in results if item.action == "updated"),
    )
    return results


def record_reading(
    session: Session,
    *,
    org_id: int,
    actor: Actor,
    source_id: int,
    period: str | datetime,
    quantity: Decimal | int | float | str,
    unit: str | None = None,
    tier: str | None = None,
    evidence_sha256: str | None = None,
    note: str | None = None,
) -> RecordedReading:
    """One manual reading (see :func:`record_readings`); errors carry row 1."""
    entry = {
        "source_id": source_id,
        "period": period,
        "quantity": quantity,
        "unit": unit,
        "tier": tier,
        "evidence_sha256": evidence_sha256,
        "note": note,
    }
    return record_readings(session, org_id=org_id, actor=actor, entries=[entry])[0]


def _existing_readings(
    connection: sa.Connection, *, org_id: int, readings: Sequence[ParsedReading]
) -> dict[tuple[int, datetime], dict[str, Any]]:
    """Stored readings at the (source, start) keys of ``readings``: one range query per source."""
    spans: dict[int, tuple[datetime, datetime]] = {}
    for reading in readings:
        low, high = spans.get(reading.source.id, (reading.period_start, reading.period_start))
        spans[reading.source.id] = (min(low, reading.period_start), max(high, reading.period_start))
    wanted = {(reading.source.id, reading.period_start) for reading in readings}
    found: dict[tuple[int, datetime], dict[str, Any]] = {}
    for source_id, (low, high) in spans.items():
        rows = connection.execute(
            sa.select(
                _reading_rows.c.period_start,
                _reading_rows.c.quantity,
                _reading_rows.c.tier,
                _reading_rows.c.evidence_sha256,
                _reading_rows.c.note,
            ).where(
                _reading_rows.c.org_id == org_id,
                _reading_rows.c.source_id == source_id,
                _reading_rows.c.period_start >= low,
                _reading_rows.c.period_start <= high,
            )
        )
        for period_start, quantity, tier, sha, note in rows:
            key = (source_id, as_utc(period_start))
            if key in wanted:
                found[key] = {"quantity": int(quantity), "tier": tier, "evidence_sha256": sha, "note": note}
    return found


def _new_batch(
    session: Session,
    *,
    org_id: int,
    kind: BatchKind,
    label: str,
    actor: Actor,
    rows: int,
    sha256: str | None = None,
) -> ReadingBatch:
    batch = ReadingBatch(
        org_id=org_id, kind=kind.value, label=label[:255], sha256=sha256, rows=rows, created_by=actor.id
    )
    session.add(batch)
    session.flush()
    return batch


def _finish_batch(connection: sa.Connection, *, batch_id: int, inserted: int, updated: int) -> None:
    connection.execute(
        sa.update(_batches).where(_batches.c.id == batch_id).values(inserted=inserted, updated=updated)
    )


def list_readings(
    session: Session, *, org_id: int, source_id: int, start: datetime, end: datetime, limit: int = 10_000
) -> list[ActivityReading]:
    """Readings of one source with ``start <= period_start < end``, oldest first."""
    return list(
        session.exec(
            select(ActivityReading)
            .where(
                ActivityReading.org_id == org_id,
                ActivityReading.source_id == source_id,
                ActivityReading.period_start >= as_utc(start),
                ActivityReading.period_start < as_utc(end),
            )
            .order_by(ActivityReading.period_start)
            .limit(limit)
        ).all()
    )


# ---------------------------------------------------------------- bulk meter ingestion


@dataclass(frozen=True, slots=True)
class IngestResult:
    batch_id: int
    inserted: int
    sources: int
    first_period_start: str | None
    last_period_start: str | None
    replayed: bool = False
    periods: tuple[str, ...] = ()  # the local months (YYYY-MM) that received readings

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "inserted": self.inserted,
            "sources": self.sources,
            "first_period_start": self.first_period_start,
            "last_period_start": self.last_period_start,
        }


INGEST_KEYS = frozenset(
    {"source_id", "source_code", "period_start", "quantity", "unit", "tier", "evidence_sha256", "note"}
)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serializable")


def ingest_readings(
    session: Session,
    *,
    org_id: int,
    readings: Sequence[Mapping[str, Any]],
    idempotency_key: str,
    actor: Actor,
) -> IngestResult:
    """Bulk meter data: ``readings`` are mappings with ``source_id`` (or ``source_code``),
    ``period_start`` (ISO 8601 or datetime; no offset = UTC+8), ``quantity`` and optionally ``unit``,
    ``tier``, ``evidence_sha256`` and ``note``.

    All-or-nothing: every reading is validated first, including duplicates within the request and
    against stored readings; nothing is written when any is wrong. Then one executemany INSERT.
    Replaying an ``idempotency_key`` returns the stored result (``replayed=True``) and inserts
    nothing; the same key with a different request is refused. One audit event per request."""
    key = (idempotency_key or "").strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY:
        raise EmissionsDataError.single(
            "idempotency_key",
            zh=f"幂等键必须是 1–{MAX_IDEMPOTENCY_KEY} 个字符",
            en=f"the idempotency key must be 1–{MAX_IDEMPOTENCY_KEY} characters",
        )
    request_sha256 = hashlib.sha256(orjson.dumps(readings, default=_json_default)).hexdigest()
    connection = session.connection()
    replay = _replay(connection, org_id=org_id, key=key, request_sha256=request_sha256)
    if replay is not None:
        return replay
    parsed = _parse_meter_readings(
        ReadingContext(session, org_id=org_id), readings, dialect=connection.dialect.name
    )
    issues = parsed.issues or _stored_duplicates(connection, org_id=org_id, keys=parsed.keys)
    if issues:
        raise EmissionsDataError(issues)
    # Claim the key first: a concurrent request with the same key waits here, then replays.
    try:
        with session.begin_nested():
            idempotency_id = connection.execute(
                sa.insert(_idempotency)
                .values(org_id=org_id, key=key, request_sha256=request_sha256, created_at=utcnow(), result={})
                .returning(_idempotency.c.id)
            ).scalar_one()
    except IntegrityError:
        replay = _replay(connection, org_id=org_id, key=key, request_sha256=request_sha256)
        if replay is None:
            raise
        return replay
    rows = parsed.rows
    batch = _new_batch(
        session,
        org_id=org_id,
        kind=BatchKind.api,
        label=key,
        actor=actor,
        rows=len(rows),
        sha256=request_sha256,
    )
    # A reading stored concurrently since the check fails the INSERT and the whole transaction.
    insert_rows(connection, org_id=org_id, entered_by=actor.id, batch_id=batch.id, rows=rows)
    starts = [moment for _, moment in parsed.keys]
    result = IngestResult(
        batch_id=batch.id,
        inserted=len(rows),
        sources=len(parsed.sources),
        first_period_start=utc_iso(min(starts)) if starts else None,
        last_period_start=utc_iso(max(starts)) if starts else None,
        periods=local_months(starts),
    )
    connection.execute(
        sa.update(_idempotency).where(_idempotency.c.id == idempotency_id).values(result=result.to_dict())
    )
    _finish_batch(connection, batch_id=batch.id, inserted=len(rows), updated=0)
    append_event(
        session,
        org_id=org_id,
        actor=actor,
        subject_type="reading_batch",
        subject_id=batch.id,
        action="ingested",
        changes={
            "readings": [None, len(rows)],
            "idempotency_key": [None, key],
            "request_sha256": [None, request_sha256],
            "period_start": [None, [result.first_period_start, result.last_period_start]],
            "sources": [None, sorted(parsed.sources)],
        },
    )
    return result


def _replay(connection: sa.Connection, *, org_id: int, key: str, request_sha256: str) -> IngestResult | None:
    stored = connection.execute(
        sa.select(_idempotency.c.request_sha256, _idempotency.c.result).where(
            _idempotency.c.org_id == org_id, _idempotency.c.key == key
        )
    ).first()
    if stored is None:
        return None
    if stored.request_sha256 != request_sha256:
        raise EmissionsDataError.single(
            "idempotency_key",
            zh="此幂等键已用于另一份不同的数据",
            en="this idempotency key was already used for a different request",
        )
    return IngestResult(**stored.result, replayed=True)


# A row for insert_rows: (source_id, period_start as the driver takes it, micro-units, tier,
# evidence_sha256, note).
InsertRow = tuple[int, Any, int, str, str | None, str | None]


def db_instant(dialect: str) -> Any:
    """How the driver takes a UTC instant for ``activity_reading.period_start``: on SQLite the text
    SQLAlchemy's DateTime stores ('YYYY-MM-DD HH:MM:SS.ffffff', UTC), on PostgreSQL the datetime."""
    if dialect == "sqlite":
        return lambda moment: moment.replace(tzinfo=None).isoformat(" ", "microseconds")
    return lambda moment: moment


def _cluster_key(row: InsertRow) -> tuple:
    return row[0], row[1]  # (source_id, period_start): the clustered key after org_id


def insert_rows(
    connection: sa.Connection,
    *,
    org_id: int,
    entered_by: int | None,
    batch_id: int | None,
    rows: Sequence[InsertRow],
) -> None:
    """One executemany INSERT of validated readings on the session's connection.

    The statement goes to the driver as text (``exec_driver_sql``) with tuples: SQLAlchemy's per-row
    parameter processing for a compiled insert costs about 4 µs a row, which is as much as the
    driver's own insert. The constant columns are integer literals (never user text)."""
    if not rows:
        return
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    constants = [str(int(org_id)), "NULL" if entered_by is None else str(int(entered_by))]
    constants.append("NULL" if batch_id is None else str(int(batch_id)))
    connection.exec_driver_sql(
        "INSERT INTO activity_reading (source_id, period_start, quantity, tier, evidence_sha256, note, "
        f"org_id, entered_by, batch_id) VALUES ({', '.join([mark] * 6)}, {', '.join(constants)})",
        sorted(rows, key=_cluster_key),  # in the table's key order: B-tree appends, not page splits
    )


@dataclass(slots=True)
class _ParsedBatch:
    rows: list[InsertRow] = field(default_factory=list)
    keys: list[tuple[int, datetime]] = field(default_factory=list)  # (source_id, UTC start) per row
    sources: set[str] = field(default_factory=set)
    issues: list[DataIssue] = field(default_factory=list)


_FLOAT_FAST_LIMIT = 1e6  # below this, round(q × 10⁶) is exact enough to decide half-even (see below)


def _parse_meter_readings(
    context: ReadingContext, readings: Sequence[Mapping[str, Any]], *, dialect: str
) -> _ParsedBatch:
    """Validated insert rows. The common case of meter data (exactly source_id, period_start and a
    number, for an active source) takes a short path: each distinct timestamp text is parsed once,
    and a float is scaled in binary unless it lies within 10⁻³ micro-units of a rounding tie (then,
    and for every other case, the general parser with Decimal arithmetic decides)."""
    out = _ParsedBatch()
    rows, keys, issues = out.rows, out.keys, out.issues
    seen: dict[tuple[int, datetime], int] = {}
    to_db = db_instant(dialect)
    fast = {
        source.id: (source.id, source.code, source.tier) for source in context.by_id.values() if source.active
    }
    stamps: dict[str, tuple[datetime, Any]] = {}
    micro_int = MICRO
    limit = MAX_QUANTITY
    float_limit = _FLOAT_FAST_LIMIT
    for row_number, reading in enumerate(readings, start=1):
        entry = None
        try:
            if len(reading) == 3:
                source_id = reading.get("source_id")
                text = reading.get("period_start")
                quantity = reading.get("quantity")
                source = fast.get(source_id) if type(source_id) is int else None
                stamp = stamps.get(text) if type(text) is str else None
                if stamp is None and source is not None and type(text) is str:
                    moment = parse_instant(text, allow_month=False)
                    stamp = stamps[text] = (moment, to_db(moment))
                if source is not None and stamp is not None:
                    kind = type(quantity)
                    if kind is int and 0 <= quantity <= limit:
                        entry = (source, stamp, quantity * micro_int)
                    elif kind is float and 0.0 <= quantity < float_limit:
                        scaled = quantity * 1e6
                        nearest = round(scaled)
                        if abs(abs(scaled - nearest) - 0.5) > 1e-3:
                            entry = (source, stamp, nearest)
        except (_Bad, TypeError, AttributeError):
            entry = None
        if entry is not None:
            (source_id, code, tier), (moment, db_value), micro = entry
            row = (source_id, db_value, micro, tier, None, None)
        else:
            if not isinstance(reading, Mapping):
                issues.append(
                    _issue("reading", "每条读数必须是对象", "each reading must be an object", row=row_number)
                )
                continue
            for name in sorted(set(reading) - INGEST_KEYS):
                issues.append(_issue(name, f"未知字段 {name}", f"unknown field {name}", row=row_number))
            parsed, found = _parse_entry(
                context, reading, row=row_number, allow_month=False, period_key="period_start"
            )
            issues += found
            if parsed is None:
                continue
            source_id, code, moment = parsed.source.id, parsed.source.code, parsed.period_start
            row = (
                source_id,
                to_db(moment),
                parsed.quantity_micro,
                parsed.tier,
                parsed.evidence_sha256,
                parsed.note,
            )
        key = (source_id, moment)
        first = seen.setdefault(key, row_number)
        if first != row_number:
            issues.append(
                _issue(
                    "period_start",
                    f"与第 {first} 条读数的排放源和时间相同",
                    f"same source and time as reading {first}",
                    row=row_number,
                )
            )
            continue
        out.sources.add(code)
        rows.append(row)
        keys.append(key)
    if not readings:
        issues.append(_issue("readings", "没有任何读数", "there are no readings"))
    return out


def _stored_duplicates(
    connection: sa.Connection, *, org_id: int, keys: Sequence[tuple[int, datetime]]
) -> list[DataIssue]:
    """Readings whose (source, period_start) is already stored: one query over the request's sources
    and time span. Only called when every reading was valid, so positions are reading numbers."""
    if not keys:
        return []
    starts = [moment for _, moment in keys]
    stored = {
        (source_id, as_utc(moment))
        for source_id, moment in connection.execute(
            sa.select(_readings.c.source_id, _readings.c.period_start).where(
                _readings.c.org_id == org_id,
                _readings.c.source_id.in_(sorted({source_id for source_id, _ in keys})),
                _readings.c.period_start >= min(starts),
                _readings.c.period_start <= max(starts),
            )
        )
    }
    if not stored:
        return []
    return [
        _issue(
            "period_start",
            f"该排放源在 {utc_iso(key[1])} 已有读数",
            f"the source already has a reading at {utc_iso(key[1])}",
            row=position,
        )
        for position, key in enumerate(keys, start=1)
        if key in stored
    ]


# ---------------------------------------------------------------- aggregation


@dataclass(frozen=True, slots=True)
class MonthlyTotal:
    source_id: int
    period: str  # YYYY-MM (UTC+8 month)
    quantity: Decimal  # in the source's unit, exact


def monthly_totals(
    session: Session, *, org_id: int, year: int, source_ids: Iterable[int] | None = None
) -> list[MonthlyTotal]:
    """SUM(quantity) per source and month of ``year``, computed in the database in one statement."""
    connection = session.connection()
    only = sorted(set(source_ids)) if source_ids is not None else None
    totals: list[MonthlyTotal] = []
    if connection.dialect.name == "sqlite":
        months = month_bounds(year)
        sums = [
            sa.select(sa.func.sum(_reading_rows.c.quantity))
            .where(
                _reading_rows.c.org_id == org_id,
                _reading_rows.c.source_id == _sources.c.id,
                _reading_rows.c.period_start >= start,
                _reading_rows.c.period_start < end,
            )
            .scalar_subquery()
            for _, start, end in months
        ]
        statement = sa.select(_sources.c.id, *sums).where(_sources.c.org_id == org_id).order_by(_sources.c.id)
        if only is not None:
            statement = statement.where(_sources.c.id.in_(only))
        for source_id, *values in connection.execute(statement):
            totals += [
                MonthlyTotal(source_id, label, from_micro(value))
                for (label, _, _), value in zip(months, values, strict=True)
                if value is not None
            ]
        return totals
    local_month = sa.func.to_char(
        sa.func.timezone("UTC", _reading_rows.c.period_start) + sa.text("INTERVAL '8 hours'"), "YYYY-MM"
    ).label("period")
    statement = (
        sa.select(_reading_rows.c.source_id, local_month, sa.func.sum(_reading_rows.c.quantity))
        .where(
            _reading_rows.c.org_id == org_id,
            _reading_rows.c.period_start >= month_start(year, 1),
            _reading_rows.c.period_start < month_start(year + 1, 1),
        )
        .group_by(_reading_rows.c.source_id, local_month)
        .order_by(_reading_rows.c.source_id, local_month)
    )
    if only is not None:
        statement = statement.where(_reading_rows.c.source_id.in_(only))
    return [
        MonthlyTotal(source_id, period, from_micro(value))
        for source_id, period, value in connection.execute(statement)
    ]


# ---------------------------------------------------------------- production and measured parameters


def _month_text(value: Any) -> str:
    year, month = parse_month(value)
    return f"{year:04d}-{month:02d}"


def set_production(
    session: Session,
    *,
    org_id: int,
    actor: Actor,
    product_id: int,
    period: str,
    quantity: Decimal | int | float | str,
    output_value_10k_cny: Decimal | int | float | str | None = None,
    evidence_sha256: str | None = None,
) -> ProductionOutput:
    """Record (or correct) one product's output for one month; audited."""
    issues: list[DataIssue] = []
    product = session.exec(select(Product).where(Product.org_id == org_id, Product.id == product_id)).first()
    if product is None:
        issues.append(_issue("product_id", "产品不存在", "the product does not exist in this organization"))
    values: dict[str, Any] = {}
    for name, raw, required in (
        ("quantity", quantity, True),
        ("output_value_10k_cny", output_value_10k_cny, False),
    ):
        if raw is None and not required:
            values[name] = None
            continue
        try:
            number = parse_decimal(raw, what=name)
            if number < 0:
                raise _Bad(f"{name} 不能为负数", f"{name} must not be negative")
            values[name] = from_micro(to_micro(number))
        except _Bad as bad:
            issues.append(_issue(name, bad.zh, bad.en))
    try:
        values["period"] = _month_text(period)
    except _Bad as bad:
        issues.append(_issue("period", bad.zh, bad.en))
    try:
        values["evidence_sha256"] = parse_sha256(evidence_sha256)
    except _Bad as bad:
        issues.append(_issue("evidence_sha256", bad.zh, bad.en))
    if issues:
        raise EmissionsDataError(issues)
    existing = session.exec(
        select(ProductionOutput).where(
            ProductionOutput.org_id == org_id,
            ProductionOutput.product_id == product_id,
            ProductionOutput.period == values["period"],
        )
    ).first()
    return _save_audited(
        session,
        org_id=org_id,
        actor=actor,
        existing=existing,
        new=lambda: ProductionOutput(org_id=org_id, product_id=product_id, entered_by=actor.id, **values),
        values=values,
        subject_type="production_output",
        context={"product": product.code},
    )


def attach_reading_evidence(
    session: Session, *, org_id: int, actor: Actor, source_id: int, period: str, evidence_sha256: str
) -> int:
    """Point every reading of the source in the month at one evidence file (a meter print-out, an
    invoice); audited. Returns how many readings now carry it."""
    issues: list[DataIssue] = []
    if get_source(session, org_id=org_id, source_id=source_id) is None:
        issues.append(_issue("source_id", "排放源不存在", "the source does not exist in this organization"))
    try:
        year, month = parse_month(period)
    except _Bad as bad:
        issues.append(_issue("period", bad.zh, bad.en))
    if issues:
        raise EmissionsDataError(issues)
    start = month_start(year, month)
    end = month_start(year + (month == 12), month % 12 + 1)
    in_month = (
        (_reading_rows.c.org_id == org_id)
        & (_reading_rows.c.source_id == source_id)
        & (_reading_rows.c.period_start >= start)
        & (_reading_rows.c.period_start < end)
    )
    connection = session.connection()
    before = sorted(
        {
            h
            for h in connection.execute(sa.select(_reading_rows.c.evidence_sha256).where(in_month)).scalars()
            if h
        }
    )
    changed = connection.execute(
        sa.update(_reading_rows).where(in_month).values(evidence_sha256=evidence_sha256)
    ).rowcount
    label = f"{year:04d}-{month:02d}"
    if not changed:
        raise EmissionsDataError.single(
            "period",
            zh=f"{label} 还没有该排放源的数据，请先录入",
            en=f"there is no data of the source for {label} yet",
        )
    append_event(
        session,
        org_id=org_id,
        actor=actor,
        subject_type="emission_source",
        subject_id=source_id,
        action="evidence_attached",
        changes={"period": [None, label], "evidence_sha256": [before or None, evidence_sha256]},
    )
    return changed


def evidence_of_months(session: Session, *, org_id: int, year: int) -> dict[tuple[int, str], str]:
    """``{(source_id, YYYY-MM): evidence sha256}`` for the months of ``year`` that have evidence."""
    rows = session.connection().execute(
        sa.select(
            _reading_rows.c.source_id, _reading_rows.c.period_start, _reading_rows.c.evidence_sha256
        ).where(
            _reading_rows.c.org_id == org_id,
            _reading_rows.c.evidence_sha256.is_not(None),
            _reading_rows.c.period_start >= month_start(year, 1),
            _reading_rows.c.period_start < month_start(year + 1, 1),
        )
    )
    return {(source_id, period_label(start)): sha256 for source_id, start, sha256 in rows}


@dataclass(frozen=True, slots=True)
class ProductionTotal:
    product_id: int
    code: str
    name: str
    unit: str
    quantity: Decimal
    output_value_10k_cny: Decimal | None  # None unless every month with output has a value
    months: int


def production_totals(session: Session, *, org_id: int, year: int) -> dict[int, ProductionTotal]:
    """Output per product for ``year`` (summed in SQL)."""
    connection = session.connection()
    products = Product.__table__
    prefix = f"{year:04d}-%"
    rows = connection.execute(
        sa.select(
            products.c.id,
            products.c.code,
            products.c.name,
            products.c.unit,
            sa.func.sum(sa.type_coerce(_production.c.quantity, sa.BigInteger)),
            sa.func.sum(sa.type_coerce(_production.c.output_value_10k_cny, sa.BigInteger)),
            sa.func.count(),
            sa.func.count(_production.c.output_value_10k_cny),
        )
        .join(_production, _production.c.product_id == products.c.id)
        .where(_production.c.org_id == org_id, products.c.org_id == org_id, _production.c.period.like(prefix))
        .group_by(products.c.id, products.c.code, products.c.name, products.c.unit)
    )
    return {
        product_id: ProductionTotal(
            product_id=product_id,
            code=code,
            name=name,
            unit=unit,
            quantity=from_micro(quantity),
            output_value_10k_cny=from_micro(value) if value is not None and with_value == months else None,
            months=months,
        )
        for product_id, code, name, unit, quantity, value, months, with_value in rows
    }


def set_measured_parameter(
    session: Session,
    *,
    org_id: int,
    actor: Actor,
    source_id: int,
    period: str,
    ncv: Decimal | str | float | None = None,
    ncv_unit: str | None = None,
    carbon_content: Decimal | str | float | None = None,
    oxidation_rate: Decimal | str | float | None = None,
    evidence_sha256: str | None = None,
) -> MeasuredParameter:
    """Record (or correct) a source's measured fuel parameters for one month; the calculator checks
    the values when the inventory is built, and their ranges here."""
    issues: list[DataIssue] = []
    source = get_source(session, org_id=org_id, source_id=source_id)
    if source is None:
        issues.append(_issue("source_id", "排放源不存在", "the source does not exist in this organization"))
    values: dict[str, Any] = {"ncv_unit": (ncv_unit or "").strip() or None}
    for name, raw in (("ncv", ncv), ("carbon_content", carbon_content), ("oxidation_rate", oxidation_rate)):
        try:
            values[name] = None if raw is None or raw == "" else parse_decimal(raw, what=name)
        except _Bad as bad:
            issues.append(_issue(name, bad.zh, bad.en))
    try:
        values["period"] = _month_text(period)
    except _Bad as bad:
        issues.append(_issue("period", bad.zh, bad.en))
    try:
        values["evidence_sha256"] = parse_sha256(evidence_sha256)
    except _Bad as bad:
        issues.append(_issue("evidence_sha256", bad.zh, bad.en))
    if not issues and all(values[name] is None for name in ("ncv", "carbon_content", "oxidation_rate")):
        issues.append(_issue("ncv", "至少填写一个实测参数", "give at least one measured parameter"))
    if not issues and source is not None:
        probe = _calc_line(
            source,
            line=1,
            quantity=Decimal(1),
            period=None,
            org_unit=None,
            grid_year=None,
            measured={k: values[k] for k in ("ncv", "ncv_unit", "carbon_content", "oxidation_rate")},
        )
        for problem in validate(
            CalcInput(
                lines=(probe,),
                factor_set=_factor_set_with(source.fuel_or_material or "") or DEFAULT_FACTOR_SET,
            )
        ):
            if problem.field in ("ncv", "ncv_unit", "carbon_content", "oxidation_rate"):
                issues.append(_issue(problem.field, problem.message_zh, problem.message_en))
    if issues:
        raise EmissionsDataError(issues)
    existing = session.exec(
        select(MeasuredParameter).where(
            MeasuredParameter.org_id == org_id,
            MeasuredParameter.source_id == source_id,
            MeasuredParameter.period == values["period"],
        )
    ).first()
    return _save_audited(
        session,
        org_id=org_id,
        actor=actor,
        existing=existing,
        new=lambda: MeasuredParameter(org_id=org_id, source_id=source_id, entered_by=actor.id, **values),
        values=values,
        subject_type="measured_parameter",
    )


def _save_audited(
    session: Session,
    *,
    org_id: int,
    actor: Actor,
    existing: Any,
    new: Any,
    values: Mapping[str, Any],
    subject_type: str,
    context: Mapping[str, Any] | None = None,
) -> Any:
    """Create the row, or correct the existing one field by field; either way one audit event with the
    changes (a new row's event also names its ``context``, e.g. the product). Nothing changed, no event."""
    if existing is None:
        row = new()
        changes = {key: [None, _audit_value(value)] for key, value in values.items() if value is not None}
        action = "created"
    else:
        row = existing
        changes = {
            key: [_audit_value(getattr(row, key)), _audit_value(value)]
            for key, value in values.items()
            if getattr(row, key) != value
        }
        if not changes:
            return row
        for key, value in values.items():
            setattr(row, key, value)
        row.entered_by = actor.id
        row.updated_at = utcnow()
        action = "corrected"
    if action == "created":
        changes.update({key: [None, value] for key, value in (context or {}).items()})
    session.add(row)
    session.flush()
    append_event(
        session,
        org_id=org_id,
        actor=actor,
        subject_type=subject_type,
        subject_id=row.id,
        action=action,
        changes=changes,
    )
    return row


# ---------------------------------------------------------------- inventory


def _calc_line(
    source: EmissionSource,
    *,
    line: int,
    quantity: Decimal,
    period: str | None,
    org_unit: str | None,
    grid_year: int | None,
    measured: Mapping[str, Any] | None = None,
) -> CalcLine:
    fields = _line_fields(source, org_unit=org_unit, grid_year=grid_year, measured=measured)
    return CalcLine(line=line, quantity=quantity, period=period, **fields)


def _line_fields(
    source: EmissionSource,
    *,
    org_unit: str | None,
    grid_year: int | None,
    measured: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A source's calculator line fields other than line number, quantity and period."""
    category = Category(source.category)
    fields: dict[str, Any] = {}
    for key, value in (source.parameters or {}).items():
        if key in PARAMETER_DECIMALS:
            try:
                fields[key] = parse_decimal(value, what=key)
            except _Bad:
                raise _Bad(f"参数 {key} 不是数字", f"parameter {key} is not a number") from None
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
        fuel=fuel if category in CATEGORY_NEEDS_FUEL else None,
        material=fuel if category in CATEGORY_NEEDS_MATERIAL else None,
        region=source.region if category in ELECTRICITY else None,
        year=grid_year if category in ELECTRICITY else None,
        tier=ActivityTier(source.tier),
        org_unit=org_unit,
    )
    return fields


@dataclass(frozen=True)
class InventoryResult:
    """An inventory built from the database: the calculator's result and the exact inputs."""

    org_id: int
    year: int
    inventory: Inventory
    calc_input: CalcInput
    grid_year: int | None  # data year of the grid factors used (None: no electricity lines)
    line_sources: Mapping[int, tuple[int, str]] = field(repr=False)  # line → (source_id, period)

    @cached_property
    def json(self) -> dict[str, Any]:
        """The calculator's JSON output (engine.emissions.inventory_to_json)."""
        return inventory_to_json(self.inventory)

    @cached_property
    def inputs(self) -> dict[str, Any]:
        """Canonical calculator input: ``calc_input_from_dict(inputs)`` recalculates this inventory."""
        return inputs_document(self.calc_input, year=self.year, grid_year=self.grid_year)

    @cached_property
    def inputs_sha256(self) -> str:
        return sha256_of(self.inputs)

    @property
    def total_tco2e(self) -> Decimal:
        return self.inventory.total_tco2e


_LINE_FIELDS = tuple(name for name in CalcLine.__dataclass_fields__ if name != "line")


def inputs_document(calc_input: CalcInput, *, year: int, grid_year: int | None) -> dict[str, Any]:
    lines = []
    for line in calc_input.lines:
        item: dict[str, Any] = {}
        for name in _LINE_FIELDS:
            value = getattr(line, name)
            if value is None or (name == "tier" and value == ActivityTier.UNSPECIFIED):
                continue
            item[name] = (
                plain(value) if isinstance(value, Decimal) else str(value) if name != "year" else value
            )
        lines.append(item)
    document: dict[str, Any] = {
        "_inventory_year": year,
        "_grid_year": grid_year,
        "factor_set": calc_input.factor_set,
        "gwp_set": calc_input.gwp_set,
        "grid_caliber": calc_input.grid_caliber,
        "lines": lines,
    }
    production = calc_input.production
    if production is not None:
        document["production"] = {
            key: plain(value) if isinstance(value, Decimal) else value
            for key, value in (
                ("product", production.product),
                ("quantity", production.quantity),
                ("unit", production.unit),
                ("output_value_10k_cny", production.output_value_10k_cny),
            )
            if value is not None
        }
    return document


def build_inventory(
    session: Session,
    *,
    org_id: int,
    year: int,
    factor_set: str | None = None,
    gwp_set: str | None = None,
    grid_caliber: str | None = None,
    grid_year: int | None = None,
    product_id: int | None = None,
) -> InventoryResult:
    """The organization's inventory for ``year`` from its sources and readings.

    One calculator line per source and month with readings (org_unit = the facility's name, period
    = YYYY-MM, quantity = the SQL monthly total in the source's unit). Sources whose factor choice is
    ``measured`` take that month's MeasuredParameter (a month without one is an error); ``direct``
    sources take their factor. Electricity uses the grid factors of ``grid_year``, by default the
    latest data year up to ``year`` that has factors for the source's region (the trace names it).
    With ``product_id`` the inventory carries that product's annual output, so it has an intensity;
    no output recorded for the year is an error. Calculator problems are raised as
    :class:`EmissionsDataError` naming the source and month."""
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise EmissionsDataError.single("year", zh="年份超出范围", en=f"year must be {MIN_YEAR}–{MAX_YEAR}")
    caliber = grid_caliber or DEFAULT_GRID_CALIBER
    sources = {source.id: source for source in list_sources(session, org_id=org_id)}
    units = dict(session.exec(select(OrgUnit.id, OrgUnit.name).where(OrgUnit.org_id == org_id)).all())
    totals = monthly_totals(session, org_id=org_id, year=year)
    measured_ids = {sid for sid, s in sources.items() if s.factor_choice == FactorChoiceKind.measured}
    measured: dict[tuple[int, str], MeasuredParameter] = {}
    if measured_ids:
        for row in session.exec(
            select(MeasuredParameter).where(
                MeasuredParameter.org_id == org_id,
                MeasuredParameter.source_id.in_(sorted(measured_ids)),
                MeasuredParameter.period.like(f"{year:04d}-%"),
            )
        ).all():
            measured[(row.source_id, row.period)] = row
    issues: list[DataIssue] = []
    grid_years: dict[str, int | None] = {}
    used_grid_years: set[int] = set()
    lines: list[CalcLine] = []
    line_sources: dict[int, tuple[int, str]] = {}
    templates: dict[int, dict[str, Any]] = {}
    ordered = sorted(totals, key=lambda total: (sources[total.source_id].code, total.period))
    for total in ordered:
        source = sources[total.source_id]
        line_grid_year = None
        if source.category in ELECTRICITY:
            region = source.region or ""
            if grid_year is not None:
                line_grid_year = grid_year
            else:
                if region not in grid_years:
                    grid_years[region] = _latest_grid_year(region, year=year, caliber=caliber)
                line_grid_year = grid_years[region] or year  # none found: the calculator says which exist
            used_grid_years.add(line_grid_year)
        parameters = None
        if source.id in measured_ids:
            row = measured.get((source.id, total.period))
            if row is None:
                issues.append(
                    DataIssue(
                        row=None,
                        field="measured_parameter",
                        message_zh=f"排放源 {source.code} 采用实测参数，但 {total.period} 没有实测参数",
                        message_en=(
                            f"source {source.code} uses measured parameters but has none for {total.period}"
                        ),
                        source_code=source.code,
                        period=total.period,
                    )
                )
                continue
            parameters = {
                "ncv": row.ncv,
                "ncv_unit": row.ncv_unit,
                "carbon_content": row.carbon_content,
                "oxidation_rate": row.oxidation_rate,
            }
        number = len(lines) + 1
        try:
            if parameters is None:  # the same for every month of the source
                if source.id not in templates:
                    templates[source.id] = _line_fields(
                        source, org_unit=units.get(source.org_unit_id), grid_year=line_grid_year
                    )
                fields = templates[source.id]
            else:
                fields = _line_fields(
                    source,
                    org_unit=units.get(source.org_unit_id),
                    grid_year=line_grid_year,
                    measured=parameters,
                )
            lines.append(CalcLine(line=number, quantity=total.quantity, period=total.period, **fields))
        except _Bad as bad:
            issues.append(DataIssue(None, "parameters", bad.zh, bad.en, source.code, total.period))
            continue
        line_sources[number] = (source.id, total.period)
    production = None
    if product_id is not None:
        product = session.exec(
            select(Product).where(Product.org_id == org_id, Product.id == product_id)
        ).first()
        if product is None:
            issues.append(
                _issue("product_id", "产品不存在", "the product does not exist in this organization")
            )
        else:
            produced = production_totals(session, org_id=org_id, year=year).get(product_id)
            if produced is None:
                issues.append(
                    _issue(
                        "production",
                        f"{year} 年没有产品 {product.code}（{product.name}）的产量数据，无法计算排放强度",
                        f"no output of product {product.code} is recorded for {year}, so intensity "
                        "cannot be calculated",
                    )
                )
            else:
                production = Production(
                    product=product.name,
                    quantity=produced.quantity,
                    unit=product.unit,
                    output_value_10k_cny=produced.output_value_10k_cny,
                )
    if not lines and not issues:
        issues.append(
            _issue("readings", f"{year} 年没有任何活动数据", f"there is no activity data for {year}")
        )
    if issues:
        raise EmissionsDataError(issues)
    calc_input = CalcInput(
        lines=tuple(lines),
        factor_set=factor_set or DEFAULT_FACTOR_SET,
        gwp_set=gwp_set or DEFAULT_GWP_SET,
        grid_caliber=caliber,
        production=production,
        origin=f"tanguan org {org_id} year {year}",
    )
    try:
        inventory = calculate(calc_input)
    except CalcError as error:
        raise EmissionsDataError(_calc_issues(error, sources=sources, line_sources=line_sources)) from None
    return InventoryResult(
        org_id=org_id,
        year=year,
        inventory=inventory,
        calc_input=calc_input,
        grid_year=max(used_grid_years) if used_grid_years else None,
        line_sources=line_sources,
    )


def _calc_issues(
    error: CalcError, *, sources: Mapping[int, EmissionSource], line_sources: Mapping[int, tuple[int, str]]
) -> list[DataIssue]:
    issues = []
    for issue in error.issues:
        where = line_sources.get(issue.line) if issue.line is not None else None
        if where is None:
            issues.append(_issue(issue.field, issue.message_zh, issue.message_en))
            continue
        code = sources[where[0]].code
        issues.append(
            DataIssue(
                row=None,
                field=issue.field,
                message_zh=f"排放源 {code}（{where[1]}）：{issue.message_zh}",
                message_en=f"source {code} ({where[1]}): {issue.message_en}",
                source_code=code,
                period=where[1],
            )
        )
    return issues


def emission_intensity(
    session: Session, *, org_id: int, year: int, product_id: int, **options: Any
) -> Intensity:
    """Emissions per unit of the product (and per 10⁴ CNY of its output value) for ``year``."""
    result = build_inventory(session, org_id=org_id, year=year, product_id=product_id, **options)
    return intensity(result.inventory)


# ---------------------------------------------------------------- snapshots


def freeze_snapshot(
    session: Session,
    *,
    org_id: int,
    year: int,
    actor: Actor,
    factor_set: str | None = None,
    gwp_set: str | None = None,
    grid_caliber: str | None = None,
    grid_year: int | None = None,
    product_id: int | None = None,
) -> InventorySnapshot:
    """Freeze the year's inventory: its canonical inputs, their SHA-256 and the calculator's JSON.
    Freezing identical inputs for the same year again returns the existing snapshot."""
    result = build_inventory(
        session,
        org_id=org_id,
        year=year,
        factor_set=factor_set,
        gwp_set=gwp_set,
        grid_caliber=grid_caliber,
        grid_year=grid_year,
        product_id=product_id,
    )
    existing = session.exec(
        select(InventorySnapshot).where(
            InventorySnapshot.org_id == org_id,
            InventorySnapshot.year == year,
            InventorySnapshot.inputs_sha256 == result.inputs_sha256,
        )
    ).first()
    if existing is not None:
        return existing
    snapshot = InventorySnapshot(
        org_id=org_id,
        year=year,
        factor_set=result.inventory.factor_set,
        gwp_set=result.inventory.gwp_set,
        inputs_sha256=result.inputs_sha256,
        inputs=result.inputs,
        result=result.json,
        total_tco2e=result.total_tco2e,
        created_by=actor.id,
    )
    try:
        with session.begin_nested():  # a concurrent freeze of the same inputs: return that one
            session.add(snapshot)
            session.flush()
    except IntegrityError:
        session.expunge(snapshot)
        existing = session.exec(
            select(InventorySnapshot).where(
                InventorySnapshot.org_id == org_id,
                InventorySnapshot.year == year,
                InventorySnapshot.inputs_sha256 == result.inputs_sha256,
            )
        ).first()
        if existing is None:
            raise
        return existing
    append_event(
        session,
        org_id=org_id,
        actor=actor,
        subject_type="inventory_snapshot",
        subject_id=snapshot.id,
        action="frozen",
        changes={
            "year": [None, year],
            "factor_set": [None, snapshot.factor_set],
            "gwp_set": [None, snapshot.gwp_set],
            "grid_year": [None, result.grid_year],
            "inputs_sha256": [None, snapshot.inputs_sha256],
            "total_tco2e": [None, plain(result.total_tco2e)],
            "lines": [None, len(result.calc_input.lines)],
        },
    )
    return snapshot


def list_snapshots(session: Session, *, org_id: int, year: int | None = None) -> list[InventorySnapshot]:
    """Newest first. (The ``result`` and ``inputs`` columns are loaded too.)"""
    query = select(InventorySnapshot).where(InventorySnapshot.org_id == org_id)
    if year is not None:
        query = query.where(InventorySnapshot.year == year)
    return list(session.exec(query.order_by(InventorySnapshot.id.desc())).all())


def latest_snapshot(session: Session, *, org_id: int, year: int) -> InventorySnapshot | None:
    snapshots = list_snapshots(session, org_id=org_id, year=year)
    return snapshots[0] if snapshots else None


# ---------------------------------------------------------------- baselines and targets


def add_baseline(
    session: Session,
    *,
    org_id: int,
    actor: Actor,
    name: str,
    periods: Sequence[Mapping[str, Any]],
    adjustments: Sequence[Mapping[str, Any]] = (),
) -> EmissionBaseline:
    """A baseline: ``periods`` = [{year, weight}], ``adjustments`` = [{reason, delta_tco2e}]."""
    issues: list[DataIssue] = []
    clean_periods = []
    for row, item in enumerate(periods, start=1):
        year = item.get("year")
        if type(year) is not int or not MIN_YEAR <= year <= MAX_YEAR:
            issues.append(_issue("year", f"年份无效：{year}", f"not a valid year: {year}", row=row))
            continue
        try:
            weight = parse_decimal(item.get("weight", 1), what="weight")
        except _Bad as bad:
            issues.append(_issue("weight", bad.zh, bad.en, row=row))
            continue
        clean_periods.append({"year": year, "weight": plain(weight)})
    clean_adjustments = []
    for row, item in enumerate(adjustments, start=1):
        try:
            delta = parse_decimal(item.get("delta_tco2e"), what="delta_tco2e")
        except _Bad as bad:
            issues.append(_issue("delta_tco2e", bad.zh, bad.en, row=row))
            continue
        clean_adjustments.append(
            {"reason": str(item.get("reason") or "").strip(), "delta_tco2e": plain(delta)}
        )
    if not str(name or "").strip():
        issues.append(_issue("name", "缺少名称", "the name is missing"))
    if not issues:
        try:  # the calculator's own checks: weights, reasons, at least one period
            baseline(
                [
                    PeriodEmissions(period=str(p["year"]), emissions=Decimal(1), weight=Decimal(p["weight"]))
                    for p in clean_periods
                ],
                adjustments=[
                    Adjustment(reason=a["reason"], delta=Decimal(a["delta_tco2e"])) for a in clean_adjustments
                ],
            )
        except CalcError as error:
            issues += [_issue(i.field, i.message_zh, i.message_en) for i in error.issues]
    if issues:
        raise EmissionsDataError(issues)
    item = EmissionBaseline(
        org_id=org_id,
        name=name.strip(),
        periods=clean_periods,
        adjustments=clean_adjustments,
        created_by=actor.id,
    )
    session.add(item)
    session.flush()
    append_event(
        session,
        org_id=org_id,
        actor=actor,
        subject_type="emission_baseline",
        subject_id=item.id,
        action="created",
        changes={
            "name": [None, item.name],
            "periods": [None, clean_periods],
            "adjustments": [None, clean_adjustments],
        },
    )
    return item


def add_target(
    session: Session,
    *,
    org_id: int,
    actor: Actor,
    kind: str,
    base_year: int,
    target_year: int,
    reduction_pct: Decimal | str | float,
    product_id: int | None = None,
    note: str = "",
) -> EmissionTarget:
    """A reduction target: ``kind`` total (tCO2e) or intensity (tCO2e per unit of ``product_id``)."""
    issues: list[DataIssue] = []
    if kind not in {item.value for item in TargetKind}:
        issues.append(_issue("kind", "目标类型必须是 total 或 intensity", "kind must be total or intensity"))
    pct = None
    try:
        pct = parse_decimal(reduction_pct, what="reduction_pct")
        if not Decimal(0) < pct <= Decimal(100):
            raise _Bad(
                "减排百分比必须在 0–100 之间（不含 0）", "reduction_pct must be above 0 and at most 100"
            )
    except _Bad as bad:
        issues.append(_issue("reduction_pct", bad.zh, bad.en))
    if type(base_year) is not int or type(target_year) is not int or target_year <= base_year:
        issues.append(
            _issue("target_year", "目标年必须晚于基准年", "the target year must be after the base year")
        )
    if len(note or "") > 300:
        issues.append(_issue("note", "说明不能超过 300 个字符", "the note is longer than 300 characters"))
    if kind == TargetKind.INTENSITY and product_id is None:
        issues.append(_issue("product_id", "强度目标需要指定产品", "an intensity target needs a product"))
    if (
        product_id is not None
        and session.exec(select(Product.id).where(Product.org_id == org_id, Product.id == product_id)).first()
        is None
    ):
        issues.append(_issue("product_id", "产品不存在", "the product does not exist in this organization"))
    if issues:
        raise EmissionsDataError(issues)
    target = EmissionTarget(
        org_id=org_id,
        kind=kind,
        base_year=base_year,
        target_year=target_year,
        reduction_pct=pct,
        product_id=product_id,
        note=note,
        created_by=actor.id,
    )
    session.add(target)
    session.flush()
    append_event(
        session,
        org_id=org_id,
        actor=actor,
        subject_type="emission_target",
        subject_id=target.id,
        action="created",
        changes={
            "kind": [None, kind],
            "base_year": [None, base_year],
            "target_year": [None, target_year],
            "reduction_pct": [None, plain(pct)],
            "product_id": [None, product_id],
        },
    )
    return target


@dataclass(frozen=True, slots=True)
class AnnualValue:
    year: int
    value: Decimal  # tCO2e, or tCO2e per product unit
    basis: str  # "snapshot #N" (frozen figures) or "live" (calculated now from current data)


def annual_value(
    session: Session, *, org_id: int, year: int, kind: str = TargetKind.TOTAL, product_id: int | None = None
) -> AnnualValue:
    """The year's total (or intensity): from its latest frozen snapshot when there is one (what was
    reported), else calculated now."""
    snapshot = latest_snapshot(session, org_id=org_id, year=year)
    if kind == TargetKind.TOTAL:
        if snapshot is not None:
            return AnnualValue(year, snapshot.total_tco2e, f"snapshot #{snapshot.id}")
        return AnnualValue(year, build_inventory(session, org_id=org_id, year=year).total_tco2e, "live")
    if product_id is None:
        raise EmissionsDataError.single("product_id", zh="强度需要指定产品", en="intensity needs a product")
    produced = production_totals(session, org_id=org_id, year=year).get(product_id)
    if produced is None or produced.quantity <= 0:
        raise EmissionsDataError.single(
            "production",
            zh=f"{year} 年没有该产品的产量数据，无法计算排放强度",
            en=f"no output of the product is recorded for {year}, so intensity cannot be calculated",
        )
    total = annual_value(session, org_id=org_id, year=year)
    per_product = intensity(
        _total_only(total.value),
        production=Production(quantity=produced.quantity, unit=produced.unit, product=produced.name),
    ).per_product
    assert per_product is not None
    return AnnualValue(year, per_product, total.basis)


def _total_only(total: Decimal) -> Inventory:
    return Inventory(
        factor_set=DEFAULT_FACTOR_SET,
        gwp_set=DEFAULT_GWP_SET,
        grid_caliber=DEFAULT_GRID_CALIBER,
        lines=(),
        total_tco2e=total,
        by_category={},
        by_gas={},
        gas_mass_t={},
        by_org_unit={},
        by_period={},
        biomass_co2_t=Decimal(0),
    )


@dataclass(frozen=True, slots=True)
class BaselineEvaluation:
    baseline: Baseline
    basis: Mapping[int, str]  # year → "snapshot #N" or "live"


def evaluate_baseline(session: Session, *, org_id: int, baseline_id: int) -> BaselineEvaluation:
    """Σ(annual total × weight) / Σ(weights) + adjustments, with each year's figure from its latest
    frozen snapshot when there is one."""
    item = session.exec(
        select(EmissionBaseline).where(EmissionBaseline.org_id == org_id, EmissionBaseline.id == baseline_id)
    ).first()
    if item is None:
        raise EmissionsDataError.single("baseline_id", zh="基准不存在", en="the baseline does not exist")
    values = {p["year"]: annual_value(session, org_id=org_id, year=p["year"]) for p in item.periods}
    result = baseline(
        [
            PeriodEmissions(
                period=str(p["year"]), emissions=values[p["year"]].value, weight=Decimal(p["weight"])
            )
            for p in item.periods
        ],
        adjustments=[
            Adjustment(reason=a["reason"], delta=Decimal(a["delta_tco2e"])) for a in item.adjustments
        ],
    )
    return BaselineEvaluation(result, {year: value.basis for year, value in values.items()})


def target_progress_for(
    session: Session, *, org_id: int, target_id: int, current_year: int
) -> TargetProgress:
    """Progress of a target in ``current_year`` against its straight-line path (engine.emissions)."""
    target = session.exec(
        select(EmissionTarget).where(EmissionTarget.org_id == org_id, EmissionTarget.id == target_id)
    ).first()
    if target is None:
        raise EmissionsDataError.single("target_id", zh="目标不存在", en="the target does not exist")
    base = annual_value(
        session, org_id=org_id, year=target.base_year, kind=target.kind, product_id=target.product_id
    )
    current = annual_value(
        session, org_id=org_id, year=current_year, kind=target.kind, product_id=target.product_id
    )
    try:
        return target_progress(
            Target(
                kind=TargetKind(target.kind),
                base_year=target.base_year,
                base_value=base.value,
                target_year=target.target_year,
                reduction_pct=target.reduction_pct,
            ),
            current_year=current_year,
            current_value=current.value,
        )
    except CalcError as error:
        raise EmissionsDataError(_issue(i.field, i.message_zh, i.message_en) for i in error.issues) from None


@dataclass(frozen=True, slots=True)
class BaselineStatus:
    baseline: EmissionBaseline
    evaluation: BaselineEvaluation | None
    issues: tuple[DataIssue, ...] = ()  # why it cannot be evaluated (a year without data, say)


@dataclass(frozen=True, slots=True)
class TargetStatus:
    target: EmissionTarget
    progress: TargetProgress | None
    issues: tuple[DataIssue, ...] = ()


def baselines_overview(session: Session, *, org_id: int) -> list[BaselineStatus]:
    """Every baseline of the organization, evaluated where its years have data."""
    items = session.exec(
        select(EmissionBaseline).where(EmissionBaseline.org_id == org_id).order_by(EmissionBaseline.id)
    ).all()
    result = []
    for item in items:
        try:
            result.append(
                BaselineStatus(item, evaluate_baseline(session, org_id=org_id, baseline_id=item.id))
            )
        except (EmissionsDataError, CalcError) as error:
            result.append(BaselineStatus(item, None, _issues_of(error)))
    return result


def targets_overview(session: Session, *, org_id: int, current_year: int) -> list[TargetStatus]:
    """Every target of the organization with its progress in ``current_year`` where that can be had."""
    items = session.exec(
        select(EmissionTarget).where(EmissionTarget.org_id == org_id).order_by(EmissionTarget.id)
    ).all()
    result = []
    for item in items:
        try:
            progress = target_progress_for(
                session, org_id=org_id, target_id=item.id, current_year=current_year
            )
            result.append(TargetStatus(item, progress))
        except (EmissionsDataError, CalcError) as error:
            result.append(TargetStatus(item, None, _issues_of(error)))
    return result


def _issues_of(error: EmissionsDataError | CalcError) -> tuple[DataIssue, ...]:
    if isinstance(error, EmissionsDataError):
        return error.issues
    return tuple(_issue(i.field, i.message_zh, i.message_en) for i in error.issues)


# ---------------------------------------------------------------- demo data

# Month shares of a 5,000 t/d line in Hunan: staggered winter production (错峰生产) in January and
# February, Spring Festival in February, rainy July; about 1.47 Mt of clinker a year.
_DEMO_MONTH_FACTORS = (
    "0.80",
    "0.55",
    "1.05",
    "1.10",
    "1.10",
    "1.00",
    "0.95",
    "1.00",
    "1.08",
    "1.12",
    "1.08",
    "0.95",
)
_DEMO_CLINKER_PER_MONTH = Decimal(125_000)  # t
_DEMO_YEARS = {
    # year: (clinker scale, coal t/t clinker, electricity MWh/t clinker, diesel t/month)
    2024: (Decimal("1.00"), Decimal("0.118"), Decimal("0.102"), Decimal("62")),
    2025: (Decimal("1.02"), Decimal("0.115"), Decimal("0.099"), Decimal("58")),
}
_DEMO_NCV = (
    "23.12",
    "22.96",
    "23.31",
    "23.05",
    "22.88",
    "23.40",
    "23.18",
    "22.91",
    "23.26",
    "23.09",
    "23.35",
    "23.02",
)


def seed_demo_emissions(session: Session, *, org_id: int, actor: Actor) -> bool:
    """Emission sources and two years (2024, 2025) of monthly data for the demo cement plant, its
    production, a 2024 baseline and a clinker-intensity target (−5 % by 2030). Skipped (returns
    False) when the organization already has emission sources."""
    if session.exec(select(EmissionSource.id).where(EmissionSource.org_id == org_id)).first() is not None:
        return False
    units = dict(session.exec(select(OrgUnit.code, OrgUnit.id).where(OrgUnit.org_id == org_id)).all())
    products = dict(session.exec(select(Product.code, Product.id).where(Product.org_id == org_id)).all())
    missing = sorted({"KILN1", "QUARRY"} - set(units)) + sorted({"CLK", "PO425", "PC325R"} - set(products))
    if missing:
        raise EmissionsDataError.single(
            "org_id",
            zh=f"演示企业缺少组织单元或产品：{'、'.join(missing)}",
            en=f"the demo organization lacks org units or products: {', '.join(missing)}",
        )
    coal = add_source(
        session,
        org_id=org_id,
        actor=actor,
        org_unit_id=units["KILN1"],
        code="KILN1-COAL",
        name="1# 窑入窑煤粉（烟煤）",
        category=SourceCategory.combustion,
        fuel_or_material="烟煤",
        unit="t",
        method="转子秤计量入窑煤粉，月末盘库校核；低位发热量按化验室月均值",
        factor_choice=FactorChoiceKind.measured,
        meter="转子秤 WF-KILN-01",
        tier=DataTier.measured,
    )
    diesel = add_source(
        session,
        org_id=org_id,
        actor=actor,
        org_unit_id=units["QUARRY"],
        code="QUARRY-DIESEL",
        name="矿山移动设备柴油",
        category=SourceCategory.combustion,
        fuel_or_material="柴油",
        unit="t",
        method="加油台账月度汇总",
        tier=DataTier.statistical,
    )
    electricity = add_source(
        session,
        org_id=org_id,
        actor=actor,
        org_unit_id=units.get("HQ", units["KILN1"]),
        code="PLANT-ELEC",
        name="全厂外购电力（110 kV 总降）",
        category=SourceCategory.purchased_electricity,
        unit="MWh",
        region="湖南",
        method="关口电能表月度抄表，与供电公司结算单核对",
        meter="关口表 E-HQ-01",
        tier=DataTier.measured,
    )
    clinker = add_source(
        session,
        org_id=org_id,
        actor=actor,
        org_unit_id=units["KILN1"],
        code="KILN1-CLINKER",
        name="熟料生产过程排放（碳酸盐分解）",
        category=SourceCategory.process,
        fuel_or_material="熟料",
        unit="t",
        method="熟料产量 × 熟料 CaO、MgO 含量（化验室年均值）",
        parameters={"cao_content": "0.652", "mgo_content": "0.021"},
        tier=DataTier.measured,
    )
    readings: list[dict[str, Any]] = []
    for year, (scale, coal_rate, power_rate, diesel_month) in _DEMO_YEARS.items():
        for month, share in enumerate(_DEMO_MONTH_FACTORS, start=1):
            period = f"{year}-{month:02d}"
            start = utc_iso(month_start(year, month))
            made = (_DEMO_CLINKER_PER_MONTH * Decimal(share) * scale).quantize(Decimal(1))
            busy = Decimal(share) if Decimal(share) > Decimal("0.7") else Decimal("0.7")
            for source, quantity in (
                (clinker, made),
                (coal, (made * coal_rate).quantize(Decimal("0.1"))),
                (electricity, (made * power_rate).quantize(Decimal("0.001"))),
                (diesel, (diesel_month * busy).quantize(Decimal("0.01"))),
            ):
                readings.append({"source_id": source.id, "period_start": start, "quantity": str(quantity)})
            set_measured_parameter(
                session,
                org_id=org_id,
                actor=actor,
                source_id=coal.id,
                period=period,
                ncv=_DEMO_NCV[month - 1],
                ncv_unit="GJ/t",
            )
            for code, ratio, price in (
                ("CLK", Decimal(1), None),
                ("PO425", Decimal("0.90"), Decimal("0.0380")),  # 万元/t: 380 CNY/t
                ("PC325R", Decimal("0.45"), Decimal("0.0330")),
            ):
                output = (made * ratio).quantize(Decimal(1))
                set_production(
                    session,
                    org_id=org_id,
                    actor=actor,
                    product_id=products[code],
                    period=period,
                    quantity=output,
                    output_value_10k_cny=None
                    if price is None
                    else (output * price).quantize(Decimal("0.01")),
                )
    ingest_readings(
        session, org_id=org_id, readings=readings, idempotency_key="demo-seed-2024-2025", actor=actor
    )
    add_baseline(
        session, org_id=org_id, actor=actor, name="2024 基准年", periods=[{"year": 2024, "weight": 1}]
    )
    add_target(
        session,
        org_id=org_id,
        actor=actor,
        kind=TargetKind.INTENSITY.value,
        base_year=2024,
        target_year=2030,
        reduction_pct=Decimal(5),
        product_id=products["CLK"],
        note="单位熟料碳排放强度 2030 年较 2024 年下降 5%",
    )
    return True

"""6.3 carbon baselines and targets: weighted-average baselines with adjustments, straight-line targets."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from engine.audit import Actor, append_event
from engine.carbon_data.cache import cached_inventory
from engine.carbon_data.errors import BadValue, DataIssue, EmissionsDataError, data_issue
from engine.carbon_data.parsing import MAX_YEAR, MIN_YEAR, parse_decimal
from engine.carbon_data.reporting import product_intensities
from engine.carbon_data.snapshots import latest_snapshot_total
from engine.emissions import (
    Adjustment,
    Baseline,
    CalcError,
    PeriodEmissions,
    Target,
    TargetKind,
    TargetProgress,
    baseline,
    target_progress,
)
from engine.emissions.rounding import plain
from engine.identity.models import Product
from engine.planning.models import EmissionBaseline, EmissionTarget

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
    clean_periods: list[dict[str, Any]] = []
    for row, item in enumerate(periods, start=1):
        year = item.get("year")
        if type(year) is not int or not MIN_YEAR <= year <= MAX_YEAR:
            issues.append(data_issue("year", f"年份无效：{year}", f"not a valid year: {year}", row=row))
            continue
        try:
            weight = parse_decimal(item.get("weight", 1), what="weight")
        except BadValue as bad:
            issues.append(data_issue("weight", bad.zh, bad.en, row=row))
            continue
        clean_periods.append({"year": year, "weight": plain(weight)})
    clean_adjustments: list[dict[str, Any]] = []
    for row, item in enumerate(adjustments, start=1):
        try:
            delta = parse_decimal(item.get("delta_tco2e"), what="delta_tco2e")
        except BadValue as bad:
            issues.append(data_issue("delta_tco2e", bad.zh, bad.en, row=row))
            continue
        clean_adjustments.append(
            {"reason": str(item.get("reason") or "").strip(), "delta_tco2e": plain(delta)}
        )
    if not str(name or "").strip():
        issues.append(data_issue("name", "缺少名称", "the name is missing"))
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
            issues += [data_issue(i.field, i.message_zh, i.message_en) for i in error.issues]
    if issues:
        raise EmissionsDataError(issues)
    created = EmissionBaseline(
        org_id=org_id,
        name=name.strip(),
        periods=clean_periods,
        adjustments=clean_adjustments,
        created_by=actor.id,
    )
    session.add(created)
    session.flush()
    assert created.id is not None
    append_event(
        session,
        org_id=org_id,
        actor=actor,
        subject_type="emission_baseline",
        subject_id=created.id,
        action="created",
        changes={
            "name": [None, created.name],
            "periods": [None, clean_periods],
            "adjustments": [None, clean_adjustments],
        },
    )
    return created


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
        issues.append(
            data_issue("kind", "目标类型必须是 total 或 intensity", "kind must be total or intensity")
        )
    pct: Decimal | None = None
    try:
        pct = parse_decimal(reduction_pct, what="reduction_pct")
        if not Decimal(0) < pct <= Decimal(100):
            raise BadValue(
                "减排百分比必须在 0–100 之间（不含 0）", "reduction_pct must be above 0 and at most 100"
            )
    except BadValue as bad:
        issues.append(data_issue("reduction_pct", bad.zh, bad.en))
    if type(base_year) is not int or type(target_year) is not int or target_year <= base_year:
        issues.append(
            data_issue("target_year", "目标年必须晚于基准年", "the target year must be after the base year")
        )
    if len(note or "") > 300:
        issues.append(data_issue("note", "说明不能超过 300 个字符", "the note is longer than 300 characters"))
    if kind == TargetKind.INTENSITY and product_id is None:
        issues.append(data_issue("product_id", "强度目标需要指定产品", "an intensity target needs a product"))
    if (
        product_id is not None
        and session.exec(select(Product.id).where(Product.org_id == org_id, Product.id == product_id)).first()
        is None
    ):
        issues.append(
            data_issue("product_id", "产品不存在", "the product does not exist in this organization")
        )
    if issues:
        raise EmissionsDataError(issues)
    assert pct is not None  # parsed without an issue
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
    assert target.id is not None
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
    if kind == TargetKind.TOTAL:
        snapshot = latest_snapshot_total(session, org_id=org_id, year=year)
        if snapshot is not None:
            return AnnualValue(year, snapshot[1], f"snapshot #{snapshot[0]}")
        return AnnualValue(year, cached_inventory(session, org_id=org_id, year=year).total_tco2e, "live")
    if product_id is None:
        raise EmissionsDataError.single("product_id", zh="强度需要指定产品", en="intensity needs a product")
    total = annual_value(session, org_id=org_id, year=year)
    found = product_intensities(session, org_id=org_id, year=year, total_tco2e=total.value).get(product_id)
    if found is None or found.per_product is None:
        raise EmissionsDataError.single(
            "production",
            zh=f"{year} 年没有该产品的产量数据，无法计算排放强度",
            en=f"no output of the product is recorded for {year}, so intensity cannot be calculated",
        )
    return AnnualValue(year, found.per_product, total.basis)


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
        raise EmissionsDataError(
            data_issue(i.field, i.message_zh, i.message_en) for i in error.issues
        ) from None


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
        select(EmissionBaseline).where(EmissionBaseline.org_id == org_id).order_by(col(EmissionBaseline.id))
    ).all()
    result = []
    for item in items:
        assert item.id is not None
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
        select(EmissionTarget).where(EmissionTarget.org_id == org_id).order_by(col(EmissionTarget.id))
    ).all()
    result = []
    for item in items:
        assert item.id is not None
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
    return tuple(data_issue(i.field, i.message_zh, i.message_en) for i in error.issues)

"""Production and measured fuel parameters: audited create-or-correct, with their evidence."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from engine.audit import Actor, append_event
from engine.carbon_data.errors import BadValue, DataIssue, EmissionsDataError, data_issue
from engine.carbon_data.events import MonthDataChanged
from engine.carbon_data.models import (
    MeasuredParameter,
    ProductionOutput,
    from_micro,
    reading_insert_table,
    to_micro,
)
from engine.carbon_data.parsing import month_start, parse_decimal, parse_month, parse_sha256, period_label
from engine.carbon_data.sources import audit_value, calc_line, factor_set_with, get_source
from engine.carbon_data.versions import bump_for_periods
from engine.emissions import (
    CalcInput,
    validate,
)
from engine.emissions.factors import (
    DEFAULT_FACTOR_SET,
)
from engine.events import announce
from engine.identity.models import Product
from engine.models.base import table_of, utcnow
from engine.values import control_character_message, forbidden_character
from engine.verification.locks import refuse_locked, years_of_periods
from engine.workflow.computed import china_today

_production = table_of(ProductionOutput)


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
        issues.append(
            data_issue("product_id", "产品不存在", "the product does not exist in this organization")
        )
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
                raise BadValue(f"{name} 不能为负数", f"{name} must not be negative")
            values[name] = from_micro(to_micro(number))
        except BadValue as bad:
            issues.append(data_issue(name, bad.zh, bad.en))
    try:
        values["period"] = _month_text(period)
    except BadValue as bad:
        issues.append(data_issue("period", bad.zh, bad.en))
    try:
        values["evidence_sha256"] = parse_sha256(evidence_sha256)
    except BadValue as bad:
        issues.append(data_issue("evidence_sha256", bad.zh, bad.en))
    if issues:
        raise EmissionsDataError(issues)
    refuse_locked(session, org_id=org_id, years=years_of_periods([values["period"]]))
    assert product is not None
    existing = session.exec(
        select(ProductionOutput).where(
            ProductionOutput.org_id == org_id,
            ProductionOutput.product_id == product_id,
            ProductionOutput.period == values["period"],
        )
    ).first()
    saved: ProductionOutput = _save_audited(
        session,
        org_id=org_id,
        actor=actor,
        existing=existing,
        new=lambda: ProductionOutput(org_id=org_id, product_id=product_id, entered_by=actor.id, **values),
        values=values,
        subject_type="production_output",
        context={"product": product.code},
    )
    bump_for_periods(session, org_id=org_id, periods=[values["period"]])
    return saved


def attach_reading_evidence(
    session: Session, *, org_id: int, actor: Actor, source_id: int, period: str, evidence_sha256: str
) -> int:
    """Point every reading of the source in the month at one evidence file (a meter print-out, an
    invoice); audited. Returns how many readings now carry it."""
    issues: list[DataIssue] = []
    if get_source(session, org_id=org_id, source_id=source_id) is None:
        issues.append(
            data_issue("source_id", "排放源不存在", "the source does not exist in this organization")
        )
    try:
        year, month = parse_month(period)
    except BadValue as bad:
        issues.append(data_issue("period", bad.zh, bad.en))
    if issues:
        raise EmissionsDataError(issues)
    start = month_start(year, month)
    end = month_start(year + (month == 12), month % 12 + 1)
    in_month = (
        (reading_insert_table.c.org_id == org_id)
        & (reading_insert_table.c.source_id == source_id)
        & (reading_insert_table.c.period_start >= start)
        & (reading_insert_table.c.period_start < end)
    )
    connection = session.connection()
    before = sorted(
        {
            h
            for h in connection.execute(
                sa.select(reading_insert_table.c.evidence_sha256).where(in_month)
            ).scalars()
            if h
        }
    )
    changed = connection.execute(
        sa.update(reading_insert_table).where(in_month).values(evidence_sha256=evidence_sha256)
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
            reading_insert_table.c.source_id,
            reading_insert_table.c.period_start,
            reading_insert_table.c.evidence_sha256,
        ).where(
            reading_insert_table.c.org_id == org_id,
            reading_insert_table.c.evidence_sha256.is_not(None),
            reading_insert_table.c.period_start >= month_start(year, 1),
            reading_insert_table.c.period_start < month_start(year + 1, 1),
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
    products = table_of(Product)
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
    provenance: Mapping[str, str | None] | None = None,
    reason: str = "",
) -> MeasuredParameter:
    """Record (or correct) a source's measured fuel parameters for one month; the calculator checks
    the values when the inventory is built, and their ranges here. ``provenance`` says where they come
    from: laboratory, accreditation (CMA/CNAS), report_no, sampled_on (YYYY-MM-DD)."""
    issues: list[DataIssue] = []
    source = get_source(session, org_id=org_id, source_id=source_id)
    if source is None:
        issues.append(
            data_issue("source_id", "排放源不存在", "the source does not exist in this organization")
        )
    values: dict[str, Any] = {"ncv_unit": (ncv_unit or "").strip() or None}
    for name, raw in (("ncv", ncv), ("carbon_content", carbon_content), ("oxidation_rate", oxidation_rate)):
        try:
            values[name] = None if raw is None or raw == "" else parse_decimal(raw, what=name)
        except BadValue as bad:
            issues.append(data_issue(name, bad.zh, bad.en))
    try:
        values["period"] = _month_text(period)
    except BadValue as bad:
        issues.append(data_issue("period", bad.zh, bad.en))
    try:
        values["evidence_sha256"] = parse_sha256(evidence_sha256)
    except BadValue as bad:
        issues.append(data_issue("evidence_sha256", bad.zh, bad.en))
    values.update(_provenance(provenance or {}, issues))
    if not issues and all(values[name] is None for name in ("ncv", "carbon_content", "oxidation_rate")):
        issues.append(data_issue("ncv", "至少填写一个实测参数", "give at least one measured parameter"))
    if not issues and source is not None:
        probe = calc_line(
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
                factor_set=factor_set_with(source.fuel_or_material or "") or DEFAULT_FACTOR_SET,
            )
        ):
            if problem.field in ("ncv", "ncv_unit", "carbon_content", "oxidation_rate"):
                issues.append(data_issue(problem.field, problem.message_zh, problem.message_en))
    if issues:
        raise EmissionsDataError(issues)
    existing = session.exec(
        select(MeasuredParameter).where(
            MeasuredParameter.org_id == org_id,
            MeasuredParameter.source_id == source_id,
            MeasuredParameter.period == values["period"],
        )
    ).first()
    saved: MeasuredParameter = _save_audited(
        session,
        org_id=org_id,
        actor=actor,
        existing=existing,
        new=lambda: MeasuredParameter(org_id=org_id, source_id=source_id, entered_by=actor.id, **values),
        values=values,
        subject_type="measured_parameter",
    )
    periods = frozenset({values["period"]})
    bump_for_periods(session, org_id=org_id, periods=periods)
    announce(session, MonthDataChanged(org_id=org_id, periods=periods, actor=actor, reason=reason))
    return saved


PROVENANCE_TEXT = {"laboratory": 200, "accreditation": 80, "report_no": 80}  # field → longest text


def _provenance(given: Mapping[str, str | None], issues: list[DataIssue]) -> dict[str, Any]:
    """The provenance fields, checked: text without control characters within its length, a sample date
    that is a real day and not in the future."""
    values: dict[str, Any] = {}
    for name, longest in PROVENANCE_TEXT.items():
        text = (given.get(name) or "").strip()
        character = forbidden_character(text)
        if character:
            issues.append(data_issue(name, *control_character_message(character)))
        elif len(text) > longest:
            issues.append(data_issue(name, f"不能超过 {longest} 个字符", f"at most {longest} characters"))
        values[name] = text or None
    sampled = (given.get("sampled_on") or "").strip()
    values["sampled_on"] = None
    if sampled:
        try:
            values["sampled_on"] = date.fromisoformat(sampled)
        except ValueError:
            issues.append(
                data_issue("sampled_on", "采样日期不是有效日期", "the sample date is not a valid date")
            )
        else:
            if values["sampled_on"] > china_today():
                issues.append(
                    data_issue("sampled_on", "采样日期不能晚于今天", "the sample date is in the future")
                )
    return values


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
        changes = {key: [None, audit_value(value)] for key, value in values.items() if value is not None}
        action = "created"
    else:
        row = existing
        changes = {
            key: [audit_value(getattr(row, key)), audit_value(value)]
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


def production_of_year(session: Session, *, year: int) -> list[ProductionOutput]:
    """The session's organization's production and output value of each product and month of ``year``."""
    return list(
        session.exec(
            select(ProductionOutput).where(
                ProductionOutput.period >= f"{year}-01", ProductionOutput.period <= f"{year}-12"
            )
        ).all()
    )


def measured_parameters_of_year(session: Session, *, year: int) -> list[MeasuredParameter]:
    """The session's organization's measured fuel parameters of ``year``, by source and month."""
    return list(
        session.exec(
            select(MeasuredParameter)
            .where(MeasuredParameter.period >= f"{year}-01", MeasuredParameter.period <= f"{year}-12")
            .order_by(col(MeasuredParameter.source_id), col(MeasuredParameter.period))
        ).all()
    )

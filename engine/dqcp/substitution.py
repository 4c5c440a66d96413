"""Filling a month's missing value under the row's missing-data rule: every rule is conservative (the
highest of the previous 12 months for an activity datum or a factor, the lowest for production, a full
oxidation rate), a reason is required, the value is written through the carbon-data services (so the 8.6
batch rules apply to it as to any change) and marked as substituted, and all of it is audited."""

from decimal import Decimal

from sqlmodel import Session, select

from engine.audit import Actor, append_event
from engine.carbon_data.errors import EmissionsDataError
from engine.carbon_data.inputs import set_measured_parameter, set_production
from engine.carbon_data.models import EmissionSource, MeasuredParameter
from engine.carbon_data.readings import record_reading
from engine.dqcp.filing import SUBJECT, FilingRefused, close_if_complete, filing_of, positive, row_or_refuse
from engine.dqcp.plan import COMPUTED_RULES, FACTOR_KINDS, Plan, PlanRow
from engine.dqcp.values import month_values, previous_months
from engine.forms.spec import Text
from engine.identity.models import Product

RULE_NOTE = "缺失数据替代"


def conservative_value(session: Session, *, org_id: int, row: PlanRow, period: str) -> Decimal | None:
    """The value the row's rule gives for ``period``, or None when the rule needs one to be given."""
    if row.missing_rule == "full_oxidation":
        return Decimal(1)
    if row.missing_rule not in ("max_previous_12", "min_previous_12"):
        return None
    earlier = previous_months(period)
    values = month_values(session, org_id=org_id, years={int(month[:4]) for month in earlier})
    found = [values[key] for month in earlier if (key := (row.kind, row.subject, month)) in values]
    if not found:
        raise FilingRefused(
            "value",
            Text(
                zh="前 12 个月没有可用的数值：请按额定能力或缺省值上限填写替代值",
                en="No value in the previous 12 months: give the value (rated capacity or upper default)",
            ),
        )
    return max(found) if row.missing_rule == "max_previous_12" else min(found)


def substitute_missing_value(
    session: Session,
    *,
    org_id: int,
    plan: Plan,
    row_code: str,
    period: str,
    reason: str,
    actor: Actor,
    value: Decimal | None = None,
) -> Decimal:
    """Write the row's conservative value for a month that has none; the value written."""
    row = row_or_refuse(plan, row_code)
    reason = reason.strip()
    if not reason:
        raise FilingRefused("reason", Text(zh="请填写缺失原因", en="Give the reason the value is missing"))
    existing = month_values(session, org_id=org_id, years=[int(period[:4])])
    if (row.kind, row.subject, period) in existing:
        raise FilingRefused("value", Text(zh="该月已有数值，无需替代", en="The month has a value already"))
    computed = conservative_value(session, org_id=org_id, row=row, period=period)
    if row.missing_rule in COMPUTED_RULES:
        value = computed
    elif not positive(value):
        raise FilingRefused(
            "value", Text(zh="请填写替代值（正数）", en="Give the substitute value (positive)")
        )
    assert value is not None
    _write(session, org_id=org_id, row=row, period=period, value=value, reason=reason, actor=actor)
    filing = filing_of(session, org_id=org_id, row=row, period=period)
    filing.substitution_rule, filing.substituted_value = row.missing_rule, value
    filing.substitution_reason, filing.substituted_by = reason, actor.id
    session.add(filing)
    append_event(
        session, org_id=org_id, actor=actor, subject_type=SUBJECT, subject_id=f"{row.code}@{period}",
        action="value_substituted", changes={"rule": [None, row.missing_rule], "value": [None, str(value)]},
        reason=reason,
    )  # fmt: skip
    close_if_complete(session, org_id=org_id, plan=plan, row=row, period=period, filing=filing)
    return value


def _write(
    session: Session, *, org_id: int, row: PlanRow, period: str, value: Decimal, reason: str, actor: Actor
) -> None:
    note = f"{RULE_NOTE}：{reason}"[:200]
    try:
        if row.kind == "production":
            product = session.exec(select(Product).where(Product.code == row.subject)).first()
            if product is None or product.id is None:
                raise FilingRefused(
                    "subject", Text(zh=f"没有产品“{row.subject}”", en=f"No product '{row.subject}'")
                )
            set_production(
                session, org_id=org_id, actor=actor, product_id=product.id, period=period, quantity=value
            )
            return
        source = session.exec(select(EmissionSource).where(EmissionSource.code == row.subject)).first()
        if source is None or source.id is None:
            raise FilingRefused(
                "subject", Text(zh=f"没有排放源“{row.subject}”", en=f"No emission source '{row.subject}'")
            )
        if row.kind == "activity":
            record_reading(
                session, org_id=org_id, actor=actor, source_id=source.id, period=period, quantity=value,
                tier="estimated", note=note, reason=reason,
            )  # fmt: skip
            return
        assert row.kind in FACTOR_KINDS
        measured = session.exec(
            select(MeasuredParameter).where(
                MeasuredParameter.source_id == source.id, MeasuredParameter.period == period
            )
        ).first()
        kept: dict[str, Decimal | None] = {kind: getattr(measured, kind, None) for kind in FACTOR_KINDS}
        kept[row.kind] = value
        set_measured_parameter(
            session, org_id=org_id, actor=actor, source_id=source.id, period=period,
            ncv=kept["ncv"], carbon_content=kept["carbon_content"], oxidation_rate=kept["oxidation_rate"],
            ncv_unit=(measured.ncv_unit if measured else None) or row.unit, reason=reason,
        )  # fmt: skip
    except EmissionsDataError as error:
        first = error.issues[0]
        raise FilingRefused("value", Text(zh=first.message_zh, en=first.message_en)) from None

"""Where a value a user supplies comes from (issue 14 item 4): a measured NCV, carbon content or oxidation
rate carries its lab report (an evidence file), the laboratory with its CMA/CNAS accreditation, the report
number and the sample date. A measured row without its lab report, laboratory or report number is flagged
wherever it is shown: the measured-parameters page, the inventory, the trust chain and the GHG report."""

from dataclasses import dataclass

from sqlmodel import Session, col, select

from engine.carbon_data.errors import FIELD_LABELS as LABELS
from engine.carbon_data.inputs import measured_parameters_of_year
from engine.carbon_data.models import MeasuredParameter
from engine.carbon_data.sources import list_sources
from engine.dqcp.models import MonthlyFiling
from engine.dqcp.plan import FACTOR_KINDS, plan_in_force
from engine.emissions.plausibility import outside
from engine.emissions.rounding import plain
from engine.forms.spec import Text

# What a measured row needs to name its source, in the order they are reported missing.
REQUIRED = {
    "evidence_sha256": Text(zh="检测报告文件", en="lab report file"),
    "laboratory": Text(zh="检测机构", en="laboratory"),
    "report_no": Text(zh="报告编号", en="report number"),
}


def missing_provenance(row: MeasuredParameter, *, filed_report: bool = False) -> list[Text]:
    """What the row lacks; ``filed_report``: the month's lab report is filed under the data-quality control
    plan's row for this source's parameter (the same report, filed once)."""
    return [
        label
        for name, label in REQUIRED.items()
        if not getattr(row, name) and not (name == "evidence_sha256" and filed_report)
    ]


def filed_lab_reports(session: Session, *, org_id: int, year: int) -> set[tuple[str, str]]:
    """(source code, month) whose measured parameter's proof is filed under the plan in force."""
    plan = plan_in_force(session)
    codes = {row.code: row.subject for row in plan.rows if row.kind in FACTOR_KINDS} if plan else {}
    if not codes:
        return set()
    filed = session.exec(
        select(MonthlyFiling.row_code, MonthlyFiling.period).where(
            MonthlyFiling.org_id == org_id,
            col(MonthlyFiling.row_code).in_(sorted(codes)),
            col(MonthlyFiling.period).startswith(f"{year:04d}-"),
            col(MonthlyFiling.proof_evidence_id).is_not(None),
        )
    ).all()
    return {(codes[code], period) for code, period in filed}


@dataclass(frozen=True)
class Measurement:
    row: MeasuredParameter
    source_code: str
    source_name: str
    missing: list[Text]
    implausible: list[Text]  # values outside their plausible range (issue 14 item 8): used, but flagged


_CHECKS = (("NCV", "ncv"), ("CC", "carbon_content"), ("OF", "oxidation_rate"))


def implausible_values(row: MeasuredParameter, *, fuel: str | None) -> list[Text]:
    found = []
    units = {"ncv": row.ncv_unit or "", "carbon_content": "tC/GJ", "oxidation_rate": "fraction"}
    for check, name in _CHECKS:
        value = getattr(row, name)
        bounds = None if value is None else outside(check, subject=fuel, unit=units[name], value=value)
        if bounds is not None:
            band = f"{plain(bounds.low)}–{plain(bounds.high)}"
            zh, en = LABELS[name]
            found.append(Text(zh=f"{zh}超出常见范围 {band}", en=f"{en} outside {band}"))
    return found


def measurements(session: Session, *, org_id: int, year: int) -> list[Measurement]:
    """The year's measured rows with their source's code and name and what their provenance lacks."""
    sources = {source.id: source for source in list_sources(session, org_id=org_id)}
    filed = filed_lab_reports(session, org_id=org_id, year=year)
    found = []
    for row in measured_parameters_of_year(session, year=year):
        source = sources.get(row.source_id)
        if source is not None:
            missing = missing_provenance(row, filed_report=(source.code, row.period) in filed)
            odd = implausible_values(row, fuel=source.fuel_or_material)
            found.append(Measurement(row, source.code, source.name, missing, odd))
    return found


def unsourced(session: Session, *, org_id: int, year: int) -> list[Measurement]:
    return [m for m in measurements(session, org_id=org_id, year=year) if m.missing]

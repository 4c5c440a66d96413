"""Reporting-year settings as read (issue 14 item 3; ADR 0043): the GB/T 32150 edition a year is accounted
under and the GWP set of its CO2e figures, fixed per organization and year. A year without a stored row
takes the defaults below; the change service is engine.carbon_data.year_settings."""

from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, select

from engine.carbon_data.models import ReportingYearSetting
from engine.emissions.factors import DEFAULT_GWP_SET, GWP_SET_YEARS
from engine.forms.spec import Text

EDITION_2015 = "2015"
EDITION_2025 = "2025"
# GB/T 32150-2025 was published 2025-12-31 and takes effect 2026-07-01 (carbon_reference.md §0, S1).
EDITION_2025_PUBLISHED = date(2025, 12, 31)
EDITION_2025_EFFECTIVE = date(2026, 7, 1)

EDITIONS: dict[str, Text] = {
    EDITION_2015: Text(
        zh="GB/T 32150-2015《工业企业温室气体排放核算和报告通则》",
        en="GB/T 32150-2015 General guideline of GHG emissions accounting and reporting for industrial "
        "enterprises",
    ),
    EDITION_2025: Text(
        zh="GB/T 32150-2025《工业企业温室气体排放核算和报告通则》（2026-07-01 实施）",
        en="GB/T 32150-2025 General guideline of GHG emissions accounting and reporting for industrial "
        "enterprises (in force from 2026-07-01)",
    ),
}

GWP_SETS: dict[str, Text] = {
    "SAR": Text(zh="IPCC 第二次评估报告（SAR，1995）", en="IPCC Second Assessment Report (SAR, 1995)"),
    "AR4": Text(zh="IPCC 第四次评估报告（AR4，2007）", en="IPCC Fourth Assessment Report (AR4, 2007)"),
    "AR5": Text(zh="IPCC 第五次评估报告（AR5，2013）", en="IPCC Fifth Assessment Report (AR5, 2013)"),
    "AR6": Text(zh="IPCC 第六次评估报告（AR6，2021）", en="IPCC Sixth Assessment Report (AR6, 2021)"),
}
assert set(GWP_SETS) == set(GWP_SET_YEARS)


def edition_label(edition: str | None, locale: str = "zh_CN") -> str:
    """The standard's number for a person; None (a snapshot frozen before editions were recorded) is 2015."""
    return f"GB/T 32150-{edition or EDITION_2015}"


def default_edition(year: int) -> str:
    """The edition in force on the last day of the reporting year: a year's inventory is accounted after it
    ends, and GB/T 32150-2025 is in force from 2026-07-01, so 2026 and later default to the 2025 edition,
    earlier years to 2015 (ADR 0043)."""
    return EDITION_2025 if date(year, 12, 31) >= EDITION_2025_EFFECTIVE else EDITION_2015


def editions_for(year: int) -> list[str]:
    """The editions a year may be set to: 2015 always (a verifier may ask for it during the transition);
    2025 from the year it was published (a 2025 inventory reported after 2026-07-01)."""
    return [EDITION_2015] + ([EDITION_2025] if year >= EDITION_2025_PUBLISHED.year else [])


@dataclass(frozen=True)
class YearSettings:
    year: int
    gbt32150_edition: str
    gwp_set: str
    stored: ReportingYearSetting | None  # None: the defaults, never set

    @property
    def is_default(self) -> bool:
        return self.stored is None


def stored_setting(session: Session, *, org_id: int, year: int) -> ReportingYearSetting | None:
    return session.exec(
        select(ReportingYearSetting).where(
            ReportingYearSetting.org_id == org_id, ReportingYearSetting.year == year
        )
    ).first()


def year_settings(session: Session, *, org_id: int, year: int) -> YearSettings:
    """The year's settings: as stored, else the defaults (edition by the year, the calculator's GWP set)."""
    stored = stored_setting(session, org_id=org_id, year=year)
    if stored is None:
        return YearSettings(year, default_edition(year), DEFAULT_GWP_SET, None)
    return YearSettings(year, stored.gbt32150_edition, stored.gwp_set, stored)

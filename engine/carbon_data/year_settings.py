"""Changing a reporting year's settings (issue 14 item 3; ADR 0043): the GB/T 32150 edition and the GWP set
change only with a reason, are audited, and bump the year's input version (the inventory recalculates). A year
that has a frozen snapshot is recalculated and frozen again in the same transaction: a restatement
(engine.carbon_data.restatement) with the change's reason, so the differences are shown and the records that
used the earlier figures are named. When the year cannot be frozen again (months not verified, a locked
year), nothing is changed."""

from dataclasses import dataclass, field

from sqlmodel import Session

from engine.audit import Actor, append_event
from engine.carbon_data.editions import (
    EDITIONS,
    YearSettings,
    editions_for,
    stored_setting,
    year_settings,
)
from engine.carbon_data.errors import DataIssue, EmissionsDataError
from engine.carbon_data.models import InventorySnapshot, ReportingYearSetting
from engine.carbon_data.parsing import MAX_YEAR, MIN_YEAR
from engine.carbon_data.snapshots import MAX_REASON_LENGTH, freeze_snapshot, latest_snapshot
from engine.carbon_data.versions import bump_input_versions
from engine.emissions.errors import CalcError
from engine.emissions.factors import check_gwp_set
from engine.models.base import utcnow
from engine.verification.locks import lock_message, locked_years


@dataclass(frozen=True)
class SettingsChange:
    settings: YearSettings  # as they are now
    changes: dict[str, list[str]] = field(default_factory=dict)  # field → [before, after]; empty: unchanged
    restated: InventorySnapshot | None = None  # the snapshot frozen again with the new settings


def change_year_settings(
    session: Session,
    *,
    org_id: int,
    year: int,
    actor: Actor,
    gbt32150_edition: str,
    gwp_set: str,
    reason: str | None,
) -> SettingsChange:
    """Set the year's edition and GWP set. Every problem is reported together, by field; the same values
    again change nothing (no event)."""
    issues: list[DataIssue] = []
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise EmissionsDataError.single("year", zh="年份超出范围", en=f"year must be {MIN_YEAR}–{MAX_YEAR}")
    edition = (gbt32150_edition or "").strip()
    if edition not in editions_for(year):
        allowed = "、".join(f"GB/T 32150-{e}" for e in editions_for(year))
        known = edition in EDITIONS
        issues.append(
            DataIssue(
                None,
                "gbt32150_edition",
                f"GB/T 32150-{edition} 于 2025-12-31 发布，不适用于 {year} 年度；可选：{allowed}"
                if known
                else f"未知的 GB/T 32150 版本“{edition}”；可选：{allowed}",
                f"GB/T 32150-{edition} was published on 2025-12-31 and does not apply to {year}; "
                f"available: {allowed}"
                if known
                else f"unknown GB/T 32150 edition '{edition}'; available: {allowed}",
            )
        )
    try:
        gwp = check_gwp_set((gwp_set or "").strip())
    except CalcError as error:
        issues.extend(DataIssue(None, "gwp_set", i.message_zh, i.message_en) for i in error.issues)
    reason = (reason or "").strip()
    if not reason:
        issues.append(
            DataIssue(
                None,
                "reason",
                "修改报告年度设置须填写原因",
                "changing a reporting year's settings needs a reason",
            )
        )
    elif len(reason) > MAX_REASON_LENGTH:
        issues.append(
            DataIssue(
                None,
                "reason",
                f"原因不能超过 {MAX_REASON_LENGTH} 个字符（现为 {len(reason)} 个）",
                f"the reason must be at most {MAX_REASON_LENGTH} characters (it has {len(reason)})",
            )
        )
    if year in locked_years(session, org_id=org_id):
        message = lock_message(year)
        issues.append(DataIssue(None, "year", message.zh, message.en))
    if issues:
        raise EmissionsDataError(issues)
    before = year_settings(session, org_id=org_id, year=year)
    changes = {
        name: [old, new]
        for name, old, new in (
            ("gbt32150_edition", before.gbt32150_edition, edition),
            ("gwp_set", before.gwp_set, gwp),
        )
        if old != new
    }
    if not changes:
        return SettingsChange(settings=before)
    row = stored_setting(session, org_id=org_id, year=year)
    if row is None:
        row = ReportingYearSetting(
            org_id=org_id, year=year, gbt32150_edition=edition, gwp_set=gwp, reason=reason
        )
    row.gbt32150_edition, row.gwp_set, row.reason = edition, gwp, reason
    row.updated_by, row.updated_at = actor.id, utcnow()
    session.add(row)
    session.flush()
    assert row.id is not None
    append_event(
        session,
        org_id=org_id,
        actor=actor,
        subject_type="reporting_year_setting",
        subject_id=row.id,
        action="changed",
        changes={"year": [year, year], **changes},
        reason=reason,
    )
    bump_input_versions(session, org_id=org_id, years=[year])
    restated = None
    if latest_snapshot(session, org_id=org_id, year=year) is not None:
        # Frozen before: recalculate and freeze again now, or change nothing (the caller's transaction).
        restated = freeze_snapshot(session, org_id=org_id, year=year, actor=actor, reason=reason)
    return SettingsChange(
        settings=year_settings(session, org_id=org_id, year=year), changes=changes, restated=restated
    )

"""Reporting-year settings (issue 14 item 3, ADR 0038): the GB/T 32150 edition and the GWP set are fixed
per year, changed only with a reason, audited, recorded in each snapshot; changing them after a freeze
recalculates and restates the year."""

from dataclasses import replace

import pytest

from engine.audit import verify_chain
from engine.carbon_data.editions import default_edition, editions_for, year_settings
from engine.carbon_data.errors import EmissionsDataError
from engine.carbon_data.inventory import build_inventory
from engine.carbon_data.readings import record_readings
from engine.carbon_data.restatement import restatement
from engine.carbon_data.snapshots import freeze_snapshot, list_snapshots
from engine.carbon_data.sources import add_source
from engine.carbon_data.year_settings import change_year_settings
from engine.verification.models import YearLock
from tests.carbon_data.conftest import verify_year
from tests.carbon_data.test_inventory import setup_small_plant
from tests.carbon_data.test_snapshots import audit_events


def settings_events(db, org_id: int) -> list[dict]:
    return audit_events(db, org_id, "reporting_year_setting")


def set_year(session, org, year: int, *, gwp_set: str = "AR5", edition: str = "2015", reason: str):
    return change_year_settings(
        session,
        org_id=org.id,
        year=year,
        actor=org.actor,
        gbt32150_edition=edition,
        gwp_set=gwp_set,
        reason=reason,
    )


def add_gas_sources(db, org, *, year: int) -> None:
    """10 t CH4 and 2 t N2O in March (direct factors), and 12.5 t of diesel (CO2 only)."""
    with db.unit_of_work(org_id=org.id) as uow:
        session = uow.session
        common = {
            "org_id": org.id,
            "actor": org.actor,
            "org_unit_id": org.kiln,
            "category": "process",
            "unit": "t",
        }
        methane = add_source(
            session,
            code="M1",
            name="甲烷逸散",
            fuel_or_material="甲烷逸散",
            factor_choice="direct",
            factor_value="0.1",
            gas="CH4",
            **common,
        )
        nitrous = add_source(
            session,
            code="N1",
            name="氧化亚氮",
            fuel_or_material="氧化亚氮",
            factor_choice="direct",
            factor_value="0.02",
            gas="N2O",
            **common,
        )
        record_readings(
            session,
            org_id=org.id,
            actor=org.actor,
            entries=[
                {"source_id": methane.id, "period": f"{year}-03", "quantity": "100"},
                {"source_id": nitrous.id, "period": f"{year}-03", "quantity": "100"},
            ],
        )


def test_defaults_follow_the_effective_date_of_the_2025_edition():
    assert default_edition(2024) == "2015" and default_edition(2025) == "2015"
    assert default_edition(2026) == "2025" and default_edition(2030) == "2025"
    assert editions_for(2024) == ["2015"] and editions_for(2025) == ["2015", "2025"]


def test_a_year_with_ar5_differs_from_ar6_by_the_hand_computed_ch4_and_n2o(db, alpha):
    add_gas_sources(db, alpha, year=2023)
    with db.read_session(org_id=alpha.id) as session:
        ar6 = build_inventory(session, org_id=alpha.id, year=2023)
        assert year_settings(session, org_id=alpha.id, year=2023).gwp_set == "AR6"
    with db.unit_of_work(org_id=alpha.id) as uow:
        change = set_year(uow.session, alpha, 2023, reason="主管部门要求 2023 年度按 AR5 报告")
    assert change.changes == {"gwp_set": ["AR6", "AR5"]} and change.restated is None
    with db.read_session(org_id=alpha.id) as session:
        ar5 = build_inventory(session, org_id=alpha.id, year=2023)
    # AR6: 10 × 27.9 + 2 × 273 = 825; AR5: 10 × 28 + 2 × 265 = 810
    assert ar6.json["by_gas"] == {"CH4": 279, "N2O": 546} and ar6.total_tco2e == 825
    assert ar5.json["by_gas"] == {"CH4": 280, "N2O": 530} and ar5.total_tco2e == 810
    assert ar5.inventory.gwp_set == "AR5" and ar5.inputs["gwp_set"] == "AR5"
    (event,) = settings_events(db, alpha.id)
    assert event["reason"] == "主管部门要求 2023 年度按 AR5 报告"
    assert event["changes"]["gwp_set"] == ["AR6", "AR5"] and "gbt32150_edition" not in event["changes"]


def test_a_change_needs_a_reason_and_known_values_and_the_same_values_change_nothing(db, alpha):
    with pytest.raises(EmissionsDataError) as refused, db.unit_of_work(org_id=alpha.id) as uow:
        set_year(uow.session, alpha, 2024, gwp_set="AR7", edition="2025", reason="  ")
    fields = {issue.field: issue for issue in refused.value.issues}
    assert set(fields) == {"gbt32150_edition", "gwp_set", "reason"}
    assert (
        "2025-12-31" in fields["gbt32150_edition"].message_zh
        and "GB/T 32150-2015" in fields["gbt32150_edition"].message_zh
    )
    assert (
        fields["reason"].field_zh == "修改原因" and fields["gbt32150_edition"].field_zh == "GB/T 32150 版本"
    )
    with db.unit_of_work(org_id=alpha.id) as uow:
        same = set_year(uow.session, alpha, 2024, gwp_set="AR6", reason="确认")
    assert same.changes == {} and same.settings.is_default
    assert settings_events(db, alpha.id) == []


def test_snapshots_record_the_edition_and_gwp_set_and_a_change_after_a_freeze_restates(db, alpha):
    setup_small_plant(db, alpha, year=2023)
    add_gas_sources(db, alpha, year=2023)
    verify_year(db, alpha, 2023)
    with db.unit_of_work(org_id=alpha.id) as uow:
        first = freeze_snapshot(uow.session, org_id=alpha.id, year=2023, actor=alpha.actor)
    assert (first.gbt32150_edition, first.gwp_set) == ("2015", "AR6")
    assert first.inputs["_gbt32150_edition"] == "2015" and first.inputs["gwp_set"] == "AR6"
    # A change after the freeze: without a reason, nothing is changed.
    with pytest.raises(EmissionsDataError), db.unit_of_work(org_id=alpha.id) as uow:
        set_year(uow.session, alpha, 2023, reason="")
    with db.read_session(org_id=alpha.id) as session:
        assert year_settings(session, org_id=alpha.id, year=2023).is_default
        assert len(list_snapshots(session, org_id=alpha.id, year=2023)) == 1
    reason = "核查机构要求按 AR5 重新计算"
    with db.unit_of_work(org_id=alpha.id) as uow:
        change = set_year(uow.session, alpha, 2023, reason=reason)
    restated = change.restated
    assert restated is not None and restated.id != first.id
    assert (restated.gwp_set, restated.gbt32150_edition, restated.reason) == ("AR5", "2015", reason)
    # 621.173156 (the small plant) + 825 → + 810: the restatement is the hand-computed −15
    assert float(first.total_tco2e) == pytest.approx(621.173156 + 825)
    assert restated.total_tco2e - first.total_tco2e == -15
    with db.read_session(org_id=alpha.id) as session:
        newest, earlier = list_snapshots(session, org_id=alpha.id, year=2023)
        assert (newest.id, earlier.id) == (restated.id, first.id)  # the earlier one is kept
        note = restatement(earlier, newest)
    assert note.total.delta == -15
    assert ("gwp_set", "AR6", "AR5") in note.settings
    assert {change.key: change.delta for change in note.lines} == {
        "M1 甲烷逸散 2023-03": 1,
        "N1 氧化亚氮 2023-03": -16,
    }
    last = audit_events(db, alpha.id, "inventory_snapshot", "frozen")[-1]
    assert last["changes"]["restates"] == [None, first.id] and last["changes"]["gwp_set"] == [None, "AR5"]
    assert last["reason"] == reason
    with db.engine.connect() as connection:
        assert verify_chain(connection, org_id=alpha.id).ok


def test_an_edition_change_after_a_freeze_needs_the_year_frozen_again(db, alpha):
    setup_small_plant(db, alpha, year=2025)
    verify_year(db, alpha, 2025)
    with db.unit_of_work(org_id=alpha.id) as uow:
        first = freeze_snapshot(uow.session, org_id=alpha.id, year=2025, actor=alpha.actor, reason="报送")
    with db.unit_of_work(org_id=alpha.id) as uow:
        change = set_year(
            uow.session, alpha, 2025, gwp_set="AR6", edition="2025", reason="2026 年 7 月后报送，按新版通则"
        )
    assert change.changes == {"gbt32150_edition": ["2015", "2025"]}
    assert change.restated is not None and change.restated.gbt32150_edition == "2025"
    assert change.restated.total_tco2e == first.total_tco2e
    assert ("gbt32150_edition", "2015", "2025") in restatement(first, change.restated).settings


def test_a_frozen_year_that_cannot_be_frozen_again_keeps_its_settings(db, alpha):
    setup_small_plant(db, alpha, year=2023)
    verify_year(db, alpha, 2023)
    with db.unit_of_work(org_id=alpha.id) as uow:
        freeze_snapshot(uow.session, org_id=alpha.id, year=2023, actor=alpha.actor)
    # A new reading sends March back to collected: the year cannot be frozen again until it is verified.
    with db.unit_of_work(org_id=alpha.id) as uow:
        source = add_source(
            uow.session,
            org_id=alpha.id,
            actor=alpha.actor,
            org_unit_id=alpha.kiln,
            code="H1",
            name="外购热",
            category="purchased_heat",
            unit="GJ",
        )
        record_readings(
            uow.session,
            org_id=alpha.id,
            actor=replace(alpha.actor, roles=frozenset({"carbon_manager"})),
            entries=[{"source_id": source.id, "period": "2023-03", "quantity": "10"}],
            reason="补录",
        )
    with pytest.raises(EmissionsDataError) as refused, db.unit_of_work(org_id=alpha.id) as uow:
        set_year(uow.session, alpha, 2023, reason="改用 AR5")
    assert refused.value.issues[0].field == "year"
    with db.read_session(org_id=alpha.id) as session:
        assert year_settings(session, org_id=alpha.id, year=2023).is_default
        assert len(list_snapshots(session, org_id=alpha.id, year=2023)) == 1
    assert settings_events(db, alpha.id) == []


def test_a_locked_year_refuses_a_change(db, alpha):
    with db.unit_of_work(org_id=alpha.id) as uow:
        uow.session.add(YearLock(org_id=alpha.id, year=2024, locked_by=alpha.actor.id))
    with pytest.raises(EmissionsDataError) as refused, db.unit_of_work(org_id=alpha.id) as uow:
        set_year(uow.session, alpha, 2024, reason="改用 AR5")
    assert [issue.field for issue in refused.value.issues] == ["year"]

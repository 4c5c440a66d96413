"""9.1 / 6.2.3 metering instrument register (ADR 0010, 0020): a register on the record table — unique code,
resting states that open no task, calibrations kept as rows with the next due date and status computed."""

from datetime import date

import pytest
from sqlmodel import select

from engine.audit import SYSTEM, Actor
from engine.evidence.store import store_evidence
from engine.identity.models import OrgUnitKind
from engine.identity.organizations import add_org_unit
from engine.records.queries import get_record
from engine.storage import LocalStore
from engine.workflow.errors import FormRefused, RoleRefused
from engine.workflow.lifecycle import create_record, fire_transition
from engine.workflow.models import Task
from workflows.hooks.metering_instrument import (
    accuracy_meets,
    add_months,
    calibration_values,
    coverage,
    instruments_overdue,
)

KEY = "metering_instrument"


@pytest.fixture
def plant(shop, tmp_path):
    with shop.db.unit_of_work(org_id=shop.org_id) as uow:
        kiln = add_org_unit(
            uow.session,
            org_id=shop.org_id,
            kind=OrgUnitKind.facility,
            code="KILN",
            name="1# 窑",
            actor=SYSTEM,
        )
        certificate = store_evidence(
            uow.session,
            org_id=shop.org_id,
            actor=Actor(shop.people["carbon"].id, "carbon"),
            evidence_store=LocalStore(tmp_path),
            filename="证书.txt",
            chunks=iter([b"certificate"]),
            max_bytes=10_000,
        )
    shop.kiln = kiln.id
    shop.certificate = certificate.id
    return shop


def instrument(plant, **changes):
    data = {
        "code": "JL-W-011",
        "name": "入窑煤皮带秤",
        "instrument_type": "belt_scale",
        "facility": plant.kiln,
        "parameter": "入炉煤消耗量",
        "energy_flow_class": "subunit",
        "gb17167_item": "fuel_dynamic_scale",
        "accuracy_class": "±0.5%",
        "calibration_interval_months": "6",
        **changes,
    }
    with plant.db.unit_of_work(org_id=plant.org_id) as uow:
        return create_record(
            uow.session,
            workflow=plant.catalog.get(KEY),
            org_id=plant.org_id,
            actor=plant.people["carbon"],
            form_data=data,
            today=date(2026, 12, 1),
        ).id


def calibrate(plant, record_id, day, result="pass", today=date(2026, 12, 1), actor="carbon"):
    with plant.db.unit_of_work(org_id=plant.org_id) as uow:
        record = get_record(uow.session, record_id=record_id)
        fire_transition(
            uow.session,
            record_id=record_id,
            trigger="calibrate",
            actor=plant.people[actor],
            form_data={
                "calibration_date": day,
                "calibration_result": result,
                "certificate_no": f"湘衡 {day}",
                "calibrating_body": "娄底市计量测试检定所",
                "certificate": plant.certificate,
            },
            expected_version=record.version,
            today=today,
        )


def data_of(plant, record_id):
    with plant.db.read_session(org_id=plant.org_id) as session:
        record = get_record(session, record_id=record_id)
        return record.state, record.data


def test_months_are_added_to_the_calendar_day():
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 8, 21), 6) == date(2027, 2, 21)
    assert add_months(date(2025, 10, 15), 12) == date(2026, 10, 15)


def test_status_as_of_an_explicit_day():
    data = {"calibration_interval_months": "12", "last_calibration_date": "2025-10-15"}
    assert calibration_values(data, state="in_service", today=date(2026, 10, 15)) == {
        "next_calibration_due": "2026-10-15",
        "calibration_status": "valid",
    }
    assert (
        calibration_values(data, state="in_service", today=date(2026, 10, 16))["calibration_status"]
        == "overdue"
    )
    assert calibration_values(data, state="out_of_service", today=date(2027, 1, 1))["calibration_status"] == (
        "not_in_use"
    )
    assert calibration_values(
        {"calibration_interval_months": "12"}, state="in_service", today=date(2027, 1, 1)
    ) == {
        "next_calibration_due": None,
        "calibration_status": "none",
    }


def test_a_calibration_is_kept_and_sets_the_next_due_date(plant):
    record_id = instrument(plant, last_calibration_date="2026-02-20")
    state, data = data_of(plant, record_id)
    assert (state, data["next_calibration_due"], data["calibration_status"]) == (
        "in_service",
        "2026-08-20",
        "overdue",
    )
    calibrate(plant, record_id, "2026-08-21")
    calibrate(plant, record_id, "2026-11-30", result="fail")
    state, data = data_of(plant, record_id)
    assert [row["calibration_date"] for row in data["calibrations"]] == ["2026-08-21", "2026-11-30"]
    assert data["calibrations"][0]["certificate"] == plant.certificate
    assert data["next_calibration_due"] == "2027-05-30"
    assert data["calibration_status"] == "failed"
    calibrate(plant, record_id, "2026-12-01")
    assert data_of(plant, record_id)[1]["calibration_status"] == "valid"


def test_resting_states_open_no_task(plant):
    record_id = instrument(plant, responsible=plant.people["owner"].id)
    calibrate(plant, record_id, "2026-08-21")
    with plant.db.read_session(org_id=plant.org_id) as session:
        assert session.exec(select(Task).where(Task.record_id == record_id)).all() == []


def test_the_code_is_unique_in_the_organization(plant):
    first = instrument(plant)
    with pytest.raises(FormRefused) as refused:
        instrument(plant, name="另一台")
    assert set(refused.value.field_errors) == {"code"}
    assert "JL-0001" in refused.value.field_errors["code"]["zh"]
    second = instrument(plant, code="JL-W-012")
    with plant.db.unit_of_work(
        org_id=plant.org_id
    ) as uow:  # a revision may keep its own code, not take another's
        record = get_record(uow.session, record_id=second)
        revised = {**record.data, "code": "JL-W-011"}
        with pytest.raises(FormRefused) as refused:
            fire_transition(
                uow.session, record_id=second, trigger="revise", actor=plant.people["carbon"],
                form_data=revised, expected_version=record.version,
            )  # fmt: skip
        assert set(refused.value.field_errors) == {"code"}
    with plant.db.unit_of_work(org_id=plant.org_id) as uow:
        record = get_record(uow.session, record_id=first)
        fire_transition(
            uow.session, record_id=first, trigger="revise", actor=plant.people["carbon"],
            form_data={**record.data, "name": "入窑煤皮带秤（改）"}, expected_version=record.version,
        )  # fmt: skip


def test_only_the_roles_the_file_names_calibrate(plant):
    record_id = instrument(plant)
    with pytest.raises(RoleRefused):
        calibrate(plant, record_id, "2026-08-21", actor="staff")


def test_the_overdue_sweep_reads_its_own_day(plant):
    late = instrument(plant, last_calibration_date="2025-10-15", calibration_interval_months="12")
    instrument(plant, code="JL-2", last_calibration_date="2026-10-15", calibration_interval_months="12")
    stopped = instrument(
        plant, code="JL-3", last_calibration_date="2024-01-01", calibration_interval_months="12"
    )
    with plant.db.unit_of_work(org_id=plant.org_id) as uow:
        record = get_record(uow.session, record_id=stopped)
        fire_transition(
            uow.session, record_id=stopped, trigger="take_out_of_service", actor=plant.people["carbon"],
            form_data={}, expected_version=record.version, comment="停产检修",
        )  # fmt: skip
    with plant.db.read_session(org_id=plant.org_id) as session:
        assert [
            r.id for r in instruments_overdue(session, org_id=plant.org_id, today=date(2026, 10, 15))
        ] == []
        assert [
            r.id for r in instruments_overdue(session, org_id=plant.org_id, today=date(2026, 10, 16))
        ] == [late]


def test_accuracy_against_gb_17167():
    assert accuracy_meets("0.5S", "0.5S") and accuracy_meets("0.2S", "0.5S")
    assert accuracy_meets("0.5", "0.5S") is False
    assert accuracy_meets("±0.5%", "±0.5%") and accuracy_meets("±0.2%", "±0.5%")
    assert accuracy_meets("±1.0%", "±0.5%") is False
    assert accuracy_meets("0.5S", "±0.5%") is None


def test_coverage_per_facility(plant):
    instrument(plant)  # subunit level, ±0.5% against fuel_dynamic_scale
    instrument(
        plant, code="JL-E-1", energy_flow_class="unit", gb17167_item="electricity_i", accuracy_class="0.5"
    )
    with plant.db.read_session(org_id=plant.org_id) as session:
        (kiln,) = coverage(session, org_id=plant.org_id, org_slug="shop", units={plant.kiln: "KILN"})
    assert kiln.facility_id == plant.kiln
    assert {(level.level, level.in_service, level.required) for level in kiln.levels} == {
        ("unit", 1, None),
        ("subunit", 1, None),
    }
    assert [(check.required, check.meets) for check in kiln.accuracy] == [("±0.5%", True), ("0.5S", False)]

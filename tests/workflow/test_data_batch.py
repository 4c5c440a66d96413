"""8.6 carbon data quality control: collection → verification → reporting, by different people.
A second workflow that needed only a YAML file, two forms and one guard: no engine change."""

import pytest

from engine.records.queries import get_record
from engine.records.signatures import signatures_of
from engine.workflow.errors import FormRefused, GuardRefused, SeparationRefused
from engine.workflow.lifecycle import create_record, fire_transition
from engine.workflow.signing import signing_unit_of_work
from tests.workflow.conftest import PASSWORD, SECRET

BATCH = {"title": "2026 年 10 月能源与物料数据", "period": "2026-10", "collection_note": "电表月末抄表"}
CHECKS = {"checks": ["completeness", "meter_calibration"], "result": "passed"}


def create(shop, actor, data=BATCH):
    with shop.db.unit_of_work(org_id=shop.org_id) as uow:
        return create_record(
            uow.session,
            workflow=shop.catalog.get("carbon_data_batch"),
            org_id=shop.org_id,
            actor=shop.people[actor],
            form_data=data,
        ).id


def fire(shop, record_id, trigger, actor, data=None, **kwargs):
    person = shop.people[actor]

    def work(session, password_verified):
        return fire_transition(
            session,
            record_id=record_id,
            trigger=trigger,
            actor=person,
            form_data=data or {},
            expected_version=get_record(session, record_id=record_id).version,
            password_verified=password_verified,
            **kwargs,
        )

    return signing_unit_of_work(
        shop.db,
        org_id=shop.org_id,
        actor=person,
        record_id=record_id,
        trigger=trigger,
        signature_password=PASSWORD,
        reauthenticate=shop.reauthenticate_as(person),
        work=work,
    )


def test_three_levels_by_three_people(shop):
    batch = create(shop, "collector")
    with pytest.raises(SeparationRefused, match="collected"):
        fire(shop, batch, "verify", "collector", CHECKS)
    with pytest.raises(GuardRefused):
        fire(shop, batch, "verify", "quality", {**CHECKS, "result": "failed"})
    fire(shop, batch, "verify", "quality", CHECKS)
    with pytest.raises(SeparationRefused):
        fire(shop, batch, "report", "collector")
    fire(shop, batch, "report", "gm")
    with shop.db.read_session(org_id=shop.org_id) as session:
        record = get_record(session, record_id=batch)
        signatures = signatures_of(session, record=record, secret_key=SECRET)
        meanings = [(signature.meaning, signature.signer_name) for signature in signatures]
    assert record.state == "reported" and meanings == [("reviewed", "quality"), ("approved", "gm")]


def test_changing_reported_data_needs_a_reason_and_reopens_the_batch(shop):
    batch = create(shop, "collector")
    fire(shop, batch, "verify", "quality", CHECKS)
    fire(shop, batch, "report", "gm")
    with pytest.raises(FormRefused) as refused:
        fire(shop, batch, "reopen", "carbon")
    assert "comment" in refused.value.field_errors
    fire(shop, batch, "reopen", "carbon", comment="10 月电表读数录错，需更正")
    with shop.db.read_session(org_id=shop.org_id) as session:
        assert get_record(session, record_id=batch).state == "collected"


def test_the_period_must_be_a_month(shop):
    with pytest.raises(FormRefused) as refused:
        create(shop, "collector", {**BATCH, "period": "2026-13"})
    assert set(refused.value.field_errors) == {"period"}

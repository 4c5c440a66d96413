"""Cached inventories: keyed by the version of their inputs, bumped by every write in its transaction."""

import pytest

import engine.carbon_data.cache as cache
from engine.carbon_data.cache import cached_inventory
from engine.carbon_data.ingest import ingest_readings
from engine.carbon_data.inputs import set_production
from engine.carbon_data.readings import record_reading
from engine.carbon_data.sources import update_source
from engine.carbon_data.versions import EVERY_YEAR, input_version
from tests.carbon_data.test_inventory import setup_small_plant


def versions(db, org, *years):
    with db.read_session(org_id=org.id) as session:
        return [input_version(session, org_id=org.id, year=year) for year in years]


def test_each_kind_of_input_write_bumps_its_year_only(db, alpha):
    diesel, _, _ = setup_small_plant(db, alpha)  # three sources, readings of 2023
    assert versions(db, alpha, EVERY_YEAR, 2023, 2024) == [3, 1, 0]
    with db.unit_of_work(org_id=alpha.id) as uow:
        record_reading(
            uow.session, org_id=alpha.id, actor=alpha.actor, source_id=diesel, period="2023-02", quantity="3"
        )
    assert versions(db, alpha, EVERY_YEAR, 2023, 2024) == [3, 2, 0]
    with db.unit_of_work(org_id=alpha.id) as uow:
        set_production(
            uow.session,
            org_id=alpha.id,
            actor=alpha.actor,
            product_id=alpha.clinker,
            period="2023-03",
            quantity="5",
        )
    assert versions(db, alpha, EVERY_YEAR, 2023, 2024) == [3, 3, 0]
    with db.unit_of_work(org_id=alpha.id) as uow:
        readings = [{"source_id": diesel, "period_start": "2024-05-01T00:00:00+08:00", "quantity": 1.5}]
        ingest_readings(
            uow.session, org_id=alpha.id, readings=readings, idempotency_key="k1", actor=alpha.actor
        )
    assert versions(db, alpha, EVERY_YEAR, 2023, 2024) == [3, 3, 1]
    with db.unit_of_work(org_id=alpha.id) as uow:
        update_source(
            uow.session,
            org_id=alpha.id,
            actor=alpha.actor,
            source_id=diesel,
            changes={"name": "矿山柴油（新）"},
        )
    assert versions(db, alpha, EVERY_YEAR, 2023, 2024) == [4, 3, 1]


def test_a_write_rolled_back_bumps_nothing_and_the_cached_total_stays(db, alpha):
    diesel, _, _ = setup_small_plant(db, alpha)
    with db.read_session(org_id=alpha.id) as session:
        before = cached_inventory(session, org_id=alpha.id, year=2023).total_tco2e
    with pytest.raises(RuntimeError), db.unit_of_work(org_id=alpha.id) as uow:
        record_reading(
            uow.session, org_id=alpha.id, actor=alpha.actor, source_id=diesel, period="2023-02", quantity="99"
        )
        raise RuntimeError("the request failed after the write")
    assert versions(db, alpha, 2023) == [1]
    with db.read_session(org_id=alpha.id) as session:
        assert cached_inventory(session, org_id=alpha.id, year=2023).total_tco2e == before


def test_the_cache_builds_once_per_version_and_per_organization(db, orgs, monkeypatch):
    alpha, beta = orgs
    diesel, _, _ = setup_small_plant(db, alpha)
    setup_small_plant(db, beta)
    builds = []
    real = cache.build_inventory

    def counting(session, **kwargs):
        builds.append(kwargs["org_id"])
        return real(session, **kwargs)

    monkeypatch.setattr(cache, "build_inventory", counting)

    def total(org):
        with db.read_session(org_id=org.id) as session:
            return cached_inventory(session, org_id=org.id, year=2023).total_tco2e

    first = total(alpha)
    assert total(alpha) == first and total(beta) == first  # the same plant in both organizations
    assert builds == [alpha.id, beta.id]
    with db.unit_of_work(org_id=alpha.id) as uow:
        record_reading(
            uow.session, org_id=alpha.id, actor=alpha.actor, source_id=diesel, period="2023-02", quantity="3"
        )
    assert total(alpha) > first and total(beta) == first
    assert builds == [alpha.id, beta.id, alpha.id]
    # A year with a problem is kept too: no data for 2030 is not recomputed on every view.
    for _ in range(2):
        with pytest.raises(Exception, match="2030"), db.read_session(org_id=alpha.id) as session:
            cached_inventory(session, org_id=alpha.id, year=2030)
    assert builds.count(alpha.id) == 3

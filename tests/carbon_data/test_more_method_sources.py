"""The fossil fraction, steam by enthalpy and the carbon mass balance (issue 14 item 1) given in an emission
source's parameters reach the stored-data inventory, with hand-checked numbers."""

import pytest

from engine.carbon_data.errors import EmissionsDataError
from engine.carbon_data.inventory import build_inventory
from engine.carbon_data.readings import record_readings
from tests.carbon_data.test_sector_sources import source_of


def _add(session, org, code, category, name, parameters, unit="t"):
    return source_of(session, org, code, name, parameters, category=category, unit=unit)


def _inventory(db, org, sources_and_quantities):
    """The year's inventory after one April reading per source; a source is (code, category, name,
    parameters[, unit])."""
    with db.unit_of_work(org_id=org.id) as uow:
        entries = [
            {"source_id": _add(uow.session, org, *source).id, "period": "2023-04", "quantity": quantity}
            for source, quantity in sources_and_quantities
        ]
        record_readings(uow.session, org_id=org.id, actor=org.actor, entries=entries)
    with db.read_session(org_id=org.id) as session:
        return build_inventory(session, org_id=org.id, year=2023).json


def test_an_alternative_fuel_source_counts_its_fossil_part_only(db, alpha):
    tyres = ("T1", "combustion", "废轮胎", {"ncv": "30", "ncv_unit": "GJ/t", "carbon_content": "0.01",
             "oxidation_rate": "1", "fossil_fraction": "0.6"})  # fmt: skip
    document = _inventory(db, alpha, [(tyres, "100")])
    # 100 t × 30 GJ/t × 0.01 tC/GJ × 1 × 44/12 = 110 tCO2: 66 fossil in the total, 44 biomass apart
    assert document["total_tco2e"] == 66
    assert document["biomass_co2_t"] == 44


def test_a_steam_source_in_tonnes_is_converted_by_its_enthalpies(db, alpha):
    steam = ("S1", "purchased_heat", "外购蒸汽", {"enthalpy": "2800", "reference_enthalpy": "83.74"})
    document = _inventory(db, alpha, [(steam, "1000")])
    # 1000 t × (2800 − 83.74) kJ/kg / 1000 = 2716.26 GJ × 0.11 tCO2/GJ = 298.7886 tCO2
    assert document["by_category"] == {"purchased_heat": 298.7886}


def test_a_steam_source_without_its_feed_water_enthalpy_is_refused_naming_it(db, alpha):
    with pytest.raises(EmissionsDataError) as caught, db.unit_of_work(org_id=alpha.id) as uow:
        _add(uow.session, alpha, "S2", "purchased_heat", "外购蒸汽", {"enthalpy": "2800"})
    (issue,) = caught.value.issues
    assert issue.field == "parameters.reference_enthalpy" and "83.74" in issue.message_zh


def test_sources_of_one_carbon_balance_group_are_netted(db, alpha):
    coal = ("B1", "process", "洗精煤", {"carbon_fraction": "0.75", "mass_balance": "焦化"})
    coke = ("B2", "process", "焦炭", {"carbon_fraction": "0.85", "mass_balance": " 焦化 ", "flow": "output"})
    document = _inventory(db, alpha, [(coal, "1000"), (coke, "700")])
    # (1000 t × 0.75 − 700 t × 0.85) tC × 44/12 = 155 × 44/12 = 568.333333 tCO2
    assert document["by_mass_balance"] == {"焦化": 568.333333}
    assert document["total_tco2e"] == 568.333333
    assert [line["tco2e"] for line in document["lines"]] == [2750, -2181.666667]


def test_a_carbon_balance_source_with_an_unknown_flow_is_refused_naming_it(db, alpha):
    with pytest.raises(EmissionsDataError) as caught, db.unit_of_work(org_id=alpha.id) as uow:
        _add(uow.session, alpha, "B3", "process", "焦炭", {"carbon_fraction": "0.85", "mass_balance": "焦化",
             "flow": "out"})  # fmt: skip
    (issue,) = caught.value.issues
    assert issue.field == "parameters.flow" and "output" in issue.message_en

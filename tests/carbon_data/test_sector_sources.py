"""The sector methods' keys (issue 14 item 1) given in an emission source's parameters reach the calculator
and are checked there, with the field named."""

import pytest

from engine.carbon_data.errors import EmissionsDataError
from engine.carbon_data.inventory import build_inventory
from engine.carbon_data.readings import record_readings
from engine.carbon_data.sources import add_source


def _source(session, org, code, material, parameters, **extra):
    return add_source(
        session,
        org_id=org.id,
        actor=org.actor,
        org_unit_id=org.kiln,
        code=code,
        name=material,
        category="process",
        fuel_or_material=material,
        unit="t",
        parameters=parameters,
        **extra,
    )


def test_nitric_acid_wastewater_and_lime_sources_give_hand_checked_numbers(db, alpha):
    with db.unit_of_work(org_id=alpha.id) as uow:
        session = uow.session
        nitric = _source(
            session,
            alpha,
            "N1",
            "硝酸",
            {"n2o_generation_factor": "9.72", "abatement_efficiency": "0.9", "abatement_use_rate": "0.95"},
        )
        water = _source(session, alpha, "W1", "废水", {"mcf": "0.8", "b0": "0.25"})
        lime = _source(session, alpha, "L1", "生石灰", {"cao_content": "0.90", "mgo_content": "0.02"})
        record_readings(
            session,
            org_id=alpha.id,
            actor=alpha.actor,
            entries=[
                {"source_id": nitric.id, "period": "2023-03", "quantity": "1000"},
                {"source_id": water.id, "period": "2023-03", "quantity": "180"},
                {"source_id": lime.id, "period": "2023-03", "quantity": "1000"},
            ],
        )
    with db.read_session(org_id=alpha.id) as session:
        document = build_inventory(session, org_id=alpha.id, year=2023).json
    # nitric acid: 1000 t × 9.72 kg/t × (1 − 0.9 × 0.95) / 1000 = 1.4094 t N2O × 273 = 384.7662
    # wastewater: 180 t COD × 0.25 × 0.8 = 36 t CH4 × 27.9 = 1004.4
    # lime: 1000 × (0.90 × 44.009/56.077 + 0.02 × 44.009/40.304) = 728.154842
    assert document["by_gas"] == {"N2O": 384.7662, "CH4": 1004.4, "CO2": 728.154842}
    assert document["total_tco2e"] == 2117.321042


def test_a_steel_product_source_subtracts_its_fixed_carbon(db, alpha):
    with db.unit_of_work(org_id=alpha.id) as uow:
        steel = add_source(
            uow.session,
            org_id=alpha.id,
            actor=alpha.actor,
            org_unit_id=alpha.kiln,
            code="F1",
            name="粗钢固碳",
            category="fixed_in_products",
            fuel_or_material="粗钢",
            unit="t",
            parameters={"carbon_fraction": "0.0042"},
        )
        record_readings(
            uow.session,
            org_id=alpha.id,
            actor=alpha.actor,
            entries=[{"source_id": steel.id, "period": "2023-05", "quantity": "100000"}],
        )
    with db.read_session(org_id=alpha.id) as session:
        document = build_inventory(session, org_id=alpha.id, year=2023).json
    # 100 000 t × 0.0042 tC/t × 44/12 = 1540 tCO2, subtracted under its own category
    assert document["by_category"] == {"fixed_in_products": -1540}


@pytest.mark.parametrize(
    ("parameters", "field", "words"),
    [
        ({"mcf": "80"}, "parameters.mcf", "between 0 and 1"),  # a percentage, not a fraction
        ({"mcf": "0.8", "sludge_cod": "5"}, "parameters.sludge_cod", "unknown parameter"),  # monthly quantity
        (
            {"n2o_generation_factor": "9", "abatement_efficiency": "0.9"},
            "parameters.abatement_use_rate",
            "go",
        ),
    ],
)
def test_a_bad_sector_parameter_is_refused_naming_it(db, alpha, parameters, field, words):
    material = "硝酸" if "n2o_generation_factor" in parameters else "废水"
    with pytest.raises(EmissionsDataError) as caught, db.unit_of_work(org_id=alpha.id) as uow:
        _source(uow.session, alpha, "X1", material, parameters)
    (issue,) = caught.value.issues
    assert issue.field == field and words in issue.message_en and issue.message_zh

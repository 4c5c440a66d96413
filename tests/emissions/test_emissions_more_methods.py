"""The remaining methods of issue 14 item 1: the fossil fraction of mixed and alternative fuels, steam and hot
water in tonnes by enthalpy, and the carbon mass balance; golden numbers checked by hand in the comments."""

from decimal import Decimal

from engine.emissions import inventory_to_json
from tests.emissions.test_emissions_sectors import problems, run

D = Decimal
SIX = D("0.000001")

# ------------------------------------------------------------------ fossil fraction of a mixed fuel

TYRES = {"category": "combustion", "fuel": "废轮胎", "quantity": 100, "unit": "t", "ncv": 30,
         "ncv_unit": "GJ/t", "carbon_content": "0.01", "oxidation_rate": 1}  # fmt: skip


def test_the_fossil_part_counts_and_the_biomass_part_is_reported_apart() -> None:
    # 100 t × 30 GJ/t = 3000 GJ × 0.01 tC/GJ × 1 = 30 tC × 44/12 = 110 tCO2;
    # fossil 110 × 0.6 = 66 tCO2 in the total, biomass 110 − 66 = 44 tCO2 apart;
    # with a biomass line of 10 t × 10 GJ/t × 0.03 tC/GJ × 1 × 44/12 = 11 tCO2: biomass 55
    inventory = run(
        {**TYRES, "fossil_fraction": "0.6"},
        {"category": "biomass", "fuel": "秸秆", "quantity": 10, "unit": "t", "ncv": 10, "ncv_unit": "GJ/t",
         "carbon_content": "0.03", "oxidation_rate": 1},
    )  # fmt: skip
    tyres = inventory.lines[0]
    assert tyres.tco2e == D("66") and tyres.counted_in_total
    assert tyres.biomass_co2_t == D("44")
    assert inventory.total_tco2e == D("66") and inventory.by_category == {"combustion": D("66")}
    assert inventory.by_gas == {"CO2": D("66")}
    assert inventory.biomass_co2_t == D("55")
    assert tyres.trace.factors[-1].name == "f_fossil"
    assert tyres.trace.formula.endswith(
        "= 110 tCO2; fossil part × f_fossil 0.6 = 66 tCO2 (in the total), "
        "biomass part 44 tCO2 (reported apart)"
    )
    document = inventory_to_json(inventory)
    assert document["lines"][0]["biomass_co2_t"] == 44 and "biomass_co2_t" not in document["lines"][1]
    assert document["biomass_co2_t"] == 55


def test_a_fossil_fraction_of_one_is_the_plain_method_and_zero_warns() -> None:
    assert run({**TYRES, "fossil_fraction": 1}).total_tco2e == D("110")
    inventory = run({**TYRES, "fossil_fraction": 0})
    assert inventory.total_tco2e == 0 and inventory.biomass_co2_t == D("110")
    assert [warning.field for warning in inventory.warnings] == ["fossil_fraction"]


def test_the_fossil_fraction_is_refused_where_it_has_no_meaning() -> None:
    assert problems(
        {**TYRES, "fossil_fraction": "60"},  # a percentage
        {**TYRES, "category": "biomass", "fossil_fraction": "0.5"},  # biomass is all biomass
        {"category": "combustion", "fuel": "柴油", "quantity": 1, "unit": "t", "factor": 3,
         "fossil_fraction": "0.5"},  # the direct factor is the fossil factor itself
        {"category": "process", "material": "石灰石", "quantity": 1, "unit": "t", "fossil_fraction": "0.5"},
    ) == [(line, "fossil_fraction") for line in (1, 2, 3, 4)]  # fmt: skip


# ------------------------------------------------------------------ steam and hot water in tonnes

STEAM = {"category": "purchased_heat", "name": "外购蒸汽", "quantity": 1000, "unit": "t"}


def test_steam_and_hot_water_in_tonnes_are_converted_by_their_enthalpy() -> None:
    # steam: 1000 t × (2800 − 83.74) kJ/kg / 1000 = 2716.26 GJ × 0.11 tCO2/GJ = 298.7886 tCO2
    # hot water exported: 500 t × (334.9 − 83.74) / 1000 = 125.58 GJ × 0.11 = 13.8138, subtracted
    # steam with the supplier's factor: 200 000 kg = 200 t × (3000 − 100) / 1000 = 580 GJ × 0.09 = 52.2
    # total 298.7886 + 52.2 − 13.8138 = 337.1748
    inventory = run(
        {**STEAM, "enthalpy": 2800, "reference_enthalpy": "83.74"},
        {"category": "exported_heat", "name": "热水", "quantity": 500, "unit": "t", "enthalpy": "334.9",
         "reference_enthalpy": "83.74"},
        {**STEAM, "quantity": 200000, "unit": "kg", "enthalpy": 3000, "reference_enthalpy": 100,
         "factor": "0.09", "factor_unit": "tCO2/GJ"},
    )  # fmt: skip
    steam, water, supplied = inventory.lines
    assert steam.tco2e == D("298.7886") and water.tco2e == D("-13.8138") and supplied.tco2e == D("52.2")
    assert inventory.total_tco2e == D("337.1748")
    assert steam.trace.activity == "1000 t; AD = 2716.26 GJ"
    assert [factor.name for factor in steam.trace.factors] == ["h", "h0", "EF_heat"]
    assert steam.trace.formula == (
        "AD = M × (h − h0) / 1000 = 1000 t × (2800 − 83.74) kJ/kg / 1000 = 2716.26 GJ; "
        "E = AD × EF = 2716.26 GJ × 0.11 tCO2/GJ = 298.7886 tCO2"
    )
    assert supplied.trace.activity == "200 t (= 200000 kg); AD = 580 GJ"
    assert not inventory.warnings


def test_steam_needs_both_enthalpies_and_a_rise_and_gj_needs_neither() -> None:
    assert problems(
        STEAM,
        {**STEAM, "enthalpy": 80, "reference_enthalpy": "83.74"},
        {**STEAM, "unit": "GJ", "enthalpy": 2800},
        {**STEAM, "enthalpy": -1, "reference_enthalpy": 0},
        {**STEAM, "enthalpy": 2800, "reference_enthalpy": 84, "purity": "0.9"},
        {"category": "combustion", "fuel": "柴油", "quantity": 1, "unit": "t", "enthalpy": 2800},
    ) == [
        (1, "enthalpy"),
        (1, "reference_enthalpy"),
        (2, "enthalpy"),  # no rise above the feed water
        (3, "enthalpy"),  # already heat
        (4, "enthalpy"),  # negative
        (5, "purity"),
        (6, "enthalpy"),
    ]


def test_an_enthalpy_in_the_wrong_unit_is_a_warning() -> None:
    # 2.8 looks like GJ/t (MJ/kg): 1000 t × (2.8 − 0) / 1000 = 2.8 GJ × 0.11 = 0.308, calculated and flagged
    inventory = run({**STEAM, "enthalpy": "2.8", "reference_enthalpy": 0})
    assert inventory.total_tco2e == D("0.308")
    assert [warning.field for warning in inventory.warnings] == ["h"]

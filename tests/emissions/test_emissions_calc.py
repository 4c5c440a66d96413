"""Golden numbers for every calculation method, checked by hand in the comments."""

from decimal import Decimal
from typing import Any

import pytest

from engine.emissions import CalcInput, CalcLine, Category, calculate, inventory_to_json
from engine.emissions.factors import FactorTier

D = Decimal


def make_line(number: int, category: str, quantity: str, unit: str, **fields: Any) -> CalcLine:
    decimals = {
        key: D(value) if isinstance(value, str) and key not in TEXT_KEYS else value
        for key, value in fields.items()
    }
    return CalcLine(line=number, category=Category(category), quantity=D(quantity), unit=unit, **decimals)


TEXT_KEYS = {"name", "fuel", "material", "region", "ncv_unit", "factor_unit", "gas", "org_unit", "period"}


def one(
    category: str,
    quantity: str,
    unit: str,
    *,
    gwp_set: str = "AR6",
    factor_set: str = "GB/T 32151 表C.1 (2024)",
    **fields: Any,
):
    inventory = calculate(
        CalcInput(
            lines=(make_line(1, category, quantity, unit, **fields),),
            gwp_set=gwp_set,
            factor_set=factor_set,
        )
    )
    return inventory, inventory.lines[0]


# ------------------------------------------------------------------ combustion


def test_diesel_with_standard_defaults() -> None:
    # 10 t × 42.652 GJ/t = 426.52 GJ; × 0.0202 tC/GJ = 8.615704 tC; × 0.98 = 8.44338992 tC
    # × 44/12 = 30.95909637333… tCO2
    inventory, line = one("combustion", "10", "t", fuel="柴油")
    assert line.tco2e.quantize(D("0.000001")) == D("30.959096")
    assert inventory.total_tco2e == line.tco2e
    assert line.trace.choice.tier is FactorTier.NATIONAL
    assert [factor.name for factor in line.trace.factors] == ["NCV", "CC", "OF"]
    assert line.trace.factors[0].source.document == "GB/T 32151 附录C 表C.1 (2024)"
    assert line.trace.formula == (
        "E = FC × NCV × CC × OF × 44/12 = 10 t × 42.652 GJ/t × 0.0202 tC/GJ × 0.98 × 44/12 = 30.959096 tCO2"
    )


def test_natural_gas_in_normal_cubic_metres_and_half_even_rounding() -> None:
    # 500 000 Nm3 = 50 × 10^4 Nm3; × 389.31 = 19 465.5 GJ; × 0.0153 = 297.82215 tC; × 0.99 = 294.8439285
    # × 44 / 12 = 12 973.132854 / 12 = 1 081.0944045 exactly:
    # half-even to 6 decimals gives …404 (half-up would give …405)
    inventory, line = one("combustion", "500000", "Nm3", fuel="天然气")
    assert line.tco2e == D("1081.0944045")
    assert inventory_to_json(inventory)["total_tco2e"] == 1081.094404


def test_the_2015_guideline_set_gives_a_different_result() -> None:
    # 10 t × 24.515 GJ/t × 0.02749 tC/GJ × 0.94 × 44/12 = 23.22768466… tCO2 (GB/T 32151.22: 25.215124)
    _, old = one("combustion", "10", "t", fuel="无烟煤", factor_set="guidelines-2015")
    _, new = one("combustion", "10", "t", fuel="无烟煤")
    assert old.tco2e.quantize(D("0.000001")) == D("23.227685")
    assert new.tco2e.quantize(D("0.000001")) == D("25.215124")  # 267 × 0.0274 × 0.94 × 44/12


def test_measured_parameters_override_defaults() -> None:
    # 2000 kg = 2 t; 2 × 43 GJ/t × 0.02 × 1.0 × 44/12 = 1.72 × 44/12 = 6.30666… tCO2
    _, line = one(
        "combustion",
        "2000",
        "kg",
        fuel="柴油",
        ncv="43",
        ncv_unit="GJ/t",
        carbon_content="0.02",
        oxidation_rate="1",
    )
    assert line.tco2e.quantize(D("0.000001")) == D("6.306667")
    assert line.trace.choice.tier is FactorTier.MEASURED


def test_partly_measured_parameters() -> None:
    # measured NCV 40 MJ/kg = 40 GJ/t; defaults CC 0.0202, OF 0.98:
    # 10 t × 40 = 400 GJ × 0.0202 = 8.08 tC × 0.98 = 7.9184 tC × 44/12 = 29.0341333… tCO2
    _, line = one("combustion", "10", "t", fuel="柴油", ncv="40", ncv_unit="MJ/kg")
    assert line.tco2e.quantize(D("0.000001")) == D("29.034133")
    assert line.trace.choice.tier is FactorTier.PARTLY_MEASURED
    assert "measured: NCV" in line.trace.choice.reason_en


def test_quantity_already_in_heat_skips_the_heating_value() -> None:
    # 1 TJ = 1000 GJ × 0.0153 × 0.99 × 44/12 = 55.539 tCO2
    _, line = one("combustion", "1", "TJ", fuel="天然气")
    assert line.tco2e == D("55.539")


def test_custom_fuel_with_all_parameters() -> None:
    # 100 t × 30 GJ/t × 0.025 tC/GJ × 0.9 × 44/12 = 67.5 tC × 44/12 = 247.5 tCO2
    _, line = one(
        "combustion",
        "100",
        "t",
        fuel="自产燃料",
        ncv="30",
        ncv_unit="GJ/t",
        carbon_content="0.025",
        oxidation_rate="0.9",
    )
    assert line.tco2e == D("247.5")


# ------------------------------------------------------------------ electricity and heat


@pytest.mark.parametrize(
    ("region", "year", "expected", "tier"),
    [
        ("湖南", 2022, "490.0000", FactorTier.PROVINCIAL),  # 1000 MWh × 0.4900
        ("西藏", 2022, "226.8000", FactorTier.REGIONAL),  # no 西藏 row → 西南 0.2268
        ("全国", 2023, "530.6000", FactorTier.NATIONAL),  # national 0.5306, asked for by name
        ("华中", 2021, "535.4000", FactorTier.REGIONAL),  # 华中 0.5354
    ],
)
def test_electricity_precedence(region: str, year: int, expected: str, tier: FactorTier) -> None:
    _, line = one("purchased_electricity", "1000", "MWh", region=region, year=year)
    assert line.tco2e == D(expected)
    assert line.trace.choice.tier is tier


def test_electricity_in_kwh_uses_top_level_region_and_year() -> None:
    # 1 000 000 kWh = 1000 MWh × 湖南 2023 0.4976 = 497.6 tCO2
    inventory = calculate(
        CalcInput(
            lines=(make_line(1, "purchased_electricity", "1000000", "kWh"),),
            region="湖南",
            year=2023,
        )
    )
    assert inventory.total_tco2e == D("497.6")


def test_measured_electricity_factor_overrides_the_grid() -> None:
    # 200 000 kWh = 200 MWh × 0.45 tCO2/MWh (supplier) = 90 tCO2, although 湖南 2022 would give 98
    _, line = one(
        "purchased_electricity",
        "200000",
        "kWh",
        region="湖南",
        year=2022,
        factor="0.45",
        factor_unit="tCO2/MWh",
    )
    assert line.tco2e == D("90")
    assert line.trace.choice.tier is FactorTier.MEASURED
    assert "overrides the grid factor" in line.trace.choice.reason_en
    # the same factor per kWh: 200 000 × 0.00045 = 90
    _, per_kwh = one("purchased_electricity", "200000", "kWh", factor="0.00045")
    assert per_kwh.tco2e == D("90")
    # 0.45 kgCO2/kWh is 0.00045 t per kWh
    _, kilograms = one("purchased_electricity", "200000", "kWh", factor="0.45", factor_unit="kgCO2/kWh")
    assert kilograms.tco2e == D("90")


def test_exported_electricity_is_subtracted() -> None:
    # 100 MWh × 湖南 2022 0.49 = 49 tCO2, subtracted
    inventory, line = one("exported_electricity", "100", "MWh", region="湖南", year=2022)
    assert line.tco2e == D("-49")
    assert inventory.by_category == {"exported_electricity": D("-49")}


def test_purchased_heat_default_and_measured() -> None:
    _, default = one("purchased_heat", "1000", "GJ")  # 1000 GJ × 0.11 = 110
    assert default.tco2e == D("110")
    assert default.trace.choice.tier is FactorTier.NATIONAL
    _, in_mwh = one("purchased_heat", "100", "MWh")  # 100 MWh = 360 GJ × 0.11 = 39.6
    assert in_mwh.tco2e == D("39.6")
    _, measured = one("purchased_heat", "1000", "GJ", factor="0.09")  # supplier 0.09 tCO2/GJ → 90
    assert measured.tco2e == D("90")
    _, exported = one("exported_heat", "100", "GJ")  # −100 × 0.11
    assert exported.tco2e == D("-11")


# ------------------------------------------------------------------ process


def test_limestone_by_stoichiometry() -> None:
    # CaCO3 = 40.078 + 12.011 + 3 × 15.999 = 100.086; CO2 = 44.009
    # 100 t × 0.9 purity × 44.009 / 100.086 = 3960.81 / 100.086 = 39.574066303… tCO2
    _, line = one("process", "100", "t", material="石灰石", purity="0.9")
    assert line.tco2e.quantize(D("0.000001")) == D("39.574066")
    assert line.trace.choice.tier is FactorTier.STOICHIOMETRIC


def test_dolomite_with_calcination_fraction() -> None:
    # CaMg(CO3)2 = 40.078 + 24.305 + 2 × 60.008 = 184.399; 2 × 44.009 = 88.018
    # 50 t × 88.018 / 184.399 × 0.8 = 4400.9 / 184.399 × 0.8 = 23.866181487 × 0.8 = 19.092945190 tCO2
    _, line = one("process", "50", "t", material="白云石", calcination_fraction="0.8")
    assert line.tco2e.quantize(D("0.000001")) == D("19.092945")


def test_cement_clinker() -> None:
    # 1000 t × (0.65 × 44/56 + 0.02 × 44/40) = 1000 × (0.510714285… + 0.022) = 532.714285… tCO2
    _, line = one("process", "1000", "t", material="熟料", cao_content="0.65", mgo_content="0.02")
    assert line.tco2e.quantize(D("0.000001")) == D("532.714286")


def test_cement_clinker_with_dust_and_non_carbonate_cao() -> None:
    # (1000 + 20 + 5) t × ((0.65 − 0.01) × 44/56 + 0.02 × 1.1)
    # = 1025 × (0.502857142… + 0.022) = 537.978571… tCO2
    _, line = one(
        "process",
        "1000",
        "t",
        material="clinker",
        cao_content="0.65",
        mgo_content="0.02",
        cao_noncarbonate="0.01",
        kiln_dust="20",
        bypass_dust="5",
    )
    assert line.tco2e.quantize(D("0.000001")) == D("537.978571")


def test_aluminium_anode_effect_defaults_ar5() -> None:
    # 10 000 t Al: CF4 0.034 kg/t → 0.34 t × 6630 = 2254.2; C2F6 0.0034 kg/t → 0.034 t × 11 100 = 377.4
    inventory, line = one("process", "10000", "t", material="电解铝", gwp_set="AR5")
    assert line.gases["CF4"].mass_t == D("0.34")
    assert line.gases["CF4"].tco2e == D("2254.2")
    assert line.gases["C2F6"].tco2e == D("377.4")
    assert line.tco2e == D("2631.6")
    assert inventory.by_gas == {"CF4": D("2254.2"), "C2F6": D("377.4")}


def test_aluminium_with_measured_anode_effect_minutes_ar6() -> None:
    # EF_CF4 = 0.143 × 0.2 = 0.0286 kg/t; EF_C2F6 = 0.00286 kg/t
    # 10 000 t: CF4 0.286 t × 7380 = 2110.68; C2F6 0.0286 t × 12 400 = 354.64; total 2465.32
    _, line = one("process", "10000", "t", material="aluminium", anode_effect_minutes="0.2")
    assert line.tco2e == D("2465.32")
    assert line.trace.choice.tier is FactorTier.MEASURED


def test_generic_gas_factor_times_gwp() -> None:
    # 0.5 t of SF6 leaked (factor 1 t/t) × AR6 25 200 = 12 600 tCO2e; SAR 23 900 → 11 950
    _, ar6 = one("process", "0.5", "t", material="SF6 开关", factor="1", gas="SF6")
    _, sar = one("process", "0.5", "t", material="SF6 开关", factor="1", gas="SF6", gwp_set="SAR")
    assert (ar6.tco2e, sar.tco2e) == (D("12600.0"), D("11950.0"))
    assert ar6.gases["SF6"].mass_t == D("0.5")


def test_carbon_bearing_material() -> None:
    # 100 t electrodes × 0.8 tC/t × 44/12 = 293.3333… tCO2
    _, line = one("process", "100", "t", material="石墨电极", carbon_fraction="0.8")
    assert line.tco2e.quantize(D("0.000001")) == D("293.333333")


# ------------------------------------------------------------------ recovery, biomass, totals


def test_recovered_co2_is_subtracted() -> None:
    _, line = one("recovered", "5", "t")
    assert line.tco2e == D("-5")
    assert line.trace.choice.tier is FactorTier.DIRECT


def test_biomass_is_reported_but_not_in_the_total() -> None:
    # 100 t straw × 15 GJ/t × 0.03 tC/GJ × 0.9 × 44/12 = 40.5 tC × 44/12 = 148.5 tCO2 (biomass)
    inventory = calculate(
        CalcInput(
            lines=(
                make_line(
                    1,
                    "biomass",
                    "100",
                    "t",
                    fuel="秸秆",
                    ncv="15",
                    ncv_unit="GJ/t",
                    carbon_content="0.03",
                    oxidation_rate="0.9",
                ),
                make_line(2, "purchased_heat", "100", "GJ"),  # 11 tCO2
            )
        )
    )
    assert inventory.biomass_co2_t == D("148.5")
    assert inventory.total_tco2e == D("11")
    assert not inventory.lines[0].counted_in_total
    assert "biomass" not in inventory.by_category
    assert inventory.by_gas == {"CO2": D("11")}


def test_totals_by_category_gas_org_unit_and_period() -> None:
    inventory = calculate(
        CalcInput(
            lines=(
                # 1000 GJ heat = 110
                make_line(1, "purchased_heat", "1000", "GJ", org_unit="一车间", period="2023-01"),
                # 1000 MWh 湖南 2023 × 0.4976 = 497.6
                make_line(
                    2,
                    "purchased_electricity",
                    "1000",
                    "MWh",
                    region="湖南",
                    year=2023,
                    org_unit="二车间",
                    period="2023-01",
                ),
                # 10 t CH4 × AR6 27.9 = 279
                make_line(
                    3,
                    "process",
                    "10",
                    "t",
                    material="沼气逸散",
                    factor="1",
                    gas="CH4",
                    org_unit="一车间",
                    period="2023-02",
                ),
                # recovered 20 t CO2 = −20
                make_line(4, "recovered", "20", "t", period="2023-02"),
            )
        )
    )
    # 110 + 497.6 + 279 − 20 = 866.6
    assert inventory.total_tco2e == D("866.6")
    assert inventory.by_category == {
        "process": D("279"),
        "purchased_electricity": D("497.6"),
        "purchased_heat": D("110"),
        "recovered": D("-20"),
    }
    assert list(inventory.by_category) == ["process", "purchased_electricity", "purchased_heat", "recovered"]
    assert inventory.by_gas == {"CO2": D("587.6"), "CH4": D("279.0")}
    assert inventory.gas_mass_t == {"CO2": D("587.6"), "CH4": D("10")}
    assert inventory.by_org_unit == {"一车间": D("389"), "二车间": D("497.6"), "(unassigned)": D("-20")}
    assert inventory.by_period == {"2023-01": D("607.6"), "2023-02": D("259")}


def test_json_output_has_the_public_keys_and_a_trace_per_line() -> None:
    inventory, _ = one("combustion", "10", "t", fuel="柴油")
    document = inventory_to_json(inventory)
    for key in ("total_tco2e", "by_category", "by_gas", "lines", "factor_set", "gwp_set", "data_quality"):
        assert key in document
    assert document["total_tco2e"] == 30.959096
    assert document["by_category"] == {"combustion": 30.959096}
    line = document["lines"][0]
    assert line["line"] == 1 and line["tco2e"] == 30.959096
    trace = line["trace"]
    assert trace["inputs"] == {
        "category": "combustion",
        "quantity": "10",
        "unit": "t",
        "fuel": "柴油",
        "tier": "unspecified",
    }
    assert trace["factors"][0] == {
        "name": "NCV",
        "value": "42.652",
        "unit": "GJ/t",
        "note": "default for 柴油",
        "source": {
            "document": "GB/T 32151 附录C 表C.1 (2024)",
            "year": 2024,
            "confidence": "S2",
            "detail": trace["factors"][0]["source"]["detail"],
        },
    }
    assert trace["factor_choice"]["tier"] == "national"
    assert trace["formula"].endswith("= 30.959096 tCO2")
    assert document["factor_choices"][0]["lines"] == [1]

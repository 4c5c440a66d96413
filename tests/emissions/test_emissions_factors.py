"""The factor library: versioned sets with sources, grid precedence, GWP sets, stoichiometry."""

from decimal import Decimal

import pytest

from engine.emissions import CalcError
from engine.emissions.chemistry import CARBONATES
from engine.emissions.factors import (
    FactorTier,
    defaults,
    factor_set,
    factor_sets,
    find_fuel,
    grid_factor,
    gwp,
)


def test_two_fuel_sets_are_shipped_with_different_values() -> None:
    assert set(factor_sets()) == {"GB/T 32151 表C.1 (2024)", "guidelines-2015"}
    new = find_fuel(factor_set("GB/T 32151.22-2024"), "无烟煤")
    old = find_fuel(factor_set("guidelines-2015"), "无烟煤")
    assert (new.ncv, new.carbon_content, new.oxidation_rate) == (
        Decimal("26.7"),
        Decimal("0.0274"),
        Decimal("0.94"),
    )
    assert (old.ncv, old.carbon_content, old.oxidation_rate) == (
        Decimal("24.515"),
        Decimal("0.02749"),
        Decimal("0.94"),
    )
    assert new.source.document == "GB/T 32151 附录C 表C.1 (2024)" and new.source.year == 2024
    assert old.source.year == 2015
    assert new.source.confidence == "S1"  # single third-party transcription in the reference
    assert find_fuel(factor_set("A"), "柴油").source.confidence == "S2"


def test_natural_gas_is_per_ten_thousand_normal_cubic_metres() -> None:
    gas = find_fuel(factor_set("GB/T 32151.22-2024"), "natural gas")
    assert gas.fuel == "天然气"
    assert gas.basis.symbol == "10^4 Nm3"
    assert gas.ncv == Decimal("389.31")


def test_fuel_missing_from_a_set_names_the_set_that_has_it() -> None:
    with pytest.raises(CalcError) as caught:
        find_fuel(factor_set("guidelines-2015"), "天然气")
    assert "GB/T 32151 表C.1 (2024)" in caught.value.message_en


def test_unknown_factor_set() -> None:
    with pytest.raises(CalcError) as caught:
        factor_set("GB/T 32151.99")
    assert caught.value.field == "factor_set"


def test_grid_precedence_province_then_region_then_national() -> None:
    hunan, choice = grid_factor(region="湖南省", year=2022)
    assert hunan.value == Decimal("0.4900")
    assert choice.tier is FactorTier.PROVINCIAL
    assert choice.reason_en == "province 湖南 2022 factor found"

    # 西藏 has no provincial row; it falls back to its regional grid 西南.
    tibet, choice = grid_factor(region="西藏", year=2022)
    assert (tibet.region, tibet.value, choice.tier) == ("西南", Decimal("0.2268"), FactorTier.REGIONAL)
    assert choice.reason_en == "no 西藏 factor for 2022 → regional grid 西南 2022 factor found"

    # 西南 2023 was not found by the reference either: the national factor (2.3 × 西南 2022) is not
    # taken in its place unless asked for by naming 全国.
    with pytest.raises(CalcError) as caught:
        grid_factor(region="西藏", year=2023)
    assert caught.value.field == "year"
    assert (
        "years available: 2021, 2022; the national factor is not used in its place" in caught.value.message_en
    )
    national, choice = grid_factor(region="全国", year=2023)
    assert (national.region, national.value, choice.tier) == ("全国", Decimal("0.5306"), FactorTier.NATIONAL)

    central, choice = grid_factor(region="华中区域电网", year=2021)
    assert (central.value, choice.tier) == (Decimal("0.5354"), FactorTier.REGIONAL)


def test_grid_year_without_factor_lists_the_years_that_exist() -> None:
    with pytest.raises(CalcError) as caught:
        grid_factor(region="湖南", year=2024)
    assert caught.value.field == "year"
    assert "2021, 2022, 2023" in caught.value.message_en
    assert "2021、2022、2023" in caught.value.message_zh


def test_ets_caliber_is_national_only() -> None:
    factor, choice = grid_factor(region="湖南", year=2022, caliber="ets")
    assert factor.value == Decimal("0.5703")
    assert choice.tier is FactorTier.NATIONAL


def test_gwp_sets() -> None:
    assert gwp(gwp_set="SAR", gas="CH4").value == Decimal("21")
    assert gwp(gwp_set="AR4", gas="N2O").value == Decimal("298")
    assert gwp(gwp_set="AR5", gas="PFC-14").value == Decimal("6630")
    assert gwp(gwp_set="AR6", gas="SF6").value == Decimal("25200")
    assert gwp(gwp_set="ar6", gas="CO2").source.year == 2021
    with pytest.raises(CalcError) as caught:
        gwp(gwp_set="SAR", gas="NF3")
    assert "AR4" in caught.value.message_en


def test_purchased_heat_default_keeps_its_source() -> None:
    heat = defaults()["purchased_heat_ef"]
    assert heat.value == Decimal("0.11")
    assert heat.source.document.startswith("GB/T 32150-2025")
    assert heat.source.confidence == "S2"


@pytest.mark.parametrize(
    ("formula", "reference_value"),
    # carbon_reference.md §5 table (derived from the same atomic masses)
    [
        ("CaCO3", "0.43971"),
        ("MgCO3", "0.52197"),
        ("CaMg(CO3)2", "0.47732"),
        ("Na2CO3", "0.41523"),
        ("FeCO3", "0.37987"),
        ("K2CO3", "0.31844"),
        ("Li2CO3", "0.59562"),
        ("BaCO3", "0.22302"),
        ("SrCO3", "0.29811"),
        ("MnCO3", "0.38287"),
    ],
)
def test_carbonate_factors_match_the_reference(formula: str, reference_value: str) -> None:
    carbonate = next(item for item in CARBONATES if item.formula == formula)
    assert round(carbonate.co2_per_tonne, 5) == Decimal(reference_value)

"""Units: conversions are exact, spellings fold together, and incompatible units are errors."""

from decimal import Decimal

import pytest

from engine.emissions import CalcError, convert, parse_unit
from engine.emissions.units import Dimension, parse_energy_per_unit, parse_mass_per_unit


def to(value: str, source: str, target: str) -> Decimal:
    return convert(Decimal(value), source=parse_unit(source), target=parse_unit(target))


@pytest.mark.parametrize(
    "spelling", ["万Nm3", "10^4 Nm3", "10^4Nm3", "10⁴ Nm³", "万 Nm³", "1e4 Nm3", "万标方"]
)
def test_ten_thousand_normal_cubic_metres_spellings(spelling: str) -> None:
    unit = parse_unit(spelling)
    assert unit.symbol == "10^4 Nm3"
    assert unit.dimension is Dimension.STANDARD_VOLUME


def test_mass_conversions() -> None:
    assert to("2500", "kg", "t") == Decimal("2.5")
    assert to("3", "万吨", "t") == Decimal("30000")


def test_gas_volume_conversions() -> None:
    # 500 000 Nm3 / 10 000 = 50 × 10^4 Nm3
    assert to("500000", "Nm3", "10^4 Nm3") == Decimal("50")
    assert to("2", "万m3", "m3") == Decimal("20000")


def test_energy_conversions() -> None:
    assert to("200000", "kWh", "MWh") == Decimal("200")  # 200 000 / 1000
    assert to("1", "MWh", "GJ") == Decimal("3.6")  # 3.6 MJ per kWh
    assert to("1", "TJ", "GJ") == Decimal("1000")
    assert to("2", "万kWh", "MWh") == Decimal("20")  # 20 000 kWh
    assert to("10", "tce", "GJ") == Decimal("293.076")  # 10 × 29.3076
    assert to("1", "tce", "GJ") == Decimal("29.3076")  # 7000 kcal/kg × 4.1868 kJ/kcal
    assert to("1", "GJ", "GJ") == Decimal("1")


def test_incompatible_units_raise_with_both_languages() -> None:
    with pytest.raises(CalcError) as caught:
        to("1", "t", "MWh")
    assert caught.value.field == "unit"
    assert "incompatible unit" in caught.value.message_en
    assert "单位不匹配" in caught.value.message_zh


def test_actual_volume_is_not_standard_volume() -> None:
    with pytest.raises(CalcError, match="cannot be converted"):
        to("100", "m3", "Nm3")


def test_unknown_unit_suggests_close_spelling() -> None:
    with pytest.raises(CalcError) as caught:
        parse_unit("MWH h")
    assert "unknown unit" in caught.value.message_en


def test_heating_value_units() -> None:
    assert parse_energy_per_unit("MJ/kg", field="ncv_unit").numerator_in_base == Decimal("0.001")
    per = parse_energy_per_unit("GJ/万Nm3", field="ncv_unit")
    assert per.per.symbol == "10^4 Nm3"
    with pytest.raises(CalcError):
        parse_energy_per_unit("t/GJ", field="ncv_unit")


def test_factor_units_scale_the_numerator_and_check_the_gas() -> None:
    per = parse_mass_per_unit("kgCO2/kWh", gas="CO2", field="factor_unit")
    assert (per.numerator_in_base, per.per.symbol) == (Decimal("0.001"), "kWh")
    assert parse_mass_per_unit("MWh", gas="CO2", field="factor_unit").numerator_in_base == 1
    assert parse_mass_per_unit("tCO2e/MWh", gas="CO2", field="factor_unit").per.symbol == "MWh"
    with pytest.raises(CalcError, match="does not match"):
        parse_mass_per_unit("tCO2e/t", gas="CH4", field="factor_unit")

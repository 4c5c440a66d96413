"""Bad input: one exception type, line and field, Chinese and English, every problem at once."""

import json
from pathlib import Path
from typing import Any

import pytest

from engine.emissions import CalcError, calc_input_from_dict, calculate, load_calc_file


def problems(lines: list[dict[str, Any]], **top: Any) -> list[tuple[int | None, str]]:
    with pytest.raises(CalcError) as caught:
        calculate(calc_input_from_dict({"lines": lines, **top}))
    for issue in caught.value.issues:
        assert issue.message_zh and issue.message_en
    return [(issue.line, issue.field) for issue in caught.value.issues]


def error_for(line: dict[str, Any], **top: Any) -> CalcError:
    with pytest.raises(CalcError) as caught:
        calculate(calc_input_from_dict({"lines": [line], **top}))
    return caught.value


def test_negative_quantity() -> None:
    error = error_for({"category": "combustion", "fuel": "柴油", "quantity": -3, "unit": "t"})
    assert (error.line, error.field) == (1, "quantity")
    assert "must not be negative" in error.message_en
    assert "不能为负数" in error.message_zh


def test_unknown_fuel_suggests_close_names() -> None:
    error = error_for({"category": "combustion", "fuel": "柴由", "quantity": 1, "unit": "t"})
    assert error.field == "fuel"
    assert "did you mean: 柴油" in error.message_en
    assert "您是否指：柴油" in error.message_zh


def test_unit_that_does_not_fit_the_fuel() -> None:
    error = error_for({"category": "combustion", "fuel": "天然气", "quantity": 3, "unit": "t"})
    assert error.field == "unit"
    assert "does not fit fuel '天然气'" in error.message_en
    actual_volume = error_for({"category": "combustion", "fuel": "天然气", "quantity": 3, "unit": "m3"})
    assert "0 °C and 101.325 kPa" in actual_volume.message_en


def test_year_without_grid_factor_lists_existing_years() -> None:
    error = error_for(
        {"category": "purchased_electricity", "quantity": 1, "unit": "MWh", "region": "湖南", "year": 2024}
    )
    assert (error.line, error.field) == (1, "year")
    assert "years available: 2021, 2022, 2023" in error.message_en


def test_electricity_needs_region_and_year() -> None:
    assert problems([{"category": "purchased_electricity", "quantity": 1, "unit": "MWh"}]) == [
        (1, "region"),
        (1, "year"),
    ]


def test_unknown_region_suggests() -> None:
    error = error_for(
        {"category": "purchased_electricity", "quantity": 1, "unit": "MWh", "region": "胡南", "year": 2022}
    )
    assert error.field == "region"
    assert "湖南" in error.message_en


def test_carbon_content_in_the_wrong_unit_and_percent_oxidation() -> None:
    assert problems(
        [
            {
                "category": "combustion",
                "fuel": "柴油",
                "quantity": 1,
                "unit": "t",
                "carbon_content": 20.2,
                "oxidation_rate": 98,
            }
        ]
    ) == [(1, "oxidation_rate"), (1, "carbon_content")]


def test_heat_in_tonnes_of_steam() -> None:
    error = error_for({"category": "purchased_heat", "quantity": 10, "unit": "t"})
    assert error.field == "enthalpy"  # steam in t is converted by its enthalpies, which are missing
    assert "steam" in error.message_en


def test_fields_of_another_method_are_rejected_not_ignored() -> None:
    error = error_for(
        {"category": "process", "material": "石灰石", "quantity": 1, "unit": "t", "cao_content": 0.5}
    )
    assert error.field == "cao_content"
    assert "not used by the carbonate method" in error.message_en


def test_factor_and_heating_value_parameters_together_are_rejected() -> None:
    error = error_for(
        {"category": "combustion", "fuel": "柴油", "quantity": 1, "unit": "t", "factor": 3, "ncv": 43}
    )
    assert error.field == "ncv"


def test_a_unit_without_its_value_is_rejected() -> None:
    assert problems(
        [
            {"category": "combustion", "fuel": "柴油", "quantity": 1, "unit": "t", "ncv_unit": "GJ/t"},
            {"category": "purchased_heat", "quantity": 1, "unit": "GJ", "factor_unit": "GJ"},
        ]
    ) == [(1, "ncv_unit"), (2, "factor_unit")]


def test_clinker_needs_its_oxide_contents() -> None:
    assert problems([{"category": "process", "material": "熟料", "quantity": 1, "unit": "t"}]) == [
        (1, "cao_content"),
        (1, "mgo_content"),
    ]


def test_unknown_process_material() -> None:
    error = error_for({"category": "process", "material": "石灰岩石", "quantity": 1, "unit": "t"})
    assert error.field == "material"
    assert "石灰石" in error.message_en


def test_fuel_missing_from_the_chosen_set() -> None:
    error = error_for(
        {"category": "combustion", "fuel": "天然气", "quantity": 1, "unit": "万Nm3"},
        factor_set="guidelines-2015",
    )
    assert "it is in GB/T 32151 表C.1 (2024)" in error.message_en


def test_gas_without_gwp_in_the_set() -> None:
    error = error_for(
        {"category": "process", "material": "x", "quantity": 1, "unit": "t", "factor": 1, "gas": "NF3"},
        gwp_set="SAR",
    )
    assert error.field == "gas"


def test_biomass_needs_its_own_parameters() -> None:
    error = error_for({"category": "biomass", "fuel": "秸秆", "quantity": 1, "unit": "t"})
    assert error.field == "factor"


def test_top_level_errors() -> None:
    assert problems([], factor_set="nope", gwp_set="AR7", grid_caliber="x") == [
        (None, "lines"),
        (None, "factor_set"),
        (None, "gwp_set"),
        (None, "grid_caliber"),
    ]


def test_every_bad_line_is_reported_and_nothing_is_returned(tmp_path: Path) -> None:
    document = {
        "lines": [
            {"category": "combustion", "fuel": "柴由", "quantity": 10, "unit": "t"},
            {"category": "combustion", "fuel": "柴油", "quantity": 10, "unit": "t"},
            {"category": "combusion", "fuel": "柴油", "quantity": 1, "unit": "t"},
            {"category": "combustion", "fuel": "柴油", "quantity": "abc", "unit": "t", "quantitty": 3},
            {
                "category": "purchased_electricity",
                "quantity": 5,
                "unit": "MWh",
                "region": "湖南",
                "year": 2030,
            },
            {"category": "process", "material": "石灰石", "quantity": -1, "unit": "t"},
        ]
    }
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(CalcError) as caught:
        load_calc_file(path)
    found = [(issue.line, issue.field) for issue in caught.value.issues]
    # parse errors (lines 3, 4) and calculation errors (lines 1, 5, 6) come together, sorted by line
    assert found == [
        (1, "fuel"),
        (3, "category"),
        (4, "quantitty"),
        (4, "quantity"),
        (5, "year"),
        (6, "quantity"),
    ]
    assert "did you mean: quantity" in caught.value.issues[2].message_en


def test_unknown_top_level_key() -> None:
    with pytest.raises(CalcError) as caught:
        calc_input_from_dict({"lines": [], "factorset": "A"})
    assert (None, "factorset") in [(issue.line, issue.field) for issue in caught.value.issues]
    assert "factor_set" in caught.value.issues[0].message_en

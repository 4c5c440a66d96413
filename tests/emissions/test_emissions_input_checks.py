"""Input that used to crash or pass silently (issue 9, item 19): refused with line and field, or
calculated with a warning in the result's top level and in the printed report."""

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.emissions import CalcError, calc_input_from_dict, calculate, inventory_to_json, load_calc_file
from engine.emissions.cli import run_calc

TANGUAN = str(Path(sys.executable).with_name("tanguan"))


def tanguan_calc(path: Path) -> tuple[int, dict[str, Any]]:
    """``tanguan calc FILE --json`` as a real process: exit code and the printed document."""
    run = subprocess.run([TANGUAN, "calc", str(path), "--json"], capture_output=True, text=True, check=False)
    assert "Traceback" not in run.stderr, run.stderr
    return run.returncode, json.loads(run.stdout)


def report(document: dict[str, Any], tmp_path: Path) -> tuple[dict[str, Any], str]:
    """The JSON result and the printed table of ``document``, both through the CLI entry."""
    path = tmp_path / "in.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    as_json, as_text = io.StringIO(), io.StringIO()
    assert run_calc(path, as_json=True, out=as_json) == 0, as_json.getvalue()
    assert run_calc(path, as_json=False, out=as_text) == 0
    return json.loads(as_json.getvalue()), as_text.getvalue()


def refused(lines: list[dict[str, Any]], **top: Any) -> CalcError:
    with pytest.raises(CalcError) as caught:
        calculate(calc_input_from_dict({"lines": lines, **top}))
    return caught.value


def test_nan_and_infinity_in_text_fields_are_refused_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "nan.json"
    path.write_text(
        '{"lines": [{"category": "combustion", "fuel": NaN, "quantity": 1, "unit": "t"},'
        ' {"category": "purchased_heat", "quantity": 1, "unit": "GJ", "period": Infinity},'
        ' {"category": "purchased_heat", "quantity": NaN, "unit": "GJ", "org_unit": -Infinity}]}',
        encoding="utf-8",
    )
    code, document = tanguan_calc(path)
    assert code == 1
    found = [(error["line"], error["field"]) for error in document["errors"]]
    assert found == [(1, "fuel"), (2, "period"), (3, "org_unit"), (3, "quantity")]
    fuel = document["errors"][0]
    assert fuel["message_en"] == "fuel must be text, got NaN"
    assert fuel["message_zh"] == "fuel 应为文本，实际为 NaN"


def test_results_beyond_any_plant_are_refused_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_text(
        '{"lines": [{"category": "purchased_heat", "quantity": 10, "unit": "GJ"},'
        # 10^8 (10^4 t) × 10^10 t SF6 per 10^4 t × 25 200 = 2.52 × 10^22 tCO2e from inputs each < 10^15
        ' {"category": "process", "material": "SF6", "factor": 1e10, "gas": "SF6",'
        ' "quantity": 1e8, "unit": "万t"},'
        ' {"category": "purchased_heat", "quantity": 1e23, "unit": "GJ"},'
        ' {"category": "purchased_heat", "quantity": -1e999999, "unit": "TJ"}]}',
        encoding="utf-8",
    )
    code, document = tanguan_calc(path)
    assert code == 1
    assert [(error["line"], error["field"]) for error in document["errors"]] == [
        (2, "quantity"),
        (3, "quantity"),
        (4, "quantity"),
    ]
    result, number, huge = document["errors"]
    assert result["message_en"] == (
        "this line comes to 2.52E+22 tCO2e, beyond any plant (≥ 10^15 t); check the quantity, its unit "
        "and the factors"
    )
    assert "超出任何工厂的合理范围（≥ 10^15 t）" in result["message_zh"]
    assert number["message_en"] == "quantity is too large (1.00E+23 ≥ 10^15); check the number and its unit"
    assert "1.00E+999999" in huge["message_en"]
    # Lines that each stay under the bound but add up beyond it are refused on the total.
    total = refused(
        [{"category": "process", "material": "SF6", "factor": 1, "gas": "SF6", "quantity": 3e10, "unit": "t"}]
        * 2
    )
    assert (total.line, total.field) == (None, "lines")


def test_a_key_given_twice_is_refused_naming_the_key_and_the_line(tmp_path: Path) -> None:
    path = tmp_path / "twice.json"
    path.write_text(
        '{"year": 2022, "year": 2023, "lines": ['
        '{"category": "purchased_heat", "quantity": 1, "unit": "GJ"},'
        '{"category": "combustion", "fuel": "柴油", "quantity": 10, "quantity": 1000, "unit": "t"}]}',
        encoding="utf-8",
    )
    with pytest.raises(CalcError) as caught:
        load_calc_file(path)
    assert [(issue.line, issue.field) for issue in caught.value.issues] == [(None, "year"), (2, "quantity")]
    assert caught.value.issues[1].message_en == "quantity is given more than once on this line; keep one"
    assert caught.value.issues[1].message_zh == "quantity 在本行出现了不止一次；请只保留一个"

    csv = tmp_path / "twice.csv"
    csv.write_text("category,quantity,unit,quantity\npurchased_heat,1,GJ,1000\n", encoding="utf-8")
    with pytest.raises(CalcError) as caught:
        load_calc_file(csv)
    assert [(issue.line, issue.field) for issue in caught.value.issues] == [(1, "quantity")]


def test_a_zero_oxidation_rate_is_refused_and_a_zero_purity_or_calcination_fraction_is_warned(
    tmp_path: Path,
) -> None:
    error = refused(
        [{"category": "combustion", "fuel": "柴油", "quantity": 10, "unit": "t", "oxidation_rate": 0}]
    )
    assert (error.line, error.field) == (1, "oxidation_rate")
    assert "must be greater than 0" in error.message_en and "必须大于 0" in error.message_zh

    document, text = report(
        {
            "lines": [
                {"category": "process", "material": "石灰石", "quantity": 10, "unit": "t", "purity": 0},
                {
                    "category": "process",
                    "material": "石灰石",
                    "quantity": 10,
                    "unit": "t",
                    "calcination_fraction": 0,
                },
                {
                    "category": "process",
                    "material": "碳粉",
                    "quantity": 10,
                    "unit": "t",
                    "carbon_fraction": 0,
                },
                {"category": "purchased_heat", "quantity": 10, "unit": "GJ"},
            ]
        },
        tmp_path,
    )
    assert [(warning["line"], warning["field"]) for warning in document["warnings"]] == [
        (1, "purity"),
        (2, "calcination_fraction"),
        (3, "carbon_fraction"),
    ]
    assert document["warnings"][0]["message_en"].startswith("purity is 0, so this line emits nothing")
    assert "提示 Warnings (3)" in text
    assert "purity 为 0" in text and "calcination_fraction is 0" in text


def test_a_negative_net_total_is_calculated_with_a_warning(tmp_path: Path) -> None:
    document, text = report(
        {
            "lines": [
                {"category": "purchased_heat", "quantity": 10, "unit": "GJ"},
                {"category": "exported_heat", "quantity": 100, "unit": "GJ"},
            ]
        },
        tmp_path,
    )
    assert document["total_tco2e"] == -9.9
    assert document["warnings"] == [
        {
            "line": None,
            "field": "total_tco2e",
            "message_zh": "净排放总量为负（-9.9 tCO2e）：输出电力/热力和回收量之和大于排放量，请核对",
            "message_en": "the net total is negative (-9.9 tCO2e): exports and recovery exceed the "
            "emissions; check them",
        }
    ]
    assert "净排放总量为负" in text and "the net total is negative" in text
    positive, _ = report({"lines": [{"category": "purchased_heat", "quantity": 10, "unit": "GJ"}]}, tmp_path)
    assert positive["warnings"] == []


def test_a_regional_grid_without_a_factor_for_the_year_is_refused_not_replaced_by_the_national_one() -> None:
    for region in ("西南", "西藏", "四川省"):  # 四川 has its own 2023 factor and is calculated
        line = {
            "category": "purchased_electricity",
            "quantity": 1000,
            "unit": "MWh",
            "region": region,
            "year": 2023,
        }
        if region == "四川省":
            assert (
                calculate(calc_input_from_dict({"lines": [line]})).lines[0].trace.choice.tier.value
                == "provincial"
            )
            continue
        error = refused([line])
        assert (error.line, error.field) == (1, "year")
        assert "no grid emission factor for 西南" in error.message_en and "in 2023" in error.message_en
        assert "years available: 2021, 2022" in error.message_en
        assert "region 全国" in error.message_en and "region 填 全国" in error.message_zh
    # Asking for the national factor explicitly is the way to use it.
    national = calculate(
        calc_input_from_dict(
            {
                "lines": [
                    {
                        "category": "purchased_electricity",
                        "quantity": 1000,
                        "unit": "MWh",
                        "region": "全国",
                        "year": 2023,
                    }
                ]
            }
        )
    )
    assert str(national.total_tco2e) == "530.6000"


def test_a_fuel_in_an_energy_unit_is_taken_as_heat_with_a_warning(tmp_path: Path) -> None:
    document, text = report(
        {
            "lines": [
                {"category": "combustion", "fuel": "柴油", "quantity": 10, "unit": "MWh"},
                {"category": "combustion", "fuel": "柴油", "quantity": 10, "unit": "t"},
                {"category": "combustion", "fuel": "天然气", "quantity": 5, "unit": "TJ"},
            ]
        },
        tmp_path,
    )
    assert [(warning["line"], warning["field"]) for warning in document["warnings"]] == [
        (1, "unit"),
        (3, "unit"),
    ]
    assert document["warnings"][0]["message_en"] == (
        "柴油 in MWh is taken as its heat content; the fuel's NCV is not applied"
    )
    assert "提示 Warnings (2)" in text and "NCV" in text
    assert document["lines"][0]["trace"]["activity"] == "36 GJ (= 10 MWh)"


def test_warnings_are_part_of_the_inventory_for_python_callers() -> None:
    inventory = calculate(
        calc_input_from_dict(
            {"lines": [{"category": "combustion", "fuel": "柴油", "quantity": 1, "unit": "GJ"}]}
        )
    )
    assert [(warning.line, warning.field) for warning in inventory.warnings] == [(1, "unit")]
    assert inventory_to_json(inventory)["warnings"][0]["line"] == 1

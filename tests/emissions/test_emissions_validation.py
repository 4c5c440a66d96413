"""Validation collects every problem of every line: independent checks all run, cascades do not."""

import io
import json
from pathlib import Path
from typing import Any

import pytest

from engine.emissions import CalcError, calc_input_from_dict, calculate, load_calc_file, validate
from engine.emissions.cli import run_calc


def pairs(error: CalcError) -> set[tuple[int | None, str]]:
    """The (line, field) pairs of ``error``, checking that each is reported once, in both languages."""
    found = [(issue.line, issue.field) for issue in error.issues]
    assert len(found) == len(set(found)), f"a field reported twice: {found}"
    for issue in error.issues:
        assert issue.message_zh and issue.message_en
    return set(found)


def load_errors(path: Path) -> CalcError:
    with pytest.raises(CalcError) as caught:
        calculate(load_calc_file(path))
    return caught.value


def json_errors(tmp_path: Path, document: dict[str, Any]) -> CalcError:
    path = tmp_path / "in.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return load_errors(path)


def csv_errors(tmp_path: Path, rows: list[str]) -> CalcError:
    path = tmp_path / "in.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return load_errors(path)


def by_field(error: CalcError, line: int, field: str) -> str:
    return next(issue.message_en for issue in error.issues if (issue.line, issue.field) == (line, field))


def test_negative_quantity_and_unknown_fuel_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(
        '{"lines":[{"category":"combustion","fuel":"柴由","quantity":"-1","unit":"MWh"}]}', encoding="utf-8"
    )
    out = io.StringIO()
    assert run_calc(path, as_json=True, out=out) == 1
    errors = json.loads(out.getvalue())["errors"]
    # MWh is heat, which fits any fuel; with the fuel unknown the unit is not checked against it
    assert [(error["line"], error["field"]) for error in errors] == [(1, "quantity"), (1, "fuel")]
    assert "did you mean: 柴油" in errors[1]["message_en"]
    assert "您是否指：柴油" in errors[1]["message_zh"]


def test_json_several_lines_with_several_problems(tmp_path: Path) -> None:
    error = json_errors(
        tmp_path,
        {
            "lines": [
                # unreadable quantity, bad fraction, a unit key without its value, unknown unit,
                # another gas on the heating-value method, unknown fuel
                {
                    "category": "combustion",
                    "fuel": "柴由",
                    "quantity": "abc",
                    "unit": "MWhh",
                    "ncv_unit": "GJ/t",
                    "oxidation_rate": 98,
                    "gas": "CH4",
                },
                {"category": "combustion", "fuel": "柴油", "quantity": 10, "unit": "t"},  # fine
                # known fuel: negative, a field of another method, unit that does not fit the fuel
                {"category": "combustion", "fuel": "天然气", "quantity": -3, "unit": "t", "purity": 0.5},
                # unknown category: only the method-independent checks
                {"category": "combustio", "fuel": "柴由", "quantity": -1, "unit": "tt", "oxidation_rate": 5},
                # electricity: negative, mass unit, unused field, no year, unknown region, unknown key
                {
                    "category": "purchased_electricity",
                    "quantity": -1,
                    "unit": "t",
                    "region": "胡南",
                    "purity": 1,
                    "yaer": 2023,
                },
                # clinker: another gas, both oxides missing, energy unit
                {"category": "process", "material": "熟料", "quantity": 1, "unit": "GJ", "gas": "CH4"},
            ]
        },
    )
    assert pairs(error) == {
        (1, "quantity"),
        (1, "oxidation_rate"),
        (1, "ncv_unit"),
        (1, "unit"),
        (1, "gas"),
        (1, "fuel"),
        (3, "quantity"),
        (3, "purity"),
        (3, "unit"),
        (4, "category"),
        (4, "quantity"),
        (4, "oxidation_rate"),
        (4, "unit"),
        (5, "yaer"),
        (5, "quantity"),
        (5, "unit"),
        (5, "purity"),
        (5, "year"),
        (5, "region"),
        (6, "gas"),
        (6, "cao_content"),
        (6, "mgo_content"),
        (6, "unit"),
    }
    assert [issue.line for issue in error.issues] == sorted(issue.line for issue in error.issues)
    assert "must be a number" in by_field(error, 1, "quantity")
    assert "unknown unit 'MWhh'" in by_field(error, 1, "unit")
    assert "does not fit fuel '天然气'" in by_field(error, 3, "unit")
    assert "湖南" in by_field(error, 5, "region")


def test_calculation_problems_without_reading_problems_are_all_reported() -> None:
    document = {
        "lines": [
            {"category": "purchased_heat", "quantity": 1, "unit": "t", "ncv": 3, "gas": "CH4"},
            {"category": "process", "material": "电解铝", "quantity": 1, "unit": "GJ", "gas": "CF4"},
            {"category": "process", "material": "x", "quantity": 1, "unit": "tt", "factor": -1, "gas": "XX"},
            {"category": "biomass", "quantity": 1, "unit": "t"},
            {"category": "recovered", "quantity": 1, "unit": "GJ", "gas": "CH44", "uncertainty": -2},
        ]
    }
    calc_input = calc_input_from_dict(document)  # every field reads; the problems are in the calculation
    with pytest.raises(CalcError) as caught:
        calculate(calc_input)
    assert pairs(caught.value) == {
        (1, "enthalpy"),  # steam in t: its enthalpies are missing
        (1, "reference_enthalpy"),
        (1, "gas"),
        (1, "ncv"),
        (2, "gas"),
        (2, "unit"),
        (3, "factor"),
        (3, "unit"),
        (3, "gas"),
        (4, "fuel"),
        (4, "factor"),
        (5, "uncertainty"),
        (5, "unit"),
        (5, "gas"),
    }
    assert [(issue.line, issue.field) for issue in validate(calc_input)] == [
        (issue.line, issue.field) for issue in caught.value.issues
    ]


def test_csv_rows_with_several_problems(tmp_path: Path) -> None:
    error = csv_errors(
        tmp_path,
        [
            "category,fuel,material,quantity,unit,ncv,ncv_unit,region,year,tier",
            "combustion,柴由,,abc,MWhh,,GJ/t,,,",  # row 2
            "combustion,天然气,,-2,t,x,GJ/万Nm3,,,",  # row 3: ncv unreadable, but given
            ",,,,,,,,,",  # row 4: blank, skipped
            "purchased_electricity,,,10,t,,,胡南,,sometimes",  # row 5
            "combustio,柴油,,1,t,,,,,",  # row 6
            "process,,石灰石,5,t,,,,,",  # row 7: fine
            "process,,熟料,5,m3,,,,,",  # row 8
        ],
    )
    assert pairs(error) == {
        (2, "quantity"),
        (2, "ncv_unit"),
        (2, "unit"),
        (2, "fuel"),
        (3, "ncv"),
        (3, "quantity"),
        (3, "unit"),
        (5, "tier"),
        (5, "unit"),
        (5, "year"),
        (5, "region"),
        (6, "category"),
        (8, "cao_content"),
        (8, "mgo_content"),
        (8, "unit"),
    }
    assert "ncv must be a number" in by_field(error, 3, "ncv")  # not also "ncv must be greater than 0"


def test_csv_header_problems_do_not_hide_the_rows(tmp_path: Path) -> None:
    error = csv_errors(
        tmp_path,
        [
            "category,fuel,quantity,units,tier",
            "combustion,柴由,-1,t,sometimes",
            "purchased_heat,,5,GJ,",
        ],
    )
    # the unknown column and the missing unit column are reported once, on the header row
    assert pairs(error) == {(1, "units"), (1, "unit"), (2, "tier"), (2, "quantity"), (2, "fuel")}
    assert "required column unit is missing" in by_field(error, 1, "unit")


def test_unknown_fuel_skips_the_unit_check_but_not_the_unit_spelling() -> None:
    def fields(line: dict[str, Any]) -> list[str]:
        with pytest.raises(CalcError) as caught:
            calculate(calc_input_from_dict({"lines": [line]}))
        return [issue.field for issue in caught.value.issues]

    assert fields({"category": "combustion", "fuel": "天然汽", "quantity": 1, "unit": "t"}) == ["fuel"]
    assert fields({"category": "combustion", "fuel": "天然汽", "quantity": 1, "unit": "tonn"}) == [
        "unit",
        "fuel",
    ]


def test_bad_settings_still_check_the_lines_but_skip_what_needs_them(tmp_path: Path) -> None:
    error = json_errors(
        tmp_path,
        {
            "factor_set": "nope",
            "gwp_set": "AR9",
            "region": "湖南",
            "year": "20x3",
            "lines": [
                {"category": "combustion", "fuel": "柴由", "quantity": -1, "unit": "t"},  # fuel: set unknown
                {"category": "recovered", "quantity": 1, "unit": "GJ", "gas": "CH4"},  # GWP: set unknown
                {"category": "purchased_electricity", "quantity": 1, "unit": "MWh"},  # inherits the year
                {"category": "purchased_electricity", "quantity": 1, "unit": "MWh", "year": 2019},
            ],
        },
    )
    assert pairs(error) == {
        (None, "factor_set"),
        (None, "gwp_set"),
        (None, "year"),
        (1, "quantity"),
        (2, "unit"),
        (4, "year"),
    }
    assert "no grid emission factor for 湖南 in 2019" in by_field(error, 4, "year")


def test_a_field_is_reported_once_per_line() -> None:
    with pytest.raises(CalcError) as caught:
        calculate(
            calc_input_from_dict(
                {
                    "lines": [
                        # purity is both out of range and not used by the anode-effect method
                        {
                            "category": "process",
                            "material": "电解铝",
                            "quantity": 1,
                            "unit": "t",
                            "purity": 2,
                        },
                        # ncv both ≤ 0 and not wanted with a quantity in energy units
                        {"category": "combustion", "fuel": "柴油", "quantity": 1, "unit": "GJ", "ncv": -1},
                    ]
                }
            )
        )
    assert pairs(caught.value) == {(1, "purity"), (2, "ncv")}
    assert "fraction between 0 and 1" in by_field(caught.value, 1, "purity")


def test_a_correct_file_still_calculates() -> None:
    inventory = calculate(
        calc_input_from_dict(
            {
                "lines": [
                    {
                        "category": "combustion",
                        "fuel": "柴由",
                        "quantity": 1,
                        "unit": "t",
                        "ncv": 43,
                        "ncv_unit": "GJ/t",
                        "carbon_content": 0.0202,
                        "oxidation_rate": 0.98,
                    },
                    {"category": "combustion", "fuel": "柴油", "quantity": 1, "unit": "MWh"},
                ]
            }
        )
    )
    assert [line.line for line in inventory.lines] == [1, 2]
    assert inventory.total_tco2e > 0

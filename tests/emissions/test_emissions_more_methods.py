"""The remaining methods of issue 14 item 1: the fossil fraction of mixed and alternative fuels, steam and hot
water in tonnes by enthalpy, and the carbon mass balance; golden numbers checked by hand in the comments."""

import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

from engine.emissions import CalcError, calculate, inventory_to_json, load_calc_file
from engine.emissions.cli import run_calc
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


# ------------------------------------------------------------------ carbon mass balance (chemicals, coking)


def balance(material: str, quantity: object, carbon: str, flow: str | None = None, **extra: object):
    line = {"category": "process", "material": material, "quantity": quantity, "unit": "t",
            "carbon_fraction": carbon, "mass_balance": "焦化", **extra}  # fmt: skip
    return line if flow is None else {**line, "flow": flow}


def test_a_coking_carbon_balance_nets_inputs_against_products() -> None:
    # in: washed coal 1000 t × 0.75 tC/t = 750 tC
    # out: coke 700 × 0.85 = 595 tC, tar 40 × 0.9 = 36 tC, crude benzene 10 000 kg = 10 t × 0.92 = 9.2 tC
    # E = (750 − 595 − 36 − 9.2) tC × 44/12 = 109.8 × 44/12 = 402.6 tCO2
    inventory = run(
        balance("洗精煤", 1000, "0.75"),
        balance("焦炭", 700, "0.85", "output"),
        balance("焦油", 40, "0.9", "产出"),
        balance("粗苯", 10000, "0.92", "output", unit="kg"),
    )
    coal, coke, tar, benzene = inventory.lines
    assert coal.tco2e == D("2750") and tar.tco2e == D("-132")
    assert coke.tco2e.quantize(SIX) == D("-2181.666667") and benzene.tco2e.quantize(SIX) == D("-33.733333")
    assert inventory.total_tco2e.quantize(SIX) == D("402.6")
    assert inventory.by_category["process"].quantize(SIX) == D("402.6")
    assert coke.trace.formula == (
        "E = −M × C × 44/12 = −700 t × 0.85 tC/t × 44/12 = −2181.666667 tCO2 "
        "(output of carbon balance '焦化')"
    )
    assert not inventory.warnings
    document = inventory_to_json(inventory)
    assert document["by_mass_balance"] == {"焦化": 402.6}
    assert "by_mass_balance" not in inventory_to_json(run(TYRES))


def test_two_groups_are_netted_apart_and_a_negative_group_is_flagged() -> None:
    # 焦化: 100 t × 0.8 − 50 t × 0.9 = 35 tC → 128.333333; 合成氨: 10 t × 0.75 − 20 t × 0.5 = −2.5 tC
    # → −9.166667, calculated as given and flagged
    inventory = run(
        balance("洗精煤", 100, "0.8"),
        balance("焦炭", 50, "0.9", "output"),
        balance("天然气（质量）", 10, "0.75", mass_balance="合成氨"),
        balance("尿素", 20, "0.5", "output", mass_balance="合成氨"),
    )
    document = inventory_to_json(inventory)
    assert document["by_mass_balance"] == {"焦化": 128.333333, "合成氨": -9.166667}
    (warning,) = inventory.warnings
    assert (
        warning.field == "mass_balance"
        and "合成氨" in warning.message_zh
        and "-9.17" not in warning.message_en
    )


def test_a_carbon_balance_line_is_refused_when_incomplete_or_mixed() -> None:
    assert problems(
        {"category": "process", "material": "焦炭", "quantity": 1, "unit": "t", "carbon_fraction": "0.85",
         "flow": "output"},  # no group
        balance("焦炭", 1, "0.85", "sideways"),
        {"category": "process", "material": "焦炭", "quantity": 1, "unit": "t", "mass_balance": "焦化"},
        balance("焦炉煤气", 1, "0.3", unit="Nm3"),
        balance("石灰石", 1, "0.12", purity="0.9"),
        balance("焦炭", 1, "0.85", factor=3),
        {"category": "combustion", "fuel": "柴油", "quantity": 1, "unit": "t", "mass_balance": "焦化"},
        balance("焦炭", 1, "85"),  # a percentage
    ) == [
        (1, "mass_balance"),
        (2, "flow"),
        (3, "carbon_fraction"),
        (4, "unit"),
        (5, "purity"),
        (6, "carbon_fraction"),  # the direct factor has no carbon content nor group
        (6, "mass_balance"),
        (7, "mass_balance"),
        (8, "carbon_fraction"),
    ]  # fmt: skip


def test_the_unknown_material_refusal_names_every_method_key() -> None:
    with pytest.raises(CalcError) as caught:
        run({"category": "process", "material": "己内酰胺", "quantity": 1, "unit": "t"})
    (issue,) = caught.value.issues
    for key in ("factor", "carbon_fraction", "mass_balance", "n2o_generation_factor", "mcf"):
        assert key in issue.message_en and key in issue.message_zh


def test_the_new_keys_read_from_csv(tmp_path: Path) -> None:
    path = tmp_path / "plant.csv"
    path.write_text(
        "category,fuel,material,quantity,unit,ncv,ncv_unit,carbon_content,oxidation_rate,fossil_fraction,"
        "enthalpy,reference_enthalpy,carbon_fraction,mass_balance,flow\n"
        "combustion,废轮胎,,100,t,30,GJ/t,0.01,1,0.6,,,,,\n"
        "purchased_heat,,,1000,t,,,,,,2800,83.74,,,\n"
        "process,,洗精煤,1000,t,,,,,,,,0.75,焦化,投入\n"
        "process,,焦炭,700,t,,,,,,,,0.85,焦化,产出\n",
        encoding="utf-8",
    )
    inventory = calculate(load_calc_file(path))
    # 66 (fossil part, above) + 298.7886 (steam, above) + (750 − 595) tC × 44/12 = 568.333333…
    assert inventory.total_tco2e.quantize(SIX) == D("933.121933")
    assert inventory.biomass_co2_t == D("44")


def test_tanguan_calc_prints_the_group_net_and_the_biomass_part(tmp_path: Path) -> None:
    path = tmp_path / "plant.json"
    lines = [
        {**TYRES, "fossil_fraction": "0.6"},
        balance("洗精煤", 1000, "0.75"),
        balance("焦炭", 700, "0.85", "output"),
    ]
    path.write_text(json.dumps({"lines": lines}, ensure_ascii=False), encoding="utf-8")
    table = io.StringIO()
    assert run_calc(path, as_json=False, out=table) == 0
    printed = table.getvalue()
    # the group: (750 − 595) tC × 44/12 = 568.33; the tyres' biomass part 44 (above)
    assert "of which carbon balance “焦化”" in printed and "568.33" in printed
    assert "biomass CO2 (not in total)" in printed and "44.00" in printed

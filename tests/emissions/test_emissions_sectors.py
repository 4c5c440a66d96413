"""Sector methods (issue 14 item 1): golden numbers checked by hand in the comments, and their refusals."""

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.emissions import CalcError, calc_input_from_dict, calculate, inventory_to_json, load_calc_file
from engine.emissions.factors import FactorTier

D = Decimal
SIX = D("0.000001")


def run(*lines: dict[str, Any], **top: Any):
    return calculate(calc_input_from_dict({"lines": list(lines), **top}))


def problems(*lines: dict[str, Any], **top: Any) -> list[tuple[int | None, str]]:
    with pytest.raises(CalcError) as caught:
        run(*lines, **top)
    for issue in caught.value.issues:
        assert issue.message_zh and issue.message_en
    return [(issue.line, issue.field) for issue in caught.value.issues]


# ------------------------------------------------------------------ N2O from nitric and adipic acid


def test_nitric_acid_n2o_with_abatement_ar6() -> None:
    # 1000 t × 9.72 kg N2O/t = 9720 kg; × (1 − 0.9 × 0.95) = × 0.145 → 1409.4 kg = 1.4094 t N2O
    # × GWP 273 (AR6) = 384.7662 tCO2e
    inventory = run(
        {
            "category": "process",
            "material": "硝酸",
            "quantity": 1000,
            "unit": "t",
            "n2o_generation_factor": "9.72",
            "abatement_efficiency": "0.9",
            "abatement_use_rate": "0.95",
        }
    )
    line = inventory.lines[0]
    assert line.gases["N2O"].mass_t == D("1.4094")
    assert line.tco2e == D("384.7662")
    assert inventory.by_gas == {"N2O": D("384.7662")}
    assert [factor.name for factor in line.trace.factors] == ["EF_N2O", "η", "μ", "GWP N2O"]
    assert line.trace.formula == (
        "E = P × EF × (1 − η × μ) / 1000 × GWP = 1000 t × 9.72 kg/t × (1 − 0.9 × 0.95) / 1000 × 273 (AR6) "
        "= 1.4094 t N2O = 384.7662 tCO2e"
    )


def test_adipic_acid_without_abatement_ar5() -> None:
    # 50 t × 300 kg N2O/t / 1000 = 15 t N2O; no abatement unit: × (1 − 0 × 0) = × 1; × 265 (AR5) = 3975
    _, = lines = run(
        {"category": "process", "material": "adipic acid", "quantity": 50, "unit": "t",
         "n2o_generation_factor": 300},
        gwp_set="AR5",
    ).lines  # fmt: skip
    assert lines[0].tco2e == D("3975")
    assert lines[0].trace.factors[1].note == "not given: no abatement (0)"


def test_n2o_needs_its_generation_factor_and_both_abatement_fields() -> None:
    assert problems(
        {"category": "process", "material": "硝酸", "quantity": 1, "unit": "t"},
        {"category": "process", "material": "己二酸", "quantity": 1, "unit": "t",
         "n2o_generation_factor": 300, "abatement_efficiency": "0.9"},
        {"category": "process", "material": "硝酸", "quantity": 1, "unit": "t", "n2o_generation_factor": 9,
         "abatement_use_rate": "95", "gas": "CH4", "purity": "0.9"},
        {"category": "process", "material": "硝酸", "quantity": 1, "unit": "MWh", "n2o_generation_factor": 9},
    ) == [
        (1, "n2o_generation_factor"),
        (2, "abatement_use_rate"),
        (3, "abatement_use_rate"),  # a percentage, not a fraction
        (3, "purity"),  # a key of another method
        (3, "gas"),
        (3, "abatement_efficiency"),
        (4, "unit"),
    ]  # fmt: skip


def test_any_material_with_a_generation_factor_takes_the_n2o_method() -> None:
    # caprolactam: 10 t × 5 kg/t / 1000 = 0.05 t N2O × 273 = 13.65 tCO2e
    assert run(
        {
            "category": "process",
            "material": "己内酰胺",
            "quantity": 10,
            "unit": "t",
            "n2o_generation_factor": 5,
        }
    ).total_tco2e == D("13.65")


# ------------------------------------------------------------------ wastewater CH4


def test_wastewater_ch4_with_default_b0_ar6() -> None:
    # (TOW − S) × B0 × MCF − R = (200 − 20) t COD × 0.25 × 0.8 − 5 t = 36 − 5 = 31 t CH4
    # × GWP 27.9 (AR6) = 864.9 tCO2e
    inventory = run(
        {"category": "process", "material": "废水", "quantity": 200, "unit": "t", "mcf": "0.8",
         "sludge_cod": 20, "ch4_recovered": 5}
    )  # fmt: skip
    line = inventory.lines[0]
    assert line.gases["CH4"].mass_t == D("31")
    assert line.tco2e == D("864.9")
    b0 = line.trace.factors[0]
    assert (b0.name, b0.value, b0.source.confidence) == ("B0", D("0.25"), "S1")
    assert line.trace.choice.tier is FactorTier.PARTLY_MEASURED


def test_wastewater_in_kg_with_measured_b0_sar() -> None:
    # (500 000 − 0) kg COD = 500 t × 0.2 × 0.3 = 30 t CH4 × 21 (SAR) = 630 tCO2e
    inventory = run(
        {"category": "process", "material": "造纸废水", "quantity": 500000, "unit": "kg", "mcf": "0.3",
         "b0": "0.2"},
        gwp_set="SAR",
    )  # fmt: skip
    assert inventory.total_tco2e == D("630")
    assert inventory.lines[0].trace.choice.tier is FactorTier.MEASURED


def test_wastewater_refusals() -> None:
    assert problems(
        {"category": "process", "material": "废水", "quantity": 100, "unit": "t"},
        {"category": "process", "material": "废水", "quantity": 100, "unit": "t", "mcf": "0.8",
         "sludge_cod": 150},
        {"category": "process", "material": "废水", "quantity": 100, "unit": "t", "mcf": "0.1",
         "ch4_recovered": 3},
        {"category": "process", "material": "废水", "quantity": 100, "unit": "Nm3", "mcf": "1.5", "b0": 0,
         "gas": "N2O"},
    ) == [
        (1, "mcf"),
        (2, "sludge_cod"),
        (3, "ch4_recovered"),  # 100 × 0.25 × 0.1 = 2.5 t generated < 3 t recovered
        (4, "mcf"),
        (4, "gas"),
        (4, "b0"),
        (4, "unit"),
    ]  # fmt: skip


def test_wastewater_with_mcf_zero_is_calculated_with_a_warning() -> None:
    inventory = run({"category": "process", "material": "废水", "quantity": 100, "unit": "t", "mcf": 0})
    assert inventory.total_tco2e == 0
    assert [(issue.line, issue.field) for issue in inventory.warnings] == [(1, "mcf")]


# ------------------------------------------------------------------ lime and kiln dust


def test_lime_output_method() -> None:
    # EF_CaO = M(CO2)/M(CaO) = 44.009 / 56.077 = 0.784795906; EF_MgO = 44.009 / 40.304 = 1.091926360
    # 1000 t × (0.90 × 0.784795906 + 0.02 × 1.091926360) = 1000 × (0.706316315 + 0.021838527)
    # = 728.154842 tCO2
    inventory = run(
        {"category": "process", "material": "生石灰", "quantity": 1000, "unit": "t", "cao_content": "0.90",
         "mgo_content": "0.02"}
    )  # fmt: skip
    line = inventory.lines[0]
    assert line.tco2e.quantize(SIX) == D("728.154842")
    assert line.trace.choice.tier is FactorTier.MEASURED
    assert [factor.name for factor in line.trace.factors][-2:] == ["EF CaO", "EF MgO"]
    assert "× 0.784796" in line.trace.formula and "× 1.091926" in line.trace.formula


def test_lime_needs_both_oxides_and_no_clinker_keys() -> None:
    assert problems(
        {"category": "process", "material": "lime", "quantity": 1, "unit": "t", "kiln_dust": 1},
    ) == [(1, "kiln_dust"), (1, "cao_content"), (1, "mgo_content")]


def test_clinker_dust_with_its_calcination_degree() -> None:
    # (1000 + 20 × 0.5 + 5 × 1) t × (0.65 × 44/56 + 0.02 × 44/40)
    # = 1015 × (0.510714285… + 0.022) = 1015 × 0.532714285… = 540.705
    _, = lines = run(
        {"category": "process", "material": "熟料", "quantity": 1000, "unit": "t", "cao_content": "0.65",
         "mgo_content": "0.02", "kiln_dust": 20, "kiln_dust_calcination": "0.5", "bypass_dust": 5,
         "bypass_dust_calcination": "1"}
    ).lines  # fmt: skip
    assert lines[0].tco2e.quantize(SIX) == D("540.705")
    assert lines[0].trace.formula.startswith("E = (Q_clinker + Q_kiln_dust × F_kd + Q_bypass_dust × F_bd) × ")
    assert [factor.name for factor in lines[0].trace.factors][:2] == ["F_kiln_dust", "F_bypass_dust"]


def test_dust_calcination_belongs_to_the_clinker_method() -> None:
    assert problems(
        {"category": "process", "material": "石灰石", "quantity": 1, "unit": "t",
         "kiln_dust_calcination": "0.5"},
        {"category": "process", "material": "熟料", "quantity": 1, "unit": "t", "cao_content": "0.6",
         "mgo_content": "0.02", "kiln_dust_calcination": "50"},
    ) == [(1, "kiln_dust_calcination"), (2, "kiln_dust_calcination")]  # fmt: skip


# ------------------------------------------------------------------ through the file formats and the CLI JSON


def test_the_new_keys_read_from_csv(tmp_path: Path) -> None:
    path = tmp_path / "plant.csv"
    path.write_text(
        "category,material,quantity,unit,n2o_generation_factor,abatement_efficiency,abatement_use_rate,mcf,"
        "sludge_cod,ch4_recovered,gwp_set\n"
        "process,硝酸,1000,t,9.72,0.9,0.95,,,,AR6\n"
        "process,废水,200,t,,,,0.8,20,5,\n",
        encoding="utf-8",
    )
    inventory = calculate(load_calc_file(path))
    # 384.7662 (nitric acid, above) + 864.9 (wastewater, above) = 1249.6662
    assert inventory.total_tco2e == D("1249.6662")
    document = inventory_to_json(inventory)
    assert document["by_gas"] == {"N2O": 384.7662, "CH4": 864.9}
    assert document["lines"][0]["trace"]["inputs"]["abatement_use_rate"] == "0.95"


# ------------------------------------------------------------------ carbon fixed in products


def test_carbon_fixed_in_steel_products_is_its_own_subtracted_term() -> None:
    # crude steel 100 000 t × 0.0042 tC/t × 44/12 = 420 × 44/12 = 1540 tCO2, subtracted;
    # pig iron by a factor: 2000 t × 0.172 tCO2/t (the line's own value) = 344, subtracted
    inventory = run(
        {"category": "combustion", "fuel": "焦炭", "quantity": 1000, "unit": "t"},
        {"category": "fixed_in_products", "material": "粗钢", "quantity": 100000, "unit": "t",
         "carbon_fraction": "0.0042"},
        {"category": "fixed_in_products", "material": "生铁", "quantity": 2000, "unit": "t",
         "factor": "0.172"},
    )  # fmt: skip
    combustion, steel, iron = inventory.lines
    assert steel.tco2e == D("-1540") and iron.tco2e == D("-344")
    assert inventory.by_category["fixed_in_products"] == D("-1884")
    assert "recovered" not in inventory.by_category
    # coke burnt: 1000 t × 28.435 GJ/t = 28435 GJ × 0.0295 tC/GJ = 838.8325 tC × 0.93 = 780.114225 tC
    # × 44/12 = 2860.418825 tCO2; net total 2860.418825 − 1540 − 344 = 976.418825
    assert combustion.tco2e.quantize(SIX) == D("2860.418825")
    assert inventory.total_tco2e.quantize(SIX) == D("976.418825")
    assert steel.trace.formula.endswith("= 1540 tCO2 (subtracted)")
    assert inventory_to_json(inventory)["by_category"]["fixed_in_products"] == -1884


def test_carbon_fixed_needs_a_product_and_its_carbon() -> None:
    assert problems(
        {"category": "fixed_in_products", "quantity": 1, "unit": "t"},
        {"category": "fixed_in_products", "material": "粗钢", "quantity": 1, "unit": "t", "gas": "CH4",
         "cao_content": "0.5", "carbon_fraction": "0.004"},
        {"category": "fixed_in_products", "material": "粗钢", "quantity": 1, "unit": "MWh",
         "carbon_fraction": "0.004"},
    ) == [
        (1, "material"),
        (1, "carbon_fraction"),
        (2, "gas"),
        (2, "cao_content"),
        (3, "unit"),
    ]  # fmt: skip

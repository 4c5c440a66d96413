"""The same inventory by GB/T 32150 category, ISO 14064-1:2018 category and GHG Protocol scope (issue 14
item 3): golden numbers checked by hand, and every view's total equal to the GB/T 32150 total."""

from decimal import Decimal as D

from engine.emissions import CalcInput, CalcLine, Category, calculate
from engine.emissions.classification import RowKind, classify


def line(number: int, category: str, quantity: str, unit: str, **fields: str | int) -> CalcLine:
    values = {key: D(str(value)) if key == "factor" else value for key, value in fields.items()}
    return CalcLine(line=number, category=Category(category), quantity=D(quantity), unit=unit, **values)


# Every category of the calculator, each with a number a person can check:
PLANT = (
    line(1, "combustion", "100", "t", factor="2", material="柴油"),  # 100 × 2 = 200 tCO2
    line(2, "process", "10", "t", factor="0.5", gas="CH4", material="废水"),  # 5 t CH4 × 27.9 = 139.5
    line(3, "purchased_electricity", "1000", "MWh", factor="0.5"),  # 500
    line(4, "purchased_heat", "100", "GJ"),  # 100 × 0.11 = 11
    line(5, "exported_electricity", "200", "MWh", factor="0.5"),  # −100
    line(6, "exported_heat", "10", "GJ"),  # −1.1
    line(7, "recovered", "20", "t", gas="CO2"),  # −20
    line(8, "fixed_in_products", "1000", "t", factor="0.0154", material="粗钢"),  # −15.4
    line(9, "biomass", "50", "t", factor="1.5", material="秸秆"),  # 75 t biomass CO2, in no total
)


def views_of(lines=PLANT):
    inventory = calculate(CalcInput(lines=lines))
    views = {
        view.key: view for view in classify(inventory.by_category, biomass_co2_t=inventory.biomass_co2_t)
    }
    return inventory, views


def rows_of(view) -> dict[str, tuple[RowKind, D | None]]:
    return {row.code: (row.kind, row.tco2e) for row in view.rows}


def test_the_three_views_golden_and_each_total_is_the_gbt32150_total():
    inventory, views = views_of()
    # 200 + 139.5 + 500 + 11 − 100 − 1.1 − 20 − 15.4 = 714
    assert inventory.total_tco2e == D("714")
    assert list(views) == ["gbt32150", "iso14064", "ghg_protocol"]
    for view in views.values():
        assert view.total_tco2e == inventory.total_tco2e  # exactly, not to a rounding
        assert view.gross_tco2e == D("850.5")  # 200 + 139.5 + 500 + 11
    iso = rows_of(views["iso14064"])
    assert iso["1"] == (RowKind.EMISSION, D("339.5"))  # combustion 200 + process 139.5
    assert iso["2"] == (RowKind.EMISSION, D("511"))  # electricity 500 + heat 11
    for category in ("3", "4", "5", "6"):
        assert iso[category] == (RowKind.NOT_QUANTIFIED, None)
    assert iso["R_回收"] == (RowKind.DEDUCTION, D("-20"))
    assert iso["R_固碳"] == (RowKind.DEDUCTION, D("-15.4"))
    assert iso["E_输出电"] == (RowKind.DEDUCTION, D("-100"))
    assert iso["E_输出热"] == (RowKind.DEDUCTION, D("-1.1"))
    assert iso["biogenic"] == (RowKind.MEMO, D("75"))
    one = next(row for row in views["iso14064"].rows if row.code == "1")
    assert [(part.category, part.tco2e) for part in one.parts] == [
        ("combustion", 200),
        ("process", D("139.5")),
    ]
    ghg = rows_of(views["ghg_protocol"])
    assert ghg["S1"] == (RowKind.EMISSION, D("339.5"))
    assert ghg["S2"] == (RowKind.EMISSION, D("511"))
    assert ghg["S3"] == (RowKind.NOT_QUANTIFIED, None)
    assert ghg["biogenic"] == (RowKind.MEMO, D("75"))
    gbt = rows_of(views["gbt32150"])
    assert gbt["E_燃烧"] == (RowKind.EMISSION, 200) and gbt["E_输出热"] == (
        RowKind.DEDUCTION,
        D("-1.1"),
    )
    assert "biomass" not in gbt and gbt["biogenic"] == (RowKind.MEMO, D("75"))


def test_a_plant_with_combustion_and_electricity_only():
    # diesel 12.5 t × 42.652 × 0.0202 × 0.98 × 44/12 = 38.69887; 100 MWh × 0.4976 (湖南 2023) = 49.76
    lines = (
        line(1, "combustion", "12.5", "t", fuel="柴油"),
        line(2, "purchased_electricity", "100", "MWh", region="湖南", year=2023),
    )
    inventory, views = views_of(lines)
    assert round(inventory.total_tco2e, 5) == D("88.45887")
    iso, ghg = rows_of(views["iso14064"]), rows_of(views["ghg_protocol"])
    assert round(iso["1"][1], 5) == D("38.69887") and iso["2"] == (RowKind.EMISSION, D("49.76"))
    assert round(ghg["S1"][1], 5) == D("38.69887") and ghg["S2"] == (RowKind.EMISSION, D("49.76"))
    # Nothing to deduct, nothing biogenic: no such rows.
    assert {row.kind for row in views["iso14064"].rows} == {RowKind.EMISSION, RowKind.NOT_QUANTIFIED}
    for view in views.values():
        assert view.total_tco2e == inventory.total_tco2e


def test_ar5_and_ar6_differ_by_the_hand_computed_ch4_and_n2o():
    gases = (
        line(1, "process", "100", "t", factor="0.1", gas="CH4", material="甲烷逸散"),  # 10 t CH4
        line(2, "process", "100", "t", factor="0.02", gas="N2O", material="硝酸"),  # 2 t N2O
    )
    ar5 = calculate(CalcInput(lines=gases, gwp_set="AR5"))
    ar6 = calculate(CalcInput(lines=gases, gwp_set="AR6"))
    # AR5: 10 × 28 + 2 × 265 = 280 + 530 = 810; AR6: 10 × 27.9 + 2 × 273 = 279 + 546 = 825
    assert ar5.total_tco2e == D("810") and ar6.total_tco2e == D("825")
    assert ar6.by_gas["CH4"] - ar5.by_gas["CH4"] == D("-1")
    assert ar6.by_gas["N2O"] - ar5.by_gas["N2O"] == D("16")
    assert ar6.total_tco2e - ar5.total_tco2e == D("15")

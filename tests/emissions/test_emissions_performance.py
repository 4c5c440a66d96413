"""Intensity, baseline and targets, with hand-checked numbers."""

from decimal import Decimal

import pytest

from engine.emissions import (
    Adjustment,
    CalcError,
    CalcInput,
    CalcLine,
    Category,
    PeriodEmissions,
    Production,
    Target,
    TargetKind,
    baseline,
    calculate,
    intensity,
    inventory_to_json,
    target_progress,
)

D = Decimal


def heat_inventory(production: Production | None = None):
    # 1000 GJ purchased heat × 0.11 = 110 tCO2
    line = CalcLine(line=1, category=Category.PURCHASED_HEAT, quantity=D("1000"), unit="GJ")
    return calculate(CalcInput(lines=(line,), production=production))


def test_intensity_per_product_and_per_output_value() -> None:
    inventory = heat_inventory(
        Production(product="水泥", quantity=D("440"), unit="t", output_value_10k_cny=D("80"))
    )
    result = intensity(inventory)
    assert result.per_product == D("0.25")  # 110 / 440
    assert result.per_output_value == D("1.375")  # 110 / 80
    document = inventory_to_json(inventory)["intensity"]
    assert document["tco2e_per_product_unit"] == 0.25
    assert document["tco2e_per_10k_cny"] == 1.375


def test_intensity_given_separately() -> None:
    result = intensity(heat_inventory(), production=Production(output_value_10k_cny=D("55")))
    assert result.per_output_value == D("2")  # 110 / 55
    assert result.per_product is None


def test_missing_production_data_is_an_error() -> None:
    with pytest.raises(CalcError) as caught:
        intensity(heat_inventory())
    assert caught.value.field == "production"
    assert "production data is missing" in caught.value.message_en
    assert "缺少产量或产值数据" in caught.value.message_zh


def test_zero_production_and_missing_unit_are_errors() -> None:
    with pytest.raises(CalcError) as caught:
        heat_inventory(Production(quantity=D("0")))
    assert {issue.field for issue in caught.value.issues} == {"production.quantity", "production.unit"}


def test_weighted_baseline_with_adjustment() -> None:
    # (1000 × 1 + 1200 × 2 + 1100 × 1) / (1 + 2 + 1) = 4500 / 4 = 1125; + 50 for a new production line = 1175
    result = baseline(
        [
            PeriodEmissions(period="2019", emissions=D("1000")),
            PeriodEmissions(period="2020", emissions=D("1200"), weight=D("2")),
            PeriodEmissions(period="2021", emissions=D("1100")),
        ],
        adjustments=[Adjustment(reason="新增生产线 new production line", delta=D("50"))],
    )
    assert result.weighted_average == D("1125")
    assert result.value == D("1175")
    assert result.adjustments[0].reason.startswith("新增生产线")


def test_baseline_rejects_bad_input() -> None:
    with pytest.raises(CalcError):
        baseline([])
    with pytest.raises(CalcError) as caught:
        baseline(
            [PeriodEmissions(period="2020", emissions=D("1"), weight=D("-1"))],
            adjustments=[Adjustment(reason=" ", delta=D("1"))],
        )
    assert [issue.field for issue in caught.value.issues] == ["weight", "reason"]
    with pytest.raises(CalcError, match="sum to 0"):
        baseline([PeriodEmissions(period="2020", emissions=D("1"), weight=D("0"))])


def test_target_progress_on_a_straight_line() -> None:
    # base 2020 = 1000 t, −18 % by 2025 → target 820; path in 2023 = 1000 − 180 × 3/5 = 892
    # current 900: gap +8 (behind), achieved 10 %, progress 100/180 = 55.55… % of the required cut
    target = Target(
        kind=TargetKind.TOTAL, base_year=2020, base_value=D("1000"), target_year=2025, reduction_pct=D("18")
    )
    assert target.target_value == D("820")
    progress = target_progress(target, current_year=2023, current_value=D("900"))
    assert progress.path_value == D("892")
    assert progress.gap == D("8")
    assert progress.achieved_reduction_pct == D("10")
    assert progress.progress_pct.quantize(D("0.01")) == D("55.56")
    assert progress.on_track is False
    ahead = target_progress(target, current_year=2023, current_value=D("880"))
    assert (ahead.gap, ahead.on_track) == (D("-12"), True)


def test_intensity_target_after_the_target_year_holds_the_target() -> None:
    # intensity 2.0 → −20 % = 1.6 by 2025; in 2027 the path stays at 1.6
    target = Target(
        kind=TargetKind.INTENSITY,
        base_year=2020,
        base_value=D("2.0"),
        target_year=2025,
        reduction_pct=D("20"),
    )
    progress = target_progress(target, current_year=2027, current_value=D("1.5"))
    assert progress.path_value == D("1.6")
    assert progress.progress_pct == D("125")  # (2.0 − 1.5) / (2.0 − 1.6)
    assert progress.on_track


def test_target_rejects_bad_input() -> None:
    target = Target(
        kind=TargetKind.TOTAL, base_year=2025, base_value=D("0"), target_year=2020, reduction_pct=D("120")
    )
    with pytest.raises(CalcError) as caught:
        target_progress(target, current_year=2019, current_value=D("1"))
    assert [issue.field for issue in caught.value.issues] == [
        "target_year",
        "reduction_pct",
        "base_value",
        "current_year",
    ]

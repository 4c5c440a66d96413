"""Uncertainty propagation and data-quality shares."""

from decimal import Decimal

from engine.emissions import (
    ActivityTier,
    CalcInput,
    CalcLine,
    Category,
    calculate,
    combine_product,
    combine_sum,
    data_quality,
    inventory_to_json,
    inventory_uncertainty,
)

D = Decimal


def direct_line(number: int, tco2: str, **fields) -> CalcLine:
    """A process line of ``tco2`` t × factor 1 tCO2/t, so its emissions equal its quantity."""
    return CalcLine(
        line=number,
        category=Category.PROCESS,
        quantity=D(tco2),
        unit="t",
        material="x",
        factor=D("1"),
        **fields,
    )


def test_product_rule() -> None:
    assert combine_product([D("3"), D("4")]) == D("5")  # √(9 + 16)


def test_sum_rule() -> None:
    # 100 ± 5 % and 200 ± 10 %: √(5² + 20²) = √425 = 20.6155…; / 300 = 6.8718… %
    absolute, relative = combine_sum([(D("100"), D("5")), (D("200"), D("10"))])
    assert absolute.quantize(D("0.0001")) == D("20.6155")
    assert relative.quantize(D("0.0001")) == D("6.8718")


def test_inventory_uncertainty_combines_lines() -> None:
    inventory = calculate(
        CalcInput(
            lines=(
                direct_line(1, "100", uncertainty=D("3"), factor_uncertainty=D("4")),  # line ±5 % → ±5 t
                direct_line(2, "200", uncertainty=D("10")),  # ±10 % → ±20 t
                direct_line(3, "50"),  # no uncertainty given
            )
        )
    )
    result = inventory_uncertainty(inventory)
    # √(5² + 20² + 0²) = 20.6155…; total 350 → 5.8902… %
    assert result.line_relative_pct == {1: D("5"), 2: D("10")}
    assert result.absolute_tco2e.quantize(D("0.0001")) == D("20.6155")
    assert result.relative_pct.quantize(D("0.0001")) == D("5.8902")
    assert result.lines_without == (3,)
    document = inventory_to_json(inventory)
    assert document["uncertainty"]["lines_without_uncertainty"] == [3]
    assert document["lines"][0]["uncertainty_pct"] == 5


def test_no_uncertainty_given_means_none() -> None:
    inventory = calculate(CalcInput(lines=(direct_line(1, "10"),)))
    assert inventory_uncertainty(inventory) is None
    assert inventory_to_json(inventory)["uncertainty"] is None


def test_data_quality_shares_by_emissions() -> None:
    inventory = calculate(
        CalcInput(
            lines=(
                direct_line(1, "100", tier=ActivityTier.MEASURED),
                direct_line(2, "200", tier=ActivityTier.STATISTICAL),
                # 500 GJ exported heat × 0.11 = −55; weighs 55 in the shares
                CalcLine(
                    line=3,
                    category=Category.EXPORTED_HEAT,
                    quantity=D("500"),
                    unit="GJ",
                    tier=ActivityTier.ESTIMATED,
                ),
                # biomass is outside the total and outside the shares
                CalcLine(
                    line=4, category=Category.BIOMASS, quantity=D("1"), unit="t", fuel="木屑", factor=D("1.8")
                ),
            )
        )
    )
    quality = data_quality(inventory)
    assert quality.basis_tco2e == D("355")  # 100 + 200 + 55
    assert quality.activity_tiers == {
        "measured": D("100") / D("355"),
        "statistical": D("200") / D("355"),
        "estimated": D("55") / D("355"),
    }
    assert quality.factor_tiers == {"measured": D("300") / D("355"), "national": D("55") / D("355")}
    shares = inventory_to_json(inventory)["data_quality"]["activity_tiers"]
    assert shares == {"measured": 0.28169, "statistical": 0.56338, "estimated": 0.15493}
    assert sum(quality.activity_tiers.values()).quantize(D("0.000001")) == 1

"""Issue 14 item 8: a value outside its plausible range is a warning in the result — the line is still
calculated with it (never silently refused), and the warning names the value and the range (never
silently accepted)."""

from decimal import Decimal

from engine.emissions import CalcInput, calculate
from engine.emissions.model import CalcLine, Category
from engine.emissions.plausibility import plausible_ranges


def line(number: int, **fields) -> CalcLine:
    return CalcLine(line=number, quantity=Decimal(100), unit="t", **fields)


def test_values_outside_their_range_are_warned_about_and_still_used():
    inventory = calculate(
        CalcInput(
            lines=(
                line(1, category=Category.COMBUSTION, fuel="烟煤", ncv=Decimal("35"), ncv_unit="GJ/t"),
                line(2, category=Category.COMBUSTION, fuel="烟煤", ncv=Decimal("23.1"), ncv_unit="GJ/t"),
                line(3, category=Category.PROCESS, material="熟料", cao_content=Decimal("0.852"),
                     mgo_content=Decimal("0.021")),
                line(4, category=Category.PROCESS, material="clinker", cao_content=Decimal("0.652"),
                     mgo_content=Decimal("0.021")),
                line(5, category=Category.COMBUSTION, fuel="柴油", oxidation_rate=Decimal("0.5")),
            )
        )
    )  # fmt: skip
    warned = [(w.line, w.field) for w in inventory.warnings]
    assert warned == [(1, "NCV"), (3, "CaO"), (3, "clinker_factor"), (5, "OF")]
    first = inventory.warnings[0]
    assert (
        first.message_zh == "烟煤低位发热量 35 GJ/t 超出常见范围 17–30 GJ/t，请核对数值和单位（已按此值计算）"
    )
    # Used as given: 100 t × 35 GJ/t = 3500 GJ; × 0.0261 = 91.35 tC; × 0.93 = 84.9555; × 44/12 = 311.5035.
    assert inventory.lines[0].tco2e.quantize(Decimal("0.0001")) == Decimal("311.5035")
    # Clinker: 0.852 × 44/56 + 0.021 × 44/40 = 0.669429 + 0.0231 = 0.692529 tCO2/t, outside 0.45–0.56.
    assert "0.692529 tCO2/t" in inventory.warnings[2].message_zh
    # The stoichiometric clinker of line 4: 0.652 × 44/56 + 0.021 × 1.1 = 0.535386 tCO2/t — inside.


def test_every_range_names_its_basis_and_is_ordered():
    for bounds in plausible_ranges().values():
        assert bounds.low < bounds.high and bounds.basis.strip(), bounds

"""The default fuel table's honest name (issue 14 item 2): it was cited as GB/T 32151.22-2024, the
livestock-farm part; it is now "GB/T 32151 表C.1 (2024)", and the old id still resolves to the same numbers,
so frozen snapshots and stored inputs recalculate unchanged."""

from decimal import Decimal

from engine.emissions import CalcInput, calculate
from engine.emissions.factors import (
    DEFAULT_FACTOR_SET,
    canonical_factor_set_id,
    factor_set,
)
from engine.emissions.loader import calc_input_from_dict
from tests.emissions.test_emissions_calc import make_line

OLD_ID = "GB/T 32151.22-2024"
NEW_ID = "GB/T 32151 表C.1 (2024)"


def test_the_default_set_has_its_new_id_and_keeps_the_old_one_as_an_alias() -> None:
    assert DEFAULT_FACTOR_SET == NEW_ID
    assert canonical_factor_set_id(OLD_ID) == NEW_ID
    assert canonical_factor_set_id("gbt32151.22-2024") == NEW_ID
    assert OLD_ID in factor_set(NEW_ID).aliases
    assert "畜禽" not in factor_set(NEW_ID).title and "livestock" in factor_set(NEW_ID).notes


def test_the_old_id_loads_exactly_the_same_numbers() -> None:
    old, new = factor_set(OLD_ID), factor_set(NEW_ID)
    assert old is new
    assert len(new.fuels) == 26
    # golden rows, as transcribed (carbon_reference.md §2.1)
    golden = {
        "无烟煤": ("26.7", "0.0274", "0.94"),
        "烟煤": ("19.57", "0.0261", "0.93"),
        "柴油": ("42.652", "0.0202", "0.98"),
        "天然气": ("389.31", "0.0153", "0.99"),
        "焦炉煤气": ("179.81", "0.01358", "0.99"),
    }
    for fuel, (ncv, cc, of) in golden.items():
        row = old.find_fuel(fuel)
        assert row is not None
        assert (row.ncv, row.carbon_content, row.oxidation_rate) == (Decimal(ncv), Decimal(cc), Decimal(of))
    assert "GB/T 32151.34-2024" in new.fuels["天然气"].source.detail


def test_stored_inputs_with_the_old_id_recalculate_to_the_same_total() -> None:
    stored = {
        "factor_set": OLD_ID,
        "gwp_set": "AR6",
        "grid_caliber": "average",
        "lines": [
            {"category": "combustion", "fuel": "柴油", "quantity": "10", "unit": "t"},
            {"category": "combustion", "fuel": "天然气", "quantity": "50", "unit": "10^4 Nm3"},
        ],
    }
    old = calculate(calc_input_from_dict(stored))
    new = calculate(calc_input_from_dict({**stored, "factor_set": NEW_ID}))
    # 10 t diesel = 30.95909637… tCO2; 50 × 10⁴ Nm³ natural gas = 1 081.0944045 tCO2 (docs/emissions.md)
    assert old.total_tco2e == new.total_tco2e
    assert old.total_tco2e.quantize(Decimal("0.000001")) == Decimal("1112.053501")
    assert old.factor_set == new.factor_set == NEW_ID


def test_a_line_calculated_under_the_old_id_cites_the_new_document() -> None:
    inventory = calculate(
        CalcInput(lines=(make_line(1, "combustion", "10", "t", fuel="柴油"),), factor_set=OLD_ID)
    )
    source = inventory.lines[0].trace.factors[0].source
    assert source is not None and source.document == "GB/T 32151 附录C 表C.1 (2024)"
    assert "GB/T 32151.22" not in source.document

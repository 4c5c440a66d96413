"""Sector factor sets (issue 14 item 2) and grid factors published after the release (item 5), in the
pure calculator: only values the reference gives, each with its document, edition, table and year; a part
whose tables are not in the reference carries no number; a published grid factor comes before the shipped
one and names its document."""

from decimal import Decimal

import pytest

from engine.emissions import CalcError, CalcInput, calculate, inventory_to_json
from engine.emissions.factors import ORGANIZATION_CONFIDENCE, FactorTier, grid_factor, published_grid_factor
from engine.emissions.loader import calc_input_from_dict
from engine.emissions.sector_sets import NOT_TRANSCRIBED, sector_set, sector_sets
from tests.emissions.test_emissions_calc import make_line

D = Decimal
PARTS_IN_SCOPE = {
    "GB/T 32151.1-2015",  # power
    "GB/T 32151.4-2026",  # aluminium
    "GB/T 32151.5-2026",  # steel
    "GB/T 32151.7-2023",  # flat glass
    "GB/T 32151.8-2023",  # cement
    "GB/T 32151.13-2023",  # coking
    "GB/T 32151.34-2024",  # carbon materials
    "GB/T 32151.41-2024",  # industrial silicon
}


def test_every_part_of_the_reference_is_a_set_with_its_metadata() -> None:
    sets = sector_sets()
    assert set(sets) >= PARTS_IN_SCOPE
    assert {"ceramics", "lime", "chemicals"} <= set(sets)
    for found in sets.values():
        assert found.sector_zh and found.sector_en and found.document and found.confidence
    assert sets["GB/T 32151.8-2023"].effective_from == "2024-07-01"
    assert sets["GB/T 32151.5-2026"].effective_from == "2026-10-01"


def test_a_part_whose_tables_are_not_in_the_reference_ships_no_number() -> None:
    not_transcribed = [found for found in sector_sets().values() if found.status == NOT_TRANSCRIBED]
    assert {found.id for found in not_transcribed} >= {
        "GB/T 32151.1-2015",
        "GB/T 32151.4-2026",
        "GB/T 32151.5-2026",
        "GB/T 32151.7-2023",
        "GB/T 32151.8-2023",
        "GB/T 32151.13-2023",
        "GB/T 32151.41-2024",
        "ceramics",
        "lime",
        "chemicals",
    }
    assert all(not found.factors and not found.transcribed for found in not_transcribed)


def test_shipped_values_are_the_references_with_their_tags() -> None:
    steel = sector_set("steel-2013")
    assert {(f.key, f.value, f.unit, f.source.confidence) for f in steel.factors} == {
        ("steel_electrode", D("3.663"), "tCO2/t", "S1"),
        ("steel_ferrochrome", D("0.275"), "tCO2/t", "S1"),
    }
    # the [U] values of the reference are not shipped
    assert not any(f.value in (D("0.440"), D("0.471"), D("0.172"), D("0.0154")) for f in steel.factors)
    aluminium = {f.key: f for f in sector_set("aluminium-guideline-2013").factors}
    assert (
        aluminium["aluminium_ef_cf4"].value == D("0.034")
        and aluminium["aluminium_ef_cf4"].unit == "kg CF4/t-Al"
    )
    cement = {f.key: f for f in sector_set("cement-guideline-2013").factors}
    assert (
        cement["clinker_co2_per_cao"].value == D(44) / D(56)
        and cement["clinker_co2_per_cao"].value_text == "44/56"
    )
    gas = {f.key: f for f in sector_set("GB/T 32151.34-2024").factors}
    assert (gas["natural_gas_ncv"].value, gas["natural_gas_ncv"].table_ref) == (D("389.31"), "附录C 表C.1")
    carbonates = {f.key: f.value for f in sector_set("stoichiometric").factors}
    assert carbonates["caco3"] == D("0.43971") and sector_set("stoichiometric").confidence == "D"
    for found in sector_sets().values():
        for factor in found.factors:
            assert factor.source.document and factor.source.confidence in {"S1", "S2", "D"}


def test_a_chosen_sector_set_lends_a_material_its_factor() -> None:
    line = make_line(1, "process", "120", "t", material="石墨电极")
    with pytest.raises(CalcError) as caught:
        calculate(CalcInput(lines=(line,)))
    assert caught.value.field == "material"
    inventory = calculate(CalcInput(lines=(line,), sector_set="steel-guideline-2013"))
    # 120 t × 3.663 tCO2/t = 439.56 tCO2
    assert inventory.total_tco2e == D("439.560")
    result = inventory.lines[0]
    assert result.trace.factors[0].source is not None and result.trace.factors[0].source.confidence == "S1"
    assert (
        result.trace.choice.tier is FactorTier.NATIONAL
        and "steel-guideline-2013" in result.trace.choice.reason_en
    )
    assert inventory_to_json(inventory)["sector_set"] == "steel-guideline-2013"


def test_an_unknown_sector_set_is_named() -> None:
    with pytest.raises(CalcError) as caught:
        calculate(
            CalcInput(lines=(make_line(1, "process", "1", "t", material="石灰石"),), sector_set="steel-2099")
        )
    assert caught.value.field == "sector_set"


def test_the_file_format_takes_a_sector_set() -> None:
    document = {
        "sector_set": "steel-2013",
        "lines": [{"category": "process", "material": "电极", "quantity": 10, "unit": "t"}],
    }
    assert calculate(calc_input_from_dict(document)).total_tco2e == D("36.630")


# ---------------------------------------------------------------- grid factors published after the release


def _hunan_2024() -> object:
    return published_grid_factor(
        region="湖南省", year=2024, value=D("0.4811"), document="公告2026年第1号（示例）"
    )


def test_a_published_factor_fills_a_year_the_release_does_not_have() -> None:
    with pytest.raises(CalcError):
        grid_factor(region="湖南", year=2024)
    factor = _hunan_2024()
    found, choice = grid_factor(region="湖南", year=2024, published=(factor,))  # type: ignore[arg-type]
    assert found.value == D("0.4811") and found.level == "provincial" and found.region == "湖南"
    assert found.source.confidence == ORGANIZATION_CONFIDENCE
    assert choice.tier is FactorTier.PROVINCIAL and "公告2026年第1号" in choice.reason_zh


def test_a_published_factor_comes_before_the_shipped_one() -> None:
    corrected = published_grid_factor(
        region="湖南", year=2023, value=D("0.5000"), document="更正公告（示例）"
    )
    found, _ = grid_factor(region="湖南", year=2023, published=(corrected,))
    assert found.value == D("0.5000")
    assert grid_factor(region="湖南", year=2023)[0].value == D("0.4976")


def test_a_published_factor_is_checked() -> None:
    with pytest.raises(CalcError) as caught:
        published_grid_factor(region="火星", year=2024, value=D("0.5"), document="x")
    assert caught.value.field == "region"
    with pytest.raises(CalcError) as caught:
        published_grid_factor(region="湖南", year=2024, value=D("5"), document="x")
    assert caught.value.field == "value"


def test_stored_inputs_with_grid_factors_recalculate() -> None:
    document = {
        "grid_factors": [
            {"region": "湖南", "year": 2024, "value": "0.4811", "document": "公告2026年第1号（示例）"}
        ],
        "lines": [
            {
                "category": "purchased_electricity",
                "quantity": 1000,
                "unit": "MWh",
                "region": "湖南",
                "year": 2024,
            }
        ],
    }
    inventory = calculate(calc_input_from_dict(document))
    assert inventory.total_tco2e == D("481.1")
    with pytest.raises(CalcError) as caught:
        calc_input_from_dict({**document, "grid_factors": [{"region": "湖南", "year": 2024, "value": "9"}]})
    fields = {issue.field for issue in caught.value.issues}
    assert "grid_factors[1].document" in fields

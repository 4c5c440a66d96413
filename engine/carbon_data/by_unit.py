"""The year's emissions of each source and of each unit of the organization tree (4.3): every calculator
line belongs to a source and every source to a unit, so a unit's own emissions are its sources' lines;
the tree page adds those of the units below it (engine.identity.org_tree.TreeNode.rolled_up)."""

from collections import Counter
from decimal import Decimal

from sqlmodel import Session

from engine.carbon_data.inventory import build_inventory
from engine.carbon_data.sources import list_sources


def emissions_by_source(session: Session, *, org_id: int, year: int) -> dict[int, Decimal]:
    """tCO2e counted in the total, by the line's source (EmissionsDataError or CalcError when the
    inventory cannot be built); a source without readings in the year is absent."""
    result = build_inventory(session, org_id=org_id, year=year)
    amounts: dict[int, Decimal] = {}
    for line in result.inventory.lines:
        if not line.counted_in_total or line.line not in result.line_sources:
            continue
        source_id = result.line_sources[line.line][0]
        amounts[source_id] = amounts.get(source_id, Decimal(0)) + line.tco2e
    return amounts


def emissions_by_unit(session: Session, *, org_id: int, year: int) -> dict[int, Decimal]:
    """tCO2e counted in the total, by the unit of the line's source (EmissionsDataError or CalcError when
    the inventory cannot be built)."""
    unit_of = {source.id: source.org_unit_id for source in list_sources(session, org_id=org_id)}
    amounts: dict[int, Decimal] = {}
    for source_id, tco2e in emissions_by_source(session, org_id=org_id, year=year).items():
        unit_id = unit_of.get(source_id)
        if unit_id is not None:
            amounts[unit_id] = amounts.get(unit_id, Decimal(0)) + tco2e
    return amounts


def sources_by_unit(session: Session, *, org_id: int) -> Counter[int]:
    return Counter(source.org_unit_id for source in list_sources(session, org_id=org_id))

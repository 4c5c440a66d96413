"""The year's figures as reported: the inventory of the latest frozen snapshot (else calculated now) and
the emission intensity of every product with output recorded for the year. The annual GHG report and the
intensity targets both take them from here, so that a document and the pages never disagree."""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlmodel import Session

from engine.carbon_data.cache import cached_inventory
from engine.carbon_data.editions import EDITION_2015
from engine.carbon_data.inputs import production_totals
from engine.carbon_data.snapshots import latest_snapshot
from engine.emissions import Intensity, Inventory, Production, intensity
from engine.emissions.classification import View, classify
from engine.emissions.factors import DEFAULT_FACTOR_SET, DEFAULT_GRID_CALIBER, DEFAULT_GWP_SET


@dataclass(frozen=True)
class AnnualFigures:
    year: int
    inventory: dict[str, Any]  # the calculator's JSON (engine.emissions.inventory_to_json)
    total_tco2e: Decimal
    snapshot_id: int | None  # the frozen snapshot the figures come from; None: calculated from current data
    intensities: dict[int, Intensity]  # by product id, for the products with output in the year
    gbt32150_edition: str = (
        EDITION_2015  # the snapshot's (before editions were recorded: 2015), else the year's
    )


def annual_figures(session: Session, *, org_id: int, year: int) -> AnnualFigures:
    """The year's inventory (latest snapshot, else live; EmissionsDataError when it cannot be built) and
    the intensity of each product with output in the year."""
    snapshot = latest_snapshot(session, org_id=org_id, year=year)
    if snapshot is not None:
        inventory, total, snapshot_id = snapshot.result, snapshot.total_tco2e, snapshot.id
        edition = snapshot.gbt32150_edition or EDITION_2015
    else:
        result = cached_inventory(session, org_id=org_id, year=year)
        inventory, total, snapshot_id = result.json, result.total_tco2e, None
        edition = result.gbt32150_edition
    return AnnualFigures(
        year=year,
        inventory=inventory,
        total_tco2e=total,
        snapshot_id=snapshot_id,
        intensities=product_intensities(session, org_id=org_id, year=year, total_tco2e=total),
        gbt32150_edition=edition,
    )


def product_intensities(
    session: Session, *, org_id: int, year: int, total_tco2e: Decimal
) -> dict[int, Intensity]:
    """``total_tco2e`` per unit of each product with output in ``year`` (and per 10⁴ CNY where its output
    value is recorded for every month with output)."""
    return {
        product_id: intensity(
            total_only(total_tco2e),
            production=Production(
                product=produced.name,
                quantity=produced.quantity,
                unit=produced.unit,
                output_value_10k_cny=produced.output_value_10k_cny,
            ),
        )
        for product_id, produced in production_totals(session, org_id=org_id, year=year).items()
        if produced.quantity > 0
    }


def total_only(total: Decimal) -> Inventory:
    """An inventory that holds nothing but its total (what an intensity divides)."""
    return Inventory(
        factor_set=DEFAULT_FACTOR_SET,
        gwp_set=DEFAULT_GWP_SET,
        grid_caliber=DEFAULT_GRID_CALIBER,
        lines=(),
        total_tco2e=total,
        by_category={},
        by_gas={},
        gas_mass_t={},
        by_org_unit={},
        by_period={},
        biomass_co2_t=Decimal(0),
    )


def classified(document: Mapping[str, Any]) -> tuple[View, ...]:
    """The GB/T 32150, ISO 14064-1 and GHG Protocol views of an inventory's JSON (a snapshot's result, the
    live inventory's summary): its category totals regrouped, biomass CO2 apart."""
    return classify(
        {key: Decimal(str(value)) for key, value in (document.get("by_category") or {}).items()},
        biomass_co2_t=Decimal(str(document.get("biomass_co2_t") or 0)),
    )

"""What the inventory page shows around the year's inventory — baselines, targets, snapshots, what stands in
the way of freezing, substituted months, measured values without a source, the year's settings — kept
under the version of the organization's data (engine.versioned_cache).

The version is the organization's audit chain position (every audited write moves it), every input stamp
of the organization (writes that bypass the services bump these) and the China date (nothing here is
meant to change with the clock, but a day's bound keeps it so). Reading them costs two indexed reads; the
pieces cost a dozen queries and most of a page view. The values are read-only: the ORM rows among them
are detached once their session ends, with every column the page reads already loaded."""

from dataclasses import dataclass

from sqlmodel import Session

from engine.audit import chain_position
from engine.carbon_data.editions import YearSettings, year_settings
from engine.carbon_data.models import InventorySnapshot
from engine.carbon_data.provenance import Measurement, unsourced
from engine.carbon_data.snapshots import list_snapshots, snapshot_blockers
from engine.carbon_data.versions import all_input_stamps
from engine.dqcp.report import SubstitutionLine, substitutions_in_year
from engine.forms.spec import Text
from engine.planning.baselines import BaselineStatus, TargetStatus, baselines_overview, targets_overview
from engine.versioned_cache import VersionedCache
from engine.workflow.computed import china_today


@dataclass(frozen=True)
class InventoryOverview:
    baselines: list[BaselineStatus]
    targets: list[TargetStatus]
    snapshots: list[InventorySnapshot]  # newest first, without their inputs and results
    blockers: list[Text]  # what stands in the way of freezing the year
    substitutions: list[SubstitutionLine]  # months filled under the DQCP's missing-data rules
    unsourced: list[Measurement]  # measured values that do not name their lab report
    settings: YearSettings  # the year's GB/T 32150 edition and GWP set


_overviews: VersionedCache[InventoryOverview] = VersionedCache(max_entries=128)


def inventory_overview(session: Session, *, org_id: int, year: int) -> InventoryOverview:
    """The pieces of the inventory page for ``year``, computed once per version of the organization's data."""
    key = (
        str(session.get_bind().engine.url),
        org_id,
        year,
        china_today(),
        chain_position(session, org_id=org_id),
        all_input_stamps(session, org_id=org_id),
    )
    return _overviews.get(key, lambda: _build(session, org_id=org_id, year=year))


def _build(session: Session, *, org_id: int, year: int) -> InventoryOverview:
    return InventoryOverview(
        baselines=baselines_overview(session, org_id=org_id),
        targets=targets_overview(session, org_id=org_id, current_year=year),
        snapshots=list_snapshots(session, org_id=org_id, year=year, light=True),
        blockers=snapshot_blockers(session, org_id=org_id, year=year),
        substitutions=substitutions_in_year(session, year=year),
        unsourced=unsourced(session, org_id=org_id, year=year),
        settings=year_settings(session, org_id=org_id, year=year),
    )

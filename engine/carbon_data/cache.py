"""Computed inventories kept under the version of their inputs (engine.carbon_data.versions).

The key is (database, organization, year, options, every-year stamp, the year's stamp), read from the
database per call (engine.versioned_cache). The stamps are read *before* the inputs: a result is then never
older than its key. A failed build (EmissionsDataError, CalcError) is kept too, so a year with a problem
does not recompute on every view."""

from typing import Any

from sqlmodel import Session

from engine.carbon_data.errors import EmissionsDataError
from engine.carbon_data.inventory import InventoryResult, build_inventory
from engine.carbon_data.versions import input_stamps
from engine.emissions import CalcError
from engine.versioned_cache import VersionedCache

MAX_ENTRIES = 64  # results of 6,000 lines weigh a few MB each

_inventories: VersionedCache[InventoryResult] = VersionedCache(
    max_entries=MAX_ENTRIES, keep_errors=(EmissionsDataError, CalcError)
)


def cached_inventory(session: Session, *, org_id: int, year: int, **options: Any) -> InventoryResult:
    """build_inventory(…), or the result computed earlier from the same inputs. Only for reading: in a
    transaction that writes inputs, call it after the write has bumped the version (the services do)."""
    every, this_year = input_stamps(session, org_id=org_id, year=year)
    if every is None and this_year is None:  # nothing written through the services: nothing to key on
        return build_inventory(session, org_id=org_id, year=year, **options)
    # The database too: two databases (tests' copies of one seed) may hold the same stamps.
    key = (str(session.get_bind().engine.url), org_id, year, tuple(sorted(options.items())), every, this_year)

    def build() -> InventoryResult:
        result = build_inventory(session, org_id=org_id, year=year, **options)
        result.summary  # noqa: B018 — computed once here, not by each reader
        return result

    return _inventories.get(key, build)

"""Computed inventories kept under the version of their inputs (engine.carbon_data.versions).

The key is (organization, year, options, every-year stamp, the year's stamp), read from the database per
call, so that a write committed by any process is seen by the next read everywhere; the values live in this
process (a small LRU). The stamps are read *before* the inputs: a result is then never older than its key.
A failed build (EmissionsDataError, CalcError) is kept too, so a year with a problem does not recompute on
every view."""

import threading
from collections import OrderedDict
from typing import Any

from sqlmodel import Session

from engine.carbon_data.errors import EmissionsDataError
from engine.carbon_data.inventory import InventoryResult, build_inventory
from engine.carbon_data.versions import input_stamps
from engine.emissions import CalcError

MAX_ENTRIES = 64  # results of 6,000 lines weigh a few MB each

_entries: OrderedDict[tuple[Any, ...], InventoryResult | EmissionsDataError | CalcError] = OrderedDict()
_building: dict[tuple[Any, ...], threading.Lock] = {}
_lock = threading.Lock()


def _get(key: tuple[Any, ...]) -> InventoryResult | EmissionsDataError | CalcError | None:
    with _lock:
        found = _entries.get(key)
        if found is not None:
            _entries.move_to_end(key)
        return found


def cached_inventory(session: Session, *, org_id: int, year: int, **options: Any) -> InventoryResult:
    """build_inventory(…), or the result computed earlier from the same inputs. Only for reading: in a
    transaction that writes inputs, call it after the write has bumped the version (the services do)."""
    every, this_year = input_stamps(session, org_id=org_id, year=year)
    if every is None and this_year is None:  # nothing written through the services: nothing to key on
        return build_inventory(session, org_id=org_id, year=year, **options)
    # The database too: two databases (tests' copies of one seed) may hold the same stamps.
    key = (str(session.get_bind().engine.url), org_id, year, tuple(sorted(options.items())), every, this_year)
    found = _get(key)
    if found is None:
        # One build per key: after a write, the views that arrive meanwhile wait for it, not build it too.
        with _lock:
            building = _building.setdefault(key, threading.Lock())
        with building:
            found = _get(key)
            if found is None:
                try:
                    found = build_inventory(session, org_id=org_id, year=year, **options)
                    found.summary  # noqa: B018 — computed once here, not by each reader
                except (EmissionsDataError, CalcError) as error:
                    found = error
                with _lock:
                    _entries[key] = found
                    while len(_entries) > MAX_ENTRIES:
                        _entries.popitem(last=False)
        with _lock:
            _building.pop(key, None)
    if isinstance(found, Exception):
        raise found.with_traceback(None)  # a kept exception must not grow a traceback per raise
    return found

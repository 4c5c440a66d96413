"""RELIABILITY T27, short (`python -m bench.migrations` runs every revision): the demo enterprise taken back
to earlier revisions and upgraded to the head keeps every earlier row and column, its audit chains and its
triggers; three `tanguan db upgrade` processes on one PostgreSQL database: one applies, two wait and find
nothing to do."""

import pytest

from bench.migrations import concurrent_upgrades, copies, rehearse, revisions
from bench.t25 import scratch_database
from engine.db import Database
from engine.migrate import downgrade
from tests.conftest import NO_POSTGRES, POSTGRES_URL

# The first release; the two around 0014, which rebuilds evidence_file that monthly filings refer to (on
# SQLite this failed with foreign keys enforced); the one before the head.
CHOSEN = ("0001", "0013", "0014", "0018")


def test_upgrades_from_earlier_revisions_keep_the_data_the_chain_and_the_triggers(backend):
    assert set(CHOSEN) <= set(revisions())
    with copies(backend, POSTGRES_URL) as made:
        assert sum(name.startswith("audit_event_no_") for name in made.head_triggers) == 2, made.head_triggers
        for revision in CHOSEN:
            result = rehearse(made.copy(f"r{revision}"), revision, head_triggers=made.head_triggers)
            print(backend, result)
            assert result.rows > 500 and result.changed == [], result
            assert result.chains == result.chains_intact == 2, result
            assert result.missing_triggers == set(), result


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason=NO_POSTGRES)
def test_three_concurrent_upgrades_one_applies_the_others_wait_and_do_nothing():
    assert POSTGRES_URL is not None
    with scratch_database(POSTGRES_URL, prefix="t27") as url:
        result = concurrent_upgrades(url, processes=3)
        print(result)
        assert (result.applied, result.idle, result.failed) == (1, 2, 0), result.outputs
        assert result.waited == 3, result.outputs  # all three queued behind the lock held by the test
        database = Database(url)
        try:
            downgrade(database.engine, "0010")
        finally:
            database.dispose()
        again = concurrent_upgrades(url, processes=3)
        assert (again.applied, again.idle, again.failed) == (1, 2, 0), again.outputs
        every = revisions()
        later = every[every.index("0010") + 1 :]
        assert f"applied {len(later)} migrations ({later[0]} … {later[-1]})" in " ".join(again.outputs)

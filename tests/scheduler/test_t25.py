"""RELIABILITY T25, short: real `tanguan scheduler` processes on one PostgreSQL database (bench/t25.py;
`python -m bench.t25` is the long run) — 3 processes, 4 simulated minutes, the leader killed after the
second, every process stopped for a simulated hour, then 2 more minutes."""

import pytest

from bench.t25 import Plan, run_t25
from tests.conftest import NO_POSTGRES, POSTGRES_URL

pytestmark = pytest.mark.postgres


@pytest.mark.skipif(not POSTGRES_URL, reason=NO_POSTGRES)
def test_t25_exactly_once_failover_and_catch_up_after_downtime():
    assert POSTGRES_URL is not None
    figures = run_t25(
        POSTGRES_URL,
        Plan(
            instances=1,
            workers=3,
            minutes=4,
            kill_at=2,
            after=2,
            records_per_org=18,
            orgs=1,
            startup_seconds=10,
        ),
    )
    assert figures["executions_per_slot"] == 1.0, figures
    assert figures["slots_missed"] == figures["slots_run_twice"] == 0, figures
    assert figures["downtime_slots_replayed"] == 0, figures  # missed slots coalesce into the next one
    assert 1 <= figures["failover_intervals"] <= 2, figures
    assert figures["due_actions_before_downtime"] > 0 and figures["due_actions_missed_before_downtime"] == 0
    assert figures["unexpected_actions"] == figures["duplicate_reminders"] == 0, figures
    assert figures["notifications_per_action"] == 1.0, figures
    assert figures["fell_due_during_downtime"] > 0, figures
    assert figures["after_downtime_overdue_processed_once"] == 1.0, figures

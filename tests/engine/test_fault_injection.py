"""RELIABILITY T23, short: a transition killed by SIGKILL at injected points (after the state UPDATE, after
the audit INSERT, before COMMIT, while the evidence file is written, after COMMIT before its events are
dispatched, after COMMIT and dispatch, during the evidence pack's DOCX rendering), then the database reopened
and checked — state ⇔ audit row ⇔ outbox row — and the scheduler's outbox redelivery run: every event
delivered exactly once (bench/faults.py; `python -m bench.faults` runs the catalogue's 200 trials per
database)."""

import os

from bench.faults import POINTS, run_faults

TRIALS = int(os.environ.get("TANGUAN_FAULT_TRIALS", "14"))  # 2 per point; more by the variable


def test_t23_a_killed_transition_leaves_all_or_nothing_and_a_healthy_database(
    backend, database_url, tmp_path
):
    figures = run_faults(database_url, tmp_path, trials=TRIALS, backend=backend, parallel=4)
    print("\n" + "\n".join(figures.lines()))
    assert figures.failures == []
    assert len(figures.trials) == TRIALS and {trial.point for trial in figures.trials} == set(POINTS)
    assert all(
        trial.killed and trial.consistent and trial.healthy and trial.chain_ok for trial in figures.trials
    )
    assert not any(trial.pack_left for trial in figures.trials)
    assert figures.orphans_before_gc > 0 and figures.orphans_after_gc == 0
    outbox = figures.outbox
    assert outbox is not None and outbox.undispatched_after_trials > 0 and outbox.redelivered > 0
    assert outbox.not_delivered_once == outbox.undispatched_after_redelivery == outbox.redelivered_again == 0

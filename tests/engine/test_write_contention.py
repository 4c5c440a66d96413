"""RELIABILITY T24, short: 8 processes × 50 read-then-write transactions through the app's unit of work on
one SQLite file (bench/contention.py; `python -m bench.contention` is the catalogue's 8 × 500). Every
pooled connection has the pragmas; no "database is locked"; no lost update; the chain verifies."""

from bench.contention import run_contention


def test_t24_eight_processes_write_without_locked_errors_on_connections_with_the_pragmas(tmp_path):
    figures = run_contention(tmp_path, processes=8, transactions=50)
    print("\n" + "\n".join(figures.lines()))
    assert figures.bad_pragmas == [], figures.bad_pragmas
    assert figures.connections_checked >= 8  # at least one per process, each checked
    assert figures.locked == 0 and figures.other_errors == [], figures.other_errors[:5]
    assert figures.committed == figures.transactions == 400
    assert figures.lost_updates == 0
    assert figures.chain_ok and figures.chain_events == 400 + 1  # and the organization's creation

"""RELIABILITY T28, short: 50 asyncio users for ``TANGUAN_LOAD_SECONDS`` (30) against the app served by
uvicorn on a real socket over the seeded demo, each thinking 1–2 s between requests — 80 % reads (list,
record page, htmx partial, dashboard), 15 % form writes, 5 % transitions and evidence uploads — then the
database checked against what the users saw committed
(bench/load.py; `python -m bench.load --minutes 10` is the catalogue's run against `tanguan serve`).
Latencies are printed, not asserted: the server shares this process and the machine (the benchmark's
figures are in docs/benchmarks.md)."""

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

from bench.load import _drive, check_database, figures
from tests.serving import served_in_thread

SECONDS = float(os.environ.get("TANGUAN_LOAD_SECONDS", "30"))
USERS = 50


def test_t28_fifty_users_no_server_error_no_lost_update_and_the_chain_verifies(web):
    with served_in_thread(web.app) as port, ThreadPoolExecutor(1) as own_thread:
        # A thread of its own: after the browser tests Playwright's event loop runs in this one.
        tally, elapsed = own_thread.submit(
            asyncio.run, _drive(f"http://127.0.0.1:{port}", users=USERS, seconds=SECONDS, seed=28)
        ).result()
    after = check_database(web.db.url, tally)
    print("\n" + "\n".join(figures(web.db.engine.dialect.name, tally, elapsed, after, USERS)))
    assert tally.server_errors == 0 and tally.transport_errors == 0, tally.refused[:10]
    assert tally.refused == [], tally.refused[:10]
    assert all(tally.latencies[kind] for kind in ("read", "form", "transition")), "a class never ran"
    assert after.records_checked > 0 and after.lost_updates == 0 and after.audit_mismatches == 0
    assert after.uploads_checked > 0 and after.uploads_missing == 0
    assert after.chain_ok

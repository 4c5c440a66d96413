"""Twenty signing transitions at the same instant while other clients write, against `tanguan serve` over
real HTTP with production Argon2, on SQLite and PostgreSQL: no "database is locked", no 5xx, every batch
verified. The figures (p50/p99) are printed; `python -m bench.signing` is the longer run."""

from bench.signing import demo_server, report, run_burst

SIGNERS = 20
WRITERS = 3


def test_twenty_concurrent_signatures_while_others_write(database_url, capsys):
    with demo_server(database_url=database_url) as server:
        burst = run_burst(server.base_url, signers=SIGNERS, writers=WRITERS)
        log = server.log()
    lines = report(burst, backend=database_url.split(":", 1)[0].split("+")[0], server_log=log)
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert burst.failed == []
    assert len(burst.signing_ms) == SIGNERS
    assert burst.write_ms, "the writers got nothing through while the signatures ran"
    assert burst.server_errors == 0
    assert burst.locked == 0 and "database is locked" not in log
    assert "Traceback" not in log

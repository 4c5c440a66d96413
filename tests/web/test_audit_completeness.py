"""T01 audit completeness (RELIABILITY.md): random operations over HTTP across every kind of record, the
database before and after each compared with the audit rows it appended (tests/web/audit_completeness.py).

The CI run is 200 operations; more by environment: TANGUAN_T01_OPERATIONS=2000 TANGUAN_T01_SEED=7."""

import os

from sqlalchemy import text

from engine.audit import verify_chain
from tests.web.audit_completeness import RECORD_TYPES, Driver

OPERATIONS = int(os.environ.get("TANGUAN_T01_OPERATIONS", "200"))
SEED = int(os.environ.get("TANGUAN_T01_SEED", "2026"))


def test_every_change_made_over_http_is_in_the_audit_trail(web):
    driver = Driver(web, seed=SEED)
    tally = driver.run(OPERATIONS)
    print("\n" + tally.line())
    for miss in tally.misses[:20]:
        print("  not audited:", miss)
    for key in sorted(RECORD_TYPES - set(tally.processes)):
        print("  not changed:", key, tally.refused.get(key))
    for missing in tally.reasons_missing[:20]:
        print("  no reason:", missing)
    for bad in tally.bad_events[:20]:
        print("  incomplete audit row:", bad)
    with web.db.engine.connect() as connection:
        for (org_id,) in connection.execute(text("SELECT org_id FROM audit_chain_head")).all():
            assert verify_chain(connection, org_id=org_id).ok
    assert sum(tally.ops.values()) == OPERATIONS
    assert sum(tally.accepted.values()) >= OPERATIONS // 4, "too few operations changed anything"
    assert tally.misses == [] and sum(tally.audited.values()) == sum(tally.actual.values())
    assert tally.bad_events == []
    assert tally.reasons_present == tally.reasons_needed
    assert set(tally.processes) >= RECORD_TYPES, sorted(RECORD_TYPES - set(tally.processes))
    assert {"upload", "evidence_withdraw", "reading", "sign"} <= set(tally.accepted)

"""The audit chain: linear under concurrency, tamper detected at the exact seq, on both databases."""

import random
import threading
from contextlib import contextmanager

import pytest
from sqlalchemy import text

from engine.audit import SYSTEM, Actor, append_event, canonical_json, chain_hash, field_changes, verify_chain
from engine.identity.models import OrganizationCreate
from engine.identity.organizations import create_organization


def make_org(db, slug="chain") -> int:
    with db.unit_of_work(all_orgs=True) as uow:
        return create_organization(
            uow.session, data=OrganizationCreate(slug=slug, name=slug), actor=SYSTEM
        ).id


def append_many(db, org_id: int, count: int) -> None:
    with db.unit_of_work(org_id=org_id) as uow:
        for i in range(count):
            append_event(
                uow.session,
                org_id=org_id,
                actor=Actor(7, "李娜"),
                subject_type="record",
                subject_id=i % 97,
                action="transition",
                from_state="assessed",
                to_state="root_cause",
                changes={"severity": ["minor", "major"], "qty": [i, i + 1]},
                reason=f"原因 {i}",
            )


def test_an_event_records_every_required_field(db):
    org_id = make_org(db)
    append_many(db, org_id, 1)
    with db.engine.connect() as connection:
        row = connection.execute(text("SELECT * FROM audit_event WHERE seq = 2")).mappings().one()
    assert row["actor_id"] == 7 and row["actor_name"] == "李娜"
    assert (row["subject_type"], row["subject_id"], row["action"]) == ("record", "0", "transition")
    assert (row["from_state"], row["to_state"], row["reason"]) == ("assessed", "root_cause", "原因 0")
    assert row["ts"].endswith("Z") and len(row["ts"]) == 27
    assert row["hash"] == chain_hash(row["prev_hash"], row["payload"])
    assert '"changes":{"qty":[0,1],"severity":["minor","major"]}' in row["payload"]
    assert row["payload"] == canonical_json(__import__("orjson").loads(row["payload"]))


def test_field_changes_lists_old_and_new_values():
    assert field_changes({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": "x"}) == {"b": [2, 3], "c": [None, "x"]}


def test_fifty_concurrent_writers_keep_one_linear_chain(db):
    org_id = make_org(db)
    errors: list[Exception] = []
    start = threading.Barrier(50)

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(100):
                with db.unit_of_work(org_id=org_id) as uow:
                    append_event(
                        uow.session,
                        org_id=org_id,
                        actor=Actor(n, f"writer {n}"),
                        subject_type="record",
                        subject_id=n,
                        action="update",
                        changes={"i": [i, i + 1]},
                    )
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with db.engine.connect() as connection:
        events, forks, max_seq = connection.execute(
            text(
                "SELECT count(*), count(*) - count(DISTINCT prev_hash), max(seq) "
                "FROM audit_event WHERE org_id = :o AND actor_id IS NOT NULL"
            ),
            {"o": org_id},
        ).one()
        total, distinct_seq, top = connection.execute(
            text("SELECT count(*), count(DISTINCT seq), max(seq) FROM audit_event WHERE org_id = :o"),
            {"o": org_id},
        ).one()
        check = verify_chain(connection, org_id=org_id)
    gaps = top - total
    print(f"\nT04 concurrent chain: events={events} forks={forks} gaps={gaps} verify_ok={check.ok}")
    assert (events, forks, gaps, distinct_seq) == (5000, 0, 0, total)
    assert check.ok and check.events_checked == total


@contextmanager
def tamper_transaction(db):
    """A transaction with the append-only triggers out of the way (as a DB superuser could); rolled back."""
    with db.engine.connect() as connection:
        transaction = connection.begin()
        if db.is_sqlite:
            connection.execute(text("DROP TRIGGER audit_event_no_update"))
            connection.execute(text("DROP TRIGGER audit_event_no_delete"))
        else:
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        try:
            yield connection
        finally:
            transaction.rollback()


def _row(connection, seq):
    return connection.execute(text("SELECT * FROM audit_event WHERE seq = :s"), {"s": seq}).mappings().one()


def edit_field(connection, seq, _rng):
    connection.execute(text("UPDATE audit_event SET reason = 'forged' WHERE seq = :s"), {"s": seq})
    return seq


def edit_payload(connection, seq, _rng):
    connection.execute(
        text("UPDATE audit_event SET payload = replace(payload, 'major', 'minor') WHERE seq = :s"), {"s": seq}
    )
    return seq


def delete_row(connection, seq, _rng):
    connection.execute(text("DELETE FROM audit_event WHERE seq = :s"), {"s": seq})
    return seq


def swap_rows(connection, seq, rng):
    other = seq + rng.randint(1, 50)
    connection.execute(text("UPDATE audit_event SET seq = -1 WHERE seq = :s"), {"s": seq})
    connection.execute(text("UPDATE audit_event SET seq = :s WHERE seq = :o"), {"s": seq, "o": other})
    connection.execute(text("UPDATE audit_event SET seq = :o WHERE seq = -1"), {"o": other})
    return seq


def insert_forged_row(connection, seq, _rng):
    """A well-formed forged event slipped in at ``seq``, correctly linked to its predecessor."""
    previous = _row(connection, seq - 1)
    connection.execute(text("UPDATE audit_event SET seq = -(seq + 1) WHERE seq >= :s"), {"s": seq})
    connection.execute(text("UPDATE audit_event SET seq = -seq WHERE seq < 0"))
    data = {
        key: previous[key]
        for key in (
            "org_id",
            "ts",
            "actor_id",
            "actor_name",
            "subject_type",
            "subject_id",
            "action",
            "from_state",
            "to_state",
            "reason",
            "signature_id",
        )
    }
    data.update(seq=seq, reason="forged")
    payload = canonical_json({**data, "changes": {}})
    row = {
        **data,
        "prev_hash": previous["hash"],
        "hash": chain_hash(previous["hash"], payload),
        "payload": payload,
    }
    columns = ", ".join(row)
    placeholders = ", ".join(f":{name}" for name in row)
    connection.execute(text(f"INSERT INTO audit_event ({columns}) VALUES ({placeholders})"), row)
    return seq


TAMPERS = [edit_field, edit_payload, delete_row, swap_rows, insert_forged_row]


@pytest.mark.slow
def test_tampering_is_detected_at_the_exact_seq(db):
    org_id = make_org(db)
    append_many(db, org_id, 9999)  # 10,000 events with the organization's own
    rng = random.Random(20261125)
    detected = {tamper.__name__: 0 for tamper in TAMPERS}
    trials = 25
    with db.engine.connect() as connection:
        assert verify_chain(connection, org_id=org_id).ok
    for tamper in TAMPERS:
        for _ in range(trials):
            target = rng.randint(2, 9900)
            with tamper_transaction(db) as connection:
                expected = tamper(connection, target, rng)
                check = verify_chain(connection, org_id=org_id)
            assert check.broken_seq == expected, (tamper.__name__, target, check)
            detected[tamper.__name__] += 1
    false_positives = 0
    for _ in range(trials):
        with db.engine.connect() as connection:
            false_positives += not verify_chain(connection, org_id=org_id).ok
    print(f"\nT03 tamper detection: {detected} of {trials} each; false positives {false_positives}/{trials}")
    assert all(count == trials for count in detected.values())
    assert false_positives == 0


def test_truncating_the_tail_is_detected_through_the_chain_head(db):
    org_id = make_org(db)
    append_many(db, org_id, 20)
    with tamper_transaction(db) as connection:
        connection.execute(text("DELETE FROM audit_event WHERE seq > 18"))
        check = verify_chain(connection, org_id=org_id)
    assert (check.broken_seq, check.events_checked) == (19, 18)
    assert "events removed" in check.problem


def test_verifying_while_others_append_finds_no_false_break(db):
    """Found by T23 on PostgreSQL: READ COMMITTED saw an append committed between the walk and the chain
    head, and reported "events removed". The walk and the head are one snapshot now."""
    org_id = make_org(db, slug="verify-live")
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            append_many(db, org_id, 1)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        checks = []
        for _ in range(40):
            with db.engine.connect() as connection:
                checks.append(verify_chain(connection, org_id=org_id))
    finally:
        stop.set()
        thread.join()
    assert [check.problem for check in checks if not check.ok] == []

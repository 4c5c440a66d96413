"""The write generation moves with every committed change, in its transaction, and with nothing else."""

import pytest
from sqlalchemy import bindparam, insert, text, update

from engine.audit import SYSTEM, append_event
from engine.db import Database, DriverStatement
from engine.identity.models import Organization, OrganizationCreate
from engine.identity.organizations import create_organization
from engine.models.base import utcnow
from engine.scheduler.models import SchedulerClaim
from engine.write_generation import current, writes_data


def generation(db) -> int:
    with db.engine.connect() as connection:
        return current(connection)


def make_org(db, slug: str) -> int:
    with db.unit_of_work(all_orgs=True) as uow:
        org = create_organization(uow.session, data=OrganizationCreate(name=slug, slug=slug), actor=SYSTEM)
        assert org.id is not None
        return org.id


def test_a_committed_change_moves_it_once_and_a_rollback_or_a_read_does_not(db):
    start = generation(db)
    org_id = make_org(db, "gen-a")
    after_write = generation(db)
    assert after_write == start + 1  # one transaction, one move, however many rows it wrote

    with pytest.raises(RuntimeError), db.unit_of_work(org_id=org_id) as uow:
        uow.session.execute(text("UPDATE organization SET name = 'x' WHERE id = :id"), {"id": org_id})
        raise RuntimeError("rolled back")
    assert generation(db) == after_write

    with db.read_session(org_id=org_id) as session:
        session.execute(text("SELECT count(*) FROM organization")).scalar()
        session.commit()  # a read that commits moves nothing
    with db.engine.begin() as connection:
        connection.execute(text("WITH o AS (SELECT id FROM organization) SELECT count(*) FROM o"))
    assert generation(db) == after_write

    # The next transaction on a connection that rolled back a write does not inherit its note.
    with db.write_engine.begin() as connection:
        connection.execute(text("SELECT 1"))
    assert generation(db) == after_write


def test_bookkeeping_writes_leave_it_and_any_other_write_moves_it(db):
    org_id = make_org(db, "gen-b")
    before = generation(db)
    with db.write_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO scheduler_claim (job, org_id, subject, period, done_at) "
                "VALUES ('slot', 0, '', '2026-12-08T01:00', CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(text("UPDATE user_session SET last_seen_at = CURRENT_TIMESTAMP WHERE id = -1"))
    assert generation(db) == before

    with db.write_engine.begin() as connection:  # Core, outside any session
        connection.execute(
            update(Organization).where(Organization.id == org_id).values(name="新名字")  # type: ignore[arg-type]
        )
    assert generation(db) == before + 1

    with db.write_engine.begin() as connection:  # a raw statement through exec_driver_sql
        connection.exec_driver_sql(f"UPDATE organization SET name = 'raw' WHERE id = {org_id}")
    assert generation(db) == before + 2


def test_statements_sent_to_the_driver_directly_move_it(db):
    """The audit append and the hot-path statements skip SQLAlchemy's execution events."""
    org_id = make_org(db, "gen-c")
    before = generation(db)
    with db.unit_of_work(org_id=org_id) as uow:
        append_event(
            uow.session,
            org_id=org_id,
            actor=SYSTEM,
            subject_type="organization",
            subject_id=org_id,
            action="x",
        )
    assert generation(db) == before + 1

    rename = DriverStatement(
        update(Organization).where(Organization.id == bindparam("org_id")).values(name=bindparam("name"))  # type: ignore[arg-type]
    )
    with db.write_engine.begin() as connection:
        rename.execute(connection, {"org_id": org_id, "name": "直接"})
    assert generation(db) == before + 2

    claim = DriverStatement(
        insert(SchedulerClaim).values(
            job=bindparam("job"),
            org_id=bindparam("org"),
            subject=bindparam("subject"),
            period=bindparam("period"),
            done_at=bindparam("at"),
        )
    )
    with db.write_engine.begin() as connection:
        claim.execute(connection, {"job": "slot", "org": 0, "subject": "", "period": "p1", "at": utcnow()})
    assert generation(db) == before + 2  # a bookkeeping table, even straight to the driver


def test_a_second_process_on_the_same_database_sees_the_move(db):
    """Each instance reads the generation from the database: a write on one is seen by the other."""
    other = Database(db.url)
    try:
        before = generation(db)
        org_id = make_org(other, "gen-d")
        assert org_id
        assert generation(db) == before + 1
    finally:
        other.dispose()


@pytest.mark.parametrize(
    ("statement", "writes"),
    [
        ("SELECT * FROM record", False),
        ("  select 1", False),
        ("PRAGMA foreign_keys=ON", False),
        ("WITH RECURSIVE t(x) AS (SELECT 1) SELECT x FROM t", False),
        ('INSERT INTO "record" (id) VALUES (1)', True),
        ("INSERT OR IGNORE INTO notification (id) VALUES (1)", True),
        ("UPDATE record SET state = 'x'", True),
        ("DELETE FROM notification WHERE id = 1", True),
        ("UPDATE user_session SET last_seen_at = now()", False),
        ("INSERT INTO scheduler_claim (job) VALUES ('x')", False),
        ("DELETE FROM event_outbox WHERE id = 1", False),
        ("WITH x AS (SELECT 1) UPDATE record SET state = 'y'", True),
        ("CREATE TABLE t (x int)", True),
        ("TRUNCATE record", True),
    ],
)
def test_which_statements_count_as_writes(statement, writes):
    assert writes_data(statement) is writes

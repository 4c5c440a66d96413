"""The database layer: pragmas on every pooled connection, BEGIN IMMEDIATE, the unit of work."""

import sqlite3
import threading

import pytest
from sqlalchemy import text
from sqlmodel import select

from engine.audit import SYSTEM
from engine.config import ConfigError
from engine.db import Database
from engine.identity.models import Organization, OrganizationCreate
from engine.identity.organizations import create_organization


def test_every_pooled_sqlite_connection_carries_the_pragmas(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'p.sqlite3'}", busy_timeout_ms=7000)
    held = [db.engine.connect() for _ in range(8)]  # eight distinct pooled connections at once
    try:
        seen = set()
        for connection in held:
            raw = connection.connection.dbapi_connection
            seen.add(id(raw))
            values = {
                name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
            }
            assert values == {
                "journal_mode": "wal",
                "foreign_keys": 1,
                "busy_timeout": 7000,
                "synchronous": 2,
            }
        assert len(seen) == 8
    finally:
        for connection in held:
            connection.close()
        db.dispose()


def test_unit_of_work_takes_the_write_lock_at_begin(tmp_path):
    path = tmp_path / "lock.sqlite3"
    db = Database(f"sqlite:///{path}")
    with db.engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    with db.unit_of_work() as uow:
        uow.session.execute(text("SELECT 1"))  # no write yet: only BEGIN IMMEDIATE can hold the lock
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
    other.execute("BEGIN IMMEDIATE")  # released at commit
    other.execute("ROLLBACK")
    other.close()
    db.dispose()


def test_read_session_does_not_block_writers(tmp_path):
    path = tmp_path / "read.sqlite3"
    db = Database(f"sqlite:///{path}")
    with db.engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    with db.read_session() as session:
        session.execute(text("SELECT count(*) FROM t"))
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO t VALUES (1)")
        other.execute("COMMIT")
    other.close()
    db.dispose()


def test_unit_of_work_rolls_back_everything_on_error(db):
    with pytest.raises(RuntimeError), db.unit_of_work(all_orgs=True) as uow:
        create_organization(uow.session, data=OrganizationCreate(slug="gone", name="回滚"), actor=SYSTEM)
        raise RuntimeError("boom")
    with db.read_session(all_orgs=True) as session:
        assert session.exec(select(Organization)).all() == []
        assert session.execute(text("SELECT count(*) FROM audit_event")).scalar() == 0
        assert session.execute(text("SELECT count(*) FROM audit_chain_head")).scalar() == 0


def test_after_commit_effects_run_only_after_a_commit(db):
    ran: list[str] = []
    with db.unit_of_work(all_orgs=True) as uow:
        create_organization(uow.session, data=OrganizationCreate(slug="ok", name="提交"), actor=SYSTEM)
        uow.on_commit(lambda: ran.append("mail"))
        assert ran == []
    assert ran == ["mail"]
    with pytest.raises(RuntimeError), db.unit_of_work(all_orgs=True) as uow:
        uow.on_commit(lambda: ran.append("never"))
        raise RuntimeError("boom")
    assert ran == ["mail"]


@pytest.mark.parametrize("url", ["mysql://x@y/z", "not a url at all", "postgresql+nosuchdriver://x@y/z"])
def test_a_bad_database_url_names_the_setting(url):
    with pytest.raises(ConfigError, match="TANGUAN_DATABASE_URL"):
        Database(url)


def test_concurrent_sqlite_writers_never_see_database_is_locked(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'c.sqlite3'}", pool_size=8)
    with db.engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE counter (n INTEGER)")
        connection.exec_driver_sql("INSERT INTO counter VALUES (0)")
    errors: list[Exception] = []

    def writer() -> None:
        try:
            for _ in range(50):
                with db.unit_of_work() as uow:  # read-then-write: the classic deadlock under BEGIN DEFERRED
                    n = uow.session.execute(text("SELECT n FROM counter")).scalar()
                    uow.session.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with db.read_session() as session:
        assert session.execute(text("SELECT n FROM counter")).scalar() == 400
    db.dispose()

"""The database's write generation: one counter that every committed transaction that changed data moves,
in that transaction (docs/adr/0048). Whatever is derived from the database and kept (rendered pages) is
kept under the generation it was read at, so a write committed by any process, audited or not, is seen
by the next read everywhere.

A connection notes that it wrote when it runs an INSERT, UPDATE or DELETE (or any statement that is not a
plain read) on a table other than the bookkeeping ones below; when it commits, one UPDATE of the counter
goes to the driver just before the COMMIT, in the same transaction. A rollback forgets the note. An
unrecognised statement counts as a write: a needless move costs a cache miss, a missed one a stale page.
"""

import re
from typing import Any

from sqlalchemy import BigInteger, Connection, Engine, event
from sqlmodel import Field, SQLModel

TABLE = "write_generation"
# Written on reads or by the machinery, never shown by a kept page: sessions and tokens (checked on every
# request before a kept page is served), failed sign-ins, the scheduler's run claims (a claim with an
# effect is written with the effect's own rows), the outbox's dispatch marks and receipts (likewise).
BOOKKEEPING_TABLES = frozenset(
    {"user_session", "api_token", "login_attempt", "scheduler_claim", "event_outbox", "event_receipt"}
)
_WROTE = "tanguan_wrote"
_CHANGED_SCHEMA = "tanguan_changed_schema"  # a migration (up or down) may have made or dropped the table
_DDL = ("CREATE", "DROP", "ALTER")
_READS = (
    "SELECT",
    "PRAGMA",
    "BEGIN",
    "SAVEPOINT",
    "RELEASE",
    "ROLLBACK",
    "SET ",
    "SHOW",
    "COMMIT",
    "EXPLAIN",
)
_DML = re.compile(r'\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)', re.IGNORECASE)
_WRITE_WORD = re.compile(r"\b(?:INSERT|UPDATE|DELETE)\b", re.IGNORECASE)
_BUMP_SQL = f"UPDATE {TABLE} SET n = n + 1 WHERE id = 1"
_READ_SQL = f"SELECT n FROM {TABLE} WHERE id = 1"


class WriteGeneration(SQLModel, table=True):
    """One row (id 1): the number of committed transactions that changed data since the table was made."""

    __tablename__ = TABLE

    id: int = Field(primary_key=True)
    n: int = Field(default=0, sa_type=BigInteger)  # 2^31 commits is months for a busy group


def writes_data(statement: str) -> bool:
    """Whether ``statement`` may change what a page shows (a write to a table that is not bookkeeping)."""
    head = statement.lstrip()[:10].upper()
    if head.startswith(_READS):
        return False
    dml = _DML.match(statement)
    if dml:
        return dml.group(1).lower() not in BOOKKEEPING_TABLES
    if head.startswith("WITH"):  # a CTE is a read unless it writes
        return _WRITE_WORD.search(statement) is not None
    return True  # DDL and anything unrecognised


def note_write(connection: Connection, *, table: str) -> None:
    """For statements sent to the driver directly (engine.db.DriverStatement): they pass no engine event."""
    if table not in BOOKKEEPING_TABLES:
        connection.info[_WROTE] = True


def current(connection: Connection) -> int:
    """The generation as committed (or as this connection's own transaction has moved it)."""
    driver = connection.connection.driver_connection
    assert driver is not None, "the connection is closed"
    cursor = driver.cursor()
    try:
        cursor.execute(_READ_SQL)
        row = cursor.fetchone()
    finally:
        cursor.close()
    return int(row[0]) if row else 0


def track_writes(engine: Engine) -> None:
    """Move the generation in every transaction on ``engine`` that changes data. Before the table exists
    (a database not yet upgraded, or downgraded below it) nothing is moved; it is looked for again until it
    is there, and after every transaction that changed the schema."""
    state = {"ready": False}

    @event.listens_for(engine, "before_cursor_execute")
    def _note(connection: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        if not connection.info.get(_WROTE) and writes_data(statement):
            connection.info[_WROTE] = True
        if statement.lstrip()[:6].upper().startswith(_DDL):
            connection.info[_CHANGED_SCHEMA] = True

    @event.listens_for(engine, "commit")
    def _bump(connection: Connection) -> None:
        if not connection.info.pop(_WROTE, False):
            return
        driver = connection.connection.driver_connection
        assert driver is not None, "the connection is closed"
        cursor = driver.cursor()
        try:
            if not state["ready"] or connection.info.pop(_CHANGED_SCHEMA, False):
                state["ready"] = _table_exists(cursor, connection.dialect.name)
            if state["ready"]:
                cursor.execute(_BUMP_SQL)
        finally:
            cursor.close()

    @event.listens_for(engine, "rollback")
    def _forget(connection: Connection) -> None:
        connection.info.pop(_WROTE, None)
        connection.info.pop(_CHANGED_SCHEMA, None)


def _table_exists(cursor: Any, dialect: str) -> bool:
    if dialect == "sqlite":
        cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,))
    else:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", (TABLE,))
        return bool(cursor.fetchone()[0])
    return cursor.fetchone() is not None

"""What a database holds, in a form two databases can be compared by: each table's row count and a SHA-256
over its rows in primary-key order, and the triggers present.

Values are read through the driver (no ORM conversions) and each is written with its Python type, so a
checksum compares a database with a copy on the same backend (a backup with its restore, a database before
and after a migration), not a SQLite file with a PostgreSQL database."""

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Connection, inspect, text

from engine.db import driver_cursor

BATCH = 5000


@dataclass(frozen=True)
class TableSum:
    rows: int
    sha256: str

    def as_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "sha256": self.sha256}


def _encoded(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bytes | bytearray | memoryview):
        return "b" + bytes(value).hex()
    if isinstance(value, dict | list):
        return "j" + orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    if isinstance(value, Decimal):
        return "d" + format(value, "f")
    return type(value).__name__[0] + str(value)


def table_columns(connection: Connection) -> dict[str, list[str]]:
    """Every table of the connection's schema and its columns, in their order."""
    inspector = inspect(connection)
    return {
        table: [column["name"] for column in inspector.get_columns(table)]
        for table in sorted(inspector.get_table_names())
    }


def table_checksums(
    connection: Connection, *, columns: Mapping[str, Sequence[str]] | None = None
) -> dict[str, TableSum]:
    """Each table's rows and checksum; ``columns`` limits both to some tables and columns (a schema of an
    earlier revision, compared after an upgrade that added columns)."""
    if connection.dialect.name == "postgresql":  # timestamps with a time zone print in the session's zone
        connection.execute(text("SET LOCAL TIME ZONE 'UTC'"))
    inspector = inspect(connection)
    wanted = columns if columns is not None else table_columns(connection)
    quote = connection.dialect.identifier_preparer.quote
    sums = {}
    for table, names in sorted(wanted.items()):
        keys = inspector.get_pk_constraint(table).get("constrained_columns") or list(names)
        order = ", ".join(quote(name) for name in keys)
        listed = ", ".join(quote(name) for name in names)
        cursor = driver_cursor(connection)
        cursor.execute(f"SELECT {listed} FROM {quote(table)} ORDER BY {order}")
        digest, count = hashlib.sha256(), 0
        while batch := cursor.fetchmany(BATCH):
            for row in batch:
                digest.update(("\x1f".join(_encoded(value) for value in row) + "\x1e").encode())
            count += len(batch)
        sums[table] = TableSum(count, digest.hexdigest())
    return sums


def triggers(connection: Connection) -> set[str]:
    """The names of the user-defined triggers (the audit trail's append-only guards among them)."""
    if connection.dialect.name == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    else:
        sql = (
            "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE NOT t.tgisinternal AND c.relnamespace = to_regnamespace(current_schema())::oid"
        )
    return {name for (name,) in connection.execute(text(sql))}


def compare(expected: Mapping[str, TableSum], actual: Mapping[str, TableSum]) -> list[str]:
    """The tables that differ, each with how (empty when all match)."""
    problems = []
    for table in sorted(set(expected) | set(actual)):
        want, got = expected.get(table), actual.get(table)
        if want is None or got is None:
            problems.append(f"{table}: {'missing' if got is None else 'not in the manifest'}")
        elif want.rows != got.rows:
            problems.append(f"{table}: {got.rows} rows, expected {want.rows}")
        elif want.sha256 != got.sha256:
            problems.append(f"{table}: same {got.rows} rows, different content")
    return problems

"""Engine creation, SQLite pragmas and the unit of work.

SQLite runs in WAL mode with ``synchronous=FULL``; the Python driver's own transaction handling is
switched off so that write transactions can start with ``BEGIN IMMEDIATE`` (a deferred BEGIN that
later upgrades to a write lock fails with "database is locked" instead of waiting).
"""

import logging
import sqlite3
from collections import namedtuple
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlmodel import Session

from engine.config import ConfigError, Settings
from engine.events import SUBSCRIBERS, DomainEvent, Subscriber, mark_outcomes, publish, take_pending
from engine.models.base import utcnow
from engine.tenancy import bind_session_scope
from engine.write_generation import note_write, track_writes

SQLITE_PRAGMAS = {"journal_mode": "wal", "foreign_keys": 1, "synchronous": 2}
WRITE_OPTION = "tanguan_write"
log = logging.getLogger("tanguan.events")


def create_db_engine(url: str, *, busy_timeout_ms: int = 15000, **kwargs: Any) -> Engine:
    """An engine for ``url``; a malformed URL raises ConfigError naming the setting."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"TANGUAN_DATABASE_URL is not a valid database URL: {exc}") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"TANGUAN_DATABASE_URL: backend {parsed.get_backend_name()!r} is not supported "
            "(use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB)"
        )
    try:
        if parsed.get_backend_name() == "sqlite":
            # A pool as large as the server's worker threads: opening SQLite connections is not free.
            kwargs = {"pool_size": 20, "max_overflow": 20, **kwargs}
            engine = create_engine(parsed, connect_args={"timeout": busy_timeout_ms / 1000}, **kwargs)
            _install_sqlite_pragmas(engine, busy_timeout_ms=busy_timeout_ms)
        else:
            # SQLAlchemy's default (5 + 10) is far below the server's 40 worker threads: under load (T28)
            # requests waited 30 s for a connection and answered 500. 10 kept, up to 30 at a peak: size
            # the server's max_connections for 30 per instance plus the scheduler.
            kwargs = {"pool_size": 10, "max_overflow": 20, **kwargs}
            engine = create_engine(parsed, pool_pre_ping=True, **kwargs)
    except (NoSuchModuleError, ImportError) as exc:
        raise ConfigError(f"TANGUAN_DATABASE_URL: driver not available: {exc}") from None
    track_writes(engine)  # what is kept under the write generation sees every change (ADR 0048)
    return engine


def _install_sqlite_pragmas(engine: Engine, *, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        is_write = connection.get_execution_options().get(WRITE_OPTION, False)
        begin = "BEGIN IMMEDIATE" if is_write else "BEGIN"
        try:  # on the driver's connection: SQLAlchemy's statement machinery costs more than the BEGIN
            connection.connection.driver_connection.execute(begin)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(begin, (), exc, sqlite3.Error) from exc


@dataclass
class UnitOfWork:
    """One write transaction. Domain events collected here run after a successful commit."""

    session: Session
    after_commit: list[Callable[[], None]] = field(default_factory=list)

    def on_commit(self, effect: Callable[[], None]) -> None:
        self.after_commit.append(effect)


class Database:
    """The application's database: one engine, read sessions and write units of work."""

    def __init__(self, url: str, *, busy_timeout_ms: int = 15000, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = create_db_engine(url, busy_timeout_ms=busy_timeout_ms, **engine_kwargs)
        self.write_engine = self.engine.execution_options(**{WRITE_OPTION: True})
        # For a read of one statement (who is signed in, on every request): on PostgreSQL it needs no BEGIN
        # and no ROLLBACK, two of its three round trips; SQLite is in-process and stays as it is.
        self.one_statement_engine = (
            self.engine
            if self.engine.dialect.name == "sqlite"
            else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self.subscribers: list[Subscriber] = []
        # Copied into every session's ``info``: what services in the transaction need of the running
        # application (the workflow catalog and the signing key), without the core knowing what it is.
        self.session_info: dict[str, Any] = {SUBSCRIBERS: self.subscribers}

    def subscribe(self, subscriber: "Subscriber") -> None:
        """Receive the domain events of every unit of work that commits (once per subscriber)."""
        if subscriber not in self.subscribers:
            self.subscribers.append(subscriber)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Database":
        if not settings.database_url:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        return cls(settings.effective_database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def read_session(self, *, org_id: int | None = None, all_orgs: bool = False) -> Iterator[Session]:
        """A session for reading. Org-owned rows are filtered to ``org_id`` (see engine.tenancy)."""
        with Session(self.engine, expire_on_commit=False) as session:
            bind_session_scope(session, org_id=org_id, all_orgs=all_orgs)
            session.info.update(self.session_info)
            yield session

    @contextmanager
    def unit_of_work(self, *, org_id: int | None = None, all_orgs: bool = False) -> Iterator[UnitOfWork]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite): commit on success, roll back on error,
        then run the after-commit effects and publish the domain events it recorded."""
        with Session(self.write_engine, expire_on_commit=False) as session:
            bind_session_scope(session, org_id=org_id, all_orgs=all_orgs)
            session.info.update(self.session_info)
            uow = UnitOfWork(session=session)
            try:
                yield uow
                session.commit()
            except BaseException:
                session.rollback()
                take_pending(session)  # a rolled-back change announces nothing
                raise
            events = take_pending(session)
        for effect in uow.after_commit:
            effect()
        self.dispatch(events)

    def dispatch(self, events: list[DomainEvent]) -> None:
        """Publish committed events, then mark their outbox rows in a short transaction of their own. With
        no subscriber in this process the rows stay undispatched, for a process that has them (the
        scheduler's redelivery, docs/adr/0045)."""
        if not events or not self.subscribers:
            return
        outcomes = publish(events, subscribers=self.subscribers, database=self)
        try:
            with self.unit_of_work(all_orgs=True) as uow:
                mark_outcomes(uow.session, outcomes, now=utcnow())
        except Exception:  # the events were delivered; the rows are redelivered later (at least once)
            log.exception("could not mark %d outbox rows", len(outcomes))

    def dispose(self) -> None:
        self.engine.dispose()


class DriverStatement:
    """A Core statement compiled once per dialect and run on the driver's own cursor.

    For the few statements on the hot path of every transition and audit append: SQLAlchemy's
    per-execution work (cache key, execution context, result wrapping) costs several times the
    statement itself. The column types' own bind and result processors still convert the values,
    driver errors are still raised as SQLAlchemy's ``DBAPIError``, and the statement runs on the
    session's connection, inside its transaction. Every bound parameter must be named (``bindparam``)
    and given at execution; expanding (``IN``) parameters are not supported.
    """

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._compiled: dict[tuple[Any, ...], _CompiledDriverStatement] = {}

    def _for(self, dialect: Any) -> "_CompiledDriverStatement":
        # What the compiled SQL depends on (a server version decides RETURNING on SQLite, say).
        key = (dialect.name, dialect.driver, dialect.server_version_info)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = _CompiledDriverStatement(self.statement, dialect)
        return compiled

    def execute(self, connection: Connection, parameters: dict[str, Any]) -> Any:
        """The driver's cursor after executing (``rowcount``; rows through ``first``/``scalar``)."""
        return self._for(connection.dialect).execute(connection, parameters)

    def first(self, connection: Connection, parameters: dict[str, Any]) -> Any:
        """The first row as a named tuple, converted by the column types, or None."""
        compiled = self._for(connection.dialect)
        row = compiled.execute(connection, parameters).fetchone()
        return None if row is None else compiled.convert_row(row)

    def all(self, connection: Connection, parameters: dict[str, Any]) -> list[Any]:
        """Every row as a named tuple, converted by the column types."""
        compiled = self._for(connection.dialect)
        return [compiled.convert_row(row) for row in compiled.execute(connection, parameters).fetchall()]

    def scalar(self, connection: Connection, parameters: dict[str, Any]) -> Any:
        row = self.first(connection, parameters)
        return None if row is None else row[0]


def driver_cursor(connection: Connection) -> Any:
    """A cursor of the DB-API connection under ``connection`` (in its transaction)."""
    driver = connection.connection.driver_connection
    assert driver is not None, "the connection is closed"
    return driver.cursor()


class _CompiledDriverStatement:
    def __init__(self, statement: Any, dialect: Any) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        names = tuple(compiled.positiontup) if compiled.positional else tuple(compiled.binds)
        self.positional = compiled.positional
        expanding = [bind.key for bind in compiled.binds.values() if bind.expanding]
        if expanding:
            raise ValueError(f"expanding parameters are not supported: {expanding}")
        self.conversions = tuple(
            (name, compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in names
        )
        columns = list(statement.selected_columns if statement.is_select else statement.exported_columns)
        self.result_processors = [
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        ]
        self.row_type: Any = namedtuple("Row", [column.key for column in columns]) if columns else None
        self.error = dialect.loaded_dbapi.Error
        self.written_table: str | None = statement.table.name if statement.is_dml else None

    def execute(self, connection: Connection, parameters: dict[str, Any]) -> Any:
        converted = [
            (name, parameters[name] if convert is None else convert(parameters[name]))
            for name, convert in self.conversions
        ]
        values = tuple(value for _, value in converted) if self.positional else dict(converted)
        if self.written_table is not None:  # the driver's cursor passes no engine event
            note_write(connection, table=self.written_table)
        try:
            cursor = driver_cursor(connection)
            cursor.execute(self.sql, values)
        except self.error as exc:
            raise DBAPIError.instance(self.sql, values, exc, self.error) from exc
        return cursor

    def convert_row(self, row: tuple[Any, ...]) -> Any:
        assert self.row_type is not None, "the statement returns no rows"
        return self.row_type._make(
            value if processor is None else processor(value)
            for value, processor in zip(row, self.result_processors, strict=True)
        )

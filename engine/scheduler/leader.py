"""One leader among the instances sharing a PostgreSQL database: a session-level advisory lock held on a
dedicated connection (not from the pool). When the leader dies its connection closes and the lock goes
with it; the others try at every beat, so one takes over within an interval. On SQLite there is one
instance, and it leads."""

import logging

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import NullPool

from engine.db import Database

LEADER_LOCK_KEY = 7_331_019  # ADR 0019; the migration lock is 7_331_001
log = logging.getLogger("tanguan.scheduler")


class Leadership:
    def __init__(self, db: Database, *, key: int = LEADER_LOCK_KEY) -> None:
        self.db = db
        self.key = key
        self._engine: Engine | None = None
        self._connection: Connection | None = None

    @property
    def is_leader(self) -> bool:
        return self.db.is_sqlite or self._connection is not None

    def acquire(self) -> bool:
        """True while this instance leads: keeps the lock, or takes it when it is free."""
        if self.db.is_sqlite:
            return True
        if self._connection is not None:
            try:
                self._connection.execute(text("SELECT 1"))
                return True
            except Exception:  # the connection died: so did the lock
                log.warning("scheduler: lost the leader's connection")
                self._drop()
        if self._engine is None:
            self._engine = create_engine(self.db.engine.url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        connection = self._engine.connect()
        try:
            got = bool(
                connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}).scalar()
            )
        except Exception:
            connection.close()
            raise
        if got:
            self._connection = connection
            log.info("scheduler: this instance leads")
        else:
            connection.close()
        return got

    def _drop(self) -> None:
        if self._connection is not None:
            try:
                self._connection.invalidate()
                self._connection.close()
            except Exception:
                pass
            self._connection = None

    def release(self) -> None:
        """Give up the lead (stopping); also what a killed process's closed connection does."""
        if self._connection is not None:
            try:
                self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
            finally:
                self._drop()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

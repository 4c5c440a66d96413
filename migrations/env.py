"""Alembic environment: the metadata is Tanguan's SQLModel tables; SQLite runs in batch mode."""

import time

from alembic import context
from sqlalchemy import text
from sqlmodel import SQLModel

import engine.models  # noqa: F401  (registers every table)
from engine.db import create_db_engine
from engine.tenancy import ensure_row_level_security, scope_connection

MIGRATION_LOCK_KEY = 7_331_001  # one PostgreSQL advisory lock: concurrent upgrades queue

config = context.config
target_metadata = SQLModel.metadata


def _run(connection) -> None:
    applied = config.attributes.setdefault("applied", [])  # read by engine.migrate.upgrade_with_report

    def _applied(*, step, **_kwargs) -> None:
        if step.is_upgrade:
            applied.append(step.up_revision_id)

    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        on_version_apply=_applied,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Held to the end of the transaction; the current revision is read after it is taken.
            started = time.perf_counter()
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            config.attributes["lock_wait_seconds"] = time.perf_counter() - started
            scope_connection(connection, org_id=None, all_orgs=True)  # data migrations see every organization
        context.run_migrations()
        ensure_row_level_security(connection)  # tables added by any migration get the tenant policy


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    db_engine = create_db_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with db_engine.connect() as connection:
            _run(connection)
    finally:
        db_engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `tanguan db upgrade`")
run_migrations_online()

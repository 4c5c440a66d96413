"""Shared fixtures: a migrated database per test, on a real SQLite file and, where
TANGUAN_TEST_POSTGRES_URL is set, in a fresh PostgreSQL schema that is dropped afterwards."""

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from engine.config import Settings
from engine.db import Database
from engine.migrate import upgrade

# Cheaper Argon2 for the suite's many sign-ins; tests/engine/test_passwords.py checks the production
# parameters in a process without these variables.
os.environ.setdefault("TANGUAN_ARGON2_TIME_COST", "1")
os.environ.setdefault("TANGUAN_ARGON2_MEMORY_KIB", "8192")
os.environ.setdefault("TANGUAN_ARGON2_PARALLELISM", "1")
# Services run outside an app (no ProcessContext) sign with the configured key, as a script would.
os.environ.setdefault("TANGUAN_SECRET_KEY", "test-suite-installation-key-0123456789")

POSTGRES_URL = os.environ.get("TANGUAN_TEST_POSTGRES_URL")
NO_POSTGRES = "TANGUAN_TEST_POSTGRES_URL is not set: PostgreSQL variants skipped"
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def postgres_admin_url() -> str:
    return Settings(database_url=POSTGRES_URL).database_url


class PostgresSchema:
    """A throw-away schema; the returned URL puts it first on the search path."""

    def __init__(self) -> None:
        self.name = f"t_{uuid.uuid4().hex[:12]}"
        self.admin = create_engine(postgres_admin_url(), isolation_level="AUTOCOMMIT")
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{self.name}"'))

    @property
    def url(self) -> str:
        url = make_url(postgres_admin_url()).update_query_dict({"options": f"-csearch_path={self.name}"})
        return url.render_as_string(hide_password=False)

    def drop(self) -> None:
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{self.name}" CASCADE'))
        self.admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path) -> Iterator[str]:
    """An empty database URL; every test that uses it runs once per backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tanguan.sqlite3'}"
        return
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    schema = PostgresSchema()
    try:
        yield schema.url
    finally:
        schema.drop()


@pytest.fixture
def db(database_url) -> Iterator[Database]:
    """A migrated, empty database."""
    database = Database(database_url, busy_timeout_ms=30000)
    upgrade(database.engine)
    yield database
    database.dispose()

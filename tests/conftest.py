"""Shared fixtures: a migrated database per test, on a real SQLite file and, where
TANGUAN_TEST_POSTGRES_URL is set, in PostgreSQL.

Migrating (and, for the web tests, seeding the demo) costs seconds per test; copying a database prepared
once per session costs a tenth of one. So each test gets a copy of a session template: SQLite through its
backup API into the test's own file, PostgreSQL through ``CREATE DATABASE … TEMPLATE`` into a database of
its own that is dropped afterwards. The template was made by the same migrations and seeding, so a copy
is what the test would have built itself."""

import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from engine.config import Settings
from engine.db import Database
from engine.migrate import grant_application_role, upgrade

# Cheaper Argon2 for the suite's many sign-ins; tests/engine/test_passwords.py checks the production
# parameters in a process without these variables.
os.environ.setdefault("TANGUAN_ARGON2_TIME_COST", "1")
os.environ.setdefault("TANGUAN_ARGON2_MEMORY_KIB", "8192")
os.environ.setdefault("TANGUAN_ARGON2_PARALLELISM", "1")
# Services run outside an app (no ProcessContext) sign with the configured key, as a script would.
os.environ.setdefault("TANGUAN_SECRET_KEY", "test-suite-installation-key-0123456789")

POSTGRES_URL = os.environ.get("TANGUAN_TEST_POSTGRES_URL")
# Opt-in: PostgreSQL copies are used through an unprivileged role under row-level security, as in production
# (tests that inspect or tamper with raw SQL then see only what that role may see).
APP_ROLE = os.environ.get("TANGUAN_TEST_POSTGRES_APP_ROLE")
NO_POSTGRES = "TANGUAN_TEST_POSTGRES_URL is not set: PostgreSQL variants skipped"
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
BUSY_TIMEOUT_MS = 30000


def postgres_admin_url() -> str:
    return Settings(database_url=POSTGRES_URL).database_url


def create_application_role(connection, *, role: str) -> None:
    """An unprivileged login role (cluster-wide, made once) granted the database's tables as the app."""
    connection.execute(
        text(
            f"DO $$ BEGIN CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS; "
            "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
    )
    grant_application_role(connection, role=role)


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


class PostgresDatabase:
    """A throw-away database on the test server, empty or a copy of ``template`` (which nobody may be
    connected to while it is copied)."""

    def __init__(self, *, prefix: str, template: str | None = None) -> None:
        self.name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self.admin = create_engine(postgres_admin_url(), isolation_level="AUTOCOMMIT")
        copy = f' TEMPLATE "{template}"' if template else ""
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.name}"{copy}'))

    @property
    def url(self) -> str:
        return make_url(postgres_admin_url()).set(database=self.name).render_as_string(hide_password=False)

    def url_as(self, role: str) -> str:
        return make_url(self.url).set(username=role).render_as_string(hide_password=False)

    def drop(self) -> None:
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


class TemplateDatabases:
    """A database per backend, migrated and then ``prepare``d once per session (on first use); every
    ``copy`` is a fresh database with the same content."""

    def __init__(self, directory: Path, prepare: Callable[[Database], None]) -> None:
        self.directory = directory
        self.prepare = prepare
        self.sqlite_path: Path | None = None
        self.postgres: PostgresDatabase | None = None

    def _build(self, url: str) -> None:
        database = Database(url, busy_timeout_ms=BUSY_TIMEOUT_MS)
        try:
            upgrade(database.engine)
            self.prepare(database)
            if APP_ROLE and not database.is_sqlite:
                with database.engine.begin() as connection:
                    create_application_role(connection, role=APP_ROLE)
        finally:
            database.dispose()  # nobody may stay connected to a PostgreSQL template

    def _sqlite_template(self) -> Path:
        if self.sqlite_path is None:
            path = self.directory / "template.sqlite3"
            self._build(f"sqlite:///{path}")
            self.sqlite_path = path
        return self.sqlite_path

    def _postgres_template(self) -> str:
        if self.postgres is None:
            template = PostgresDatabase(prefix="tpl")
            try:
                self._build(template.url)
            except BaseException:
                template.drop()
                raise
            self.postgres = template
        return self.postgres.name

    @contextmanager
    def copy(self, backend: str, directory: Path) -> Iterator[Database]:
        if backend == "sqlite":
            target = directory / "tanguan.sqlite3"
            source, copy = sqlite3.connect(self._sqlite_template()), sqlite3.connect(target)
            with closing(source), closing(copy):
                source.backup(copy)
            database = Database(f"sqlite:///{target}", busy_timeout_ms=BUSY_TIMEOUT_MS)
            try:
                yield database
            finally:
                database.dispose()
            return
        clone = PostgresDatabase(prefix="t", template=self._postgres_template())
        try:
            database = Database(
                clone.url_as(APP_ROLE) if APP_ROLE else clone.url, busy_timeout_ms=BUSY_TIMEOUT_MS
            )
            try:
                yield database
            finally:
                database.dispose()
        finally:
            clone.drop()

    def drop(self) -> None:
        if self.postgres is not None:
            self.postgres.drop()


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    """The database backend; every test that uses a database runs once per backend."""
    if request.param == "postgresql" and not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    return request.param


@pytest.fixture
def database_url(backend, tmp_path) -> Iterator[str]:
    """An empty database URL (not migrated: for tests that migrate it themselves, e.g. through the CLI)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'tanguan.sqlite3'}"
        return
    schema = PostgresSchema()
    try:
        yield schema.url
    finally:
        schema.drop()


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory) -> Iterator[TemplateDatabases]:
    templates = TemplateDatabases(tmp_path_factory.mktemp("migrated"), prepare=lambda _database: None)
    yield templates
    templates.drop()


@pytest.fixture
def db(backend, tmp_path, migrated_templates, request) -> Iterator[Database]:
    """A migrated, empty database: a copy of the session's migrated template."""
    assert "database_url" not in request.fixturenames, "db and database_url would be two databases"
    with migrated_templates.copy(backend, tmp_path) as database:
        yield database

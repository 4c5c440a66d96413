"""Schema migrations (Alembic, scripts in ``migrations/``) driven from code, not from an ini file."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


class SchemaTooNewError(RuntimeError):
    """The database was migrated by a newer Tanguan than this one."""


def alembic_config(*, url: str | None = None, connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@dataclass(frozen=True)
class SchemaStatus:
    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def schema_head() -> str:
    """The newest revision this code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migration scripts found")
    return head


def schema_status(engine: Engine) -> SchemaStatus:
    """Where the database stands; refuses a revision this code does not know (a newer schema)."""
    scripts = ScriptDirectory.from_config(alembic_config())
    head = schema_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    if current is not None and not _known(scripts, current):
        raise SchemaTooNewError(
            f"the database schema (revision {current}) is newer than this Tanguan (head {head}); "
            "upgrade Tanguan before using this database"
        )
    return SchemaStatus(current=current, head=head)


def known_revision(revision: str) -> bool:
    """Whether this code's migrations include ``revision`` (a backup or database of an older release)."""
    return _known(ScriptDirectory.from_config(alembic_config()), revision)


def _known(scripts: ScriptDirectory, revision: str) -> bool:
    try:
        return scripts.get_revision(revision) is not None
    except Exception:  # alembic raises several resolution errors for unknown ids
        return False


@dataclass(frozen=True)
class UpgradeReport:
    status: SchemaStatus
    applied: tuple[str, ...]  # the revisions this call applied; none when another process had done it
    lock_wait_seconds: float  # PostgreSQL: how long it queued behind another upgrade


def upgrade(engine: Engine) -> SchemaStatus:
    return upgrade_with_report(engine).status


def upgrade_with_report(engine: Engine) -> UpgradeReport:
    """Upgrade to the head revision. On PostgreSQL the migrations run under an advisory lock
    (migrations/env.py) and read the current revision once they hold it: of several processes upgrading
    at once, one applies and the others wait, then find nothing to do."""
    schema_status(engine)
    with _migrating(engine) as connection:
        config = alembic_config(connection=connection)
        command.upgrade(config, "head")
    applied = tuple(config.attributes.get("applied", ()))
    return UpgradeReport(schema_status(engine), applied, config.attributes.get("lock_wait_seconds", 0.0))


def downgrade(engine: Engine, revision: str) -> SchemaStatus:
    """Back to an earlier ``revision`` with the migrations' own downgrades (what a column or table added
    since holds is lost): for rehearsing an upgrade from it (bench.migrations)."""
    with _migrating(engine) as connection:
        command.downgrade(alembic_config(connection=connection), revision)
    return schema_status(engine)


class ForeignKeyError(RuntimeError):
    """A migration left rows referring to rows that do not exist (SQLite); nothing was committed."""


@contextmanager
def _migrating(engine: Engine) -> Iterator[Connection]:
    """The transaction migrations run in. SQLite alters a table by rebuilding it (Alembic's batch mode),
    and dropping the old copy of a table other rows refer to fails while foreign keys are enforced; so, as
    SQLite prescribes for such changes, enforcement is off during the migration and
    ``PRAGMA foreign_key_check`` must find nothing before the commit."""
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:  # outside any transaction, where the pragma takes effect
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with connection.begin():
                yield connection
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        table, rowid, parent, _ = broken[0]
                        raise ForeignKeyError(
                            f"migration left {len(broken)} rows referring to missing rows "
                            f"(first: {table} rowid {rowid} → {parent}); nothing was changed"
                        )
        finally:
            if sqlite:
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


# The audit trail and its checkpoints are append-only for the application (triggers refuse the rest too).
APPEND_ONLY_TABLES = ("audit_event", "audit_checkpoint")


class RoleError(ValueError):
    """The application role cannot be used as asked (it would bypass row-level security)."""


def grant_application_role(connection: Connection, *, role: str) -> None:
    """On PostgreSQL, let ``role`` use the schema as the application: read and write every table (append
    only to the audit trail) and use the sequences. The role must not own the tables, be a superuser or
    have BYPASSRLS, or row-level security would not apply to it."""
    if connection.dialect.name != "postgresql":
        raise RoleError("an application role is a PostgreSQL setting; SQLite has no roles")
    attributes = connection.execute(
        text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :role"), {"role": role}
    ).first()
    if attributes is None:
        raise RoleError(f"role {role!r} does not exist (CREATE ROLE {role} LOGIN PASSWORD '…')")
    owned = connection.execute(
        text("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tableowner = :role"),
        {"role": role},
    ).scalar_one()
    if attributes.rolsuper or attributes.rolbypassrls or owned:
        raise RoleError(
            f"role {role!r} is a superuser, has BYPASSRLS or owns tables: row-level security would not apply"
        )
    quoted = connection.dialect.identifier_preparer.quote(role)
    schema = connection.dialect.identifier_preparer.quote(
        connection.execute(text("SELECT current_schema()")).scalar_one()
    )
    connection.execute(text(f"GRANT USAGE ON SCHEMA {schema} TO {quoted}"))
    connection.execute(
        text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {quoted}")
    )
    for table in APPEND_ONLY_TABLES:
        connection.execute(text(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM {quoted}"))
    connection.execute(text(f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {schema} TO {quoted}"))
    # Tables and sequences later migrations create (run by this same owner) are the application's too.
    connection.execute(
        text(
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {quoted}"
        )
    )
    connection.execute(
        text(
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
            f"GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {quoted}"
        )
    )

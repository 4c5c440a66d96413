"""Schema migrations (Alembic, scripts in ``migrations/``) driven from code, not from an ini file."""

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

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


def schema_status(engine: Engine) -> SchemaStatus:
    """Where the database stands; refuses a revision this code does not know (a newer schema)."""
    scripts = ScriptDirectory.from_config(alembic_config())
    head = scripts.get_current_head()
    if head is None:
        raise RuntimeError("no migration scripts found")
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
    with engine.begin() as connection:
        config = alembic_config(connection=connection)
        command.upgrade(config, "head")
    applied = tuple(config.attributes.get("applied", ()))
    return UpgradeReport(schema_status(engine), applied, config.attributes.get("lock_wait_seconds", 0.0))

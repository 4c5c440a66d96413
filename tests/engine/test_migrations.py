"""Migrations: upgrade head on an empty database matches the models exactly; triggers guard the trail."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import SQLModel

import engine.models  # noqa: F401
from engine.audit import SYSTEM
from engine.identity.models import OrganizationCreate
from engine.identity.organizations import create_organization
from engine.migrate import SchemaTooNewError, schema_status, upgrade


def test_upgrade_head_leaves_nothing_for_autogenerate(db):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []
    assert schema_status(db.engine).up_to_date


def test_upgrade_twice_is_harmless(db):
    first = schema_status(db.engine)
    assert upgrade(db.engine) == first


@pytest.mark.parametrize("statement", ["UPDATE audit_event SET reason = 'x'", "DELETE FROM audit_event"])
def test_the_database_refuses_update_and_delete_on_the_audit_trail(db, statement):
    with db.unit_of_work(all_orgs=True) as uow:
        create_organization(uow.session, data=OrganizationCreate(slug="a", name="甲"), actor=SYSTEM)
    with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as connection:
        connection.execute(text(statement))
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM audit_event WHERE reason IS NULL")).scalar() == 1


def test_postgresql_refuses_truncate_of_the_audit_trail(db):
    if db.is_sqlite:
        pytest.skip("SQLite has no TRUNCATE")
    with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as connection:
        connection.execute(text("TRUNCATE audit_event"))


def test_a_newer_schema_than_the_code_is_refused(db):
    with db.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    with pytest.raises(SchemaTooNewError, match="newer than this Tanguan"):
        schema_status(db.engine)
    with pytest.raises(SchemaTooNewError):
        upgrade(db.engine)

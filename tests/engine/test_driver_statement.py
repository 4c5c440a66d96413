"""DriverStatement: the hot path's statements on the driver's cursor convert values exactly as Core does,
stay inside the session's transaction, and raise SQLAlchemy's errors."""

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from engine.audit import SYSTEM
from engine.db import DriverStatement
from engine.identity.models import OrganizationCreate
from engine.identity.organizations import create_organization
from engine.workflow.models import Record

_records = Record.__table__
_COLUMNS = (
    "org_id",
    "workflow_key",
    "workflow_version",
    "number",
    "title",
    "state",
    "data",
    "participants",
    "clause_refs",
    "due_date",
    "created_at",
    "updated_at",
    "version",
)
_INSERT = DriverStatement(
    insert(_records).values({name: bindparam(name) for name in _COLUMNS}).returning(_records.c.id)
)
_LOAD = DriverStatement(select(_records).where(_records.c.id == bindparam("record_id")))
_RENAME = DriverStatement(
    update(_records).where(_records.c.id == bindparam("record_id")).values(title=bindparam("title"))
)


def _values(org_id: int, number: str) -> dict:
    return {
        "org_id": org_id,
        "workflow_key": "nonconformity",
        "workflow_version": 1,
        "number": number,
        "title": "窑尾烟气在线监测数据缺失",
        "state": "reported",
        "data": {"actions": [{"owner": 3, "text": "更换探头"}], "severity": "major", "amount": "1.50"},
        "participants": {"create": [3]},
        "clause_refs": ["10.1"],
        "due_date": date(2026, 12, 31),
        "created_at": datetime(2026, 11, 29, 8, 30, 15, 123456, tzinfo=UTC),
        "updated_at": datetime(2026, 11, 29, 8, 30, 15, 123456, tzinfo=UTC),
        "version": 1,
    }


@pytest.fixture
def org_id(db) -> int:
    with db.unit_of_work(all_orgs=True) as uow:
        return create_organization(
            uow.session, data=OrganizationCreate(slug="drv", name="驱动"), actor=SYSTEM
        ).id


def test_values_round_trip_as_through_core(db, org_id):
    with db.unit_of_work(org_id=org_id) as uow:
        record_id = _INSERT.scalar(uow.session.connection(), _values(org_id, "NC-2026-0001"))
    with db.read_session(org_id=org_id) as session:
        through_core = session.connection().execute(select(_records).where(_records.c.id == record_id)).one()
        through_driver = _LOAD.first(session.connection(), {"record_id": record_id})
        missing = _LOAD.first(session.connection(), {"record_id": record_id + 1000})
    assert through_driver._asdict() == through_core._asdict()
    assert through_driver.data["actions"][0]["text"] == "更换探头"
    assert through_driver.due_date == date(2026, 12, 31)
    assert missing is None


def test_statements_run_inside_the_sessions_transaction(db, org_id):
    with db.unit_of_work(org_id=org_id) as uow:
        record_id = _INSERT.scalar(uow.session.connection(), _values(org_id, "NC-2026-0002"))
    with pytest.raises(RuntimeError), db.unit_of_work(org_id=org_id) as uow:
        changed = _RENAME.execute(uow.session.connection(), {"record_id": record_id, "title": "改"}).rowcount
        assert changed == 1
        raise RuntimeError("roll back")
    with db.read_session(org_id=org_id) as session:
        assert _LOAD.first(session.connection(), {"record_id": record_id}).title == "窑尾烟气在线监测数据缺失"


def test_driver_errors_are_sqlalchemy_errors(db, org_id):
    with db.unit_of_work(org_id=org_id) as uow:
        _INSERT.execute(uow.session.connection(), _values(org_id, "NC-2026-0003"))
    with pytest.raises(IntegrityError), db.unit_of_work(org_id=org_id) as uow:
        _INSERT.execute(uow.session.connection(), _values(org_id, "NC-2026-0003"))  # same number


def test_expanding_parameters_are_refused(db):
    statement = DriverStatement(
        select(_records.c.id).where(_records.c.id.in_(bindparam("ids", expanding=True)))
    )
    with db.engine.connect() as connection, pytest.raises(ValueError, match="expanding"):
        statement.execute(connection, {"ids": [1, 2]})

"""Fields that point at other rows (user, org unit, record) must point inside the organization; a unique
field's value must not be held by another record of the workflow in the organization."""

from collections.abc import Iterator
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session
from sqlmodel import col

from engine.db import DriverStatement
from engine.evidence.models import EvidenceFile
from engine.forms.spec import FieldSpec, FieldType, FormSpec
from engine.identity.models import Membership, Organization, OrgUnit
from engine.workflow.models import Record

# One prebuilt query per kind: does this id exist in the organization? (A form names one or two people
# or units, so a statement per id on the driver's cursor is cheaper than one expanding IN query.)
_TARGETS = {
    kind: DriverStatement(
        select(id_column).where(id_column == bindparam("target_id"), org_column == bindparam("org_id"))
    )
    for kind, (id_column, org_column) in {
        FieldType.user: (col(Membership.user_id), col(Membership.org_id)),
        FieldType.org_unit: (col(OrgUnit.id), col(OrgUnit.org_id)),
        FieldType.record_link: (col(Record.id), col(Record.org_id)),
        FieldType.evidence: (col(EvidenceFile.id), col(EvidenceFile.org_id)),
    }.items()
}
# A record link that names its workflow: the record must be one of that workflow's.
_RECORD_OF = DriverStatement(
    select(col(Record.id)).where(
        col(Record.id) == bindparam("target_id"),
        col(Record.org_id) == bindparam("org_id"),
        col(Record.workflow_key) == bindparam("workflow_key"),
    )
)
_MESSAGES = {
    FieldType.user: {"zh": "该用户不是本组织成员", "en": "This user is not a member of the organization"},
    FieldType.org_unit: {"zh": "本组织没有该部门/设施", "en": "No such unit in the organization"},
    FieldType.record_link: {"zh": "本组织没有该记录", "en": "No such record in the organization"},
    FieldType.evidence: {"zh": "本组织没有该证据文件", "en": "No such evidence file in the organization"},
}


def _references(
    fields: tuple[FieldSpec, ...], data: dict[str, Any], prefix: str = ""
) -> Iterator[tuple[str, FieldType, int, str | None]]:
    for field in fields:
        value = data.get(field.name)
        if field.type in _TARGETS and isinstance(value, int):
            yield f"{prefix}{field.name}", field.type, value, field.records_of
        elif field.type == FieldType.table and isinstance(value, list):
            for number, row in enumerate(value, start=1):
                yield from _references(field.columns, row, prefix=f"{prefix}{field.name}.{number}.")


def reference_errors(
    session: Session, *, org_id: int, form: FormSpec, data: dict[str, Any]
) -> dict[str, dict[str, str]]:
    """``{field path: message}`` for every reference outside the organization."""
    found = list(_references(form.fields, data))
    if not found:
        return {}
    connection = session.connection()

    def exists(kind: FieldType, value: int, workflow_key: str | None) -> bool:
        parameters = {"target_id": value, "org_id": org_id}
        if workflow_key is not None:
            return _RECORD_OF.first(connection, {**parameters, "workflow_key": workflow_key}) is not None
        return _TARGETS[kind].first(connection, parameters) is not None

    missing = {target for target in {(k, v, w) for _, k, v, w in found} if not exists(*target)}
    return {
        path: _MESSAGES[kind] for path, kind, value, workflow in found if (kind, value, workflow) in missing
    }


_TAKEN = {
    "zh": "已有记录使用该值（{number}），此项在本组织内不能重复",
    "en": "Already used by {number}: it must be unique",
}


def unique_errors(
    session: Session,
    *,
    org_id: int,
    workflow_key: str,
    form: FormSpec,
    data: dict[str, Any],
    record_id: int | None = None,
) -> dict[str, dict[str, str]]:
    """``{field: message}`` for each unique field whose value another record of the workflow in the
    organization holds (``record_id``: the record being written, which may keep its own value). Runs
    inside the write transaction: SQLite writers begin IMMEDIATE; on PostgreSQL the organization's row is
    locked first, so two writers of one organization check one after the other (ADR 0010)."""
    wanted = {name: data[name] for name in form.unique_fields if data.get(name) not in (None, "")}
    if not wanted:
        return {}
    session.execute(select(col(Organization.id)).where(col(Organization.id) == org_id).with_for_update())
    errors: dict[str, dict[str, str]] = {}
    for name, value in wanted.items():
        query = select(col(Record.number)).where(
            col(Record.org_id) == org_id,
            col(Record.workflow_key) == workflow_key,
            Record.data[name].as_string() == str(value),
        )
        if record_id is not None:
            query = query.where(col(Record.id) != record_id)
        number = session.execute(query.limit(1)).scalar()
        if number is not None:
            errors[name] = {lang: text.format(number=number) for lang, text in _TAKEN.items()}
    return errors

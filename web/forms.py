"""HTML form posts → the nested data a form spec validates (tables arrive as ``name-ROW-column``); and the
all-or-nothing save of the data-entry pages."""

import re
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import Request
from sqlmodel import Session
from starlette.datastructures import FormData, UploadFile

from engine.carbon_data.errors import DataIssue, EmissionsDataError
from engine.db import Database
from engine.evidence.lifecycle import period_from_form
from engine.evidence.store import EvidenceError, store_evidence
from engine.forms.spec import FieldType, FormSpec
from engine.values import parse_id, parse_year
from web.deps import Principal, actor_of, reporting_year

_CELL = re.compile(r"^(?P<table>[a-z][a-z0-9_]*)-(?P<row>\d{1,3})-(?P<column>[a-z][a-z0-9_]*)$")
SPARE_ROWS = 2  # empty rows offered under a table's filled ones


def parse_form(form: FormSpec, posted: FormData) -> dict[str, Any]:
    data: dict[str, Any] = {}
    tables: dict[str, dict[int, dict[str, Any]]] = {}
    for field in form.fields:
        if field.type == FieldType.multi_choice:
            data[field.name] = [
                value for value in posted.getlist(field.name) if isinstance(value, str) and value
            ]
        elif field.type != FieldType.table and isinstance(posted.get(field.name), str):
            data[field.name] = posted.get(field.name)
    table_names = {field.name for field in form.fields if field.type == FieldType.table}
    for key, value in posted.multi_items():
        match = _CELL.match(key)
        if match and match["table"] in table_names and isinstance(value, str):
            tables.setdefault(match["table"], {}).setdefault(int(match["row"]), {})[match["column"]] = value
    for name, rows in tables.items():
        data[name] = [rows[index] for index in sorted(rows)]
    return data


def save_all_or_nothing(
    db: Database, *, org_id: int, parse_issues: list[DataIssue], save: Callable[[Session], object]
) -> EmissionsDataError | None:
    """Run ``save(session)`` in one unit of work; every problem (the form's parsing, issues ``save`` adds
    to ``parse_issues``, and the service's checks, one per row and field) comes back together, and then
    nothing is written."""
    try:
        with db.unit_of_work(org_id=org_id) as uow:
            try:
                save(uow.session)
                service_issues: tuple[DataIssue, ...] = ()
            except EmissionsDataError as error:
                service_issues = error.issues
            reported = {(issue.row, issue.field) for issue in parse_issues}
            problems = parse_issues + [i for i in service_issues if (i.row, i.field) not in reported]
            if problems:
                raise EmissionsDataError(problems)
    except EmissionsDataError as error:
        return error
    return None


def year_of(period: str | None) -> int:
    """The year of a posted 'YYYY-MM' (the page to go back to), else the reporting year."""
    return parse_year((period or "")[:4]) or reporting_year(None)


def form_id(value: str, field: str, issues: list[DataIssue]) -> int | None:
    chosen = parse_id(value)
    if chosen is None:
        issues.append(DataIssue(None, field, "请选择一项", "choose one"))
    return chosen


def _uploaded_evidence(request: Request, session: Session, principal: Principal, form: FormData,
                       issues: list[DataIssue]) -> str | None:  # fmt: skip
    """The optional ``evidence`` file of the form, stored; its SHA-256 (None when no file was sent)."""
    upload = form.get("evidence")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    settings = request.app.state.settings
    assert principal.org is not None
    period, problems = period_from_form(
        session, org_id=principal.org.id, owner=_text(form, "evidence_owner"),
        valid_from=_text(form, "evidence_valid_from"), valid_until=_text(form, "evidence_valid_until"),
    )  # fmt: skip
    if problems:
        issues += [DataIssue(None, f"evidence_{p.field}", p.zh, p.en) for p in problems]
        return None

    def chunks() -> Iterator[bytes]:
        while chunk := upload.file.read(1024 * 1024):
            yield chunk

    try:
        stored = store_evidence(
            session,
            org_id=principal.org.id,
            actor=actor_of(principal),
            evidence_store=settings.evidence_store,
            filename=upload.filename,
            chunks=chunks(),
            max_bytes=settings.evidence_max_bytes,
            period=period,
        )
    except EvidenceError as error:
        issues.append(DataIssue(None, "evidence", error.message_zh, error.message_en))
        return None
    return stored.sha256


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


SaveWithEvidence = Callable[[Session, dict[str, str], str | None, list[DataIssue]], None]


def save_with_evidence(
    request: Request, principal: Principal, db: Database, form: FormData, save: SaveWithEvidence
) -> tuple[tuple[DataIssue, ...], dict[str, str]]:
    """Store the form's evidence and run ``save(session, values, evidence_sha256, issues)`` in one unit of
    work: any problem rolls everything back. Returns (issues, the form's text values)."""
    values = {key: value for key, value in form.items() if isinstance(value, str) and key != "csrf_token"}
    issues: list[DataIssue] = []

    def run(session: Session) -> None:
        evidence = _uploaded_evidence(request, session, principal, form, issues)
        save(session, values, evidence, issues)

    assert principal.org is not None
    error = save_all_or_nothing(db, org_id=principal.org.id, parse_issues=issues, save=run)
    return (error.issues if error else ()), values

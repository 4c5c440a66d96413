"""The monthly entry grid, and the evidence files behind a source's month. Each changed cell becomes one
audited monthly reading; a bad cell saves nothing and names itself."""

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from engine.carbon_data.aggregation import monthly_totals
from engine.carbon_data.errors import DataIssue, EmissionsDataError
from engine.carbon_data.inputs import (
    attach_reading_evidence,
    evidence_of_months,
)
from engine.carbon_data.models import EmissionSource
from engine.carbon_data.readings import record_readings
from engine.carbon_data.sources import list_sources
from engine.evidence.store import evidence_by_hash
from engine.values import Year, parse_id, parse_year
from web.deps import (
    DatabaseDep,
    DataEditor,
    Member,
    OrgSession,
    PostedForm,
    Principal,
    actor_of,
    reporting_year,
)
from web.forms import form_id, save_with_evidence, year_of
from web.templating import render

router = APIRouter()

UPLOAD_PATHS = ("/emissions/data/evidence",)


def _grid(
    session: Session, org_id: int, year: int
) -> tuple[list[EmissionSource], dict[tuple[int, str], str], list[str]]:
    sources = list_sources(session, org_id=org_id, include_inactive=False)
    # Plain decimal text for the inputs (Decimal.normalize alone would print 1.02E+5).
    totals = {
        (t.source_id, t.period): format(t.quantity.normalize(), "f")
        for t in monthly_totals(session, org_id=org_id, year=year)
    }
    months = [f"{year}-{month:02d}" for month in range(1, 13)]
    return sources, totals, months


def data_grid_response(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    year: Year,
    issues: Sequence[DataIssue] = (),
    saved: int | None = None,
    status_code: int = 200,
    typed: dict[str, str] | None = None,
    bad_cells: frozenset[str] = frozenset(),
) -> Response:
    """The grid; after a refused save, with what was typed kept in its cells and the bad cells marked."""
    assert principal.org is not None
    sources, totals, months = _grid(session, principal.org.id, year)
    evidence_hashes = evidence_of_months(session, org_id=principal.org.id, year=year)
    files = evidence_by_hash(session, org_id=principal.org.id, hashes=evidence_hashes.values())
    return render(
        request,
        "emissions/data.html",
        {
            "year": year,
            "sources": sources,
            "totals": totals,
            "months": months,
            "evidence": {cell: files[sha] for cell, sha in evidence_hashes.items() if sha in files},
            "issues": issues,
            "saved": saved,
            "typed": typed or {},
            "bad_cells": bad_cells,
        },
        status_code=status_code,
    )


@router.get("/emissions/data")
def data_grid(request: Request, principal: Member, session: OrgSession, year: Year | None = None) -> Response:
    return data_grid_response(request, session, principal, year=reporting_year(year))


@router.post("/emissions/data")
def save_grid(request: Request, principal: DataEditor, db: DatabaseDep, form: PostedForm) -> Response:
    """Each changed cell becomes one audited monthly reading; a bad cell saves nothing and names itself."""
    assert principal.org is not None
    year_text = str(form.get("year") or "").strip()
    year = parse_year(year_text) or reporting_year(None)
    entries: list[dict[str, Any]] = []
    issues: list[DataIssue] = []
    if year_text and str(year) != year_text:
        issues.append(DataIssue(None, "year", f"年份无效：{year_text}", f"not a valid year: {year_text}"))
    for key, value in form.multi_items():
        if not key.startswith("q-") or not isinstance(value, str):
            continue
        source_id, _, period = key[2:].partition("-")
        if parse_id(source_id) is None:
            issues.append(DataIssue(None, key, "无法识别的数据格", f"unknown grid cell {key}"))
            continue
        original = str(form.get(f"o-{source_id}-{period}") or "")
        if value.strip() != original.strip() and value.strip() != "":
            entries.append({"source_id": int(source_id), "period": period, "quantity": value.strip()})
    reason = str(form.get("reason") or "").strip()
    saved = 0
    problems: Sequence[DataIssue] = issues
    try:
        with db.unit_of_work(org_id=principal.org.id) as uow:
            if issues:
                raise EmissionsDataError(issues)
            saved = len(
                record_readings(
                    uow.session,
                    org_id=principal.org.id,
                    actor=actor_of(principal),
                    entries=entries,
                    reason=reason,
                )
            )
    except EmissionsDataError as error:
        problems = error.issues
    cells = {row: entry for row, entry in enumerate(entries, start=1)}
    with db.read_session(org_id=principal.org.id) as session:
        names = {
            s.id: f"{s.code} {s.name}"
            for s in list_sources(session, org_id=principal.org.id)
            if s.id is not None
        }
        return data_grid_response(
            request,
            session,
            principal,
            year=year,
            issues=[_at_cell(issue, cells.get(issue.row or 0), names) for issue in problems],
            saved=None if problems else saved,
            status_code=422 if problems else 200,
            typed={k: v for k, v in form.items() if k.startswith("q-") and isinstance(v, str)}
            if problems
            else None,
            bad_cells=frozenset(
                f"q-{cells[issue.row]['source_id']}-{cells[issue.row]['period']}"
                for issue in problems
                if issue.row in cells
            ),
        )


def _at_cell(issue: DataIssue, entry: dict[str, Any] | None, names: dict[int, str]) -> DataIssue:
    """A problem of the n-th changed cell, named by its source and month (that n means nothing here)."""
    if entry is None:
        return issue
    source = names.get(entry["source_id"], str(entry["source_id"]))
    return replace(issue, row=None, source_code=source, period=entry["period"])


@router.post("/emissions/data/evidence")
def attach_data_evidence(
    request: Request, principal: DataEditor, db: DatabaseDep, form: PostedForm
) -> Response:
    assert principal.org is not None

    def save(session: Session, values: dict[str, str], evidence: str | None, issues: list[DataIssue]) -> None:
        assert principal.org is not None
        if evidence is None:
            if not any(issue.field == "evidence" for issue in issues):
                issues.append(DataIssue(None, "evidence", "请选择证据文件", "choose an evidence file"))
            return
        source_id = form_id(values.get("source_id", ""), "source_id", issues)
        if source_id is None:
            return
        attach_reading_evidence(
            session,
            org_id=principal.org.id,
            actor=actor_of(principal),
            source_id=source_id,
            period=values.get("period", ""),
            evidence_sha256=evidence,
        )

    issues, values = save_with_evidence(request, principal, db, form, save)
    year = year_of(values.get("period"))
    if issues:
        with db.read_session(org_id=principal.org.id) as session:
            return data_grid_response(request, session, principal, year=year, issues=issues, status_code=422)
    return RedirectResponse(f"/emissions/data?year={year}", status_code=303)

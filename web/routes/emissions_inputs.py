"""The other inputs of the inventory: monthly production (and output value) per product, measured fuel
parameters per source, and the evidence files behind activity data; plus the evidence download.

Uploads go through engine.services.evidence (allow-list, magic bytes, size, zip limits, stored by
SHA-256); a refused file or a bad field saves nothing, and the page says which field and why."""

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import select
from starlette.datastructures import UploadFile

from engine.carbon_data.errors import DataIssue
from engine.carbon_data.inputs import attach_reading_evidence, set_measured_parameter, set_production
from engine.carbon_data.models import MeasuredParameter, ProductionOutput
from engine.carbon_data.parsing import parse_month
from engine.carbon_data.sources import list_sources
from engine.evidence.store import EvidenceError, evidence_by_hash, read_evidence, store_evidence
from engine.identity.models import Product
from web.deps import DatabaseDep, Member, OrgSession
from web.routes.emissions import (
    DataEditor,
    actor_of,
    data_grid_response,
    record_data_change,
    reporting_year,
    save_all_or_nothing,
)
from web.security import SANDBOX_FLAG
from web.templating import render

router = APIRouter()
UPLOAD_PATHS = ("/emissions/production", "/emissions/measured", "/emissions/data/evidence")


def _months(year: int) -> list[str]:
    return [f"{year}-{month:02d}" for month in range(1, 13)]


def _year_of(period: str | None) -> int:
    head = (period or "")[:4]
    return int(head) if head.isdigit() and 1990 <= int(head) <= 2100 else reporting_year(None)


def _month_of(period: str) -> str:
    """The batch's 'YYYY-MM' for a month the service has already accepted."""
    year, month = parse_month(period)
    return f"{year:04d}-{month:02d}"


def _id(value: str, field: str, issues: list[DataIssue]) -> int | None:
    try:
        return int(value)
    except ValueError:
        issues.append(DataIssue(None, field, "请选择一项", "choose one"))
        return None


def _uploaded_evidence(request: Request, session, principal, form, issues: list[DataIssue]) -> str | None:
    """The optional ``evidence`` file of the form, stored; its SHA-256 (None when no file was sent)."""
    upload = form.get("evidence")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    settings = request.app.state.settings

    def chunks():
        while chunk := upload.file.read(1024 * 1024):
            yield chunk

    try:
        stored = store_evidence(
            session,
            org_id=principal.org.id,
            actor=actor_of(principal),
            evidence_dir=settings.evidence_dir,
            filename=upload.filename,
            chunks=chunks(),
            max_bytes=settings.evidence_max_bytes,
        )
    except EvidenceError as error:
        issues.append(DataIssue(None, "evidence", error.message_zh, error.message_en))
        return None
    return stored.sha256


async def _save(request: Request, principal, db, save) -> tuple[tuple[DataIssue, ...], dict[str, Any]]:
    """Parse the form, store its evidence and run ``save(session, form, evidence_sha256, issues)`` in one
    unit of work: any problem rolls everything back. Returns (issues, the form's text values)."""
    form = await request.form()
    values = {key: value for key, value in form.items() if isinstance(value, str) and key != "csrf_token"}
    issues: list[DataIssue] = []

    def run(session) -> None:
        evidence = _uploaded_evidence(request, session, principal, form, issues)
        save(session, values, evidence, issues)

    error = save_all_or_nothing(db, principal, issues, run)
    return (error.issues if error else ()), values


async def _saved_or_refused(request: Request, principal, db, save, *, page: str, context_of) -> Response:
    """Back to the page's month on success; otherwise the page again, with the problems and the form."""
    issues, values = await _save(request, principal, db, save)
    year = _year_of(values.get("period"))
    if issues:
        with db.read_session(org_id=principal.org.id) as session:
            context = context_of(session, principal, year=year, issues=issues, values=values)
            return render(request, f"emissions/{page.rsplit('/', 1)[-1]}.html", context, status_code=422)
    return RedirectResponse(f"{page}?year={year}", status_code=303)


# ---------------------------------------------------------------- production


def _production_context(session, principal, *, year: int, issues=(), values=None) -> dict:
    products = list(session.exec(select(Product).order_by(Product.code)).all())
    rows = session.exec(
        select(ProductionOutput).where(
            ProductionOutput.period >= f"{year}-01", ProductionOutput.period <= f"{year}-12"
        )
    ).all()
    return {
        "year": year,
        "months": _months(year),
        "products": products,
        "cells": {(row.product_id, row.period): row for row in rows},
        "evidence": evidence_by_hash(
            session, org_id=principal.org.id, hashes=(r.evidence_sha256 for r in rows)
        ),
        "issues": issues,
        "form": values or {},
    }


@router.get("/emissions/production")
def production_page(
    request: Request, principal: Member, session: OrgSession, year: int | None = None
) -> Response:
    context = _production_context(session, principal, year=reporting_year(year))
    return render(request, "emissions/production.html", context)


@router.post("/emissions/production")
async def save_production(request: Request, principal: DataEditor, db: DatabaseDep) -> Response:
    def save(session, values, evidence, issues):
        product_id = _id(values.get("product_id", ""), "product_id", issues)
        if product_id is None:
            return
        set_production(
            session,
            org_id=principal.org.id,
            actor=actor_of(principal),
            product_id=product_id,
            period=values.get("period", ""),
            quantity=values.get("quantity", ""),
            output_value_10k_cny=values.get("output_value_10k_cny") or None,
            evidence_sha256=evidence,
        )

    return await _saved_or_refused(
        request, principal, db, save, page="/emissions/production", context_of=_production_context
    )


# ---------------------------------------------------------------- measured parameters


def _measured_context(session, principal, *, year: int, issues=(), values=None) -> dict:
    # Fuel parameters belong to combustion sources (process and electricity lines have none).
    sources = [s for s in list_sources(session, org_id=principal.org.id) if s.category == "combustion"]
    rows = session.exec(
        select(MeasuredParameter)
        .where(MeasuredParameter.period >= f"{year}-01", MeasuredParameter.period <= f"{year}-12")
        .order_by(MeasuredParameter.source_id, MeasuredParameter.period)
    ).all()
    return {
        "year": year,
        "months": _months(year),
        "sources": sources,
        "source_names": {s.id: f"{s.code} · {s.name}" for s in sources},
        "rows": rows,
        "evidence": evidence_by_hash(
            session, org_id=principal.org.id, hashes=(r.evidence_sha256 for r in rows)
        ),
        "issues": issues,
        "form": values or {},
    }


@router.get("/emissions/measured")
def measured_page(
    request: Request, principal: Member, session: OrgSession, year: int | None = None
) -> Response:
    context = _measured_context(session, principal, year=reporting_year(year))
    return render(request, "emissions/measured.html", context)


@router.post("/emissions/measured")
async def save_measured(request: Request, principal: DataEditor, db: DatabaseDep) -> Response:
    def save(session, values, evidence, issues):
        source_id = _id(values.get("source_id", ""), "source_id", issues)
        if source_id is None:
            return
        set_measured_parameter(
            session,
            org_id=principal.org.id,
            actor=actor_of(principal),
            source_id=source_id,
            period=values.get("period", ""),
            ncv=values.get("ncv") or None,
            ncv_unit=values.get("ncv_unit") or None,
            carbon_content=values.get("carbon_content") or None,
            oxidation_rate=values.get("oxidation_rate") or None,
            evidence_sha256=evidence,
        )
        record_data_change(
            session,
            request=request,
            principal=principal,
            periods={_month_of(values.get("period", ""))},
            reason=values.get("reason", "").strip(),
        )

    return await _saved_or_refused(
        request, principal, db, save, page="/emissions/measured", context_of=_measured_context
    )


# ---------------------------------------------------------------- activity data evidence and downloads


@router.post("/emissions/data/evidence")
async def attach_data_evidence(request: Request, principal: DataEditor, db: DatabaseDep) -> Response:
    def save(session, values, evidence, issues):
        if evidence is None:
            if not any(issue.field == "evidence" for issue in issues):
                issues.append(DataIssue(None, "evidence", "请选择证据文件", "choose an evidence file"))
            return
        source_id = _id(values.get("source_id", ""), "source_id", issues)
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

    issues, values = await _save(request, principal, db, save)
    year = _year_of(values.get("period"))
    if issues:
        with db.read_session(org_id=principal.org.id) as session:
            return data_grid_response(request, session, principal, year=year, issues=issues, status_code=422)
    return RedirectResponse(f"/emissions/data?year={year}", status_code=303)


@router.get("/evidence/{evidence_id}")
def download_evidence(request: Request, evidence_id: int, principal: Member, session: OrgSession) -> Response:
    """The file as an attachment, sandboxed, after its SHA-256 is checked against the upload's."""
    try:
        found = read_evidence(
            session,
            org_id=principal.org.id,
            evidence_id=evidence_id,
            evidence_dir=request.app.state.settings.evidence_dir,
        )
    except LookupError:
        raise HTTPException(404) from None
    except EvidenceError as error:
        message = error.message_zh if request.state.locale == "zh_CN" else error.message_en
        return Response(message, status_code=409, media_type="text/plain; charset=utf-8")
    return Response(
        found.content,
        media_type=found.file.content_type,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(found.file.filename)}",
            "X-Content-SHA256": found.file.sha256,
            SANDBOX_FLAG.decode(): "1",
        },
    )

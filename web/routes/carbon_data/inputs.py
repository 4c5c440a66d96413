"""The other inputs of the inventory: monthly production (and output value) per product, measured fuel
parameters per source, and the evidence files behind activity data; plus the evidence download.

Uploads go through engine.services.evidence (allow-list, magic bytes, size, zip limits, stored by
SHA-256); a refused file or a bad field saves nothing, and the page says which field and why."""

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session
from starlette.datastructures import FormData

from engine.carbon_data.errors import DataIssue
from engine.carbon_data.inputs import (
    PROVENANCE_TEXT,
    measured_parameters_of_year,
    production_of_year,
    set_measured_parameter,
    set_production,
)
from engine.carbon_data.provenance import measurements
from engine.carbon_data.sources import list_sources
from engine.db import Database
from engine.evidence.store import EvidenceError, evidence_by_hash, read_evidence
from engine.identity.organizations import list_products
from engine.values import Id, Year
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
from web.forms import SaveWithEvidence, form_id, save_with_evidence, year_of
from web.security import SANDBOX_FLAG
from web.templating import render

router = APIRouter()
UPLOAD_PATHS = ("/emissions/production", "/emissions/measured")


def _months(year: int) -> list[str]:
    return [f"{year}-{month:02d}" for month in range(1, 13)]


def _saved_or_refused(
    request: Request,
    principal: Principal,
    db: Database,
    form: FormData,
    save: SaveWithEvidence,
    *,
    page: str,
    context_of: Callable[..., dict[str, Any]],
) -> Response:
    """Back to the page's month on success; otherwise the page again, with the problems and the form."""
    assert principal.org is not None
    issues, values = save_with_evidence(request, principal, db, form, save)
    year = year_of(values.get("period"))
    if issues:
        with db.read_session(org_id=principal.org.id) as session:
            context = context_of(session, principal, year=year, issues=issues, values=values)
            return render(request, f"emissions/{page.rsplit('/', 1)[-1]}.html", context, status_code=422)
    return RedirectResponse(f"{page}?year={year}", status_code=303)


# ---------------------------------------------------------------- production


def _production_context(
    session: Session,
    principal: Principal,
    *,
    year: Year,
    issues: Sequence[DataIssue] = (),
    values: dict[str, str] | None = None,
) -> dict[str, Any]:
    assert principal.org is not None
    products = list_products(session)
    rows = production_of_year(session, year=year)
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
    request: Request, principal: Member, session: OrgSession, year: Year | None = None
) -> Response:
    context = _production_context(session, principal, year=reporting_year(year))
    return render(request, "emissions/production.html", context)


@router.post("/emissions/production")
def save_production(request: Request, principal: DataEditor, db: DatabaseDep, form: PostedForm) -> Response:
    def save(session: Session, values: dict[str, str], evidence: str | None, issues: list[DataIssue]) -> None:
        assert principal.org is not None
        product_id = form_id(values.get("product_id", ""), "product_id", issues)
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

    return _saved_or_refused(
        request, principal, db, form, save, page="/emissions/production", context_of=_production_context
    )


# ---------------------------------------------------------------- measured parameters


def _measured_context(
    session: Session,
    principal: Principal,
    *,
    year: Year,
    issues: Sequence[DataIssue] = (),
    values: dict[str, str] | None = None,
) -> dict[str, Any]:
    assert principal.org is not None
    # Fuel parameters belong to combustion sources (process and electricity lines have none).
    sources = [s for s in list_sources(session, org_id=principal.org.id) if s.category == "combustion"]
    rows = measured_parameters_of_year(session, year=year)
    return {
        # What each row's provenance lacks and which values are implausible, by "source_id-period".
        "checked": {
            f"{m.row.source_id}-{m.row.period}": m
            for m in measurements(session, org_id=principal.org.id, year=year)
        },
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
    request: Request, principal: Member, session: OrgSession, year: Year | None = None
) -> Response:
    context = _measured_context(session, principal, year=reporting_year(year))
    return render(request, "emissions/measured.html", context)


@router.post("/emissions/measured")
def save_measured(request: Request, principal: DataEditor, db: DatabaseDep, form: PostedForm) -> Response:
    def save(session: Session, values: dict[str, str], evidence: str | None, issues: list[DataIssue]) -> None:
        assert principal.org is not None
        source_id = form_id(values.get("source_id", ""), "source_id", issues)
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
            provenance={name: values.get(name) for name in (*PROVENANCE_TEXT, "sampled_on")},
            reason=values.get("reason", "").strip(),
        )

    return _saved_or_refused(
        request, principal, db, form, save, page="/emissions/measured", context_of=_measured_context
    )


# ---------------------------------------------------------------- evidence downloads


@router.get("/evidence/{evidence_id}")
def download_evidence(request: Request, evidence_id: Id, principal: Member, session: OrgSession) -> Response:
    """The file as an attachment, sandboxed, after its SHA-256 is checked against the upload's."""
    assert principal.org is not None
    try:
        found = read_evidence(
            session,
            org_id=principal.org.id,
            evidence_id=evidence_id,
            evidence_store=request.app.state.settings.evidence_store,
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

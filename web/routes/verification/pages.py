"""B9 the external verifier's portal: the admin's grants (/verification/grants), the enterprise's view of
reported beside verified values, the returns and the year locks (/verification), and the verifier's own
pages and actions (/verification/portal…, fenced by web.verifier_gate). Every portal page a verifier
reads, and every file they download, is written to the audit trail."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from engine.db import Database, UnitOfWork
from engine.evidence.store import EvidenceError, read_evidence
from engine.forms.spec import Text
from engine.identity.models import Role
from engine.records.queries import names_in, record_events
from engine.records.timeline import timeline_entries
from engine.values import Id, Year
from engine.verification.errors import VerificationError
from engine.verification.locks import locked_years
from engine.verification.models import VerificationGrant
from engine.verification.scope import (
    comparisons,
    current_grant,
    evidence_in_scope,
    month_records,
    records_in_scope,
    reported_figures,
    returns_of_year,
    scoped_record,
    user_names,
    window_days,
)
from engine.verification.service import (
    UNLOCKERS,
    audit_view,
    close_verification,
    confirm_unlock,
    declare_coi,
    grant_access,
    grants_listing,
    locks_of,
    record_verified_value,
    request_unlock,
    return_for_supplement,
)
from web.deps import (
    Admin,
    DatabaseDep,
    Member,
    OrgSession,
    Principal,
    RoleRequirement,
    actor_of,
    reporting_year,
)
from web.security import SANDBOX_FLAG
from web.templating import render

router = APIRouter()
Verifier = Annotated[Principal, Depends(RoleRequirement(Role.external_auditor))]
Unlocker = Annotated[
    Principal, Depends(RoleRequirement(Role.admin, Role.carbon_manager, Role.top_management))
]
PORTAL = "/verification/portal"
FormText = Annotated[str, Form(max_length=4000)]


def _grant(session: Session, principal: Principal) -> VerificationGrant:
    """The grant in force (the gate has refused those outside their window)."""
    assert principal.org is not None
    grant = current_grant(session, org_id=principal.org.id, user_id=principal.user_id)
    if grant is None:
        raise HTTPException(404, detail="verifier:" + NO_GRANT.get(principal.locale or "zh_CN"))
    return grant


NO_GRANT = Text(zh="您在本组织没有核查授权", en="You hold no verification grant in this organization")


@contextmanager
def _uow(db: Database, principal: Principal) -> Iterator[UnitOfWork]:
    """Committed before the answer leaves (a redirect's next page reads what was written)."""
    assert principal.org is not None
    with db.unit_of_work(org_id=principal.org.id) as uow:
        yield uow


def _error(request: Request, error: VerificationError) -> dict[str, str]:
    return {"field": error.field, "message": error.message.get(request.state.locale)}


# ---------------------------------------------------------------- the admin's grants


def _grants_page(request: Request, session: Session, principal: Principal, **extra: Any) -> Response:
    assert principal.org is not None
    status = 422 if extra.get("error") else 200
    return render(
        request,
        "verification/grants.html",
        {
            "grants": grants_listing(session, org_id=principal.org.id),
            "window_days": window_days,
            "form": {},
            "error": None,
            "created": None,
            **extra,
        },
        status_code=extra.pop("status", status),
    )


@router.get("/verification/grants")
def grants_page(request: Request, principal: Admin, session: OrgSession) -> Response:
    return _grants_page(request, session, principal)


@router.post("/verification/grants")
def grant(
    request: Request,
    principal: Admin,
    db: DatabaseDep,
    email: FormText = "",
    display_name: FormText = "",
    body: FormText = "",
    year: FormText = "",
    clauses: FormText = "",
    valid_from: FormText = "",
    valid_until: FormText = "",
) -> Response:
    with _uow(db, principal) as uow:
        assert principal.org is not None
        form = {"email": email, "display_name": display_name, "body": body, "year": year, "clauses": clauses,
                "valid_from": valid_from, "valid_until": valid_until}  # fmt: skip
        try:
            created, password = grant_access(
                uow.session, org_id=principal.org.id, actor=actor_of(principal), **form
            )
        except VerificationError as error:
            uow.session.rollback()
            return _grants_page(request, uow.session, principal, form=form, error=_error(request, error))
        return _grants_page(request, uow.session, principal, created={"grant": created, "password": password})


# ---------------------------------------------------------------- the enterprise's side


@router.get("/verification")
def results_page(
    request: Request, principal: Member, session: OrgSession, year: Year | None = None
) -> Response:
    return _results(request, session, principal, reporting_year(year))


def _results(
    request: Request, session: Session, principal: Principal, year: int, error: dict[str, str] | None = None
) -> Response:
    assert principal.org is not None
    returns = returns_of_year(session, org_id=principal.org.id, year=year)
    locks = locks_of(session, org_id=principal.org.id)
    people: set[int | None] = {r.returned_by for r in returns}
    for lock in locks:
        people |= {lock.locked_by, lock.unlock_requested_by, lock.unlocked_by}
    return render(
        request,
        "verification/results.html",
        {
            "year": year,
            "rows": comparisons(session, org_id=principal.org.id, year=year),
            "returns": returns,
            "locks": locks,
            "locked": locked_years(session, org_id=principal.org.id),
            "names": user_names(session, ids=people),
            "may_unlock": principal.has_any(UNLOCKERS),
            "error": error,
        },
        status_code=422 if error else 200,
    )


def _lock_action(
    request: Request, principal: Principal, db: Database, year: str, action: Any, **kwargs: Any
) -> Response:
    with _uow(db, principal) as uow:
        return _lock_in(request, principal, uow, year, action, **kwargs)


def _lock_in(
    request: Request, principal: Principal, uow: UnitOfWork, year: str, action: Any, **kwargs: Any
) -> Response:
    assert principal.org is not None
    try:
        action(uow.session, org_id=principal.org.id, actor=actor_of(principal), year=year, **kwargs)
    except VerificationError as error:
        uow.session.rollback()
        shown = int(year) if year.strip().isdigit() else reporting_year(None)
        response = _results(request, uow.session, principal, shown, error=_error(request, error))
        response.status_code = error.status
        return response
    return RedirectResponse(f"/verification?year={int(year)}", status_code=303)


@router.post("/verification/locks/unlock-request")
def ask_unlock(
    request: Request, principal: Unlocker, db: DatabaseDep, year: FormText = "", reason: FormText = ""
) -> Response:
    return _lock_action(request, principal, db, year, request_unlock, reason=reason)


@router.post("/verification/locks/unlock-confirm")
def confirm(request: Request, principal: Unlocker, db: DatabaseDep, year: FormText = "") -> Response:
    return _lock_action(request, principal, db, year, confirm_unlock)


# ---------------------------------------------------------------- the verifier's portal


def _portal(
    request: Request, session: Session, principal: Principal, grant: VerificationGrant, **extra: Any
) -> Response:
    assert principal.org is not None
    records = records_in_scope(session, grant=grant)
    months = month_records(session, grant=grant)
    total, by_month = reported_figures(session, org_id=principal.org.id, year=grant.year)
    catalog = request.app.state.catalog
    error = extra.get("error")
    return render(
        request,
        "verification/portal.html",
        {
            "grant": grant,
            "records": records,
            "workflows": {r.workflow_key: catalog.get(r.workflow_key) for r in records},
            "evidence": evidence_in_scope(session, grant=grant, catalog=catalog, records=records),
            "months": months,
            "by_month": by_month,
            "total": total,
            "rows": {
                row.period: row for row in comparisons(session, org_id=principal.org.id, year=grant.year)
            },
            "returns": returns_of_year(session, org_id=principal.org.id, year=grant.year),
            "window_days": window_days,
            "error": None,
            "locked": grant.year in locked_years(session, org_id=principal.org.id),
            **extra,
        },
        status_code=(error and extra.pop("status", 422)) or 200,
    )


@router.get(PORTAL)
def portal(request: Request, principal: Verifier, db: DatabaseDep) -> Response:
    with _uow(db, principal) as uow:
        grant = _grant(uow.session, principal)
        audit_view(
            uow.session, grant=grant, actor=actor_of(principal), page="portal", subject=f"{grant.year}"
        )
        return _portal(request, uow.session, principal, grant)


@router.get(PORTAL + "/records/{record_id}")
def portal_record(request: Request, principal: Verifier, db: DatabaseDep, record_id: Id) -> Response:
    with _uow(db, principal) as uow:
        assert principal.org is not None
        grant = _grant(uow.session, principal)
        try:
            record = scoped_record(uow.session, grant=grant, record_id=record_id)
        except LookupError:
            raise HTTPException(404) from None
        audit_view(uow.session, grant=grant, actor=actor_of(principal), page="record", subject=record.number)
        workflow = request.app.state.catalog.pinned(
            uow.session, key=record.workflow_key, version=record.workflow_version
        )
        events = record_events(uow.session, record_id=record_id)
        names = names_in(
            uow.session, org_id=principal.org.id, workflow=workflow, records=[record], events=events
        )
        catalog = request.app.state.catalog
        in_scope = evidence_in_scope(uow.session, grant=grant, catalog=catalog, records=[record])
        return render(
            request,
            "verification/record.html",
            {
                "grant": grant,
                "record": record,
                "workflow": workflow,
                "names": names,
                "evidence": in_scope,
                "timeline": timeline_entries(
                    events, workflow=workflow, names=names, locale=request.state.locale
                ),
            },
        )


@router.get(PORTAL + "/evidence/{evidence_id}")
def portal_download(request: Request, principal: Verifier, db: DatabaseDep, evidence_id: Id) -> Response:
    with _uow(db, principal) as uow:
        assert principal.org is not None
        grant = _grant(uow.session, principal)
        if evidence_id not in evidence_in_scope(uow.session, grant=grant, catalog=request.app.state.catalog):
            raise HTTPException(404)
        try:
            found = read_evidence(
                uow.session,
                org_id=principal.org.id,
                evidence_id=evidence_id,
                evidence_store=request.app.state.settings.evidence_store,
            )
        except LookupError:
            raise HTTPException(404) from None
        except EvidenceError as error:
            message = error.message_zh if request.state.locale == "zh_CN" else error.message_en
            return Response(message, status_code=409, media_type="text/plain; charset=utf-8")
        audit_view(
            uow.session, grant=grant, actor=actor_of(principal), page="download", subject=found.file.sha256
        )
        return Response(
            found.content,
            media_type=found.file.content_type,
            headers={
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(found.file.filename)}",
                "X-Content-SHA256": found.file.sha256,
                SANDBOX_FLAG.decode(): "1",
            },
        )


def _act(request: Request, principal: Principal, db: Database, action: Any, **kwargs: Any) -> Response:
    with _uow(db, principal) as uow:
        return _act_in(request, principal, uow, action, **kwargs)


def _act_in(request: Request, principal: Principal, uow: UnitOfWork, action: Any, **kwargs: Any) -> Response:
    grant = _grant(uow.session, principal)
    try:
        action(uow.session, grant=grant, actor=actor_of(principal), **kwargs)
    except VerificationError as error:
        uow.session.rollback()
        grant = _grant(uow.session, principal)
        return _portal(request, uow.session, principal, grant, error=_error(request, error), form=kwargs,
                       status=error.status)  # fmt: skip
    return RedirectResponse(PORTAL, status_code=303)


@router.post(PORTAL + "/coi")
def coi(
    request: Request,
    principal: Verifier,
    db: DatabaseDep,
    independent: FormText = "",
    statement: FormText = "",
) -> Response:
    return _act(request, principal, db, declare_coi, independent=independent == "yes", statement=statement)


@router.post(PORTAL + "/values")
def verified_value(
    request: Request,
    principal: Verifier,
    db: DatabaseDep,
    period: FormText = "",
    verified_value: FormText = "",
    comment: FormText = "",
) -> Response:
    return _act(
        request,
        principal,
        db,
        record_verified_value,
        period=period,
        verified=verified_value,
        comment=comment,
    )


@router.post(PORTAL + "/returns")
def give_back(
    request: Request, principal: Verifier, db: DatabaseDep, period: FormText = "", comment: FormText = ""
) -> Response:
    return _act(request, principal, db, return_for_supplement, period=period, comment=comment)


@router.post(PORTAL + "/close")
def close(request: Request, principal: Verifier, db: DatabaseDep) -> Response:
    return _act(request, principal, db, close_verification)

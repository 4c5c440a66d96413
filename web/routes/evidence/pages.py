"""7.5 evidence: the register (filters by freshness, owner, clause, record and expiry within N days) and the
page of one evidence item (its versions, the records and data that name it, a new version, the owner and
validity, withdrawal with a reason). The download itself is /evidence/{id} (hash checked, sandboxed)."""

from collections.abc import Iterator
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRouter
from sqlmodel import Session
from starlette.datastructures import UploadFile

from engine.evidence.lifecycle import (
    FRESHNESS_LABELS,
    Freshness,
    RegisterFilter,
    data_uses,
    evidence_row,
    freshness,
    linked_records,
    new_version,
    period_from_form,
    register,
    set_period,
    versions,
    withdraw,
)
from engine.evidence.store import EvidenceError
from engine.identity.users import list_members
from engine.values import Id, parse_id
from engine.workflow.computed import china_today
from web.deps import DatabaseDep, DataEditor, Member, OrgSession, PostedForm, Principal, actor_of
from web.templating import render

router = APIRouter()
UPLOAD_PATHS = (r"/evidence-items/\d+/version",)


def _people(session: Session, principal: Principal) -> list[tuple[int, str]]:
    assert principal.org is not None
    return [
        (user.id, user.display_name) for user, _ in list_members(session, org_id=principal.org.id) if user.id
    ]


@router.get("/evidence")
def register_page(request: Request, principal: Member, session: OrgSession) -> Response:
    query = request.query_params
    state = query.get("state") or ""
    within = parse_id(query.get("within", ""))
    filters = RegisterFilter(
        state=Freshness(state) if state in Freshness.__members__ else None,
        owner_id=parse_id(query.get("owner", "")),
        clause=(query.get("clause") or "").strip()[:20] or None,
        record_id=parse_id(query.get("record", "")),
        expiring_within=within,
    )
    today = china_today()
    people = _people(session, principal)
    return render(
        request,
        "evidence/register.html",
        {
            "rows": register(session, today=today, filters=filters),
            "filters": filters,
            "people": people,
            "names": dict(people),
            "labels": FRESHNESS_LABELS,
            "states": list(Freshness),
            "today": today,
        },
    )


def _item_context(session: Session, principal: Principal, evidence_id: int) -> dict[str, Any]:
    assert principal.org is not None
    try:
        row = evidence_row(session, org_id=principal.org.id, evidence_id=evidence_id)
    except LookupError:
        raise HTTPException(404) from None
    assert row.item_id is not None
    today = china_today()
    item = versions(session, org_id=principal.org.id, item_id=row.item_id)
    people = _people(session, principal)
    return {
        "file": row,
        "versions": [(v, freshness(v, today=today)) for v in item],
        "records": linked_records(session, evidence_ids=[v.id for v in item if v.id is not None]),
        "uses": [use for v in item for use in data_uses(session, file=v)],
        "labels": FRESHNESS_LABELS,
        "people": people,
        "names": dict(people),
        "errors": {},
    }


@router.get("/evidence-items/{evidence_id}")
def item_page(request: Request, evidence_id: Id, principal: Member, session: OrgSession) -> Response:
    return render(request, "evidence/item.html", _item_context(session, principal, evidence_id))


def _refused(
    request: Request, db: DatabaseDep, principal: Principal, evidence_id: int, errors: dict[str, Any]
) -> Response:
    assert principal.org is not None
    with db.read_session(org_id=principal.org.id) as session:
        context = {**_item_context(session, principal, evidence_id), "errors": errors}
    return render(request, "evidence/item.html", context, status_code=422)


def _period_of(session: Session, principal: Principal, form: PostedForm) -> tuple[Any, dict[str, Any]]:
    assert principal.org is not None
    period, problems = period_from_form(
        session,
        org_id=principal.org.id,
        owner=_text(form, "owner"),
        valid_from=_text(form, "valid_from"),
        valid_until=_text(form, "valid_until"),
    )
    return period, {p.field: {"zh": p.zh, "en": p.en} for p in problems}


def _text(form: PostedForm, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


@router.post("/evidence-items/{evidence_id}/version")
def upload_version(
    request: Request, evidence_id: Id, principal: DataEditor, db: DatabaseDep, form: PostedForm
) -> Response:
    assert principal.org is not None
    upload = form.get("file")
    settings = request.app.state.settings
    errors: dict[str, Any] = {}
    try:
        with db.unit_of_work(org_id=principal.org.id) as uow:
            period, errors = _period_of(uow.session, principal, form)
            if not isinstance(upload, UploadFile) or not upload.filename:
                errors["file"] = {"zh": "请选择文件", "en": "choose a file"}
            if errors:
                raise EvidenceError("", "")
            assert isinstance(upload, UploadFile)

            def chunks() -> Iterator[bytes]:
                while chunk := upload.file.read(1024 * 1024):
                    yield chunk

            row = new_version(
                uow.session,
                org_id=principal.org.id,
                actor=actor_of(principal),
                evidence_store=settings.evidence_store,
                of_evidence_id=evidence_id,
                filename=upload.filename or "",
                chunks=chunks(),
                max_bytes=settings.evidence_max_bytes,
                period=period,
            )
            new_id = row.id
    except LookupError:
        raise HTTPException(404) from None
    except EvidenceError as error:
        if not errors:
            errors = {"file": {"zh": error.message_zh, "en": error.message_en}}
        return _refused(request, db, principal, evidence_id, errors)
    return RedirectResponse(f"/evidence-items/{new_id}", status_code=303)


@router.post("/evidence-items/{evidence_id}/period")
def change_period(
    request: Request, evidence_id: Id, principal: DataEditor, db: DatabaseDep, form: PostedForm
) -> Response:
    assert principal.org is not None
    errors: dict[str, Any] = {}
    try:
        with db.unit_of_work(org_id=principal.org.id) as uow:
            period, errors = _period_of(uow.session, principal, form)
            if errors:
                raise EvidenceError("", "")
            set_period(
                uow.session,
                org_id=principal.org.id,
                actor=actor_of(principal),
                evidence_id=evidence_id,
                period=period,
            )
    except LookupError:
        raise HTTPException(404) from None
    except EvidenceError as error:
        errors = errors or {"valid_until": {"zh": error.message_zh, "en": error.message_en}}
        return _refused(request, db, principal, evidence_id, errors)
    return RedirectResponse(f"/evidence-items/{evidence_id}", status_code=303)


@router.post("/evidence-items/{evidence_id}/withdraw")
def withdraw_evidence(
    request: Request, evidence_id: Id, principal: DataEditor, db: DatabaseDep, form: PostedForm
) -> Response:
    assert principal.org is not None
    try:
        with db.unit_of_work(org_id=principal.org.id) as uow:
            withdraw(
                uow.session,
                org_id=principal.org.id,
                actor=actor_of(principal),
                evidence_id=evidence_id,
                reason=_text(form, "reason") or "",
            )
    except LookupError:
        raise HTTPException(404) from None
    except EvidenceError as error:
        return _refused(
            request, db, principal, evidence_id, {"reason": {"zh": error.message_zh, "en": error.message_en}}
        )
    return RedirectResponse(f"/evidence-items/{evidence_id}", status_code=303)

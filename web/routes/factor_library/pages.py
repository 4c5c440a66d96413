"""The factor library (/factors, issue 14 item 5): the fuel and sector factor sets and the grid factors
shipped with this release, each with its document, edition, table, data year and confidence; and the grid
factors the organization entered since, with their notices. Auditors and managers read; administrators and
carbon managers add a newly published factor or correct one (a new version with a reason), the notice
uploaded into the evidence store; any problem names its field and keeps nothing (ADR 0039)."""

from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRouter
from sqlmodel import Session
from starlette.datastructures import UploadFile

from engine.emissions.factors import GRID_CALIBERS, factor_sets, shipped_grid_factors
from engine.emissions.sector_sets import sector_sets
from engine.evidence.store import EvidenceError, evidence_names, store_evidence
from engine.factor_library.service import (
    FactorProblem,
    add_grid_factor,
    all_versions,
    check_correction,
    check_entry,
)
from engine.forms.spec import Text
from engine.identity.users import list_members
from web.deps import AuditReader, CarbonManager, DatabaseDep, OrgSession, PostedForm, Principal, actor_of
from web.templating import render

router = APIRouter()
UPLOAD_PATHS = (r"/factors/grid",)
FIELDS = ("region", "data_year", "value", "caliber", "document", "published_on", "reason")


def _context(session: Session, principal: Principal) -> dict[str, Any]:
    assert principal.org is not None
    published = all_versions(session)
    return {
        "published": published,
        "evidence": evidence_names(session, ids={row.evidence_id for row in published}),
        "names": {
            user.id: user.display_name
            for user, _ in list_members(session, org_id=principal.org.id)
            if user.id is not None
        },
        "shipped": shipped_grid_factors(),
        "fuel_sets": list(factor_sets().values()),
        "sector_sets": list(sector_sets().values()),
        "calibers": GRID_CALIBERS,
        "errors": {},
        "values": {},
    }


@router.get("/factors")
def factors_page(request: Request, principal: AuditReader, session: OrgSession) -> Response:
    return render(request, "factor_library/page.html", _context(session, principal))


def _refused(
    request: Request, db: DatabaseDep, principal: Principal, errors: dict[str, Text], values: dict[str, str]
) -> Response:
    assert principal.org is not None
    with db.read_session(org_id=principal.org.id) as session:
        context = {**_context(session, principal), "errors": errors, "values": values}
    return render(request, "factor_library/page.html", context, status_code=422)


@router.post("/factors/grid")
def add_factor(request: Request, principal: CarbonManager, db: DatabaseDep, form: PostedForm) -> Response:
    """A newly published grid factor, or a correction of one: checked field by field, the notice stored as
    evidence, kept as the factor's next version and audited — or nothing is kept."""
    assert principal.org is not None
    values = {name: value for name in FIELDS if isinstance(value := form.get(name), str)}
    errors: dict[str, Text] = {}
    entry = None
    try:
        entry = check_entry(
            region=values.get("region", ""),
            data_year=values.get("data_year", ""),
            value=values.get("value", ""),
            caliber=values.get("caliber", ""),
            document=values.get("document", ""),
            published_on=values.get("published_on", ""),
            reason=values.get("reason", ""),
        )
    except FactorProblem as problem:
        errors.update(problem.errors)
    notice = form.get("notice")
    if not isinstance(notice, UploadFile) or not notice.filename:
        errors["notice"] = Text(zh="请上传发布公告（证据文件）", en="upload the published notice (evidence)")
    if errors or entry is None or not isinstance(notice, UploadFile):
        return _refused(request, db, principal, errors, values)
    settings = request.app.state.settings

    def chunks() -> Any:
        while chunk := notice.file.read(1024 * 1024):
            yield chunk

    try:
        with db.unit_of_work(org_id=principal.org.id) as uow:
            check_correction(uow.session, entry=entry)  # before the file is kept
            stored = store_evidence(
                uow.session,
                org_id=principal.org.id,
                actor=actor_of(principal),
                evidence_store=settings.evidence_store,
                filename=notice.filename or "",
                chunks=chunks(),
                max_bytes=settings.evidence_max_bytes,
            )
            assert stored.id is not None
            row = add_grid_factor(
                uow.session,
                org_id=principal.org.id,
                actor=actor_of(principal),
                entry=entry,
                evidence_id=stored.id,
            )
            added = row.id
    except FactorProblem as problem:
        return _refused(request, db, principal, problem.errors, values)
    except EvidenceError as error:
        return _refused(
            request, db, principal, {"notice": Text(zh=error.message_zh, en=error.message_en)}, values
        )
    return RedirectResponse(f"/factors?added={added}#published-factors", status_code=303)

"""Report templates: which reports an organization may lay out with its own Word template, the placeholders
each may use, an example to start from, the upload (refused with every problem named, nothing kept), the
versions (both kept, downloadable after a hash check) and going back to the built-in layout with a reason.
Administrators and carbon managers only."""

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRouter
from sqlmodel import Session
from starlette.datastructures import UploadFile

from engine.forms.spec import Text
from engine.identity.users import list_members
from engine.report_templates.example import example_docx
from engine.report_templates.registry import ReportType, report_type, report_types
from engine.report_templates.sandbox import TemplateProblem
from engine.report_templates.service import (
    TEMPLATE_MAX_BYTES,
    retire_template,
    template_content,
    template_versions,
    templates_in_use,
    upload_template,
)
from engine.values import Id
from web.deps import CarbonManager, DatabaseDep, OrgSession, PostedForm, Principal, actor_of
from web.report_exports import DOCX
from web.security import SANDBOX_FLAG
from web.templating import render

router = APIRouter()
UPLOAD_PATHS = (r"/report-templates/[^/]+/upload",)


def _kind(key: str) -> ReportType:
    found = report_type(key)
    if found is None:
        raise HTTPException(404)
    return found


def _names(session: Session, principal: Principal) -> dict[int, str]:
    assert principal.org is not None
    return {
        user.id: user.display_name for user, _ in list_members(session, org_id=principal.org.id) if user.id
    }


@router.get("/report-templates")
def templates_page(request: Request, principal: CarbonManager, session: OrgSession) -> Response:
    return render(
        request,
        "report_templates/list.html",
        {"kinds": report_types(), "in_use": templates_in_use(session), "names": _names(session, principal)},
    )


def _context(session: Session, principal: Principal, kind: ReportType) -> dict[str, Any]:
    versions = template_versions(session, report_type=kind.key)
    return {
        "kind": kind,
        "versions": versions,
        "current": next((v for v in versions if v.in_use), None),
        "names": _names(session, principal),
        "max_mib": TEMPLATE_MAX_BYTES // (1024 * 1024),
        "problems": [],
        "errors": {},
    }


@router.get("/report-templates/{report_type}")
def template_page(
    request: Request, report_type: str, principal: CarbonManager, session: OrgSession
) -> Response:
    return render(request, "report_templates/type.html", _context(session, principal, _kind(report_type)))


@router.get("/report-templates/{report_type}/example.docx")
def example(report_type: str, principal: CarbonManager) -> Response:
    kind = _kind(report_type)
    return Response(
        example_docx(kind),
        media_type=DOCX,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(f'example-{kind.key}.docx')}"},
    )


@router.get("/report-templates/{report_type}/versions/{version}")
def download_version(
    request: Request, report_type: str, version: Id, principal: CarbonManager, session: OrgSession
) -> Response:
    """A version as uploaded, after its SHA-256 is checked; a sandboxed attachment like every upload."""
    kind = _kind(report_type)
    row = next((v for v in template_versions(session, report_type=kind.key) if v.version == version), None)
    if row is None or row.id is None:
        raise HTTPException(404)
    try:
        full = template_content(session, template_id=row.id)
    except TemplateProblem as problem:
        message = problem.message_zh if request.state.locale == "zh_CN" else problem.message_en
        return Response(message, status_code=409, media_type="text/plain; charset=utf-8")
    return Response(
        full.content,
        media_type=DOCX,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(full.filename)}",
            "X-Content-SHA256": full.sha256,
            SANDBOX_FLAG.decode(): "1",
        },
    )


def _refused(
    request: Request,
    db: DatabaseDep,
    principal: Principal,
    kind: ReportType,
    *,
    problems: Sequence[Text] = (),
    errors: dict[str, Text] | None = None,
) -> Response:
    assert principal.org is not None
    with db.read_session(org_id=principal.org.id) as session:
        context = {**_context(session, principal, kind), "problems": list(problems), "errors": errors or {}}
    return render(request, "report_templates/type.html", context, status_code=422)


@router.post("/report-templates/{report_type}/upload")
def upload(
    request: Request, report_type: str, principal: CarbonManager, db: DatabaseDep, form: PostedForm
) -> Response:
    """Check the file and keep it as the new version in use, or show every problem and keep nothing."""
    assert principal.org is not None
    kind = _kind(report_type)
    upload = form.get("file")
    note = form.get("note")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _refused(
            request, db, principal, kind, errors={"file": Text(zh="请选择文件", en="choose a file")}
        )
    if isinstance(note, str) and len(note) > 500:
        return _refused(
            request,
            db,
            principal,
            kind,
            errors={"note": Text(zh="说明最多 500 字", en="at most 500 characters")},
        )
    content = upload.file.read(TEMPLATE_MAX_BYTES + 1)
    try:
        with db.unit_of_work(org_id=principal.org.id) as uow:
            row = upload_template(
                uow.session,
                org_id=principal.org.id,
                actor=actor_of(principal),
                report_type=kind.key,
                filename=upload.filename,
                content=content,
                note=note if isinstance(note, str) else "",
            )
            version = row.version
    except TemplateProblem as problem:
        return _refused(request, db, principal, kind, problems=problem.problems)
    return RedirectResponse(f"/report-templates/{kind.key}?accepted={version}", status_code=303)


@router.post("/report-templates/{report_type}/retire")
def retire(
    request: Request, report_type: str, principal: CarbonManager, db: DatabaseDep, form: PostedForm
) -> Response:
    """Back to the built-in layout: the version in use is kept, marked retired with the reason."""
    assert principal.org is not None
    kind = _kind(report_type)
    reason = form.get("reason")
    try:
        with db.unit_of_work(org_id=principal.org.id) as uow:
            retire_template(
                uow.session,
                org_id=principal.org.id,
                actor=actor_of(principal),
                report_type=kind.key,
                reason=reason if isinstance(reason, str) else "",
            )
    except TemplateProblem as problem:
        return _refused(request, db, principal, kind, errors={"reason": problem.problems[0]})
    return RedirectResponse(f"/report-templates/{kind.key}", status_code=303)

"""5.1 / 5.3 The responsibility and authority matrix as a page and as a controlled docx."""

from datetime import date
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from engine.identity.users import list_members
from engine.reports.responsibilities import matrix_fingerprint, responsibilities_docx
from engine.workflow.responsibilities import (
    DUTY_LABELS,
    ROLES_IN_ORDER,
    ProcessDuties,
    holders,
    responsibility_matrix,
)
from web.deps import Member, OrgSession
from web.templating import render

router = APIRouter()


def _matrix(
    request: Request, session: OrgSession, principal: Member
) -> tuple[list[ProcessDuties], dict[str, list[str]]]:
    assert principal.org is not None
    processes = responsibility_matrix(request.app.state.catalog.current.values())
    members = [(user.display_name, roles) for user, roles in list_members(session, org_id=principal.org.id)]
    return processes, holders(members)


@router.get("/responsibilities")
def matrix_page(request: Request, principal: Member, session: OrgSession) -> Response:
    processes, people = _matrix(request, session, principal)
    return render(
        request,
        "leadership/responsibilities.html",
        {
            "processes": processes,
            "holders": people,
            "roles": ROLES_IN_ORDER,
            "duty_labels": DUTY_LABELS,
            "fingerprint": matrix_fingerprint(processes, people),
        },
    )


@router.get("/responsibilities/export.docx")
def matrix_docx(request: Request, principal: Member, session: OrgSession) -> Response:
    assert principal.org is not None
    processes, people = _matrix(request, session, principal)
    content = responsibilities_docx(
        processes=processes,
        holders=people,
        organization_name=principal.org.name,
        exported_by=principal.display_name,
    )
    filename = quote(f"职责权限矩阵-{date.today().isoformat()}.docx")
    return Response(
        content,
        media_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{filename}"},
    )

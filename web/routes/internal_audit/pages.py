"""9.3 the internal audit report (docx). The audits and the programme themselves are the generic record
pages; the record page links the report (web.record_documents)."""

from urllib.parse import quote

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

from engine.forms.spec import Text
from engine.records.queries import get_record, names_of
from engine.values import Id
from web.deps import Member, OrgSession
from web.record_documents import register_document
from workflows.hooks.internal_audit import WORKFLOW
from workflows.hooks.internal_audit_report import audit_report_docx, wanted_names

router = APIRouter()
REPORT_PATH = "/internal-audit/{record_id}/report.docx"
register_document(WORKFLOW, label=Text(zh="审核报告（Word）", en="Audit report (Word)"), path=REPORT_PATH)


@router.get(REPORT_PATH)
def audit_report(principal: Member, session: OrgSession, record_id: Id) -> Response:
    assert principal.org is not None
    audit = get_record(session, record_id=record_id, workflow_key=WORKFLOW)
    if audit is None:
        raise HTTPException(404)
    content = audit_report_docx(
        audit=audit,
        names=names_of(session, org_id=principal.org.id, wanted=wanted_names(audit)),
        organization_name=principal.org.name,
        exported_by=principal.display_name,
    )
    filename = quote(f"内部审核报告-{audit.number}.docx")
    return Response(
        content,
        media_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{filename}"},
    )

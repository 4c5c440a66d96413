"""Upload, versions and use of an organization's report templates. An upload passes the evidence store's
hostile-file checks (magic bytes, zip limits, no XML DOCTYPE/ENTITY), opens as a Word document and passes
the sandbox's check (engine.report_templates.sandbox) or nothing is kept. The accepted version supersedes
the one in use; both stay. Every upload and retirement is an audit event."""

import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from docx import Document
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from engine.audit import Actor, append_event
from engine.evidence.store import EvidenceError, check_bytes, display_name
from engine.forms.spec import Text
from engine.models.base import utcnow
from engine.report_templates.models import ReportTemplate
from engine.report_templates.registry import ReportType, report_type
from engine.report_templates.sandbox import TemplateProblem, check, render
from engine.reports.docx_layout import stamp

TEMPLATE_MAX_BYTES = 5 * 1024 * 1024
SUBJECT = "report_template"


def _problem(zh: str, en: str) -> TemplateProblem:
    return TemplateProblem([Text(zh=zh, en=en)])


def kind_of(key: str) -> ReportType:
    found = report_type(key)
    if found is None:
        raise LookupError(key)
    return found


def subject_id(template: ReportTemplate) -> str:
    """How the audit trail names a version: the report type and the version number."""
    return f"{template.report_type}:v{template.version}"


def upload_template(
    session: Session,
    *,
    org_id: int,
    actor: Actor,
    report_type: str,
    filename: str,
    content: bytes,
    note: str = "",
) -> ReportTemplate:
    """Check and keep a new version; raises TemplateProblem (zh/en, every problem named) and keeps nothing
    when the file is refused. LookupError: no such report type."""
    kind = kind_of(report_type)
    name = display_name(filename)
    if os.path.splitext(name)[1].lower() != ".docx":
        raise _problem("模板须为 Word 文档（.docx）", "a template must be a Word document (.docx)")
    if not content:
        raise _problem("文件是空的", "the file is empty")
    if len(content) > TEMPLATE_MAX_BYTES:
        raise _problem("模板文件超过上限 5 MiB", "the template is larger than the limit of 5 MiB")
    try:
        check_bytes(content, extension=".docx")
        Document(BytesIO(content))
    except EvidenceError as error:
        raise _problem(error.message_zh, error.message_en) from None
    except Exception:  # noqa: BLE001 — whatever python-docx raises, it is no Word document
        raise _problem("文件不是有效的 Word 文档", "the file is not a valid Word document") from None
    used = check(content, kind)
    versions = template_versions(session, report_type=report_type)
    current = next((v for v in versions if v.in_use), None)
    row = ReportTemplate(
        org_id=org_id,
        report_type=report_type,
        version=max((v.version for v in versions), default=0) + 1,
        filename=name,
        sha256=hashlib.sha256(content).hexdigest(),
        size_bytes=len(content),
        content=content,
        placeholders=used,
        note=note.strip()[:500] or None,
        uploaded_by=actor.id,
    )
    session.add(row)
    session.flush()
    if current is not None:
        current.superseded_at, current.superseded_by = utcnow(), row.id
        session.add(current)
    append_event(
        session,
        org_id=org_id,
        actor=actor,
        subject_type=SUBJECT,
        subject_id=subject_id(row),
        action="template_uploaded",
        changes={
            "filename": [None, name],
            "sha256": [None, row.sha256],
            "version": [current.version if current else None, row.version],
            "placeholders": [None, len(used)],  # how many; the names are on the row
            **({"note": [None, row.note]} if row.note else {}),
        },
    )
    return row


def retire_template(
    session: Session, *, org_id: int, actor: Actor, report_type: str, reason: str
) -> ReportTemplate:
    """Go back to the built-in layout: the version in use is marked retired with the reason (kept)."""
    kind_of(report_type)
    reason = reason.strip()
    if not reason:
        raise _problem("请填写原因", "a reason is required")
    current = active_template(session, report_type=report_type)
    if current is None:
        raise _problem("此报告未使用自定义模板", "this report uses no template of its own")
    current.retired_at, current.retired_by, current.retired_reason = utcnow(), actor.id, reason[:1000]
    session.add(current)
    append_event(
        session,
        org_id=org_id,
        actor=actor,
        subject_type=SUBJECT,
        subject_id=subject_id(current),
        action="template_retired",
        changes={"retired_reason": [None, current.retired_reason]},
        reason=current.retired_reason,
    )
    return current


def template_versions(session: Session, *, report_type: str) -> list[ReportTemplate]:
    """The organization's versions for the type, newest first, without their bytes."""
    return list(
        session.exec(
            select(ReportTemplate)
            .options(defer(ReportTemplate.content))  # type: ignore[arg-type]
            .where(ReportTemplate.report_type == report_type)
            .order_by(col(ReportTemplate.version).desc())
        ).all()
    )


def active_template(session: Session, *, report_type: str) -> ReportTemplate | None:
    return session.exec(
        select(ReportTemplate).where(
            ReportTemplate.report_type == report_type,
            col(ReportTemplate.superseded_at).is_(None),
            col(ReportTemplate.retired_at).is_(None),
        )
    ).first()


def templates_in_use(session: Session) -> dict[str, ReportTemplate]:
    rows = session.exec(
        select(ReportTemplate)
        .options(defer(ReportTemplate.content))  # type: ignore[arg-type]
        .where(col(ReportTemplate.superseded_at).is_(None), col(ReportTemplate.retired_at).is_(None))
    ).all()
    return {row.report_type: row for row in rows}


def template_content(session: Session, *, template_id: int) -> ReportTemplate:
    """A version with its bytes, after checking they still hash to what was accepted."""
    row = session.exec(select(ReportTemplate).where(ReportTemplate.id == template_id)).first()
    if row is None:
        raise LookupError(template_id)
    _check_hash(row)
    return row


def _check_hash(row: ReportTemplate) -> None:
    if hashlib.sha256(row.content).hexdigest() != row.sha256:
        raise _problem(
            "模板文件已被改动（SHA-256 与上传时不符）",
            "the template was altered (SHA-256 differs from upload)",
        )


@dataclass(frozen=True)
class Rendered:
    content: bytes
    template: ReportTemplate | None  # None: the built-in layout


def export_docx(
    session: Session,
    *,
    report_type: str,
    context: Callable[[], Mapping[str, Any]],
    builtin: Callable[[], bytes],
    mark: str | None = None,
) -> Rendered:
    """The report through the organization's template when one is in use, else the built-in layout.
    ``mark`` (作废 / OBSOLETE) is stamped on a templated document as on the built-in one. Raises
    TemplateProblem when the template cannot be filled."""
    template = active_template(session, report_type=report_type)
    if template is None:
        return Rendered(builtin(), None)
    _check_hash(template)
    content = render(template.content, context())
    if mark:
        document = Document(BytesIO(content))
        stamp(document, mark=mark)
        buffer = BytesIO()
        document.save(buffer)
        content = buffer.getvalue()
    return Rendered(content, template)

"""A report's Word export for the routes that make one: through the organization's template for that report
type when one is in use (engine.report_templates), else the built-in layout. A template that cannot be
filled answers a page saying why, in the reader's language, never a server error."""

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import Response
from sqlmodel import Session

from engine.report_templates.registry import report_type
from engine.report_templates.sandbox import TemplateProblem
from engine.report_templates.service import export_docx
from web.templating import render

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def docx_export(
    request: Request,
    session: Session,
    *,
    kind: str,
    filename: str,
    context: Callable[[], Mapping[str, Any]],
    builtin: Callable[[], bytes],
    mark: str | None = None,
) -> Response:
    try:
        rendered = export_docx(session, report_type=kind, context=context, builtin=builtin, mark=mark)
    except TemplateProblem as problem:
        return render(
            request,
            "report_templates/render_failed.html",
            {"kind": report_type(kind), "problem": problem},
            status_code=422,
        )
    headers = {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"}
    if rendered.template is not None:  # which template made it, for whoever checks a document
        headers["X-Report-Template"] = f"{rendered.template.report_type} v{rendered.template.version}"
    return Response(rendered.content, media_type=DOCX, headers=headers)

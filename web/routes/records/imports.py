"""A register in bulk: the import page, its xlsx template, and the upload (engine.records.bulk_import)."""

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, HTTPException, Request, UploadFile
from fastapi.responses import Response

from engine.records.bulk_import import (
    MAX_FILE_BYTES,
    ImportRefused,
    import_records,
    import_template,
    importable_fields,
)
from web.deps import DatabaseDep, Member, actor_ref, may_create, workflow_or_404
from web.templating import render

router = APIRouter()
UPLOAD_PATHS = (r"/records/[a-z][a-z0-9_]*/import",)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _page(request: Request, workflow_key: str, principal: Member, **context: object) -> Response:
    workflow = workflow_or_404(request, workflow_key)
    if not may_create(workflow, principal):
        raise HTTPException(403, detail="role")
    status = 422 if context.get("problems") else 200
    return render(
        request,
        "records/import.html",
        {
            "workflow": workflow,
            "fields": importable_fields(workflow),
            "result": None,
            "problems": [],
            **context,
        },
        status_code=status,
    )


@router.get("/records/{workflow_key}/import")
def import_page(request: Request, principal: Member, workflow_key: str) -> Response:
    return _page(request, workflow_key, principal)


@router.get("/records/{workflow_key}/import/template.xlsx")
def template(request: Request, principal: Member, workflow_key: str) -> Response:
    workflow = workflow_or_404(request, workflow_key)
    filename = quote(f"{workflow.spec.title.zh}-导入模板.xlsx")
    return Response(
        import_template(workflow=workflow),
        media_type=XLSX,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{filename}"},
    )


@router.post("/records/{workflow_key}/import")
def upload(
    request: Request,
    principal: Member,
    db: DatabaseDep,
    workflow_key: str,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    assert principal.org is not None
    workflow = workflow_or_404(request, workflow_key)
    if not may_create(workflow, principal):  # before the upload is looked at
        raise HTTPException(403, detail="role")
    content = file.file.read(MAX_FILE_BYTES + 1) if file is not None else b""
    titles = {key: w.spec.title for key, w in request.app.state.catalog.current.items()}
    try:
        with db.unit_of_work(org_id=principal.org.id) as uow:
            result = import_records(
                uow.session,
                workflow=workflow,
                org_id=principal.org.id,
                actor=actor_ref(principal),
                content=content,
                catalog_titles=titles,
            )
    except ImportRefused as refused:
        return _page(request, workflow_key, principal, problems=refused.problems)
    return _page(request, workflow_key, principal, result=result)

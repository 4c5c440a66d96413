"""Activity data in bulk: the xlsx/CSV import page and its template, and the meter-data API."""

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Header, HTTPException, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from engine.carbon_data.errors import EmissionsDataError
from engine.carbon_data.imports import import_readings, import_template
from engine.carbon_data.ingest import ingest_readings
from engine.identity.models import TokenScope
from engine.values import CleanText
from web.deps import DatabaseDep, DataEditor, Member, OrgSession, actor_of, needs_scope
from web.problems import from_data_issues
from web.templating import render

router = APIRouter()
UPLOAD_PATHS = ("/emissions/import",)

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


@router.get("/emissions/import")
def import_page(request: Request, principal: Member) -> Response:
    return render(request, "emissions/import.html", {"result": None, "issues": []})


@router.get("/emissions/import/template.xlsx")
def template(principal: Member, session: OrgSession) -> Response:
    assert principal.org is not None
    content = import_template(session, org_id=principal.org.id)
    return Response(
        content,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": "attachment; filename*=UTF-8''activity-data-template.xlsx"},
    )


@router.post("/emissions/import")
def upload(
    request: Request,
    principal: DataEditor,
    db: DatabaseDep,
    file: Annotated[UploadFile, File()],
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    assert principal.org is not None
    content = file.file.read(MAX_UPLOAD_BYTES + 1)
    if len(content) > MAX_UPLOAD_BYTES:
        raise HTTPException(413, detail="upload")
    try:
        with db.unit_of_work(org_id=principal.org.id) as uow:
            result = import_readings(
                uow.session,
                org_id=principal.org.id,
                actor=actor_of(principal),
                filename=file.filename or "upload",
                content=content,
                reason=reason.strip(),
            )
    except EmissionsDataError as error:
        return render(
            request, "emissions/import.html", {"result": None, "issues": error.issues}, status_code=422
        )
    return render(request, "emissions/import.html", {"result": result, "issues": []})


class MeterReadingsIn(BaseModel):
    readings: list[dict[str, Any]] = Field(max_length=100_000)
    # Needed when readings land in a month whose data batch is verified or reported (8.6): the batch is
    # sent back for verification with this reason.
    reason: CleanText = Field(default="", max_length=500)


@router.post("/api/v1/meter-readings", tags=["emissions"], dependencies=[needs_scope(TokenScope.meter_write)])
def meter_readings(
    request: Request,
    principal: DataEditor,
    db: DatabaseDep,
    body: MeterReadingsIn,
    idempotency_key: Annotated[str, Header(min_length=8, max_length=128)],
) -> JSONResponse:
    """Bulk meter data for energy-monitoring systems; a replayed Idempotency-Key returns the first result."""
    assert principal.org is not None
    try:
        with db.unit_of_work(org_id=principal.org.id) as uow:
            result = ingest_readings(
                uow.session,
                org_id=principal.org.id,
                readings=body.readings,
                idempotency_key=idempotency_key,
                actor=actor_of(principal),
                reason=body.reason.strip(),
            )
    except EmissionsDataError as error:
        raise from_data_issues(error.issues) from None
    return JSONResponse(
        {**result.to_dict(), "replayed": result.replayed}, status_code=200 if result.replayed else 201
    )

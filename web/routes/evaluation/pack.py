"""The auditor's evidence pack from the browser: a clause (or all) and a year, as the command
`tanguan pack export` makes it (docs/adr/0032), without PDFs (LibreOffice takes a third of a second per
record: the command makes them). A POST, since the export writes an audit event and a signed checkpoint."""

import os
from datetime import date
from pathlib import Path
from tempfile import mkstemp
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask

from engine.config import KeyRing
from engine.evidence_pack.build import PackError, PackRequest, export_pack
from engine.identity.models import Role
from engine.values import Year
from web.deps import DatabaseDep, Principal, RoleRequirement

router = APIRouter()
PackReader = Annotated[
    Principal,
    Depends(
        RoleRequirement(
            Role.carbon_manager, Role.quality_manager, Role.internal_auditor, Role.top_management, Role.admin
        )
    ),
]


@router.post("/evaluation/pack")
def download_pack(
    request: Request,
    principal: PackReader,
    db: DatabaseDep,
    year: Annotated[Year, Form()],
    clause: Annotated[str, Form(max_length=16, pattern=r"^(\d{1,2}(\.\d{1,2}){0,3})?$")] = "",
) -> Response:
    assert principal.org is not None
    state, settings = request.app.state, request.app.state.settings
    descriptor, name = mkstemp(prefix="tanguan-pack-", suffix=".zip")
    os.close(descriptor)
    out = Path(name)
    try:
        export_pack(
            db,
            request=PackRequest(principal.org.slug, clause or None, date(year, 1, 1), date(year, 12, 31)),
            out=out,
            catalog=state.catalog,
            key_ring=KeyRing(state.secret_key, tuple(state.old_secret_keys)),
            evidence_store=settings.evidence_store,
            checkpoint_dir=settings.checkpoint_dir,
            pdf=False,
            exported_by=principal.display_name,
        )
    except PackError as error:
        out.unlink(missing_ok=True)
        raise HTTPException(422, detail=str(error)) from None
    filename = f"evidence-pack-{principal.org.slug}-{clause or 'all'}-{year}.zip"
    return FileResponse(
        out,
        media_type="application/zip",
        filename=filename,
        background=BackgroundTask(out.unlink, missing_ok=True),
    )

"""The dashboard and the organization switcher."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from engine.audit_trail.labels import trail_entries
from engine.audit_trail.service import TrailFilter, list_events
from engine.identity.auth import switch_session_org
from engine.records.dashboard import DASHBOARD_TASKS, count_open_tasks, followed_records, my_tasks
from engine.values import Id
from web.deps import AUDIT_READERS, DatabaseDep, Member, OrgSession
from web.templating import htmx_aware_redirect, render
from workflows.hooks.document_register import to_read

router = APIRouter()

AUDIT_READER_ROLES = frozenset(role.value for role in AUDIT_READERS)


@router.get("/")
def dashboard(request: Request, principal: Member, session: OrgSession) -> Response:
    latest = []
    if principal.has_any(AUDIT_READER_ROLES):
        latest = list_events(session, trail_filter=TrailFilter(), limit=10).events
    today = date.today()
    alerts = []
    if "admin" in principal.roles:
        alerts = list_events(session, trail_filter=TrailFilter(action="security_alert"), limit=5).events
    tasks = my_tasks(
        session, user_id=principal.user_id, roles=principal.roles, today=today, limit=DASHBOARD_TASKS
    )
    reading = (
        to_read(session, org_id=principal.org.id, user_id=principal.user_id, roles=principal.roles)
        if principal.org is not None
        else []
    )
    context = {
        "task_count": count_open_tasks(session, user_id=principal.user_id, roles=principal.roles),
        "security_alerts": alerts,
        "latest_events": trail_entries(
            session,
            latest,
            labels=request.app.state.trail_labels,
            locale=request.state.locale,
            with_changes=False,
        ),
        "tasks": tasks,
        "to_read": reading[:DASHBOARD_TASKS],
        "to_read_count": len(reading),
        "followed": followed_records(session, user_id=principal.user_id),
        "catalog": request.app.state.catalog,
    }
    return render(request, "dashboard.html", context)


@router.post("/org/switch")
def switch_org(
    request: Request, db: DatabaseDep, principal: Member, org_id: Annotated[Id, Form()]
) -> Response:
    with db.unit_of_work(all_orgs=True) as uow:
        switched = switch_session_org(
            uow.session,
            token_hash=principal.session_token_hash or "",
            user_id=principal.user_id,
            org_id=org_id,
        )
    if not switched:
        raise HTTPException(404)
    return htmx_aware_redirect(request, RedirectResponse("/", status_code=303))

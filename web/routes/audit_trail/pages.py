"""The audit trail page: filters, keyset pagination, field changes, and chain verification."""

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from sqlmodel import Session

from engine.audit import verify_chain
from engine.audit_trail.labels import TrailLabels, subject_label, trail_entries
from engine.audit_trail.service import TrailFilter, list_events, subject_types
from engine.identity.users import list_members
from engine.models.base import utc_iso
from engine.values import Id, parse_id
from web.deps import AuditReader, DatabaseDep, OrgSession, Principal
from web.i18n import DISPLAY_TIMEZONE
from web.templating import is_htmx, render

router = APIRouter()


def _day_start_utc(day: str | None, *, offset_days: int = 0) -> str | None:
    """The start of a local calendar day (China time) as a UTC bound."""
    if not day:
        return None
    try:
        local = datetime.combine(
            date.fromisoformat(day) + timedelta(days=offset_days), time.min, tzinfo=ZoneInfo(DISPLAY_TIMEZONE)
        )
        return utc_iso(local)
    except (ValueError, OverflowError):  # not a date, or the last day there is
        raise HTTPException(422, detail="date") from None


def trail_filter_from(
    subject_type: str | None,
    subject_id: str | None,
    actor_id: int | None,
    date_from: str | None,
    date_to: str | None,
) -> TrailFilter:
    return TrailFilter(
        subject_type=subject_type or None,
        subject_id=subject_id or None,
        actor_id=actor_id,
        since_utc=_day_start_utc(date_from),
        until_utc=_day_start_utc(date_to, offset_days=1),
    )


def _trail_context(
    request: Request,
    session: Session,
    principal: Principal,
    trail_filter: TrailFilter,
    query: dict[str, Any],
    before: int | None,
) -> dict[str, Any]:
    assert principal.org is not None
    page = list_events(session, trail_filter=trail_filter, before_seq=before)
    labels: TrailLabels = request.app.state.trail_labels
    return {
        "page": page,
        "entries": trail_entries(session, page.events, labels=labels, locale=request.state.locale),
        "query": query,
        "subject_types": [(key, subject_label(key)) for key in subject_types(session)],
        "actors": [
            (user.id, user.display_name) for user, _ in list_members(session, org_id=principal.org.id)
        ],
    }


@router.get("/audit")
def audit_trail(
    request: Request,
    principal: AuditReader,
    session: OrgSession,
    subject_type: str | None = None,
    subject_id: str | None = None,
    actor_id: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    before: Id | None = None,
) -> Response:
    # The filter form posts "" for "all actors"; anything else must be a user id.
    actor = parse_id(actor_id) if actor_id else None
    if actor_id and actor is None:
        raise HTTPException(422, detail="actor_id")
    trail_filter = trail_filter_from(subject_type, subject_id, actor, date_from, date_to)
    query = {
        "subject_type": subject_type or "",
        "subject_id": subject_id or "",
        "actor_id": actor or "",
        "date_from": date_from or "",
        "date_to": date_to or "",
    }
    context = _trail_context(request, session, principal, trail_filter, query, before)
    # "Load more" appends rows; the filter form replaces the table.
    block = "rows" if before is not None else "trail"
    return render(request, "audit_trail.html", context, block=block)


@router.post("/audit/verify")
def verify(request: Request, principal: AuditReader, session: OrgSession, db: DatabaseDep) -> Response:
    assert principal.org is not None
    with db.engine.connect() as connection:
        check = verify_chain(connection, org_id=principal.org.id)
    if is_htmx(request):
        return render(request, "audit_trail.html", {"check": check}, block="verify_result")
    query = dict.fromkeys(("subject_type", "subject_id", "actor_id", "date_from", "date_to"), "")
    context = _trail_context(request, session, principal, TrailFilter(), query, None)
    return render(request, "audit_trail.html", {**context, "check": check})

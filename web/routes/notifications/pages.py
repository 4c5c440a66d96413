"""The notification centre (newest first, a page at a time), marking one or all read, and the mail
preferences saved from the profile page. Everything here is the signed-in person's own."""

from typing import Annotated, Literal

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response

from engine.notifications.service import (
    is_notification_of,
    mark_read,
    notifications_of,
    set_preferences,
    unread_count,
)
from engine.values import Id
from web.deps import Member, OrgSession, OrgUnitOfWork, actor_of
from web.templating import render

router = APIRouter(prefix="/notifications")

PAGE_SIZE = 50
MAX_PAGE = 10_000
Page = Annotated[int, Query(ge=1, le=MAX_PAGE)]
BackToPage = Annotated[int, Form(ge=1, le=MAX_PAGE)]


def _back(page: int) -> RedirectResponse:
    return RedirectResponse("/notifications" + (f"?page={page}" if page > 1 else ""), status_code=303)


@router.get("")
def centre(request: Request, principal: Member, session: OrgSession, page: Page = 1) -> Response:
    listed = notifications_of(
        session, user_id=principal.user_id, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE
    )
    context = {
        "notifications": listed[:PAGE_SIZE],
        "page": page,
        "has_next": len(listed) > PAGE_SIZE,
        "unread_count": unread_count(session, user_id=principal.user_id),
    }
    return render(request, "notifications.html", context)


@router.post("/read-all")
def read_all(principal: Member, uow: OrgUnitOfWork) -> Response:
    mark_read(uow.session, user_id=principal.user_id)
    return _back(1)


@router.post("/{notification_id}/read")
def read_one(principal: Member, uow: OrgUnitOfWork, notification_id: Id, page: BackToPage = 1) -> Response:
    if not is_notification_of(uow.session, user_id=principal.user_id, notification_id=notification_id):
        raise HTTPException(404)  # another person's, or none: never said which
    mark_read(uow.session, user_id=principal.user_id, notification_id=notification_id)
    return _back(page)


@router.post("/preferences")
def save_preferences(
    principal: Member,
    uow: OrgUnitOfWork,
    email_urgent: Annotated[Literal["yes", "no"], Form()],
    email_digest: Annotated[Literal["yes", "no"], Form()],
) -> Response:
    assert principal.org is not None
    set_preferences(
        uow.session,
        user_id=principal.user_id,
        org_id=principal.org.id,
        email_urgent=email_urgent == "yes",
        email_digest=email_digest == "yes",
        actor=actor_of(principal),
    )
    return RedirectResponse("/profile?saved=true#notification-preferences", status_code=303)

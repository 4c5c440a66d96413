"""The user's own profile: language, password and which notifications are mailed."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from engine.notifications.service import preferences_of
from web.deps import Member, OrgSession
from web.templating import render

router = APIRouter()


@router.get("/profile")
def profile(
    request: Request, principal: Member, session: OrgSession, saved: Annotated[bool, Query()] = False
) -> Response:
    context = {"preferences": preferences_of(session, user_id=principal.user_id), "saved": saved}
    return render(request, "profile.html", context)

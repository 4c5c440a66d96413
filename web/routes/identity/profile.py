"""The user's own profile: language and password."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from web.deps import Member
from web.templating import render

router = APIRouter()


@router.get("/profile")
def profile(request: Request, principal: Member) -> Response:
    return render(request, "profile.html")

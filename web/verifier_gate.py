"""The external verifier's fence (B9), app-wide: a member who holds a verification grant in the
organization sees the portal only, inside the grant's window, and may send only the portal's own actions.
A refusal names the reason on the error page; nothing else of the app answers them."""

from fastapi import HTTPException, Request

from engine.db import Database
from engine.forms.spec import Text
from engine.identity.models import Role
from engine.verification.errors import OutsideWindow
from engine.verification.scope import current_grant
from web.security import UNSAFE_METHODS

PORTAL = "/verification/portal"
TRACE = "/trace/"  # the trust chain's pages check the grant's year themselves and audit each view
# What a verifier sends besides reading: their own actions, nothing else.
VERIFIER_ACTIONS = frozenset(f"{PORTAL}/{action}" for action in ("coi", "values", "returns", "close"))
# Signing out, the language, the organization switch and the forced password change stay everyone's.
ALWAYS = frozenset({"/login", "/logout", "/locale", "/org/switch", "/password/change"})


READ_ONLY = Text(
    zh="核查人员只能在核查门户内查看授权范围内的内容，并且只能进行核查操作",
    en="A verifier reads what the grant covers in the verification portal, and does nothing but verify",
)


class GoToPortal(Exception):
    """The dashboard asked for by a verifier: their landing page is the portal."""


def is_verifier_path(path: str) -> bool:
    return path == PORTAL or path.startswith(PORTAL + "/")


async def verifier_gate(request: Request) -> None:
    principal = getattr(request.state, "principal", None)
    if principal is None or principal.org is None or Role.external_auditor.value not in principal.roles:
        return
    path = request.url.path
    if path in ALWAYS or path.startswith("/static/"):
        return
    db: Database = request.app.state.db
    with db.read_session(org_id=principal.org.id) as session:
        try:
            grant = current_grant(session, org_id=principal.org.id, user_id=principal.user_id)
        except OutsideWindow as refused:
            raise HTTPException(403, detail="verifier:" + refused.message.get(request.state.locale)) from None
    if grant is None:
        return  # no grant in this organization: the role's ordinary read access
    request.state.verifier_portal = True
    if request.method in UNSAFE_METHODS:
        if path in VERIFIER_ACTIONS:
            return
    elif is_verifier_path(path) or path.startswith(TRACE):
        return
    elif path == "/" and request.method == "GET":
        raise GoToPortal()
    raise HTTPException(403, detail="verifier:" + READ_ONLY.get(request.state.locale))

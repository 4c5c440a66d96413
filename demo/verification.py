"""B9: a government verifier with a current grant for last year's data (8.6 and 9.1), so that the portal
can be seen at once: sign in as hecha@verify.example."""

from datetime import timedelta

from sqlmodel import Session, select

from engine.audit import Actor
from engine.verification.models import VerificationGrant
from engine.verification.service import grant_access
from engine.workflow.computed import china_today

VERIFIER_EMAIL = "hecha@verify.example"
VERIFIER_NAME = "吴思远"
VERIFIER_BODY = "湖南省碳排放核查中心（示例）"


def seed_demo_verification(session: Session, *, org_id: int, admin: Actor, password: str) -> None:
    """The grant once (idempotent), its window from a week ago to two months ahead."""
    if session.exec(select(VerificationGrant.id).where(VerificationGrant.org_id == org_id)).first():
        return
    from engine.identity.users import create_user, get_user_by_email

    if get_user_by_email(session, email=VERIFIER_EMAIL) is None:
        create_user(session, email=VERIFIER_EMAIL, display_name=VERIFIER_NAME, password=password)
    today = china_today()
    grant_access(
        session,
        org_id=org_id,
        actor=admin,
        email=VERIFIER_EMAIL,
        display_name=VERIFIER_NAME,
        body=VERIFIER_BODY,
        year=today.year - 1,
        clauses="8.6, 9.1",
        valid_from=(today - timedelta(days=7)).isoformat(),
        valid_until=(today + timedelta(days=60)).isoformat(),
    )

"""Users and memberships. Role changes and account state changes are audited in each affected org."""

import secrets
from collections.abc import Iterable

from sqlalchemy import update
from sqlmodel import Session, col, select

from engine.audit import Actor, append_event
from engine.identity.models import Membership, Role, User, UserSession
from engine.models.base import utcnow
from engine.passwords import hash_password


class UserError(ValueError):
    pass


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or email.startswith("@") or email.endswith("@"):
        raise UserError(f"not an e-mail address: {email!r}")
    return email


def get_user_by_email(session: Session, *, email: str) -> User | None:
    return session.exec(select(User).where(User.email == normalize_email(email))).first()


def parse_roles(roles: Iterable[str]) -> list[str]:
    known = {role.value for role in Role}
    unknown = sorted(set(roles) - known)
    if unknown:
        raise UserError(f"unknown role(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return sorted(set(roles))


def create_user(
    session: Session,
    *,
    email: str,
    display_name: str,
    password: str,
    must_change_password: bool = False,
    locale: str | None = None,
) -> User:
    """A new account; it belongs to no organization until a membership is granted."""
    email = normalize_email(email)
    if get_user_by_email(session, email=email) is not None:
        raise UserError(f"a user with e-mail {email} already exists")
    user = User(
        email=email,
        display_name=display_name.strip() or email,
        password_hash=hash_password(password),
        must_change_password=must_change_password,
        locale=locale,
    )
    session.add(user)
    session.flush()
    return user


def grant_membership(
    session: Session, *, org_id: int, user: User, roles: Iterable[str], actor: Actor
) -> Membership:
    """Set the user's roles in the organization (creating the membership if needed)."""
    new_roles = parse_roles(roles)
    assert user.id is not None
    membership = session.exec(
        select(Membership).where(Membership.org_id == org_id, Membership.user_id == user.id)
    ).first()
    old_roles = list(membership.roles) if membership else None
    if membership is None:
        membership = Membership(org_id=org_id, user_id=user.id, roles=new_roles)
        session.add(membership)
    elif old_roles == new_roles:
        return membership
    else:
        membership.roles = new_roles  # reassigned, never mutated in place: JSON columns track assignment
    session.flush()
    assert membership.id is not None
    append_event(
        session,
        org_id=org_id,
        actor=actor,
        subject_type="membership",
        subject_id=membership.id,
        action="roles_set" if old_roles is not None else "created",
        changes={"user_id": [None, user.id], "roles": [old_roles, new_roles]}
        if old_roles is None
        else {"roles": [old_roles, new_roles]},
    )
    return membership


def revoke_user_sessions(session: Session, *, user_id: int) -> None:
    """End every session of the user at once (disabling, password reset by an admin)."""
    session.execute(
        update(UserSession)
        .where(col(UserSession.user_id) == user_id, col(UserSession.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )


def memberships_of(session: Session, *, user_id: int) -> list[Membership]:
    return list(session.exec(select(Membership).where(Membership.user_id == user_id)).all())


def set_user_active(
    session: Session, *, user: User, active: bool, actor: Actor, reason: str | None = None
) -> None:
    """Enable or disable an account; audited in every organization the user belongs to."""
    if user.is_active == active:
        return
    user.is_active = active
    session.add(user)
    assert user.id is not None
    if not active:
        revoke_user_sessions(session, user_id=user.id)
    for membership in memberships_of(session, user_id=user.id):
        append_event(
            session,
            org_id=membership.org_id,
            actor=actor,
            subject_type="user",
            subject_id=user.id,
            action="enabled" if active else "disabled",
            changes={"is_active": [not active, active]},
            reason=reason,
        )
    session.flush()


def set_user_locale(session: Session, *, user_id: int, locale: str | None) -> None:
    """The user's interface language (a preference: not an audited change)."""
    user = session.get(User, user_id)
    assert user is not None
    user.locale = locale
    session.add(user)


def one_time_password() -> str:
    """A random first password, shown once to the admin; the user must replace it at first sign-in."""
    return "Tg-" + secrets.token_urlsafe(12)


def invite_user(
    session: Session, *, org_id: int, email: str, display_name: str, roles: Iterable[str], actor: Actor
) -> tuple[User, str | None]:
    """Add a member. A new account gets a one-time password (returned once); an existing account of
    another organization is only granted the membership."""
    user = get_user_by_email(session, email=email)
    password = None
    if user is None:
        password = one_time_password()
        user = create_user(
            session, email=email, display_name=display_name, password=password, must_change_password=True
        )
    grant_membership(session, org_id=org_id, user=user, roles=roles, actor=actor)
    return user, password


def list_members(session: Session, *, org_id: int) -> list[tuple[User, list[str]]]:
    rows = session.exec(
        select(User, Membership.roles)
        .join(Membership, col(Membership.user_id) == User.id)
        .where(Membership.org_id == org_id)
        .order_by(User.display_name)
    ).all()
    return [(user, list(roles)) for user, roles in rows]


def get_member(session: Session, *, org_id: int, user_id: int) -> tuple[User, list[str]] | None:
    row = session.exec(
        select(User, Membership.roles)
        .join(Membership, col(Membership.user_id) == User.id)
        .where(Membership.org_id == org_id, User.id == user_id)
    ).first()
    return (row[0], list(row[1])) if row else None


def admin_can_disable(session: Session, *, admin_user_id: int, user_id: int) -> bool:
    """An account spans organizations: an admin may disable it only if they administer all of them."""
    administered = {
        m.org_id for m in memberships_of(session, user_id=admin_user_id) if Role.admin.value in m.roles
    }
    return all(m.org_id in administered for m in memberships_of(session, user_id=user_id))


def get_user(session: Session, *, user_id: int) -> User | None:
    return session.get(User, user_id)

"""Users and memberships. Role changes and account state changes are audited in each affected org."""

from collections.abc import Iterable

from sqlmodel import Session, select

from engine.audit import Actor, append_event
from engine.models import Membership, Role, User
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

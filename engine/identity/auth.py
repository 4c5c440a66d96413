"""Sign-in, server-side sessions, login throttling and personal access tokens."""

import hashlib
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, text, update
from sqlalchemy.orm import Mapped
from sqlmodel import Session, col
from sqlmodel import select as orm_select

from engine.audit import Actor, append_event
from engine.config import Settings
from engine.db import Database
from engine.events import PolicyEvent, announce
from engine.identity.models import (
    ApiToken,
    LoginAttempt,
    Membership,
    Organization,
    TokenScope,
    User,
    UserSession,
)
from engine.identity.users import memberships_of
from engine.models.base import utcnow
from engine.passwords import dummy_hash, hash_password, verify_password
from engine.write_generation import WriteGeneration

TOKEN_BYTES = 32  # 256 bits from the OS CSPRNG
SESSION_TOUCH_INTERVAL = timedelta(minutes=1)  # last_seen is written at most this often
TOKEN_NAME_MAX = 120
MAX_TOKEN_DAYS = 3660  # ten years: "never" is an empty expiry, not a large number
IP_FAILURE_FACTOR = 5  # one address may fail this many times the per-account limit (many accounts)
LOGIN_LOCK_SPACE = (
    7_141_001  # the first key of the PostgreSQL advisory locks that queue one account's sign-ins
)


class LoginRefused(Exception):
    """Wrong credentials (the same for a wrong password and an unknown account, on purpose)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    refusal: str | None = None  # "invalid" or "throttled"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _as_utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _recent_failures(session: Session, *, column: Mapped[str], value: str, since: datetime) -> int:
    last_success = session.exec(
        orm_select(func.max(LoginAttempt.attempted_at)).where(column == value, LoginAttempt.succeeded)
    ).one()
    if last_success is not None:
        since = max(since, _as_utc(last_success))
    return session.exec(
        orm_select(func.count())
        .select_from(LoginAttempt)
        .where(column == value, LoginAttempt.attempted_at > since, col(LoginAttempt.succeeded).is_(False))
    ).one()


@dataclass(frozen=True)
class SignInLimitReached(PolicyEvent):
    """A failed sign-in brought ``kind`` ("account": one e-mail; "address": one client address, whatever
    the accounts) to its limit or beyond. Announced on every such failure, in its transaction; the alert
    policy (engine.notifications.security) raises one alert per window. ``org_id`` is 0, the installation:
    the account's organizations are ``org_ids`` (none for an unknown e-mail or a platform administrator)."""

    kind: str
    email: str
    ip: str
    failures: int
    limit: int
    window_minutes: int
    at: datetime
    org_ids: tuple[int, ...] = ()


def _limits(settings: Settings) -> dict[str, int]:
    return {
        "account": settings.login_max_failures,
        "address": settings.login_max_failures * IP_FAILURE_FACTOR,
    }


def _failures(session: Session, *, email: str, ip: str, settings: Settings, now: datetime) -> dict[str, int]:
    """Failed sign-ins in the window, of the account and of the address."""
    since = now - timedelta(minutes=settings.login_window_minutes)
    return {
        "account": _recent_failures(session, column=col(LoginAttempt.email), value=email, since=since),
        "address": _recent_failures(session, column=col(LoginAttempt.ip), value=ip, since=since),
    }


def _announce_limits(
    session: Session,
    *,
    failures: dict[str, int],
    user: User | None,
    email: str,
    ip: str,
    settings: Settings,
    now: datetime,
) -> None:
    """After a failure is recorded (``failures`` counts it): each limit reached is announced."""
    org_ids = tuple(m.org_id for m in memberships_of(session, user_id=user.id)) if user and user.id else ()
    for kind, limit in _limits(settings).items():
        if failures[kind] >= limit:
            announce(
                session,
                SignInLimitReached(
                    org_id=0,
                    kind=kind,
                    email=email,
                    ip=ip,
                    failures=failures[kind],
                    limit=limit,
                    window_minutes=settings.login_window_minutes,
                    at=now,
                    org_ids=org_ids,
                ),
            )


def _audit_login(session: Session, *, user: User, action: str, ip: str, reason: str | None = None) -> None:
    assert user.id is not None
    for membership in memberships_of(session, user_id=user.id):
        append_event(
            session,
            org_id=membership.org_id,
            actor=Actor(user.id, user.display_name),
            subject_type="user",
            subject_id=user.id,
            action=action,
            changes={"ip": [None, ip]},
            reason=reason,
        )


def _queue_for_account(session: Session, *, email: str) -> None:
    """Attempts for one account are decided one at a time, whichever instance or worker process they reach,
    so that concurrent attempts cannot all read a failure count under the limit (T14). On SQLite the write
    transaction (``BEGIN IMMEDIATE``) already serializes them; on PostgreSQL a transaction-scoped advisory
    lock on the account's e-mail does, released at commit."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(
            text("SELECT pg_advisory_xact_lock(:space, hashtext(:email))"),
            {"space": LOGIN_LOCK_SPACE, "email": email},
        )


def attempt_login(session: Session, *, email: str, password: str, ip: str, settings: Settings) -> LoginResult:
    """Check the credentials. Every attempt is recorded and failures of known accounts are audited, so the
    caller commits whatever the result."""
    email = email.strip().lower()[:254]
    _queue_for_account(session, email=email)
    now = utcnow()
    user = session.exec(orm_select(User).where(User.email == email)).first()
    failures = _failures(session, email=email, ip=ip, settings=settings, now=now)
    limits = _limits(settings)
    after_this = {kind: count + 1 for kind, count in failures.items()}  # when this attempt fails
    if any(failures[kind] >= limit for kind, limit in limits.items()):
        session.add(LoginAttempt(email=email, ip=ip, succeeded=False, attempted_at=now))
        if user is not None:
            _audit_login(session, user=user, action="login_throttled", ip=ip)
        _announce_limits(
            session, failures=after_this, user=user, email=email, ip=ip, settings=settings, now=now
        )
        return LoginResult(user=None, refusal="throttled")
    # An unknown account is checked against a dummy hash so that both failures take the same time.
    password_ok = verify_password(user.password_hash if user else dummy_hash(), password)
    succeeded = bool(user and password_ok and user.is_active)
    session.add(LoginAttempt(email=email, ip=ip, succeeded=succeeded, attempted_at=now))
    if not succeeded:
        _announce_limits(
            session, failures=after_this, user=user, email=email, ip=ip, settings=settings, now=now
        )
    if user is None:
        return LoginResult(user=None, refusal="invalid")
    if not succeeded:
        reason = "wrong password" if not password_ok else "account disabled"
        _audit_login(session, user=user, action="login_failed", ip=ip, reason=reason)
        return LoginResult(user=None, refusal="invalid")
    _audit_login(session, user=user, action="login", ip=ip)
    return LoginResult(user=user)


def default_org_id(session: Session, *, user: User) -> int | None:
    assert user.id is not None
    memberships = memberships_of(session, user_id=user.id)
    return min((m.org_id for m in memberships), default=None)


def start_session(session: Session, *, user: User, org_id: int | None, ip: str, user_agent: str) -> str:
    """A new session; returns the token for the cookie (only its hash is stored)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    assert user.id is not None
    session.add(
        UserSession(
            token_hash=hash_token(token), user_id=user.id, org_id=org_id, ip=ip, user_agent=user_agent[:300]
        )
    )
    session.flush()
    return token


@dataclass(frozen=True)
class LiveSession:
    id: int
    user_id: int
    org_id: int | None
    token_hash: str
    needs_touch: bool  # last_seen_at is older than SESSION_TOUCH_INTERVAL: the caller writes it


# Built once: these run on every signed-in request.
_TOUCH_SESSION = (
    update(UserSession)
    .where(col(UserSession.id) == bindparam("session_id"))
    .values(last_seen_at=bindparam("now"))
)
_IDENTITY = (
    select(
        col(User.email),
        col(User.display_name),
        col(User.locale),
        col(User.is_active),
        col(User.must_change_password),
        col(Membership.roles),
        col(Organization.id),
        col(Organization.slug),
        col(Organization.name),
    )
    .select_from(User)
    .outerjoin(Membership, col(Membership.user_id) == User.id)
    .outerjoin(Organization, col(Organization.id) == Membership.org_id)
    .where(col(User.id) == bindparam("user_id"))
    .order_by(col(Organization.id))
)
# The session, its person with their memberships, and the write generation (docs/adr/0048) in one round trip:
# the statement every signed-in request begins with.
_SIGNED_IN = (
    select(
        col(UserSession.id).label("session_id"),
        col(UserSession.user_id),
        col(UserSession.org_id).label("session_org_id"),
        col(UserSession.revoked_at),
        col(UserSession.last_seen_at),
        col(UserSession.created_at),
        *_IDENTITY.selected_columns,
        select(col(WriteGeneration.n))
        .where(col(WriteGeneration.id) == 1)
        .scalar_subquery()
        .label("generation"),
    )
    .select_from(UserSession)
    .join(User, col(User.id) == UserSession.user_id)
    .outerjoin(Membership, col(Membership.user_id) == User.id)
    .outerjoin(Organization, col(Organization.id) == Membership.org_id)
    .where(col(UserSession.token_hash) == bindparam("token_hash"))
    .order_by(col(Organization.id))
)
_API_TOKEN = select(
    col(ApiToken.id),
    col(ApiToken.user_id),
    col(ApiToken.org_id),
    col(ApiToken.scopes),
    col(ApiToken.expires_at),
    col(ApiToken.last_used_at),
    col(ApiToken.revoked_at),
).where(col(ApiToken.token_hash) == bindparam("token_hash"))
_TOUCH_API_TOKEN = (
    update(ApiToken).where(col(ApiToken.id) == bindparam("token_id")).values(last_used_at=bindparam("now"))
)


def touch_session(connection: Connection, *, session_id: int) -> None:
    connection.execute(_TOUCH_SESSION, {"session_id": session_id, "now": utcnow()})


@dataclass(frozen=True)
class Identity:
    user_id: int
    email: str
    display_name: str
    locale: str | None
    must_change_password: bool
    memberships: tuple[tuple[int, str, str, tuple[str, ...]], ...]  # (org id, slug, name, roles)


@dataclass(frozen=True)
class SignedIn:
    session: LiveSession
    identity: Identity | None  # None: the person is deactivated
    write_generation: int


def load_signed_in(connection: Connection, *, token: str, settings: Settings) -> SignedIn | None:
    """The live session for a cookie token with its person, or None when unknown, revoked, idle or too old;
    one statement."""
    now = utcnow()
    token_hash = hash_token(token)
    rows = connection.execute(_SIGNED_IN, {"token_hash": token_hash}).all()
    if not rows or rows[0].revoked_at is not None:
        return None
    first = rows[0]
    idle_limit = timedelta(minutes=settings.session_idle_minutes)
    absolute_limit = timedelta(hours=settings.session_absolute_hours)
    last_seen = _as_utc(first.last_seen_at)
    if now - last_seen > idle_limit or now - _as_utc(first.created_at) > absolute_limit:
        return None
    live = LiveSession(
        first.session_id,
        first.user_id,
        first.session_org_id,
        token_hash,
        needs_touch=now - last_seen > SESSION_TOUCH_INTERVAL,
    )
    return SignedIn(live, _identity(first.user_id, rows), int(first.generation or 0))


def load_identity(connection: Connection, *, user_id: int) -> Identity | None:
    """An active user with their memberships (one query), or None."""
    return _identity(user_id, connection.execute(_IDENTITY, {"user_id": user_id}).all())


def _identity(user_id: int, rows: Sequence[Any]) -> Identity | None:
    """From the rows of _IDENTITY's columns (one per membership)."""
    if not rows or not rows[0].is_active:
        return None
    first = rows[0]
    memberships = tuple((row.id, row.slug, row.name, tuple(row.roles)) for row in rows if row.id is not None)
    return Identity(
        user_id, first.email, first.display_name, first.locale, first.must_change_password, memberships
    )


def end_session(session: Session, *, token_hash: str) -> None:
    session.execute(
        update(UserSession)
        .where(col(UserSession.token_hash) == token_hash, col(UserSession.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )


def switch_session_org(session: Session, *, token_hash: str, user_id: int, org_id: int) -> bool:
    """Move the session to another organization the user belongs to."""
    member = session.exec(
        orm_select(Membership.id).where(Membership.user_id == user_id, Membership.org_id == org_id)
    ).first()
    if member is None:
        return False
    session.execute(
        update(UserSession).where(col(UserSession.token_hash) == token_hash).values(org_id=org_id)
    )
    return True


def change_password(session: Session, *, user: User, current: str | None, new: str) -> None:
    """Set a new password (policy-checked). ``current`` is required unless a reset is forced."""
    if current is not None and not verify_password(user.password_hash, current):
        raise LoginRefused("invalid")
    user.password_hash = hash_password(new)
    user.must_change_password = False
    session.add(user)
    assert user.id is not None
    for membership in memberships_of(session, user_id=user.id):
        append_event(
            session,
            org_id=membership.org_id,
            actor=Actor(user.id, user.display_name),
            subject_type="user",
            subject_id=user.id,
            action="password_changed",
        )


class TokenError(ValueError):
    """A token cannot be made as asked; ``field`` names the input, the message comes in both languages."""

    def __init__(self, field: str, *, zh: str, en: str) -> None:
        super().__init__(f"{field}: {en}")
        self.field = field
        self.zh = zh
        self.en = en


def _checked_scopes(scopes: Collection[str]) -> list[str]:
    known = [scope.value for scope in TokenScope]
    unknown = sorted(set(scopes) - set(known))
    if unknown:
        listed = ", ".join(unknown)
        raise TokenError("scopes", zh=f"未知的权限范围：{listed}", en=f"Unknown scope: {listed}")
    if not scopes:
        raise TokenError("scopes", zh="请至少选择一个权限范围", en="Choose at least one scope")
    return [scope for scope in known if scope in scopes]


def token_expiry(value: str, *, timezone: tzinfo) -> datetime | None:
    """When a token asked to expire "in N days" or "on YYYY-MM-DD" (at the start of that day, local time)
    expires; None for an empty value (never)."""
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        days = int(value)
        if not 1 <= days <= MAX_TOKEN_DAYS:
            raise TokenError(
                "expires",
                zh=f"有效天数应在 1 到 {MAX_TOKEN_DAYS} 之间",
                en=f"Give between 1 and {MAX_TOKEN_DAYS} days",
            )
        return utcnow() + timedelta(days=days)
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise TokenError(
            "expires",
            zh="到期时间应为天数或日期（YYYY-MM-DD）",
            en="The expiry is a number of days or a date (YYYY-MM-DD)",
        ) from None
    return datetime.combine(day, time.min, tzinfo=timezone).astimezone(UTC)


def create_api_token(
    session: Session,
    *,
    user: User,
    org_id: int,
    name: str,
    scopes: Collection[str],
    expires_at: datetime | None = None,
) -> str:
    """A personal access token for the JSON API with the scopes it may use; shown once, stored hashed."""
    name = name.strip()
    if not name:
        raise TokenError("name", zh="请填写令牌名称", en="Name the token")
    if len(name) > TOKEN_NAME_MAX:
        raise TokenError(
            "name", zh=f"名称最多 {TOKEN_NAME_MAX} 个字符", en=f"At most {TOKEN_NAME_MAX} characters"
        )
    granted = _checked_scopes(scopes)
    if expires_at is not None and expires_at <= utcnow():
        raise TokenError("expires", zh="到期时间必须在将来", en="The expiry must be in the future")
    token = "tgn_" + secrets.token_urlsafe(TOKEN_BYTES)
    assert user.id is not None
    row = ApiToken(
        token_hash=hash_token(token),
        user_id=user.id,
        org_id=org_id,
        name=name,
        scopes=granted,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    append_event(
        session,
        org_id=org_id,
        actor=Actor(user.id, user.display_name),
        subject_type="api_token",
        subject_id=row.id,
        action="created",
        changes={
            "name": [None, name],
            "scopes": [None, granted],
            "expires_at": [None, expires_at.isoformat() if expires_at else None],
        },
    )
    return token


def revoke_api_token(session: Session, *, user: User, name: str) -> int:
    rows = session.exec(
        orm_select(ApiToken).where(
            ApiToken.user_id == user.id, ApiToken.name == name, col(ApiToken.revoked_at).is_(None)
        )
    ).all()
    for row in rows:
        assert row.id is not None
        row.revoked_at = utcnow()
        session.add(row)
        append_event(
            session, org_id=row.org_id, actor=Actor(user.id, user.display_name),
            subject_type="api_token", subject_id=row.id, action="revoked",
        )  # fmt: skip
    return len(rows)


@dataclass(frozen=True)
class TokenListing:
    id: int
    name: str
    owner_id: int
    owner_name: str
    scopes: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def status(self) -> str:
        """``active``, ``expired`` or ``revoked``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and _as_utc(self.expires_at) <= utcnow():
            return "expired"
        return "active"


def list_api_tokens(session: Session, *, org_id: int, owner_id: int | None = None) -> list[TokenListing]:
    """The organization's tokens, newest first; only one user's when ``owner_id`` is given."""
    query = (
        orm_select(ApiToken, col(User.display_name))
        .join(User, col(User.id) == ApiToken.user_id)
        .where(col(ApiToken.org_id) == org_id)
        .order_by(col(ApiToken.id).desc())
    )
    if owner_id is not None:
        query = query.where(col(ApiToken.user_id) == owner_id)
    return [
        TokenListing(
            id=row.id,
            name=row.name,
            owner_id=row.user_id,
            owner_name=owner_name,
            scopes=tuple(row.scopes),
            created_at=row.created_at,
            expires_at=row.expires_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
        )
        for row, owner_name in session.exec(query).all()
        if row.id is not None
    ]


class Revocation(StrEnum):
    revoked = "revoked"
    already_revoked = "already_revoked"
    not_found = "not_found"


def revoke_api_token_by_id(
    session: Session, *, token_id: int, org_id: int, actor: Actor, owner_only: bool
) -> Revocation:
    """Revoke one token of the organization (only the actor's own when ``owner_only``), audited."""
    row = session.get(ApiToken, token_id)
    if row is None or row.org_id != org_id or (owner_only and row.user_id != actor.id):
        return Revocation.not_found
    if row.revoked_at is not None:
        return Revocation.already_revoked
    assert row.id is not None
    row.revoked_at = utcnow()
    session.add(row)
    append_event(
        session,
        org_id=org_id,
        actor=actor,
        subject_type="api_token",
        subject_id=row.id,
        action="revoked",
        changes={"revoked_at": [None, row.revoked_at.isoformat()]},
    )
    return Revocation.revoked


@dataclass(frozen=True)
class LiveToken:
    id: int
    user_id: int
    org_id: int
    scopes: frozenset[str]
    needs_touch: bool  # last_used_at is older than SESSION_TOUCH_INTERVAL: the caller writes it


def resolve_api_token(connection: Connection, *, token: str) -> LiveToken | None:
    """The live personal access token (not revoked, not expired), or None."""
    row = connection.execute(_API_TOKEN, {"token_hash": hash_token(token)}).first()
    now = utcnow()
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and _as_utc(row.expires_at) <= now:
        return None
    last_used = _as_utc(row.last_used_at) if row.last_used_at else None
    needs_touch = last_used is None or now - last_used > SESSION_TOUCH_INTERVAL
    return LiveToken(row.id, row.user_id, row.org_id, frozenset(row.scopes), needs_touch)


def touch_api_token(connection: Connection, *, token_id: int) -> None:
    connection.execute(_TOUCH_API_TOKEN, {"token_id": token_id, "now": utcnow()})


def reauthenticate(db: Database, *, user_id: int, password: str) -> bool:
    """Check an active user's password for an e-signature, in a read session of its own (Argon2 takes
    ≈ 350 ms: never inside a write transaction)."""
    with db.read_session(all_orgs=True) as session:
        user = session.get(User, user_id)
        return user is not None and user.is_active and verify_password(user.password_hash, password)

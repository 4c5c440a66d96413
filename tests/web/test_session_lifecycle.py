"""T12 session lifecycle (RELIABILITY.md): the session id rotates at sign-in, a cookie replayed after logout
or after the account is disabled is refused, the idle and absolute timeouts hold to the minute, and the
token is 256 bits from the operating system's CSPRNG.

The clock is advanced by moving the session's own times back (``last_seen_at``, ``created_at``): the app
compares them with ``utcnow()``, so a session last seen 31 minutes ago is what 31 minutes of waiting makes."""

import base64
import secrets
from collections import Counter
from datetime import timedelta
from types import SimpleNamespace

from sqlalchemy import update

import engine.identity.auth as auth
from engine.identity.models import UserSession
from engine.models.base import utcnow
from tests.web.conftest import csrf_of
from tests.web.test_auth import disable_the_staff_member

EMAIL = "carbon@xiangfeng.example"
PASSWORD = "Xiangfeng#2026"
COOKIE = "tanguan_session"


def sign_in(client, email=EMAIL, password=PASSWORD, *, token=None):
    token = token or csrf_of(client.get("/login").text)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


def session_cookie(response) -> str:
    header = next(h for h in response.headers.get_list("set-cookie") if h.startswith(f"{COOKIE}="))
    return header.split(";")[0].split("=", 1)[1]


def accepted(web, cookie: str) -> bool:
    """Whether a client presenting only this cookie gets a signed-in page, a signed-in form post and the
    API's ``me``."""
    client = web.client()
    client.cookies.set(COOKIE, cookie)
    return client.get("/").status_code == 200 or client.get("/api/v1/me").status_code == 200


def test_the_session_id_rotates_at_sign_in_and_a_planted_one_is_never_adopted(web):
    planted = secrets.token_urlsafe(32)
    client = web.client()
    client.cookies.set(COOKIE, planted)
    first = sign_in(client)
    assert first.status_code == 303
    old = session_cookie(first)
    assert old != planted and not accepted(web, planted)
    # Signing in again over a live session (another login on the same browser) rotates it: the earlier id
    # stops working.
    client.cookies.set(COOKIE, old)
    again = sign_in(client, "quality@xiangfeng.example", token=csrf_of(client.get("/").text))
    assert again.status_code == 303
    new = session_cookie(again)
    rotated = new != old and not accepted(web, old) and accepted(web, new)
    print(f"\nT12 session id rotated at sign-in: {rotated} (planted id adopted: {accepted(web, planted)})")
    assert rotated


def test_cookies_replayed_after_logout_or_after_the_account_is_disabled_are_refused(web):
    replays = refused = 0
    for _ in range(5):
        client = web.client()
        response = sign_in(client)
        cookie = session_cookie(response)
        assert accepted(web, cookie)
        page = client.get("/profile")
        assert client.post("/logout", data={"csrf_token": csrf_of(page.text)}).status_code == 303
        for attempt in range(3):
            replay = web.client()
            replay.cookies.set(COOKIE, cookie)
            replays += 1
            answer = [replay.get("/"), replay.get("/api/v1/me"), replay.get("/records/nonconformity")][
                attempt
            ]
            refused += answer.status_code in (303, 401)
    print(f"\nT12 replays after logout refused: {refused}/{replays}")
    assert refused == replays

    # The staff member signs in on three browsers; the administrator disables the account.
    cookies = [session_cookie(sign_in(web.client(), "staff@xiangfeng.example")) for _ in range(3)]
    assert all(accepted(web, cookie) for cookie in cookies)
    disable_the_staff_member(web)
    still_valid = sum(accepted(web, cookie) for cookie in cookies)
    print(f"T12 sessions of a disabled user still valid: {still_valid}/{len(cookies)}")
    assert still_valid == 0


def _age_sessions(web, **moved) -> None:
    with web.db.unit_of_work(all_orgs=True) as uow:
        uow.session.execute(update(UserSession).where(UserSession.revoked_at.is_(None)).values(**moved))


def test_idle_and_absolute_timeouts_hold_within_a_minute_of_the_configuration(web):
    idle = timedelta(minutes=web.settings.session_idle_minutes)
    absolute = timedelta(hours=web.settings.session_absolute_hours)
    minute = timedelta(minutes=1)
    verdicts = {}
    for name, column, limit in (("idle", "last_seen_at", idle), ("absolute", "created_at", absolute)):
        for offset in (-minute, minute):
            cookie = session_cookie(sign_in(web.client()))
            moved = {column: utcnow() - (limit + offset)}
            if column == "created_at":  # a session used a moment ago, but signed in long ago
                moved["last_seen_at"] = utcnow()
            _age_sessions(web, **moved)
            verdicts[(name, offset > timedelta(0))] = accepted(web, cookie)
    print(
        f"\nT12 idle {idle} / absolute {absolute}: a minute before the limit accepted "
        f"{verdicts[('idle', False)]}/{verdicts[('absolute', False)]}, a minute after refused "
        f"{not verdicts[('idle', True)]}/{not verdicts[('absolute', True)]}"
    )
    assert verdicts == {("idle", False): True, ("idle", True): False,
                        ("absolute", False): True, ("absolute", True): False}  # fmt: skip


def test_session_tokens_are_256_bits_from_the_csprng(web, monkeypatch):
    """Every token comes from ``secrets.token_urlsafe`` (os.urandom) with 32 bytes; 40 sign-ins give 40
    distinct tokens whose bytes are spread as random bytes are."""
    drawn: list[int] = []
    real = secrets.token_urlsafe

    def spy(nbytes=None):
        drawn.append(nbytes)
        return real(nbytes)

    monkeypatch.setattr(auth, "secrets", SimpleNamespace(token_urlsafe=spy))  # the module's own draws only
    tokens = [session_cookie(sign_in(web.client())) for _ in range(40)]
    raw = [base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)) for token in tokens]
    assert drawn and all(n == auth.TOKEN_BYTES for n in drawn) and len(drawn) == len(tokens)
    bits = {len(value) * 8 for value in raw}
    counts = Counter(byte for value in raw for byte in value)
    print(
        f"\nT12 session token: {bits} bits from secrets.token_urlsafe, {len(set(tokens))}/{len(tokens)} "
        f"distinct, {len(counts)} distinct byte values over {sum(counts.values())} bytes"
    )
    assert bits == {256} and len(set(tokens)) == len(tokens)
    assert len(counts) > 200  # 1,280 random bytes cover nearly all 256 values; a weak source would not

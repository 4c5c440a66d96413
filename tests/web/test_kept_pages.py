"""Pages kept under the write generation (docs/adr/0048): served again only while nothing was written, to
the same session, in the same minute, with the request's own CSP nonce."""

import asyncio
import re
import threading

import pytest
from sqlalchemy import text

from engine.db import Database
from engine.observability import REGISTRY
from tests.web.conftest import CATALOG, WebEnv
from web import kept_pages
from web.app import create_app

NONCE = re.compile(r'<script[^>]+nonce="([^"]+)"')
RENAME = "UPDATE user_account SET display_name = :name WHERE email = 'carbon@xiangfeng.example'"
KEPT_ROUTES = ["/", "/records/nonconformity", "/r/1", "/audit", "/notifications"]


def hits() -> float:
    return REGISTRY.get_sample_value("tanguan_kept_pages_total", {"outcome": "hit"}) or 0.0


def view(client, path: str = "/", **headers: str):
    response = client.get(path, headers=headers)
    assert response.status_code == 200, (path, response.status_code)
    return response


@pytest.mark.parametrize("path", KEPT_ROUTES)
def test_a_page_seen_again_is_the_kept_one_with_this_responses_nonce(web, path):
    client = web.as_role("carbon_manager")
    first = view(client, path)
    before = hits()
    second = view(client, path)
    assert hits() == before + 1
    nonces = [NONCE.search(page.text).group(1) for page in (first, second)]
    assert nonces[0] != nonces[1]
    assert f"'nonce-{nonces[1]}'" in second.headers["content-security-policy"]
    assert second.text == first.text.replace(nonces[0], nonces[1])
    assert second.headers["content-type"] == first.headers["content-type"]
    assert second.headers["cache-control"] == "no-store"


def test_a_write_from_another_instance_shows_at_once_and_a_rolled_back_one_changes_nothing(web):
    client = web.as_role("carbon_manager")
    view(client, "/records/nonconformity")
    other = Database(web.db.url)  # a second instance of the app on the same database
    try:
        with pytest.raises(RuntimeError), other.write_engine.begin() as connection:
            connection.execute(text(RENAME), {"name": "回滚的名字"})
            raise RuntimeError("rolled back")
        before = hits()
        assert "回滚的名字" not in view(client, "/records/nonconformity").text
        assert hits() == before + 1
        # Not audited, not through a service: a raw update of a person's name on the other instance.
        with other.write_engine.begin() as connection:
            connection.execute(text(RENAME), {"name": "李娜娜"})
    finally:
        other.dispose()
    before = hits()
    assert "李娜娜" in view(client, "/records/nonconformity").text
    assert hits() == before  # rendered anew


def test_a_page_is_kept_for_its_own_session_and_fragment_only(web):
    manager = web.as_role("carbon_manager")
    auditor = web.as_role("internal_auditor")
    mine = view(manager, "/records/nonconformity").text
    before = hits()
    theirs = view(auditor, "/records/nonconformity").text
    assert hits() == before
    assert "李娜" in mine and "李娜" not in theirs.split("<main", 1)[0]  # each navbar names its own person
    second_session = web.as_role("carbon_manager")  # the same person signed in twice: two CSRF tokens
    view(second_session, "/records/nonconformity")
    assert hits() == before
    fragment = view(manager, "/records/nonconformity", **{"HX-Request": "true", "HX-Target": "results"})
    assert "<html" not in fragment.text and "<html" in mine


def test_a_signed_out_session_gets_the_sign_in_page_not_the_kept_page(web):
    client = web.as_role("carbon_manager")
    view(client)
    view(client)  # kept
    token = re.search(r'name="csrf_token" value="([^"]+)"', view(client).text).group(1)
    assert client.post("/logout", data={"csrf_token": token}).status_code in (302, 303)
    response = client.get("/")
    assert response.status_code in (302, 303) and "/login" in response.headers["location"]


def test_the_next_minute_renders_anew(web, monkeypatch):
    client = web.as_role("carbon_manager")
    view(client)
    before = hits()
    now = kept_pages.time.time()
    monkeypatch.setattr(kept_pages.time, "time", lambda: now + 60)
    view(client)
    assert hits() == before


def test_an_api_token_and_the_json_api_are_never_kept(web):
    client = web.as_role("carbon_manager")
    before = hits()
    for _ in range(2):
        assert client.get("/api/v1/records?workflow=nonconformity").status_code == 200
    assert hits() == before


def test_with_keeping_switched_off_every_view_renders(web):
    settings = web.settings.model_copy(update={"keep_pages": False})
    off = WebEnv(db=web.db, app=create_app(settings=settings, db=web.db, catalog=CATALOG), settings=settings)
    client = off.as_role("carbon_manager")
    counted = [hits(), REGISTRY.get_sample_value("tanguan_kept_pages_total", {"outcome": "miss"})]
    view(client)
    view(client)
    assert [hits(), REGISTRY.get_sample_value("tanguan_kept_pages_total", {"outcome": "miss"})] == counted


def test_one_render_per_key_and_the_others_wait_for_it():
    async def scenario() -> None:
        store = kept_pages.PageStore()
        assert store.claim("page") is None  # the first renders
        waiting = store.claim("page")
        assert waiting is not None and not waiting.is_set()  # the next waits
        threading.Thread(target=store.release, args=("page",)).start()  # routes render on the thread pool
        await asyncio.wait_for(waiting.wait(), 60)
        assert store.rendering() == 0 and store.claim("page") is None

    # On a thread of its own: after the browser tests (Playwright's sync API) this thread may run a loop.
    failures: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(scenario())
        except BaseException as error:  # reported on the test's thread
            failures.append(error)

    runner = threading.Thread(target=run)
    runner.start()
    runner.join()
    assert not failures, failures


@pytest.mark.parametrize("path", ["/r/999999", "/records/no-such-process", "/audit?before=x"])
def test_a_view_that_fails_frees_its_key(web, path):
    client = web.as_role("carbon_manager")
    assert client.get(path).status_code in (404, 422)
    assert web.app.state.kept_pages.rendering() == 0

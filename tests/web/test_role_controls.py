"""Each role is offered only what it may do: every form a page shows posts to a route that admits the
role viewing it, so nobody fills in a form to end on a bare 403."""

import re

import pytest

from tests.web.conftest import ALL_ROLES
from tests.web.routes import route_rules

PAGES = [
    "/", "/emissions?year=2025", "/emissions/data?year=2025", "/emissions/production?year=2025",
    "/emissions/measured?year=2025", "/emissions/sources", "/emissions/import", "/emissions/targets",
    "/emissions/parameters", "/records/nonconformity", "/records/carbon_data_batch", "/notifications",
    "/profile",
]  # fmt: skip
POST_FORM = re.compile(r'<form\b[^>]*\bmethod="post"[^>]*\baction="([^"]+)"', re.IGNORECASE)
SIGNED_IN_EVERYWHERE = {"/locale", "/logout"}  # the language switch and sign-out, on every page
# One's own notifications read and one's own mail preferences: every member's, read-only roles included.
PERSONAL = re.compile(r"/notifications/(read-all|preferences|\d+/read)")
READ_ONLY = ["external_auditor", "internal_auditor", "top_management"]


def _rule_for(rules, path: str):
    for rule in rules:
        pattern = re.sub(r"\{[^}]+\}", r"[^/]+", rule.path)
        if rule.method == "POST" and re.fullmatch(pattern, path):
            return rule
    raise AssertionError(f"a page posts to {path}, which no route answers")


@pytest.mark.parametrize("role", ALL_ROLES)
def test_every_form_a_page_shows_is_one_the_role_may_send(web, role):
    rules = route_rules(web.app)
    client = web.as_role(role)
    offered = []
    for page in PAGES:
        response = client.get(page)
        if response.status_code == 403:
            continue  # the page itself is not for this role
        assert response.status_code == 200, (role, page, response.status_code)
        for action in POST_FORM.findall(response.text):
            path = action.split("?", 1)[0]
            if path in SIGNED_IN_EVERYWHERE:
                continue
            rule = _rule_for(rules, path)
            assert rule.allows(frozenset({role})), f"{role} is shown a form on {page} posting to {path}"
            if not PERSONAL.fullmatch(path):
                offered.append(path)
    if role in READ_ONLY:
        assert offered == [], f"{role} is offered {offered}"


@pytest.mark.parametrize("role", READ_ONLY)
def test_read_only_roles_see_the_monthly_data_but_no_input(web, role):
    page = web.as_role(role).get("/emissions/data?year=2025").text
    assert 'class="input is-small grid-input"' not in page and 'id="save-grid"' not in page
    assert 'id="attach-evidence"' not in page and "grid-value" in page

"""Oversized or malformed posts get a 4xx with a message, never a 500; errors render in both languages."""

from tests.web.conftest import csrf_of


def test_an_oversized_post_is_refused_before_it_is_read(web):
    client = web.as_role("admin")
    token = csrf_of(client.get("/").text)
    response = client.post("/locale", content=b"x" * (3 * 1024 * 1024), headers={
        "X-CSRF-Token": token, "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert response.status_code == 413 and "请求内容过大" in response.text


def test_malformed_forms_get_422_with_the_field_named(web):
    client = web.as_role("admin")
    token = csrf_of(client.get("/").text)
    response = client.post("/org/switch", data={"csrf_token": token, "org_id": "not-a-number"})
    assert response.status_code == 422 and "org_id" in response.text
    form_headers = {"X-CSRF-Token": token, "Content-Type": "application/x-www-form-urlencoded"}
    garbage = client.post("/admin/users", content=b"\xff\xfe%%%==&&", headers=form_headers)
    assert 400 <= garbage.status_code < 500


def test_unknown_pages_get_a_friendly_404_in_both_languages(web):
    chinese = web.as_role("staff").get("/no/such/page")
    assert chinese.status_code == 404 and "未找到" in chinese.text
    english = web.client(**{"Accept-Language": "en"}).get("/no/such/page")
    assert english.status_code == 404 and "Not found." in english.text
    api = web.client().get("/api/v1/nothing")
    assert api.status_code == 404 and api.headers["content-type"] == "application/problem+json"
    assert api.json()["title"] == "未找到" and api.json()["instance"] == "/api/v1/nothing"


def test_a_staff_member_gets_a_friendly_403(web):
    response = web.as_role("staff").get("/admin/users")
    assert response.status_code == 403 and "您没有执行此操作的权限" in response.text


GARBAGE_FIELDS = {
    "year": "二〇二五",
    "q-x-2025-01": "12",
    "q-1-2025-13": "abc",
    "org_unit_id": "abc",
    "product_id": "-1e9",
    "source_id": "1.5",
    "owner_id": "' OR 1=1 --",
    "period": "2025-99",
    "quantity": "NaN",
    "base_year": "9" * 40,
    "target_year": "",
    "reduction_pct": "Infinity",
    "roles": "superuser",
    "org_id": "0x10",
    "version": "-1",
    "expected_version": "v1",
    "locale": "xx",
    "email": "not-an-email",
    "due_date": "2025-02-30",
    "found_on": "yesterday",
    "name": "令" * 600,
    "scopes": "admin",
    "expires_on": "2025-02-30",
}


def test_garbage_in_every_form_field_never_gives_a_500(web):
    """Every unsafe page route, posted by an admin and by a carbon manager with nonsense in the fields the
    forms read (urlencoded and multipart): a 4xx or a redirect, never a server error."""
    from tests.web.routes import route_rules
    from tests.web.test_security import concrete, demo_object_ids

    ids = demo_object_ids(web)
    rules = [r for r in route_rules(web.app) if r.is_unsafe and not r.is_api and r.path != "/logout"]
    assert len(rules) >= 15
    failures = []
    for role in ("admin", "carbon_manager"):
        client = web.as_role(role)
        token = csrf_of(client.get("/").text)
        for rule in rules:
            path = concrete(rule.path, ids)
            posted = client.post(path, data={"csrf_token": token, **GARBAGE_FIELDS})
            multipart = client.post(
                path,
                data={"csrf_token": token, **GARBAGE_FIELDS},
                files={"evidence": ("x.pdf", b"%PDF-1.4 tiny"), "file": ("x.xlsx", b"PK\x03\x04 no zip")},
            )
            for kind, response in (("form", posted), ("multipart", multipart)):
                if response.status_code >= 500:
                    failures.append((role, kind, rule.path, response.status_code))
    print(f"\ngarbage posts: {len(rules)} routes × 2 roles × 2 encodings, server errors {len(failures)}")
    assert failures == []

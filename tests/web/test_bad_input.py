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
    assert api.status_code == 404 and api.headers["content-type"].startswith("application/json")


def test_a_staff_member_gets_a_friendly_403(web):
    response = web.as_role("staff").get("/admin/users")
    assert response.status_code == 403 and "您没有执行此操作的权限" in response.text

"""Values from outside follow one rule everywhere (engine/values.py): control characters and bidi overrides
are refused in every text, ids and years out of range are refused — each with a 422 that names the field,
in the user's language, and nothing written."""

import pytest
from sqlalchemy import text

from engine.values import ID_MAX, forbidden_character, parse_id, parse_year
from tests.web.conftest import api_token, bearer_client, csrf_of

NC = {
    "title": "煤粉仓温度报警未记录",
    "source": "monitoring",
    "description": "夜班未记录报警",
    "found_on": "2026-11-20",
}


def test_the_value_rules():
    assert forbidden_character("整改\t完成\r\n第二行\n") is None
    assert forbidden_character("a\x00b") == "U+0000"
    assert forbidden_character("\x1b[31m") == "U+001B"
    assert forbidden_character("a\rb") == "U+000D"  # a lone carriage return; CRLF is a line break
    assert forbidden_character("\x85") == "U+0085"
    assert forbidden_character("invoice\u202etxt.exe") == "U+202E"
    assert forbidden_character("\u2066x\u2069") == "U+2066"
    assert parse_id("42") == 42 and parse_id(str(ID_MAX)) == ID_MAX
    for bad in ("", "0", "-1", str(ID_MAX + 1), "9" * 40, "1e3", "١٢", " ", "0x10"):
        assert parse_id(bad) is None, bad
    assert parse_year("2025") == 2025
    for bad in ("1989", "2101", "-34218", "02025", "二〇二五", "2025.0"):
        assert parse_year(bad) is None, bad


def _record_count(web) -> int:
    with web.db.engine.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM record")).scalar_one()


@pytest.mark.parametrize("title", ["泄漏\x00记录", "报警\x1b[31m", "invoice\u202etxt.exe", "a\rb"])
def test_the_api_refuses_control_characters_in_a_title(web, title):
    api = bearer_client(web, api_token(web, "staff@xiangfeng.example"))
    before = _record_count(web)
    response = api.post("/api/v1/records", json={"workflow": "nonconformity", "data": {**NC, "title": title}})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["errors"][0]["field"] == "data.title"
    assert "控制字符" in problem["errors"][0]["message"]
    assert _record_count(web) == before


def test_a_transition_comment_with_nul_is_refused_over_the_api(web):
    api = bearer_client(web, api_token(web, "quality@xiangfeng.example"))
    with web.db.engine.connect() as connection:
        record_id = connection.execute(
            text("SELECT id FROM record WHERE state = 'reported' AND workflow_key = 'nonconformity'")
        ).scalar()
    body = {"version": 1, "data": {"severity": "minor"}, "comment": "评审\x00"}
    response = api.post(f"/api/v1/records/{record_id}/transitions/assess", json=body)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "comment"


def test_a_form_with_nul_is_refused_naming_the_field_in_chinese(web):
    client = web.as_role("staff")
    token = csrf_of(client.get("/records/nonconformity/new").text)
    before = _record_count(web)
    response = client.post("/records/nonconformity", data={**NC, "title": "泄漏\x00", "csrf_token": token})
    assert response.status_code == 422
    assert "title" in response.text and "不能包含控制字符或双向文本控制符（U+0000）" in response.text
    english = client.post(
        "/records/nonconformity",
        data={**NC, "description": "x\u202ey", "csrf_token": token},
        headers={"Accept-Language": "en"},
    )
    assert english.status_code == 422 and "bidirectional-override characters (U+202E)" in english.text
    assert _record_count(web) == before


def test_line_breaks_and_tabs_are_kept(web):
    api = bearer_client(web, api_token(web, "staff@xiangfeng.example"))
    description = "第一行\r\n第二行\n\t缩进"
    response = api.post(
        "/api/v1/records", json={"workflow": "nonconformity", "data": {**NC, "description": description}}
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/r/9223372036854775808", "record_id"),
        ("/r/18446744073709551616/export.docx", "record_id"),
        ("/admin/users/99999999999999999999", "user_id"),
        ("/emissions?year=-34218", "year"),
        ("/emissions/data?year=99999999999", "year"),
        ("/emissions/report.docx?year=1e309", "year"),
        ("/records/nonconformity?assignee=9223372036854775808", "assignee"),
        ("/audit?before=9223372036854775808", "before"),
        ("/emissions/snapshots/2147483648", "snapshot_id"),
        ("/records/nonconformity?q=%00", "q"),
    ],
)
def test_out_of_range_values_in_pages_get_422_naming_the_field(web, path, field):
    response = web.as_role("admin" if "admin" in path else "carbon_manager").get(path)
    assert response.status_code == 422, (path, response.status_code)
    assert f"<code>{field}</code>" in response.text


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/records/9223372036854775808", "record_id"),
        ("/api/v1/users/2147483648", "user_id"),
        ("/api/v1/audit-events?before=1e309", "before"),
        ("/api/v1/records?workflow=nonconformity&after=-1", "after"),
    ],
)
def test_out_of_range_values_in_the_api_get_a_problem_naming_the_field(web, path, field):
    response = bearer_client(web, api_token(web, "admin@xiangfeng.example")).get(path)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == field


def test_huge_numbers_in_forms_are_refused_as_a_choice(web):
    client = web.as_role("carbon_manager")
    token = csrf_of(client.get("/emissions/sources").text)
    response = client.post(
        "/emissions/sources",
        data={"csrf_token": token, "code": "X-1", "name": "测试源", "category": "fuel_combustion",
              "unit": "t", "org_unit_id": "9223372036854775808"},
    )  # fmt: skip
    assert response.status_code == 422 and "请选择设施" in response.text


def test_an_emoji_trigger_is_not_found(web):
    api = bearer_client(web, api_token(web, "quality@xiangfeng.example"))
    with web.db.engine.connect() as connection:
        record_id = connection.execute(text("SELECT min(id) FROM record")).scalar()
    response = api.post(f"/api/v1/records/{record_id}/transitions/😀", json={"version": 1})
    assert response.status_code in (404, 409, 422)

"""The generic record list: filters run in SQL (clause, due date, search) and the xlsx export takes every
record the same filters select, over all pages."""

import io
import re

from openpyxl import load_workbook

from web.routes.records import pages as record_routes


def _numbers(html: str) -> set[str]:
    return set(re.findall(r'<a href="/r/\d+">([A-Z]+-\d{4}-\d{4})</a>', html))


def _titles(client, query: str) -> set[str]:
    page = client.get(f"/records/nonconformity?{query}")
    assert page.status_code == 200
    return set(
        re.findall(r'<tr data-record="\d+">\s*<td><a[^>]*>[^<]*</a></td>\s*<td>([^<]*)</td>', page.text)
    )


def test_the_clause_filter_finds_the_clause_and_its_sub_clauses(web):
    client = web.as_role("quality_manager")
    everything = _titles(client, "")
    on_86 = _titles(client, "clause=8.6")
    assert "余热电站发电量日报漏报" in on_86 and "重复报告：包装车间照明" not in on_86
    on_8 = _titles(client, "clause=8")
    assert on_86 <= on_8 and "重复报告：包装车间照明" in on_8
    assert _titles(client, "clause=10.1") == everything  # the workflow's own clause
    assert _titles(client, "clause=8.6a") == set()  # not a clause: nothing, not an error
    assert _titles(client, "clause=8.6&q=余热") == {"余热电站发电量日报漏报"}


def test_a_new_record_is_filed_under_the_clause_its_form_names(web):
    from tests.web.conftest import csrf_of

    client = web.as_role("staff")
    form = client.get("/records/nonconformity/new")
    created = client.post(
        "/records/nonconformity",
        data={
            "csrf_token": csrf_of(form.text),
            "title": "碳排放核算边界图未更新",
            "source": "internal_audit",
            "description": "新增骨料线未纳入边界图",
            "found_on": "2026-11-20",
            "clause": "4.3",
        },
    )
    assert created.status_code == 303
    assert "碳排放核算边界图未更新" in _titles(web.as_role("quality_manager"), "clause=4.3")


def test_the_export_takes_every_page_and_the_same_filters(web, monkeypatch):
    monkeypatch.setattr(record_routes, "EXPORT_PAGE", 2)  # several pages even with the demo's few records
    client = web.as_role("quality_manager")
    listed = _numbers(client.get("/records/nonconformity?clause=8").text)
    assert len(listed) >= 3
    export = client.get("/records/nonconformity/export.xlsx?clause=8")
    assert export.status_code == 200
    sheet = load_workbook(io.BytesIO(export.content)).active
    exported = {str(row[0]) for row in sheet.iter_rows(min_row=2, values_only=True) if row[0]}
    assert exported == listed
    everything = client.get("/records/nonconformity/export.xlsx")
    total = sum(
        1 for row in load_workbook(io.BytesIO(everything.content)).active.iter_rows(min_row=2) if row[0].value
    )
    assert total > len(exported)


EMPTY_FILTERS = "state=&assignee=&due_by=&created_from=&created_to=&clause=&q="


def test_the_filter_form_as_a_browser_sends_it_blank_means_no_filter(web):
    """The 筛选 form and the 导出 Excel link send every field, blank ones included."""
    manager = web.as_role("quality_manager")
    everything = manager.get("/records/nonconformity")
    blank = manager.get(f"/records/nonconformity?{EMPTY_FILTERS}")
    assert blank.status_code == 200, blank.text[:300]
    rows = re.findall(r'data-record="(\d+)"', blank.text)
    assert rows and rows == re.findall(r'data-record="(\d+)"', everything.text)
    export = manager.get(f"/records/nonconformity/export.xlsx?{EMPTY_FILTERS}")
    assert export.status_code == 200
    assert load_workbook(io.BytesIO(export.content)).active.max_row == len(rows) + 1


def test_a_filter_value_that_is_not_a_date_is_refused_naming_the_field(web):
    response = web.as_role("quality_manager").get("/records/nonconformity?due_by=yesterday")
    assert response.status_code == 422 and "due_by" in response.text

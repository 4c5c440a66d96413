"""Freezing a snapshot through the pages: a confirmation step, a required reason when the grid factor is
an earlier year's, a success message; a snapshot page with its inputs, factors, results and checked hash."""

import re

from sqlalchemy import text

from tests.web.conftest import OTHER_ORG_ADMIN, OTHER_PASSWORD, csrf_of


def snapshot_count(web, year: int) -> int:
    with web.db.engine.connect() as connection:
        return connection.execute(
            text("SELECT count(*) FROM inventory_snapshot WHERE year = :year"), {"year": year}
        ).scalar()


def freeze(client, year: int, **fields: str):
    page = client.get(f"/emissions/snapshots/new?year={year}")
    return client.post(
        "/emissions/snapshots", data={"csrf_token": csrf_of(page.text), "year": str(year), **fields}
    )


def test_freezing_asks_for_confirmation_and_a_reason_when_the_grid_factor_is_an_earlier_years(web):
    client = web.as_role("carbon_manager")
    inventory = client.get("/emissions?year=2025").text
    # The inventory page's button leads to the confirmation step; it freezes nothing by itself.
    assert 'href="/emissions/snapshots/new?year=2025"' in inventory and 'id="freeze-snapshot"' in inventory
    confirm = client.get("/emissions/snapshots/new?year=2025")
    assert confirm.status_code == 200 and snapshot_count(web, 2025) == 0
    assert 'id="grid-year-fallback"' in confirm.text and "2023" in confirm.text
    assert 'name="freeze_reason"' in confirm.text and 'id="confirm-freeze"' in confirm.text
    assert "冻结原因" in confirm.text and "不能修改或删除" in confirm.text

    refused = freeze(client, 2025)
    assert refused.status_code == 422 and snapshot_count(web, 2025) == 0
    assert 'data-issue-field="freeze_reason"' in refused.text and "冻结原因" in refused.text
    assert 'name="freeze_reason"' in refused.text  # the form is there to try again
    blank = freeze(client, 2025, freeze_reason="   ")
    assert blank.status_code == 422 and snapshot_count(web, 2025) == 0

    reason = "集团要求 3 月 10 日前上报年度排放量，2025 年电网因子尚未发布"
    frozen = freeze(client, 2025, freeze_reason=reason)
    assert frozen.status_code == 303 and snapshot_count(web, 2025) == 1
    number = int(re.fullmatch(r"/emissions\?year=2025&frozen=(\d+)", frozen.headers["location"]).group(1))
    done = client.get(frozen.headers["location"]).text
    message = re.search(r'id="snapshot-frozen"[^>]*>(.*?)</div>', done, re.S).group(1)
    assert f"#{number}" in message and f'href="/emissions/snapshots/{number}"' in message
    assert f'href="/emissions/snapshots/{number}"' in done.split('id="snapshot-list"')[1]
    with web.db.engine.connect() as connection:
        stored = connection.execute(text("SELECT reason FROM inventory_snapshot")).scalar()
        audited = connection.execute(
            text("SELECT reason FROM audit_event WHERE subject_type = 'inventory_snapshot'")
        ).scalar()
    assert stored == audited == reason
    # The same inputs again: nothing new is frozen, and the page says so.
    again = freeze(client, 2025, freeze_reason="再次冻结")
    assert again.status_code == 303 and snapshot_count(web, 2025) == 1
    assert "unchanged=1" in again.headers["location"]
    assert "相同" in client.get(again.headers["location"]).text


def test_freezing_in_english_names_the_field(web):
    client = web.as_role("carbon_manager")
    client.cookies.set("tanguan_locale", "en")
    refused = freeze(client, 2025)
    assert refused.status_code == 422 and "Reason for freezing" in refused.text
    assert "freeze_reason" not in refused.text.replace('name="freeze_reason"', "").replace(
        'data-issue-field="freeze_reason"', ""
    ).replace('id="freeze_reason"', "").replace('for="freeze_reason"', "")


def test_a_year_with_unverified_months_offers_no_freezing(web):
    client = web.as_role("carbon_manager")
    confirm = client.get("/emissions/snapshots/new?year=2026")
    assert confirm.status_code == 200 and 'id="unverified-months"' in confirm.text
    assert 'id="confirm-freeze"' not in confirm.text
    assert 'id="freeze-snapshot"' not in client.get("/emissions?year=2026").text
    assert web.as_role("staff").get("/emissions/snapshots/new?year=2025").status_code == 403


def test_the_snapshot_page_shows_inputs_factors_results_and_the_checked_hash(web):
    manager = web.as_role("carbon_manager")
    frozen = freeze(manager, 2025, freeze_reason="年度报送")
    number = frozen.headers["location"].rsplit("=", 1)[1]
    with web.db.engine.connect() as connection:
        sha256 = connection.execute(text("SELECT inputs_sha256 FROM inventory_snapshot")).scalar()
    page = web.as_role("staff").get(f"/emissions/snapshots/{number}")  # any member may read it
    assert page.status_code == 200
    html = page.text
    assert f"#{number}" in html and "2025" in html
    assert "李娜" in html and "年度报送" in html
    assert re.search(r'id="frozen-at">\s*20\d\d-\d\d-\d\d \d\d:\d\d\s*<', html)
    # The factor set, GWP values and grid factor by their labels; the grid factor year is an earlier one.
    assert "GB/T 32151 系列（2024 年版各部分）附录C 表C.1" in html and "IPCC 第六次评估报告" in html
    assert "电力平均二氧化碳排放因子" in html
    assert re.search(r'id="grid-year"[^>]*>[^<]*2023', html) and 'id="grid-year-fallback"' in html
    # Inputs: the activity data of every source and month as stored.
    activity = html.split('id="snapshot-activity"')[1].split("</table>")[0]
    assert "PLANT-ELEC 全厂外购电力（110 kV 总降）" in activity and "MWh" in activity
    assert activity.count("<tr") == 1 + 4  # a header and the four demo sources
    assert "10,098" in activity  # January's purchased electricity
    # Factors per line, results with labels, and the full hash, verified.
    lines = html.split('id="snapshot-lines"')[1].split("</table>")[0]
    assert lines.count('data-line="') == 48 and "EF_grid" in lines and "0.4976" in lines
    assert "省级因子" in lines
    assert "化石燃料燃烧" in html and "外购电力" in html and "石灰石矿山" in html
    assert re.search(r'id="total-tco2e">[^<]*1,235,889', html)
    assert f'<code id="inputs-sha256">{sha256}</code>' in html
    assert 'id="hash-verified"' in html and "一致" in html
    for key in ("purchased_electricity", "combustion", "partly_measured", "average", "org_unit", "None"):
        assert key not in html.replace('data-line="', ""), key


def test_another_organizations_snapshot_is_not_found(web):
    frozen = freeze(web.as_role("carbon_manager"), 2025, freeze_reason="年度报送")
    number = frozen.headers["location"].rsplit("=", 1)[1]
    assert web.as_role("external_auditor").get(f"/emissions/snapshots/{number}").status_code == 200
    outsider = web.signed_in(OTHER_ORG_ADMIN, OTHER_PASSWORD)
    missing = outsider.get(f"/emissions/snapshots/{number}")
    assert missing.status_code == 404 and "湖南湘峰水泥有限公司" not in missing.text
    assert "PLANT-ELEC" not in missing.text
    assert web.as_role("staff").get("/emissions/snapshots/999999").status_code == 404

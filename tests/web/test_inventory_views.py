"""The inventory page's switch between GB/T 32150 categories, ISO 14064-1 categories and GHG Protocol
scopes, and the reporting-year settings page (issue 14 item 3), over HTTP on the demo plant."""

import re

from sqlalchemy import text

from tests.web.conftest import csrf_of
from tests.web.test_trust_chain import demo  # noqa: F401 (the fixture: the whole demo, 2025 frozen)

GROUPS = {"iso14064": ("1", "2"), "ghg_protocol": ("S1", "S2")}


def post_settings(client, page: str, *, year: int, edition: str, gwp_set: str, reason: str):
    """The settings form of ``page`` posted with these values (the redirect is not followed)."""
    form = {"year": str(year), "gbt32150_edition": edition, "gwp_set": gwp_set, "reason": reason}
    return client.post(
        "/emissions/settings", data={"csrf_token": csrf_of(page), **form}, follow_redirects=False
    )


def number(cell: str) -> float:
    return float(re.sub(r"[^0-9.\-]", "", cell))


def view_table(html: str, key: str) -> str:
    return re.search(
        rf'<table class="table is-fullwidth is-narrow" id="view-{key}">.*?</table>', html, re.S
    ).group(0)


def test_the_inventory_page_switches_between_the_three_views_with_equal_totals(demo):  # noqa: F811
    client = demo.as_role("carbon_manager")
    page = client.get("/emissions?year=2025").text
    total = number(re.search(r'id="total-tco2e">([^<]+)', page).group(1))
    assert 'id="year-edition">GB/T 32150-2015<' in page and 'id="year-gwp">GWP AR6<' in page
    assert re.findall(r'data-view="(\w+)"', page) == ["gbt32150", "iso14064", "ghg_protocol"]
    shown = {"gbt32150": view_table(page, "gbt32150")}
    for key in GROUPS:
        fragment = client.get(f"/emissions/views?year=2025&view={key}", headers={"HX-Request": "true"}).text
        assert fragment.startswith('<div class="box" id="inventory-views">') and "<html" not in fragment
        shown[key] = view_table(fragment, key)
    # Without JavaScript the tab's link reloads the page with that view.
    assert 'id="view-ghg_protocol"' in client.get("/emissions?year=2025&view=ghg_protocol").text
    for key, table in shown.items():
        assert number(re.search(r"data-total>([^<]+)", table).group(1)) == total, key
    for key, (direct, energy) in GROUPS.items():
        table = shown[key]
        for code in (direct, energy):
            assert re.search(rf'data-row="{code}" data-kind="emission"', table), (key, code)
    iso = shown["iso14064"]
    assert "类别1：直接温室气体排放" in iso and "类别2：输入能源的间接温室气体排放" in iso
    assert iso.count('data-kind="not-quantified"') == 4 and "未核算" in iso
    assert "范围2：外购能源间接排放（基于位置）" in shown["ghg_protocol"]
    english = client.get("/emissions/views?year=2025&view=iso14064", headers={"Accept-Language": "en"})
    assert english.status_code == 200
    # A frozen snapshot shows its own figures in the three views, and its tabs stay on the snapshot.
    snapshot_id = re.search(r'data-snapshot="(\d+)"', page).group(1)
    frozen = client.get(f"/emissions/snapshots/{snapshot_id}").text
    frozen_total = number(re.search(r'id="total-tco2e">([^<]+)', frozen).group(1))
    assert f'hx-get="/emissions/snapshots/{snapshot_id}/views?view=iso14064"' in frozen
    iso = client.get(
        f"/emissions/snapshots/{snapshot_id}/views?view=iso14064", headers={"HX-Request": "true"}
    )
    assert number(re.search(r"data-total>([^<]+)", view_table(iso.text, "iso14064")).group(1)) == frozen_total
    assert client.get("/emissions/snapshots/999999/views").status_code == 404


def test_settings_page_shows_the_defaults_and_only_carbon_managers_change_them(web):
    staff = web.as_role("staff")
    page = staff.get("/emissions/settings?year=2026").text
    assert "GB/T 32150-2025" in page and 'id="settings-form"' not in page
    assert "本年度默认" in page and "从未修改：采用默认设置" in page
    refused = post_settings(staff, page, year=2026, edition="2015", gwp_set="AR5", reason="x")
    assert refused.status_code == 403
    carbon = web.as_role("carbon_manager")
    page = carbon.get("/emissions/settings?year=2024").text
    assert 'id="settings-form"' in page and 'value="2025"' not in page  # 2025 edition: not for 2024
    bad = post_settings(carbon, page, year=2024, edition="2025", gwp_set="AR9", reason="")
    assert bad.status_code == 422
    assert {"gbt32150_edition", "gwp_set", "reason"} <= set(re.findall(r'data-issue-field="(\w+)"', bad.text))
    before = web.table_fingerprint()
    saved = post_settings(
        carbon, page, year=2024, edition="2015", gwp_set="AR5", reason="主管部门要求按 AR5 报告"
    )
    assert saved.status_code == 303
    after = carbon.get(saved.headers["location"]).text
    assert 'id="settings-saved"' in after and "主管部门要求按 AR5 报告" in after and "李娜" in after
    assert 'id="year-gwp">GWP AR5<' in carbon.get("/emissions?year=2024").text
    assert web.table_fingerprint() != before
    with web.db.engine.connect() as connection:
        (reason,) = connection.execute(
            text("SELECT reason FROM audit_event WHERE subject_type = 'reporting_year_setting'")
        ).one()
    assert reason == "主管部门要求按 AR5 报告"
    trail = web.as_role("admin").get("/audit").text
    assert "报告年度设置" in trail and "GWP 取值" in trail  # labels, not keys

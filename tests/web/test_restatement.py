"""Issue 14 item 6 over HTTP on the whole demo: 2025 was frozen for its disclosure and its figures went into
the signed management review. Changing the year's GWP set to AR5 recalculates and freezes it again, a
restatement: the page asks for a reason, the earlier snapshot stays, the new snapshot's page shows the
differences and names the disclosure and the management review that used the earlier figures."""

import re

from sqlalchemy import text

from engine.carbon_data.snapshots import list_snapshots
from tests.web.test_inventory_views import post_settings
from tests.web.test_trust_chain import demo  # noqa: F401 (the fixture)

CARBON = "carbon@xiangfeng.example"


def test_a_restated_year_shows_its_differences_and_names_who_used_the_earlier_figures(demo):  # noqa: F811
    with demo.db.engine.connect() as connection:
        org_id = connection.execute(
            text("SELECT id FROM organization WHERE slug = 'xiangfeng-cement'")
        ).scalar()
        query = "SELECT workflow_key, number FROM record "
        query += "WHERE workflow_key IN ('disclosure', 'management_review')"
        used = dict(connection.execute(text(query)).all())
    assert set(used) == {"disclosure", "management_review"}
    client = demo.as_role("carbon_manager")
    page = client.get("/emissions/snapshots/new?year=2025").text
    assert 'id="restating"' in page and 'id="freeze_reason"' in page
    with demo.db.unit_of_work(org_id=org_id) as uow:
        earlier = list_snapshots(uow.session, org_id=org_id, year=2025)
    # The year's GWP set is fixed: changing it after the freeze needs a reason, recalculates and restates.
    page = client.get("/emissions/settings?year=2025").text
    assert 'id="settings-form"' in page and 'id="settings-frozen"' in page
    response = post_settings(client, page, year=2025, edition="2015", gwp_set="AR5", reason="")
    assert response.status_code == 422 and 'data-issue-field="reason"' in response.text
    with demo.db.read_session(org_id=org_id) as session:
        assert [s.id for s in list_snapshots(session, org_id=org_id, year=2025)] == [s.id for s in earlier]
    response = post_settings(
        client, page, year=2025, edition="2015", gwp_set="AR5", reason="改用 AR5 全球变暖潜势重述"
    )
    assert response.status_code == 303
    with demo.db.read_session(org_id=org_id) as session:
        restated, *kept = list_snapshots(session, org_id=org_id, year=2025)
    assert [s.id for s in kept] == [s.id for s in earlier]
    assert response.headers["location"] == f"/emissions/snapshots/{restated.id}"
    assert (restated.gwp_set, restated.reason) == ("AR5", "改用 AR5 全球变暖潜势重述")
    shown = client.get(f"/emissions/snapshots/{restated.id}").text
    box = re.search(r'<div class="box" id="restatement">.*?</ul>', shown, re.S).group(0)
    assert f'href="/emissions/snapshots/{earlier[0].id}"' in box
    assert "AR6 → AR5" in box
    assert used["disclosure"] in box and used["management_review"] in box

"""The factor library page (issue 14 item 5), over HTTP on both databases: the shipped sets and grid factors
listed with their sources; a newly published grid factor added with its notice as evidence, used by the
inventory ahead of the shipped one (the reporting year and the data year told apart, the fallback gone);
a correction is a new version with a reason and the earlier kept; every change audited; bad input names its
fields and keeps nothing; managers write, auditors read."""

from decimal import Decimal

import pytest
from sqlalchemy import text

from tests.web.conftest import OTHER_ORG_ADMIN, OTHER_PASSWORD, csrf_of

NOTICE = ("关于发布2025年电力二氧化碳排放因子的公告.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")


def post_factor(client, *, notice=NOTICE, **fields: str):
    token = csrf_of(client.get("/factors").text)
    data = {
        "region": "湖南省",
        "data_year": "2025",
        "value": "0.4700",
        "caliber": "average",
        "document": "生态环境部 国家统计局公告2027年第1号（示例）",
        "published_on": "2027-01-15",
        "reason": "",
        **fields,
        "csrf_token": token,
    }
    return client.post("/factors/grid", data=data, files={"notice": notice} if notice else None)


def counts(web) -> tuple[int, int, int]:
    with web.db.engine.connect() as connection:
        return (
            connection.execute(text("SELECT count(*) FROM published_grid_factor")).scalar(),
            connection.execute(text("SELECT count(*) FROM evidence_file")).scalar(),
            connection.execute(text("SELECT count(*) FROM audit_event")).scalar(),
        )


def versions(web) -> list[tuple]:
    with web.db.engine.connect() as connection:
        return connection.execute(
            text(
                "SELECT version, value, reason, superseded_at IS NOT NULL FROM published_grid_factor "
                "ORDER BY version"
            )
        ).all()


def grid_events(web) -> list[tuple]:
    with web.db.engine.connect() as connection:
        return connection.execute(
            text(
                "SELECT action, subject_id, reason FROM audit_event "
                "WHERE subject_type = 'grid_factor' ORDER BY seq"
            )
        ).all()


def test_the_page_lists_the_sets_and_grid_factors_with_their_sources_in_chinese(web):
    page = web.as_role("internal_auditor").get("/factors")
    assert page.status_code == 200
    html = page.text
    assert '<h1 class="title">因子库</h1>' in html
    # the default fuel table under its honest name, with the old id shown as an alias
    assert (
        "GB/T 32151 系列（2024 年版各部分）附录C 表C.1" in html and "<code>GB/T 32151.22-2024</code>" in html
    )
    # sector parts: metadata, status, and no invented number
    assert 'data-sector-set="GB/T 32151.8-2023"' in html and "2024-07-01" in html
    assert html.count("data-not-transcribed") >= 10 and "未转录" in html
    assert 'data-factor="steel_electrode"' in html and "3.663 tCO2/t" in html
    # shipped grid factors with data year, caliber and confidence
    assert (
        'data-shipped="average-湖南-2023"' in html and "0.4976" in html and "电力平均二氧化碳排放因子" in html
    )
    assert "单一来源（S1）" in html and "两个来源一致（S2）" in html
    # an auditor reads; the form is for managers
    assert 'id="add-grid-factor"' not in html
    assert 'id="add-grid-factor"' in web.as_role("carbon_manager").get("/factors").text


def test_a_newly_published_factor_is_kept_with_its_notice_and_used_by_the_inventory(web):
    client = web.as_role("carbon_manager")
    before = client.get("/emissions?year=2025").text
    assert 'id="grid-year-fallback"' in before and 'id="add-year-factor"' in before
    response = post_factor(client)
    assert response.status_code == 303, response.text
    assert versions(web) == [(1, "0.47", None, False)]
    assert grid_events(web) == [("grid_factor_added", "湖南:2025:average:v1", None)]
    page = client.get("/factors").text
    assert 'data-published="湖南-2025-v1"' in page and "关于发布2025年电力二氧化碳排放因子的公告.pdf" in page
    assert "2025 年数据" in page or "2025年数据" in page or "2025" in page
    after = client.get("/emissions?year=2025").text
    # the year's own factor now: no fallback, and the choice names the organization's entry
    assert 'id="grid-year-fallback"' not in after
    assert "本组织录入：生态环境部 国家统计局公告2027年第1号（示例）" in after
    # the notice is an ordinary evidence item, downloadable after a hash check
    with web.db.engine.connect() as connection:
        evidence_id = connection.execute(text("SELECT evidence_id FROM published_grid_factor")).scalar()
    assert client.get(f"/evidence-items/{evidence_id}").status_code == 200


def test_a_correction_is_a_new_version_with_a_reason_and_the_earlier_one_stays(web):
    client = web.as_role("admin")
    assert post_factor(client).status_code == 303
    before = counts(web)
    refused = post_factor(client, value="0.4711")
    assert refused.status_code == 422
    assert 'data-error-for="reason"' in refused.text and "更正须填写原因" in refused.text
    assert counts(web) == before  # neither the factor nor the notice nor an audit event
    corrected = post_factor(
        client,
        value="0.4711",
        reason="公告附件勘误",
        notice=("勘误.pdf", b"%PDF-1.4\n% erratum\n%%EOF\n", "application/pdf"),
    )
    assert corrected.status_code == 303
    assert versions(web) == [(1, "0.47", None, True), (2, "0.4711", "公告附件勘误", False)]
    assert [event[0] for event in grid_events(web)] == ["grid_factor_added", "grid_factor_corrected"]
    assert grid_events(web)[1][2] == "公告附件勘误"
    page = client.get("/factors").text
    assert 'data-state="superseded"' in page and 'data-state="current"' in page and "已被后续版本更正" in page
    assert "本组织录入" in client.get("/emissions?year=2025").text


def test_bad_input_names_every_field_and_keeps_nothing(web):
    client = web.as_role("carbon_manager")
    before = counts(web)
    response = post_factor(
        client,
        region="火星",
        data_year="二〇二五",
        value="-0.1",
        document="",
        published_on="15/01/2027",
        notice=None,
    )
    assert response.status_code == 422
    for field in ("region", "data_year", "value", "document", "published_on", "notice"):
        assert f'data-error-for="{field}"' in response.text, field
    assert "未知地区" in response.text and "请上传发布公告" in response.text
    assert 'value="火星"' in response.text  # what was typed is kept on the page
    assert counts(web) == before
    too_high = post_factor(client, value="5")
    assert too_high.status_code == 422 and 'data-error-for="value"' in too_high.text
    wrong_file = post_factor(client, notice=("公告.pdf", b"not a pdf", "application/pdf"))
    assert wrong_file.status_code == 422 and 'data-error-for="notice"' in wrong_file.text
    assert counts(web) == before


@pytest.mark.parametrize("role", ["staff", "process_owner", "internal_auditor", "top_management"])
def test_only_administrators_and_carbon_managers_add_factors(web, role):
    client = web.as_role(role)
    token = csrf_of(client.get("/emissions").text)
    response = client.post("/factors/grid", data={"csrf_token": token, "region": "湖南", "data_year": "2025"})
    assert response.status_code == 403
    assert counts(web)[0] == 0


def test_staff_do_not_read_the_library_and_another_organization_sees_none_of_ours(web):
    assert web.as_role("staff").get("/factors").status_code == 403
    assert post_factor(web.as_role("carbon_manager")).status_code == 303
    other = web.signed_in(OTHER_ORG_ADMIN, OTHER_PASSWORD).get("/factors")
    assert other.status_code == 200 and 'data-published="' not in other.text


def test_a_snapshot_frozen_with_the_entered_factor_needs_no_reason_and_recalculates_from_its_inputs(web):
    from engine.emissions import calculate
    from engine.emissions.loader import calc_input_from_dict

    manager = web.as_role("carbon_manager")
    assert post_factor(manager).status_code == 303
    confirm = manager.get("/emissions/snapshots/new?year=2025")
    assert 'id="grid-year-fallback"' not in confirm.text  # the year's own factor: no reason asked
    frozen = manager.post("/emissions/snapshots", data={"csrf_token": csrf_of(confirm.text), "year": "2025"})
    assert frozen.status_code == 303, frozen.text
    with web.db.engine.connect() as connection:
        inputs, total = connection.execute(text("SELECT inputs, total_tco2e FROM inventory_snapshot")).one()
    if isinstance(inputs, str):
        import json

        inputs = json.loads(inputs)
    assert inputs["_grid_year"] == 2025
    assert [(f["region"], f["year"], f["value"]) for f in inputs["grid_factors"]] == [("湖南", 2025, "0.47")]
    recalculated = calculate(calc_input_from_dict({k: v for k, v in inputs.items() if not k.startswith("_")}))
    stored = Decimal(str(total))
    assert recalculated.total_tco2e.quantize(stored) == stored
    number = frozen.headers["location"].rsplit("=", 1)[1]
    page = manager.get(f"/emissions/snapshots/{number}").text
    assert 'id="hash-verified"' in page and "0.47" in page
    # the audit trail names the factor and its fields in Chinese
    trail = web.as_role("admin").get("/audit").text
    assert "录入新发布的电网排放因子" in trail and "湖南 2025 年 第 1 版" in trail

"""4.3 The organization tree: the page in Chinese with each unit's own and rolled-up emissions, adding and
moving units (audited, a cycle refused, a code used twice refused), and records filtered by a unit with
the units below it."""

import json
from decimal import Decimal

from sqlalchemy import text

from engine.carbon_data.by_unit import emissions_by_unit
from engine.carbon_data.inventory import build_inventory
from engine.identity.org_tree import flatten, unit_tree
from engine.identity.organizations import list_org_units
from tests.web.conftest import csrf_of
from tests.web.test_visible_text import ISO_INSTANT, SNAKE, visible_text


def _org_id(web) -> int:
    with web.db.engine.connect() as connection:
        return connection.execute(
            text("SELECT id FROM organization WHERE slug = 'xiangfeng-cement'")
        ).scalar_one()


def _unit_id(web, code: str) -> int:
    with web.db.engine.connect() as connection:
        return connection.execute(
            text("SELECT id FROM org_unit WHERE code = :c AND org_id = :o"), {"c": code, "o": _org_id(web)}
        ).scalar_one()


def _post(client, url: str, **fields: object):
    token = csrf_of(client.get("/organization").text)
    return client.post(url, data={"csrf_token": token, **{k: str(v) for k, v in fields.items()}})


def test_the_tree_rolls_each_units_emissions_up_to_the_top(web):
    org_id = _org_id(web)
    with web.db.read_session(org_id=org_id) as session:
        own = emissions_by_unit(session, org_id=org_id, year=2025)
        total = build_inventory(session, org_id=org_id, year=2025).total_tco2e
        (root,) = unit_tree(list_org_units(session))
    assert own and root.rolled_up(own) == total
    assert root.rolled_up(own) > max(own.values()) > Decimal(0)
    page = web.as_role("staff").get("/organization?year=2025")
    assert page.status_code == 200
    for shown in ("组织架构树", "湖南湘峰水泥有限公司", "企业", "部门", "设施", "含下级单元合计"):
        assert shown in page.text, shown
    problems = [part for part in visible_text(page.text) if SNAKE.search(part) or ISO_INSTANT.search(part)]
    assert problems == []
    assert 'id="add-unit"' not in page.text  # staff read the tree; they do not change it


def test_units_are_added_and_moved_every_change_audited_and_a_cycle_refused(web):
    client = web.as_role("carbon_manager")
    hq = _unit_id(web, "HQ")
    added = _post(
        client,
        "/organization/units",
        kind="site",
        code="ZZ",
        name="株洲粉磨站",
        name_en="Zhuzhou grinding",
        parent_id=hq,
    )
    assert added.status_code == 303
    site, line = _unit_id(web, "ZZ"), _unit_id(web, "CEMMILL")
    moved = _post(
        client,
        f"/organization/units/{line}",
        kind="production_line",
        code="CEMMILL",
        name="水泥粉磨线",
        parent_id=site,
    )
    assert moved.status_code == 303
    with web.db.read_session(org_id=_org_id(web)) as session:
        nodes = flatten(unit_tree(list_org_units(session)))
    assert [n.unit.code for n in nodes if n.depth == 0] == ["XF-GROUP"]
    assert (
        next(n for n in nodes if n.unit.code == "PACK").depth == 4
    )  # group → entity → site → line → process
    before = web.table_fingerprint()
    cycle = _post(
        client,
        f"/organization/units/{hq}",
        kind="legal_entity",
        code="HQ",
        name="湘峰水泥",
        parent_id=_unit_id(web, "PACK"),
    )
    assert cycle.status_code == 422 and "不能移到它自己或其下级单元之下" in cycle.text
    taken = _post(client, "/organization/units", kind="site", code="HQ", name="重复", parent_id=site)
    assert taken.status_code == 422 and "代码 HQ 已被" in taken.text
    assert web.table_fingerprint() == before
    trail = web.as_role("admin").get("/audit")
    assert "上级单元" in trail.text and "ZZ 株洲粉磨站" in trail.text and "水泥粉磨线" in trail.text
    assert (
        _post(web.as_role("staff"), "/organization/units", kind="site", code="S1", name="x").status_code
        == 403
    )


def test_a_register_filters_by_a_unit_with_the_units_below_it(web):
    client = web.as_role("carbon_manager")
    qc, hq, quarry = _unit_id(web, "QC"), _unit_id(web, "HQ"), _unit_id(web, "QUARRY")
    token = csrf_of(client.get("/records/nonconformity/new").text)
    created = client.post(
        "/records/nonconformity",
        data={
            "csrf_token": token,
            "title": "质检室天平未按期校准",
            "source": "monitoring",
            "description": "天平校准过期 5 天",
            "found_on": "2026-11-20",
            "org_unit": str(qc),
        },
    )
    assert created.status_code == 303
    assert "质检室天平未按期校准" in client.get(f"/records/nonconformity?unit={hq}").text
    assert "质检室天平未按期校准" in client.get(f"/records/nonconformity?unit={qc}").text
    elsewhere = client.get(f"/records/nonconformity?unit={quarry}")
    assert elsewhere.status_code == 200 and "质检室天平未按期校准" not in elsewhere.text
    assert "单元（含下级单元）" in elsewhere.text
    export = client.get(f"/records/nonconformity/export.xlsx?unit={quarry}")
    assert export.status_code == 200
    with web.db.engine.connect() as connection:
        stored = connection.execute(
            text("SELECT data FROM record WHERE title = '质检室天平未按期校准'")
        ).scalar_one()
    assert (json.loads(stored) if isinstance(stored, str) else stored)["org_unit"] == qc

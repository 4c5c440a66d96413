"""Allocation units on the pages (issue 14 item 7), on the demo: the plant's purchased electricity (湖南 2023
factor 0.4976 tCO2/MWh, 148,693.05 MWh in 2025) is sub-metered to the clinker line (92,400 MWh → 45,978.24 t)
and the cement grinding line (51,300 MWh → 25,526.88 t); the rest stays on the legal entity."""

import re
from decimal import Context, Decimal, localcontext

from sqlalchemy import text

from engine.carbon_data.allocation import node_inventory
from tests.web.conftest import csrf_of
from tests.web.test_visible_text import ISO_INSTANT, SNAKE, visible_text


def _ids(web) -> dict[str, int]:
    with web.db.engine.connect() as connection:
        org_id = connection.execute(
            text("SELECT id FROM organization WHERE slug = 'xiangfeng-cement'")
        ).scalar_one()
        ids = {"org": org_id}
        for table, column in (("org_unit", "code"), ("emission_source", "code"), ("product", "code")):
            for row_id, code in connection.execute(
                text(f"SELECT id, {column} FROM {table} WHERE org_id = :o"), {"o": org_id}
            ):
                ids[code] = row_id
    return ids


def test_the_demo_entity_splits_into_its_lines_and_a_remainder_exactly(web):
    ids = _ids(web)
    with web.db.read_session(org_id=ids["org"]) as session:
        nodes = node_inventory(session, org_id=ids["org"], year=2025)
    kiln, mill = nodes.nodes[ids["KILN1"]], nodes.nodes[ids["CEMMILL"]]
    assert [a.tco2e for a in kiln.allocated_in] == [Decimal("45978.24")]
    assert [a.tco2e for a in mill.allocated_in] == [Decimal("25526.88")]
    assert nodes.unallocated(ids["PLANT-ELEC"]) == Decimal("2484.54168")
    hq = nodes.nodes[ids["HQ"]]
    with localcontext(Context(prec=80)):  # 28 digits would round the sum of 1.2 × 10⁶ and 10⁻²² t
        assert (
            kiln.rolled + mill.rolled + nodes.remainder(ids["HQ"])
            == hq.rolled
            == nodes.lines_total(ids["HQ"])
        )
    # The calculator's total is the same sum rounded to 28 significant digits.
    assert abs(hq.rolled - nodes.total_tco2e) < Decimal("1e-15")

    page = web.as_role("staff").get(f"/emissions/units/{ids['HQ']}?year=2025")
    assert page.status_code == 200
    for shown in (
        "按生产线和工序",
        "未分配余量",
        "= 本单元合计，完全一致",
        "按分表计量",
        "45,978.24",
        "25,526.88",
    ):
        assert shown in page.text, shown
    assert 'id="allocation-form-' not in page.text  # staff read; they do not allocate
    problems = [part for part in visible_text(page.text) if SNAKE.search(part) or ISO_INSTANT.search(part)]
    assert problems == []


def test_a_lines_page_shows_its_product_intensity_and_parameters(web):
    ids = _ids(web)
    index = web.as_role("staff").get("/emissions/units?year=2025")
    assert index.status_code == 200 and f'href="/emissions/units/{ids["KILN1"]}?year=2025"' in index.text
    assert 'id="inventory-by-line"' in web.as_role("staff").get("/emissions?year=2025").text
    page = web.as_role("top_management").get(f"/emissions/units/{ids['KILN1']}?year=2025")
    assert page.status_code == 200
    row = re.search(r'<tr data-intensity="CLK">(.*?)</tr>', page.text, re.S)
    assert row and "0.803" in row.group(1) and "tCO₂e/t" in row.group(1)
    assert 'data-parameter="CPP-FAC-KILN1"' in page.text
    assert "分摊到本单元的排放" in page.text and "62.14 %" in page.text


def test_the_carbon_manager_switches_to_output_shares_and_bad_keys_are_refused(web):
    ids = _ids(web)
    client = web.as_role("carbon_manager")
    url = f"/emissions/units/{ids['HQ']}?year=2025"
    token = csrf_of(client.get(url).text)
    action = f"/emissions/sources/{ids['PLANT-ELEC']}/allocation"
    refused = client.post(
        action,
        data={
            "csrf_token": token,
            "year": "2025",
            "method": "submeter",
            "basis": "",
            "share-1-unit": str(ids["CEMMILL"]),
            "share-1-quantity": "",  # left empty: not allocated to, and the form's rows keep their numbers
            "share-2-unit": str(ids["KILN1"]),
            "share-2-quantity": "-1",
        },
    )
    assert refused.status_code == 422
    issues = set(re.findall(r'data-issue-row="([^"]*)" data-issue-field="([^"]+)"', refused.text))
    assert issues == {("None", "basis"), ("2", "metered_quantity")}
    assert "分摊依据" in refused.text and "分表计量值" in refused.text
    assert 'data-method="submeter"' in client.get(url).text  # nothing written
    saved = client.post(
        action,
        data={
            "csrf_token": token,
            "year": "2025",
            "method": "output_share",
            "basis": "2025 年产量统计月报",
            "share-1-unit": str(ids["KILN1"]),
            "share-1-product": str(ids["CLK"]),
            "share-2-unit": str(ids["CEMMILL"]),
            "share-2-product": str(ids["PO425"]),
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    page = client.get(url).text
    assert 'data-method="output_share"' in page and "按产量比例" in page
    with web.db.read_session(org_id=ids["org"]) as session:
        nodes = node_inventory(session, org_id=ids["org"], year=2025)
    assert nodes.unallocated(ids["PLANT-ELEC"]) == 0
    assert nodes.lines_total(ids["HQ"]) == nodes.nodes[ids["HQ"]].rolled
    assert web.as_role("staff").post(action, data={"csrf_token": token}).status_code == 403


def test_which_line_makes_a_product_is_chosen_on_the_lines_page(web):
    ids = _ids(web)
    client = web.as_role("carbon_manager")
    url = f"/emissions/units/{ids['CEMMILL']}/products"
    token = csrf_of(client.get(f"/emissions/units/{ids['CEMMILL']}").text)
    moved = client.post(url, data={"csrf_token": token, "product_id": str(ids["CLK"]), "year": "2025"})
    assert moved.status_code == 303
    assert 'data-made="CLK"' in client.get(f"/emissions/units/{ids['CEMMILL']}").text
    assert 'data-made="CLK"' not in client.get(f"/emissions/units/{ids['KILN1']}").text
    removed = client.post(
        url, data={"csrf_token": token, "product_id": str(ids["CLK"]), "year": "2025", "remove": "true"}
    )
    assert removed.status_code == 303
    assert 'data-made="CLK"' not in client.get(f"/emissions/units/{ids['CEMMILL']}").text
    assert client.post(url, data={"csrf_token": token, "product_id": "abc"}).status_code == 422

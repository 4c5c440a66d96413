"""6.2.3 carbon review over HTTP on the demo plant (its instruments and data-quality plan seeded): the
carbon manager starts the review of 2025, the process compiles the sources — figures checked by hand
against the inventory — ranks them by share and trend under the rule shown on the page, judges their
metering against the instrument register; opportunities are added, top management approves with a
signature (never the preparer), adopted opportunities open reduction projects linked both ways while the
signature stays valid, and the docx report carries the figures. Bad input gets an error naming the field."""

import io
import json
import re
from decimal import Decimal

import pytest
from docx import Document
from sqlalchemy import text

from demo.dqcp import seed_demo_dqcp
from demo.instruments import seed_demo_instruments
from demo.seed import DEMO_LOGINS, DEMO_PASSWORD, demo_people
from engine.audit import SYSTEM
from engine.carbon_data.aggregation import monthly_totals
from engine.carbon_data.inventory import build_inventory
from engine.identity.users import create_user, grant_membership
from engine.workflow.lifecycle import PROCESS_CONTEXT, ProcessContext
from tests.web.conftest import CATALOG, csrf_of
from tests.web.support_setup import org_id_of
from tests.web.test_visible_text import problems_in, visible_text

KEY = "carbon_review"
BOTH_ROLES = "both@xiangfeng.example"  # a carbon manager who is also top management


@pytest.fixture
def plant(web):
    with web.db.unit_of_work(all_orgs=True) as uow:
        session = uow.session
        org_id = org_id_of(web)
        session.info[PROCESS_CONTEXT] = ProcessContext(CATALOG, web.app.state.secret_key)
        people = demo_people(session)
        seed_demo_instruments(
            session,
            catalog=CATALOG,
            org_id=org_id,
            carbon=people["carbon_manager"],
            owner_id=people["process_owner"].id,
            evidence_store=web.settings.evidence_store,
        )
        seed_demo_dqcp(
            session, catalog=CATALOG, org_id=org_id, people=people, evidence_store=web.settings.evidence_store
        )
        both = create_user(session, email=BOTH_ROLES, display_name="吴双", password=DEMO_PASSWORD)
        grant_membership(
            session, org_id=org_id, user=both, roles=["carbon_manager", "top_management"], actor=SYSTEM
        )
    return web


def _create(client, fields: dict):
    form = client.get(f"/records/{KEY}/new")
    assert form.status_code == 200, form.text
    return client.post(f"/records/{KEY}", data={"csrf_token": csrf_of(form.text), **fields})


def _fire(client, record_id: int, trigger: str, fields: dict | None = None, **extra: str):
    form = client.get(f"/r/{record_id}/transition/{trigger}")
    if form.status_code != 200:
        return form
    version = re.search(r'name="version" value="(\d+)"', form.text).group(1)
    data = {"csrf_token": csrf_of(form.text), "version": version, **(fields or {}), **extra}
    return client.post(f"/r/{record_id}/transition/{trigger}", data=data)


def _created_id(response) -> int:
    assert response.status_code == 303, response.text
    return int(response.headers["location"].rsplit("/", 1)[1])


def _record(web, record_id: int) -> tuple[str, dict]:
    with web.db.engine.connect() as connection:
        state, data = connection.execute(
            text("SELECT state, data FROM record WHERE id = :i"), {"i": record_id}
        ).one()
    return state, json.loads(data) if isinstance(data, str) else data


def _projects(web) -> list[tuple[int, str, dict]]:
    with web.db.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT id, number, data FROM record WHERE workflow_key = 'reduction_project' ORDER BY id")
        ).all()
    return [(i, n, json.loads(d) if isinstance(d, str) else d) for i, n, d in rows]


def _plain(html: str) -> list[str]:
    """What the page-wide sweep (test_visible_text) would find on this page."""
    return [problem for part in visible_text(html) for problem in problems_in(part)]


def _opportunities(owner: int) -> dict[str, str]:
    rows = [
        ("更换四通道燃烧器，降低熟料煤耗", "KILN1-COAL", "11800", "680", "high", "yes"),
        ("电石渣替代部分石灰石", "KILN1-CLINKER", "24000", "1200", "medium", "yes"),
        ("高温风机变频改造", "PLANT-ELEC", "3600", "450", "low", "no"),
    ]
    posted = {}
    for index, (description, source, reduction, cost, priority, adopt) in enumerate(rows):
        for column, value in (
            ("description", description), ("source_code", source), ("estimated_reduction", reduction),
            ("cost", cost), ("priority", priority), ("adopt_as_project", adopt), ("owner", str(owner)),
        ):  # fmt: skip
            posted[f"opportunities-{index}-{column}"] = value
    return posted


ASSESSMENT = {
    "metering_conclusion": "重要排放源均有在用计量器具，检定有效。",
    "conclusions": "两项机会立项。",
}


def _hand_figures(web) -> dict[str, Decimal]:
    """2025 by hand where the method is simple: the clinker process line is Q × (CaO × 44/56 + MgO × 44/40)
    over the year's clinker (the sum of its monthly totals); the total is the inventory's."""
    org_id = org_id_of(web)
    with web.db.read_session(org_id=org_id) as session:
        clinker_id = session.execute(
            text("SELECT id FROM emission_source WHERE code = 'KILN1-CLINKER'")
        ).scalar_one()
        clinker = sum(
            (
                t.quantity
                for t in monthly_totals(session, org_id=org_id, year=2025)
                if t.source_id == clinker_id
            ),
            Decimal(0),
        )
        total = build_inventory(session, org_id=org_id, year=2025).total_tco2e
    process = clinker * (Decimal("0.652") * 44 / 56 + Decimal("0.021") * 44 / 40)
    return {"process": process.quantize(Decimal("0.01")), "total": total}


def test_bad_scope_is_refused_naming_the_field(plant):
    client = plant.as_role("carbon_manager")
    no_reason = _create(client, {"title": "触发评审", "review_year": "2025", "review_kind": "triggered"})
    assert no_reason.status_code == 422 and 'data-error-for="trigger_reason"' in no_reason.text
    assert "触发原因" in no_reason.text
    no_data = _create(client, {"title": "2010 年评审", "review_year": "2010", "review_kind": "periodic"})
    assert no_data.status_code == 422 and 'data-error-for="review_year"' in no_data.text
    assert "2010 年度的排放清单无法计算" in no_data.text
    for field, value in (
        ("review_kind", "sometimes"),
        ("cumulative_threshold_pct", "180"),
        ("review_year", "abc"),
    ):
        bad = _create(
            client, {"title": "评审", "review_year": "2025", "review_kind": "periodic", field: value}
        )
        assert bad.status_code == 422 and f'data-error-for="{field}"' in bad.text, field
    assert plant.as_role("staff").get(f"/records/{KEY}/new").status_code == 403
    with plant.db.engine.connect() as connection:
        assert (
            connection.execute(text(f"SELECT count(*) FROM record WHERE workflow_key = '{KEY}'")).scalar()
            == 0
        )


def test_a_review_runs_from_the_sources_to_approved_projects(plant):
    carbon, gm = plant.as_role("carbon_manager"), plant.as_role("top_management")
    people = {login.role.value: login for login in DEMO_LOGINS}
    review = _created_id(
        _create(carbon, {"title": "2025 年度碳评审", "review_year": "2025", "review_kind": "periodic"})
    )
    state, data = _record(plant, review)
    assert state == "cr_drafting" and data["review_year"] == "2025" and data["previous_year"] == "2024"

    # The figures, by hand: the process line, the total, shares of the sum, cumulative shares, the trend.
    hand = _hand_figures(plant)
    rows = {row["source_code"]: row for row in data["sources"]}
    assert [row["source_code"] for row in data["sources"]] == [
        "KILN1-CLINKER", "KILN1-COAL", "PLANT-ELEC", "QUARRY-DIESEL"
    ]  # fmt: skip
    assert Decimal(rows["KILN1-CLINKER"]["tco2e"]) == hand["process"]
    amounts = {code: Decimal(row["tco2e"]) for code, row in rows.items()}
    assert abs(sum(amounts.values()) - hand["total"]) <= Decimal("0.05")  # each line rounded to 0.01
    assert Decimal(data["total_tco2e"]) == hand["total"].quantize(Decimal("0.01"))
    base = sum(amounts.values())
    cumulative = Decimal(0)
    for code, amount in amounts.items():
        share = amount * 100 / base
        cumulative += share
        assert Decimal(rows[code]["share_pct"]) == share.quantize(Decimal("0.1")), code
        assert Decimal(rows[code]["cumulative_pct"]) == min(cumulative, Decimal(100)).quantize(Decimal("0.1"))
        previous = Decimal(rows[code]["previous_tco2e"])
        change = ((amount - previous) * 100 / previous).quantize(Decimal("0.1"))
        assert Decimal(rows[code]["change_pct"]) == change, code

    # The rule (80 % cumulative, share ≥ 5 %, rise > 10 %): clinker (65 %) and coal cross 80 % together,
    # electricity (6 %) is above 5 %, diesel (0.2 %, falling) is not significant.
    assert [rows[c]["significant"] for c in amounts] == ["yes", "yes", "yes", "no"]
    assert rows["KILN1-COAL"]["basis"] == ["cumulative", "share"] and rows["PLANT-ELEC"]["basis"] == ["share"]
    assert "basis" not in rows["QUARRY-DIESEL"] and data["significant_count"] == "3"
    page = carbon.get(f"/carbon-reviews/{review}")
    assert page.status_code == 200 and 'id="significance-rule"' in page.text
    assert "累计占比达到 80% 之前的排放源" in page.text and _plain(page.text) == []
    assert _plain(carbon.get(f"/r/{review}").text) == []  # the record page reads Chinese too
    english = plant.signed_in(people["carbon_manager"].email, **{"Accept-Language": "en"})
    assert "cumulative share of 80%" in english.get(f"/carbon-reviews/{review}").text

    # Metering adequacy from the instrument register and the plan's rows.
    metering = {row["source_code"]: row for row in data["metering"]}
    assert set(metering) == {"KILN1-CLINKER", "KILN1-COAL", "PLANT-ELEC"}
    assert "JL-W-011" in metering["KILN1-COAL"]["instruments"]
    electricity = metering["PLANT-ELEC"]
    assert (
        electricity["instruments"] == "JL-E-001 110 kV 关口电能表" and electricity["metering_level"] == "unit"
    )
    assert electricity["accuracy"] == "JL-E-001 0.5S / 0.5S" and electricity["accuracy_check"] == "meets"
    assert electricity["equipping_rate"] == "2/2 (100.0%)" and electricity["calibration_status"] == "valid"
    assert {row["adequacy"] for row in metering.values()} == {"adequate"}
    assert "findings" not in electricity
    cpp = {row["source_code"]: row for row in data["cpp_proposals"]}
    assert cpp["KILN1-COAL"]["covered_by"] == "CPP-FAC-KILN1"
    assert cpp["PLANT-ELEC"]["proposed_code"] == "CPP-SRC-PLANT-ELEC"
    assert cpp["PLANT-ELEC"]["proposed_category"] == "purchased_electricity"

    # The kiln coal scale goes out of service; a stricter single share (10 %): compiled again, the coal's
    # metering is inadequate and electricity is no longer significant.
    scale = _instrument_id(plant, "JL-W-011")
    assert _fire(carbon, scale, "take_out_of_service", comment="皮带秤托辊损坏，送修").status_code == 303
    again = _fire(carbon, review, "recompile_review", {
        "title": "2025 年度碳评审", "review_year": "2025", "review_kind": "periodic",
        "share_threshold_pct": "10",
    })  # fmt: skip
    assert again.status_code == 303, again.text
    _, data = _record(plant, review)
    assert data["significant_count"] == "2" and data["share_threshold_pct"] == "10.0"
    assert [m["source_code"] for m in data["metering"]] == ["KILN1-CLINKER", "KILN1-COAL"]
    coal = data["metering"][1]
    assert coal["adequacy"] == "inadequate" and coal["calibration_status"] == "not_in_use"
    assert coal["findings"] == ["calibration_invalid", "equipping_short", "not_in_service"]
    assert coal["equipping_rate"] == "0/1 (0.0%)"
    page = carbon.get(f"/carbon-reviews/{review}").text
    assert "配备率低于要求" in page and "器具未在用" in page and _plain(page) == []

    # Opportunities: a source code not in the review is refused; then submitted.
    owner = _people_ids(plant)["process_owner"]
    wrong = _fire(carbon, review, "submit_carbon_review", {
        **_opportunities(owner), "opportunities-0-source_code": "NOPE", **ASSESSMENT,
    })  # fmt: skip
    assert wrong.status_code == 422 and 'data-error-for="opportunities.1.source_code"' in wrong.text
    assert "“NOPE”不在本次评审的排放源清单中" in wrong.text
    empty = _fire(carbon, review, "submit_carbon_review", ASSESSMENT)
    assert empty.status_code == 422 and 'data-error-for="opportunities"' in empty.text
    assert (
        _fire(carbon, review, "submit_carbon_review", {**_opportunities(owner), **ASSESSMENT}).status_code
        == 303
    )

    # Approval: only top management, with the password; then the adopted opportunities open projects.
    assert _fire(carbon, review, "approve_carbon_review").status_code == 403
    no_password = _fire(gm, review, "approve_carbon_review")
    assert no_password.status_code == 403 and "签名密码不正确" in no_password.text
    before = {number for _, number, _ in _projects(plant)}
    signed = _fire(gm, review, "approve_carbon_review", signature_password=DEMO_PASSWORD)
    assert signed.status_code == 303, signed.text
    state, data = _record(plant, review)
    assert state == "cr_approved" and "origin_review" not in data
    opened = [(i, n, d) for i, n, d in _projects(plant) if n not in before]
    assert [d["name"] for _, _, d in opened] == ["更换四通道燃烧器，降低熟料煤耗", "电石渣替代部分石灰石"]
    assert all(d["origin_review"] == review and d["owner"] == owner for _, _, d in opened)
    assert opened[0][2]["expected_reduction"] == "11800" and opened[1][2]["investment"] == "1200"
    page = gm.get(f"/carbon-reviews/{review}").text
    assert all(f'data-project="{n}"' in page for _, n, _ in opened)
    assert 'data-signature-status="valid"' in page and 'data-signature-status="stale"' not in page
    record_page = gm.get(f"/r/{review}").text
    assert 'data-signature-status="valid"' in record_page and all(n in record_page for _, n, _ in opened)
    project_page = gm.get(f"/r/{opened[0][0]}").text
    review_number = re.search(r'id="record-number">([^<]+)<', record_page).group(1)
    assert review_number in project_page  # the link shows on the project too

    # The report: figures, the rule, metering, opportunities, the projects and the signature.
    report = gm.get(f"/carbon-reviews/{review}/report.docx")
    assert report.status_code == 200 and report.content[:2] == b"PK"
    document = Document(io.BytesIO(report.content))
    words = "\n".join(
        [p.text for p in document.paragraphs]
        + [cell.text for table in document.tables for row in table.rows for cell in row.cells]
    )
    for shown in (
        data["total_tco2e"], rows["KILN1-CLINKER"]["tco2e"], rows["KILN1-CLINKER"]["share_pct"],
        "JL-W-011", "更换四通道燃烧器，降低熟料煤耗", opened[0][1], "累计占比达到 80% 之前",
        "批准碳评审结果", "有效",
    ):  # fmt: skip
        assert shown in words, shown


def _instrument_id(web, code: str) -> int:
    with web.db.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT id, data FROM record WHERE workflow_key = 'metering_instrument'")
        ).all()
    return next(i for i, d in rows if (json.loads(d) if isinstance(d, str) else d)["code"] == code)


def _people_ids(web) -> dict[str, int]:
    from tests.web.support_setup import people_of

    return people_of(web)


def test_the_preparer_cannot_approve_and_a_send_back_needs_a_comment(plant):
    both = plant.signed_in(BOTH_ROLES)
    gm = plant.as_role("top_management")
    review = _created_id(
        _create(both, {"title": "触发碳评审：燃料结构变化", "review_year": "2025", "review_kind": "triggered",
                       "trigger_reason": "入窑煤改用高挥发分烟煤"})
    )  # fmt: skip
    owner = _people_ids(plant)["process_owner"]
    assert (
        _fire(both, review, "submit_carbon_review", {**_opportunities(owner), **ASSESSMENT}).status_code
        == 303
    )
    refused = _fire(both, review, "approve_carbon_review", signature_password=DEMO_PASSWORD)
    assert refused.status_code == 403 and "编制人不能批准自己的碳评审" in refused.text
    assert _fire(gm, review, "return_carbon_review").status_code == 422  # the comment is required
    back = _fire(gm, review, "return_carbon_review", comment="请补充电力的计量结论")
    assert back.status_code == 303
    assert _record(plant, review)[0] == "cr_drafting"
    assert not [d for _, _, d in _projects(plant) if d.get("origin_review") == review]


def test_the_scheduler_starts_the_yearly_review_where_there_is_data(plant):
    from datetime import datetime

    from engine.config import Settings
    from engine.records.display import CHINA_TIME
    from engine.scheduler.jobs import JOBS
    from engine.scheduler.runner import run_jobs

    starts = [job for job in JOBS if job.name == "recurring_starts"]

    def run(day: str) -> list[str]:
        moment = datetime.fromisoformat(f"{day}T09:00").replace(tzinfo=CHINA_TIME)
        lines = run_jobs(plant.db, now=moment, settings=Settings(), jobs=starts)
        return [line for line in lines if "碳评审" in line]  # the other processes' yearly starts aside

    lines = run("2026-02-01")
    assert (
        len(lines) == 1 and "碳评审" in lines[0] and "湖南湘峰水泥" in lines[0]
    )  # not the company with no data
    with plant.db.engine.connect() as connection:
        review_id, state, data = connection.execute(
            text("SELECT id, state, data FROM record WHERE workflow_key = :k"), {"k": KEY}
        ).one()
    data = json.loads(data) if isinstance(data, str) else data
    assert state == "cr_drafting" and data["review_kind"] == "periodic" and data["sources"]
    assert run("2026-02-02") == []  # one is open: the next comes 12 months after it is closed
    # The carbon manager prepares it, top management approves: the scheduler was its creator.
    owner = _people_ids(plant)["process_owner"]
    carbon, gm = plant.as_role("carbon_manager"), plant.as_role("top_management")
    assert (
        _fire(carbon, review_id, "submit_carbon_review", {**_opportunities(owner), **ASSESSMENT}).status_code
        == 303
    )
    assert _fire(gm, review_id, "approve_carbon_review", signature_password=DEMO_PASSWORD).status_code == 303

"""6.3, 6.4 and 10.2 over HTTP: a planned change from proposal to closing (the static-factor guard, the
general manager's signature, separation of duties), action plans on an objective, the objectives' progress
read from the performance parameters, the improvement log and the PDCA page — in Chinese, no keys shown."""

import re

import pytest
from sqlalchemy import text

from demo.performance import seed_demo_parameters
from demo.planning import seed_demo_planning
from demo.seed import DEMO_PASSWORD, demo_people
from engine.audit import SYSTEM
from engine.workflow.lifecycle import PROCESS_CONTEXT, ProcessContext
from tests.web.conftest import CATALOG, csrf_of
from tests.web.test_visible_text import ISO_INSTANT, SNAKE, visible_text


@pytest.fixture
def plant(web):
    with web.db.unit_of_work(all_orgs=True) as uow:
        org_id = uow.session.execute(
            text("SELECT id FROM organization WHERE slug = 'xiangfeng-cement'")
        ).scalar()
        uow.session.info[PROCESS_CONTEXT] = ProcessContext(CATALOG, web.app.state.secret_key)
        seed_demo_planning(uow.session, catalog=CATALOG, org_id=org_id, people=demo_people(uow.session))
        seed_demo_parameters(uow.session, org_id=org_id, actor=SYSTEM, owner_id=None)
    return web


def _plain(html: str) -> list[str]:
    problems = []
    for part in visible_text(html):
        problems += [f"key {m!r} in {part!r}" for m in SNAKE.findall(part)]
        problems += [f"timestamp in {part!r}" for m in ISO_INSTANT.findall(part)]
    return problems


def _user_id(web, email: str) -> int:
    with web.db.engine.connect() as connection:
        return connection.execute(text("SELECT id FROM user_account WHERE email = :e"), {"e": email}).scalar()


def _state(web, record_id: int) -> str:
    with web.db.engine.connect() as connection:
        return connection.execute(text("SELECT state FROM record WHERE id = :i"), {"i": record_id}).scalar()


def _fire(client, record_id: int, trigger: str, **fields: str):
    form = client.get(f"/r/{record_id}/transition/{trigger}")
    assert form.status_code == 200, (trigger, form.status_code)
    version = re.search(r'name="version" value="(\d+)"', form.text).group(1)
    return client.post(
        f"/r/{record_id}/transition/{trigger}",
        data={"csrf_token": csrf_of(form.text), "version": version, **fields},
    )


def _new(client, key: str, **fields: str) -> int:
    form = client.get(f"/records/{key}/new")
    created = client.post(f"/records/{key}", data={"csrf_token": csrf_of(form.text), **fields})
    assert created.status_code == 303, created.text
    return int(created.headers["location"].rsplit("/", 1)[1])


def test_a_change_goes_from_proposal_to_closed_with_the_general_managers_signature(
    web,
):  # needs no planning records
    carbon, gm = web.as_role("carbon_manager"), web.as_role("top_management")
    kiln, quality = web.as_role("process_owner"), web.as_role("quality_manager")
    change = _new(
        carbon, "planned_change", title="窑头燃烧器更换为多通道低氮燃烧器", change_type="process",
        purpose="提高煤粉燃尽率", consequences="短期停窑 5 天",
        change_owner=str(_user_id(web, "kiln@xiangfeng.example")),
    )  # fmt: skip
    assert _fire(carbon, change, "begin_assessment").status_code == 303
    impact = {
        "system_integrity": "修订烧成车间操作规程", "resources": "投资 180 万元",
        "responsibilities": "烧成车间负责",
        "cpp_effect": "improves", "static_factor_change": "yes",
    }  # fmt: skip
    refused = _fire(carbon, change, "submit_assessment", **impact)
    assert refused.status_code == 409 and "基准调整" in refused.text  # static factors change: name it
    assert _state(web, change) == "assessing"
    assert (
        _fire(
            carbon, change, "submit_assessment", **impact, baseline_adjustment="2024 基准年：燃料结构变化"
        ).status_code
        == 303
    )
    assert _fire(carbon, change, "approve_change").status_code == 403  # only top management approves
    no_password = _fire(gm, change, "approve_change", approval_note="同意")
    assert no_password.status_code in (403, 422) and _state(web, change) == "awaiting_approval"
    signed = _fire(gm, change, "approve_change", approval_note="同意", signature_password=DEMO_PASSWORD)
    assert signed.status_code == 303, signed.text
    assert _state(web, change) == "implementing"
    page = gm.get(f"/r/{change}")
    assert "批准变更" in page.text and "刘建国" in page.text  # the signature and its meaning
    assert (
        _fire(
            kiln, change, "report_implemented", implemented_on="2027-01-10", implementation_note="已更换"
        ).status_code
        == 303
    )
    # Whoever implemented it does not review it.
    quality_page = quality.get(f"/r/{change}")
    assert quality_page.status_code == 200
    closed = _fire(quality, change, "close_change", review_result="as_planned", review_note="燃尽率提高 1.5%")
    assert closed.status_code == 303 and _state(web, change) == "change_closed"
    final = carbon.get(f"/r/{change}")
    assert "已关闭" in final.text and "2024 基准年" in final.text
    assert _plain(final.text) == []


def test_the_proposer_cannot_approve_and_the_implementer_cannot_review(web):  # needs no planning records
    gm, carbon = web.as_role("top_management"), web.as_role("carbon_manager")
    change = _new(
        gm, "planned_change", title="调整碳管理办公室职责", change_type="organization", purpose="p",
        consequences="c", change_owner=str(_user_id(web, "carbon@xiangfeng.example")),
    )  # fmt: skip
    assert _fire(carbon, change, "begin_assessment").status_code == 303
    assert _fire(carbon, change, "submit_assessment", system_integrity="s", resources="r",
                 responsibilities="r",
                 cpp_effect="none", static_factor_change="no").status_code == 303  # fmt: skip
    refused = _fire(gm, change, "approve_change", signature_password=DEMO_PASSWORD)
    assert refused.status_code == 403 and "不能批准" in refused.text
    withdrawn = _fire(carbon, change, "withdraw_change", comment="并入年度组织调整")
    assert withdrawn.status_code == 303 and _state(web, change) == "withdrawn"


def test_the_demo_changes_and_the_list_columns(plant):
    page = plant.as_role("carbon_manager").get("/records/planned_change")
    assert page.status_code == 200
    assert "RDF 替代约 10% 燃煤" in page.text and "影响评估中" in page.text and "已关闭" in page.text
    assert "静态因素" in page.text
    assert _plain(page.text) == []


def test_an_action_plan_is_started_and_done_on_its_objective(plant):
    client = plant.as_role("process_owner")
    with plant.db.engine.connect() as connection:
        objective = connection.execute(
            text("SELECT id FROM record WHERE workflow_key = 'carbon_objective' AND title LIKE '1# 窑%'")
        ).scalar()
    plan = _new(
        client, "action_plan", title="分解炉 RDF 喂料口扩容", objective=str(objective),
        owner=str(_user_id(plant, "kiln@xiangfeng.example")), resources="设备动力部 3 人", budget="120",
        due_date="2027-05-31",
    )  # fmt: skip
    assert _state(plant, plan) == "planned"
    assert client.get(f"/r/{plan}/transition/mark_done").status_code == 409  # not offered while planned
    assert _fire(client, plan, "begin_work").status_code == 303
    bad = _fire(client, plan, "mark_done", completed_on="2027-02-30", result="完成")
    assert bad.status_code == 422 and 'data-error-for="completed_on"' in bad.text
    assert (
        _fire(client, plan, "mark_done", completed_on="2027-05-01", result="喂料能力 12 t/h").status_code
        == 303
    )
    assert _state(plant, plan) == "done"
    objective_page = client.get(f"/r/{objective}")
    assert "分解炉 RDF 喂料口扩容" in objective_page.text  # the link shows on both records
    progress = client.get("/objectives")
    assert progress.status_code == 200
    row = progress.text.split(f'data-objective="{objective}"', 1)[1].split("</tr>", 1)[0]
    assert "1# 窑吨熟料排放强度" in row and "CPP-FAC-KILN1" in row and "已完成" in row


def test_objectives_show_their_progress_from_the_parameters(plant):
    page = plant.as_role("carbon_manager").get("/objectives")
    assert page.status_code == 200 and "碳目标及进度" in page.text
    assert len(re.findall(r'<tr data-objective="\d+">', page.text)) == 4
    clinker = page.text.split("吨熟料综合碳排放强度 2030", 1)[1].split("</tr>", 1)[0]
    # baseline 0.8307, target 0.7891; 2025 value 0.8229 → (0.8307 − 0.8229) ÷ 0.0416 ≈ 18.9 %
    assert "0.823" in clinker and re.search(r"1[89]\.\d %", clinker)
    assert 'id="trend-data"' in page.text
    assert _plain(page.text) == []


def test_the_pdca_page_reads_the_whole_loop(plant):
    page = plant.as_role("carbon_manager").get("/improvement")
    assert page.status_code == 200 and "持续改进（PDCA）" in page.text
    for box in ("pdca-plan", "pdca-do", "pdca-check", "pdca-audits", "pdca-act"):
        assert f'id="{box}"' in page.text, box
    do = page.text.split('data-counts="action_plan"', 1)[1].split("</tr>", 1)[0]
    assert re.findall(r">(\d+)<", do)[:1] == ["6"]  # six action plans planned or in progress
    nc = page.text.split('data-counts="nonconformity"', 1)[1].split("</tr>", 1)[0]
    assert ">4<" in nc or ">5<" in nc  # the demo's open nonconformities
    assert "管理评审输出" in page.text  # an open improvement item among the open actions
    assert 'href="/records/improvement_item"' in page.text and 'href="/objectives"' in page.text
    assert _plain(page.text) == []
    menu = plant.as_role("staff").get("/").text
    assert 'href="/improvement"' in menu and 'href="/risks/heatmap"' in menu
    assert "持续改进</span>" not in menu  # no greyed entry left in the improvement menu


def test_an_improvement_item_names_its_source_record(web):  # needs no planning records
    staff = web.as_role("staff")
    with web.db.engine.connect() as connection:
        nc = connection.execute(
            text("SELECT id FROM record WHERE workflow_key = 'nonconformity' LIMIT 1")
        ).scalar()
    item = _new(
        staff, "improvement_item", title="统计报表增加校核公式", source="nonconformity",
        source_record=str(nc),
        description="防止入磨煤量口径不一致", owner=str(_user_id(web, "staff@xiangfeng.example")),
    )  # fmt: skip
    assert _state(web, item) == "open_item"
    assert _fire(staff, item, "complete_item", completed_on="2027-01-05", outcome="x").status_code == 403
    done = _fire(
        web.as_role("quality_manager"), item, "complete_item", completed_on="2027-01-05", outcome="已上线"
    )
    assert done.status_code == 303 and _state(web, item) == "item_done"
    page = staff.get(f"/r/{nc}")
    assert "统计报表增加校核公式" in page.text

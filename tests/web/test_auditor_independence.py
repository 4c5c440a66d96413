"""9.3 auditor independence over HTTP (RELIABILITY T08): every conflict is blocked when the plan is
confirmed — an auditor of the audited unit or of a unit below it, the author, the owner or the assignee of
a record of a clause in scope in the audited period — and on a fieldwork answer (an auditor outside the
team, an auditor assigned a record of the row's clause meanwhile). An override without a second person is
refused; with one it is accepted, and both steps are on the record's audit trail. Prints
``independence_conflicts_blocked``."""

from datetime import date, timedelta

import pytest
from sqlalchemy import text

from tests.web.ia_setup import client_of, fire, plan, plant_of, record, start_audit

TODAY = date.today()
PERIOD = {
    "records_from": (TODAY - timedelta(days=30)).isoformat(),
    "end_date": (TODAY + timedelta(days=5)).isoformat(),
}
PERIOD["start_date"] = PERIOD["end_date"]


@pytest.fixture
def plant(web):
    return plant_of(web)


def _nc(client, *, clause: str, assignee: int | None = None) -> int:
    data = {
        "title": f"测试记录 {clause}",
        "source": "other",
        "description": "独立性测试",
        "found_on": TODAY.isoformat(),
        "clause": clause,
    }
    if assignee is not None:
        data["assignee"] = assignee
    created = client.post("/api/v1/records", json={"workflow": "nonconformity", "data": data})
    assert created.status_code in (200, 201), created.text
    return created.json()["id"]


def _risk_owned_by(client, owner: int) -> int:
    created = client.post(
        "/api/v1/records",
        json={
            "workflow": "risk_opportunity",
            "data": {
                "title": "配额价格上涨",
                "nature": "risk",
                "kind": "market",
                "cause": "碳价",
                "consequence": "成本",
                "likelihood": 3,
                "impact": 3,
                "treatment": "reduce",
                "owner": owner,
                "review_date": (TODAY + timedelta(days=90)).isoformat(),
            },
        },
    )
    assert created.status_code in (200, 201), created.text
    return created.json()["id"]


def _planned(web, plant, *, scope: str, units=("PROD",), team=(("auditor2", "QC"),)) -> int:
    quality = client_of(web, "quality_manager")
    audit_id = start_audit(quality, scope=scope)
    saved = fire(
        quality,
        audit_id,
        "save_plan",
        {**plan(plant, scope=scope, units=units, team=team, lead="auditor2"), **PERIOD},
    )
    assert saved.status_code == 200, saved.text
    return audit_id


def _blocked(response, *words: str) -> bool:
    detail = (
        response.json().get("detail", "") if response.headers.get("content-type", "").endswith("json") else ""
    )
    return response.status_code == 403 and "独立性" in detail and all(word in detail for word in words)


def test_every_conflict_is_blocked_and_an_override_needs_a_second_person(web, plant):
    quality, auditor2 = client_of(web, "quality_manager"), client_of(web, "auditor2")
    results: dict[str, bool] = {}
    # own function: the audited unit itself, and a unit below it
    audit = _planned(web, plant, scope="9.3", units=("PROD",), team=(("auditor2", "PROD"),))
    results["member of the audited unit"] = _blocked(fire(quality, audit, "submit_plan"), "生产技术部")
    audit = _planned(web, plant, scope="9.3", units=("PLANT",), team=(("auditor2", "KILN1"),))
    results["member of a unit below the audited one"] = _blocked(
        fire(quality, audit, "submit_plan"), "湘潭生产厂区"
    )
    # own records of a clause in scope, in the audited period: author, owner, assignee
    author_nc = _nc(auditor2, clause="9.1")
    audit = _planned(web, plant, scope="9.1")
    results["author of an audited record"] = _blocked(fire(quality, audit, "submit_plan"), "9.1")
    _risk_owned_by(client_of(web, "carbon_manager"), plant.people["auditor2"])
    audit = _planned(web, plant, scope="6.2.1")
    results["owner of an audited record"] = _blocked(fire(quality, audit, "submit_plan"), "6.2.1")
    _nc(quality, clause="9.2", assignee=plant.people["auditor2"])
    audit = _planned(web, plant, scope="9.2")
    results["assignee of an audited record"] = _blocked(fire(quality, audit, "submit_plan"), "9.2")
    # the same records outside the audited period are no conflict
    quiet = _planned(web, plant, scope="9.1")
    assert (
        fire(
            quality,
            quiet,
            "save_plan",
            {
                **record(web, quiet)[1],
                "records_from": "2001-01-01",
                "end_date": "2001-12-31",
                "start_date": "2001-12-01",
            },
        ).status_code
        == 200
    )
    assert fire(quality, quiet, "submit_plan").status_code == 200
    # fieldwork: only the team answers, and not on the row's clause of their own records
    audit = _planned(web, plant, scope="4.1, 4.2")
    assert fire(quality, audit, "submit_plan").status_code == 200
    answer = {"answer": "conforming", "evidence": "查阅", "auditee": "周强"}
    outsider = fire(client_of(web, "internal_auditor"), audit, "answer_item", {"item": 1, **answer})
    results["an auditor outside the team answers"] = outsider.status_code == 403
    _nc(quality, clause="4.2", assignee=plant.people["auditor2"])
    rows = record(web, audit)[1]["checklist"]
    own = next(n for n, row in enumerate(rows, start=1) if row["clause"] == "4.2")
    other = next(n for n, row in enumerate(rows, start=1) if row["clause"] == "4.1")
    results["an answer on the auditor's own records"] = _blocked(
        fire(auditor2, audit, "answer_item", {"item": own, **answer}), "4.2"
    )
    assert fire(auditor2, audit, "answer_item", {"item": other, **answer}).status_code == 200
    # the override: a reason and a second person
    audit = _planned(web, plant, scope="9.1")
    assert fire(quality, audit, "request_override", {}).status_code == 422  # no reason
    requested = fire(quality, audit, "request_override", {"override_reason": "仅黄磊具备 9.1 审核资格"})
    assert requested.status_code == 200, requested.text
    results["override approved by its requester"] = (
        fire(quality, audit, "approve_override", {"override_note": "同意"}).status_code == 403
    )
    results["override approved by an auditor of the team"] = (
        fire(auditor2, audit, "approve_override", {"override_note": "同意"}).status_code == 403
    )
    results["override approved by a role that may not"] = (
        fire(
            client_of(web, "carbon_manager"), audit, "approve_override", {"override_note": "同意"}
        ).status_code
        == 403
    )
    results["plan confirmed with the override only requested"] = _blocked(
        fire(quality, audit, "submit_plan"), "9.1"
    )
    second = client_of(web, "quality2")
    approved = fire(second, audit, "approve_override", {"override_note": "同意，由质量部复核其结论"})
    assert approved.status_code == 200, approved.text
    data = record(web, audit)[1]
    assert data["override_status"] == "approved"
    assert data["override_requested_by"] == plant.people["quality_manager"]
    assert data["override_approved_by"] == plant.people["quality2"]
    # a plan whose scope or team changed after the approval is no longer covered
    changed = fire(
        quality,
        audit,
        "save_plan",
        {**data, "scope_units": [*data["scope_units"], {"unit": plant.units["PUR"]}]},
    )
    assert changed.status_code == 200
    results["plan changed after the override"] = _blocked(fire(quality, audit, "submit_plan"), "9.1")
    again = fire(quality, audit, "request_override", {"override_reason": "仍仅黄磊具备资格"})
    assert again.status_code == 200, again.text
    assert fire(second, audit, "approve_override", {"override_note": "同意"}).status_code == 200
    confirmed = fire(quality, audit, "submit_plan")
    assert confirmed.status_code == 200, confirmed.text
    answered = fire(auditor2, audit, "answer_item", {"item": 1, **answer})
    assert answered.status_code == 200, answered.text  # covered by the override
    with web.db.engine.connect() as connection:
        trail = connection.execute(
            text(
                "SELECT action, actor_id FROM audit_event WHERE subject_type = 'record' AND subject_id = :r "
                "AND action IN ('request_override', 'approve_override') ORDER BY seq"
            ),
            {"r": str(audit)},
        ).all()
    assert [tuple(row) for row in trail][-2:] == [
        ("request_override", plant.people["quality_manager"]),
        ("approve_override", plant.people["quality2"]),
    ]
    page = web.as_role("quality_manager").get(f"/r/{audit}").text
    assert "吴芳" in page and "已由第二人批准" in page
    assert record(web, author_nc)[0] == "reported"
    blocked = sum(results.values())
    print(f"independence_conflicts_blocked: {blocked}/{len(results)}")
    assert blocked == len(results), [name for name, ok in results.items() if not ok]

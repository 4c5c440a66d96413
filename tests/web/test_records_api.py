"""The nonconformity process over the JSON API, end to end, and 20 conflicting submissions at once."""

import threading

from fastapi.testclient import TestClient
from sqlalchemy import text

from demo.seed import DEMO_PASSWORD
from engine.audit import verify_chain
from tests.web.conftest import api_token, bearer_client


def api_as(web, email: str, **headers: str) -> TestClient:
    return bearer_client(web, api_token(web, email, name="t"), **headers)


def user_id(web, email: str) -> int:
    with web.db.engine.connect() as connection:
        return connection.execute(text("SELECT id FROM user_account WHERE email = :e"), {"e": email}).scalar()


def test_the_full_cycle_over_the_api(web):
    staff, quality = api_as(web, "staff@xiangfeng.example"), api_as(web, "quality@xiangfeng.example")
    owner, auditor = api_as(web, "kiln@xiangfeng.example"), api_as(web, "auditor@xiangfeng.example")
    report = {
        "title": "煤粉仓温度报警未记录",
        "source": "monitoring",
        "description": "夜班未记录报警",
        "found_on": "2026-11-20",
    }
    created = staff.post("/api/v1/records", json={"workflow": "nonconformity", "data": report})
    assert created.status_code == 201, created.text
    record = created.json()
    assert record["state"] == "reported" and record["version"] == 1 and record["number"].startswith("NC-")
    rid = record["id"]
    owner_id = user_id(web, "kiln@xiangfeng.example")
    actions = [{"description": "补充报警记录制度", "owner": owner_id, "due": "2026-12-31", "status": "open"}]
    steps = [
        (quality, "assess", {"severity": "minor", "containment": "补录"}, {}),
        (quality, "analyse", {"method": "five_why", "cause": "交接班制度缺失"}, {}),
        (owner, "plan", {"actions": actions}, {}),
        (owner, "start", {}, {}),
        (owner, "complete", {"actions": [{**actions[0], "status": "done"}]}, {}),
        (
            auditor,
            "verify_effective",
            {"criteria": "一个月无漏记", "evidence": "巡检表", "result": "effective"},
            {"signature_password": DEMO_PASSWORD},
        ),
    ]
    version = 1
    for client, trigger, data, extra in steps:
        available = {t["trigger"]: t for t in client.get(f"/api/v1/records/{rid}/transitions").json()}
        assert available[trigger]["enabled"], (trigger, available[trigger])
        response = client.post(
            f"/api/v1/records/{rid}/transitions/{trigger}", json={"version": version, "data": data, **extra}
        )
        assert response.status_code == 200, (trigger, response.text)
        version = response.json()["version"]
    final = staff.get(f"/api/v1/records/{rid}").json()
    assert final["state"] == "closed" and final["version"] == 7
    # The implementer is told why they cannot verify; a closed record offers nothing more.
    assert staff.get(f"/api/v1/records/{rid}/transitions").json() == []
    with web.db.engine.connect() as connection:
        assert verify_chain(connection, org_id=1).ok


def test_api_refusals_carry_reasons_and_field_errors(web):
    quality = api_as(web, "quality@xiangfeng.example")
    with web.db.engine.connect() as connection:
        rid = connection.execute(
            text("SELECT id FROM record WHERE state = 'reported' AND workflow_key = 'nonconformity'")
        ).scalar()
    bad = quality.post(
        f"/api/v1/records/{rid}/transitions/assess", json={"version": 1, "data": {"severity": "x"}}
    )
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    problem = bad.json()
    assert problem["type"] == "urn:tanguan:problem:validation" and problem["status"] == 422
    assert problem["instance"] == f"/api/v1/records/{rid}/transitions/assess"
    messages = {error["field"]: error["message"] for error in problem["errors"]}
    assert set(messages) == {"data.severity", "data.containment"}
    assert messages["data.severity"] == "不是可选的值"
    english = api_as(web, "quality@xiangfeng.example", **{"Accept-Language": "en"}).post(
        f"/api/v1/records/{rid}/transitions/assess", json={"version": 1, "data": {"severity": "x"}}
    )
    assert english.json()["title"] == "Invalid request" and english.headers["content-language"] == "en"
    assert "不" not in {e["field"]: e["message"] for e in english.json()["errors"]}["data.severity"]
    stale = quality.post(f"/api/v1/records/{rid}/transitions/assess", json={"version": 5, "data": {}})
    assert stale.status_code == 409 and "版" in stale.json()["detail"]
    assert stale.json()["type"] == "urn:tanguan:problem:version-conflict"
    illegal = quality.post(f"/api/v1/records/{rid}/transitions/verify_effective", json={"version": 1})
    assert illegal.status_code == 409 and illegal.json()["type"] == "urn:tanguan:problem:not-available"
    staff = api_as(web, "staff@xiangfeng.example")
    forbidden = staff.post(
        f"/api/v1/records/{rid}/transitions/assess",
        json={"version": 1, "data": {"severity": "minor", "containment": "x"}},
    )
    assert forbidden.status_code == 403


def test_twenty_concurrent_conflicting_submissions_have_exactly_one_winner(web):
    with web.db.engine.connect() as connection:
        rid = connection.execute(
            text("SELECT id FROM record WHERE state = 'reported' AND workflow_key = 'nonconformity'")
        ).scalar()
        events_before = connection.execute(
            text("SELECT count(*) FROM audit_event WHERE subject_type = 'record'")
        ).scalar()
    clients = [api_as(web, "quality@xiangfeng.example") for _ in range(20)]
    barrier = threading.Barrier(20)
    statuses: list[int] = []
    bodies: list[str] = []

    def submit(client: TestClient, n: int) -> None:
        barrier.wait()
        response = client.post(
            f"/api/v1/records/{rid}/transitions/assess",
            json={"version": 1, "data": {"severity": "major", "containment": f"措施 {n}"}},
        )
        statuses.append(response.status_code)
        bodies.append(response.text)

    threads = [threading.Thread(target=submit, args=(client, n)) for n, client in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with web.db.engine.connect() as connection:
        record = connection.execute(
            text("SELECT state, version, data FROM record WHERE id = :id"), {"id": rid}
        ).one()
        transition_events = connection.execute(
            text("SELECT count(*) FROM audit_event WHERE action = 'assess' AND subject_id = :id"),
            {"id": str(rid)},
        ).scalar()
        events_after = connection.execute(
            text("SELECT count(*) FROM audit_event WHERE subject_type = 'record'")
        ).scalar()
    locked = sum("database is locked" in body for body in bodies)
    print(
        f"\nT21 20 conflicting submissions: winners {statuses.count(200)}, 409s {statuses.count(409)}, "
        f"5xx {sum(s >= 500 for s in statuses)}, 'database is locked' {locked}"
    )
    assert statuses.count(200) == 1 and statuses.count(409) == 19 and locked == 0
    assert record.state == "assessed" and record.version == 2 and transition_events == 1
    assert events_after == events_before + 1

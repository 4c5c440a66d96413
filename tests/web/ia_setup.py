"""Shared set-up of the internal audit tests (9.3): the demo plant's units and people, a second internal
auditor and a second quality manager, API clients per person, and a plan that passes the independence
check."""

import json
from dataclasses import dataclass

from sqlalchemy import text

from demo.seed import DEMO_LOGINS, DEMO_PASSWORD
from engine.audit import SYSTEM
from engine.identity.users import create_user, get_user_by_email, grant_membership
from tests.web.conftest import api_token, bearer_client
from tests.web.support_setup import org_id_of, people_of

SECOND_AUDITOR = "auditor2@xiangfeng.example"
SECOND_MANAGER = "quality2@xiangfeng.example"
EMAIL = {login.role.value: login.email for login in DEMO_LOGINS}


@dataclass(frozen=True)
class Plant:
    org_id: int
    people: dict[str, int]  # role (and "auditor2", "quality2") → user id
    units: dict[str, int]  # unit code → id


def plant_of(web) -> Plant:
    """The demo plant, with a second internal auditor (production department) and a second quality manager."""
    org_id = org_id_of(web)
    with web.db.unit_of_work(all_orgs=True) as uow:
        for email, name, role in (
            (SECOND_AUDITOR, "黄磊", "internal_auditor"),
            (SECOND_MANAGER, "吴芳", "quality_manager"),
        ):
            user = get_user_by_email(uow.session, email=email) or create_user(
                uow.session, email=email, display_name=name, password=DEMO_PASSWORD
            )
            grant_membership(uow.session, org_id=org_id, user=user, roles=[role], actor=SYSTEM)
    people = people_of(web)
    with web.db.read_session(all_orgs=True) as session:
        people["auditor2"] = get_user_by_email(session, email=SECOND_AUDITOR).id
        people["quality2"] = get_user_by_email(session, email=SECOND_MANAGER).id
    with web.db.engine.connect() as connection:
        units = dict(
            connection.execute(text("SELECT code, id FROM org_unit WHERE org_id = :o"), {"o": org_id}).all()
        )
    return Plant(org_id=org_id, people=people, units=units)


def client_of(web, who: str):
    email = {"auditor2": SECOND_AUDITOR, "quality2": SECOND_MANAGER}.get(who) or EMAIL[who]
    return bearer_client(web, api_token(web, email, name=f"ia-{who}"))


def records(web, key: str) -> list[tuple[int, str, str, dict]]:
    with web.db.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT id, number, state, data FROM record WHERE workflow_key = :k ORDER BY id"), {"k": key}
        ).all()
    return [(i, n, s, json.loads(d) if isinstance(d, str) else d) for i, n, s, d in rows]


def record(web, record_id: int) -> tuple[str, dict, int]:
    with web.db.engine.connect() as connection:
        state, data, version = connection.execute(
            text("SELECT state, data, version FROM record WHERE id = :i"), {"i": record_id}
        ).one()
    return state, json.loads(data) if isinstance(data, str) else data, version


def plan(
    plant: Plant,
    *,
    scope: str = "9.1, 9.2",
    units=("PROD",),
    team=(("internal_auditor", "QC"),),
    lead="internal_auditor",
) -> dict:
    return {
        "scope_clauses": scope,
        "scope_units": [{"unit": plant.units[code]} for code in units],
        "criteria": "《工业企业碳管理体系实施指南》、碳管理手册、程序文件",
        "lead_auditor": plant.people[lead],
        "team": [{"member": plant.people[who], "home_unit": plant.units[unit]} for who, unit in team],
        "auditees": "生产技术部 周强",
        "records_from": "2030-01-01",
        "start_date": "2030-03-10",
        "end_date": "2030-03-12",
    }


def fire(client, record_id: int, trigger: str, data: dict | None = None, comment: str | None = None):
    version = client.get(f"/api/v1/records/{record_id}").json()["version"]
    body: dict = {"version": version, "data": data or {}}
    if comment:
        body["comment"] = comment
    return client.post(f"/api/v1/records/{record_id}/transitions/{trigger}", json=body)


def start_audit(client, *, title: str = "2030 年第一次内部审核", scope: str = "9.1, 9.2") -> int:
    created = client.post(
        "/api/v1/records",
        json={"workflow": "internal_audit", "data": {"title": title, "scope_clauses": scope}},
    )
    assert created.status_code in (200, 201), created.text
    return created.json()["id"]

"""The inventory page serves a cached inventory, and a write through the services shows at once."""

import re

import pytest
from sqlalchemy import text

from engine.audit import Actor
from engine.carbon_data.readings import record_reading
from engine.carbon_data.versions import input_version


def page_total(client) -> str:
    page = client.get("/emissions?year=2025")
    assert page.status_code == 200
    return re.search(r'id="total-tco2e">([^<]+)<', page.text).group(1)


def test_a_reading_changed_through_the_service_shows_on_the_page_at_once(web):
    client = web.as_role("carbon_manager")
    before = page_total(client)
    assert page_total(client) == before  # served from the cache
    with web.db.engine.connect() as connection:
        org_id, source_id, user_id = connection.execute(
            text(
                "SELECT o.id, s.id, u.id FROM organization o JOIN emission_source s ON s.org_id = o.id "
                "JOIN user_account u ON u.email = 'carbon@xiangfeng.example' "
                "WHERE o.slug = 'xiangfeng-cement' AND s.category = 'combustion' ORDER BY s.code LIMIT 1"
            )
        ).one()
    actor = Actor(id=user_id, name="李娜", roles=frozenset({"carbon_manager"}))

    def write(quantity: str):
        with web.db.unit_of_work(org_id=org_id) as uow:
            record_reading(
                uow.session,
                org_id=org_id,
                actor=actor,
                source_id=source_id,
                period="2025-03",
                quantity=quantity,
                reason="更正抄表错误",
            )

    with web.db.read_session(org_id=org_id) as session:
        version = input_version(session, org_id=org_id, year=2025)
    with pytest.raises(RuntimeError), web.db.unit_of_work(org_id=org_id) as uow:
        record_reading(
            uow.session,
            org_id=org_id,
            actor=actor,
            source_id=source_id,
            period="2025-03",
            quantity="1",
            reason="更正",
        )
        raise RuntimeError("rolled back")
    with web.db.read_session(org_id=org_id) as session:
        assert input_version(session, org_id=org_id, year=2025) == version
    assert page_total(client) == before
    write("987654")
    after = page_total(client)
    assert after != before
    with web.db.read_session(org_id=org_id) as session:
        assert input_version(session, org_id=org_id, year=2025) == version + 1


def test_the_pages_other_pieces_are_kept_until_the_organizations_data_changes(web):
    """Baselines, targets, snapshots, blockers … are kept under the audit chain position and the input
    stamps: the same object while nothing is written, a new one after any audited write or any input bump."""
    from engine.audit import SYSTEM, append_event
    from engine.carbon_data.versions import bump_input_versions
    from engine.reports.inventory_overview import inventory_overview

    with web.db.engine.connect() as connection:
        org_id = connection.execute(
            text("SELECT id FROM organization WHERE slug = 'xiangfeng-cement'")
        ).scalar()

    def overview():
        with web.db.read_session(org_id=org_id) as session:
            return inventory_overview(session, org_id=org_id, year=2025)

    first = overview()
    assert overview() is first
    with web.db.unit_of_work(org_id=org_id) as uow:
        append_event(
            uow.session,
            org_id=org_id,
            actor=SYSTEM,
            subject_type="organization",
            subject_id=org_id,
            action="note",
        )
    after_audit = overview()
    assert after_audit is not first
    assert overview() is after_audit
    with web.db.unit_of_work(org_id=org_id) as uow:
        bump_input_versions(uow.session, org_id=org_id, years=[2019])
    assert overview() is not after_audit


def test_a_target_added_through_the_form_shows_on_the_inventory_page_at_once(web):
    from tests.web.conftest import csrf_of

    client = web.as_role("carbon_manager")
    shown = set(re.findall(r'data-target="(\d+)"', client.get("/emissions?year=2025").text))
    assert set(re.findall(r'data-target="(\d+)"', client.get("/emissions?year=2025").text)) == shown
    form = client.get("/emissions/targets")
    saved = client.post(
        "/emissions/targets",
        data={
            "csrf_token": csrf_of(form.text),
            "kind": "total",
            "base_year": "2024",
            "target_year": "2031",
            "reduction_pct": "21",
            "note": "缓存失效检查",
        },
    )
    assert saved.status_code == 303
    page = client.get("/emissions?year=2025").text
    added = set(re.findall(r'data-target="(\d+)"', page)) - shown
    assert len(added) == 1
    assert "−21 %" in page

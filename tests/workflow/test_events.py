"""Domain events: published after the unit of work commits, never on rollback; a workflow whose start is
an event is started by it, linked to the record that raised it, with no engine change."""

import shutil

import pytest
from sqlalchemy import text

from engine.records.event_starts import EventStarts
from engine.workflow.catalog import WorkflowCatalog
from engine.workflow.loader import FORMS_DIR, WORKFLOWS_DIR, WorkflowFileError, load_workflows
from tests.workflow.test_nonconformity import fire, new_nc

FOLLOW_UP = """
key: nc_follow_up
version: 1
title: {zh: 不符合关闭后回访, en: Follow-up after a closed nonconformity}
clause: "10.2"
numbering: "FU-{year}-{seq:04}"
initial: open
start:
  kind: event
  event: %s
  form: follow_up_start
  record: {title: title}
states:
  open:
    label: {zh: 待回访, en: Open}
    owner_role: quality_manager
    due_days: 30
  done:
    label: {zh: 已回访, en: Done}
    final: true
transitions:
  - trigger: finish
    source: open
    dest: done
    label: {zh: 完成回访, en: Finish}
    roles: [quality_manager]
"""
FOLLOW_UP_FORM = """
key: follow_up_start
title: {zh: 回访, en: Follow-up}
fields:
  - name: title
    type: text
    required: true
    label: {zh: 标题, en: Title}
  - name: related_record
    type: record_link
    required: true
    label: {zh: 来源记录, en: Raised by}
"""


def _catalog_with_follow_up(tmp_path, event: str) -> WorkflowCatalog:
    workflows, forms = tmp_path / "workflows", tmp_path / "forms"
    shutil.copytree(WORKFLOWS_DIR, workflows, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    shutil.copytree(FORMS_DIR, forms, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (workflows / "nc_follow_up.yaml").write_text(FOLLOW_UP % event, encoding="utf-8")
    (forms / "follow_up_start.yaml").write_text(FOLLOW_UP_FORM, encoding="utf-8")
    return WorkflowCatalog(load_workflows(workflows, forms))


def test_events_are_published_after_commit_and_never_on_rollback(shop):
    seen = []
    shop.db.subscribe(lambda event, _db: seen.append(event))
    nc = new_nc(shop)
    assert [e.name for e in seen] == ["nonconformity.create"] and seen[0].payload["record_id"] == nc
    with pytest.raises(RuntimeError), shop.db.unit_of_work(org_id=shop.org_id) as uow:
        from engine.records.queries import get_record
        from engine.workflow.lifecycle import fire_transition

        fire_transition(
            uow.session,
            record_id=nc,
            trigger="assess",
            actor=shop.people["quality"],
            form_data={"severity": "minor", "containment": "复测"},
            expected_version=get_record(uow.session, record_id=nc).version,
        )
        raise RuntimeError("the transaction fails after the transition")
    assert [e.name for e in seen] == ["nonconformity.create"]  # the rolled-back assess announced nothing
    fire(shop, nc, "assess", "quality", {"severity": "minor", "containment": "复测"})
    assert [e.name for e in seen][-1] == "nonconformity.assess"
    assert seen[-1].payload["to_state"] == "assessed" and seen[-1].org_id == shop.org_id


def test_a_failing_subscriber_does_not_undo_the_change_or_stop_the_others(shop):
    seen = []

    def broken(_event, _db):
        raise ValueError("mail server down")

    shop.db.subscribe(broken)
    shop.db.subscribe(lambda event, _db: seen.append(event.name))
    nc = new_nc(shop)
    assert seen == ["nonconformity.create"]
    with shop.db.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM record WHERE id = :i"), {"i": nc}).scalar() == 1


def test_a_workflow_started_by_an_event_is_linked_to_the_record_that_raised_it(shop, tmp_path):
    catalog = _catalog_with_follow_up(tmp_path, "nonconformity.assess")
    with shop.db.unit_of_work(all_orgs=True) as uow:
        catalog.register(uow.session)
    shop.db.subscribe(EventStarts(catalog))
    shop.db.subscribe(EventStarts(catalog))  # subscribing the same catalog twice starts nothing twice
    shop.catalog = catalog
    nc = new_nc(shop)
    with shop.db.engine.connect() as connection:
        assert (
            connection.execute(
                text("SELECT count(*) FROM record WHERE workflow_key = 'nc_follow_up'")
            ).scalar()
            == 0
        )
    fire(shop, nc, "assess", "quality", {"severity": "minor", "containment": "复测"})
    with shop.db.engine.connect() as connection:
        started = connection.execute(
            text("SELECT id, title, state, created_by FROM record WHERE workflow_key = 'nc_follow_up'")
        ).all()
        assert len(started) == 1
        follow_up_id, title, state, created_by = started[0]
        assert title == "窑尾烟气在线监测数据缺失" and state == "open"
        assert created_by == shop.people["quality"].id  # whoever raised the event
        link = connection.execute(
            text("SELECT to_record_id, kind FROM record_link WHERE from_record_id = :f"), {"f": follow_up_id}
        ).one()
        assert tuple(link) == (nc, "related_record")


def test_an_event_start_must_name_an_event_that_exists(tmp_path):
    with pytest.raises(WorkflowFileError, match="has no trigger 'approve'"):
        _catalog_with_follow_up(tmp_path / "a", "nonconformity.approve")
    with pytest.raises(WorkflowFileError, match="names no workflow"):
        _catalog_with_follow_up(tmp_path / "b", "audit.close")

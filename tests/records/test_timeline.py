"""The record timeline presenter: labels from the pinned workflow, names instead of ids, China time."""

import orjson
import pytest

from engine.audit_trail.service import TrailEvent
from engine.forms.spec import FieldType, Text
from engine.records.display import Names, china_time, display_value
from engine.records.timeline import referenced_ids, timeline_entries
from engine.workflow.loader import load_workflows

NAMES = Names(
    users={6: "张伟", 7: "周强"},
    units={10: "烧成车间"},
    records={3: "NC-2026-0001 · 窑尾烟气"},
    evidence={1: "复测报告.pdf"},
)


@pytest.fixture(scope="module")
def nonconformity():
    return load_workflows()["nonconformity"]


def event(seq, action, *, ts="2026-03-05T02:32:10.123456Z", from_state=None, to_state=None, changes=None,
          reason=None, actor_id=6, actor_name="张伟"):  # fmt: skip
    return TrailEvent(
        seq=seq, ts=ts, actor_id=actor_id, actor_name=actor_name, subject_type="record", subject_id="1",
        action=action, from_state=from_state, to_state=to_state, reason=reason, hash="h" * 64,
        payload=orjson.dumps({"changes": changes or {}}).decode(),
    )  # fmt: skip


def test_a_transition_reads_as_labels_names_and_china_time(nonconformity):
    [entry] = timeline_entries(
        [
            event(
                7,
                "assess",
                from_state="reported",
                to_state="assessed",
                changes={"severity": [None, "major"], "containment": ["旧", "新"]},
                reason="已现场确认",
            )
        ],
        workflow=nonconformity,
        names=NAMES,
    )
    assert entry.action == Text(zh="评估", en="Assess")
    assert entry.from_state == Text(zh="已报告", en="Reported")
    assert entry.to_state == Text(zh="已评估", en="Assessed")
    assert entry.when == "2026-03-05 10:32"  # 02:32 UTC
    assert entry.actor == "张伟" and entry.comment == Text(zh="已现场确认", en="已现场确认")
    # In the order of the form, labelled, choice keys as their labels; no old value is None.
    assert [(c.field.zh, c.old, c.new) for c in entry.changes] == [
        ("严重程度", None, Text(zh="严重", en="Major")),
        ("控制措施", Text(zh="旧", en="旧"), Text(zh="新", en="新")),
    ]


def test_create_shows_names_for_ids_and_the_engine_action_label(nonconformity):
    [entry] = timeline_entries(
        [
            event(
                1,
                "create",
                to_state="reported",
                changes={
                    "assignee": [None, 6],
                    "org_unit": [None, 10],
                    "related_record": [None, 3],
                    "source": [None, "internal_audit"],
                    "title": [None, "窑尾烟气"],
                },
            )
        ],
        workflow=nonconformity,
        names=NAMES,
    )
    assert entry.action == Text(zh="创建", en="Created") and entry.from_state is None
    shown = {c.field.zh: c.new.zh for c in entry.changes}
    assert shown == {
        "标题": "窑尾烟气",
        "来源": "内部审核",
        "责任部门/设施": "烧成车间",
        "指派给": "张伟",
        "关联记录": "NC-2026-0001 · 窑尾烟气",
    }
    assert {c.field.en: c.new.en for c in entry.changes}["Source"] == "Internal audit"


def test_a_table_change_reads_as_rows(nonconformity):
    old = [{"description": "更换密封", "owner": 7, "due": "2026-04-01", "status": "open"}]
    new = [
        {**old[0], "status": "done"},
        {"description": "培训", "owner": 6, "due": "2026-04-10", "status": "open"},
    ]
    [entry] = timeline_entries(
        [event(9, "complete", from_state="implementing", to_state="effectiveness_review",
               changes={"actions": [old, new]})],
        workflow=nonconformity,
        names=NAMES,
    )  # fmt: skip
    [change] = entry.changes
    assert change.field == Text(zh="纠正措施", en="Corrective actions")
    assert change.old.zh == "1. 措施内容：更换密封；负责人：周强；完成期限：2026-04-01；状态：未完成"
    assert change.new.zh.splitlines() == [
        "1. 措施内容：更换密封；负责人：周强；完成期限：2026-04-01；状态：已完成",
        "2. 措施内容：培训；负责人：张伟；完成期限：2026-04-10；状态：未完成",
    ]
    assert change.new.en.startswith("1. Action: 更换密封; Owner: 周强; Due: 2026-04-01; Status: Done")
    assert "{" not in change.new.zh and "'" not in change.new.zh


def test_evidence_shows_the_file_name_and_unknown_ids_say_what_they_are(nonconformity):
    [entry] = timeline_entries(
        [event(11, "verify_effective", from_state="effectiveness_review", to_state="closed",
               changes={"evidence_file": [None, 1], "result": [None, "effective"]})],
        workflow=nonconformity,
        names=NAMES,
    )  # fmt: skip
    assert [(c.field.zh, c.new.zh) for c in entry.changes] == [
        ("证据文件", "复测报告.pdf"),
        ("验证结论", "有效"),
    ]
    assert Names().of(FieldType.user, 99) == "用户 #99"
    assert Names().of(FieldType.evidence, 5, "en") == "file #5"


def test_engine_events_are_labelled(nonconformity):
    entries = timeline_entries(
        [
            event(12, "participant_added", changes={"participants.complete": [[7], [6, 7]]}, reason="x"),
            event(13, "signature_failed", reason="verify_effective: wrong or missing password"),
        ],
        workflow=nonconformity,
        names=NAMES,
    )
    added, failed = entries
    assert added.action == Text(zh="加入参与人", en="Participant added")
    [change] = added.changes
    assert change.field.zh == "参与人（措施完成，提交验证）"
    assert (change.old.zh, change.new.zh) == ("周强", "张伟、周强")
    assert failed.action.zh == "签名失败"
    assert failed.comment == Text(
        zh="验证有效并关闭：签名密码错误或未填写", en="Verified effective, close: wrong or missing password"
    )


def test_referenced_ids_cover_data_changes_tables_and_participants(nonconformity):
    events = [
        event(1, "create", changes={"assignee": [None, 6], "org_unit": [None, 10]}, actor_id=8),
        event(2, "plan", changes={"actions": [None, [{"description": "a", "owner": 7}]]}),
        event(3, "participant_added", changes={"participants.complete": [[], [9]]}),
    ]
    wanted = referenced_ids(events, workflow=nonconformity, data={"evidence_file": 1, "related_record": 3})
    assert wanted[FieldType.user] == {6, 7, 8, 9}
    assert wanted[FieldType.org_unit] == {10}
    assert wanted[FieldType.evidence] == {1}
    assert wanted[FieldType.record_link] == {3}


def test_display_value_and_china_time(nonconformity):
    form = nonconformity.forms["nc_report"]
    assert display_value(form.field("source"), "monitoring", NAMES) == "监视测量"
    assert display_value(form.field("source"), "monitoring", NAMES, "en") == "Monitoring and measurement"
    assert display_value(form.field("assignee"), 7, NAMES) == "周强"
    assert display_value(form.field("title"), None, NAMES) == ""
    assert china_time("2026-12-31T16:05:00Z") == "2027-01-01 00:05"

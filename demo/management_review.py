"""The demo plant's management review of 2025 (9.4) through the real engine: started by the carbon manager,
its inputs compiled from the demo's records and figures, the meeting chaired by the general manager, the
outputs with three actions, and the approval signed by top management — which freezes the input pack and
opens the actions as improvement records linked to the review."""

from datetime import timedelta
from typing import Any

from sqlmodel import Session, select

from engine.workflow.access import ActorRef
from engine.workflow.catalog import WorkflowCatalog
from engine.workflow.computed import china_today
from engine.workflow.lifecycle import create_record, fire_transition
from engine.workflow.models import Record
from engine.workflow.writes import load_record_row

REVIEW = "management_review"

MINUTES = (
    "总经理主持召开 2025 年度管理评审会议。碳管理部逐项汇报评审输入：以往措施完成情况；内外部议题、相关方需求"
    "和合规义务的变化；熟料单位产品碳排放等碳绩效参数与基准、目标的对比；碳目标和行动计划进展；不符合与纠正措施；"
    "风险和机遇；资源；相关方交流；数据质量控制计划执行情况。与会人员讨论了窑系统煤耗偏高、计量器具配备不足"
    "和个别不符合逾期未关闭的原因。"
)
DECISIONS = (
    "碳管理体系总体适宜、充分，运行基本有效，需在计量和数据质量方面改进：\n"
    "1. 2026 年补齐窑尾喂煤秤等一级计量器具，满足 GB 17167 配备要求；\n"
    "2. 逾期不符合由质量部督办，一个月内关闭；\n"
    "3. 安排 80 万元用于余热电站运行优化，碳目标保持不变。"
)
ACTIONS = (
    ("补齐窑尾喂煤秤等一级计量器具", "process_owner", 120),
    ("督办并关闭逾期的不符合", "quality_manager", 30),
    ("余热电站运行优化方案（80 万元）", "carbon_manager", 180),
)


def seed_demo_management_review(
    session: Session, *, catalog: WorkflowCatalog, org_id: int, people: dict[str, ActorRef]
) -> None:
    """The review of 2025, unless the organization has a management review already."""
    workflow = catalog.get(REVIEW)
    seeded = select(Record.id).where(Record.org_id == org_id, Record.workflow_key == REVIEW)
    if workflow is None or session.exec(seeded).first():
        return
    today = china_today()
    carbon, gm = people["carbon_manager"], people["top_management"]
    review = create_record(
        session,
        workflow=workflow,
        org_id=org_id,
        actor=carbon,
        form_data={"title": "2025 年度管理评审", "review_year": "2025", "chair": gm.id},
    )
    assert review.id is not None
    steps: list[tuple[str, ActorRef, dict[str, Any]]] = [
        (
            "record_review_meeting",
            carbon,
            {
                "meeting_date": today.isoformat(),
                "location": "公司办公楼三楼会议室",
                "attendees": [
                    {"attendee": gm.id, "capacity": "总经理（主持）"},
                    {"attendee": carbon.id, "capacity": "碳管理部"},
                    {"attendee": people["quality_manager"].id, "capacity": "质量部"},
                    {"attendee": people["process_owner"].id, "capacity": "生产部（窑系统）"},
                    {"attendee": people["internal_auditor"].id, "capacity": "内审员"},
                ],
                "minutes": MINUTES,
            },
        ),
        (
            "submit_review_outputs",
            carbon,
            {
                "conclusion": "needs_improvement",
                "decisions": DECISIONS,
                "actions": [
                    {
                        "action": action,
                        "owner": people[role].id,
                        "due": (today + timedelta(days=days)).isoformat(),
                    }
                    for action, role, days in ACTIONS
                ],
                "resource_needs": "一级计量器具购置约 35 万元；余热电站优化 80 万元。",
                "policy_change": "unchanged",
                "objectives_change": "unchanged",
            },
        ),
        ("approve_management_review", gm, {}),
    ]
    version = load_record_row(session, record_id=review.id).version  # created, then its inputs compiled
    for trigger, actor, form in steps:
        version = fire_transition(
            session,
            record_id=review.id,
            trigger=trigger,
            actor=actor,
            form_data=form,
            expected_version=version,
            password_verified=True,
        ).version

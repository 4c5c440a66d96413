"""The demo's controlled documents (7.5) and acknowledgements of the carbon policy (5.2): a procedure in force
with its superseded first version, a manual approved by top management, an external standard with its
edition, and the carbon policy in force acknowledged by some of the staff."""

from typing import Any

from sqlmodel import Session, select

from engine.audit import Actor
from engine.documents.acknowledgements import acknowledge
from engine.records.queries import records_in_states
from engine.tenancy import ALL_ORGS, ORG_ID, bind_session_scope
from engine.workflow.access import ActorRef
from engine.workflow.catalog import WorkflowCatalog
from engine.workflow.lifecycle import create_record, fire_transition
from engine.workflow.models import Record
from workflows.hooks.controlled_document import WORKFLOW
from workflows.hooks.controlled_statement import IN_FORCE
from workflows.hooks.document_register import POLICY

PROCEDURE_V1 = """# 1 目的
规范公司碳排放数据的收集、汇总和报送。

# 2 职责
- 碳管理员负责每月汇总活动数据；
- 各车间负责原始记录。

# 3 程序
每月5日前完成上月数据汇总。"""
PROCEDURE_V2 = PROCEDURE_V1.replace(
    "每月5日前完成上月数据汇总。",
    "每月5日前完成上月数据汇总，并按数据质量控制计划核对计量器具检定状态。\n\n"
    "# 4 记录\n月度数据核对表（BD-001）。",
)


def _fire(session: Session, record: Record, trigger: str, actor: ActorRef, **kw: Any) -> None:
    assert record.id is not None
    session.refresh(record)
    fire_transition(
        session, record_id=record.id, trigger=trigger, actor=actor, form_data=kw.pop("data", {}),
        expected_version=record.version, **kw,
    )  # fmt: skip


def seed_demo_documents(
    session: Session, *, catalog: WorkflowCatalog, org_id: int, people: dict[str, ActorRef]
) -> None:
    workflow = catalog.get(WORKFLOW)
    mine = select(Record.id).where(Record.workflow_key == WORKFLOW, Record.org_id == org_id)
    if workflow is None or session.exec(mine).first():
        return
    scope = (session.info.get(ORG_ID), bool(session.info.get(ALL_ORGS)))
    bind_session_scope(session, org_id=org_id, all_orgs=False)
    try:
        carbon, quality, gm = people["carbon_manager"], people["quality_manager"], people["top_management"]
        base = {
            "owner": carbon.id, "change_reason": "首次发布", "effective_date": "2025-03-01",
            "review_date": "2026-03-01", "distribute_to": ["carbon_manager", "process_owner", "staff"],
        }  # fmt: skip
        procedure = create_record(session, workflow=workflow, org_id=org_id, actor=carbon, form_data={
            **base, "doc_type": "procedure", "title": "碳排放数据管理程序", "clause": "8.6",
            "edition": "A/0", "content": PROCEDURE_V1,
        })  # fmt: skip
        _fire(session, procedure, "submit_for_approval", carbon)
        _fire(session, procedure, "approve_document", quality, password_verified=True)
        _fire(session, procedure, "revise", carbon, comment="增加计量器具检定状态核对（内审发现）")
        second = session.exec(
            select(Record).where(Record.workflow_key == WORKFLOW, Record.id != procedure.id)
        ).one()
        _fire(session, second, "edit_draft", carbon, data={
            **second.data, "edition": "A/1", "content": PROCEDURE_V2, "effective_date": "2026-01-01",
            "review_date": "2027-01-01",
        })  # fmt: skip
        _fire(session, second, "submit_for_approval", carbon)
        _fire(session, second, "approve_document", quality, password_verified=True)
        manual = create_record(session, workflow=workflow, org_id=org_id, actor=carbon, form_data={
            **base, "doc_type": "manual", "title": "碳管理手册", "clause": "4.4", "edition": "A/0",
            "content": "# 碳管理手册\n本手册依据《工业企业碳管理体系实施指南》编制。",
            "distribute_to": ["all_staff"],
        })  # fmt: skip
        _fire(session, manual, "submit_to_management", carbon)
        _fire(session, manual, "approve_by_management", gm, password_verified=True)
        standard = create_record(session, workflow=workflow, org_id=org_id, actor=carbon, form_data={
            **base, "doc_type": "external", "title": "工业企业温室气体排放核算和报告通则",
            "edition": "GB/T 32150-2015", "clause": "9.1", "content": "外来标准，原文由标准化主管部门发布。",
            "distribute_to": ["carbon_manager"],
        })  # fmt: skip
        _fire(session, standard, "register_external", carbon)
        # The carbon policy in force: read and acknowledged by some of the staff.
        for policy in records_in_states(session, workflow_key=POLICY, states=(IN_FORCE,)):
            assert policy.id is not None
            for role in ("carbon_manager", "process_owner", "quality_manager"):
                person = people[role]
                acknowledge(session, org_id=org_id, record_id=policy.id, actor=Actor(person.id, person.name))
    finally:
        bind_session_scope(session, org_id=scope[0], all_orgs=scope[1])

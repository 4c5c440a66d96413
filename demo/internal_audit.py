"""The demo plant's 9.3 internal audit, each step through the real engine: the 2026 programme (rows derived
from the risk register and past results, operation and performance evaluation moved to March), approved by
the general manager; the scheduler's job starting March's audit; its plan, checklist from the clause
library, fieldwork by the internal auditor, the report — whose findings became two nonconformities and two
improvement items — and its close with the follow-up of the findings still open."""

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from engine.config import Settings
from engine.identity.models import OrgUnit
from engine.records.display import CHINA_TIME
from engine.scheduler.registry import JobContext
from engine.workflow.access import ActorRef
from engine.workflow.catalog import WorkflowCatalog
from engine.workflow.lifecycle import create_record, fire_transition
from engine.workflow.models import Record
from workflows.hooks.internal_audit_programme import TWICE, default_months, start_planned_audits

PROGRAMME, AUDIT = "internal_audit_programme", "internal_audit"
MARCH_GROUPS = ("8", "9")  # the demo moves operation and performance evaluation to March
# Findings by checklist item (1-based) → (answer, what was found); every other item conforms.
FINDINGS = {
    2: ("minor_nc", "1# 窑运行控制准则未规定分解炉出口温度的报警限值"),
    5: ("observation", "供应商低碳评价表中运输方式一栏多处空白"),
    9: ("major_nc", "2 月活动数据未经二级校核即上报，缺少校核人签字"),
    12: ("opportunity", "可用在线监测数据自动比对月度燃煤消耗"),
}


def _months(row: dict[str, Any]) -> dict[str, Any]:
    months = list(default_months(row))
    if row["clauses"] in MARCH_GROUPS:
        months[0] = 3
    if row.get("frequency") == TWICE and months[0] == months[-1]:
        months[-1] = 9
    return {**row, "first_month": months[0], "second_month": months[1] if len(months) > 1 else None}


def _fire(
    session: Session, record_id: int, trigger: str, actor: ActorRef, form: dict[str, Any], day: str
) -> None:
    version = session.get(Record, record_id).version  # type: ignore[union-attr]
    fire_transition(
        session,
        record_id=record_id,
        trigger=trigger,
        actor=actor,
        form_data=form,
        expected_version=version,
        password_verified=True,
        today=datetime.fromisoformat(day).date(),
    )
    session.expire_all()


def seed_demo_internal_audit(
    session: Session, *, catalog: WorkflowCatalog, org_id: int, people: dict[str, ActorRef]
) -> None:
    """Unless the organization already has an audit programme."""
    workflow = catalog.get(PROGRAMME)
    mine = select(Record.id).where(Record.workflow_key == PROGRAMME, Record.org_id == org_id)
    if workflow is None or session.exec(mine).first():
        return
    quality, auditor, gm = people["quality_manager"], people["internal_auditor"], people["top_management"]
    programme = create_record(
        session,
        workflow=workflow,
        org_id=org_id,
        actor=quality,
        form_data={"title": "2026 年度内部审核方案", "year": 2026},
        today=datetime(2026, 1, 8).date(),
    )
    assert programme.id is not None
    session.expire_all()
    rows = [_months(row) for row in session.get(Record, programme.id).data["rows"]]  # type: ignore[union-attr]
    _fire(session, programme.id, "plan_months", quality, {"rows": rows}, "2026-01-09")
    _fire(session, programme.id, "approve_programme", gm, {}, "2026-01-12")
    # The scheduler's job on 2 March 2026 starts March's audit.
    march = datetime(2026, 3, 2, 9, 0, tzinfo=CHINA_TIME)
    context = JobContext(
        job="internal_audit_starts", session=session, org_id=org_id, now=march, settings=Settings()
    )
    list(start_planned_audits(context))
    audit = session.exec(
        select(Record).where(Record.workflow_key == AUDIT, Record.org_id == org_id).order_by(col(Record.id))
    ).first()
    assert audit is not None and audit.id is not None
    _audit_march(session, audit, org_id=org_id, quality=quality, auditor=auditor)


def _audit_march(
    session: Session, audit: Record, *, org_id: int, quality: ActorRef, auditor: ActorRef
) -> None:
    assert audit.id is not None
    units = {
        unit.code: unit.id for unit in session.exec(select(OrgUnit).where(OrgUnit.org_id == org_id)).all()
    }
    plan = {
        "scope_clauses": audit.data["scope_clauses"],
        "scope_units": [{"unit": units["PROD"]}, {"unit": units["SHE"]}, {"unit": units["PUR"]}],
        "criteria": "DB43《工业企业碳管理体系实施指南》；公司《碳管理手册》（第 2 版）及程序文件；"
        "适用的合规义务",
        "lead_auditor": auditor.id,
        "team": [{"member": auditor.id, "home_unit": units["QC"]}],
        "auditees": "生产技术部 周强；安全环保部 李娜；供应部 采购主管",
        "records_from": "2025-03-01",
        "start_date": "2026-03-16",
        "end_date": "2026-03-18",
    }
    _fire(session, audit.id, "save_plan", quality, plan, "2026-03-09")
    _fire(session, audit.id, "submit_plan", quality, {}, "2026-03-10")
    checklist = session.get(Record, audit.id).data["checklist"]  # type: ignore[union-attr]
    for number, row in enumerate(checklist, start=1):
        answer, note = FINDINGS.get(number, ("conforming", ""))
        form = {
            "item": number,
            "answer": answer,
            "evidence": f"查阅 {row['clause']} 相关程序文件和 2025 年 3 月以来的记录，现场询问",
            "auditee": "周强" if row["clause"].startswith("8") else "李娜",
            "note": note or None,
        }
        _fire(session, audit.id, "answer_item", auditor, form, "2026-03-17")
    _fire(
        session,
        audit.id,
        "issue_report",
        auditor,
        {
            "report_date": "2026-03-20",
            "conclusion": "碳管理体系运行和数据质量控制总体符合标准要求，"
            "1 项严重不符合（数据二级校核）须在 30 日内完成纠正。",
        },
        "2026-03-20",
    )
    open_findings = [row for row in session.get(Record, audit.id).data["checklist"] if row.get("finding")]  # type: ignore[union-attr]
    assert len(open_findings) == len(FINDINGS)
    _fire(
        session,
        audit.id,
        "close_audit",
        quality,
        {
            "closed_on": "2026-04-30",
            "follow_up": "两项不符合的纠正措施由质量部于 6 月验证有效性；改进事项纳入持续改进记录跟踪",
        },
        "2026-04-30",
    )

"""9.2 compliance evaluation in the demo, made by firing the real transitions: last quarter's evaluation of
every applicable obligation — one found non-compliant, which opened a nonconformity by itself — reviewed by
the quality manager and closed (each obligation records its result), then the scheduler's monthly start
for the obligations that have fallen due since (the monthly one). The obligations come from demo/context.py,
whose new version of the CBAM obligation has already started an evaluation of its own."""

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from engine.config import Settings
from engine.scheduler.registry import JobContext
from engine.tenancy import ALL_ORGS, ORG_ID, bind_session_scope
from engine.workflow.access import ActorRef
from engine.workflow.catalog import WorkflowCatalog
from engine.workflow.computed import china_today
from engine.workflow.lifecycle import create_record, fire_transition
from engine.workflow.models import Record
from engine.workflow.writes import load_record_row
from workflows.hooks.compliance_evaluation import WORKFLOW, start_due_evaluations

# obligation title → (result, evidence, note); the others were found compliant on the records named.
FINDINGS = {
    "企业温室气体排放核算与报告指南 水泥熟料生产": (
        "non_compliant",
        "月度存证台账（9–10月）",
        "9月、10月入窑煤元素碳含量检测报告未在次月存证，数据质量控制计划第6条未执行",
    ),
    "排污许可证": ("compliant", "排污许可第三季度执行报告；自行监测联网记录", "三项污染物均达标"),
    "水泥单位产品能源消耗限额": ("compliant", "能耗统计月报（1–9月）", "熟料综合能耗优于限定值"),
}
COMPLIANT = ("compliant", "程序文件、台账与现场核对记录", "逐条核对，未发现差距")


def _answers(session: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    answered = []
    for row in rows:
        obligation = session.get(Record, row["obligation"])
        assert obligation is not None
        result, evidence, note = FINDINGS.get(obligation.title, COMPLIANT)
        answered.append({**row, "result": result, "evidence_reference": evidence or None, "note": note})
    return answered


def _fire(
    session: Session, record_id: int, trigger: str, actor: ActorRef, data: dict[str, Any], **kw: Any
) -> None:
    version = load_record_row(session, record_id=record_id).version
    fire_transition(
        session,
        record_id=record_id,
        trigger=trigger,
        actor=actor,
        form_data=data,
        expected_version=version,
        **kw,
    )


def seed_demo_compliance_evaluation(
    session: Session, *, catalog: WorkflowCatalog, org_id: int, people: dict[str, ActorRef]
) -> None:
    """All of it, unless the organization has a closed compliance evaluation already."""
    workflow = catalog.get(WORKFLOW)
    done = select(Record.id).where(
        Record.workflow_key == WORKFLOW, Record.org_id == org_id, Record.state == "closed"
    )
    if workflow is None or session.exec(done).first():
        return
    # Nonconformities and notifications are written in one organization.
    scope = (session.info.get(ORG_ID), bool(session.info.get(ALL_ORGS)))
    bind_session_scope(session, org_id=org_id, all_orgs=False)
    try:
        today = china_today()
        evaluated = today - timedelta(days=40)  # the monthly obligation falls due again before today
        carbon, quality = people["carbon_manager"], people["quality_manager"]
        record = create_record(
            session,
            workflow=workflow,
            org_id=org_id,
            actor=carbon,
            form_data={
                "title": f"{evaluated.year}年第{(evaluated.month - 1) // 3 + 1}季度合规性评价",
                "period": f"{evaluated.year}年第{(evaluated.month - 1) // 3 + 1}季度",
                "scope": "all",
                "evaluator": carbon.id,
                "co_evaluator": people["internal_auditor"].id,
                "planned_date": evaluated.isoformat(),
                "plan_note": "对照合规义务清单逐条评价：查阅台账、报告和检测记录，现场核对计量和存证。",
            },
            today=evaluated - timedelta(days=10),
        )
        assert record.id is not None
        rows = load_record_row(session, record_id=record.id).data["results"]
        _fire(
            session,
            record.id,
            "submit",
            carbon,
            {"results": _answers(session, rows), "evaluated_on": evaluated.isoformat()},
            today=evaluated,
        )
        _fire(
            session,
            record.id,
            "pass_review",
            quality,
            {"review_conclusion": "覆盖全部适用义务，证据充分；不合规项已开具不符合，同意关闭。"},
            today=evaluated + timedelta(days=3),
        )
        _fire(session, record.id, "close", carbon, {}, today=evaluated + timedelta(days=4))
        # The scheduler's monthly start, as its job runs it (the claim keeps it from starting twice).
        context = JobContext(
            job="recurring_starts", session=session, org_id=org_id, now=datetime.now(UTC), settings=Settings()
        )
        list(start_due_evaluations(context))
    finally:
        bind_session_scope(session, org_id=scope[0], all_orgs=scope[1])

"""The demo cement plant's data-quality control plan: the 2025 version (first issue, now superseded) and the
version in force from 2026-11 (revised for the kiln coal's new belt scale), with its rows for the kiln
coal (metered consumption, lab NCV and carbon content), diesel, purchased electricity, clinker output and
the calcination's activity data; 2025's monthly proofs filed except two; and the month-on-month anomaly of
2025-02 (the Spring Festival stop) that opened a nonconformity."""

from datetime import date
from typing import Any

from sqlmodel import Session, select

from engine.audit import Actor
from engine.dqcp.anomalies import month_on_month, open_findings
from engine.dqcp.filing import file_proof, open_filing_tasks
from engine.dqcp.plan import plan_in_force
from engine.dqcp.values import month_values
from engine.evidence.store import store_evidence
from engine.identity.models import OrgUnit
from engine.storage import EvidenceStore
from engine.workflow.access import ActorRef
from engine.workflow.catalog import WorkflowCatalog
from engine.workflow.lifecycle import create_record, fire_transition
from engine.workflow.models import Record

WORKFLOW = "dqcp"
INSTRUMENTS = "metering_instrument"
MISSING_PROOFS = {("COAL-NCV", "2025-11"), ("COAL-FC", "2025-12")}  # two months an inspector would flag
PROOF_FILES = {
    "ledger_scan": "盖章台账扫描件",
    "lab_report": "CMA检测报告",
    "production_ledger": "生产月报",
    "settlement": "结算单",
}


def _rows(
    units: dict[str, int], people: dict[str, ActorRef], instruments: dict[str, int], *, new_scale: bool
) -> list[dict[str, Any]]:
    kiln, staff, carbon = people["process_owner"].id, people["staff"].id, people["carbon_manager"].id
    coal_accuracy = "±0.5%（电子皮带秤）" if new_scale else "±1%（螺旋秤）"
    return [
        {
            "code": "COAL-FC",
            "instrument": instruments.get("JL-W-011"),
            "parameter": "入窑煤消耗量",
            "kind": "activity",
            "subject": "KILN1-COAL",
            "unit": "t",
            "method": "皮带秤累计量，月末盘库校核",
            "obtained": "metered",
            "frequency": "continuous",
            "accuracy": coal_accuracy,
            "calibration": "每年检定一次",
            "department": units["PROD"],
            "responsible": kiln,
            "missing_rule": "max_previous_12",
            "proof": "ledger_scan",
            "change_threshold": "30",
        },
        {
            "code": "COAL-NCV",
            "parameter": "入窑煤低位发热量",
            "kind": "ncv",
            "subject": "KILN1-COAL",
            "unit": "GJ/t",
            "method": "GB/T 213 弹筒法，每批入厂煤化验，月加权平均",
            "obtained": "lab_test",
            "frequency": "per_batch",
            "accuracy": "重复性 ≤ 120 J/g",
            "calibration": "量热仪每年检定",
            "department": units["QC"],
            "responsible": staff,
            "missing_rule": "max_previous_12",
            "proof": "lab_report",
            "change_threshold": "15",
        },
        {
            "code": "COAL-CC",
            "parameter": "入窑煤单位热值含碳量",
            "kind": "carbon_content",
            "subject": "KILN1-COAL",
            "unit": "tC/GJ",
            "method": "取 GB/T 32151 缺省值（烟煤）",
            "obtained": "default_value",
            "frequency": "yearly",
            "department": units["QC"],
            "responsible": staff,
            "missing_rule": "upper_default",
            "proof": "lab_report",
        },
        {
            "code": "DIESEL",
            "instrument": instruments.get("JL-F-001"),
            "parameter": "矿山柴油消耗量",
            "kind": "activity",
            "subject": "QUARRY-DIESEL",
            "unit": "t",
            "method": "加油台账月度汇总，与采购发票核对",
            "obtained": "settlement",
            "frequency": "monthly",
            "department": units["QUARRY"],
            "responsible": staff,
            "missing_rule": "max_previous_12",
            "proof": "settlement",
        },
        {
            "code": "ELEC",
            "instrument": instruments.get("JL-E-001"),
            "parameter": "外购电量",
            "kind": "activity",
            "subject": "PLANT-ELEC",
            "unit": "MWh",
            "method": "110 kV 关口表月度抄表，与供电公司结算单核对",
            "obtained": "metered",
            "frequency": "monthly",
            "accuracy": "0.5S 级",
            "calibration": "供电公司周期检定",
            "department": units["ENG"],
            "responsible": carbon,
            "missing_rule": "max_previous_12",
            "proof": "settlement",
            "change_threshold": "35",
        },
        {
            "code": "CLK-OUT",
            "instrument": instruments.get("JL-W-012"),
            "parameter": "熟料产量",
            "kind": "production",
            "subject": "CLK",
            "unit": "t",
            "method": "熟料皮带秤累计，月末库存盘点校核",
            "obtained": "metered",
            "frequency": "daily",
            "accuracy": "±0.5%",
            "calibration": "每年检定一次",
            "department": units["PROD"],
            "responsible": kiln,
            "missing_rule": "min_previous_12",
            "proof": "production_ledger",
        },
        {
            "code": "CLK-PROC",
            "instrument": instruments.get("JL-W-012"),
            "parameter": "熟料产量（过程排放活动数据）",
            "kind": "activity",
            "subject": "KILN1-CLINKER",
            "unit": "t",
            "method": "熟料产量 × CaO、MgO 含量换算",
            "obtained": "metered",
            "frequency": "daily",
            "department": units["PROD"],
            "responsible": kiln,
            "missing_rule": "max_previous_12",
            "proof": "production_ledger",
        },
    ]


def _approved(
    session: Session,
    *,
    catalog: WorkflowCatalog,
    org_id: int,
    people: dict[str, ActorRef],
    data: dict[str, Any],
) -> int:
    workflow = catalog.get(WORKFLOW)
    assert workflow is not None
    record = create_record(
        session, workflow=workflow, org_id=org_id, actor=people["carbon_manager"], form_data=data
    )
    assert record.id is not None
    version = record.version
    for trigger, role in (("submit_for_approval", "carbon_manager"), ("approve_plan", "top_management")):
        version = fire_transition(
            session, record_id=record.id, trigger=trigger, actor=people[role], form_data={},
            expected_version=version, password_verified=True,  # seeding signs on the demo users' behalf
        ).version  # fmt: skip
    return record.id


def seed_demo_dqcp(
    session: Session,
    *,
    catalog: WorkflowCatalog,
    org_id: int,
    people: dict[str, ActorRef],
    evidence_store: EvidenceStore,
) -> None:
    units = {unit.code: unit.id for unit in session.exec(select(OrgUnit)).all() if unit.id is not None}
    instruments = {
        str(record.data.get("code")): record.id
        for record in session.exec(select(Record).where(Record.workflow_key == INSTRUMENTS)).all()
        if record.id is not None
    }
    _approved(session, catalog=catalog, org_id=org_id, people=people, data={
        "title": "数据质量控制计划（2025 版）", "effective_from": "2025-01-01",
        "revision_trigger": "first_issue",
        "revision_reason": "依据《企业温室气体排放核算与报告指南 水泥熟料生产》首次编制",
        "rows": _rows(units, people, instruments, new_scale=False),
    })  # fmt: skip
    plan = plan_in_force(session)
    assert plan is not None
    _file_2025_proofs(session, org_id=org_id, people=people, evidence_store=evidence_store)
    february = month_on_month(plan, month_values(session, org_id=org_id, years=[2025]), period="2025-02")
    open_findings(
        session, org_id=org_id, anomalies=february, claim=lambda _s, _p: True, today=date(2025, 3, 6)
    )
    _approved(session, catalog=catalog, org_id=org_id, people=people, data={
        "title": "数据质量控制计划（2026 年 11 月修订）", "effective_from": "2026-11-01",
        "revision_trigger": "better_instrument",
        "revision_reason": "入窑煤计量更换为新的电子皮带秤（±0.5%），提高活动数据准确度",
        "rows": _rows(units, people, instruments, new_scale=True),
    })  # fmt: skip
    in_force = plan_in_force(session)
    assert in_force is not None
    open_filing_tasks(session, org_id=org_id, plan=in_force, today=date.today())  # what the scheduler does


def _file_2025_proofs(
    session: Session, *, org_id: int, people: dict[str, ActorRef], evidence_store: EvidenceStore
) -> None:
    plan = plan_in_force(session)
    assert plan is not None
    for row in plan.rows:
        if not row.filed_monthly:
            continue
        person = next(ref for ref in people.values() if ref.id == row.responsible_id)
        actor = Actor(person.id, person.name, person.roles)
        for month in range(1, 13):
            period = f"2025-{month:02d}"
            if (row.code, period) in MISSING_PROOFS:
                continue
            name = f"{row.parameter}-{period}-{PROOF_FILES.get(row.proof, '存证')}.pdf"
            content = f"%PDF-1.4\n% {name}\n%%EOF\n".encode()
            stored = store_evidence(
                session, org_id=org_id, actor=actor, evidence_store=evidence_store, filename=name,
                chunks=[content], max_bytes=10 * 1024 * 1024,
            )  # fmt: skip
            assert stored.id is not None
            file_proof(session, org_id=org_id, plan=plan, row_code=row.code, period=period,
                       evidence_id=stored.id, actor=actor)  # fmt: skip

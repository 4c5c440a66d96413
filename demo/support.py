"""The demo plant's support processes (7.1–7.4) through the real engine: resources, competence
requirements, training records (one certificate expiring within 30 days of 2026-12-07), the carbon-policy
awareness campaign (partly acknowledged), the communication log, and the carbon disclosure of 2025 —
published from a frozen 2025 inventory snapshot — with a customer-facing draft beside it."""

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from sqlmodel import Session, select

from engine.audit import Actor
from engine.carbon_data.errors import EmissionsDataError
from engine.carbon_data.snapshots import freeze_snapshot, latest_snapshot
from engine.evidence.store import store_evidence
from engine.identity.models import OrgUnit
from engine.storage import EvidenceStore
from engine.workflow.access import ActorRef
from engine.workflow.catalog import WorkflowCatalog
from engine.workflow.computed import china_today
from engine.workflow.lifecycle import create_record, fire_transition
from engine.workflow.models import Record

FALLBACK_REASON = "2025 年全国电网排放因子尚未发布，按最近公布年度的因子冻结，用于 2025 年度碳信息披露"

DATA_FILE = Path(__file__).with_name("support.yaml")


@cache
def demo_data() -> dict[str, list[dict[str, Any]]]:
    data: dict[str, list[dict[str, Any]]] = yaml.safe_load(DATA_FILE.read_text(encoding="utf-8"))
    return data


AUDIENCE = ("top_management", "quality_manager", "internal_auditor", "process_owner", "staff")
POLICY_TOPIC = "碳方针宣贯：湘峰水泥碳方针（2026 版）"


def _evidence(
    session: Session, *, org_id: int, actor: ActorRef, evidence_store: EvidenceStore, name: str, text: str
) -> int:
    evidence = store_evidence(
        session,
        org_id=org_id,
        actor=Actor(actor.id, actor.name),
        evidence_store=evidence_store,
        filename=name,
        chunks=iter([f"{text}\n（演示数据）\n".encode()]),
        max_bytes=64 * 1024,
    )
    assert evidence.id is not None
    return evidence.id


def _fire(
    session: Session, record: Record, trigger: str, actor: ActorRef, data: dict[str, Any], **extra: Any
) -> None:
    assert record.id is not None
    current = session.get(Record, record.id)
    assert current is not None
    session.refresh(current)
    fire_transition(
        session,
        record_id=record.id,
        trigger=trigger,
        actor=actor,
        form_data=data,
        expected_version=current.version,
        **extra,
    )


def seed_demo_support(
    session: Session,
    *,
    catalog: WorkflowCatalog,
    org_id: int,
    people: dict[str, ActorRef],
    evidence_store: EvidenceStore,
) -> None:
    """Every support register and process, unless the organization already has resources."""
    workflow = catalog.get("resource")
    mine = select(Record.id).where(Record.workflow_key == "resource", Record.org_id == org_id)
    if workflow is None or session.exec(mine).first():
        return
    units = {
        unit.code: unit.id
        for unit in session.exec(select(OrgUnit).where(OrgUnit.org_id == org_id)).all()
        if unit.id is not None
    }
    carbon = people["carbon_manager"]
    ids = {role: person.id for role, person in people.items()}
    _resources(session, catalog=catalog, org_id=org_id, people=people, units=units)
    positions = _competences(session, catalog=catalog, org_id=org_id, carbon=carbon, units=units)
    _trainings(
        session, catalog=catalog, org_id=org_id, people=people, positions=positions, dir=evidence_store
    )
    _campaign(session, catalog=catalog, org_id=org_id, people=people, evidence_store=evidence_store)
    workflow = catalog.get("communication")
    assert workflow is not None
    for row in demo_data()["communications"]:
        (subject, direction, kind, party, channel, day, frequency, role, details, done) = row.values()
        record = create_record(
            session, workflow=workflow, org_id=org_id, actor=carbon,
            form_data={
                "subject": subject, "direction": direction, "entry_kind": kind, "party": party,
                "channel": channel, "planned_date": day, "frequency": frequency, "responsible": ids[role],
                "details": details,
            },
        )  # fmt: skip
        if done:
            proof = _evidence(
                session, org_id=org_id, actor=carbon, evidence_store=evidence_store,
                name=f"{record.number}.txt", text=f"{subject}\n{done[1]}",
            )  # fmt: skip
            _fire(session, record, "complete_communication", people[role],
                  {"actual_date": done[0], "outcome": done[1], "evidence": proof})  # fmt: skip
    _disclosures(session, catalog=catalog, org_id=org_id, people=people, evidence_store=evidence_store)


def _resources(
    session: Session,
    *,
    catalog: WorkflowCatalog,
    org_id: int,
    people: dict[str, ActorRef],
    units: dict[str, int],
) -> None:
    workflow = catalog.get("resource")
    assert workflow is not None
    for row in demo_data()["resources"]:
        (name, kind, description, amount, unit, role, code, needed, provided) = row.values()
        data = {
            "name": name, "resource_kind": kind, "description": description, "amount": str(amount),
            "amount_unit": unit, "owner": people[role].id, "org_unit": units.get(code), "needed_by": needed,
        }  # fmt: skip
        record = create_record(
            session, workflow=workflow, org_id=org_id, actor=people["carbon_manager"], form_data=data
        )
        if provided:
            _fire(
                session,
                record,
                "provide_resource",
                people["carbon_manager"],
                {**data, "provided_on": provided},
            )


def _competences(
    session: Session, *, catalog: WorkflowCatalog, org_id: int, carbon: ActorRef, units: dict[str, int]
) -> dict[str, int]:
    workflow = catalog.get("competence_requirement")
    assert workflow is not None
    positions = {}
    for row in demo_data()["competences"]:
        (position, role, code, competence, training, qualification, months) = row.values()
        data = {
            "position": position, "system_role": role, "org_unit": units.get(code),
            "required_competence": competence, "required_training": training,
            "qualification": qualification or None, "review_months": str(months),
        }  # fmt: skip
        record = create_record(
            session, workflow=workflow, org_id=org_id, actor=carbon,
            form_data={key: value for key, value in data.items() if value is not None},
        )  # fmt: skip
        assert record.id is not None
        positions[position] = record.id
    return positions


def _trainings(
    session: Session,
    *,
    catalog: WorkflowCatalog,
    org_id: int,
    people: dict[str, ActorRef],
    positions: dict[str, int],
    dir: EvidenceStore,
) -> None:
    workflow = catalog.get("training")
    assert workflow is not None
    carbon = people["carbon_manager"]
    for row in demo_data()["trainings"]:
        (course, content, position, planned, trainer, roles, delivered, hours, expiry, evaluation) = (
            row.values()
        )
        record = create_record(
            session, workflow=workflow, org_id=org_id, actor=carbon,
            form_data={
                "course": course, "content": content, "competence_requirement": positions[position],
                "planned_date": planned, "trainer": trainer, "organizer": carbon.id,
            },
        )  # fmt: skip
        if delivered is None:
            continue
        sheet = _evidence(
            session, org_id=org_id, actor=carbon, evidence_store=dir, name=f"{record.number}-签到表.txt",
            text=f"培训签到表\n课程：{course}\n日期：{delivered}\n讲师：{trainer}",
        )  # fmt: skip
        delivery: dict[str, Any] = {
            "delivered_on": delivered, "hours": str(hours), "attendance": sheet,
            "trainees": [{"person": people[role].id, "score": "90"} for role in roles]
            + [{"person_name": "刘洋（生料车间）", "score": "85"}],
        }  # fmt: skip
        if expiry:
            delivery.update(certificate_no=f"ZS-{record.number}", certificate_expiry=expiry)
        _fire(session, record, "deliver_training", carbon, delivery)
        if evaluation:
            method, result = evaluation
            _fire(session, record, "evaluate_training", people["quality_manager"], {
                "evaluation_method": method, "evaluation_result": result, "evaluated_on": delivered,
                "evaluation_notes": "考核成绩均在 80 分以上；三个月后抽查工作记录。"
                if result == "effective" else "现场观察发现停窑检修后的煤耗记录不完整，安排补训。",
            })  # fmt: skip


def _campaign(
    session: Session,
    *,
    catalog: WorkflowCatalog,
    org_id: int,
    people: dict[str, ActorRef],
    evidence_store: EvidenceStore,
) -> None:
    workflow = catalog.get("awareness_campaign")
    assert workflow is not None
    carbon = people["carbon_manager"]
    materials = _evidence(
        session, org_id=org_id, actor=carbon, evidence_store=evidence_store, name="碳方针宣贯材料.txt",
        text="湘峰水泥碳方针（2026 版）：遵守法律法规与合规义务；节能降碳、持续改进；2060 年前实现碳中和。",
    )  # fmt: skip
    record = create_record(
        session, workflow=workflow, org_id=org_id, actor=carbon,
        form_data={
            "topic": POLICY_TOPIC,
            "content": "碳方针三项承诺：履行合规义务、持续改进碳绩效、实现碳中和；"
            "2026 年熟料单位产品排放强度目标。",
            "audience_roles": list(AUDIENCE),
            "campaign_date": "2026-11-20", "channel": "meeting", "materials": materials,
        },
    )  # fmt: skip
    _fire(session, record, "launch_campaign", carbon, {
        "ack_due": "2026-12-15",
        "acknowledgements": [{"person": people[role].id} for role in AUDIENCE],
    })  # fmt: skip
    for role in ("quality_manager", "process_owner", "top_management"):
        _fire(session, record, "acknowledge", people[role], {})


def _frozen_2025(session: Session, *, org_id: int, carbon: ActorRef) -> int | None:
    snapshot = latest_snapshot(session, org_id=org_id, year=2025)
    if snapshot is None:
        actor = Actor(carbon.id, carbon.name)
        try:
            snapshot = freeze_snapshot(
                session, org_id=org_id, year=2025, actor=actor
            )  # as the inventory page does
        except EmissionsDataError:
            snapshot = freeze_snapshot(session, org_id=org_id, year=2025, actor=actor, reason=FALLBACK_REASON)
    return snapshot.id


def _disclosures(
    session: Session,
    *,
    catalog: WorkflowCatalog,
    org_id: int,
    people: dict[str, ActorRef],
    evidence_store: EvidenceStore,
) -> None:
    workflow = catalog.get("disclosure")
    assert workflow is not None
    carbon = people["carbon_manager"]
    snapshot_id = _frozen_2025(session, org_id=org_id, carbon=carbon)
    if snapshot_id is None:
        return
    published = create_record(
        session, workflow=workflow, org_id=org_id, actor=carbon,
        form_data={
            "title": "湘峰水泥 2025 年度碳信息披露报告", "reporting_year": "2025",
            "snapshot_choice": str(snapshot_id),
            "objectives_summary": "以 2024 年为基准年，2030 年熟料单位产品排放强度下降目标；"
                "2025 年余热发电与替代燃料进展。",
            "audiences": ["public", "regulator", "customers"],
            "principles": ["completeness", "consistency", "accuracy", "transparency", "relevance"],
            "channel": "website", "planned_publication": "2026-12-10",
            "url": "https://www.xiangfeng-cement.example/csr/carbon-2025",
            "narrative": "本报告依据 GB/T 32150、GB/T 32151.8 核算，"
                "数据取自已冻结的 2025 年度盘查快照，经第三方核查。",
        },
    )  # fmt: skip
    _fire(session, published, "submit_disclosure", carbon, {})
    _fire(session, published, "review_disclosure", people["quality_manager"],
          {"review_notes": "披露数据与 2025 年度快照一致；目标进展表述与管理评审输出一致。"})  # fmt: skip
    _fire(session, published, "approve_disclosure", people["top_management"], {}, password_verified=True)
    _fire(session, published, "publish_disclosure", carbon, {})
    # Publishing opened an entry in the communication log: it keeps the evidence.
    logged = session.exec(
        select(Record).where(Record.workflow_key == "communication", Record.org_id == org_id)
    ).all()
    entry = next(r for r in logged if r.data.get("related_record") == published.id)
    proof = _evidence(
        session,
        org_id=org_id,
        actor=carbon,
        evidence_store=evidence_store,
        name="2025年度碳信息披露-网站截图.txt",
        text="公司网站“社会责任—碳信息披露”栏目发布页面存档",
    )
    _fire(session, entry, "complete_communication", carbon, {
        "actual_date": china_today().isoformat(), "evidence": proof,
        "outcome": "已在公司网站“社会责任—碳信息披露”栏目发布，页面存档见附件。",
    })  # fmt: skip
    create_record(
        session, workflow=workflow, org_id=org_id, actor=carbon,
        form_data={
            "title": "2026 年面向欧盟客户的产品碳排放数据说明（CBAM）", "reporting_year": "2025",
            "objectives_summary": "2026 年目标：熟料单位产品排放强度较 2024 年下降 2%。",
            "audiences": ["customers"], "principles": ["accuracy", "transparency"], "channel": "customer",
            "narrative": "按 Regulation (EU) 2023/956 过渡期要求说明熟料直接与间接隐含排放（草稿）。",
        },
    )  # fmt: skip

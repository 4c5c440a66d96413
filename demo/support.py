"""The demo plant's support processes (7.1–7.4) through the real engine: resources, competence
requirements, training records (one certificate expiring within 30 days of 2026-12-07), the carbon-policy
awareness campaign (partly acknowledged), the communication log, and the carbon disclosure of 2025 —
published from a frozen 2025 inventory snapshot — with a customer-facing draft beside it."""

from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from engine.audit import Actor
from engine.carbon_data.errors import EmissionsDataError
from engine.carbon_data.snapshots import freeze_snapshot, latest_snapshot
from engine.evidence.store import store_evidence
from engine.identity.models import OrgUnit
from engine.workflow.access import ActorRef
from engine.workflow.catalog import WorkflowCatalog
from engine.workflow.computed import china_today
from engine.workflow.lifecycle import create_record, fire_transition
from engine.workflow.models import Record

FALLBACK_REASON = "2025 年全国电网排放因子尚未发布，按最近公布年度的因子冻结，用于 2025 年度碳信息披露"

# (name, kind, description, amount, unit, owner role, unit code, needed by, provided on)
RESOURCES: tuple[tuple[Any, ...], ...] = (
    ("碳排放管理员（专职）2 名", "human", "安全环保部设专职碳排放管理员 2 名，负责数据收集、月度核对与配额履约。",
     2, "人", "carbon_manager", "HQ", "2026-03-31", "2026-03-15"),
    ("能源与碳排放在线监测系统（二期）", "information", "DCS 与电能表、皮带秤数据接入，按月生成活动数据；含服务器与软件许可。",
     86, "万元", "carbon_manager", "HQ", "2026-09-30", None),
    ("入窑煤皮带秤更换为 ±0.5% 级", "infrastructure", "按 GB 17167 要求更换入窑煤计量皮带秤，提升活动数据准确度。",
     18.5, "万元", "process_owner", "KILN1", "2026-06-30", "2026-06-20"),
    ("碳管理体系年度专项预算", "financial", "含第三方核查、培训、计量检定、信息披露费用。",
     120, "万元", "top_management", "HQ", "2026-01-31", "2026-01-20"),
    ("煤质工业分析与元素分析（低位发热量、含碳量）", "technical", "化验室按 GB/T 213、GB/T 476 每批次检测入厂煤，用于实测排放因子。",
     1, "套", "quality_manager", "HQ", "2026-02-28", "2026-02-25"),
    ("第三方碳排放核查服务", "external_service", "委托具备资质的核查机构开展 2025 年度排放报告核查（全国碳市场水泥行业首个履约年）。",
     12, "万元", "carbon_manager", "HQ", "2026-04-30", "2026-04-10"),
    ("余热发电系统技改（提高吨熟料发电量）", "infrastructure", "窑头/窑尾余热锅炉改造，目标吨熟料余热发电量提高 3 kWh。",
     650, "万元", "process_owner", "KILN1", "2027-06-30", None),
    ("碳排放核算与 CBAM 申报培训预算", "financial", "内审员、统计员与销售人员的碳核算、CBAM 默认值与实际排放申报培训。",
     8, "万元", "carbon_manager", "HQ", "2026-05-31", "2026-05-10"),
)  # fmt: skip

# (position, role, unit code, competence, training, qualification, review months)
COMPETENCES: tuple[tuple[Any, ...], ...] = (
    ("总经理（最高管理者）", "top_management", "GMO",
     "理解碳管理体系要求、国家碳排放权交易政策（《碳排放权交易管理暂行条例》2024）与企业配额履约责任；能主持管理评审。",
     "碳管理体系领导力培训（每年）", "", 12),
    ("碳排放管理员", "carbon_manager", "HQ",
     "掌握 GB/T 32150、GB/T 32151.8 水泥企业核算方法，能编制年度排放报告、数据质量控制计划，熟悉全国碳市场管理平台填报。",
     "温室气体核算与报告培训；全国碳市场履约培训", "碳排放管理员（国家职业技能等级证书）", 12),
    ("质量/体系负责人", "quality_manager", "HQ",
     "掌握碳管理体系标准条款、文件控制与不符合处理；能组织内部审核与管理评审。",
     "体系标准宣贯与内审员培训", "内审员证书", 24),
    ("内审员", "internal_auditor", "HQ",
     "能依据审核方案独立开展碳管理体系内部审核，理解 ISO 14064-1 人员能力要求与抽样方法。",
     "碳管理体系内审员培训（不少于 16 学时）", "内审员证书（有效期内）", 24),
    ("烧成车间主任（过程负责人）", "process_owner", "KILN1",
     "掌握熟料烧成工艺对煤耗、电耗及过程排放的影响，能执行运行准则并处理偏离。",
     "窑系统节能降碳运行培训", "", 12),
    ("统计员/计量员", "staff", "HQ",
     "能按数据收集计划抄表、录入活动数据并保存原始凭证，理解计量器具检定要求（GB 17167）。",
     "活动数据收集与计量管理培训", "计量员上岗证", 12),
)  # fmt: skip

# (course, content, competence position, planned, trainer, trainee roles, delivered, hours, expiry, evaluation)
TRAININGS: tuple[tuple[Any, ...], ...] = (
    ("全国碳市场水泥行业核算与报告培训", "GB/T 32151.8、生态环境部水泥行业核算指南、配额分配方案。", "碳排放管理员",
     "2026-03-18", "湖南省环境保护科学研究院", ("carbon_manager", "staff"), "2026-03-18", 16, "2026-12-28",
     ("exam", "effective")),
    ("碳管理体系内审员培训", "标准条款、审核方案、抽样与不符合判定。", "内审员",
     "2026-04-22", "中国质量认证中心湖南分中心", ("internal_auditor", "quality_manager"), "2026-04-23", 24, "2029-04-22",
     ("exam", "effective")),
    ("窑系统节能降碳运行培训", "煤耗、电耗与过程排放的关系；运行准则与偏离处理。", "烧成车间主任（过程负责人）",
     "2026-05-12", "公司技术中心", ("process_owner",), "2026-05-12", 8, None, ("observation", "partly_effective")),
    ("活动数据收集与计量管理培训", "抄表、原始凭证、计量器具检定与 GB 17167 配备要求。", "统计员/计量员",
     "2026-06-09", "设备动力部计量室", ("staff",), "2026-06-09", 4, None, ("practical", "effective")),
    ("欧盟 CBAM 申报与实际排放数据培训", "Regulation (EU) 2023/956、过渡期报告与默认值；客户数据请求答复。", "碳排放管理员",
     "2026-09-16", "外部咨询机构", ("carbon_manager", "top_management"), "2026-09-16", 6, None, None),
    ("碳管理体系领导力与管理评审培训", "最高管理者职责、碳方针与目标、管理评审输入输出。", "总经理（最高管理者）",
     "2027-01-15", "认证机构讲师", ("top_management",), None, None, None, None),
)  # fmt: skip

# (subject, direction, kind, party, channel, planned date, frequency, responsible role, details, done)
COMMUNICATIONS: tuple[tuple[Any, ...], ...] = (
    ("湖南省生态环境厅：2025 年度排放报告核查通知", "external", "received", "湖南省生态环境厅", "official_letter",
     "2026-03-31", "每年", "carbon_manager", "通知于 3 月 31 日前在全国碳市场管理平台提交 2025 年度排放报告及支撑材料，配合核查。",
     ("2026-03-28", "已按期提交排放报告与月度数据，核查组 4 月现场核查。")),
    ("客户（欧洲进口商）CBAM 产品隐含排放数据请求", "external", "received", "德国某水泥进口商", "email",
     "2026-07-15", "每季度", "carbon_manager", "请求提供出口熟料的直接与间接隐含排放（tCO2e/t）及核算方法说明。",
     ("2026-07-10", "按 2025 年度冻结快照提供熟料单位产品排放及方法说明。")),
    ("供应商低碳问卷（煤炭、电力供应商）", "external", "sent", "主要原煤与电力供应商", "questionnaire",
     "2026-08-31", "每年", "quality_manager", "发放低碳供应商调查问卷：煤质、运输方式、绿电比例。",
     ("2026-08-28", "收回 6 份问卷，2 家供应商提供了绿电证明。")),
    ("月度碳排放简报（内部）", "internal", "planned", "各部门负责人与班组", "bulletin",
     "2026-12-10", "每月", "carbon_manager", "每月 10 日前发布上月熟料产量、煤耗、电耗与排放强度简报。", None),
    ("碳方针与 2026 年目标全员宣贯", "internal", "planned", "全体员工", "meeting",
     "2026-02-20", "每年", "quality_manager", "结合安全例会宣贯碳方针与年度目标，并组织阅读确认。",
     ("2026-02-20", "宣贯会已召开，阅读确认见意识宣贯记录。")),
    ("娄底市发改委：重点用能单位能源利用状况报告", "external", "planned", "娄底市发展和改革委员会", "platform",
     "2027-03-31", "每年", "carbon_manager", "按《重点用能单位节能管理办法》报送年度能源利用状况报告。", None),
    ("社区开放日：低碳生产与粉尘治理说明", "external", "planned", "周边村镇居民代表", "meeting",
     "2027-04-22", "每年", "top_management", "世界地球日开放日，介绍余热发电与碳减排进展。", None),
    ("银行绿色信贷碳信息问询", "external", "received", "某国有银行湖南省分行", "email",
     "2026-11-30", "一次", "carbon_manager", "为技改项目绿色贷款评估，问询 2025 年度排放总量与强度及减排目标。", None),
)  # fmt: skip

POLICY_TOPIC = "碳方针宣贯：湘峰水泥碳方针（2026 版）"


def _evidence(
    session: Session, *, org_id: int, actor: ActorRef, evidence_dir: Path, name: str, text: str
) -> int:
    evidence = store_evidence(
        session,
        org_id=org_id,
        actor=Actor(actor.id, actor.name),
        evidence_dir=evidence_dir,
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
    evidence_dir: Path,
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
    _trainings(session, catalog=catalog, org_id=org_id, people=people, positions=positions, dir=evidence_dir)
    _campaign(session, catalog=catalog, org_id=org_id, people=people, evidence_dir=evidence_dir)
    workflow = catalog.get("communication")
    assert workflow is not None
    for subject, direction, kind, party, channel, day, frequency, role, details, done in COMMUNICATIONS:
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
                session, org_id=org_id, actor=carbon, evidence_dir=evidence_dir,
                name=f"{record.number}.txt", text=f"{subject}\n{done[1]}",
            )  # fmt: skip
            _fire(session, record, "complete_communication", people[role],
                  {"actual_date": done[0], "outcome": done[1], "evidence": proof})  # fmt: skip
    _disclosures(session, catalog=catalog, org_id=org_id, people=people, evidence_dir=evidence_dir)


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
    for name, kind, description, amount, unit, role, code, needed, provided in RESOURCES:
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
    for position, role, code, competence, training, qualification, months in COMPETENCES:
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
    dir: Path,
) -> None:
    workflow = catalog.get("training")
    assert workflow is not None
    carbon = people["carbon_manager"]
    for course, content, position, planned, trainer, roles, delivered, hours, expiry, evaluation in TRAININGS:
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
            session, org_id=org_id, actor=carbon, evidence_dir=dir, name=f"{record.number}-签到表.txt",
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
    evidence_dir: Path,
) -> None:
    workflow = catalog.get("awareness_campaign")
    assert workflow is not None
    carbon = people["carbon_manager"]
    materials = _evidence(
        session, org_id=org_id, actor=carbon, evidence_dir=evidence_dir, name="碳方针宣贯材料.txt",
        text="湘峰水泥碳方针（2026 版）：遵守法律法规与合规义务；节能降碳、持续改进；2060 年前实现碳中和。",
    )  # fmt: skip
    record = create_record(
        session, workflow=workflow, org_id=org_id, actor=carbon,
        form_data={
            "topic": POLICY_TOPIC,
            "content": "碳方针三项承诺：履行合规义务、持续改进碳绩效、实现碳中和；2026 年熟料单位产品排放强度目标。",
            "audience_roles": ["top_management", "quality_manager", "internal_auditor", "process_owner", "staff"],
            "campaign_date": "2026-11-20", "channel": "meeting", "materials": materials,
        },
    )  # fmt: skip
    audience = ("top_management", "quality_manager", "internal_auditor", "process_owner", "staff")
    _fire(session, record, "launch_campaign", carbon, {
        "ack_due": "2026-12-15",
        "acknowledgements": [{"person": people[role].id} for role in audience],
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
    evidence_dir: Path,
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
            "objectives_summary": "以 2024 年为基准年，2030 年熟料单位产品排放强度下降目标；2025 年余热发电与替代燃料进展。",
            "audiences": ["public", "regulator", "customers"],
            "principles": ["completeness", "consistency", "accuracy", "transparency", "relevance"],
            "narrative": "本报告依据 GB/T 32150、GB/T 32151.8 核算，数据取自已冻结的 2025 年度盘查快照，经第三方核查。",
        },
    )  # fmt: skip
    _fire(session, published, "submit_disclosure", carbon, {})
    _fire(session, published, "review_disclosure", people["quality_manager"],
          {"review_notes": "披露数据与 2025 年度快照一致；目标进展表述与管理评审输出一致。"})  # fmt: skip
    _fire(session, published, "approve_disclosure", people["top_management"], {}, password_verified=True)
    proof = _evidence(
        session, org_id=org_id, actor=carbon, evidence_dir=evidence_dir, name="2025年度碳信息披露-网站截图.txt",
        text="公司网站“社会责任—碳信息披露”栏目发布页面存档",
    )  # fmt: skip
    _fire(session, published, "publish_disclosure", carbon, {
        "channel": "website", "published_on": china_today().isoformat(),
        "url": "https://www.xiangfeng-cement.example/csr/carbon-2025", "publication_evidence": proof,
    })  # fmt: skip
    create_record(
        session, workflow=workflow, org_id=org_id, actor=carbon,
        form_data={
            "title": "2026 年面向欧盟客户的产品碳排放数据说明（CBAM）", "reporting_year": "2025",
            "objectives_summary": "2026 年目标：熟料单位产品排放强度较 2024 年下降 2%。",
            "audiences": ["customers"], "principles": ["accuracy", "transparency"],
            "narrative": "按 Regulation (EU) 2023/956 过渡期要求说明熟料直接与间接隐含排放（草稿）。",
        },
    )  # fmt: skip

"""The demo enterprise: a cement plant in Hunan with its departments, facilities, products and one
user per role. Seeding twice changes nothing."""

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, select

from demo.carbon_review import seed_demo_carbon_review
from demo.compliance_evaluation import seed_demo_compliance_evaluation
from demo.context import seed_demo_context
from demo.documents import seed_demo_documents
from demo.dqcp import seed_demo_dqcp
from demo.emissions import seed_demo_emissions
from demo.instruments import seed_demo_instruments
from demo.internal_audit import seed_demo_internal_audit
from demo.management_review import seed_demo_management_review
from demo.operation import seed_demo_operation
from demo.performance import seed_demo_parameters
from demo.planning import seed_demo_planning
from demo.support import seed_demo_support
from demo.verification import seed_demo_verification
from engine.audit import SYSTEM, Actor
from engine.identity.models import Organization, OrganizationCreate, OrgUnit, OrgUnitKind, Role
from engine.identity.organizations import (
    add_org_unit,
    add_product,
    create_organization,
    get_organization_by_slug,
)
from engine.identity.users import create_user, get_user_by_email, grant_membership
from engine.storage import EvidenceStore
from engine.workflow.access import ActorRef
from engine.workflow.catalog import WorkflowCatalog
from engine.workflow.lifecycle import PROCESS_CONTEXT, ProcessContext
from engine.workflow.models import Record

DEMO_PASSWORD = "Xiangfeng#2026"
DEMO_SLUG = "xiangfeng-cement"
DEMO_SISTER_SLUG = "xiangfeng-aggregates"


@dataclass(frozen=True)
class DemoLogin:
    email: str
    name: str
    role: Role
    title_zh: str


DEMO_LOGINS = (
    DemoLogin("admin@xiangfeng.example", "王磊", Role.admin, "系统管理员"),
    DemoLogin("carbon@xiangfeng.example", "李娜", Role.carbon_manager, "碳管理专员（安全环保部）"),
    DemoLogin("quality@xiangfeng.example", "张伟", Role.quality_manager, "质量部经理"),
    DemoLogin("gm@xiangfeng.example", "刘建国", Role.top_management, "总经理"),
    DemoLogin("auditor@xiangfeng.example", "陈静", Role.internal_auditor, "内审员"),
    DemoLogin("kiln@xiangfeng.example", "周强", Role.process_owner, "烧成车间主任"),
    DemoLogin("staff@xiangfeng.example", "赵敏", Role.staff, "统计员"),
    DemoLogin("verifier@cert.example", "孙立", Role.external_auditor, "认证机构审核员"),
)

# (code, kind, parent code, name, English name)
ORG_UNITS = (
    ("XF-GROUP", OrgUnitKind.group, None, "湘峰建材集团", "Xiangfeng Building Materials Group"),
    ("HQ", OrgUnitKind.legal_entity, "XF-GROUP", "湖南湘峰水泥有限公司", "Hunan Xiangfeng Cement Co., Ltd."),
    ("GMO", OrgUnitKind.department, "HQ", "总经理办公室", "General Manager's Office"),
    (
        "SHE",
        OrgUnitKind.department,
        "HQ",
        "安全环保部（碳管理办公室）",
        "Safety & Environment (Carbon Office)",
    ),
    ("PROD", OrgUnitKind.department, "HQ", "生产技术部", "Production & Technology"),
    ("QC", OrgUnitKind.department, "HQ", "质量控制部", "Quality Control"),
    ("ENG", OrgUnitKind.department, "HQ", "设备动力部", "Equipment & Power"),
    ("PUR", OrgUnitKind.department, "HQ", "供应部", "Procurement"),
    ("PLANT", OrgUnitKind.site, "HQ", "湘潭生产厂区", "Xiangtan plant site"),
    ("QUARRY", OrgUnitKind.site, "HQ", "石灰石矿山", "Limestone quarry"),
    (
        "KILN1",
        OrgUnitKind.production_line,
        "PLANT",
        "5000 t/d 熟料生产线（1# 回转窑）",
        "5,000 t/d clinker line (kiln 1)",
    ),
    ("RAWMILL", OrgUnitKind.process, "KILN1", "生料磨", "Raw mill"),
    ("COALMILL", OrgUnitKind.process, "KILN1", "煤磨", "Coal mill"),
    ("CEMMILL", OrgUnitKind.production_line, "PLANT", "水泥粉磨站", "Cement grinding"),
    ("PACK", OrgUnitKind.process, "CEMMILL", "包装及发运", "Packing and dispatch"),
    ("WHR", OrgUnitKind.facility, "PLANT", "9 MW 纯低温余热电站", "9 MW waste-heat power plant"),
)

PRODUCTS = (
    ("CLK", "熟料", "Clinker", "t"),
    ("PO425", "P·O 42.5 普通硅酸盐水泥", "Ordinary Portland cement P·O 42.5", "t"),
    ("PC325R", "P·C 32.5R 复合硅酸盐水泥", "Composite Portland cement P·C 32.5R", "t"),
)


DEMO_NONCONFORMITIES = (
    # (title, source, description, clause, how far it has got)
    (
        "窑尾烟气在线监测数据缺失 2 小时",
        "monitoring",
        "3 月 5 日 02:00–04:00 CEMS 数据缺失，影响排放核算数据完整性。",
        "8.6",
        "closed",
    ),
    (
        "电表 E-KILN-03 超期未检定",
        "internal_audit",
        "内审发现 1# 窑主电机电能表检定证书已于 2 月到期。",
        "9.1",
        "effectiveness_review",
    ),
    (
        "煤磨入磨煤量统计口径不一致",
        "internal_audit",
        "生产报表与能源统计报表的入磨煤量相差 3.2%。",
        "8.6",
        "implementing",
    ),
    (
        "供应商低碳评价记录不全",
        "external_audit",
        "认证审核发现 2 家煤炭供应商缺少低碳评价记录。",
        "8.3",
        "assessed",
    ),
    ("余热电站发电量日报漏报", "monitoring", "11 月 3 日余热发电量未录入。", "8.6", "reported"),
    ("重复报告：包装车间照明", "other", "与上月已关闭事项重复。", "8.4", "rejected"),
)


def seed_demo_records(session: Session, *, catalog: WorkflowCatalog, org_id: int) -> None:
    """Nonconformities in several states, moved through the real engine (audited, signed)."""
    from engine.workflow.lifecycle import create_record, fire_transition

    people = demo_people(session)
    workflow = catalog.get("nonconformity")
    assert workflow is not None
    steps: list[tuple[str, str, dict[str, Any]]] = [
        (
            "assess",
            "quality_manager",
            {"severity": "major", "containment": "人工取样补测，通知化验室加密分析"},
        ),
        ("analyse", "quality_manager", {"method": "five_why", "cause": "采样探头积灰，未纳入周度点检"}),
        (
            "plan",
            "process_owner",
            {
                "actions": [
                    {
                        "description": "将探头清灰纳入周度点检表",
                        "owner": people["process_owner"].id,
                        "due": "2026-04-30",
                        "status": "open",
                    }
                ]
            },
        ),
        ("start", "process_owner", {}),
        (
            "complete",
            "process_owner",
            {
                "actions": [
                    {
                        "description": "将探头清灰纳入周度点检表",
                        "owner": people["process_owner"].id,
                        "due": "2026-04-30",
                        "status": "done",
                    }
                ]
            },
        ),
        (
            "verify_effective",
            "internal_auditor",
            {
                "criteria": "连续 30 天数据完整率 100%",
                "evidence": "CEMS 平台 4 月导出记录",
                "result": "effective",
            },
        ),
    ]
    reached = {"reported": 0, "assessed": 1, "implementing": 4, "effectiveness_review": 5, "closed": 6}
    for title, source, description, clause, target in DEMO_NONCONFORMITIES:
        record = create_record(
            session,
            workflow=workflow,
            org_id=org_id,
            actor=people["staff"],
            form_data={
                "title": title,
                "source": source,
                "description": description,
                "found_on": "2026-03-05",
                "clause": clause,
            },
        )
        assert record.id is not None
        version = record.version
        if target == "rejected":
            fire_transition(
                session,
                record_id=record.id,
                trigger="reject",
                actor=people["quality_manager"],
                form_data={},
                expected_version=version,
                comment="与 NC 重复，合并处理",
            )
            continue
        for trigger, role, data in steps[: reached[target]]:
            result = fire_transition(
                session,
                record_id=record.id,
                trigger=trigger,
                actor=people[role],
                form_data=data,
                expected_version=version,
                password_verified=True,  # seeding signs on the demo users' behalf
            )
            version = result.version


def demo_people(session: Session) -> dict[str, ActorRef]:
    """The demo users by role, as the workflows' actors."""
    people: dict[str, ActorRef] = {}
    for login in DEMO_LOGINS:
        user = get_user_by_email(session, email=login.email)
        assert user is not None and user.id is not None
        people[login.role.value] = ActorRef(id=user.id, name=login.name, roles=frozenset({login.role.value}))
    return people


def seed_demo_batches(
    session: Session, *, catalog: WorkflowCatalog, org_id: int, years: tuple[int, ...] = (2024, 2025)
) -> None:
    """One carbon-data batch per demo month, collected, verified and reported by three different people."""
    from engine.workflow.lifecycle import create_record, fire_transition

    people = demo_people(session)
    workflow = catalog.get("carbon_data_batch")
    assert workflow is not None
    for year in years:
        for month in range(1, 13):
            period = f"{year}-{month:02d}"
            record = create_record(
                session,
                workflow=workflow,
                org_id=org_id,
                actor=people["staff"],
                form_data={
                    "title": f"{period} 能源与物料消耗数据",
                    "period": period,
                    "collection_note": "月末抄表，DCS 与统计台账核对",
                },
            )
            assert record.id is not None
            steps: list[tuple[str, str, dict[str, Any]]] = [
                (
                    "verify",
                    "carbon_manager",
                    {"checks": ["completeness", "meter_calibration"], "result": "passed"},
                ),
                ("report", "top_management", {}),
            ]
            version = record.version
            for trigger, role, data in steps:
                version = fire_transition(
                    session,
                    record_id=record.id,
                    trigger=trigger,
                    actor=people[role],
                    form_data=data,
                    expected_version=version,
                    password_verified=True,  # seeding signs on the demo users' behalf
                ).version


def seed_demo(
    session: Session,
    *,
    catalog: WorkflowCatalog | None = None,
    secret_key: str = "",
    evidence_store: EvidenceStore | None = None,
) -> Organization:
    """Create the demo enterprise and its users, unless they already exist. With ``evidence_store`` (where its
    certificates and proof files go), its metering instruments and its data-quality control plan too."""
    org = get_organization_by_slug(session, slug=DEMO_SLUG)
    if org is None:
        org = create_organization(
            session,
            data=OrganizationCreate(
                slug=DEMO_SLUG,
                name="湖南湘峰水泥有限公司",
                name_en="Hunan Xiangfeng Cement Co., Ltd.",
                region="湖南",
                industry="C3011 水泥制造",
            ),
            actor=SYSTEM,
        )
        assert org.id is not None
        units: dict[str | None, OrgUnit] = {}
        for code, kind, parent_code, name, name_en in ORG_UNITS:
            units[code] = add_org_unit(
                session,
                org_id=org.id,
                kind=kind,
                code=code,
                name=name,
                name_en=name_en,
                parent=units.get(parent_code),
                actor=SYSTEM,
            )
        for code, name, name_en, unit in PRODUCTS:
            add_product(
                session, org_id=org.id, code=code, name=name, name_en=name_en, unit=unit, actor=SYSTEM
            )
    sister = get_organization_by_slug(session, slug=DEMO_SISTER_SLUG)
    if sister is None:
        sister = create_organization(
            session,
            data=OrganizationCreate(
                slug=DEMO_SISTER_SLUG,
                name="湖南湘峰骨料有限公司",
                name_en="Hunan Xiangfeng Aggregates Co., Ltd.",
                region="湖南",
                industry="B1019 粘土及其他土砂石开采",
            ),
            actor=SYSTEM,
        )
        assert sister.id is not None
        add_org_unit(
            session,
            org_id=sister.id,
            kind=OrgUnitKind.enterprise,
            code="HQ",
            name="湖南湘峰骨料有限公司",
            name_en="Hunan Xiangfeng Aggregates Co., Ltd.",
            actor=SYSTEM,
        )
    assert org.id is not None and sister.id is not None
    for login in DEMO_LOGINS:
        user = get_user_by_email(session, email=login.email)
        if user is None:
            user = create_user(session, email=login.email, display_name=login.name, password=DEMO_PASSWORD)
        grant_membership(session, org_id=org.id, user=user, roles=[login.role], actor=SYSTEM)
    # The admin and the carbon manager also serve the sister company: the organization switcher shows it.
    for login in DEMO_LOGINS[:2]:
        user = get_user_by_email(session, email=login.email)
        assert user is not None
        grant_membership(session, org_id=sister.id, user=user, roles=[login.role], actor=SYSTEM)
    # The data first, then its monthly batches: collected → verified → reported (8.6).
    seed_demo_emissions(session, org_id=org.id, actor=SYSTEM)  # skips itself when sources exist
    if catalog is not None and not session.exec(select(Record.id).where(Record.org_id == org.id)).first():
        catalog.register(session)
        session.info[PROCESS_CONTEXT] = ProcessContext(catalog, secret_key)
        seed_demo_records(session, catalog=catalog, org_id=org.id)
        seed_demo_batches(session, catalog=catalog, org_id=org.id)
    carbon_manager = get_user_by_email(session, email=DEMO_LOGINS[1].email)
    assert carbon_manager is not None and carbon_manager.id is not None
    if catalog is not None and evidence_store is not None:
        catalog.register(session)
        session.info[PROCESS_CONTEXT] = ProcessContext(catalog, secret_key)
        kiln = get_user_by_email(session, email=DEMO_LOGINS[5].email)
        assert kiln is not None and kiln.id is not None
        carbon = ActorRef(
            id=carbon_manager.id, name=carbon_manager.display_name, roles=frozenset({"carbon_manager"})
        )
        seed_demo_instruments(
            session,
            catalog=catalog,
            org_id=org.id,
            carbon=carbon,
            owner_id=kiln.id,
            evidence_store=evidence_store,
        )
        # The plan's rows name the instruments above.
        seed_demo_dqcp(
            session,
            catalog=catalog,
            org_id=org.id,
            people=demo_people(session),
            evidence_store=evidence_store,
        )
        seed_demo_operation(
            session,
            catalog=catalog,
            org_id=org.id,
            people=demo_people(session),
            evidence_store=evidence_store,
        )
        seed_demo_planning(session, catalog=catalog, org_id=org.id, people=demo_people(session))
        seed_demo_context(session, catalog=catalog, org_id=org.id, people=demo_people(session))
        seed_demo_documents(session, catalog=catalog, org_id=org.id, people=demo_people(session))  # after 5.2
        seed_demo_compliance_evaluation(session, catalog=catalog, org_id=org.id, people=demo_people(session))
        # 7.1–7.4 support; the 2025 disclosure freezes the 2025 inventory (unless it is frozen already).
        seed_demo_support(
            session,
            catalog=catalog,
            org_id=org.id,
            people=demo_people(session),
            evidence_store=evidence_store,
        )
        seed_demo_internal_audit(session, catalog=catalog, org_id=org.id, people=demo_people(session))
    seed_demo_parameters(session, org_id=org.id, actor=SYSTEM, owner_id=carbon_manager.id)
    if catalog is not None and evidence_store is not None:  # 6.2.3 reads the instruments and the parameters
        seed_demo_carbon_review(session, catalog=catalog, org_id=org.id, people=demo_people(session))
        # 9.4 last: its inputs are compiled from everything above, the performance parameters included.
        seed_demo_management_review(session, catalog=catalog, org_id=org.id, people=demo_people(session))
    admin = get_user_by_email(session, email=DEMO_LOGINS[0].email)
    assert admin is not None
    seed_demo_verification(
        session,
        org_id=org.id,
        admin=Actor(admin.id, admin.display_name, frozenset({"admin"})),
        password=DEMO_PASSWORD,
    )
    return org

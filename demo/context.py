"""The demo plant's context of the organization and its compliance obligations (4.1, 4.2, 4.3, 5.2, 6.2.2),
each record made through the real engine: the issues and interested parties a Hunan clinker plant has, the
obligations it keeps (the 2024 ETS regulations, the 2025 extension of the national ETS to cement, the
accounting standards, energy limits, its discharge permit, EU CBAM, Hunan's peaking plan), some
requirements adopted as obligations, the scope statement in force (and the version it superseded) and the
carbon policy in force."""

from datetime import date
from typing import Any

from sqlmodel import Session, select

from engine.identity.models import OrgUnit
from engine.tenancy import ALL_ORGS, ORG_ID, bind_session_scope
from engine.workflow.access import ActorRef
from engine.workflow.catalog import WorkflowCatalog
from engine.workflow.lifecycle import create_record, fire_transition
from engine.workflow.models import Record
from workflows.hooks.applicability import WORKFLOW as APPLICABILITY
from workflows.hooks.applicability import start_draft

OBLIGATIONS = "compliance_obligation"

# (title, source, issuing body, number, clauses, requirement, frequency, edition, effective date)
OBLIGATION_ROWS: tuple[tuple[str, ...], ...] = (
    ("碳排放权交易管理暂行条例", "regulation", "国务院", "国务院令第775号", "第十一条至第十六条",
     "重点排放单位应当编制年度温室气体排放报告并于每年3月31日前报送；对数据真实性、完整性、准确性负责；"
     "按规定保存原始记录和管理台账不少于5年；在规定时限内足额清缴碳排放配额。",
     "quarterly", "2024年", "2024-05-01"),
    ("碳排放权交易管理办法（试行）", "regulation", "生态环境部", "生态环境部令第19号",
     "第二十五条至第二十九条",
     "重点排放单位应控制温室气体排放，报告碳排放数据，清缴碳排放配额，公开交易及相关活动信息。",
     "yearly", "2021年试行", "2021-02-01"),
    ("全国碳排放权交易市场覆盖钢铁、水泥、铝冶炼行业工作方案", "regulation", "生态环境部", "",
     "二、覆盖范围；三、配额分配",
     "水泥熟料生产企业纳入全国碳市场：2024年度起报告排放，2025年度起分配配额并清缴，"
     "以熟料产量为基础按强度法免费分配。", "yearly", "2025年", "2025-03-26"),
    ("企业温室气体排放核算与报告指南 水泥熟料生产", "regulation", "生态环境部办公厅", "", "全文",
     "按指南核算熟料生产的化石燃料燃烧、碳酸盐分解及净购入电力排放；制定并执行数据质量控制计划；"
     "按月存证燃料消耗、熟料产量和元素碳含量检测报告。", "monthly", "2025年", "2025-01-01"),
    ("工业企业温室气体排放核算和报告通则", "standard", "国家质量监督检验检疫总局、国家标准化管理委员会",
     "GB/T 32150-2015", "第5章 核算边界、第6章 核算步骤与方法",
     "按通则确定核算边界、识别排放源、选择核算方法、"
     "收集活动数据和排放因子并编制排放报告。", "yearly", "2015", "2016-06-01"),
    ("温室气体排放核算与报告要求 第8部分：水泥生产企业", "standard",
     "国家质量监督检验检疫总局、国家标准化管理委员会", "GB/T 32151.8-2015", "第5章至第8章",
     "水泥生产企业核算燃料燃烧、原料碳酸盐分解、非燃料碳、外购电力热力排放的方法与数据质量要求。",
     "yearly", "2015", "2016-06-01"),
    ("水泥单位产品能源消耗限额", "standard", "国家市场监督管理总局、国家标准化管理委员会", "GB 16780-2021",
     "第4章 技术要求",
     "熟料单位产品综合能耗不得超过限定值（3级），新建生产线须达到准入值；按标准统计范围和方法计算。",
     "half_yearly", "2021", "2022-11-01"),
    ("用能单位能源计量器具配备和管理通则", "standard", "国家质量监督检验检疫总局、国家标准化管理委员会",
     "GB 17167-2006", "第4章 配备要求、第5章 管理要求",
     "进出用能单位和主要次级用能单位的能源计量器具配备率和准确度"
     "等级符合表1至表3；建立计量器具档案并按周期检定校准。", "half_yearly", "2006", "2007-07-01"),
    ("排污许可证", "permit", "娄底市生态环境局", "91431300MA4L1XF20K001P", "许可排放限值、自行监测、执行报告",
     "按证排污；水泥窑颗粒物、二氧化硫、氮氧化物达标排放；按季度和年度提交排污许可执行报告；"
     "自行监测数据联网。", "quarterly", "2023年延续", "2023-08-15"),
    ("欧盟碳边境调节机制条例（CBAM）", "regulation", "欧洲议会和欧盟理事会", "Regulation (EU) 2023/956",
     "第7条 内含排放计算、附件四",
     "出口至欧盟的水泥熟料和水泥须由欧盟进口商申报内含排放；企业须向进口商提供按"
     "欧盟方法核算的直接和间接内含排放数据。", "half_yearly", "2023年", "2023-05-17"),
    ("湖南省碳达峰实施方案", "other", "湖南省人民政府", "湘政发〔2022〕19号", "建材行业碳达峰行动",
     "严格执行水泥熟料产能置换，推广替代燃料和余热利用，推动建材行业碳排放强度持续下降。",
     "yearly", "2022年", "2022-10-28"),
    ("中华人民共和国节约能源法", "law", "全国人民代表大会常务委员会", "主席令第16号（2018年修正）",
     "第五十二条至第五十五条",
     "重点用能单位设立能源管理岗位、报送能源利用状况报告、执行单位产品能耗限额标准。",
     "yearly", "2018年修正", "2018-10-26"),
)  # fmt: skip

# (title, category, direction, effect kind, description, effect, response, review date, linked obligation)
ISSUES: tuple[tuple[Any, ...], ...] = (
    ("全国碳市场扩围纳入水泥行业", "policy_change", "external", "risk",
     "生态环境部2025年将水泥、钢铁、铝冶炼纳入全国碳排放权交易市场，熟料生产线按强度法分配配额。",
     "须按年清缴配额，配额缺口将直接形成成本；排放数据质量要求显著提高。",
     "建立数据质量控制计划和三级审核；每季度测算配额盈缺。", "2027-03-31", 3),
    ("欧盟碳边境调节机制（CBAM）进入正式期", "green_trade", "external", "risk",
     "CBAM 自2026年起进入正式征收期，水泥熟料和水泥属覆盖产品。",
     "出口贸易商要求提供产品内含排放数据，数据缺失将按默认值计算导致成本上升。",
     "按欧盟方法核算熟料和水泥的内含排放，半年向贸易商提供。", "2027-01-15", 10),
    ("下游商混企业低碳水泥采购要求", "supply_chain", "external", "both",
     "主要客户在招标中要求提供产品碳足迹声明，并对单位产品排放设置评分项。",
     "低碳产品可获得订单溢价；无法提供碳足迹将失去部分投标资格。",
     "开展 P·O 42.5 产品碳足迹核算（GB/T 24067）。", "2027-06-30", None),
    ("配额盈缺管理与CCER抵销", "carbon_asset", "external", "opportunity",
     "配额可交易，允许使用一定比例的国家核证自愿减排量（CCER）抵销。",
     "余热发电和替代燃料减排可降低配额缺口；交易时机影响履约成本。",
     "每季度编制配额盈缺预测，经总经理批准后制定交易策略。", "2027-03-31", 1),
    ("集团ESG报告碳信息披露", "disclosure", "external", "risk",
     "控股集团每年发布ESG报告，要求各成员企业报送经核查的排放数据和减排进展。",
     "披露数据须与核查报告一致，差异将影响集团评级。", "披露前由碳管理办公室和质量部双人复核。",
     "2027-04-30", None),
    ("湖南省碳排放双控与能耗监察", "local_trading", "external", "risk",
     "湖南省推进能耗双控向碳排放双控转变，对重点用能单位开展节能监察。",
     "熟料综合能耗须稳定低于 GB 16780 限定值，超限将被责令整改。", "月度跟踪熟料综合能耗。", "2027-02-28", 7),
    ("替代燃料与低碳熟料技术", "technology_change", "external", "opportunity",
     "生物质、废轮胎等替代燃料和低钙熟料技术逐步成熟。",
     "可降低燃料燃烧排放和原料分解排放，须评估对熟料质量和排污许可的影响。",
     "2027年开展替代燃料试烧可行性研究。", "2027-09-30", None),
    ("煤价和电价波动、绿电交易", "energy_structure", "external", "both",
     "动力煤价格波动大；湖南电力市场开放绿电交易。", "影响能源成本和外购电力间接排放。",
     "评估绿电采购比例和余热发电提效。", "2027-06-30", None),
    ("汛期暴雨和持续高温", "climate_impact", "external", "risk",
     "湘中地区汛期暴雨影响矿山开采和原燃料运输，夏季高温影响窑系统运行。",
     "停窑重启增加单位产品能耗和排放。", "汛期前检查矿山排水和原燃料储备。", "2027-05-15", None),
    ("碳数据管理能力不足", "internal_capability", "internal", "risk",
     "碳管理人员少，部分活动数据仍靠手工台账，检测能力依赖外委。",
     "数据差错可能导致排放报告失实和核查不符合。", "开展内审员和数据员培训，推进计量数据自动采集。",
     "2026-12-01", 4),
)  # fmt: skip

# (party type, party, summary, need category, requirement, how identified, adoption, obligation)
# adoption: ("adopt", existing obligation index or None, source, frequency) / ("decline", reason) / None
REQUIREMENTS: tuple[tuple[Any, ...], ...] = (
    ("regulator", "娄底市生态环境局", "按时报送年度排放报告并足额清缴配额", "policy_compliance",
     "每年3月31日前在全国碳市场管理平台报送上年度排放报告，配合核查，按期清缴配额。", "来文、年度工作会议",
     ("adopt", 1, "regulation", "quarterly")),
    ("regulator", "湖南省生态环境厅", "按月存证燃料和产量数据", "policy_compliance",
     "按数据质量控制计划每月上传燃料消耗、熟料产量及检测报告等存证材料。", "省厅通知",
     ("adopt", 4, "regulation", "monthly")),
    ("investor", "湘峰建材集团（控股股东）", "2030年前实现碳达峰并逐年下降排放强度", "reduction_target",
     "集团要求成员企业熟料单位产品排放强度较2020年下降8%以上，并在ESG报告中披露。", "集团年度目标责任书",
     ("adopt", None, "voluntary", "yearly")),
    ("customer", "中建五局商品混凝土有限公司", "提供 P·O 42.5 水泥产品碳足迹声明", "product_footprint",
     "投标文件须附经第三方核查的产品碳足迹声明（GB/T 24067），有效期一年。", "招标文件",
     ("adopt", None, "customer", "yearly")),
    ("customer", "湘南进出口贸易有限公司", "提供出口熟料的内含排放数据", "policy_compliance",
     "按欧盟CBAM方法每半年提供直接和间接内含排放数据及核算说明。", "贸易合同附件",
     ("adopt", 10, "regulation", "half_yearly")),
    ("supplier", "湘中煤业有限公司", "签订年度长协并提供煤质化验报告", "low_carbon_procurement",
     "供应商希望签订年度长协；可随批次提供低位发热量和元素碳含量化验报告。", "供应商座谈会",
     ("decline", "属商务安排，煤质化验要求已在采购合同和数据质量控制计划中规定，不另列合规义务。")),
    ("community", "涟源市周边村民委员会", "控制运输扬尘和噪声", "health_environment",
     "原燃料运输车辆扬尘、夜间噪声影响周边村庄。", "信访、社区座谈",
     ("decline", "属环境管理体系和排污许可管理范围，已在排污许可证义务中覆盖。")),
    ("employee", "公司工会", "开展碳管理培训并纳入绩效", "reduction_target",
     "员工希望了解碳市场对岗位的影响，节能降碳成效纳入班组绩效考核。", "职代会提案", None),
    ("finance", "中国工商银行娄底分行", "披露项目减排量以申请碳减排支持工具", "green_finance",
     "余热发电提效改造贷款申请碳减排支持工具，须披露项目年减排量及测算方法。", "信贷沟通", None),
    ("verifier", "湖南省环境保护科学研究院（核查机构）", "提供完整的原始凭证和检测报告", "disclosure",
     "核查时提供燃料购销凭证、计量器具检定证书、元素碳含量检测报告原件。", "核查通知", None),
)  # fmt: skip


def _fire(
    session: Session, record: Record, trigger: str, actor: ActorRef, data: dict[str, Any], **kw: Any
) -> None:
    assert record.id is not None
    session.refresh(record)
    fire_transition(
        session, record_id=record.id, trigger=trigger, actor=actor, form_data=data,
        expected_version=record.version, **kw,
    )  # fmt: skip


def _obligations(
    session: Session, catalog: WorkflowCatalog, org_id: int, people: dict[str, ActorRef]
) -> list[Record]:
    workflow = catalog.get(OBLIGATIONS)
    assert workflow is not None
    records = []
    for title, source, body, number, clauses, text, frequency, edition, effective in OBLIGATION_ROWS:
        owner = people["quality_manager"] if source == "standard" else people["carbon_manager"]
        data = {
            "title": title, "source": source, "issuing_body": body, "clauses_cited": clauses,
            "requirement_text": text, "applicability": "applicable", "owner": owner.id,
            "applicability_reason": "公司为水泥熟料生产企业，属该文件规定的适用对象。",
            "evaluation_frequency": frequency, "edition": edition, "effective_date": effective,
            "related_documents": "碳排放管理程序（XF/CX-16）；数据质量控制计划",
        }  # fmt: skip
        if number:
            data["document_number"] = number
        records.append(
            create_record(
                session, workflow=workflow, org_id=org_id, actor=people["carbon_manager"], form_data=data
            )
        )
    # The permit and the energy limit were evaluated this year.
    for index, result in ((8, "compliant"), (6, "partly_compliant")):
        _fire(session, records[index], "evaluate", people["carbon_manager"], {
            "evaluated_on": "2026-10-15", "evaluation_result": result,
            "evaluation_note": "对照第三季度执行报告和能耗统计逐条核对。" if result == "compliant"
            else "熟料综合能耗低于限定值但未达到先进值，已列入2027年节能目标。",
        })  # fmt: skip
    return records


def _issues(
    session: Session,
    catalog: WorkflowCatalog,
    org_id: int,
    people: dict[str, ActorRef],
    obligations: list[Record],
) -> None:
    workflow = catalog.get("context_issue")
    assert workflow is not None
    for title, category, direction, kind, description, effect, response, review, linked in ISSUES:
        data = {
            "title": title, "category": category, "direction": direction, "effect_kind": kind,
            "description": description, "effect": effect, "response": response,
            "owner": people["carbon_manager"].id, "review_date": review,
        }  # fmt: skip
        if linked is not None:
            data["related_obligation"] = obligations[linked - 1].id
        create_record(
            session, workflow=workflow, org_id=org_id, actor=people["carbon_manager"], form_data=data
        )


def _requirements(
    session: Session,
    catalog: WorkflowCatalog,
    org_id: int,
    people: dict[str, ActorRef],
    obligations: list[Record],
) -> None:
    workflow = catalog.get("party_requirement")
    assert workflow is not None
    carbon = people["carbon_manager"]
    for party_type, party, summary, need, text, identified, decision in REQUIREMENTS:
        record = create_record(session, workflow=workflow, org_id=org_id, actor=carbon, form_data={
            "party_type": party_type, "party_name": party, "summary": summary, "need_category": need,
            "requirement": text, "how_identified": identified, "owner": carbon.id,
        })  # fmt: skip
        if decision is None:
            continue
        if decision[0] == "decline":
            _fire(session, record, "decline", carbon, {"decline_reason": decision[1]})
            continue
        _, existing, source, frequency = decision
        adopt = {
            "adoption_reason": "该要求对公司具有约束力或公司承诺履行，纳入合规义务管理。",
            "obligation_source": source, "obligation_frequency": frequency,
        }  # fmt: skip
        if existing is not None:
            adopt["obligation"] = obligations[existing - 1].id
        _fire(session, record, "adopt", carbon, adopt)


SCOPE_UNITS = (
    "QUARRY",
    "RAWMILL",
    "COALMILL",
    "KILN1",
    "CEMMILL",
    "WHR",
    "PACK",
    "SHE",
    "PROD",
    "ENG",
    "PUR",
)


def _scope(session: Session, catalog: WorkflowCatalog, org_id: int, people: dict[str, ActorRef]) -> None:
    workflow = catalog.get("scope_statement")
    assert workflow is not None
    units = {u.code: u.id for u in session.exec(select(OrgUnit).where(OrgUnit.org_id == org_id)).all()}
    common = {
        "physical_boundary": "湖南省娄底市涟源市湘峰水泥厂区（厂界内）及厂区东侧 3 km 的自有石灰石矿山。",
        "organizational_boundary": "湖南湘峰水泥有限公司（独立法人），按运营控制权确定；"
        "包括生产技术部、设备动力部、"
        "安全环保部（碳管理办公室）、供应部、质量控制部及各生产车间。",
        "activity_boundary": "石灰石开采、生料制备、煤粉制备、熟料煅烧、水泥粉磨、包装发运及余热发电；"
        "辅助生产系统（空压站、机修、化验室）和附属生产系统（厂区办公楼、厂内运输）。",
        "considerations": ["context_issues", "obligations", "units_and_functions", "activities_products",
                           "control_influence"],
    }  # fmt: skip
    versions = (
        ("碳管理体系范围声明（A/0）", "A/0", "2025-03-01", SCOPE_UNITS[1:7], "首次发布。"),
        ("碳管理体系范围声明（A/1）", "A/1", "2026-03-01", SCOPE_UNITS, "纳入自有石灰石矿山和职能部门，"
         "与全国碳市场核算边界保持一致。"),
    )  # fmt: skip
    for title, edition, effective, covered, note in versions:
        data = {
            **common, "title": title, "edition": edition, "effective_from": effective, "change_note": note,
            "statement": "本公司碳管理体系适用于通用硅酸盐水泥熟料及水泥（P·O 42.5、P·C 32.5R）的生产及"
            "相关碳排放管理活动，覆盖范围一和范围二排放。",
            "covered_units": [{"unit": units[code], "activities": ""} for code in covered if code in units],
            "exclusions": [
                {"item": "湖南湘峰骨料有限公司", "justification": "独立法人，单独建立管理体系并单独核算。"},
                {"item": "外包经营的职工食堂", "justification": "由餐饮公司运营，不在公司运营控制范围内。"},
            ],
        }  # fmt: skip
        record = create_record(
            session, workflow=workflow, org_id=org_id, actor=people["carbon_manager"], form_data=data
        )
        _fire(session, record, "submit_for_review", people["carbon_manager"], {})
        _fire(session, record, "pass_review", people["quality_manager"], {})
        _fire(session, record, "approve_scope", people["top_management"], {}, password_verified=True)


def _policy(session: Session, catalog: WorkflowCatalog, org_id: int, people: dict[str, ActorRef]) -> None:
    workflow = catalog.get("carbon_policy")
    assert workflow is not None
    carbon = people["carbon_manager"]
    record = create_record(session, workflow=workflow, org_id=org_id, actor=carbon, form_data={
        "title": "湖南湘峰水泥有限公司碳方针", "edition": "A/0", "effective_from": "2025-03-01",
        "policy_text": "遵法守规、数据真实；节能降碳、持续改进；绿色低碳、迈向中和。\n"
        "公司承诺：履行碳排放权交易及能源、环境相关的合规义务；以熟料单位产品排放强度为核心碳绩效参数持续改进；"
        "推进替代燃料、余热发电和绿电使用，力争2030年前实现碳达峰、2060年前实现碳中和。",
        "commitments": ["compliance", "neutrality", "improvement"],
        "communication": "厂区公示栏、公司内网和官网公开；新员工入职培训",
    })  # fmt: skip
    _fire(session, record, "submit_for_approval", people["carbon_manager"], {})
    _fire(session, record, "approve_policy", people["top_management"], {}, password_verified=True)


def _applicability(
    session: Session, catalog: WorkflowCatalog, org_id: int, people: dict[str, ActorRef]
) -> None:
    """The statement of applicability, drafted from the clause library and the processes in force."""
    if catalog.get(APPLICABILITY) is None:
        return
    record = start_draft(
        session, catalog=catalog, org_id=org_id, actor=people["carbon_manager"], today=date(2026, 3, 1)
    )
    _fire(session, record, "submit_for_review", people["carbon_manager"], {})
    _fire(session, record, "pass_review", people["quality_manager"], {})
    _fire(session, record, "approve_statement", people["top_management"], {}, password_verified=True)


def seed_demo_context(
    session: Session, *, catalog: WorkflowCatalog, org_id: int, people: dict[str, ActorRef]
) -> None:
    """All of it, unless the organization already has compliance obligations."""
    mine = select(Record.id).where(Record.workflow_key == OBLIGATIONS, Record.org_id == org_id)
    if catalog.get(OBLIGATIONS) is None or session.exec(mine).first():
        return
    # Notifications (a new version of an obligation notifies owners) are written in one organization.
    scope = (session.info.get(ORG_ID), bool(session.info.get(ALL_ORGS)))
    bind_session_scope(session, org_id=org_id, all_orgs=False)
    try:
        obligations = _obligations(session, catalog, org_id, people)
        _issues(session, catalog, org_id, people, obligations)
        _requirements(session, catalog, org_id, people, obligations)
        _scope(session, catalog, org_id, people)
        _policy(session, catalog, org_id, people)
        _applicability(session, catalog, org_id, people)
        # CBAM was simplified in 2025: a new version flags what links to it and opens an evaluation.
        _fire(session, obligations[9], "revise_version", people["carbon_manager"], {
            "new_edition": "2025年修订", "new_effective_date": "2025-10-20",
            "change_summary": "欧盟2025年简化修订：年进口量50吨以下的进口商豁免；"
            "授权申报人申请和核查要求调整。",
        })  # fmt: skip
    finally:
        bind_session_scope(session, org_id=scope[0], all_orgs=scope[1])

"""The demo plant's operation records (8.1–8.5, 8.7), each through the real engine: five reduction projects
at different stages, two low-carbon design reviews, eight suppliers evaluated, five operating criteria of the
kiln and mills (one value recorded out of range, which opened a nonconformity), four storage and transport
measures, and the carbon asset ledger of compliance years 2024 and 2025 (cement entered the national ETS
with the 2024 year; 2024 surrendered by 2025-12-31, 2025 due by 2026-12-31)."""

from datetime import date
from typing import Any

from sqlmodel import Session, select

from engine.audit import Actor
from engine.evidence.store import store_evidence
from engine.identity.models import OrgUnit
from engine.storage import EvidenceStore
from engine.workflow.access import ActorRef
from engine.workflow.catalog import WorkflowCatalog
from engine.workflow.lifecycle import create_record, fire_transition
from engine.workflow.models import Record

PROJECTS = "reduction_project"
CARBON_ASSETS = "carbon_asset_transaction"


class _Seeder:
    def __init__(
        self,
        session: Session,
        *,
        catalog: WorkflowCatalog,
        org_id: int,
        people: dict[str, ActorRef],
        evidence_store: EvidenceStore,
    ) -> None:
        self.session, self.catalog, self.org_id, self.people = session, catalog, org_id, people
        self.evidence_store = evidence_store
        self.units = {
            unit.code: unit.id
            for unit in session.exec(select(OrgUnit).where(OrgUnit.org_id == org_id)).all()
            if unit.id is not None
        }

    def evidence(self, filename: str, text: str) -> int:
        actor = self.people["carbon_manager"]
        stored = store_evidence(
            self.session,
            org_id=self.org_id,
            actor=Actor(actor.id, actor.name),
            evidence_store=self.evidence_store,
            filename=filename,
            chunks=iter([(text + "\n（演示数据）\n").encode()]),
            max_bytes=64 * 1024,
        )
        assert stored.id is not None
        return stored.id

    def create(self, key: str, role: str, data: dict[str, Any], *, day: str | None = None) -> Record:
        workflow = self.catalog.get(key)
        assert workflow is not None
        today = date.fromisoformat(day) if day else None
        return create_record(
            self.session,
            workflow=workflow,
            org_id=self.org_id,
            actor=self.people[role],
            form_data=data,
            today=today,
        )

    def fire(
        self,
        record: Record,
        steps: list[tuple[str, str, dict[str, Any], str | None]],
        *,
        day: str | None = None,
    ) -> None:
        """(trigger, role, form, comment) in order; seeding signs on the demo users' behalf."""
        assert record.id is not None
        version = record.version
        for trigger, role, form, comment in steps:
            version = fire_transition(
                self.session,
                record_id=record.id,
                trigger=trigger,
                actor=self.people[role],
                form_data=form,
                expected_version=version,
                comment=comment,
                password_verified=True,
                today=date.fromisoformat(day) if day else None,
            ).version


# ---- 8.1 reduction projects --------------------------------------------------------------------------

# (name, type, facility, baseline, expected t/a, investment 万元, planned completion, method, stage)
PROJECT_ROWS: tuple[tuple[Any, ...], ...] = (
    (
        "9 MW 余热电站提效改造（窑头 AQC 锅炉换热面扩容）",
        "waste_heat_power",
        "WHR",
        "改造前余热电站吨熟料发电量 32 kWh/t，年发电约 4,960 万 kWh，其余电量外购华中电网电力。",
        "5200",
        "1850",
        "2025-10-31",
        "改造前后吨熟料余热发电量之差 × 熟料产量 × 全国电网平均排放因子（GB/T 32151.8）",
        "verified",
    ),
    (
        "RDF 替代燃料协同处置项目（日处置生活垃圾衍生燃料 300 t）",
        "fuel_switch",
        "KILN1",
        "分解炉全部使用烟煤，吨熟料实物煤耗 148 kg/t，热替代率 0 %。",
        "18000",
        "6200",
        "2027-06-30",
        "替代燃料热值 × 生物质碳比例折算的化石燃料替代量 × 烟煤排放因子；RDF 生物质部分按零排放计",
        "implementing",
    ),
    (
        "水泥磨辊压机联合粉磨系统改造",
        "energy_efficiency",
        "CEMMILL",
        "球磨机开路粉磨，水泥粉磨工序电耗 34 kWh/t。",
        "4000",
        "2350",
        "2026-08-31",
        "改造前后水泥粉磨工序电耗之差 × 水泥产量 × 电网排放因子",
        "completed",
    ),
    (
        "绿电交易购电（湖南电力交易中心年度绿电 2,000 万 kWh）",
        "green_power",
        "HQ",
        "全部外购电来自电网，按全国电网平均排放因子计算间接排放。",
        "10700",
        "60",
        "2026-12-31",
        "绿证对应电量 × 电网排放因子（以绿证核销为准）",
        "approved",
    ),
    (
        "窑头四通道低氮燃烧器改造",
        "energy_efficiency",
        "KILN1",
        "现有三通道燃烧器一次风量偏大，熟料单位产品综合煤耗 108 kgce/t。",
        "7900",
        "420",
        "2027-04-30",
        "改造前后熟料单位产品综合煤耗之差 × 熟料产量 × 标煤排放因子",
        "proposed",
    ),
)


def _projects(s: _Seeder) -> dict[str, Record]:
    made = {}
    owner = s.people["process_owner"].id
    for name, kind, unit, baseline, expected, money, planned, method, stage in PROJECT_ROWS:
        record = s.create(
            PROJECTS,
            "carbon_manager",
            {
                "name": name,
                "project_type": kind,
                "facility": s.units[unit],
                "baseline_scenario": baseline,
                "expected_reduction": expected,
                "investment": money,
                "owner": owner,
                "planned_completion": planned,
                "quantification_method": method,
            },
        )
        steps: list[tuple[str, str, dict[str, Any], str | None]] = []
        if stage != "proposed":
            steps.append(("approve_project", "top_management", {"approved_investment": money}, None))
        if stage in ("implementing", "completed", "verified"):
            steps.append(("begin_implementation", "process_owner", {"start_date": "2025-03-01"}, None))
        if stage in ("completed", "verified"):
            done = "2025-10-20" if stage == "verified" else "2026-09-15"
            steps.append(
                (
                    "finish_implementation",
                    "process_owner",
                    {"completion_date": done, "actual_investment": str(int(money) + 60)},
                    None,
                )
            )
        if stage == "verified":
            report = s.evidence(
                "余热电站提效改造减排量核证报告.txt",
                "余热电站提效改造减排量核证报告\n"
                "2025-11 至 2026-01 吨熟料发电量 36.1 kWh/t（改造前 32.0 kWh/t）",
            )
            steps.append(
                (
                    "verify_reduction",
                    "internal_auditor",
                    {
                        "verified_reduction": "4870",
                        "verified_on": "2026-02-10",
                        "verification_report": report,
                        "verification_method": "投运后连续 3 个月 DCS 发电量与关口电能表数据，"
                        "对比改造前 12 个月基准线",
                    },
                    None,
                )
            )
        s.fire(record, steps)
        made[kind if kind != "energy_efficiency" else unit] = record
    return made


# ---- 8.2 design reviews ------------------------------------------------------------------------------

CHECKLIST_BURNER = [
    (
        "energy_efficiency",
        "燃烧器一次风比例 ≤ 8 %，熟料综合煤耗满足 GB 16780-2021 2 级（≤ 104 kgce/t）",
        "conforming",
        "",
    ),
    (
        "energy_metering",
        "窑头喂煤转子秤（±0.5 %）及一次风机电能表按 GB 17167 配备并登记入计量器具台账",
        "nonconforming",
        "一次风机未设独立电能表，须增设",
    ),
    ("fuel_raw_material", "燃烧器适应 RDF 及高挥发分煤种", "conforming", ""),
    ("process_emissions", "不影响熟料 KH、SM 控制", "conforming", ""),
    ("waste_heat", "窑头出风温度变化对 AQC 锅炉影响评估", "conforming", ""),
    ("renewables", "燃烧器改造不涉及可再生能源接入", "not_applicable", ""),
]
CHECKLIST_GRINDING = [
    ("energy_efficiency", "主电机能效不低于 GB 18613 2 级，粉磨工序电耗 ≤ 30 kWh/t", "conforming", ""),
    (
        "energy_metering",
        "辊压机、球磨机、选粉机主电机分别配备 1.0 级电能表（GB 17167 主要用能设备）",
        "conforming",
        "",
    ),
    ("process_emissions", "混合材掺量提高后的熟料系数（目标 0.72）", "conforming", ""),
    ("life_cycle", "P·O 42.5 产品碳足迹核算（GB/T 24067）更新", "conforming", "投运后更新"),
    ("renewables", "粉磨站屋顶分布式光伏接入条件", "not_applicable", "另立项评估"),
]


def _design_reviews(s: _Seeder, projects: dict[str, Record]) -> None:
    reviewer = s.people["carbon_manager"].id
    for subject, kind, stage, project, rows, conclusion, conditions in (
        (
            "窑头四通道低氮燃烧器改造初步设计",
            "project",
            "preliminary",
            projects.get("KILN1"),
            CHECKLIST_BURNER,
            None,
            None,
        ),
        (
            "水泥磨辊压机联合粉磨系统施工图设计",
            "project",
            "detailed",
            projects.get("CEMMILL"),
            CHECKLIST_GRINDING,
            "approved_with_conditions",
            "投运前完成三台主电机电能表检定并登记入台账；投运后 3 个月内更新产品碳足迹。",
        ),
    ):
        checklist = [{"aspect": a, "item": i, "result": r, "remark": m or None} for a, i, r, m in rows]
        data: dict[str, Any] = {
            "subject": subject,
            "subject_kind": kind,
            "design_stage": stage,
            "checklist": checklist,
        }
        if project is not None:
            data["related_project"] = project.id
        record = s.create("design_review", "process_owner", data)
        if conclusion:
            form = {
                "conclusion": conclusion,
                "conditions": conditions,
                "reviewer": reviewer,
                "reviewed_on": "2025-05-20",
            }
            s.fire(record, [("conclude_review", "carbon_manager", form, None)])


# ---- 8.3 suppliers -----------------------------------------------------------------------------------

CRITERIA = (
    "单位产品碳排放强度/碳足迹",
    "能源或碳管理体系认证",
    "清洁运输比例",
    "可再生能源使用",
    "排放数据质量",
    "环保合规与减排承诺",
)
WEIGHTS = ("25", "15", "15", "15", "15", "15")
# (code, name, category, items, volume, interval months, evaluation date, six scores)
SUPPLIER_ROWS: tuple[tuple[Any, ...], ...] = (
    (
        "GYS-COAL-01",
        "湖南省煤业集团涟邵矿业有限公司",
        "coal",
        "烟煤（Q ≥ 5,500 kcal/kg）",
        "约 16 万吨/年",
        12,
        "2026-03-12",
        (70, 80, 60, 40, 85, 80),
    ),
    (
        "GYS-COAL-02",
        "山西晋能控股煤炭销售有限公司（铁路直达）",
        "coal",
        "烟煤",
        "约 6 万吨/年",
        12,
        "2026-03-12",
        (75, 90, 95, 50, 90, 85),
    ),
    (
        "GYS-ELEC-01",
        "国网湖南省电力有限公司娄底供电分公司",
        "electricity",
        "110 kV 网供电",
        "约 1.6 亿 kWh/年",
        12,
        "2026-01-20",
        (90, 95, 100, 70, 100, 95),
    ),
    (
        "GYS-LS-01",
        "新化县天龙石灰石矿业有限公司",
        "limestone",
        "石灰石（CaO ≥ 50 %）",
        "约 120 万吨/年",
        12,
        "2026-04-08",
        (85, 60, 70, 30, 70, 75),
    ),
    (
        "GYS-GYP-01",
        "华能岳阳电厂脱硫石膏",
        "gypsum",
        "脱硫石膏",
        "约 6 万吨/年",
        12,
        "2025-11-18",
        (95, 90, 80, 60, 85, 90),
    ),
    (
        "GYS-ASH-01",
        "大唐湘潭发电有限责任公司",
        "fly_ash_slag",
        "Ⅱ级粉煤灰",
        "约 15 万吨/年",
        12,
        "2026-02-25",
        (95, 90, 75, 55, 80, 90),
    ),
    (
        "GYS-RDF-01",
        "娄底市城乡环境卫生综合处理有限公司",
        "alternative_fuel",
        "生活垃圾衍生燃料 RDF",
        "约 9 万吨/年",
        6,
        "2026-06-30",
        (90, 40, 60, 90, 50, 70),
    ),
    (
        "GYS-TR-01",
        "湖南湘运物流有限公司",
        "transport",
        "袋装/散装水泥公路运输",
        "约 80 万吨/年",
        12,
        "2025-12-10",
        (55, 40, 35, 20, 45, 60),
    ),
)


def _suppliers(s: _Seeder) -> None:
    buyer, evaluator = s.people["quality_manager"].id, s.people["carbon_manager"].id
    for code, name, category, items, volume, months, day, scores in SUPPLIER_ROWS:
        record = s.create(
            "supplier_evaluation",
            "quality_manager",
            {
                "code": code,
                "name": name,
                "category": category,
                "supplied_items": items,
                "annual_volume": volume,
                "evaluation_interval_months": str(months),
                "buyer": buyer,
            },
        )
        criteria = [
            {"criterion": c, "weight": w, "score": str(v)}
            for c, w, v in zip(CRITERIA, WEIGHTS, scores, strict=True)
        ]
        form = {
            "evaluation_date": day,
            "criteria": criteria,
            "evaluator": evaluator,
            "evaluation_note": "按《供应商低碳评价准则》评价",
        }
        steps: list[tuple[str, str, dict[str, Any], str | None]] = [
            ("evaluate_supplier", "carbon_manager", form, None)
        ]
        if code == "GYS-TR-01":
            steps.append(
                (
                    "suspend_supplier",
                    "quality_manager",
                    {},
                    "评价为 D 级：国五及以下柴油车占比 70 %，限期整改",
                )
            )
        s.fire(record, steps)


# ---- 8.4 operating criteria --------------------------------------------------------------------------

# (parameter, facility, lower, upper, target, unit, frequency, basis, [(day, value, note)])
CRITERIA_ROWS: tuple[tuple[Any, ...], ...] = (
    (
        "熟料单位产品综合煤耗",
        "KILN1",
        None,
        "104",
        "100",
        "kgce/t",
        "daily",
        "GB 16780-2021 水泥单位产品能源消耗限额 2 级",
        [
            ("2026-10-31", "101.8", "10 月统计值"),
            ("2026-11-30", "106.3", "11 月 1# 窑结圈停窑 2 次，升温耗煤增加"),
        ],
    ),
    (
        "吨熟料实物煤耗（烟煤）",
        "KILN1",
        "130",
        "150",
        "142",
        "kg/t",
        "shift",
        "企业标准 Q/XF 0105-2025",
        [("2026-11-30", "146.2", None)],
    ),
    (
        "熟料单位产品综合电耗",
        "KILN1",
        None,
        "56",
        "52",
        "kWh/t",
        "daily",
        "GB 16780-2021 2 级",
        [("2026-11-30", "53.4", None)],
    ),
    (
        "水泥粉磨工序电耗（P·O 42.5）",
        "CEMMILL",
        None,
        "32",
        "29",
        "kWh/t",
        "daily",
        "GB 16780-2021 2 级",
        [("2026-11-30", "28.7", "辊压机联合粉磨投运后")],
    ),
    ("生料粉磨工序电耗", "RAWMILL", None, "16", "14.5", "kWh/t", "daily", "企业标准 Q/XF 0105-2025", []),
)


def _criteria(s: _Seeder) -> None:
    owner = s.people["process_owner"].id
    for parameter, unit, lower, upper, target, measure, frequency, basis, readings in CRITERIA_ROWS:
        data = {
            "parameter": parameter,
            "facility": s.units[unit],
            "lower_limit": lower,
            "upper_limit": upper,
            "target": target,
            "unit": measure,
            "monitoring_frequency": frequency,
            "responsible": owner,
            "basis": basis,
            "control_method": "中控 DCS 实时监控，班组交接班记录，生产技术部每日统计",
        }
        record = s.create(
            "operating_criterion", "carbon_manager", {k: v for k, v in data.items() if v is not None}
        )
        for day, value, note in readings:  # a value out of range opens a nonconformity (the policy)
            form = {"measured_on": day, "measured_value": value, "measurement_note": note}
            s.fire(record, [("record_deviation", "process_owner", form, None)], day=day)
            s.session.refresh(record)


# ---- 8.5 storage and transport -----------------------------------------------------------------------

MEASURES = (
    (
        "原煤堆棚全封闭及喷淋抑尘，防止自燃与热值损失",
        "storage",
        "COALMILL",
        "原煤堆棚",
        "每月检查煤堆温度与热值偏差",
        "effective",
    ),
    (
        "熟料库顶及水泥库收尘器变频控制",
        "storage",
        "PACK",
        "熟料库、水泥库",
        "对比改造前后收尘风机电耗",
        "effective",
    ),
    (
        "进厂原燃料铁路专用线运输（替代公路）",
        "transport",
        None,
        "娄底北站—厂区铁路专用线",
        "统计铁路运输比例与运输排放",
        "partly_effective",
    ),
    (
        "散装水泥运输车辆国六及新能源化",
        "transport",
        "PACK",
        "厂区—长株潭客户",
        "月度统计新能源及国六车辆运量占比",
        None,
    ),
)


def _measures(s: _Seeder) -> None:
    owner = s.people["process_owner"].id
    for measure, scope, unit, route, method, result in MEASURES:
        data = {
            "measure": measure,
            "scope": scope,
            "route": route,
            "responsible": owner,
            "verification_method": method,
        }
        if unit:
            data["facility"] = s.units[unit]
        record = s.create("storage_transport_measure", "carbon_manager", data)
        if result:
            form = {"verified_on": "2026-09-28", "verification_result": result, "verification_note": method}
            s.fire(record, [("verify_measure", "quality_manager", form, None)])


# ---- 8.7 carbon assets -------------------------------------------------------------------------------

# (summary, kind, year, quantity, price, counterparty, date, reference)
LEDGER_ROWS = (
    (
        "2024 年度配额核定分配",
        "cea_allocated",
        2024,
        "1342870",
        None,
        "湖南省生态环境厅",
        "2025-09-26",
        "CEA-2024-HN-0117",
    ),
    (
        "2024 年度配额清缴",
        "cea_surrendered",
        2024,
        "1342870",
        None,
        "全国碳排放权注册登记系统",
        "2025-12-18",
        "QJ-2024-0117",
    ),
    (
        "2025 年度配额预分配（70 %）",
        "cea_allocated",
        2025,
        "915000",
        None,
        "湖南省生态环境厅",
        "2026-03-20",
        "CEA-2025-HN-0117P",
    ),
    (
        "2025 年度配额核定补发",
        "cea_allocated",
        2025,
        "382460",
        None,
        "湖南省生态环境厅",
        "2026-10-15",
        "CEA-2025-HN-0117F",
    ),
    (
        "买入 2025 年度配额（挂牌协议）",
        "cea_bought",
        2025,
        "12000",
        "88.5",
        "湖北某钢铁企业",
        "2026-11-04",
        "TR-20261104-031",
    ),
    (
        "卖出 2025 年度配额（大宗协议）",
        "cea_sold",
        2025,
        "5000",
        "92",
        "广东某电力企业",
        "2026-05-12",
        "TR-20260512-007",
    ),
    (
        "买入 CCER（林业碳汇项目）",
        "ccer_bought",
        2025,
        "30000",
        "78",
        "湖南某林业碳汇项目业主",
        "2026-08-21",
        "CCER-20260821-002",
    ),
)


def _carbon_assets(s: _Seeder) -> None:
    for summary, kind, year, quantity, price, counterparty, day, reference in LEDGER_ROWS:
        data = {
            "summary": summary,
            "kind": kind,
            "compliance_year": str(year),
            "quantity": quantity,
            "price": price,
            "counterparty": counterparty,
            "trade_date": day,
            "reference": reference,
        }
        s.create(CARBON_ASSETS, "carbon_manager", {k: v for k, v in data.items() if v is not None})
    responsible = s.people["carbon_manager"].id
    basis = "《全国碳排放权交易市场钢铁、水泥、铝冶炼行业配额总量和分配方案（2024、2025年度）》，熟料生产单元"
    y2024 = s.create(
        "compliance_year",
        "carbon_manager",
        {
            "title": "2024 年度全国碳市场配额清缴",
            "compliance_year": "2024",
            "verified_emissions": "1342870",
            "verification_body": "湖南省生态环境厅委托第三方核查机构",
            "surrender_deadline": "2025-12-31",
            "responsible": responsible,
            "allocation_basis": basis,
        },
        day="2025-09-26",
    )
    proof = s.evidence(
        "2024年度清缴完成凭证.txt", "全国碳排放权注册登记系统 清缴完成确认\n2024 年度 清缴 1,342,870 吨"
    )
    s.fire(
        y2024,
        [
            (
                "confirm_surrender",
                "carbon_manager",
                {"surrendered_on": "2025-12-18", "surrender_evidence": proof},
                None,
            )
        ],
    )
    s.create(
        "compliance_year",
        "carbon_manager",
        {
            "title": "2025 年度全国碳市场配额清缴",
            "compliance_year": "2025",
            "verified_emissions": "1318460",
            "verification_body": "湖南省生态环境厅委托第三方核查机构",
            "surrender_deadline": "2026-12-31",
            "responsible": responsible,
            "allocation_basis": basis,
        },
    )


def seed_demo_operation(
    session: Session,
    *,
    catalog: WorkflowCatalog,
    org_id: int,
    people: dict[str, ActorRef],
    evidence_store: EvidenceStore,
) -> None:
    """Every operation register, unless the organization already has reduction projects."""
    mine = select(Record.id).where(Record.workflow_key == PROJECTS, Record.org_id == org_id)
    if catalog.get(PROJECTS) is None or session.exec(mine).first():
        return
    s = _Seeder(session, catalog=catalog, org_id=org_id, people=people, evidence_store=evidence_store)
    projects = _projects(s)
    _design_reviews(s, projects)
    _suppliers(s)
    _criteria(s)
    _measures(s)
    _carbon_assets(s)

"""The demo plant's planning and improvement records (6.2.1, 6.3, 6.4, 10.2): its register of risks and
opportunities (the typical ones of a Hunan cement plant since the national ETS took in cement in 2025),
four carbon objectives on its performance parameters with their action plans, two planned changes and its
improvement log — each written through the engine, as the people who would write it."""

from typing import Any

from sqlmodel import Session, col, select

from engine.workflow.access import ActorRef
from engine.workflow.catalog import WorkflowCatalog
from engine.workflow.lifecycle import create_record, fire_transition
from engine.workflow.models import Record

# (title, nature, kind, cause, consequence, likelihood, impact, treatment, residual L, residual I,
#  owner role, review date, [(action, owner role, due, status)])
RISKS: tuple[tuple[Any, ...], ...] = (
    (
        "全国碳市场扩围纳入水泥行业，配额可能短缺",
        "risk",
        "policy",
        "生态环境部 2025 年将水泥、钢铁、电解铝纳入全国碳排放权交易市场，"
        "配额按熟料产量基准线法分配，逐年收紧。",
        "我厂吨熟料排放强度若高于行业基准值，年度配额缺口约 3–5 万吨，"
        "按 80–100 元/吨计履约成本 300–500 万元。",
        4,
        4,
        "reduce",
        3,
        3,
        "carbon_manager",
        "2027-03-31",
        [
            ("测算 2025、2026 年度配额盈缺并纳入预算", "carbon_manager", "2027-01-31", "open"),
            ("制定配额购买与 CCER 抵销策略", "carbon_manager", "2027-03-31", "open"),
        ],
    ),
    (
        "欧盟 CBAM 对出口熟料/水泥征收碳边境调节费用",
        "risk",
        "market",
        "《欧盟碳边境调节机制》(EU) 2023/956 自 2026 年起对进口水泥、熟料按隐含排放收费。",
        "经出口贸易商间接出口的订单面临价格压力，客户要求提供经核查的产品隐含排放数据。",
        2,
        3,
        "reduce",
        2,
        2,
        "carbon_manager",
        "2027-06-30",
        [("按 CBAM 方法核算熟料隐含排放并形成数据包", "carbon_manager", "2027-04-30", "open")],
    ),
    (
        "电网排放因子更新导致外购电排放核算变化",
        "risk",
        "policy",
        "生态环境部每年更新全国电网平均排放因子（2022 年度 0.5703 tCO2/MWh），湖南省因子另行发布。",
        "外购电间接排放及基准、目标的可比性受影响；若未及时更新，报告数据不合规。",
        4,
        2,
        "reduce",
        2,
        2,
        "carbon_manager",
        "2027-02-28",
        [("在年度核算前确认适用的电网排放因子版本", "carbon_manager", "2027-02-15", "open")],
    ),
    (
        "碳排放数据质量不合规（核查不通过）",
        "risk",
        "legal",
        "《碳排放权交易管理暂行条例》（2024）对数据弄虚作假处罚严厉；入窑煤元素碳含量检测频次、计量器具检定存在薄弱环节。",
        "核查发现数据缺失或失实，面临罚款、核减配额及信用惩戒，影响企业声誉。",
        3,
        5,
        "reduce",
        2,
        4,
        "quality_manager",
        "2027-01-15",
        [
            ("入窑煤元素碳含量按批次送检，留存检测报告", "quality_manager", "2026-12-31", "open"),
            ("计量器具检定到期预警纳入月度点检", "process_owner", "2026-11-30", "done"),
        ],
    ),
    (
        "燃煤价格大幅波动",
        "risk",
        "market",
        "动力煤市场价格受供需及政策影响波动，湖南本地煤源有限，主要依赖外省调入。",
        "燃料成本上升压缩利润，节能改造资金紧张。",
        3,
        3,
        "accept",
        3,
        3,
        "top_management",
        "2027-06-30",
        [],
    ),
    (
        "极端高温与洪涝影响生产和用电",
        "risk",
        "physical",
        "湘中地区夏季持续高温、汛期强降雨增多；高温期间电网有序用电。",
        "限电停窑、原燃料运输中断，开停窑次数增加导致单位熟料能耗和排放上升。",
        3,
        3,
        "reduce",
        2,
        3,
        "process_owner",
        "2027-05-31",
        [("编制迎峰度夏错峰生产预案", "process_owner", "2027-05-31", "open")],
    ),
    (
        "周边社区对替代燃料（RDF）焚烧的投诉",
        "risk",
        "reputational",
        "协同处置生活垃圾衍生燃料可能产生异味，周边居民关注二噁英排放。",
        "投诉或舆情导致替代燃料项目暂停，影响减排目标。",
        2,
        4,
        "reduce",
        1,
        4,
        "quality_manager",
        "2027-03-31",
        [("开展公众开放日并公开在线监测数据", "quality_manager", "2027-04-30", "open")],
    ),
    (
        "购买绿电和绿证降低外购电排放",
        "opportunity",
        "market",
        "湖南电力交易中心开展绿电交易，绿证全覆盖政策实施。",
        "外购电间接排放下降，满足下游客户低碳采购要求。",
        3,
        3,
        "pursue",
        4,
        3,
        "carbon_manager",
        "2027-06-30",
        [("与售电公司询价 2027 年绿电交易", "carbon_manager", "2027-02-28", "open")],
    ),
    (
        "替代燃料（RDF、生物质）替代部分燃煤",
        "opportunity",
        "technology",
        "长沙、娄底周边 RDF 与稻壳、木屑等生物质供应稳定，生物质燃料排放按零计。",
        "热替代率提高到 15% 可减少燃煤约 3 万吨/年，降低燃烧排放约 7 万 tCO2。",
        4,
        4,
        "pursue",
        4,
        4,
        "process_owner",
        "2027-03-31",
        [],
    ),
    (
        "余热发电系统提效改造",
        "opportunity",
        "technology",
        "9 MW 纯低温余热电站投运多年，锅炉换热效率下降。",
        "改造后年增发电约 800 万 kWh，减少外购电排放约 4,500 tCO2。",
        3,
        3,
        "pursue",
        3,
        3,
        "process_owner",
        "2027-06-30",
        [],
    ),
    (
        "CCER 重启带来的减排量收益",
        "opportunity",
        "financial",
        "全国温室气体自愿减排交易市场 2024 年重启，方法学陆续发布。",
        "若余热发电或替代燃料项目符合方法学，可开发 CCER 用于抵销或出售。",
        2,
        3,
        "pursue",
        2,
        3,
        "carbon_manager",
        "2027-09-30",
        [],
    ),
    (
        "窑尾碳捕集利用示范",
        "opportunity",
        "technology",
        "省内已有水泥窑碳捕集示范项目，食品级 CO2 有稳定市场。",
        "为 2030 年后深度减排储备技术，目前投资大、能耗高。",
        1,
        4,
        "accept",
        1,
        4,
        "top_management",
        "2026-10-31",
        [],
    ),
)

# (title, parameter code, unit, baseline, target, target year, emission target, description, owner role)
OBJECTIVES = (
    (
        "吨熟料综合碳排放强度 2030 年较 2024 年下降 5%",
        "CPP-ENT-CLK",
        "tCO2e/t",
        "0.8307",
        "0.7891",
        2030,
        "单位熟料碳排放强度 2030 年较 2024 年下降 5%",
        "对应湖南省建材行业碳达峰实施方案，分年度分解。",
        "carbon_manager",
    ),
    (
        "1# 窑替代燃料热替代率提升至 15%，吨熟料排放强度降至 0.755",
        "CPP-FAC-KILN1",
        "tCO2e/t",
        "0.7783",
        "0.7550",
        2028,
        "",
        "RDF 与生物质协同处置，逐步替代燃煤。",
        "process_owner",
    ),
    (
        "吨水泥碳排放强度降至 0.590",
        "CPP-PRD-CEM",
        "tCO2e/t",
        "0.6153",
        "0.5900",
        2027,
        "",
        "降低熟料系数、提高粉磨效率，降低吨水泥综合电耗。",
        "carbon_manager",
    ),
    (
        "企业碳排放总量控制在 120 万吨以内",
        "CPP-ENT-TOTAL",
        "tCO2e",
        "1223140",
        "1200000",
        2027,
        "",
        "与全国碳市场配额相衔接，避免配额缺口扩大。",
        "top_management",
    ),
)

# (title, objective index, owner role, resources, budget, due, state)
ACTION_PLANS = (
    (
        "RDF 投料系统建设（分解炉喂料）",
        1,
        "process_owner",
        "设备动力部 4 人；供应商技术支持",
        "680",
        "2027-06-30",
        "in_progress",
    ),
    ("生物质燃料供应商评价与长协", 1, "carbon_manager", "供应部 2 人", "20", "2027-03-31", "planned"),
    ("篦冷机改造提高二次风温", 0, "process_owner", "检修窗口 15 天", "1200", "2026-11-30", "done"),
    (
        "窑系统用能诊断与热工标定",
        0,
        "carbon_manager",
        "委托湖南省节能监测中心",
        "35",
        "2027-04-30",
        "planned",
    ),
    (
        "水泥磨辊压机联合粉磨改造",
        2,
        "process_owner",
        "设备动力部；停磨 20 天",
        "900",
        "2027-09-30",
        "planned",
    ),
    (
        "提高混合材掺量的配比试验",
        2,
        "quality_manager",
        "化验室；3 个月试生产",
        "15",
        "2026-12-31",
        "in_progress",
    ),
    ("余热电站锅炉换热管更换", 3, "process_owner", "设备动力部", "260", "2026-10-31", "in_progress"),
    ("2027 年度配额盈缺测算与履约预案", 3, "carbon_manager", "碳管理办公室", "5", "2027-02-28", "cancelled"),
)

# (title, source, description, owner role, due, state)
IMPROVEMENTS = (
    (
        "入窑煤元素碳含量实测替代缺省值",
        "data_analysis",
        "2025 年数据分析显示采用缺省值比实测偏高约 2%，改为每批次实测。",
        "quality_manager",
        "2027-03-31",
        "open_item",
    ),
    (
        "电表超期未检定的预警机制",
        "nonconformity",
        "针对不符合“电表 E-KILN-03 超期未检定”，建立器具检定到期 30 天预警。",
        "carbon_manager",
        "2026-12-15",
        "item_done",
    ),
    (
        "月度碳数据复核清单标准化",
        "internal_audit",
        "内审建议将数据复核要点固化为清单，减少漏项。",
        "carbon_manager",
        "2027-01-31",
        "open_item",
    ),
    (
        "管理评审输出：设立碳绩效月度通报",
        "management_review",
        "2026 年管理评审要求每月向各车间通报吨熟料排放强度。",
        "top_management",
        "2027-01-15",
        "open_item",
    ),
    (
        "空压机群控节电",
        "suggestion",
        "员工合理化建议：空压站加装群控系统，预计节电 8%。",
        "process_owner",
        "2027-05-31",
        "item_dropped",
    ),
)


def _fire(
    session: Session, record: Record, steps: list[tuple[str, ActorRef, dict[str, Any], str | None]]
) -> None:
    version = record.version
    assert record.id is not None
    for trigger, actor, data, comment in steps:
        version = fire_transition(
            session,
            record_id=record.id,
            trigger=trigger,
            actor=actor,
            form_data=data,
            expected_version=version,
            comment=comment,
            password_verified=True,  # seeding signs on the demo users' behalf
        ).version


def seed_demo_planning(
    session: Session, *, catalog: WorkflowCatalog, org_id: int, people: dict[str, ActorRef]
) -> None:
    """Skips itself when the organization has risks and opportunities already."""
    risk_flow = catalog.get("risk_opportunity")
    if (
        risk_flow is None
        or session.exec(select(Record.id).where(col(Record.workflow_key) == risk_flow.spec.key)).first()
    ):
        return
    carbon = people["carbon_manager"]
    objective_flow, plan_flow = catalog.get("carbon_objective"), catalog.get("action_plan")
    change_flow, improvement_flow = catalog.get("planned_change"), catalog.get("improvement_item")
    assert objective_flow and plan_flow and change_flow and improvement_flow

    objectives = []
    for title, code, unit, baseline, target, year, emission_target, description, owner in OBJECTIVES:
        data = {
            "title": title,
            "parameter_code": code,
            "unit": unit,
            "baseline_year": 2024,
            "baseline_value": baseline,
            "target_value": target,
            "target_year": year,
            "description": description,
            "owner": people[owner].id,
        }
        if emission_target:
            data["emission_target"] = emission_target
        objectives.append(
            create_record(session, workflow=objective_flow, org_id=org_id, actor=carbon, form_data=data)
        )

    plans = []
    for title, objective, owner, resources, budget, due, state in ACTION_PLANS:
        plan = create_record(
            session,
            workflow=plan_flow,
            org_id=org_id,
            actor=carbon,
            form_data={
                "title": title,
                "objective": objectives[objective].id,
                "owner": people[owner].id,
                "resources": resources,
                "budget": budget,
                "due_date": due,
                "description": title,
                "expected_effect": "见目标分解表",
            },
        )
        plans.append(plan)
        steps: list[tuple[str, ActorRef, dict[str, Any], str | None]] = []
        if state in ("in_progress", "done"):
            steps.append(("begin_work", people[owner], {}, None))
        if state == "done":
            steps.append(
                (
                    "mark_done",
                    people[owner],
                    {"completed_on": due, "result": "改造完成，二次风温提高约 40 ℃，经热工标定确认。"},
                    None,
                )
            )
        if state == "cancelled":
            steps.append(("cancel_plan", carbon, {}, "并入“全国碳市场配额短缺”风险的应对措施"))
        _fire(session, plan, steps)

    for number, risk in enumerate(RISKS):
        (
            title,
            nature,
            kind,
            cause,
            consequence,
            likelihood,
            impact,
            treatment,
            r_l,
            r_i,
            owner,
            review_date,
            actions,
        ) = risk
        data = {
            "title": title,
            "nature": nature,
            "kind": kind,
            "cause": cause,
            "consequence": consequence,
            "likelihood": likelihood,
            "impact": impact,
            "treatment": treatment,
            "residual_likelihood": r_l,
            "residual_impact": r_i,
            "owner": people[owner].id,
            "review_date": review_date,
            "actions": [
                {"description": d, "owner": people[o].id, "due": due, "status": s} for d, o, due, s in actions
            ],
        }
        if number == 8:  # the alternative-fuel opportunity is pursued by the RDF action plan
            data["action_plan"] = plans[0].id
        if number == 0:
            data["action_plan"] = plans[7].id
        create_record(session, workflow=risk_flow, org_id=org_id, actor=carbon, form_data=data)

    # Two planned changes: the new grid factor (closed) and part of the coal replaced by RDF (assessing).
    grid = create_record(
        session,
        workflow=change_flow,
        org_id=org_id,
        actor=carbon,
        form_data={
            "title": "采用 2022 年度全国电网平均排放因子 0.5703 tCO2/MWh",
            "change_type": "method",
            "purpose": "按生态环境部最新公布的电网排放因子核算外购电间接排放。",
            "consequences": "外购电间接排放较原因子下降约 1.4%；基准年数据需按同一因子重算以保持可比。",
            "planned_date": "2026-03-01",
            "change_owner": carbon.id,
        },
    )
    _fire(
        session,
        grid,
        [
            ("begin_assessment", carbon, {}, None),
            (
                "submit_assessment",
                carbon,
                {
                    "system_integrity": "修订《碳排放核算作业指导书》及数据质量控制计划中的因子表。",
                    "resources": "碳管理办公室 1 人，2 个工作日。",
                    "responsibilities": "碳管理专员负责更新，质量部经理复核。",
                    "cpp_effect": "improves",
                    "cpp_effect_note": "吨水泥碳排放强度约下降 0.004 tCO2e/t。",
                    "static_factor_change": "yes",
                    "baseline_adjustment": "2024 基准年：按新电网因子重算外购电排放",
                    "related_objective": objectives[2].id,
                },
                None,
            ),
            ("approve_change", people["top_management"], {"approval_note": "同意，按新因子统一重算。"}, None),
            (
                "report_implemented",
                people["quality_manager"],
                {
                    "implemented_on": "2026-03-05",
                    "implementation_note": "因子表已更新，2024、2025 年数据已重算并经复核。",
                },
                None,
            ),
            (
                "close_change",
                carbon,
                {"review_result": "as_planned", "review_note": "核算结果与复算一致，基准已调整。"},
                None,
            ),
        ],
    )
    rdf = create_record(
        session,
        workflow=change_flow,
        org_id=org_id,
        actor=people["process_owner"],
        form_data={
            "title": "1# 窑以 RDF 替代约 10% 燃煤",
            "change_type": "fuel_material",
            "purpose": "利用生活垃圾衍生燃料替代部分燃煤，降低燃烧排放与燃料成本。",
            "consequences": "燃料种类和排放源增加，需新增计量器具和检测项目；可能影响熟料质量与窑况稳定。",
            "planned_date": "2027-06-30",
            "change_owner": people["process_owner"].id,
        },
    )
    _fire(session, rdf, [("begin_assessment", carbon, {}, None)])

    nonconformity = session.exec(
        select(Record).where(
            col(Record.workflow_key) == "nonconformity", col(Record.title).contains("E-KILN-03")
        )
    ).first()
    for title, source, description, owner, due, state in IMPROVEMENTS:
        data = {
            "title": title,
            "source": source,
            "description": description,
            "owner": people[owner].id,
            "due_date": due,
        }
        if source == "nonconformity" and nonconformity is not None:
            data["source_record"] = nonconformity.id
        if source == "data_analysis":
            data["source_record"] = objectives[0].id
        item = create_record(session, workflow=improvement_flow, org_id=org_id, actor=carbon, form_data=data)
        if state == "item_done":
            _fire(
                session,
                item,
                [
                    (
                        "complete_item",
                        carbon,
                        {"completed_on": "2026-11-20", "outcome": "预警已上线，11 月无超期器具。"},
                        None,
                    )
                ],
            )
        elif state == "item_dropped":
            _fire(session, item, [("drop_item", carbon, {}, "投资回收期超过 5 年，列入 2028 年计划再议")])

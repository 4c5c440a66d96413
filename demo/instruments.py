"""The demo plant's metering instruments (9.1, GB 17167): each registered and calibrated through the real
engine, with its certificate kept as an evidence file; the diesel flow meter is in service past its
calibration date."""

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

WORKFLOW = "metering_instrument"

# (code, name, type, facility code, parameter, level, GB 17167 item, accuracy, range, interval months,
#  model, location, [(calibration date, certificate number, body)])
INSTRUMENTS: tuple[tuple[Any, ...], ...] = (
    (
        "JL-E-001",
        "110 kV 关口电能表",
        "electricity_meter",
        "HQ",
        "外购电量",
        "unit",
        "electricity_i",
        "0.5S",
        (0, 99999999, "kWh"),
        12,
        "DTZ341 三相四线",
        "110 kV 总降压站进线柜",
        [
            ("2025-06-18", "湘计电 2025-0618-03", "湖南省计量检测研究院"),
            ("2026-06-16", "湘计电 2026-0616-11", "湖南省计量检测研究院"),
        ],
    ),
    (
        "JL-W-001",
        "进厂汽车衡（100 t）",
        "weighbridge",
        "HQ",
        "进厂原煤量",
        "unit",
        "fuel_static_scale",
        "±0.1%",
        (1, 100, "t"),
        12,
        "SCS-100",
        "厂区 1# 门岗",
        [("2026-04-09", "湘衡 2026-0409-02", "娄底市计量测试检定所")],
    ),
    (
        "JL-W-011",
        "入窑煤皮带秤",
        "belt_scale",
        "KILN1",
        "入炉煤消耗量",
        "subunit",
        "fuel_dynamic_scale",
        "±0.5%",
        (0, 40, "t/h"),
        6,
        "ICS-17A",
        "煤磨喂煤皮带",
        [
            ("2026-02-20", "湘衡 2026-0220-07", "娄底市计量测试检定所"),
            ("2026-08-21", "湘衡 2026-0821-05", "娄底市计量测试检定所"),
        ],
    ),
    (
        "JL-W-012",
        "熟料皮带秤",
        "belt_scale",
        "KILN1",
        "熟料产量",
        "other",
        None,
        "±0.5%",
        (0, 300, "t/h"),
        6,
        "ICS-20",
        "熟料库顶输送皮带",
        [("2026-09-02", "湘衡 2026-0902-01", "娄底市计量测试检定所")],
    ),
    (
        "JL-W-013",
        "生料入窑提升机计量秤",
        "belt_scale",
        "RAWMILL",
        "生料消耗量",
        "other",
        None,
        "±1.0%",
        (0, 450, "t/h"),
        6,
        "CFM-450",
        "生料均化库出口",
        [("2026-07-11", "湘衡 2026-0711-04", "娄底市计量测试检定所")],
    ),
    (
        "JL-E-011",
        "窑头电能分表",
        "electricity_meter",
        "KILN1",
        "窑头用电量",
        "device",
        "electricity_iii",
        "1.0",
        (0, 9999999, "kWh"),
        24,
        "DTS1352",
        "窑头电力室 2# 柜",
        [("2025-11-05", "厂内校 2025-031", "设备动力部电气计量室")],
    ),
    (
        "JL-E-012",
        "窑尾电能分表",
        "electricity_meter",
        "KILN1",
        "窑尾用电量",
        "device",
        "electricity_iii",
        "1.0",
        (0, 9999999, "kWh"),
        24,
        "DTS1352",
        "窑尾电力室 4# 柜",
        [("2025-11-05", "厂内校 2025-032", "设备动力部电气计量室")],
    ),
    (
        "JL-F-001",
        "矿山柴油流量计",
        "flow_meter",
        "QUARRY",
        "柴油消耗量",
        "unit",
        "refined_oil",
        "±0.5%",
        (0.5, 12, "m³/h"),
        12,
        "LC-25 椭圆齿轮",
        "矿山加油站",
        [("2025-10-15", "湘计流 2025-1015-09", "湖南省计量检测研究院")],
    ),  # due 2026-10-15: overdue
)


def _certificate(
    session: Session,
    *,
    evidence_store: EvidenceStore,
    org_id: int,
    actor: ActorRef,
    code: str,
    number: str,
    body: str,
    day: str,
) -> int:
    text = (
        f"检定/校准证书\n证书编号：{number}\n器具编号：{code}\n检定/校准日期：{day}\n"
        f"结论：合格\n检定/校准机构：{body}\n（演示数据）\n"
    )
    evidence = store_evidence(
        session,
        org_id=org_id,
        actor=Actor(actor.id, actor.name),
        evidence_store=evidence_store,
        filename=f"{number}.txt",
        chunks=iter([text.encode()]),
        max_bytes=64 * 1024,
    )
    assert evidence.id is not None
    return evidence.id


def seed_demo_instruments(
    session: Session,
    *,
    catalog: WorkflowCatalog,
    org_id: int,
    carbon: ActorRef,
    owner_id: int,
    evidence_store: EvidenceStore,
) -> None:
    """The register, unless the organization already has instruments."""
    workflow = catalog.get(WORKFLOW)
    mine = select(Record.id).where(Record.workflow_key == WORKFLOW, Record.org_id == org_id)
    if workflow is None or session.exec(mine).first():
        return
    units = {
        unit.code: unit.id for unit in session.exec(select(OrgUnit).where(OrgUnit.org_id == org_id)).all()
    }
    for row in INSTRUMENTS:
        (
            code,
            name,
            kind,
            facility,
            parameter,
            level,
            item,
            accuracy,
            span,
            months,
            model,
            where,
            calibrations,
        ) = row
        form: dict[str, Any] = {
            "code": code, "name": name, "instrument_type": kind, "facility": units[facility],
            "parameter": parameter, "energy_flow_class": level, "gb17167_item": item,
            "accuracy_class": accuracy,
            "range_lower": str(span[0]), "range_upper": str(span[1]), "range_unit": span[2],
            "calibration_interval_months": str(months), "model": model, "location": where,
            "serial_no": "SN" + code.replace("-", ""), "responsible": owner_id,
        }  # fmt: skip
        record = create_record(session, workflow=workflow, org_id=org_id, actor=carbon, form_data=form)
        assert record.id is not None
        version = record.version
        for day, number, body in calibrations:
            certificate = _certificate(
                session,
                evidence_store=evidence_store,
                org_id=org_id,
                actor=carbon,
                code=code,
                number=number,
                body=body,
                day=day,
            )
            version = fire_transition(
                session,
                record_id=record.id,
                trigger="calibrate",
                actor=carbon,
                form_data={
                    "calibration_date": day,
                    "calibration_result": "pass",
                    "certificate_no": number,
                    "calibrating_body": body,
                    "certificate": certificate,
                },
                expected_version=version,
            ).version

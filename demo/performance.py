"""Demo carbon performance parameters of a Hunan cement plant, defined through the public service."""

from decimal import Decimal

from sqlmodel import Session, select

from engine.audit import Actor
from engine.identity.models import OrgUnit, Product
from engine.planning.models import PerformanceParameter
from engine.planning.performance import add_parameter

DEMO_PARAMETERS = (
    ("CPP-ENT-TOTAL", "企业碳排放总量", "enterprise", None, "total", "tCO2e", "1300000", "1400000"),
    (
        "CPP-ENT-CLK",
        "吨熟料综合碳排放强度",
        "enterprise",
        None,
        "total / production.CLK",
        "tCO2e/t",
        "0.86",
        "0.90",
    ),
    ("CPP-DEP-PROD", "生产技术部碳排放量", "department", "PROD", "unit.PROD", "tCO2e", None, None),
    (
        "CPP-FAC-KILN1",
        "1# 窑吨熟料排放强度",
        "facility",
        "KILN1",
        "unit.KILN1 / production.CLK",
        "tCO2e/t",
        "0.84",
        "0.88",
    ),
    (
        "CPP-PRD-CEM",
        "吨水泥碳排放强度",
        "product",
        "PO425",
        "total / (production.PO425 + production.PC325R)",
        "tCO2e/t",
        None,
        None,
    ),
)


def seed_demo_parameters(session: Session, *, org_id: int, actor: Actor, owner_id: int | None) -> None:
    if session.exec(select(PerformanceParameter.id).where(PerformanceParameter.org_id == org_id)).first():
        return
    units: dict[str | None, int | None] = {
        u.code: u.id for u in session.exec(select(OrgUnit).where(OrgUnit.org_id == org_id)).all()
    }
    products: dict[str | None, int | None] = {
        p.code: p.id for p in session.exec(select(Product).where(Product.org_id == org_id)).all()
    }
    for code, name, level, unit_code, formula, unit, warn, alarm in DEMO_PARAMETERS:
        add_parameter(
            session,
            org_id=org_id,
            actor=actor,
            code=code,
            name=name,
            level=level,
            formula=formula,
            unit=unit,
            org_unit_id=units.get(unit_code),
            product_id=products.get(unit_code),
            owner_id=owner_id,
            threshold_warn=Decimal(warn) if warn else None,
            threshold_alarm=Decimal(alarm) if alarm else None,
        )

"""The demo plant's carbon review of 2025 (6.2.3), through the real transitions: the carbon manager starts it
(the process compiles the sources, their significance and metering), adds three opportunities and the
conclusions, and the general manager approves it with a signature; two opportunities adopted open reduction
projects linked to the review."""

from datetime import date
from typing import Any

from sqlmodel import Session, col, select

from engine.workflow.access import ActorRef
from engine.workflow.catalog import WorkflowCatalog
from engine.workflow.lifecycle import create_record, fire_transition
from engine.workflow.models import Record

WORKFLOW = "carbon_review"
REVIEW_DAY = date(2026, 1, 20)

OPPORTUNITIES: tuple[dict[str, Any], ...] = (
    {
        "description": "1# 窑篦冷机改造（第四代推动棒式），提高二次风温，熟料标煤耗降低 3 kgce/t",
        "source_code": "KILN1-COAL",
        "estimated_reduction": "11800",
        "cost": "680",
        "priority": "high",
        "adopt_as_project": "yes",
    },
    {
        "description": "生料配料中以电石渣替代 5% 石灰石，减少碳酸盐分解排放",
        "source_code": "KILN1-CLINKER",
        "estimated_reduction": "24000",
        "cost": "1200",
        "priority": "medium",
        "adopt_as_project": "yes",
    },
    {
        "description": "生料磨、窑尾高温风机电机变频改造（待 2026 年能源审计后决定）",
        "source_code": "PLANT-ELEC",
        "estimated_reduction": "3600",
        "cost": "450",
        "priority": "low",
        "adopt_as_project": "no",
    },
)


def seed_demo_carbon_review(
    session: Session, *, catalog: WorkflowCatalog, org_id: int, people: dict[str, ActorRef]
) -> None:
    """Skips itself when the organization has a carbon review already."""
    workflow = catalog.get(WORKFLOW)
    mine = select(Record.id).where(col(Record.workflow_key) == WORKFLOW, col(Record.org_id) == org_id)
    if workflow is None or session.exec(mine).first():
        return
    carbon, gm = people["carbon_manager"], people["top_management"]
    review = create_record(
        session,
        workflow=workflow,
        org_id=org_id,
        actor=carbon,
        form_data={
            "title": "2025 年度碳评审",
            "review_year": 2025,
            "review_kind": "periodic",
            "review_scope": ("湘潭生产厂区与石灰石矿山：1# 熟料线、水泥粉磨站、余热电站、矿山移动设备"),
        },
        today=REVIEW_DAY,
    )
    assert review.id is not None
    session.refresh(review)
    version = fire_transition(
        session,
        record_id=review.id,
        trigger="submit_carbon_review",
        actor=carbon,
        form_data={
            "opportunities": [{**row, "owner": people["process_owner"].id} for row in OPPORTUNITIES],
            "metering_conclusion": "重要排放源的活动数据均有在用计量器具；入窑煤皮带秤与关口电能表准确度满足 "
            "GB 17167 表3，检定有效。熟料产量以皮带秤计量并以盘库校核。",
            "conclusions": "熟料生产过程排放与入窑煤燃烧合计约占总排放的九成，为本年度重要排放源；"
            "两项减排机会立项实施，外购电力保持监视。建议为外购电力设立专门的碳绩效参数。",
        },
        expected_version=review.version,
        today=REVIEW_DAY,
    ).version
    fire_transition(
        session,
        record_id=review.id,
        trigger="approve_carbon_review",
        actor=gm,
        form_data={},
        expected_version=version,
        password_verified=True,  # seeding signs on the demo users' behalf
        today=REVIEW_DAY,
    )

"""Computed values (ADR 0010): a workflow may name a hook that computes values from a record's data
whenever the record is written — on create and on every transition — and they are stored in the record's
data beside the submitted fields, so they are audited, listed, filtered and exported like any other field."""

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from engine.workflow.loader import Workflow
from engine.workflow.registry import COMPUTED, ComputeContext

CHINA_TIME = ZoneInfo("Asia/Shanghai")


def china_today() -> date:
    """Today in China, the day a record is written on unless the caller says otherwise."""
    return datetime.now(CHINA_TIME).date()


def with_computed(
    workflow: Workflow,
    *,
    data: dict[str, Any],
    submitted: dict[str, Any],
    state: str,
    trigger: str,
    today: date,
) -> dict[str, Any]:
    """``data`` with the workflow's computed values (if it declares a hook) written over it. A hook may
    return only the fields its form declares; anything else is a programming error."""
    spec = workflow.spec.computed
    if spec is None:
        return data
    values = COMPUTED[spec.hook](
        ComputeContext(data=data, submitted=submitted, state=state, trigger=trigger, today=today)
    )
    declared = {field.name for field in workflow.forms[spec.form].fields}
    unknown = sorted(set(values) - declared)
    if unknown:
        raise RuntimeError(f"computed hook {spec.hook!r} returned undeclared fields {unknown}")
    merged = {**data, **values}
    return {key: value for key, value in merged.items() if value is not None}

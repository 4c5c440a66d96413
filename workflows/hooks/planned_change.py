"""6.4 planning of changes: a change of static factors names the baseline adjustment it calls for
(GB/T 23331: the baseline is adjusted when static factors change), before it goes for approval."""

from engine.forms.spec import Text
from engine.workflow.registry import GuardContext, declare_names, guard

WORKFLOW = "planned_change"
OPEN_STATES = ("proposed", "assessing", "awaiting_approval", "implementing", "post_review")
declare_names(WORKFLOW, states=OPEN_STATES)


@guard("baseline_adjustment_named")
def baseline_adjustment_named(context: GuardContext) -> Text | None:
    if context.record_data.get("static_factor_change") != "yes":
        return None
    if str(context.record_data.get("baseline_adjustment") or "").strip():
        return None
    return Text(
        zh="变更改变静态因素时，须填写“基准调整”（基准名称与调整说明）",
        en="A change of static factors must name its baseline adjustment (the baseline and the reason)",
    )

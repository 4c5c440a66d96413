"""10.1 nonconformity and corrective action: the guards its workflow file names. Each guard returns None
when it passes, or the reason in both languages."""

from engine.forms.spec import Text
from engine.workflow.registry import GuardContext, guard


@guard("all_actions_done")
def all_actions_done(context: GuardContext) -> Text | None:
    actions = context.record_data.get("actions") or []
    if not actions:
        return Text(zh="尚未策划纠正措施", en="No corrective actions are planned")
    open_rows = [str(i + 1) for i, row in enumerate(actions) if row.get("status") != "done"]
    if open_rows:
        return Text(
            zh=f"纠正措施第 {'、'.join(open_rows)} 项尚未完成",
            en=f"Corrective action(s) {', '.join(open_rows)} are not done",
        )
    return None


@guard("effective_result")
def effective_result(context: GuardContext) -> Text | None:
    if context.form_data.get("result") != "effective":
        return Text(
            zh="验证结论不是“有效”，请选择“措施无效”重新策划",
            en="The review did not find the actions effective; use “Ineffective” to plan again",
        )
    return None


@guard("ineffective_result")
def ineffective_result(context: GuardContext) -> Text | None:
    if context.form_data.get("result") != "ineffective":
        return Text(
            zh="验证结论为“有效”，请使用“验证有效并关闭”",
            en="The review found the actions effective; use “Verified effective, close”",
        )
    return None

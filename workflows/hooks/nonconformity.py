"""10.1 nonconformity and corrective action: the guards its workflow file names (each returns None when it
passes, or the reason in both languages), and the policy that reports an anomaly as a nonconformity."""

from sqlmodel import Session

from engine.dqcp.anomalies import AnomalyFound
from engine.events import policy
from engine.forms.spec import Text
from engine.workflow.access import ActorRef
from engine.workflow.lifecycle import create_record, process_context
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


# An anomaly the monitoring finds (engine.dqcp.anomalies) is reported as a nonconformity, in the name of
# whoever is responsible for what it concerns, linked to that record, in the transaction that found it.
WORKFLOW = "nonconformity"
MONITORING = "monitoring"  # a choice of the report form's source


@policy(AnomalyFound)
def report_the_anomaly(event: AnomalyFound, session: Session) -> None:
    anomaly = event.anomaly
    workflow = process_context(session).catalog.get(WORKFLOW)
    if workflow is None or anomaly.reporter_id is None:
        return
    reporter = ActorRef(
        id=anomaly.reporter_id,
        name="系统自动监测",
        roles=frozenset(workflow.spec.start.roles[:1]),  # reported by the system, on the person's behalf
    )
    data = {
        "title": anomaly.title.zh[:200],
        "source": MONITORING,
        "description": f"{anomaly.description.zh}\n{anomaly.description.en}",
        "found_on": event.found_on.isoformat(),
        "org_unit": anomaly.org_unit_id,
        "related_record": anomaly.linked_record_id,
    }
    record = create_record(
        session,
        workflow=workflow,
        org_id=event.org_id,
        actor=reporter,
        form_data={key: value for key, value in data.items() if value is not None},
        today=event.found_on,
    )
    assert record.id is not None
    event.opened.append(record.id)

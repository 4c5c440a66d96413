"""6.4 planned changes as a Hypothesis state machine over the JSON API (tests/web/planning_stateful.py):
eight states, top management's signature, the proposer who may not approve, the implementer who may not
review, and the guard that asks a change of static factors for its baseline adjustment."""

from typing import Any

from tests.web.planning_stateful import Process, Shadow, run


def _guard(trigger: str, data: dict[str, Any]) -> bool:
    return (
        trigger == "submit_assessment"
        and data.get("static_factor_change") == "yes"
        and not str(data.get("baseline_adjustment") or "").strip()
    )


def _separated(trigger: str, shadow: Shadow, actor_id: int) -> bool:
    if trigger == "approve_change":
        return actor_id == shadow.creator
    if trigger == "close_change":
        return actor_id in shadow.actors_of.get("report_implemented", set())
    return False


def test_planned_change_state_machine(web):
    ctx = run(web, Process(key="planned_change", guard_refuses=_guard, separated=_separated))
    assert ctx.outcomes["ok"] > 0 and sum(ctx.outcomes.values()) > ctx.outcomes["ok"]

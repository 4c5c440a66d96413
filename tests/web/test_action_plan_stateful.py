"""6.3 action plans (planned → in progress → done / cancelled, and back to planned when revised) as a
Hypothesis state machine over the JSON API (tests/web/planning_stateful.py)."""

from tests.web.planning_stateful import Process, run


def test_action_plan_state_machine(web):
    ctx = run(web, Process(key="action_plan", guard_refuses=lambda *_: False, separated=lambda *_: False))
    assert ctx.outcomes["ok"] > 0 and sum(ctx.outcomes.values()) > ctx.outcomes["ok"]

"""5.1 / 5.3 Roles, responsibilities and authorities, computed rather than written: who may start each
process, fire each of its transitions (and sign), and owns its open states, read from the workflow files in
force; and who holds each role, read from the memberships. The page and the controlled docx show the same."""

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from engine.forms.spec import Text
from engine.identity.models import Role
from engine.workflow.loader import Workflow


class Duty(StrEnum):
    """What a role does in a process, in the matrix's order: 发起 starts it, 负责 owns an open state (its
    tasks), 办理 fires a transition, 批准 fires one with an e-signature."""

    start = "starts"
    own = "owns"
    act = "acts"
    sign = "approves"


DUTY_LABELS = {
    Duty.start: Text(zh="发起", en="Starts"),
    Duty.own: Text(zh="负责", en="Owns"),
    Duty.act: Text(zh="办理", en="Acts"),
    Duty.sign: Text(zh="批准", en="Approves"),
}


@dataclass(frozen=True)
class Step:
    """One thing that can be done in a process, and the roles that may do it."""

    label: Text
    duty: Duty
    roles: frozenset[str]
    source: tuple[Text, ...] = ()
    dest: Text | None = None
    signature: Text | None = None


@dataclass(frozen=True)
class ProcessDuties:
    key: str
    title: Text
    clause: str
    steps: tuple[Step, ...]

    def duties_of(self, role: str) -> list[Duty]:
        """The duties a role holds in this process, in the matrix's order."""
        held = {step.duty for step in self.steps if role in step.roles}
        return [duty for duty in Duty if duty in held]


def process_duties(workflow: Workflow) -> ProcessDuties:
    spec = workflow.spec
    steps: list[Step] = []
    if spec.start.roles:
        steps.append(
            Step(
                label=Text(zh="创建记录", en="Create a record"),
                duty=Duty.start,
                roles=frozenset(spec.start.roles),
                dest=spec.state(spec.initial).label,
            )
        )
    for name, state in spec.states.items():
        if state.owner_role and not state.final:
            steps.append(
                Step(
                    label=Text(zh=f"处理“{state.label.zh}”的待办", en=f"Tasks while {state.label.en}"),
                    duty=Duty.own,
                    roles=frozenset({state.owner_role}),
                    source=(spec.state(name).label,),
                )
            )
    for transition in spec.transitions:
        signature = workflow.signature_meaning(transition.signature) if transition.signature else None
        steps.append(
            Step(
                label=transition.label,
                duty=Duty.sign if signature else Duty.act,
                roles=frozenset(transition.roles),
                source=tuple(spec.state(s).label for s in transition.source if s in spec.states),
                dest=spec.state(transition.dest).label if transition.dest in spec.states else None,
                signature=signature,
            )
        )
    return ProcessDuties(key=spec.key, title=spec.title, clause=spec.clause, steps=tuple(steps))


def _clause_key(clause: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in clause.split("."))


def responsibility_matrix(workflows: Iterable[Workflow]) -> list[ProcessDuties]:
    """Every process, by clause."""
    return sorted((process_duties(w) for w in workflows), key=lambda p: (_clause_key(p.clause), p.key))


ROLES_IN_ORDER = tuple(role.value for role in Role)


def holders(members: Iterable[tuple[str, Iterable[str]]]) -> dict[str, list[str]]:
    """The names of the members holding each role, from (name, roles) pairs."""
    found: dict[str, list[str]] = {role: [] for role in ROLES_IN_ORDER}
    for name, roles in members:
        for role in roles:
            found.setdefault(role, []).append(name)
    return found

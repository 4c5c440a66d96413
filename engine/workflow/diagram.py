"""A workflow as a Mermaid state diagram, the current state highlighted."""

from engine.workflow.spec import WorkflowSpec


def mermaid(spec: WorkflowSpec, *, locale: str = "zh_CN", current: str | None = None) -> str:
    lines = ["stateDiagram-v2"]
    for name, state in spec.states.items():
        lines.append(f'    state "{state.label.get(locale)}" as {name}')
    lines.append(f"    [*] --> {spec.initial}")
    for transition in spec.transitions:
        for source in transition.source:
            lines.append(f"    {source} --> {transition.dest}: {transition.label.get(locale)}")
    for name, state in spec.states.items():
        if state.final:
            lines.append(f"    {name} --> [*]")
    if current:
        lines.append("    classDef current fill:#0f7b5f,color:#fff,font-weight:bold")
        lines.append(f"    class {current} current")
    return "\n".join(lines)

"""The workflow catalogue over the API: every process the installation runs, with its states, the
transitions and who may fire them, what a signature means, and each form as JSON Schema, so that an
integrator can drive any process through /api/v1/records without reading the YAML."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel

from engine.forms.json_schema import form_json_schema
from engine.identity.models import TokenScope
from engine.workflow.loader import Workflow
from web.deps import Member, needs_scope, workflow_or_404

router = APIRouter(prefix="/api/v1/workflows", tags=["workflows"])
READ = needs_scope(TokenScope.read)
WorkflowKey = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]


class Label(BaseModel):
    zh: str
    en: str


class WorkflowSummary(BaseModel):
    key: str
    version: int
    title: Label
    clause: str
    start_kind: str
    start_roles: list[str]
    start_form: str


class StateOut(BaseModel):
    key: str
    label: Label
    final: bool
    owner_role: str | None
    due_days: int | None


class TransitionSpecOut(BaseModel):
    trigger: str
    label: Label
    source: list[str]
    dest: str
    roles: list[str]
    form: str | None
    required: list[str]
    comment_required: bool
    signature: str | None
    signature_meaning: Label | None


class WorkflowOut(WorkflowSummary):
    numbering: str
    initial: str
    states: list[StateOut]
    transitions: list[TransitionSpecOut]
    signature_meanings: dict[str, Label]
    forms: dict[str, dict[str, Any]]
    computed_form: str | None
    list_columns: list[str]


def _summary(workflow: Workflow) -> dict[str, Any]:
    spec = workflow.spec
    return {
        "key": spec.key,
        "version": spec.version,
        "title": spec.title.model_dump(),
        "clause": spec.clause,
        "start_kind": spec.start.kind.value,
        "start_roles": list(spec.start.roles),
        "start_form": spec.start.form,
    }


@router.get("", dependencies=[READ])
def list_workflows(request: Request, principal: Member) -> list[WorkflowSummary]:
    catalog = request.app.state.catalog.current
    return [
        WorkflowSummary(**_summary(w)) for w in sorted(catalog.values(), key=lambda w: (w.spec.clause, w.key))
    ]


@router.get("/{workflow_key}", dependencies=[READ], responses={404: {}})
def get_workflow(request: Request, principal: Member, workflow_key: WorkflowKey) -> WorkflowOut:
    """The process as the engine runs it; ``forms`` maps each form's key to its JSON Schema (the
    ``data`` of POST /api/v1/records and of a transition that names the form)."""
    workflow = workflow_or_404(request, workflow_key)
    spec = workflow.spec
    return WorkflowOut(
        **_summary(workflow),
        numbering=spec.numbering,
        initial=spec.initial,
        states=[
            StateOut(
                key=key,
                label=Label(**state.label.model_dump()),
                final=state.final,
                owner_role=state.owner_role,
                due_days=state.due_days,
            )
            for key, state in spec.states.items()
        ],
        transitions=[
            TransitionSpecOut(
                trigger=t.trigger,
                label=Label(**t.label.model_dump()),
                source=list(t.source),
                dest=t.dest,
                roles=list(t.roles),
                form=t.form,
                required=list(t.required),
                comment_required=t.comment_required,
                signature=t.signature,
                signature_meaning=Label(**workflow.signature_meaning(t.signature).model_dump())
                if t.signature
                else None,
            )
            for t in spec.transitions
        ],
        signature_meanings={key: Label(**text.model_dump()) for key, text in spec.signature_meanings.items()},
        forms={form.key: form_json_schema(form) for form in workflow.forms_in_order},
        computed_form=spec.computed.form if spec.computed else None,
        list_columns=list(spec.listing.columns),
    )

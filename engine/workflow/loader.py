"""Load and statically validate workflow and form files. Any problem refuses the whole set, with a
message naming the file and the problem."""

import copy
import hashlib
import importlib
import re
from collections import deque
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from transitions import Machine

from engine.audit import canonical_json
from engine.events import POLICY_MODULES
from engine.forms.spec import FieldSpec, FieldType, FormSpec, Text
from engine.identity.models import Role
from engine.workflow.registry import ACTIONS, COMPUTED, DECLARED_NAMES, GUARDS, START_CONDITIONS
from engine.workflow.spec import StartKind, StateSpec, WorkflowSpec

try:
    from yaml import CSafeLoader as _FastSafeLoader
except ImportError:  # PyYAML built without libyaml
    from yaml import SafeLoader as _FastSafeLoader  # type: ignore[assignment]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS_DIR = PROJECT_ROOT / "workflows"
FORMS_DIR = PROJECT_ROOT / "forms"
HOOKS_MODULE = POLICY_MODULES[0]  # guards, actions and policies of every process
ROLES = {role.value for role in Role}


class WorkflowFileError(ValueError):
    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path.name}: {problem}")
        self.path = path
        self.problem = problem


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML silently keeps the last of two equal keys; a workflow file must not."""


class _FastUniqueKeyLoader(_FastSafeLoader):
    """The same with libyaml's parser: the same data, the catalog read in an eighth of the time (0.1 s);
    its error messages do not quote the line, so a file it refuses is read again by the one above."""


def _construct_mapping(
    loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False
) -> dict[Any, Any]:
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_FastUniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_yaml(path: Path) -> dict[str, Any]:
    raw = path.read_bytes()
    try:
        data = yaml.load(raw, Loader=_FastUniqueKeyLoader)  # noqa: S506 (a CSafeLoader subclass)
    except yaml.YAMLError:
        try:
            data = yaml.load(raw, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
        except yaml.YAMLError as exc:
            raise WorkflowFileError(path, f"not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise WorkflowFileError(path, "the file must hold a mapping")
    return data


def _pydantic_problem(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" + (
        f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    )


@dataclass
class Workflow:
    """A validated workflow with its forms and its compiled state machine."""

    spec: WorkflowSpec
    forms: dict[str, FormSpec]
    machine: Machine = field(repr=False)

    @property
    def stored_spec(self) -> dict[str, Any]:
        """What is pinned for records: the workflow and the forms it uses, normalized."""
        return {
            "workflow": _without_later_defaults(self.spec.model_dump(mode="json", by_alias=True)),
            "forms": {
                name: _without_later_defaults(form.model_dump(mode="json"))
                for name, form in sorted(self.forms.items())
            },
        }

    @property
    def sha256(self) -> str:
        # Over the parsed content, so comments and layout may change without a version bump.
        return hashlib.sha256(canonical_json(self.stored_spec).encode()).hexdigest()

    @property
    def key(self) -> str:
        return self.spec.key

    @cached_property
    def clause_fields(self) -> tuple[str, ...]:
        """The top-level fields of its forms that name a clause of the standard."""
        return tuple(
            sorted(
                {f.name for form in self.forms.values() for f in form.fields if f.type == FieldType.clause}
            )
        )

    def clause_refs(self, data: dict[str, Any]) -> list[str]:
        """The clauses a record concerns: the workflow's own, then those its data names."""
        named = [data[name] for name in self.clause_fields if isinstance(data.get(name), str) and data[name]]
        return list(dict.fromkeys([self.spec.clause, *named]))

    @cached_property
    def row_task_tables(self) -> tuple[FieldSpec, ...]:
        """The tables of its forms whose rows are tasks (each once, by name)."""
        found = {f.name: f for form in self.forms.values() for f in form.fields if f.row_tasks}
        return tuple(found.values())

    @cached_property
    def has_evidence(self) -> bool:
        """Whether its forms take evidence files (in a field or a table's column)."""
        return any(
            f.type == FieldType.evidence or any(c.type == FieldType.evidence for c in f.columns)
            for form in self.forms.values()
            for f in form.fields
        )

    def signature_meaning(self, meaning: str) -> Text:
        """The declared label of a signature meaning (the key itself only for a file that declared none)."""
        return self.spec.signature_meanings.get(meaning) or Text(zh=meaning, en=meaning)

    @property
    def create_form(self) -> FormSpec:
        return self.forms[self.spec.start.form]

    @property
    def forms_in_order(self) -> list[FormSpec]:
        """The start form, then each transition's form in the order of the file, each once; the form of
        its computed values last."""
        names = [self.spec.start.form] + [t.form for t in self.spec.transitions if t.form]
        if self.spec.computed:
            names.append(self.spec.computed.form)
        return [self.forms[name] for name in dict.fromkeys(names)]

    def field(self, name: str) -> FieldSpec | None:
        """The top-level field of that name in its forms (the first form that has it)."""
        return next((f for form in self.forms_in_order if (f := form.field(name))), None)

    @cached_property
    def list_columns(self) -> tuple[FieldSpec, ...]:
        """The fields the record list shows as columns (``list: {columns: […]}``)."""
        return tuple(f for name in self.spec.listing.columns if (f := self.field(name)))


# Options added after workflows were first stored: left out of the stored spec while they hold their
# default, so that the files written before them keep their sha256 (and their version).
_LATER_DEFAULTS: dict[str, Any] = {
    "unique": False, "computed": None, "list": {"columns": []}, "records_of": None,
}  # fmt: skip


def _without_later_defaults(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: _without_later_defaults(item)
            for key, item in value.items()
            if not (key in _LATER_DEFAULTS and item == _LATER_DEFAULTS[key])
        }
    if isinstance(value, list):
        return [_without_later_defaults(item) for item in value]
    return value


def load_forms(directory: Path = FORMS_DIR) -> dict[str, FormSpec]:
    forms: dict[str, FormSpec] = {}
    for path in sorted(directory.glob("*.yaml")):
        data = _read_yaml(path)
        try:
            form = FormSpec.model_validate(data)
            form.check()
        except ValidationError as error:
            raise WorkflowFileError(path, _pydantic_problem(error)) from None
        except ValueError as error:
            raise WorkflowFileError(path, str(error)) from None
        if form.key != path.stem:
            raise WorkflowFileError(path, f"key {form.key!r} must match the file name {path.stem!r}")
        forms[form.key] = form
    return forms


def compile_machine(spec: WorkflowSpec) -> Machine:
    # transitions mutates the dicts it is given, and rejects keys it does not know: pass fresh minimal ones.
    config: dict[str, Any] = copy.deepcopy(
        {
            "states": list(spec.states),
            "transitions": [
                {"trigger": t.trigger, "source": list(t.source), "dest": t.dest} for t in spec.transitions
            ],
            "initial": spec.initial,
        }
    )
    return Machine(
        model=None,
        auto_transitions=False,
        send_event=False,
        states=config["states"],
        transitions=config["transitions"],
        initial=config["initial"],
    )


def _field_exists(forms: dict[str, FormSpec], dotted: str) -> bool:
    head, _, column = dotted.partition(".")
    for form in forms.values():
        spec = form.field(head)
        if spec and (
            not column or (spec.type == FieldType.table and any(c.name == column for c in spec.columns))
        ):
            return True
    return False


def validate_workflow(spec: WorkflowSpec, forms: dict[str, FormSpec]) -> list[str]:
    """Every problem of one workflow, in words."""
    problems: list[str] = []
    states = spec.states
    if spec.initial not in states:
        problems.append(f"initial state {spec.initial!r} is not declared")
    seen_pairs = set()
    for transition in spec.transitions:
        for source in transition.source:
            if (transition.trigger, source) in seen_pairs:
                problems.append(f"trigger {transition.trigger!r} is declared twice from {source!r}")
            seen_pairs.add((transition.trigger, source))
            if source not in states:
                problems.append(f"transition {transition.trigger!r}: unknown source state {source!r}")
        if transition.dest not in states:
            problems.append(
                f"transition {transition.trigger!r}: unknown destination state {transition.dest!r}"
            )
        for role in transition.roles:
            if role not in ROLES:
                problems.append(f"transition {transition.trigger!r}: unknown role {role!r}")
        if transition.form and transition.form not in forms:
            problems.append(f"transition {transition.trigger!r}: unknown form {transition.form!r}")
        form = forms.get(transition.form) if transition.form else None
        for name in transition.required:
            if form is None or form.field(name) is None:
                problems.append(
                    f"transition {transition.trigger!r}: required field {name!r} is not in its form"
                )
        if transition.signature and transition.signature not in spec.signature_meanings:
            problems.append(
                f"transition {transition.trigger!r}: signature meaning {transition.signature!r} "
                "is not declared in signature_meanings"
            )
        for name in transition.guards:
            if name not in GUARDS:
                problems.append(f"transition {transition.trigger!r}: unknown guard {name!r}")
        for name in transition.actions:
            if name not in ACTIONS:
                problems.append(f"transition {transition.trigger!r}: unknown action {name!r}")
        triggers = {t.trigger for t in spec.transitions} | {"create"}  # create: who made or fed the record
        for rule in transition.separation:
            for trigger in rule.not_actors_of:
                if trigger not in triggers:
                    problems.append(
                        f"transition {transition.trigger!r}: separation names unknown trigger {trigger!r}"
                    )
            for dotted in rule.not_users_in:
                if not _field_exists(forms, dotted):
                    problems.append(
                        f"transition {transition.trigger!r}: separation names unknown field {dotted!r}"
                    )
    for name, state in states.items():
        if state.owner_role and state.owner_role not in ROLES:
            problems.append(f"state {name!r}: unknown owner role {state.owner_role!r}")
        if state.escalation and state.escalation.to_role not in ROLES:
            problems.append(f"state {name!r}: unknown escalation role {state.escalation.to_role!r}")
        problems.extend(_ladder_problems(name, state))
        outgoing = spec.transitions_from(name)
        if not state.final and not outgoing:
            problems.append(f"state {name!r} is not final and has no way out")
    reachable, queue = {spec.initial}, deque([spec.initial])
    while queue:
        for transition in spec.transitions_from(queue.popleft()):
            if transition.dest not in reachable:
                reachable.add(transition.dest)
                queue.append(transition.dest)
    for name in states:
        if name not in reachable:
            problems.append(f"state {name!r} cannot be reached from {spec.initial!r}")
    if spec.start.form not in forms:
        problems.append(f"start form {spec.start.form!r} is not defined")
    else:
        start_fields = {f.name: f.type for f in forms[spec.start.form].fields}
        wanted = {"title": None, "assignee": FieldType.user, "due_date": FieldType.date}
        for column, kind in wanted.items():
            name = getattr(spec.start.record, column)
            if name is not None and (name not in start_fields or (kind and start_fields[name] != kind)):
                problems.append(f"start.record.{column}: the start form has no {kind or 'field'} {name!r}")
    problems.extend(_computed_and_list_problems(spec, forms))
    for role in spec.start.roles:
        if role not in ROLES:
            problems.append(f"start: unknown role {role!r}")
    if spec.start.kind == StartKind.event and not re.fullmatch(
        r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*", spec.start.event or ""
    ):
        problems.append("start: an event start needs 'event: <workflow key>.<trigger>' (or '.create')")
    problems.extend(_schedule_problems(spec, forms))
    try:
        format_number(spec.numbering, year=2026, seq=1)
    except (KeyError, ValueError, IndexError) as exc:
        problems.append(f"numbering pattern {spec.numbering!r} is not valid: {exc}")
    return problems


def _ladder_problems(name: str, state: StateSpec) -> list[str]:
    problems = []
    if state.reminders and state.due_days is None:
        problems.append(f"state {name!r}: reminders count from the due date, so the state needs due_days")
    for rung in state.reminders:
        if rung.to_role is not None and rung.to_role not in ROLES:
            problems.append(f"state {name!r}: reminder to unknown role {rung.to_role!r}")
        if rung.to == "owner_role" and state.owner_role is None:
            problems.append(f"state {name!r}: a reminder goes to the owner role, but the state has none")
    offsets = [rung.offset_days for rung in state.ladder]
    if len(set(offsets)) != len(offsets):
        problems.append(f"state {name!r}: two reminders fall on the same day (one rung per day)")
    return problems


def _schedule_problems(spec: WorkflowSpec, forms: dict[str, FormSpec]) -> list[str]:
    """A scheduled start needs a valid rule; a schedule on another kind of start is an error."""
    schedule = spec.start.schedule
    if spec.start.kind != StartKind.schedule:
        return ["start: 'schedule' is only read when 'kind: schedule'"] if schedule is not None else []
    if schedule is None:
        return [
            "start: a scheduled start needs 'schedule:' — a cron rule such as '0 9 1 * *' "
            "(09:00 China time on the 1st of each month) or {every_months: N} (N months after the last "
            "record was closed)"
        ]
    problems = []
    if schedule.cron is not None:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(schedule.cron)
        except ValueError as exc:
            problems.append(
                f"start.schedule: {schedule.cron!r} is not a cron rule of five fields "
                f"(minute hour day month weekday): {exc}"
            )
    if schedule.only_if is not None and schedule.only_if not in START_CONDITIONS:
        problems.append(f"start.schedule.only_if: unknown condition {schedule.only_if!r}")
    form = forms.get(spec.start.form)
    for name in schedule.data:
        if form is not None and form.field(name) is None:
            problems.append(f"start.schedule.data: the start form has no field {name!r}")
    return problems


def _computed_and_list_problems(spec: WorkflowSpec, forms: dict[str, FormSpec]) -> list[str]:
    problems: list[str] = []
    used = [spec.start.form, *(t.form for t in spec.transitions if t.form)]
    if spec.computed:
        if spec.computed.hook not in COMPUTED:
            problems.append(f"computed: unknown hook {spec.computed.hook!r}")
        if spec.computed.form not in forms:
            problems.append(f"computed: unknown form {spec.computed.form!r}")
        elif spec.computed.form in used:
            problems.append(f"computed: form {spec.computed.form!r} is also a form people post")
        used.append(spec.computed.form)
    mine = {name: forms[name] for name in used if name and name in forms}
    for name in spec.listing.columns:
        if "." in name or not _field_exists(mine, name):
            problems.append(f"list: column {name!r} is not a field of the workflow's forms")
    return problems


def format_number(pattern: str, *, year: int, seq: int) -> str:
    if not re.search(r"\{seq(:[^}]*)?\}", pattern):
        raise ValueError("it must contain {seq}")
    return pattern.format(year=year, seq=seq)


def load_workflows(workflows_dir: Path = WORKFLOWS_DIR, forms_dir: Path = FORMS_DIR) -> dict[str, Workflow]:
    """Every workflow file, validated, by key; raises WorkflowFileError on the first bad file."""
    importlib.import_module(HOOKS_MODULE)  # registers the guards and actions the files may name
    forms = load_forms(forms_dir)
    workflows: dict[str, Workflow] = {}
    paths: dict[str, Path] = {}
    for path in sorted(workflows_dir.glob("*.yaml")):
        data = _read_yaml(path)
        try:
            spec = WorkflowSpec.model_validate(data)
        except ValidationError as error:
            raise WorkflowFileError(path, _pydantic_problem(error)) from None
        problems = validate_workflow(spec, forms)
        if problems:
            raise WorkflowFileError(path, "; ".join(problems))
        if spec.key in workflows:
            raise WorkflowFileError(path, f"workflow key {spec.key!r} is used by another file")
        used_forms = {spec.start.form} | {t.form for t in spec.transitions if t.form}
        if spec.computed:
            used_forms.add(spec.computed.form)
        paths[spec.key] = path
        workflows[spec.key] = Workflow(
            spec=spec, forms={name: forms[name] for name in used_forms}, machine=compile_machine(spec)
        )
    for key, workflow in workflows.items():
        problem = _unknown_start_event(workflow.spec, workflows)
        if problem:
            raise WorkflowFileError(paths[key], problem)
    _check_declared_names(workflows, paths, workflows_dir)
    return workflows


def _check_declared_names(workflows: dict[str, "Workflow"], paths: dict[str, Path], directory: Path) -> None:
    """Every state and trigger a hooks module names exists in that workflow's file."""
    for key, declared in DECLARED_NAMES.items():
        workflow = workflows.get(key)
        if workflow is None:
            if directory == WORKFLOWS_DIR:
                raise WorkflowFileError(directory / f"{key}.yaml", "named by a hooks module but not found")
            continue  # a test's own directory of workflows need not hold the project's processes
        states = set(workflow.spec.states)
        triggers = {t.trigger for t in workflow.spec.transitions}
        missing = sorted(declared.states - states) + sorted(declared.triggers - triggers)
        if missing:
            raise WorkflowFileError(
                paths[key], f"the hooks module names {', '.join(missing)}, not in the file"
            )


def _unknown_start_event(spec: WorkflowSpec, workflows: dict[str, "Workflow"]) -> str | None:
    """An event start names an event some workflow raises: ``<key>.create`` or ``<key>.<trigger>``."""
    if spec.start.kind != StartKind.event:
        return None
    key, _, trigger = (spec.start.event or "").partition(".")
    source = workflows.get(key)
    if source is None:
        return f"start: event {spec.start.event!r} names no workflow"
    if trigger != "create" and all(t.trigger != trigger for t in source.spec.transitions):
        return f"start: workflow {key!r} has no trigger {trigger!r}"
    return None


def workflow_from_stored(stored: dict[str, Any]) -> Workflow:
    """Rebuild a pinned older version from its stored spec."""
    spec = WorkflowSpec.model_validate(stored["workflow"])
    forms = {name: FormSpec.model_validate(form) for name, form in stored["forms"].items()}
    return Workflow(spec=spec, forms=forms, machine=compile_machine(spec))

"""Workflow and form files are validated statically; a bad file is refused, naming it and the problem."""

import shutil
import threading
import time
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text
from sqlmodel import select

from engine.workflow.catalog import WorkflowCatalog
from engine.workflow.loader import FORMS_DIR, WORKFLOWS_DIR, WorkflowFileError, load_workflows
from engine.workflow.models import WorkflowDefinition

NC = WORKFLOWS_DIR / "nonconformity.yaml"
CURRENT = yaml.safe_load(NC.read_text())["version"]


@pytest.fixture
def files(tmp_path) -> tuple[Path, Path]:
    workflows, forms = tmp_path / "workflows", tmp_path / "forms"
    shutil.copytree(WORKFLOWS_DIR, workflows, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    shutil.copytree(FORMS_DIR, forms, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return workflows, forms


def edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


def refused(files) -> str:
    with pytest.raises(WorkflowFileError) as error:
        load_workflows(*files)
    return str(error.value)


def test_the_shipped_files_are_valid():
    workflows = load_workflows()
    assert "nonconformity" in workflows
    spec = workflows["nonconformity"].spec
    assert spec.clause == "10.1" and spec.states["closed"].final


CASES = [
    (
        "unreachable state",
        lambda d: d["states"].update(limbo={"label": {"zh": "悬", "en": "Limbo"}, "final": True}),
        "state 'limbo' cannot be reached",
    ),
    (
        "dead end",
        lambda d: d["transitions"].__setitem__(
            slice(None), [t for t in d["transitions"] if t["trigger"] != "complete"]
        ),
        "state 'implementing' is not final and has no way out",
    ),
    ("unknown role", lambda d: d["transitions"][0].__setitem__("roles", ["wizard"]), "unknown role 'wizard'"),
    ("unknown guard", lambda d: d["transitions"][0].__setitem__("guards", ["moon_is_full"]), "unknown guard"),
    (
        "unknown form",
        lambda d: d["transitions"][0].__setitem__("form", "nc_missing"),
        "unknown form 'nc_missing'",
    ),
    (
        "required field not in form",
        lambda d: d["transitions"][0].__setitem__("required", ["colour"]),
        "required field 'colour' is not in its form",
    ),
    (
        "unknown destination",
        lambda d: d["transitions"][0].__setitem__("dest", "nowhere"),
        "unknown destination state 'nowhere'",
    ),
    ("duplicate trigger", lambda d: d["transitions"].append(dict(d["transitions"][0])), "declared twice"),
    ("bad numbering", lambda d: d.__setitem__("numbering", "NC-{year}"), "numbering pattern"),
    (
        "undeclared signature meaning",
        lambda d: d["transitions"][0].__setitem__("signature", "notarised"),
        "signature meaning 'notarised' is not declared in signature_meanings",
    ),
    ("unknown key", lambda d: d.__setitem__("colour", "red"), "colour"),
    (
        "separation names unknown field",
        lambda d: d["transitions"][6]["separation"][0].__setitem__("not_users_in", ["actions.nobody"]),
        "unknown field 'actions.nobody'",
    ),
]


@pytest.mark.parametrize(("case", "change", "message"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_workflow_file_is_refused_naming_file_and_problem(files, case, change, message):
    edit(files[0] / "nonconformity.yaml", change)
    problem = refused(files)
    assert problem.startswith("nonconformity.yaml: ") and message in problem


def test_duplicate_yaml_keys_are_refused(files):
    path = files[0] / "nonconformity.yaml"
    path.write_text(path.read_text() + "\nversion: 2\n")
    assert "duplicate key 'version'" in refused(files)


def test_yaml_that_does_not_parse_is_refused_quoting_the_line(files):
    """libyaml reads the files; a file it refuses is read again by PyYAML, whose message shows the line."""
    path = files[0] / "nonconformity.yaml"
    path.write_text(path.read_text() + "\nbroken: [1, 2\n")
    problem = refused(files)
    assert problem.startswith("nonconformity.yaml: not valid YAML") and "broken: [1, 2" in problem


def test_a_form_field_cannot_be_a_protected_attribute(files):
    edit(
        files[1] / "nc_assessment.yaml",
        lambda d: d["fields"].append(
            {"name": "state", "type": "text", "label": {"zh": "状态", "en": "State"}}
        ),
    )
    problem = refused(files)
    assert problem.startswith("nc_assessment.yaml: ") and "protected" in problem


def test_a_changed_file_without_a_version_bump_is_an_error(files, db):
    with db.unit_of_work(all_orgs=True) as uow:
        WorkflowCatalog(load_workflows(*files)).register(uow.session)
    edit(files[0] / "nonconformity.yaml", lambda d: d["states"]["reported"].__setitem__("due_days", 7))
    changed = WorkflowCatalog(load_workflows(*files))
    with pytest.raises(WorkflowFileError, match="bump the version"), db.unit_of_work(all_orgs=True) as uow:
        changed.register(uow.session)
    edit(files[0] / "nonconformity.yaml", lambda d: d.__setitem__("version", d["version"] + 1))
    with db.unit_of_work(all_orgs=True) as uow:
        WorkflowCatalog(load_workflows(*files)).register(uow.session)


def test_records_stay_pinned_to_the_version_they_started_with(files, db):
    with db.unit_of_work(all_orgs=True) as uow:
        WorkflowCatalog(load_workflows(*files)).register(uow.session)
    edit(
        files[0] / "nonconformity.yaml",
        lambda d: (
            d.__setitem__("version", d["version"] + 1),
            d["states"]["reported"]["label"].__setitem__("zh", "新报告"),
        ),
    )
    newer = WorkflowCatalog(load_workflows(*files))
    with db.unit_of_work(all_orgs=True) as uow:
        newer.register(uow.session)
        old = newer.pinned(uow.session, key="nonconformity", version=CURRENT)
        assert old.spec.version == CURRENT and old.spec.states["reported"].label.zh == "已报告"
        assert newer.get("nonconformity").spec.states["reported"].label.zh == "新报告"


def test_processes_starting_together_register_the_workflows_once(files, db):
    """Instances behind a proxy start at once on a fresh database: the one that waited on the other's
    uncommitted rows reads them back instead of failing on the unique key (PostgreSQL; on SQLite the
    second writer waits for the first to commit)."""
    catalog = WorkflowCatalog(load_workflows(*files))
    second_done = threading.Event()
    errors: list[BaseException] = []

    def second() -> None:
        try:
            with db.unit_of_work(all_orgs=True) as uow:
                WorkflowCatalog(load_workflows(*files)).register(uow.session)
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            second_done.set()

    with db.unit_of_work(all_orgs=True) as uow:
        catalog.register(uow.session)  # rows written, not yet committed
        thread = threading.Thread(target=second)
        thread.start()
        if db.engine.dialect.name == "postgresql":  # commit once the second waits on the unique key
            _wait_until_a_lock_is_awaited(db)
        assert not second_done.is_set()
    thread.join(timeout=120)
    assert second_done.is_set() and errors == [], errors
    with db.read_session(all_orgs=True) as session:
        stored = session.exec(select(WorkflowDefinition)).all()
    assert len(stored) == len(catalog.current)


def _wait_until_a_lock_is_awaited(db) -> None:
    deadline = time.monotonic() + 120
    while True:
        with db.engine.connect() as connection:
            if connection.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar():
                return
        assert time.monotonic() < deadline, "the second registration never waited"
        time.sleep(0.05)

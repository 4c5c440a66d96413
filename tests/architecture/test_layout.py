"""The house rules of README › Architecture, read from the source with `ast`: who may import whom, no SQL in
routes, no process names in the engine, no file over 800 lines. A failure names the file and the line."""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CORE = {
    "engine.config",
    "engine.db",
    "engine.tenancy",
    "engine.events",
    "engine.audit",
    "engine.migrate",
    "engine.passwords",
    "engine.storage",  # where evidence bytes are kept (a directory or an S3 bucket)
    "engine.models.base",
    "engine.models.audit",
    "engine.models.outbox",  # the event outbox (engine.events writes it)
    "engine.write_generation",  # moved by every committed change (engine.db tracks the writes)
}
# engine.models is the table registry (it imports every module's tables, for Alembic); the core may import it
# only to register tables.
REGISTRY = "engine.models"
CODE_DIRS = ("engine", "web", "workflows", "demo", "bench", "tests", "migrations", "tools")
MAX_LINES = 800


def python_files(*folders: str) -> Iterator[Path]:
    for folder in folders:
        yield from (p for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """Every module the file imports, at any depth (lazy imports inside functions count too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:  # `from web.routes import records` imports the module web.routes.records
                if is_module(f"{node.module}.{alias.name}"):
                    yield node.lineno, f"{node.module}.{alias.name}"


def is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def starts_with(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def violations(paths: Iterator[Path], forbidden) -> list[str]:
    found = []
    for path in paths:
        for line, name in imports(path):
            if forbidden(path, name):
                found.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return sorted(set(found))


def test_the_engine_imports_nothing_of_the_web_the_processes_or_the_demo():
    # cli.py is the composition root: it serves the web app and seeds the demo.
    engine = (p for p in python_files("engine") if p.name != "cli.py")
    assert (
        violations(engine, lambda _p, name: starts_with(name, "web", "workflows", "forms", "demo", "fastapi"))
        == []
    )


def test_the_core_imports_only_the_core():
    core = (p for p in python_files("engine") if module_name(p) in CORE)
    assert (
        violations(core, lambda _p, name: starts_with(name, "engine") and name not in CORE | {REGISTRY}) == []
    )


def test_a_module_of_the_engine_does_not_import_the_web_side_of_another():
    """Modules meet through services and announced events; nothing in engine/ imports a hooks module."""
    assert violations(python_files("engine"), lambda _p, name: starts_with(name, "workflows.hooks")) == []


def sql_imports(path: Path) -> Iterator[str]:
    """Names a route takes from sqlmodel / sqlalchemy; the session type, for annotations, is allowed."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and starts_with(node.module, "sqlmodel", "sqlalchemy")
        ):
            yield from (
                f"{path.relative_to(ROOT)}:{node.lineno} {node.module}.{a.name}"
                for a in node.names
                if a.name != "Session"
            )
        elif isinstance(node, ast.Import):
            yield from (
                f"{path.relative_to(ROOT)}:{node.lineno} {a.name}"
                for a in node.names
                if starts_with(a.name, "sqlmodel", "sqlalchemy")
            )


def test_routes_import_no_other_route_and_run_no_sql():
    routes = list(python_files("web/routes"))
    assert routes, "no route modules found"

    def forbidden(path: Path, name: str) -> bool:
        own = module_name(path)
        return starts_with(name, "web.routes") and not starts_with(own, name) and name != "web.routes"

    assert violations(iter(routes), forbidden) == []
    assert [line for path in routes for line in sql_imports(path)] == []

    sql_calls = []
    for path in routes:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            called = (
                node.func.attr if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) else ""
            )
            if called in {"exec", "execute", "scalars", "scalar", "query"}:
                sql_calls.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.func.attr}(…)")
    assert sql_calls == []


def process_names() -> dict[str, str]:
    """Every workflow key, state and trigger of the process files, with where it comes from."""
    names: dict[str, str] = {}
    for path in sorted((ROOT / "workflows").glob("*.yaml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        names[spec["key"]] = f"{path.name}: key"
        for state in spec.get("states", {}):
            names.setdefault(state, f"{path.name}: state")
        for transition in spec.get("transitions", []):
            names.setdefault(transition["trigger"], f"{path.name}: trigger")
    return names


# Words the engine itself defines (the start trigger every workflow has) and that a process may reuse.
ENGINE_WORDS = {"create"}


def test_the_engine_names_no_process():
    names = {name: where for name, where in process_names().items() if name not in ENGINE_WORDS}
    assert "nonconformity" in names and "carbon_data_batch" in names
    found = []
    for path in python_files("engine"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # A decorator's argument is the engine's own name (a CLI command `verify`), not a process's.
        in_decorators = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef)
            for decorator in node.decorator_list
            for inner in ast.walk(decorator)
        }
        for node in ast.walk(tree):
            if id(node) in in_decorators:
                continue
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r} ({names[node.value]})")
    assert found == []


@pytest.mark.parametrize("folder", CODE_DIRS)
def test_no_file_is_over_800_lines(folder):
    long = [
        f"{path.relative_to(ROOT)}: {count} lines"
        for path in python_files(folder)
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    ]
    assert long == []


def test_the_type_checker_passes():
    """mypy over engine/, web/, workflows/ and demo/ as configured in pyproject.toml (the modules not yet
    clean are listed there)."""
    import subprocess
    import sys

    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary"], cwd=ROOT, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr

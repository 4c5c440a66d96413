"""The README and docs/ stay true: their links stay inside the repository, the make targets and `tanguan`
commands they name exist, and the package metadata installs without deprecation warnings."""

import re
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.cli import app

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text()
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_links_and_paths_stay_inside_the_repository(document):
    text = document.read_text()
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        resolved = (document.parent / target).resolve()
        assert resolved.is_relative_to(ROOT) and resolved.exists(), f"{document.name} links to {target}"
    assert "../shared" not in text and "/work/" not in text, f"{document.name} names a file outside the repo"


def test_the_clause_table_links_to_the_clause_list_in_docs():
    assert "(docs/clauses.md)" in README
    clauses = (ROOT / "docs" / "clauses.md").read_text()
    for clause in ("4.1*", "6.2.3", "6.3*", "8.6*", "9.3*", "10.1*"):
        assert f"| {clause}" in clauses, clause


def test_every_make_target_the_readme_names_exists():
    targets = set(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), re.M))
    named = set(re.findall(r"(?:`|^)make ([a-z][a-z-]*)", README, re.M))  # inline code or a shell line
    assert {"run", "test", "demo-reset"} <= named and named <= targets, named - targets


def test_the_quick_start_says_where_the_command_is_and_how_to_stop_reset_and_move_the_demo():
    start = README.index("## Two commands")
    quick_start = README[start : README.index("\n## ", start + 1)]
    for needed in ("Ctrl+C", "make demo-reset", "PORT=", "HOST="):
        assert needed in quick_start, needed
    command_line = README[README.index("## Command line") :]
    assert ".venv/bin/tanguan" in command_line[:600]
    assert README.index("## 今天能做什么") < README.index("## Two commands")  # what works comes first


def test_every_command_of_the_command_line_table_exists():
    table = README[README.index("## Command line") : README.index("## Architecture")]
    runner = CliRunner()
    groups = {"db", "user", "audit", "token", "workflows", "secret"}
    for row in re.findall(r"^\| `tanguan ([^`]+)`(.*?)\|", table, re.M):
        words = [word for word in row[0].split() if re.fullmatch(r"[a-z][a-z-]*", word)]
        command = words[:2] if words[0] in groups else words[:1]
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, f"tanguan {' '.join(command)}: {result.output}"


def test_the_license_is_an_spdx_string_not_the_deprecated_table():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert isinstance(project["project"]["license"], str)
    requires = project["build-system"]["requires"]
    assert any(re.fullmatch(r"setuptools>=(7[7-9]|[89]\d)(\.\d+)*", item) for item in requires), requires

"""A second project (a lending library, examples/library) runs on the engine end to end: the CLI
(render, check, generate, apply, verify) and the pytest plugin, configured by its own pyproject.toml.
Nothing here loads WallTrack's declarations."""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from orders_schema.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "library"

GROWN = '''
"""The library after a developer's edit: loans get a due date (what `generate` turns into V3)."""
from orders_schema.model import TIMESTAMPTZ, Column
from dataclasses import replace
import library_catalog as lib

LOANS = lib.LOANS.model_copy(update={"columns": (*lib.LOANS.columns, Column(name="due_at", type=TIMESTAMPTZ))})
PROJECT = replace(lib.PROJECT, schema=lib.PROJECT.schema.model_copy(
    update={"tables": tuple(LOANS if t.name == "loans" else t for t in lib.PROJECT.schema.tables)}))
'''


@pytest.fixture
def library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the example, as the current directory; its modules are forgotten afterwards."""
    folder = tmp_path / "library"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.chdir(folder)
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield folder
    for name in set(sys.modules) - before:
        if name.split(".")[0] in ("library_catalog", "grown"):
            del sys.modules[name]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out + err


def test_the_cli_renders_checks_generates_applies_and_verifies_it(
    library: Path, orders_empty_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "render") == (0, "schema/ is up to date\n")  # the committed files are what it renders
    assert run(capsys, "check")[0] == 0
    assert run(capsys, "generate", "due_dates") == (0, "nothing to do: the head declarations match the released "
                                                      "schema; nothing written\n")

    (library / "grown.py").write_text(GROWN, encoding="utf-8")
    code, out = run(capsys, "--project", "grown:PROJECT", "generate", "due_dates")
    assert code == 0, out
    assert "wrote schema/V3__due_dates.sql" in out
    assert "ADD COLUMN IF NOT EXISTS due_at TIMESTAMPTZ" in (library / "schema" / "V3__due_dates.sql").read_text()
    assert run(capsys, "--project", "grown:PROJECT", "check")[0] == 0
    assert run(capsys, "check")[0] == 1  # the section's project no longer matches: V3 is not declared there

    code, out = run(capsys, "--project", "grown:PROJECT", "apply", "--dsn", orders_empty_dsn)
    assert code == 0, out
    with psycopg.connect(orders_empty_dsn) as conn:
        applied = conn.execute("SELECT version FROM orders_schema.history ORDER BY version").fetchall()
    assert [r[0] for r in applied] == [1, 2, 3]
    code, out = run(capsys, "--project", "grown:PROJECT", "verify", "--dsn", orders_empty_dsn, "--rows", "3000")
    assert code == 0, out
    assert "structure: the database matches the declarations" in out and out.endswith("verify: ok\n")
    assert re.search(r"\n  \d+ passed in ", out), out  # every case passed: no failure, no warning, no skip


def test_the_pytest_plugin_runs_its_ready_made_tests(pytester: pytest.Pytester) -> None:
    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--orders-schema-rows=3000", "-rs")
    result.assert_outcomes(passed=len(_case_ids(pytester)) + 1)
    result.stdout.fnmatch_lines(["orders-schema: PostgreSQL * chosen by *; project library_catalog:PROJECT on *schema"])


def _case_ids(pytester: pytest.Pytester) -> list[str]:
    collected = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--collect-only", "-q")
    ids = [line for line in collected.stdout.lines if "test_orders_schema_case[" in line]
    assert any("idx_loans_open" in i or "open_loans_of_book" in i for i in ids), ids
    return ids

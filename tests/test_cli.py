"""The command line on a copy of schema/: exit codes, messages, and nothing written when nothing changes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orders_schema.cli import main

from .conftest import ROOT


@pytest.fixture
def schema_dir(tmp_path: Path) -> Path:
    target = tmp_path / "schema"
    shutil.copytree(ROOT / "schema", target)
    return target


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_check_passes_on_the_committed_schema(schema_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--schema-dir", str(schema_dir), "check")
    assert code == 0, out


@pytest.mark.parametrize("name", ["V9__orders_table.sql", "V10__story_fixes.sql", "V11__story_fixes_online.sql"])
def test_changing_a_literal_in_a_released_file_fails_check(
    schema_dir: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    path = schema_dir / name
    text = path.read_text()
    changed = text.replace("'5s'", "'9s'") if "'5s'" in text else text.replace("'exit'", "'exlt'")
    assert changed != text
    path.write_text(changed)
    code, out, _ = run(capsys, "--schema-dir", str(schema_dir), "check")
    assert code == 1
    assert f"{name}: released file was edited" in out


def test_render_and_generate_write_nothing_on_a_clean_checkout(
    schema_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(schema_dir)
    assert run(capsys, "--schema-dir", str(schema_dir), "render")[0] == 0
    code, out, _ = run(capsys, "--schema-dir", str(schema_dir), "generate", "x")
    assert code == 0 and "nothing to do" in out
    assert snapshot(schema_dir) == before


def test_sql_shows_each_statement_with_its_hazards(schema_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--schema-dir", str(schema_dir), "sql", "11")
    assert code == 0
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_orders_retry_due" in out
    assert "-- hazard lock: SHARE UPDATE EXCLUSIVE on walltrack.orders (reads and writes continue)" in out
    code, plain, _ = run(capsys, "--schema-dir", str(schema_dir), "sql", "V9", "--plain")
    assert code == 0 and plain == (schema_dir / "V9__orders_table.sql").read_text()


def test_lint_counts_hazards(schema_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--schema-dir", str(schema_dir), "lint", "10")
    assert code == 0
    assert "lock: ACCESS EXCLUSIVE on walltrack.orders (brief)" in out
    assert "backfill: writes data" in out


def test_diagram_is_mermaid_with_the_foreign_key(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "diagram")
    assert code == 0
    assert out.startswith("erDiagram\n")
    assert 'positions |o--o{ orders : "orders_position_id_fkey"' in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sql", "99"], "no version 99"),
        (["sql", "nine"], "not a version number"),
        (["--project", "nope.module:X", "check"], "cannot import 'nope.module'"),
        (["--project", "orders_schema.walltrack:HEAD", "check"], "is not an orders_schema Project"),
        (["generate", "Bad-Name"], "use lower-case letters"),
        (["apply", "--dsn", "host=127.0.0.1 port=1 connect_timeout=2"], "cannot connect"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_usage_and_input_errors_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _, err = run(capsys, *args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err

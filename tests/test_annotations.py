"""``lint`` and ``check`` with ``--format github``: workflow annotations on the version file's
lines, on a copy of the repository's schema/ and on a small project with a pending change."""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import pytest

from orders_schema.annotations import annotation, escape_data
from orders_schema.cli import main
from orders_schema.store.files import version_files

from .conftest import ROOT

ANNOTATION = re.compile(r"^::(error|warning|notice)(?: ([^:]*))?::(.*)$")


def parse(out: str) -> list[tuple[str, dict[str, str], str]]:
    """Every annotation of an output: (level, properties, message), properties and message unescaped."""
    found = []
    for line in out.splitlines():
        match = ANNOTATION.match(line)
        if match:
            props = dict(p.split("=", 1) for p in match.group(2).split(",")) if match.group(2) else {}
            unescape = lambda v: v.replace("%3A", ":").replace("%2C", ",").replace("%0A", "\n").replace(  # noqa: E731
                "%0D", "\r").replace("%25", "%")
            found.append((match.group(1), {k: unescape(v) for k, v in props.items()}, unescape(match.group(3))))
    return found


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of schema/ configured as this repository is; the current directory is its root, as in
    a workflow (annotation paths are relative to it)."""
    shutil.copytree(ROOT / "schema", tmp_path / "schema")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.orders-schema]\nproject = "orders_schema.walltrack:PROJECT"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().out


def test_annotation_escapes_what_would_end_a_property_or_the_message() -> None:
    line = annotation("warning", "50% of rows\nlost", file=Path("/nowhere/a,b:c.sql"), line=3, title="x: y, z")
    assert line == "::warning file=/nowhere/a%2Cb%3Ac.sql,line=3,title=x%3A y%2C z::50%25 of rows%0Alost"
    assert annotation("error", "plain") == "::error::plain"
    assert escape_data("a\r\nb") == "a%0D%0Ab"


def test_lint_github_points_at_each_statements_first_line(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    every = [f for f in version_files(repo / "schema") if f.number > 9]
    for file in every:
        code, out = run(capsys, "lint", str(file.number), "--format", "github")
        assert code == 0
        found = parse(out)
        text_code, text_out = run(capsys, "lint", str(file.number))
        assert text_code == 0
        assert out.splitlines()[-1] == text_out.splitlines()[-1]  # the same "N hazard(s)"
        assert len(found) == int(out.splitlines()[-1].split()[0])
        lines = file.path.read_text().splitlines()
        for level, props, message in found:
            assert props["file"] == f"schema/{file.path.name}"
            statement_start = message.split("\n", 1)[1]
            assert lines[int(props["line"]) - 1] == statement_start, (file.path.name, props, message)
            assert level in ("warning", "notice")
    # V10's backfill: a warning on its INSERT, which runs under the triggers' lock
    code, out = run(capsys, "lint", "10", "--format", "github")
    backfill = [(lv, pr) for lv, pr, msg in parse(out) if pr["title"].endswith(": backfill")]
    assert len(backfill) == 1 and backfill[0][0] == "warning"
    v10 = (repo / "schema" / "V10__story_fixes.sql").read_text().splitlines()
    assert v10[int(backfill[0][1]["line"]) - 1].startswith("INSERT INTO walltrack.order_status_counts")


def test_lint_text_stays_the_default(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "lint", "11")
    assert code == 0 and "::" not in out and out.startswith("== V11__story_fixes_online.sql\n")


def test_check_github_annotates_each_problem_on_its_file(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    schema = repo / "schema"
    code, out = run(capsys, "check", "--format", "github")
    assert code == 0 and parse(out) == []
    v9 = schema / "V9__orders_table.sql"
    lines = v9.read_text().splitlines()
    edited = next(i for i, line in enumerate(lines) if "'exit'" in line)
    lines[edited] = lines[edited].replace("'exit'", "'exlt'")
    v9.write_text("\n".join(lines) + "\n")
    v12 = next(f.path for f in version_files(schema) if f.number == 12)
    v12.unlink()
    code, out = run(capsys, "check", "--format", "github")
    assert code == 1
    found = {props["title"]: (level, props, message) for level, props, message in parse(out)}
    assert set(found) == {"orders-schema check: edited", "orders-schema check: differs", "orders-schema check: missing"}
    assert all(level == "error" for level, _, _ in found.values())
    _, differs, message = found["orders-schema check: differs"]
    assert differs["file"] == "schema/V9__orders_table.sql" and int(differs["line"]) == edited + 1
    assert "differs from its declaration" in message
    _, missing, _ = found["orders-schema check: missing"]
    assert missing["file"] == "schema/released.json"
    assert f'"{v12.name}"' in (schema / "released.json").read_text().splitlines()[int(missing["line"]) - 1]
    assert "line" not in found["orders-schema check: edited"][1]
    assert found["orders-schema check: edited"][1]["file"] == "schema/V9__orders_table.sql"
    assert "3 problem(s) in schema/:" in out  # the text report follows, for the log


SHOP = '''
from orders_schema.declare import model as m
from orders_schema.declare import project as p

ITEMS = m.Table(name="items", columns=(m.Column(name="id", type=m.BIGINT, nullable=False),
                m.Column(name="status", type=m.TEXT, nullable=False)), primary_key=m.PrimaryKey(columns=("id",)))
V1_STATE = m.Schema(name="shop", tables=(ITEMS,))
V1 = m.Version(number=1, name="shop", create_schema=True, state=V1_STATE,
               phases=(m.Phase(title="PHASE 1", items=(ITEMS,)),))
HEAD = m.Schema(name="shop", tables=(ITEMS.model_copy(update={
    "indexes": (m.Index(name="idx_items_status", columns=("status",)),)}),))
PROJECT = p.Project(schema={state}, versions=(V1,))
'''


def test_check_and_lint_github_on_a_pending_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """What no file holds yet (a change in the declarations) is annotated on the run, with no file."""
    (tmp_path / "pyproject.toml").write_text('[tool.orders-schema]\nproject = "shopdecl:PROJECT"\n')
    (tmp_path / "shopdecl.py").write_text(textwrap.dedent(SHOP.replace("{state}", "V1_STATE")))
    (tmp_path / "schema").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["render", "--init"]) == 0
    (tmp_path / "shopdecl.py").write_text(textwrap.dedent(SHOP.replace("{state}", "HEAD")))
    monkeypatch.delitem(__import__("sys").modules, "shopdecl", raising=False)
    capsys.readouterr()
    code, out = run(capsys, "check", "--format", "github")
    assert code == 1
    [(level, props, message)] = parse(out)
    assert level == "error" and "file" not in props and "AddIndex items" in message
    code, out = run(capsys, "lint", "--format", "github")
    assert code == 0
    pending = [(lv, pr, msg) for lv, pr, msg in parse(out) if "(would be)" in pr["title"]]
    assert pending and all("file" not in pr for _, pr, _ in pending)
    assert any("CREATE INDEX CONCURRENTLY" in msg for _, _, msg in pending)

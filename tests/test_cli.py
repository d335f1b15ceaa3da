"""The command line on a copy of schema/: exit codes, messages, and nothing written when nothing changes."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from orders_schema.cli import build_parser, main
from orders_schema.store.files import version_files

from .conftest import ROOT

# Versions are added after V14 in parallel work: the head's are looked up, never written here.
_NUMBERS = [f.number for f in version_files(ROOT / "schema")]
KNOWN = ", ".join(f"V{n}" for n in _NUMBERS)


@pytest.fixture
def schema_dir(tmp_path: Path) -> Path:
    """A copy of schema/ in a folder configured as this repository is (pyproject.toml names WallTrack)."""
    target = tmp_path / "schema"
    shutil.copytree(ROOT / "schema", target)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.orders-schema]\nproject = "orders_schema.walltrack:PROJECT"\n', encoding="utf-8"
    )
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


def one_line(err: str) -> str:
    """The single line an input error must print on stderr (never a traceback)."""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


UNREACHABLE = "host=127.0.0.1 port=1 connect_timeout=2"


# ---------------------------------------------------------------------------------------------
# Every bad input: exit 2, nothing on stdout, one line on stderr naming what is wrong
# ---------------------------------------------------------------------------------------------

def edit_manifest(change: Callable[[dict[str, Any]], object]) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        path = folder / "released.json"
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))
    return setup


def write(name: str, content: bytes) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        (folder / name).write_bytes(content)
    return setup


def make_folder(name: str) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        (folder / name).mkdir()
    return setup


COMMANDS_READING_THE_FOLDER = [
    ["check"], ["render"], ["sql", "9"], ["generate", "x"], ["lint"],
    ["apply", "--dsn", UNREACHABLE], ["undo", "--dsn", UNREACHABLE], ["verify"], ["verify", "--dsn", UNREACHABLE],
]

# (id, arguments with {dir} for a copy of schema/, change made to the copy first, expected text)
ERRORS: list[tuple[str, list[str], Callable[[Path], None] | None, str]] = [
    *(
        (f"missing folder: {args[0]}", [*args, "--schema-dir", "{dir}/nowhere"], None,
         "schema folder {dir}/nowhere/ does not exist (wrong --schema-dir")
        for args in COMMANDS_READING_THE_FOLDER
    ),
    *(
        (f"empty folder: {args[0]}", [*args, "--schema-dir", "{dir}/empty"], make_folder("empty"),
         "schema folder {dir}/empty/ holds no released.json and no V<n>__<name>.sql file")
        for args in COMMANDS_READING_THE_FOLDER
    ),
    ("folder is a file", ["check", "--schema-dir", "{dir}/V9__orders_table.sql"], None,
     "schema folder {dir}/V9__orders_table.sql is a file, not a folder"),
    *(
        (f"versions is 5: {args[0]}", [*args, "--schema-dir", "{dir}"], write("released.json", b'{"versions": 5}'),
         "{dir}/released.json: field versions: Input should be a valid list (got 5)")
        for args in COMMANDS_READING_THE_FOLDER
    ),
    ("manifest not JSON", ["check", "--schema-dir", "{dir}"], write("released.json", b'{"versions": ['),
     "{dir}/released.json: not valid JSON"),
    ("manifest is a list", ["check", "--schema-dir", "{dir}"], write("released.json", b"[]"),
     "{dir}/released.json: the top level: must be a JSON object"),
    ("manifest not UTF-8", ["check", "--schema-dir", "{dir}"], write("released.json", b"\xff{}"),
     "{dir}/released.json: not UTF-8 text (byte 0xff at offset 0)"),
    ("no versions key", ["check", "--schema-dir", "{dir}"], write("released.json", b"{}"),
     "{dir}/released.json: field versions: Field required"),
    ("sha256 not hex", ["check", "--schema-dir", "{dir}"],
     edit_manifest(lambda d: d["versions"][2].update(sha256="xyz")),
     "{dir}/released.json: field versions[2].sha256: String should match pattern"),
    ("entry without file", ["check", "--schema-dir", "{dir}"], edit_manifest(lambda d: d["versions"][0].pop("file")),
     "{dir}/released.json: field versions[0].file: Field required"),
    ("misspelt key", ["check", "--schema-dir", "{dir}"],
     edit_manifest(lambda d: d["versions"][0].update(sha265="a")),
     "{dir}/released.json: field versions[0].sha265: Extra inputs are not permitted"),
    ("version as text", ["check", "--schema-dir", "{dir}"],
     edit_manifest(lambda d: d["versions"][1].update(version="9")),
     "{dir}/released.json: field versions[1].version: Input should be a valid integer (got \"9\")"),
    ("versions out of order", ["check", "--schema-dir", "{dir}"], edit_manifest(lambda d: d["versions"].reverse()),
     f"{{dir}}/released.json: field versions: V{_NUMBERS[-2]} follows V{_NUMBERS[-1]}: versions must increase"),
    ("file does not match version", ["check", "--schema-dir", "{dir}"],
     edit_manifest(lambda d: d["versions"][1].update(file="V8__orders_table.sql")),
     "{dir}/released.json: field versions[1]: file 'V8__orders_table.sql' does not match version 9"),
    ("down without its checksum", ["check", "--schema-dir", "{dir}"],
     edit_manifest(lambda d: d["versions"][3].pop("down_sha256")),
     "{dir}/released.json: field versions[3]: 'down' and 'down_sha256' go together"),
    ("down outside the folder", ["check", "--schema-dir", "{dir}"],
     edit_manifest(lambda d: d["versions"][3].update(down="../../etc/passwd")),
     "{dir}/released.json: field versions[3]: down '../../etc/passwd' is not of the form down/U<n>__<name>.sql"),
    ("schema is a number", ["check", "--schema-dir", "{dir}"], edit_manifest(lambda d: d.update(schema=5)),
     "{dir}/released.json: field schema: Input should be a valid dictionary (got 5)"),
    ("schema snapshot malformed", ["check", "--schema-dir", "{dir}"],
     edit_manifest(lambda d: d["schema"].update(tables="x")),
     "{dir}/released.json: field schema is not a valid schema snapshot: schema walltrack: tables"),
    *(
        (f"version file not UTF-8: {args[0]}", [*args, "--schema-dir", "{dir}"],
         write("V12__time_ordered_ids.sql", b"\xfe-- x\n"),
         "{dir}/V12__time_ordered_ids.sql: not UTF-8 text (byte 0xfe at offset 0)")
        for args in (["check"], ["lint"], ["sql", "12"])
    ),
    ("version file is a folder", ["lint", "--schema-dir", "{dir}"], make_folder("V20__x.sql"),
     "{dir}/V20__x.sql: is a folder, not a file"),
    ("unknown version: sql", ["sql", "99", "--schema-dir", "{dir}"], None,
     f"version 99: no such version in {{dir}}/ (known: {KNOWN})"),
    ("unknown version: lint", ["lint", "99", "--schema-dir", "{dir}"], None,
     f"version 99: no such version in {{dir}}/ (known: {KNOWN})"),
    ("version not a number", ["sql", "nine"], None,
     "orders-schema sql: error: argument N: 'nine' is not a version number (e.g. 9 or V9)"),
    ("target not a number", ["apply", "--dsn", UNREACHABLE, "--target", "nine"], None,
     "argument --target: 'nine' is not a version number"),
    ("dsn libpq cannot parse: apply", ["apply", "--dsn", "not a dsn ==="], None,
     'orders-schema apply: error: argument --dsn: not a connection string libpq can parse (missing "=" after "not"'),
    ("dsn libpq cannot parse: undo", ["undo", "--dsn", "not a dsn ==="], None,
     "orders-schema undo: error: argument --dsn: not a connection string libpq can parse"),
    ("dsn libpq cannot parse: verify", ["verify", "--dsn", "not a dsn ==="], None,
     "orders-schema verify: error: argument --dsn: not a connection string libpq can parse"),
    ("dsn with an unknown option", ["apply", "--dsn", "dbname=x colour=blue"], None,
     'argument --dsn: not a connection string libpq can parse (invalid connection option "colour")'),
    ("dsn empty", ["verify", "--dsn", " "], None, "argument --dsn: empty"),
    ("dsn with a password is not echoed", ["apply", "--dsn", "host=db password hunter2"], None,
     'argument --dsn: not a connection string libpq can parse (missing "=" after "..." in connection info string)'),
    ("dsn missing", ["apply"], None, "the following arguments are required: --dsn"),
    ("unreachable database: apply", ["apply", "--dsn", UNREACHABLE], None,
     "orders-schema apply: error: cannot connect"),
    ("unreachable database: undo", ["undo", "--dsn", UNREACHABLE], None, "orders-schema undo: error: cannot connect"),
    ("dsn with a bad port", ["apply", "--dsn", "host=127.0.0.1 port=abc"], None,
     'cannot connect: connection is bad: invalid integer value "abc" for connection option "port"'),
    ("rows not a number", ["verify", "--rows", "abc"], None, "argument --rows: 'abc' is not a whole number"),
    ("rows negative", ["verify", "--rows", "-5"], None, "argument --rows: '-5': must be 0 or more"),
    ("unknown server selector", ["verify", "--pg", "bogus"], None,
     "argument --pg: 'bogus': use system, embedded or a major version"),
    ("server version not installed", ["verify", "--pg", "99"], None, "no PostgreSQL 99 binaries found"),
    ("project module missing", ["--project", "nope.module:X", "check"], None,
     "project 'nope.module:X': cannot import 'nope.module'"),
    ("project spec without module", ["--project", ":X", "check"], None,
     "project ':X': expected module:ATTRIBUTE, e.g. orders_schema.walltrack:PROJECT"),
    ("project attribute missing", ["--project", "orders_schema.walltrack:NOPE", "check"], None,
     "project 'orders_schema.walltrack:NOPE': module 'orders_schema.walltrack' has no attribute 'NOPE'"),
    ("project attribute of the wrong type", ["--project", "orders_schema.walltrack:HEAD", "check"], None,
     "orders_schema.walltrack.HEAD is a Schema, not an orders_schema Project"),
    ("generate name", ["generate", "Bad-Name"], None, "version name 'Bad-Name': use lower-case letters"),
    ("generate without a name", ["generate"], None, "the following arguments are required: name"),
    ("unknown command", ["frobnicate"], None, "orders-schema: error: argument COMMAND: invalid choice: 'frobnicate'"),
    ("no command", [], None, "orders-schema: error: the following arguments are required: COMMAND"),
    ("unknown option", ["check", "--frob"], None, "orders-schema check: error: unrecognized arguments: --frob"),
]


@pytest.mark.parametrize(("args", "setup", "message"), [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_bad_input_exits_2_with_one_line(
    schema_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    args: list[str], setup: Callable[[Path], None] | None, message: str,
) -> None:
    monkeypatch.chdir(schema_dir.parent)  # the default --schema-dir, schema, is a good copy
    if setup is not None:
        setup(schema_dir)
    code, out, err = run(capsys, *(a.format(dir=schema_dir) for a in args))
    assert code == 2, err
    assert out == ""
    assert message.format(dir=schema_dir) in one_line(err)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("raise RuntimeError('no credentials here')\n",
         "importing 'badproject_{n}' raised RuntimeError: no credentials here (*badproject_{n}.py:1)"),
        ("def broken(:\n", "importing 'badproject_{n}' raised SyntaxError: invalid syntax (*badproject_{n}.py:1)"),
        ("from orders_schema.model import Table\n\nT = Table(name='t', columns=())\n",
         "project 'badproject_{n}': table t: needs at least one column (*badproject_{n}.py:3)"),
    ],
    ids=["raises", "syntax error", "declaration error"],
)
def test_a_project_module_that_fails_to_import_is_one_line(
    tmp_path: Path, schema_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    source: str, message: str,
) -> None:
    n = len(sys.modules)  # a fresh module name per case: nothing cached from another
    (tmp_path / f"badproject_{n}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    code, out, err = run(capsys, "check", "--project", f"badproject_{n}", "--schema-dir", str(schema_dir))
    assert code == 2 and out == ""
    before, _, after = message.format(n=n).partition("*")
    assert before in one_line(err) and err.rstrip().endswith(after), err


def test_apply_on_a_wrong_schema_dir_touches_nothing(
    tmp_path: Path, orders_empty_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """It used to say "the database is up to date" and exit 0: an empty project, not a typo."""
    code, out, err = run(capsys, "apply", "--dsn", orders_empty_dsn, "--schema-dir", str(tmp_path / "shcema"))
    assert code == 2 and out == ""
    assert f"schema folder {tmp_path}/shcema/ does not exist" in one_line(err)
    with psycopg.connect(orders_empty_dsn) as conn:
        row = conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s", ["orders_schema"]).fetchone()
    assert row == (0,)


# ---------------------------------------------------------------------------------------------
# Good input: --help everywhere, global options in either position, render --init, lint
# ---------------------------------------------------------------------------------------------

def subcommands() -> list[str]:
    actions = build_parser()._subparsers._group_actions  # type: ignore[union-attr]
    return sorted(name for action in actions for name in action.choices)  # type: ignore[union-attr]


@pytest.mark.parametrize("command", subcommands())
def test_every_subcommand_has_help_with_the_global_options(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    code, out, err = run(capsys, command, "--help")
    assert code == 0 and err == ""
    assert out.startswith(f"usage: orders-schema {command} ")
    assert "--schema-dir DIR" in out and "--project MODULE:ATTR" in out


@pytest.mark.parametrize(
    "order",
    [
        ["--schema-dir", "{good}", "check"],
        ["check", "--schema-dir", "{good}"],
        ["--schema-dir", "{bad}", "check", "--schema-dir", "{good}"],
        ["--project", "nope:X", "check", "--project", "orders_schema.walltrack:PROJECT", "--schema-dir", "{good}"],
    ],
    ids=["before", "after", "after wins over before", "project after wins"],
)
def test_global_options_before_or_after_the_command(
    schema_dir: Path, capsys: pytest.CaptureFixture[str], order: list[str]
) -> None:
    args = [a.format(good=schema_dir, bad=schema_dir.parent / "nowhere") for a in order]
    code, out, err = run(capsys, *args)
    assert (code, err) == (0, "")
    assert out == f"ok: {schema_dir}/ matches the declarations and no released file was edited\n"


def test_before_wins_only_when_nothing_follows(schema_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--schema-dir", str(schema_dir), "check", "--schema-dir", str(schema_dir / "nowhere"))
    assert code == 2
    assert f"schema folder {schema_dir}/nowhere/ does not exist" in one_line(err)


def test_render_init_starts_a_new_project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "new" / "schema"
    code, out, _ = run(capsys, "render", "--init", "--schema-dir", str(folder))
    assert code == 0
    assert out.splitlines() == [
        f"created {folder}/ for a new project",
        f"wrote {folder}/V1__walltrack_baseline.sql",
        f"wrote {folder}/V9__orders_table.sql",
        f"wrote {folder}/released.json",
    ]
    assert (folder / "V9__orders_table.sql").read_bytes() == (ROOT / "schema" / "V9__orders_table.sql").read_bytes()
    # From now on the folder holds versions: plain render works, and --init changes nothing.
    assert run(capsys, "render", "--schema-dir", str(folder))[1] == f"{folder}/ is up to date\n"
    assert run(capsys, "render", "--init", "--schema-dir", str(folder))[1] == f"{folder}/ is up to date\n"


def test_render_init_fills_an_empty_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "render", "--init", "--schema-dir", str(tmp_path))
    assert code == 0
    assert f"created {tmp_path}/" not in out
    assert (tmp_path / "released.json").exists()


def test_lint_on_a_dirty_schema_dir_reports_and_exits_0(schema_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A linter reports; `check` is the gate. An edited file is exactly what a DBA lints."""
    path = schema_dir / "V10__story_fixes.sql"
    path.write_text(path.read_text().replace("'5s'", "'9s'"))
    code, out, err = run(capsys, "lint", "--schema-dir", str(schema_dir))
    assert (code, err) == (0, "")
    assert "== V10__story_fixes.sql" in out
    assert (
        f"not shown: what `orders-schema generate` would write, because {schema_dir}/ must pass "
        "`orders-schema check` before generating: V10__story_fixes.sql: released file was edited"
    ) in out
    assert out.rstrip().splitlines()[-1].endswith("hazard(s)")


def test_apply_and_undo_with_options_after_the_command(
    schema_dir: Path, orders_empty_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "apply", "--dsn", orders_empty_dsn, "--target", "V12", "--schema-dir", str(schema_dir))
    assert (code, err) == (0, "")
    code, _, err = run(capsys, "undo", "--schema-dir", str(schema_dir), "--dsn", orders_empty_dsn)
    assert (code, err) == (0, "")
    with psycopg.connect(orders_empty_dsn) as conn:
        rows = conn.execute("SELECT version FROM orders_schema.history ORDER BY version").fetchall()
    assert rows == [(1,), (9,), (10,), (11,)]


def test_a_reader_that_goes_away_stops_the_command_quietly() -> None:
    """`orders-schema lint | head`: when the pipe's reader is gone the command stops with 141 (128 +
    SIGPIPE, what a shell tool reports) and prints no error, instead of `error: [Errno 32] Broken pipe`."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, "-m", "orders_schema.cli", "lint"], cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the command writes its first line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert "Broken pipe" not in err and "Traceback" not in err, err

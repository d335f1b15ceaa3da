"""`orders-schema review N`: a version rehearsed at (small) size on the session's server.

Structure only, never speed: one row per statement of the file, locks named as pg_locks names
them, the three output shapes, the --max-stall gate on a version that holds ACCESS EXCLUSIVE
while the probe writer runs, and bad input (exit 2, one line).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import psycopg
import pytest

from orders_schema import review
from orders_schema.cli import main
from orders_schema.declare import project as p
from orders_schema.declare.project import synthetic_parameters
from orders_schema.declare.query import Query
from orders_schema.review.probe import preflight
from orders_schema.review.rehearse import ReviewInputError, VersionReview, rehearse, rows_like
from orders_schema.store.files import version_files
from orders_schema.store.statements import split_tokens
from orders_schema.tester.harness import Databases
from orders_schema.walltrack import PROJECT

ROOT = Path(__file__).resolve().parent.parent
ROWS = 2000


@pytest.fixture(scope="module")
def v10(orders_databases: Databases) -> VersionReview:
    project = PROJECT.with_dir(ROOT / "schema")
    return rehearse(project, 10, orders_databases.server.dsn(), ROWS, warmup=0.3)


def _v10_statements() -> list[tuple[int, str]]:
    text = (ROOT / "schema" / "V10__story_fixes.sql").read_text(encoding="utf-8")
    return [(s.tokens[0].line, " ".join(s.sql.split())) for s in split_tokens(text)]


def test_one_result_per_statement_with_the_locks_pg_locks_shows(v10: VersionReview) -> None:
    expected = _v10_statements()
    assert [(s.line, s.first_line) for s in v10.statements] == expected
    assert v10.error is None and v10.transactional
    by_text = {s.first_line: s for s in v10.statements}
    fk = next(s for text, s in by_text.items() if "FOREIGN KEY" in text)
    assert ("walltrack.orders", "ShareRowExclusiveLock") in fk.took
    assert ("walltrack.positions", "ShareRowExclusiveLock") in fk.took
    first_drop = next(s for s in v10.statements if "DROP CONSTRAINT" in s.first_line)
    assert ("walltrack.orders", "AccessExclusiveLock") in first_drop.took
    # the functions and the new table take no lock on anything another session can see
    assert all(not s.took for s in v10.statements if s.first_line.startswith("CREATE OR REPLACE FUNCTION"))
    backfill = v10.statements[-1]
    assert backfill.first_line.startswith("INSERT INTO walltrack.order_status_counts")
    assert backfill.command is not None and backfill.command.startswith("INSERT")
    assert backfill.rows is not None and backfill.rows > 0
    assert v10.probes["writer"] and v10.probes["reader"]
    assert "create" in v10.probes["writer"] and "get_by_id" in v10.probes["reader"]
    # the declared examples' id names no synthetic order: the writer locks and updates a live row instead
    assert set(v10.on_live_rows) == {"lock_for_update", "update"} and v10.rowless == ()
    worst = v10.worst["writer"]
    assert worst is not None and worst.query in v10.probes["writer"]
    assert any(s.relation == "walltrack.order_status_counts" and s.before is None and s.after for s in v10.sizes)


def test_markdown_is_one_table_row_per_statement(v10: VersionReview) -> None:
    out = review.FORMATS["markdown"]([v10], None)
    rows = [line for line in out.splitlines() if re.match(r"\| \d+ \| \d+ \|", line)]
    assert [int(r.split("|")[1]) for r in rows] == list(range(1, len(_v10_statements()) + 1))
    fk_row = next(r for r in rows if "FOREIGN KEY" in r or "orders_positi" in r)
    assert "ShareRowExclusiveLock on walltrack.positions" in fk_row
    assert "**worst writer stall:" in out
    assert "probed on a live row (their example parameters match no row of the data): " in out
    assert out.startswith("### `orders-schema review 10`: V10__story_fixes.sql")


def test_text_and_github_shapes(v10: VersionReview) -> None:
    text = review.FORMATS["text"]([v10], None)
    assert text.count("     static: ") == len(_v10_statements())
    annotations = review.FORMATS["github"]([v10], None).splitlines()
    assert all(a.startswith(("::warning file=", "::notice file=", "::error file=")) for a in annotations)
    first_drop_line = next(line for line, text in _v10_statements() if "DROP CONSTRAINT" in text)
    assert any(a.startswith("::warning ") and f",line={first_drop_line}," in a
               and "AccessExclusiveLock on walltrack.orders" in a for a in annotations)
    assert annotations[-1].startswith("::notice ") and "worst writer stall" in annotations[-1]
    functions = [line for line, text in _v10_statements() if text.startswith("CREATE OR REPLACE FUNCTION")]
    assert not any(f",line={line}," in a for a in annotations for line in functions)


@pytest.fixture
def holding_schema(tmp_path: Path) -> tuple[Path, int]:
    """A copy of schema/ with one more version that holds ACCESS EXCLUSIVE on orders for half a second."""
    folder = tmp_path / "schema"
    shutil.copytree(ROOT / "schema", folder)
    number = version_files(folder)[-1].number + 1
    (folder / f"V{number}__hold_orders.sql").write_text(
        "LOCK TABLE walltrack.orders IN ACCESS EXCLUSIVE MODE;\nSELECT pg_sleep(0.5);\n", encoding="utf-8")
    return folder, number


def test_max_stall_exits_1_when_the_writer_waited(
    holding_schema: tuple[Path, int], orders_databases: Databases, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, number = holding_schema
    code = main(["review", str(number), "--schema-dir", str(folder), "--rows", "0", "--max-stall", "200",
                 "--server-dsn", orders_databases.server.dsn()])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "over --max-stall 200 ms: the writer stalled" in out or "over --max-stall 200 ms: the reader stalled" in out
    assert "AccessExclusiveLock on walltrack.orders" in out
    assert re.search(r"worst writer stall: [\d,.]+ ms \(\w+\), waiting for \w+Lock on walltrack.orders "
                     r"taken by statement 1 \(LOCK TABLE", out), out


@pytest.mark.parametrize(("argv", "message"), [
    (["review", "99"], "version 99: no such version"),
    (["review", "1"], "V1 is the first version"),
    (["review", "10", "--format", "html"], "invalid choice: 'html'"),
    (["review", "10", "--rows", "5", "--like-dsn", "dbname=x"], "not allowed with argument"),
    (["review", "10", "--max-stall", "-1"], "must be 0 or more"),
])
def test_bad_input_is_one_line_and_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1, err


def test_like_dsn_reads_reltuples_and_refuses_an_unanalyzed_database(orders_clone_dsn: str) -> None:
    with pytest.raises(ReviewInputError, match="never analyzed"):
        rows_like(orders_clone_dsn, PROJECT)
    with psycopg.connect(orders_clone_dsn) as conn:
        for statement in PROJECT.synthetic_data:
            conn.execute(statement.encode() if "%(" not in statement else statement, synthetic_parameters(500))
    rows, said = rows_like(orders_clone_dsn, PROJECT)
    assert rows == 500
    assert "walltrack.orders" in said and "reltuples" in said


def test_a_project_without_synthetic_data_needs_rows_0(orders_databases: Databases) -> None:
    bare = p.Project(schema=PROJECT.schema, versions=PROJECT.versions, schema_dir=ROOT / "schema")
    with pytest.raises(ReviewInputError, match="no synthetic_data"):
        rehearse(bare, 10, orders_databases.server.dsn(), 100)


def test_a_failing_version_is_reported_and_exits_1(
    tmp_path: Path, orders_databases: Databases, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "schema"
    shutil.copytree(ROOT / "schema", folder)
    number = version_files(folder)[-1].number + 1
    (folder / f"V{number}__broken.sql").write_text(
        "ALTER TABLE walltrack.orders ADD COLUMN note text;\nALTER TABLE walltrack.no_such_table ADD COLUMN x int;\n",
        encoding="utf-8")
    code = main(["review", str(number), "--schema-dir", str(folder), "--rows", "0", "--format", "github",
                 "--server-dsn", orders_databases.server.dsn()])
    out = capsys.readouterr().out
    assert code == 1, out
    pattern = rf"::error file=[^,]*V{number}__broken.sql,line=2,title=V{number} statement 2%3A failed::"
    assert re.search(pattern, out), out
    assert 'relation "walltrack.no_such_table" does not exist' in out


def test_preflight_gives_write_probes_a_live_row_when_their_example_matches_none(orders_empty_dsn: str) -> None:
    with psycopg.connect(orders_empty_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.t (id int PRIMARY KEY, v int NOT NULL)")
        conn.execute("INSERT INTO public.t VALUES (1, 10)")
    queries = [
        Query(name="bump", sql="UPDATE public.t SET v = v + 1 WHERE id = %(id)s", example={"id": 99}),
        Query(name="lock", sql="SELECT v FROM public.t WHERE id = %(id)s FOR UPDATE", example={"id": 99}),
        Query(name="never", sql="UPDATE public.t SET v = 0 WHERE id = %(id)s AND v < 0", example={"id": 99}),
        Query(name="read", sql="SELECT v FROM public.t WHERE id = %(id)s", example={"id": 99}),
        Query(name="broken", sql="SELECT missing FROM public.t", example={}),
    ]
    checked = preflight(orders_empty_dsn, queries)
    assert checked.on_live_rows == ("bump", "lock") and checked.rowless == ("never",)
    assert list(checked.failed) == ["broken"]
    by_name = {q.name: q for q in checked.runnable}
    assert by_name["bump"].params == {"id": 1} and by_name["lock"].params == {"id": 1}
    assert by_name["never"].params == {"id": 99} and by_name["read"].params == {"id": 99}
    with psycopg.connect(orders_empty_dsn) as conn:  # every preflight run was rolled back
        assert conn.execute("SELECT v FROM public.t").fetchall() == [(10,)]

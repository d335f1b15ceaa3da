"""The everyday changes, end to end on a database holding synthetic orders.

One row per change of :data:`orders_schema.walltrack.everyday.EVERYDAY`, each declared against
WallTrack's head: generate (its files and hazards are the golden text under
``tests/golden/roundtrip/``), check, apply, verify at the new head, undo (refused first when it
loses data), verify at the previous release (declared objects and every row intact), the down
script once more, apply again, verify. One database at the last release is loaded once per
session and cloned per row (CREATE DATABASE ... TEMPLATE). Generated files go to tmp dirs.

Set ``ORDERS_SCHEMA_UPDATE_GOLDEN=1`` to rewrite the golden files after a deliberate change.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from orders_schema.cli import main
from orders_schema.live.apply import ApplyError, invalid_indexes, migrate, read_history, undo_last, undo_losses
from orders_schema.live.compare import compare, declared_catalog
from orders_schema.live.difference import array_casts_per_element
from orders_schema.live.inspect import Catalog, inspect_schema
from orders_schema.migrate import workflow
from orders_schema.store.files import version_files
from orders_schema.tester.data import load_synthetic_data
from orders_schema.tester.harness import Databases
from orders_schema.tester.roundtrip import round_trip, rows_of
from orders_schema.tester.server import scratch_database
from orders_schema.walltrack import PROJECT
from orders_schema.walltrack.everyday import EVERYDAY, Everyday

GOLDEN = Path(__file__).resolve().parent / "golden" / "roundtrip"
ROWS = 3_000


@pytest.fixture(scope="session")
def loaded_db(orders_databases: Databases) -> Iterator[str]:
    """A database at the last release (history recorded) holding ROWS synthetic orders; the
    rows clone it."""
    project = orders_databases.project
    name = orders_databases.empty("orders_schema_rt_loaded")
    dsn = orders_databases.server.dsn(name)
    migrate(dsn, project.schema_dir)
    with psycopg.connect(dsn) as conn:
        load_synthetic_data(conn, project, ROWS)
        conn.commit()
    yield name
    orders_databases.drop(name)


@pytest.fixture(scope="session")
def released_catalog(orders_databases: Databases) -> Catalog:
    released = workflow.released_schema(orders_databases.project)
    assert released is not None
    return declared_catalog(released, orders_databases.server.dsn("postgres"))


@pytest.mark.parametrize("change", EVERYDAY, ids=[e.name for e in EVERYDAY])
def test_everyday_change_round_trip(
    change: Everyday, loaded_db: str, released_catalog: Catalog, orders_databases: Databases, tmp_path: Path
) -> None:
    project = orders_databases.project
    with scratch_database(orders_databases.server.dsn("postgres"), "orders_schema_rt", template=loaded_db) as dsn:
        trip = round_trip(project, change.schema, change.name, dsn, tmp_path, released_catalog)
        with psycopg.connect(dsn) as conn:
            orders = rows_of(conn, project.schema, change.schema)["orders"]
    assert orders[0] == ROWS
    assert trip.generated.undo_loses == change.undo_loses
    steps = [s.name for s in trip.steps]
    assert steps[-1] == "verify at the new head again" and ("undo refused (loses data)" in steps) == bool(
        change.undo_loses)
    golden = GOLDEN / f"{change.name}.txt"
    text = trip.golden()
    if os.environ.get("ORDERS_SCHEMA_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert golden.exists(), f"no golden file {golden}: run with ORDERS_SCHEMA_UPDATE_GOLDEN=1 and review it"
    assert text == golden.read_text(encoding="utf-8")


def test_the_released_schema_files_are_untouched() -> None:
    """Every row wrote into its own tmp copy of schema/: check still passes on the real one."""
    assert workflow.check(PROJECT.with_dir(Path(__file__).resolve().parent.parent / "schema")) == []


# -- undo: data loss refused, a failing statement named, an online part finished by undo again --

def _everyday(name: str) -> Everyday:
    return next(e for e in EVERYDAY if e.name == name)


FEE_PROJECT = replace(PROJECT, schema=_everyday("add_fee").schema)
"""WallTrack with the fee column declared (``--project tests.test_roundtrip:FEE_PROJECT``)."""


@pytest.fixture
def clone(loaded_db: str, orders_databases: Databases) -> Iterator[str]:
    with scratch_database(orders_databases.server.dsn("postgres"), "orders_schema_rtu", template=loaded_db) as dsn:
        yield dsn


@pytest.fixture
def schema_copy(tmp_path: Path, orders_databases: Databases) -> Path:
    target = tmp_path / "schema"
    shutil.copytree(orders_databases.project.schema_dir, target)
    return target


def test_undo_names_what_it_would_lose_and_runs_only_when_told(
    clone: str, schema_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = 1 + max(f.number for f in version_files(schema_copy))
    where = ["--project", "tests.test_roundtrip:FEE_PROJECT", "--schema-dir", str(schema_copy)]
    assert main([*where, "generate", "add_fee"]) == 0
    out = capsys.readouterr().out
    assert (f"{schema_copy}/down/U{first}__add_fee.sql: undoing loses data: drop column walltrack.orders.fee_sol "
            "(`orders-schema undo` refuses it without --allow-data-loss)") in out
    assert main([*where, "apply", "--dsn", clone]) == 0
    capsys.readouterr()

    assert main([*where, "undo", "--dsn", clone]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err == (
        f"orders-schema undo: undoing V{first}, V{first + 1} loses data: drop column walltrack.orders.fee_sol "
        f"(down/U{first}__add_fee.sql); nothing was undone (run undo with --allow-data-loss to accept the loss)\n")
    with psycopg.connect(clone) as conn:
        assert max(read_history(conn)) == first + 1
        assert conn.execute("SELECT count(fee_sol IS NULL) FROM walltrack.orders").fetchone() == (ROWS,)

    assert main([*where, "undo", "--dsn", clone, "--allow-data-loss"]) == 0
    assert capsys.readouterr().out == f"undid V{first}, V{first + 1}\n"
    with psycopg.connect(clone) as conn:
        assert max(read_history(conn)) == first - 1


def test_a_failing_down_script_names_its_statement_and_leaves_the_version_applied(
    clone: str, schema_copy: Path, orders_databases: Databases
) -> None:
    project = replace(FEE_PROJECT, schema_dir=schema_copy)
    assert workflow.generate(project, "add_fee") is not None
    migrate(clone, schema_copy)
    with psycopg.connect(clone) as conn:  # someone else's view reads the new column
        conn.execute("CREATE VIEW public.fee_report AS SELECT fee_sol FROM walltrack.orders")
        history = read_history(conn)
    with pytest.raises(ApplyError) as caught:
        undo_last(clone, schema_copy, allow_data_loss=True)
    last = max(history)
    message = str(caught.value)
    assert message.startswith(f"down/U{last - 1}__add_fee.sql: 2BP01 cannot drop column fee_sol of table "
                              "walltrack.orders because other objects depend on it, at statement 5 "
                              "(ALTER TABLE walltrack.orders DROP COLUMN IF EXISTS fee_sol;)"), message
    assert message.endswith(f"; nothing was undone: the database is still at V{last}"), message
    with psycopg.connect(clone) as conn:
        assert read_history(conn) == history
        live = inspect_schema(conn, "walltrack")
    assert compare(declared_catalog(project.schema, orders_databases.server.dsn("postgres")), live) == []


def test_an_online_part_that_fails_keeps_the_versions_and_undo_again_finishes(
    clone: str, schema_copy: Path, orders_databases: Databases
) -> None:
    """The down script of a dropped index builds it again CONCURRENTLY, outside the transaction.
    A reader holding a snapshot makes the build wait until lock_timeout (5 s) and leaves it
    INVALID: the versions stay recorded, and undo again drops the debris and finishes."""
    project = replace(PROJECT, schema=_everyday("drop_index").schema, schema_dir=schema_copy)
    assert workflow.generate(project, "drop_index") is not None
    migrate(clone, schema_copy)
    with psycopg.connect(clone) as conn:
        history = read_history(conn)
    reader = psycopg.connect(clone)
    try:
        reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        reader.execute("SELECT count(*) FROM walltrack.positions")
        with pytest.raises(ApplyError, match=r"55P03 .*CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_orders_created.*"
                           r"the history still records V\d+: fix the cause and run undo again"):
            undo_last(clone, schema_copy)
    finally:
        reader.close()
    with psycopg.connect(clone) as conn:
        assert read_history(conn) == history
        assert invalid_indexes(conn) == ["walltrack.idx_orders_created"]
    repaired: list[str] = []
    released_last = max(f.number for f in version_files(PROJECT.schema_dir))
    assert undo_last(clone, schema_copy, progress=repaired.append) == [v for v in history if v > released_last]
    assert repaired == ["repaired: dropped invalid index walltrack.idx_orders_created left by an earlier undo"]
    with psycopg.connect(clone) as conn:
        assert invalid_indexes(conn) == []
        live = inspect_schema(conn, "walltrack")
    released = workflow.released_schema(PROJECT)
    assert released is not None
    assert compare(declared_catalog(released, orders_databases.server.dsn("postgres")), live) == []


def test_an_in_list_reads_the_same_in_both_forms_postgresql_stores() -> None:
    """Created, PostgreSQL stores the array cast whole; after ALTER COLUMN ... TYPE, per element
    (the widen_types row meets both on a server)."""
    created = ("CHECK (((status)::text = ANY ((ARRAY['a'::character varying, 'b,c'::character varying])"
               "::text[])))")
    altered = "CHECK (((status)::text = ANY (ARRAY[('a'::character varying)::text, ('b,c'::character varying)::text])))"
    assert array_casts_per_element(created) == altered == array_casts_per_element(altered)
    assert array_casts_per_element("CHECK ((n = ANY (ARRAY[1, 2])))") == "CHECK ((n = ANY (ARRAY[1, 2])))"


def test_a_down_script_without_marker_lines_loses_what_its_statements_drop() -> None:
    """Down scripts released before generate wrote the marker lines: undo reads their DROP TABLE and
    DROP COLUMN statements (a DROP FUNCTION loses no data)."""
    released = Path(__file__).resolve().parent.parent / "schema" / "down"
    assert undo_losses((released / "U10__story_fixes.sql").read_text(encoding="utf-8")) == [
        "drops walltrack.order_status_counts and every row in it"]
    assert undo_losses((released / "U12__time_ordered_ids.sql").read_text(encoding="utf-8")) == []
    marked = "-- orders-schema: loses-no-data\n\nALTER TABLE s.t DROP COLUMN IF EXISTS x;\n"
    assert undo_losses(marked) == []  # the marker is what generate knew: it wins

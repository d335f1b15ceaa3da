"""Deploys that survive faults: each case breaks an ``apply`` for real on the session's PostgreSQL,
then checks that running ``apply`` again completes and the structure matches the declarations.

Faults are produced the way they happen in production, deterministically: a reader holding a
snapshot (REPEATABLE READ) makes CREATE INDEX CONCURRENTLY wait; a test connection holding a lock
makes a statement wait; the waiting backend is then terminated from another connection once
``pg_stat_activity`` shows it waiting (no sleeps-and-hope).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from orders_schema.cli import main
from orders_schema.declare.project import Project
from orders_schema.live.apply import CreatedIndex, apply_files, created_indexes, created_schemas, migrate
from orders_schema.live.compare import compare, declared_catalog
from orders_schema.live.inspect import Catalog, inspect_schema
from orders_schema.store.files import sha256, version_files
from orders_schema.tester.harness import Databases

from .conftest import ROOT

SCHEMA = ROOT / "schema"
# Other versions are added after V14 in parallel work: the head's are looked up, never written here.
FILES = version_files(SCHEMA)
KNOWN = ", ".join(f"V{f.number}" for f in FILES)
LAST = FILES[-1].number
APP = "orders_schema_fault_test"


@pytest.fixture(scope="module")
def head_catalog(dbs: Databases, orders_schema_project: Project) -> Catalog:
    """The head declarations in PostgreSQL's stored form (verify's structure check), read once."""
    return declared_catalog(orders_schema_project.schema, dbs)


@pytest.fixture
def assert_verified(head_catalog: Catalog) -> Callable[[str], None]:
    """verify's structure check on the database, plus: no INVALID index, history at the last version."""

    def check(dsn: str) -> None:
        with psycopg.connect(dsn) as conn:
            assert compare(head_catalog, inspect_schema(conn, head_catalog.schema)) == []
            assert invalid(conn, "walltrack") == []
            recorded = [r[0] for r in conn.execute("SELECT version FROM orders_schema.history ORDER BY 1")]
        assert recorded == [f.number for f in version_files(SCHEMA)]

    return check


def invalid(conn: psycopg.Connection, schema: str) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND NOT i.indisvalid ORDER BY 1",
        (schema,),
    ).fetchall()
    return [str(r[0]) for r in rows]


def cli(capsys: pytest.CaptureFixture[str], *args: str, schema_dir: Path = SCHEMA) -> tuple[int, str, str]:
    code = main(["--schema-dir", str(schema_dir), *args])
    out, err = capsys.readouterr()
    return code, out, err


def cli_process(*args: str) -> subprocess.Popen[str]:
    """The command line in its own process, so its connection can be terminated under it."""
    return subprocess.Popen(
        [sys.executable, "-m", "orders_schema.cli", "--schema-dir", str(SCHEMA), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )


def waiting_backend(admin: psycopg.Connection, proc: subprocess.Popen[str], query_prefix: str) -> int:
    """The pid of the applier once it waits on a lock inside a statement starting with ``query_prefix``."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        row = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock' "
            "AND query LIKE %s",
            (APP, query_prefix + "%"),
        ).fetchone()
        if row:
            return int(row[0])
        assert proc.poll() is None, f"apply ended before it waited: {proc.communicate()}"
        time.sleep(0.02)
    raise AssertionError(f"apply never waited in {query_prefix!r}")


@pytest.fixture
def snapshot_holder(orders_empty_dsn: str) -> Iterator[Callable[[], psycopg.Connection]]:
    """A reader in REPEATABLE READ that holds a snapshot until the test rolls it back."""
    opened: list[psycopg.Connection] = []

    def open_reader() -> psycopg.Connection:
        conn = psycopg.connect(orders_empty_dsn)
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.execute("SELECT count(*) FROM walltrack.orders")
        opened.append(conn)
        return conn

    yield open_reader
    for conn in opened:
        conn.close()


# ---------------------------------------------------------------------------------------------
# What a file creates, read from its statements
# ---------------------------------------------------------------------------------------------


def test_created_indexes_are_read_from_the_statements_as_postgresql_stores_their_names() -> None:
    text = """-- orders-schema: no-transaction
SET lock_timeout = '5s';
CREATE SCHEMA IF NOT EXISTS "Other";
CREATE TABLE IF NOT EXISTS Other.t (x int);
CREATE INDEX CONCURRENTLY IF NOT EXISTS Idx_Due ON Shop.Items (due) WHERE done IS NULL;
CREATE UNIQUE INDEX CONCURRENTLY "Items_Key_New" ON "Shop".items (id, bucket);
ALTER TABLE shop.items DROP CONSTRAINT IF EXISTS items_pkey,
    ADD CONSTRAINT items_pkey PRIMARY KEY USING INDEX "Items_Key_New";
CREATE INDEX plain ON items (x);
DROP INDEX CONCURRENTLY IF EXISTS shop.idx_old;
CREATE OR REPLACE FUNCTION shop.f() RETURNS void LANGUAGE plpgsql AS $$
BEGIN EXECUTE 'CREATE INDEX hidden ON shop.items (y)'; END $$;
"""
    assert created_indexes(text) == [
        CreatedIndex("idx_due", "shop.items", concurrently=True),
        CreatedIndex("Items_Key_New", '"Shop".items', concurrently=True),
        CreatedIndex("plain", "items", concurrently=False),
    ]
    assert created_schemas([text]) == ["Other", "other", "shop", "Shop"]


def test_the_projects_online_versions_create_the_indexes_they_build() -> None:
    online = {f.path.name: created_indexes(f.text) for f in version_files(SCHEMA) if not f.transactional}
    assert {name: found for name, found in online.items() if int(name[1:].split("__")[0]) <= 14} == {
        "V11__story_fixes_online.sql": [CreatedIndex("idx_orders_retry_due", "walltrack.orders", concurrently=True)],
        "V14__striped_status_counts_online.sql": [
            CreatedIndex("order_status_counts_pkey_new", "walltrack.order_status_counts", concurrently=True)
        ],
    }
    # the later online versions build what their text says: every CREATE INDEX CONCURRENTLY found
    for name, found in online.items():
        text = (SCHEMA / name).read_text(encoding="utf-8")
        assert len(found) == text.count("CREATE INDEX CONCURRENTLY") + text.count("CREATE UNIQUE INDEX CONCURRENTLY")
        assert all(index.concurrently for index in found), name


# ---------------------------------------------------------------------------------------------
# 1. A lock timeout inside a CONCURRENTLY step
# ---------------------------------------------------------------------------------------------


def test_a_lock_timeout_in_v11s_concurrent_build_is_repaired_by_the_rerun(
    orders_empty_dsn: str, snapshot_holder: Callable[[], psycopg.Connection],
    capsys: pytest.CaptureFixture[str], assert_verified: Callable[[str], None],
) -> None:
    migrate(orders_empty_dsn, SCHEMA, target=10)
    reader = snapshot_holder()  # V11's own SET lock_timeout = '5s' applies: this waits 5 s
    code, out, err = cli(capsys, "apply", "--dsn", orders_empty_dsn)
    assert code == 1
    assert "V11__story_fixes_online.sql: 55P03 canceling statement due to lock timeout" in err
    assert "at statement 11 (CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_orders_retry_due ON walltrack.orders" in err
    assert "it left invalid index(es) walltrack.idx_orders_retry_due: apply again drops and rebuilds them" in err
    assert len(err.strip().splitlines()) == 1
    with psycopg.connect(orders_empty_dsn) as conn:
        assert invalid(conn, "walltrack") == ["idx_orders_retry_due"]
    reader.rollback()

    code, out, err = cli(capsys, "apply", "--dsn", orders_empty_dsn)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == (
        "repaired: dropped invalid index walltrack.idx_orders_retry_due left by an earlier try of "
        "V11__story_fixes_online.sql; rebuilding"
    )
    assert [line.split(" in ")[0] for line in lines[1:]] == [
        f"applied {f.path.name.removesuffix('.sql')}" for f in FILES if f.number >= 11]
    assert_verified(orders_empty_dsn)


# ---------------------------------------------------------------------------------------------
# 2. Someone else's INVALID index is none of apply's business
# ---------------------------------------------------------------------------------------------


def test_an_unrelated_invalid_index_neither_blocks_nor_is_touched(
    orders_empty_dsn: str, capsys: pytest.CaptureFixture[str], assert_verified: Callable[[str], None]
) -> None:
    migrate(orders_empty_dsn, SCHEMA, target=10)
    with psycopg.connect(orders_empty_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.app_dup (x integer)")
        conn.execute("INSERT INTO public.app_dup VALUES (1), (1)")
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("CREATE UNIQUE INDEX CONCURRENTLY app_dup_x ON public.app_dup (x)")
        assert invalid(conn, "public") == ["app_dup_x"]
    code, out, err = cli(capsys, "apply", "--dsn", orders_empty_dsn)
    assert (code, err) == (0, "")
    assert "app_dup" not in out and "repaired" not in out
    assert "applied V11__story_fixes_online" in out
    with psycopg.connect(orders_empty_dsn) as conn:
        assert invalid(conn, "public") == ["app_dup_x"]
    assert_verified(orders_empty_dsn)


# ---------------------------------------------------------------------------------------------
# 3. Terminated inside V14's concurrent build; 4. the lost connection is a failed apply
# ---------------------------------------------------------------------------------------------


def test_terminated_inside_v14_fails_naming_file_and_statement_and_the_rerun_heals(
    orders_empty_dsn: str, snapshot_holder: Callable[[], psycopg.Connection],
    capsys: pytest.CaptureFixture[str], assert_verified: Callable[[str], None],
) -> None:
    migrate(orders_empty_dsn, SCHEMA, target=13)
    reader = snapshot_holder()
    proc = cli_process("apply", "--dsn", f"{orders_empty_dsn} application_name={APP}")
    with psycopg.connect(orders_empty_dsn, autocommit=True) as admin:
        pid = waiting_backend(admin, proc, "CREATE UNIQUE INDEX CONCURRENTLY")
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert "cannot connect" not in err
    assert err.startswith("orders-schema apply: V14__striped_status_counts_online.sql: 57P01 ")
    assert ", at statement 2 (CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS order_status_counts_pkey_new" in err
    assert "the connection was lost: V14 runs outside a transaction" in err
    assert len(err.strip().splitlines()) == 1
    reader.rollback()
    with psycopg.connect(orders_empty_dsn) as conn:
        assert invalid(conn, "walltrack") == ["order_status_counts_pkey_new"]

    code, out, err = cli(capsys, "apply", "--dsn", orders_empty_dsn)
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == (
        "repaired: dropped invalid index walltrack.order_status_counts_pkey_new left by an earlier try of "
        "V14__striped_status_counts_online.sql; rebuilding"
    )
    assert out.splitlines()[1].startswith("applied V14__striped_status_counts_online in ")
    assert_verified(orders_empty_dsn)


def test_a_connection_lost_inside_a_transactional_version_fails_it_and_commits_nothing(
    orders_empty_dsn: str, capsys: pytest.CaptureFixture[str], assert_verified: Callable[[str], None]
) -> None:
    migrate(orders_empty_dsn, SCHEMA, target=9)
    with psycopg.connect(orders_empty_dsn) as locker:
        locker.execute("LOCK TABLE walltrack.orders IN ACCESS EXCLUSIVE MODE")
        proc = cli_process("apply", "--dsn", f"{orders_empty_dsn} application_name={APP}")
        with psycopg.connect(orders_empty_dsn, autocommit=True) as admin:
            pid = waiting_backend(admin, proc, "")
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        out, err = proc.communicate(timeout=120)
        locker.rollback()
    assert proc.returncode == 1, err
    assert re.match(r"orders-schema apply: V10__story_fixes\.sql: 57P01 terminating connection .*, at statement \d+ "
                    r"\((ALTER|CREATE|DROP) ", err), err
    assert err.rstrip().endswith("the connection was lost: nothing of V10 was committed (it runs in one transaction)")
    with psycopg.connect(orders_empty_dsn) as conn:
        assert conn.execute("SELECT max(version) FROM orders_schema.history").fetchone() == (9,)
    code, out, err = cli(capsys, "apply", "--dsn", orders_empty_dsn)
    assert (code, err) == (0, "")
    assert out.splitlines()[0].startswith("applied V10__story_fixes in ")
    assert_verified(orders_empty_dsn)


def test_a_files_session_settings_end_with_it(orders_empty_dsn: str, tmp_path: Path) -> None:
    """V1 SETs search_path and lock_timeout; V2, applied in the same deploy, runs with neither (as it
    would in a deploy of its own): its unqualified table lands where the server's default puts it."""
    folder = tmp_path / "schema"
    folder.mkdir()
    texts = {
        "V1__first.sql": "CREATE SCHEMA first;\nSET search_path = first;\nSET lock_timeout = '1ms';\n"
                         "CREATE TABLE t1 (id int);\n",
        "V2__second.sql": "CREATE TABLE t2 AS SELECT current_setting('lock_timeout') AS lock_timeout;\n",
    }
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "released.json").write_text(json.dumps({"versions": [
        {"version": int(name[1]), "name": name[4:-4], "file": name, "sha256": sha256(text)}
        for name, text in texts.items()]}), encoding="utf-8")
    assert [a.version for a in migrate(orders_empty_dsn, folder)] == [1, 2]
    with psycopg.connect(orders_empty_dsn) as conn:
        where = conn.execute("SELECT relname, relnamespace::regnamespace::text FROM pg_class "
                             "WHERE relname IN ('t1', 't2') ORDER BY 1").fetchall()
        assert where == [("t1", "first"), ("t2", "public")]
        assert conn.execute("SELECT lock_timeout FROM public.t2").fetchone() == ("0",)


def test_an_unreachable_server_is_exit_2_and_says_so(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = cli(capsys, "apply", "--dsn", f"host={tmp_path} port=1 dbname=x connect_timeout=2")
    assert (code, out) == (2, "")
    assert err.startswith("orders-schema apply: error: cannot connect: ")


# ---------------------------------------------------------------------------------------------
# 5. A database built by hand: refuse, then adopt it with baseline
# ---------------------------------------------------------------------------------------------


def history_rows(dsn: str) -> list[tuple[int, str]] | None:
    with psycopg.connect(dsn) as conn:
        if conn.execute("SELECT to_regclass('orders_schema.history')").fetchone() == (None,):
            return None
        return [(int(v), str(c)) for v, c in conn.execute("SELECT version, checksum FROM orders_schema.history "
                                                         "ORDER BY 1")]


def test_apply_refuses_a_database_built_by_hand_and_baseline_adopts_it(
    orders_clone_dsn: str, capsys: pytest.CaptureFixture[str], assert_verified: Callable[[str], None]
) -> None:
    # the session template is every file applied without apply (no history): a hand-built database
    code, out, err = cli(capsys, "apply", "--dsn", orders_clone_dsn)
    assert (code, out) == (1, "")
    assert len(err.strip().splitlines()) == 1
    assert "orders_schema.history records no version, so apply would re-run every version over them" in err
    assert "adopt the database with `orders-schema baseline --dsn DSN [--version N]`" in err
    assert history_rows(orders_clone_dsn) is None  # not even the history table was created

    code, out, err = cli(capsys, "baseline", "--dsn", orders_clone_dsn)
    assert (code, err) == (0, "")
    assert out == (f"baseline: the live schema matches the released schema snapshot ({LAST} is the last release); "
                   f"recorded {KNOWN} as applied (not run)\n")
    assert history_rows(orders_clone_dsn) == [(f.number, sha256(f.text)) for f in version_files(SCHEMA)]
    code, out, err = cli(capsys, "apply", "--dsn", orders_clone_dsn)
    assert (code, out, err) == (0, "the database is up to date\n", "")
    assert_verified(orders_clone_dsn)

    code, out, err = cli(capsys, "baseline", "--dsn", orders_clone_dsn)
    assert code == 1
    assert f"orders_schema.history already records {KNOWN}" in err


def test_baseline_refuses_a_schema_that_differs_and_records_nothing(
    orders_clone_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(orders_clone_dsn, autocommit=True) as conn:
        conn.execute("DROP INDEX walltrack.idx_orders_retry_due")
        conn.execute("ALTER TABLE walltrack.orders ADD COLUMN note text")
    code, out, err = cli(capsys, "baseline", "--dsn", orders_clone_dsn)
    assert (code, out) == (1, "")
    lines = err.splitlines()
    assert lines[0] == (f"orders-schema baseline: the live schema walltrack does not match V{LAST} (the released "
                        f"schema snapshot ({LAST} is the last release)): 2 difference(s); nothing was recorded")
    assert "  - column walltrack.orders.note: extra" in lines
    assert "  - index walltrack.idx_orders_retry_due: missing" in lines
    assert history_rows(orders_clone_dsn) is None


@pytest.mark.parametrize(("version", "source"), [
    (9, "the declarations of V9"),
    (12, "V1..V12 applied to a scratch database"),
])
def test_baseline_at_an_earlier_version_then_apply_runs_only_later_ones(
    dbs: Databases, capsys: pytest.CaptureFixture[str], assert_verified: Callable[[str], None],
    version: int, source: str,
) -> None:
    name = dbs.empty("apply_faults_")
    dsn = dbs.server.dsn(name)
    try:
        with psycopg.connect(dsn) as conn:
            apply_files(conn, [f for f in version_files(SCHEMA) if f.number <= version])
            conn.commit()
        assert cli(capsys, "apply", "--dsn", dsn)[0] == 1
        code, out, err = cli(capsys, "baseline", "--dsn", dsn, "--version", str(version))
        assert (code, err) == (0, "")
        assert f"matches {source}; recorded" in out
        recorded = [v for v, _ in history_rows(dsn) or []]
        assert recorded == [f.number for f in version_files(SCHEMA) if f.number <= version]
        code, out, err = cli(capsys, "apply", "--dsn", dsn)
        assert (code, err) == (0, "")
        assert [line.split("__")[0] for line in out.splitlines()] == [
            f"applied V{f.number}" for f in version_files(SCHEMA) if f.number > version
        ]
        assert_verified(dsn)
    finally:
        dbs.drop(name)


def test_baseline_rejects_an_unknown_version(orders_clone_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "baseline", "--dsn", orders_clone_dsn, "--version", "7")
    assert (code, out) == (2, "")
    assert "--version 7: no such version in" in err and f"(known: {KNOWN})" in err
    assert history_rows(orders_clone_dsn) is None


# ---------------------------------------------------------------------------------------------
# 7. released.json is checked before anything runs
# ---------------------------------------------------------------------------------------------


def test_a_tampered_released_file_is_refused_before_anything_runs(
    orders_empty_dsn: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    schema_dir = tmp_path / "schema"
    shutil.copytree(SCHEMA, schema_dir)
    v12 = schema_dir / "V12__time_ordered_ids.sql"
    v12.write_text(v12.read_text() + "\nDROP TABLE walltrack.signals CASCADE;\n")
    code, out, err = cli(capsys, "apply", "--dsn", orders_empty_dsn, schema_dir=schema_dir)
    assert (code, out) == (1, "")
    assert err.startswith("orders-schema apply: V12__time_ordered_ids.sql differs from its release (recorded sha256 ")
    assert err.rstrip().endswith("nothing was applied")
    with psycopg.connect(orders_empty_dsn) as conn:
        schemas = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname IN ('walltrack', 'orders_schema')")
        assert schemas.fetchall() == []


# ---------------------------------------------------------------------------------------------
# 8. --target must be a known version
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["0", "99", "V5"])
def test_a_target_that_is_not_a_version_is_a_usage_error(
    orders_empty_dsn: str, capsys: pytest.CaptureFixture[str], target: str
) -> None:
    code, out, err = cli(capsys, "apply", "--dsn", orders_empty_dsn, "--target", target)
    assert (code, out) == (2, "")
    number = target.removeprefix("V")
    assert err == (f"orders-schema apply: error: --target {number}: no such version in {SCHEMA}/ "
                   f"(known: {KNOWN})\n")
    with psycopg.connect(orders_empty_dsn) as conn:
        assert conn.execute("SELECT to_regnamespace('walltrack')").fetchone() == (None,)


def test_a_target_the_database_is_past_applies_nothing(
    orders_empty_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "apply", "--dsn", orders_empty_dsn, "--target", "9")
    assert code == 0 and [line.split(" in ")[0] for line in out.splitlines()] == [
        "applied V1__walltrack_baseline", "applied V9__orders_table"
    ]
    assert cli(capsys, "apply", "--dsn", orders_empty_dsn, "--target", "1") == (
        0, "the database is up to date at or past V1\n", ""
    )

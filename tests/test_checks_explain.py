"""EXPLAIN cases on synthetic data: declared indexes serve their queries; a dropped index fails."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import psycopg
import pytest

from orders_schema.declare.model import Query
from orders_schema.declare.project import Project, synthetic_parameters
from orders_schema.tester.checks import explain, run_case, run_cases
from orders_schema.tester.harness import Databases

ROWS = 20_000

# Declared here so the engine is tested on its own (the project's queries are tested below too);
# they use indexes that WallTrack's head keeps whatever later versions drop.
TEST_QUERIES = (
    Query(name="t_by_position", sql="SELECT id FROM walltrack.orders WHERE position_id = %(p)s",
          example={"p": "10c8bc67-ed22-f719-7341-bfe00a52a6d4"}, uses_index="idx_orders_position"),
    Query(name="t_recent", sql="SELECT id FROM walltrack.orders ORDER BY created_at DESC LIMIT 20",
          uses_index="idx_orders_created"),
    Query(name="t_by_id", sql="SELECT status FROM walltrack.orders WHERE id = %(id)s",
          example={"id": "2f1a4c9e-0b7d-4d53-9a43-6c1e8f0b2d11"}, uses_index="orders_pkey"),
    Query(name="t_insert", sql="INSERT INTO walltrack.signals (id) VALUES (%(id)s)", example={"id": "x"}),
)


@pytest.fixture(scope="module")
def loaded(dbs: Databases, orders_schema_project: Project) -> Iterator[str]:
    """A clone of head holding ROWS synthetic orders (committed), loaded once for the module."""
    name = dbs.clone("checks_explain_")
    dsn = dbs.server.dsn(name)
    with psycopg.connect(dsn) as conn:
        explain.load_synthetic_data(conn, orders_schema_project, ROWS)
        conn.commit()
    yield dsn
    dbs.drop(name)


@pytest.fixture
def loaded_db(loaded: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(loaded) as conn, conn.transaction(force_rollback=True):
        yield conn


@pytest.fixture(scope="module")
def project(orders_schema_project: Project) -> Project:
    return replace(orders_schema_project, queries=TEST_QUERIES)


PLAN: dict[str, Any] = {
    "Node Type": "Limit",
    "Plans": [
        {"Node Type": "Sort", "Plans": [
            {"Node Type": "Bitmap Heap Scan", "Relation Name": "orders", "Plans": [
                {"Node Type": "BitmapOr", "Plans": [
                    {"Node Type": "Bitmap Index Scan", "Index Name": "idx_a"},
                    {"Node Type": "Bitmap Index Scan", "Index Name": "idx_b"},
                    {"Node Type": "Bitmap Index Scan", "Index Name": "idx_a"},
                ]},
            ]},
        ]},
        {"Node Type": "Index Scan", "Index Name": "idx_c", "Relation Name": "signals", "Subplan Name": "InitPlan 1"},
    ],
}


def test_the_plan_walker_finds_every_index_in_tree_order() -> None:
    assert explain.plan_indexes(PLAN) == ["idx_a", "idx_b", "idx_c"]
    assert explain.plan_summary(PLAN) == (
        "Limit > Sort > Bitmap Heap Scan on orders > BitmapOr > Bitmap Index Scan using idx_a > "
        "Bitmap Index Scan using idx_b > Bitmap Index Scan using idx_a > Index Scan using idx_c on signals"
    )
    assert explain.plan_indexes({"Node Type": "Seq Scan", "Relation Name": "orders"}) == []


def test_only_queries_declaring_an_index_become_cases(project: Project) -> None:
    assert [c.id for c in explain.cases(project)] == ["explain:t_by_position", "explain:t_recent", "explain:t_by_id"]
    assert {c.needs for c in explain.cases(project)} == {"data"}


def test_declared_indexes_serve_their_queries(loaded_db: psycopg.Connection, project: Project) -> None:
    report = run_cases(loaded_db, explain.cases(project))
    assert report.ok(), report.summary()
    assert "Index Scan using idx_orders_position" in report.results[0].message


def test_walltracks_own_queries_are_served_by_their_indexes(
    loaded_db: psycopg.Connection, orders_schema_project: Project
) -> None:
    if not orders_schema_project.queries:
        pytest.skip("the project declares no queries yet")
    report = run_cases(loaded_db, explain.cases(orders_schema_project))
    assert report.ok(), report.summary()


def test_a_dropped_index_fails_naming_query_and_index(loaded_db: psycopg.Connection, project: Project) -> None:
    loaded_db.execute("DROP INDEX walltrack.idx_orders_position")  # rolled back with the transaction
    report = run_cases(loaded_db, explain.cases(project))
    assert [r.id for r in report.failures] == ["explain:t_by_position"]
    message = report.failures[0].message
    assert "query t_by_position (declared to use index idx_orders_position)" in message
    assert "the planner did not choose idx_orders_position; plan: " in message
    assert "Seq Scan on orders" in message


def test_an_index_the_declarations_do_not_have_fails(loaded_db: psycopg.Connection, project: Project) -> None:
    typo = Query(name="typo", sql="SELECT 1", uses_index="idx_orders_positions")
    result = run_case(explain.cases(replace(project, queries=(typo,)))[0], loaded_db)
    assert not result.ok
    assert "no table of schema walltrack declares an index idx_orders_positions" in result.message


def test_unused_indexes_are_reported_not_failed(loaded_db: psycopg.Connection, project: Project) -> None:
    usage = explain.index_usage(loaded_db, project)
    declared = explain.index_names(project.schema)
    pkeys = {t.pkey_name for t in project.schema.tables if t.primary_key}
    assert set(usage.unused) == set(declared) - pkeys - {"idx_orders_position", "idx_orders_created"}
    assert {"idx_orders_signal", "idx_orders_active"} <= set(usage.unused)
    assert usage.used_by["idx_orders_position"] == ("t_by_position",)
    assert usage.plans["t_insert"] == "ModifyTable on signals > Result"
    assert usage.describe().startswith(f"Indexes no declared query uses ({len(usage.unused)}):\n  - ")


def test_run_explain_loads_once_reports_progress_and_rolls_back(
    orders_db: psycopg.Connection, project: Project
) -> None:
    steps: list[explain.LoadProgress] = []
    start = time.perf_counter()
    report = explain.run_explain(orders_db, project, rows=2_000, progress=steps.append)
    assert report.ok(), report.summary()
    assert [r.id for r in report.results] == [c.id for c in explain.cases(project)]
    assert report.index_usage is not None and "idx_orders_signal" in report.index_usage.unused
    statements = len(project.synthetic_data) + len(project.schema.tables)
    assert [s.step for s in steps] == list(range(1, statements + 1))
    assert steps[-1].steps == statements and steps[-1].total_seconds <= time.perf_counter() - start
    assert steps[-1].statement.startswith("ANALYZE walltrack.")
    assert orders_db.execute("SELECT count(*) FROM walltrack.orders").fetchone() == (0,)


def test_a_query_served_by_a_summary_table_reads_that_table_alone(
    loaded_db: psycopg.Connection, project: Project
) -> None:
    good = Query(name="counts", sql="SELECT status, sum(order_count) FROM walltrack.order_settled_counts GROUP BY 1",
                 served_by_table="order_settled_counts")
    bad = Query(name="counts_from_history", served_by_table="order_settled_counts",
                sql="SELECT status, count(*) FROM walltrack.orders GROUP BY status")
    report = run_cases(loaded_db, explain.cases(replace(project, queries=(good, bad))))
    assert [(r.id, r.outcome) for r in report.results] == [
        ("explain:counts", "passed"), ("explain:counts_from_history", "failed")
    ]
    assert "the plan reads ['orders']" in report.results[1].message


def test_each_load_writes_keys_of_its_own(orders_db: psycopg.Connection, project: Project) -> None:
    """Two loads into one database: the second meets the first's rows and collides with none."""
    explain.load_synthetic_data(orders_db, project, 300, run="first")
    explain.load_synthetic_data(orders_db, project, 300)
    signals = orders_db.execute(
        "SELECT count(*), count(*) FILTER (WHERE id LIKE 'sig-first-%%') FROM walltrack.signals"
    ).fetchone()
    assert signals == (360, 180)
    assert orders_db.execute("SELECT count(*) FROM walltrack.orders").fetchone() == (600,)
    with pytest.raises(ValueError, match="run token 'a b'"):
        synthetic_parameters(10, "a b")


def test_a_synthetic_statement_with_a_fixed_key_names_itself_when_it_collides(
    orders_db: psycopg.Connection, project: Project
) -> None:
    fixed = replace(project, synthetic_data=("INSERT INTO walltrack.signals (id) VALUES ('sig-fixed')",))
    orders_db.execute("INSERT INTO walltrack.signals (id) VALUES ('sig-fixed')")
    report = explain.run_explain(orders_db, fixed, rows=10)
    assert [(r.id, r.outcome) for r in report.results] == [("explain:load", "failed")]
    message = report.results[0].message
    assert "synthetic data statement 1 (INSERT INTO walltrack.signals (id) VALUES ('sig-fixed'))" in message
    assert "Key (id)=(sig-fixed) already exists" in message and "Put %(run)s" in message
    assert orders_db.execute("SELECT count(*) FROM walltrack.signals").fetchone() == (1,)

"""The engine as a whole: every case of WallTrack passes at head; the runner isolates and reports."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import psycopg
import pytest

from orders_schema.declare.project import Project
from orders_schema.tester.checks import (
    Case,
    CaseResult,
    CheckResult,
    Report,
    cases,
    failed,
    passed,
    run_case,
    run_cases,
    run_project,
)
from orders_schema.tester.harness import Databases


@pytest.fixture
def empty_database(dbs: Databases) -> Callable[[], AbstractContextManager[str]]:
    @contextmanager
    def make() -> Iterator[str]:
        name = dbs.empty("checks_engine_")
        try:
            yield dbs.server.dsn(name)
        finally:
            dbs.drop(name)

    return make


def test_every_case_passes_on_the_walltrack_head(
    supabase_api_roles: tuple[str, ...],  # so that the access cases of anon and authenticated run too
    orders_committed_dsn: str,
    orders_schema_project: Project,
    empty_database: Callable[[], AbstractContextManager[str]],
) -> None:
    lines: list[str] = []
    report = run_project(
        orders_schema_project, orders_committed_dsn, empty_database=empty_database, commits=True, rows=20_000,
        progress=lambda p: lines.append(p.statement),
    )
    assert report.ok(), report.summary()
    skipped = [r.id for r in report.with_outcome("skipped")]
    assert all(r.startswith("migration:atomic:") for r in skipped), skipped  # only no-transaction files
    assert [r.id for r in report.results] == [c.id for c in _in_run_order(cases(orders_schema_project))]
    assert lines and report.index_usage is not None
    with psycopg.connect(orders_committed_dsn) as conn:
        for table in orders_schema_project.schema.tables:
            if table.name == "order_settled_counts":
                # kept by row triggers of the head (the committing case deletes only its own
                # rows); the probe's insert and delete must cancel out
                left = conn.execute("SELECT coalesce(sum(order_count), 0) FROM walltrack.order_settled_counts")
                assert left.fetchone() == (0,)
                continue
            row = conn.execute(f"SELECT count(*) FROM walltrack.{table.name}").fetchone()
            assert row == (0,), f"{table.name} kept probe rows"


def _in_run_order(selected: list[Case]) -> list[Case]:
    order = ("rollback", "data", "commits", "empty")
    return sorted(selected, key=lambda c: order.index(c.needs))


def test_cases_that_need_another_database_are_skipped_with_the_reason(
    orders_db: psycopg.Connection, orders_schema_project: Project
) -> None:
    report = run_cases(orders_db, [c for c in cases(orders_schema_project) if c.needs in ("commits", "empty")])
    assert {r.outcome for r in report.results} == {"skipped"}
    assert "keeps commits" in report.results[0].message
    assert "an empty database" in report.results[-1].message


def test_a_case_that_raises_becomes_a_failure_and_its_writes_are_rolled_back(orders_db: psycopg.Connection) -> None:
    def broken(conn: psycopg.Connection) -> CheckResult:
        conn.execute("INSERT INTO walltrack.signals (id) VALUES ('written-by-a-broken-case')")
        conn.execute("SELECT 1/0")
        raise AssertionError("not reached")

    result = run_case(Case("demo:broken", broken), orders_db)
    assert not result.ok
    assert result.message.startswith("demo:broken: the check itself raised DivisionByZero")
    left = orders_db.execute("SELECT count(*) FROM walltrack.signals WHERE id = 'written-by-a-broken-case'")
    assert left.fetchone() == (0,)


def test_the_report_summarises_non_passing_results() -> None:
    ok = CaseResult(Case("a", lambda c: passed("")), passed("fine"), 0.001)
    bad = CaseResult(Case("b", lambda c: failed("")), failed("b: broken"), 0.002)
    report = Report((ok, bad))
    assert not report.ok()
    assert report.failures == [bad]
    assert report.summary() == "FAILED  b (2 ms)\n  b: broken\n1 passed, 1 failed in 0.00 s"

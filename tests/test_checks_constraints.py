"""Constraint cases on WallTrack: they pass at head and fail, naming the object, on mutated clones."""

from __future__ import annotations

import psycopg
import pytest

from orders_schema.declare.model import TEXT, Column, varchar
from orders_schema.declare.project import Project
from orders_schema.tester.checks import Case, constraints, run_case, run_cases
from orders_schema.tester.checks.constraints import outsiders


def case(project: Project, case_id: str) -> Case:
    return next(c for c in constraints.cases(project) if c.id == case_id)


def test_every_constraint_case_passes_at_head(orders_db: psycopg.Connection, orders_schema_project: Project) -> None:
    report = run_cases(orders_db, constraints.cases(orders_schema_project))
    assert report.ok(), report.summary()  # warnings (a probe the declarations cannot build) are allowed
    ids = {r.id for r in report.results}
    assert {
        "row:orders", "not-null:orders.status", "not-null:orders.id", "not-null:signals.id",
        "check:orders.orders_status_check", "check:orders.orders_side_check", "unique:orders.orders_pkey",
    } <= ids
    assert "not-null:orders.signal_id" not in ids


def test_the_status_check_enumerates_every_value_and_outsiders(
    orders_db: psycopg.Connection, orders_schema_project: Project
) -> None:
    result = run_case(case(orders_schema_project, "check:orders.orders_status_check"), orders_db)
    assert result.ok, result.message
    assert "6 allowed values insert, 26 outsiders rejected" in result.message


def test_a_value_removed_from_the_status_check_fails_naming_it(
    orders_clone_dsn: str, orders_schema_project: Project
) -> None:
    with psycopg.connect(orders_clone_dsn) as conn:
        conn.execute("ALTER TABLE walltrack.orders DROP CONSTRAINT orders_status_check")
        conn.execute(
            "ALTER TABLE walltrack.orders ADD CONSTRAINT orders_status_check "
            "CHECK (status IN ('pending', 'submitted', 'filled', 'failed', 'cancelled'))"
        )
        conn.commit()
        result = run_case(case(orders_schema_project, "check:orders.orders_status_check"), conn)
    assert not result.ok
    assert "CHECK orders_status_check on walltrack.orders" in result.message
    assert "status = 'confirming' was rejected (23514" in result.message
    assert "expected it to insert" in result.message
    assert result.message.count("\n  - ") == 1, result.message


def test_a_dropped_not_null_fails_naming_the_column(orders_clone_dsn: str, orders_schema_project: Project) -> None:
    with psycopg.connect(orders_clone_dsn) as conn:
        conn.execute("ALTER TABLE walltrack.orders ALTER COLUMN token_address DROP NOT NULL")
        conn.commit()
        report = run_cases(conn, constraints.cases(orders_schema_project))
    assert [r.id for r in report.failures] == ["not-null:orders.token_address"]
    message = report.failures[0].message
    assert "NOT NULL walltrack.orders.token_address" in message
    assert "token_address = NULL was accepted; expected it to fail with 23502 (not_null_violation)" in message


def test_the_cases_roll_back_everything(orders_committed_dsn: str, orders_schema_project: Project) -> None:
    with psycopg.connect(orders_committed_dsn) as conn:
        report = run_cases(conn, constraints.cases(orders_schema_project))
        conn.commit()
        counts = {
            t.name: conn.execute(f"SELECT count(*) FROM walltrack.{t.name}").fetchone()
            for t in orders_schema_project.schema.tables
        }
    assert report.ok(), report.summary()
    assert set(counts.values()) == {(0,)}, counts


@pytest.mark.parametrize(
    ("column", "allowed", "expected"),
    [
        (Column(name="c", type=TEXT), ("ab",), ["", "zq", "AB", "ab ", " ab", "a"]),
        (Column(name="c", type=varchar(2)), ("ab",), ["", "zq", "AB", "a"]),
        (Column(name="c", type=TEXT), ("1", "a"), ["", "zq", "1 ", " 1", "A", "a ", " a"]),
    ],
)
def test_outsiders_fit_the_column_and_are_never_allowed(
    column: Column, allowed: tuple[str, ...], expected: list[str]
) -> None:
    assert outsiders(column, allowed, "zq") == expected

"""WallTrack's declared trigger behaviour on a real server: passes at head, fails on mutated clones."""

from __future__ import annotations

import psycopg

from orders_schema.declare.project import Project
from orders_schema.tester.checks import Case, CaseResult, run_case, run_cases, triggers
from orders_schema.walltrack.behaviour import BEHAVIOURS

NO_OP_AUDIT = (
    "CREATE OR REPLACE FUNCTION walltrack.log_order_status_change() RETURNS trigger "
    "LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$"
)


def case(project: Project, case_id: str) -> Case:
    return next(c for c in triggers.cases(project) if c.id == case_id)


def run_on(dsn: str, selected: Case, *mutation: str) -> CaseResult:
    with psycopg.connect(dsn) as conn:
        for statement in mutation:
            conn.execute(statement)
        conn.commit()
        return run_case(selected, conn)


def test_walltrack_declares_its_trigger_behaviour(orders_schema_project: Project) -> None:
    assert orders_schema_project.behaviours == BEHAVIOURS
    assert [c.id for c in triggers.cases(orders_schema_project)] == [
        "trigger:touches:orders.updated_at",
        "trigger:touches-across-transactions:orders.updated_at",
        "trigger:audits:orders.status",
    ]


def test_trigger_cases_pass_at_head(orders_db: psycopg.Connection, orders_schema_project: Project) -> None:
    report = run_cases(orders_db, triggers.cases(orders_schema_project))
    assert report.ok(), report.summary()
    assert [r.outcome for r in report.results] == ["passed", "skipped", "passed"]


def test_updated_at_advances_across_committed_transactions_and_the_case_cleans_up(
    orders_committed_dsn: str, orders_schema_project: Project
) -> None:
    selected = case(orders_schema_project, "trigger:touches-across-transactions:orders.updated_at")
    assert selected.needs == "commits"
    result = run_on(orders_committed_dsn, selected)
    assert result.ok, result.message
    with psycopg.connect(orders_committed_dsn) as conn:
        left = conn.execute("SELECT (SELECT count(*) FROM walltrack.orders), (SELECT count(*) FROM walltrack.signals)")
        assert left.fetchone() == (0, 0)


def test_an_audit_function_that_does_nothing_fails_naming_the_audit_table(
    orders_clone_dsn: str, orders_schema_project: Project
) -> None:
    result = run_on(orders_clone_dsn, case(orders_schema_project, "trigger:audits:orders.status"), NO_OP_AUDIT)
    assert not result.ok
    assert "changing walltrack.orders.status writes one row to config_audit_log" in result.message
    assert "status changed 'pending' -> 'submitted': no row was written to walltrack.config_audit_log" in result.message


def test_an_audit_written_on_every_update_fails_the_unchanged_probe(
    orders_clone_dsn: str, orders_schema_project: Project
) -> None:
    every_update = """CREATE OR REPLACE FUNCTION walltrack.log_order_status_change() RETURNS trigger
    LANGUAGE plpgsql AS $$BEGIN
        INSERT INTO walltrack.config_audit_log (config_table, config_key, old_value, new_value, changed_by, reason)
        VALUES ('orders', NEW.id::text, OLD.status, NEW.status, 'system', NEW.last_error);
        RETURN NEW;
    END$$"""
    result = run_on(orders_clone_dsn, case(orders_schema_project, "trigger:audits:orders.status"), every_update)
    assert not result.ok
    assert "an UPDATE that left status unchanged (SET status = status and last_error) wrote 1 row(s)" in result.message
    assert "status changed" not in result.message  # the change itself is still audited correctly


def test_a_dropped_updated_at_trigger_fails_both_touch_cases(
    orders_clone_dsn: str, orders_schema_project: Project
) -> None:
    drop = "DROP TRIGGER trg_orders_updated ON walltrack.orders"
    result = run_on(orders_clone_dsn, case(orders_schema_project, "trigger:touches:orders.updated_at"), drop)
    assert not result.ok
    assert "walltrack.orders.updated_at advances on every UPDATE" in result.message
    assert "after UPDATE ... SET order_type = order_type, updated_at is 2000-01-01" in result.message
    assert "a repository saving the whole row" in result.message
    across = case(orders_schema_project, "trigger:touches-across-transactions:orders.updated_at")
    result = run_on(orders_clone_dsn, across)
    assert not result.ok and "expected it to advance" in result.message


def test_a_declaration_that_does_not_match_the_schema_fails_naming_it(orders_db: psycopg.Connection) -> None:
    from dataclasses import replace

    from orders_schema.declare.behaviour import TouchesOnUpdate
    from orders_schema.walltrack import PROJECT

    wrong = replace(PROJECT, behaviours=(TouchesOnUpdate(table="orders", column="modified_at"),))
    result = run_case(triggers.cases(wrong)[0], orders_db)
    assert not result.ok
    assert "table walltrack.orders has no column(s) ['modified_at']" in result.message

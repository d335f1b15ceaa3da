"""The access cases on a real server: WallTrack at head passes every (role, object, command) case,
with the API roles present; a weakened database fails the cases it breaks, naming role, object
and command."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import psycopg
import pytest

from orders_schema.declare.project import Project
from orders_schema.tester.checks import CaseResult, access, run_case, run_cases


def by_id(project: Project) -> dict[str, access.Case]:
    return {c.id: c for c in access.cases(project)}


def run(dsn: str, project: Project, case_id: str, *mutation: str) -> CaseResult:
    with psycopg.connect(dsn) as conn:
        for statement in mutation:
            conn.execute(statement)
        conn.commit()
        return run_case(by_id(project)[case_id], conn)


def test_one_case_per_role_object_and_command(orders_schema_project: Project) -> None:
    ids = list(by_id(orders_schema_project))
    roles = Counter(i.split(":")[1].split(".")[0] for i in ids)
    # 5 tables x 5 commands, 2 views, uuid_v7() (trigger functions cannot be called)
    assert roles == {"walltrack_app": 28, "walltrack_reader": 28, "anon": 28, "authenticated": 28}
    assert "access:walltrack_app.orders.INSERT" in ids and "access:anon.order_stats.SELECT" in ids


def test_every_access_case_passes_at_head(
    supabase_api_roles: tuple[str, ...], orders_db: psycopg.Connection, orders_schema_project: Project
) -> None:
    report = run_cases(orders_db, access.cases(orders_schema_project))
    assert report.ok(), report.summary()
    outcomes = {r.id: r.outcome for r in report.results}
    assert set(outcomes.values()) == {"passed"}, [i for i, o in outcomes.items() if o != "passed"]
    messages = {r.id: r.message for r in report.results}
    assert "allowed as declared" in messages["access:walltrack_app.orders.UPDATE"]
    assert "refused as declared" in messages["access:walltrack_app.config_audit_log.INSERT"]
    assert "refused as declared" in messages["access:walltrack_app.orders.DELETE"]
    assert "refused as declared" in messages["access:walltrack_app.orders.TRUNCATE"]
    assert "refused as declared" in messages["access:walltrack_app.order_settled_counts.UPDATE"]
    assert "allowed as declared" in messages["access:walltrack_reader.order_stats.SELECT"]
    assert "refused as declared" in messages["access:walltrack_reader.orders.SELECT"]
    assert "refused as declared" in messages["access:anon.orders.SELECT"]
    assert "refused as declared" in messages["access:authenticated.uuid_v7.EXECUTE"]


@pytest.mark.parametrize(("case_id", "mutation", "message"), [
    ("access:walltrack_app.orders.DELETE", "GRANT DELETE ON walltrack.orders TO walltrack_app",
     "expected to be refused"),
    ("access:anon.orders.SELECT",
     "GRANT USAGE ON SCHEMA walltrack TO anon; GRANT SELECT ON walltrack.orders TO anon", "expected to be refused"),
    ("access:walltrack_app.orders.SELECT", "DROP POLICY walltrack_app_reads_orders ON walltrack.orders",
     "expected allowed, but"),
    ("access:walltrack_app.config_audit_log.SELECT",
     "GRANT SELECT ON walltrack.config_audit_log TO walltrack_app; "
     "ALTER TABLE walltrack.config_audit_log DISABLE ROW LEVEL SECURITY", "expected to be refused"),
])
def test_a_weakened_database_fails_the_case_it_breaks(
    supabase_api_roles: tuple[str, ...], orders_clone_dsn: str, orders_schema_project: Project,
    case_id: str, mutation: str, message: str,
) -> None:
    result = run(orders_clone_dsn, orders_schema_project, case_id, mutation)
    assert result.outcome == "failed" and message in result.message, result.message
    role, obj = case_id.split(":")[1].split(".")[:2]
    assert role in result.message and obj in result.message


def test_row_security_without_a_policy_shows_no_rows(
    supabase_api_roles: tuple[str, ...], orders_clone_dsn: str, orders_schema_project: Project
) -> None:
    """A careless GRANT on a table whose row security has no policy for the role opens no row."""
    result = run(orders_clone_dsn, orders_schema_project, "access:walltrack_app.config_audit_log.SELECT",
                 "GRANT SELECT ON walltrack.config_audit_log TO walltrack_app")
    assert result.outcome == "failed" and "expected to be refused" in result.message
    assert "(result 0)" in result.message  # it ran, but saw none of the row put there


def test_update_on_a_table_whose_other_columns_postgresql_computes_sets_them_to_default(
    orders_empty_dsn: str, tmp_path: Path
) -> None:
    """A GENERATED ALWAYS column (identity or stored) can only be updated to DEFAULT: the UPDATE
    case picks a plain column when there is one, else sets the computed one to DEFAULT."""
    from orders_schema.declare import model as m
    from orders_schema.declare import project as p
    from orders_schema.migrate.plan import create_statements
    from orders_schema.migrate.render import RENDERER

    table = m.Table(name="tallies", columns=(
        m.Column(name="id", type=m.BIGINT, nullable=False, identity=m.Identity(generated="ALWAYS")),
        m.Column(name="doubled", type=m.BIGINT, generated="id * 2")),
        primary_key=m.PrimaryKey(columns=("id",)))
    schema = m.Schema(name="acc", tables=(table,), roles=(m.Role(name="acc_writer"),),
                      grants=(m.Grant(to="acc_writer", privileges=("USAGE",), on="schema"),
                              m.Grant(to="acc_writer", privileges=("SELECT", "UPDATE"), on="table", name="tallies")))
    project = p.Project(schema=schema, versions=(), schema_dir=tmp_path / "schema")
    with psycopg.connect(orders_empty_dsn, autocommit=True) as conn:
        conn.execute(RENDERER.script(create_statements(schema)).encode())
    with psycopg.connect(orders_empty_dsn) as conn:
        result = run_case(by_id(project)["access:acc_writer.tallies.UPDATE"], conn)
    assert result.outcome == "passed", result.result
    assert "allowed as declared" in result.result.message

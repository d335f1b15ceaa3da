"""Ready-made tests a project opts into (pytest-alembic style): import them into a test module.

    # tests/test_declared_schema.py
    from orders_schema.testing import (  # noqa: F401
        test_orders_schema_case, test_orders_schema_structure, test_orders_schema_unused_indexes,
    )

``test_orders_schema_structure`` compares the database built from every version file with the
declarations in PostgreSQL's stored form. ``test_orders_schema_case`` is parametrized by the
plugin with every behaviour case derived from the declarations (constraints, triggers, EXPLAIN,
migrations): one test item per case, each on the database its case needs. Both carry the
``orders_schema`` marker, so ``pytest -m orders_schema`` runs just them.
``test_orders_schema_unused_indexes`` EXPLAINs every declared query on the synthetic data and warns
about the declared indexes no plan uses (each costs every write; the report is what decides
which to drop).
"""

from __future__ import annotations

import psycopg
import pytest

from orders_schema.live.compare import compare, declared_catalogs
from orders_schema.live.inspect import inspect_schema
from orders_schema.tester.checks import Case
from orders_schema.tester.harness import Databases
from orders_schema.tester.plugin import CaseRunner


@pytest.mark.orders_schema
def test_orders_schema_structure(orders_databases: Databases, orders_clone_dsn: str) -> None:
    """Every version applied in order gives exactly the declared schema (stored forms compared)."""
    project = orders_databases.project
    with psycopg.connect(orders_clone_dsn) as conn:
        live = [inspect_schema(conn, s.name) for s in project.schemas]
    declared = declared_catalogs(project.schemas, orders_databases)
    differences = [d for want, got in zip(declared, live, strict=True) for d in compare(want, got)]
    assert not differences, "\n".join(str(d) for d in differences)


@pytest.mark.orders_schema
def test_orders_schema_case(orders_schema_case: Case, orders_case_runner: CaseRunner) -> None:
    """One behaviour case derived from the declarations (the plugin parametrizes this test)."""
    result = orders_case_runner(orders_schema_case)
    if result.outcome == "skipped":
        pytest.skip(result.message)
    assert result.ok, result.message
    if result.outcome == "warning":
        import warnings

        warnings.warn(result.message, stacklevel=1)


@pytest.mark.orders_schema
def test_orders_schema_unused_indexes(_orders_data_conn: psycopg.Connection, orders_databases: Databases) -> None:
    """Which declared indexes serve a declared query; those that serve none are reported as a warning."""
    import warnings

    from orders_schema.tester.checks.explain import index_names, index_usage

    project = orders_databases.project
    with _orders_data_conn.transaction(force_rollback=True):
        usage = index_usage(_orders_data_conn, project)
    failed = {name: plan for name, plan in usage.plans.items() if plan.startswith("EXPLAIN failed")}
    assert not failed, f"declared queries that do not EXPLAIN: {failed}"
    assert set(usage.plans) == {q.name for q in project.queries}
    declared = set(index_names(project.schema))
    assert set(usage.unused) <= declared and not set(usage.unused) & set(usage.used_by)
    if usage.unused:
        warnings.warn(usage.describe(), stacklevel=1)

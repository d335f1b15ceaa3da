"""Ready-made tests a project opts into (pytest-alembic style): import them into a test module.

    # tests/test_declared_schema.py
    from orders_schema.testing import test_orders_schema_case, test_orders_schema_structure  # noqa: F401

``test_orders_schema_structure`` compares the database built from every version file with the
declarations in PostgreSQL's stored form. ``test_orders_schema_case`` is parametrized by the
plugin with every behaviour case derived from the declarations (constraints, triggers, EXPLAIN,
migrations): one test item per case, each on the database its case needs. Both carry the
``orders_schema`` marker, so ``pytest -m orders_schema`` runs just them.
"""

from __future__ import annotations

import pytest

from .checks import Case
from .compare import compare, declared_catalog
from .harness import Databases
from .inspect import inspect_schema
from .pytest_plugin import CaseRunner


@pytest.mark.orders_schema
def test_orders_schema_structure(orders_databases: Databases, orders_clone_dsn: str) -> None:
    """Every version applied in order gives exactly the declared schema (stored forms compared)."""
    import psycopg

    project = orders_databases.project
    with psycopg.connect(orders_clone_dsn) as conn:
        live = inspect_schema(conn, project.schema.name)
    differences = compare(declared_catalog(project.schema, orders_databases), live)
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

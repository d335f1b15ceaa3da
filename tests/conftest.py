"""Shared helpers for the test suite; the database fixtures come from orders_schema.tester.plugin."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg import sql

from orders_schema.tester.harness import Databases

pytest_plugins = ("pytester",)

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def psql(dbs: Databases, dbname: str, text: str) -> subprocess.CompletedProcess[str]:
    """Run SQL text through psql exactly as a DBA or Flyway would (stop at the first error)."""
    assert dbs.server.bindir is not None
    return subprocess.run(
        [str(dbs.server.bindir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", dbs.server.dsn(dbname)],
        input=text, capture_output=True, text=True, check=False,
    )


def pg_dump_schema(dbs: Databases, dbname: str, schema: str) -> str:
    assert dbs.server.bindir is not None
    out = subprocess.run(
        [str(dbs.server.bindir / "pg_dump"), "--schema-only", "--no-owner", "-n", schema, dbs.server.dsn(dbname)],
        capture_output=True, text=True, check=True,
    ).stdout
    # pg_dump >= 15.14 writes a random \restrict key; it is not part of the schema.
    return "\n".join(line for line in out.splitlines() if not line.startswith(("\\restrict", "\\unrestrict")))


@pytest.fixture(scope="session")
def dbs(orders_databases: Databases) -> Databases:
    return orders_databases


@pytest.fixture
def supabase_api_roles(orders_databases: Databases) -> Iterator[tuple[str, ...]]:
    """Supabase's API roles (``anon``, ``authenticated``) on the throwaway server for one test.

    Roles are cluster-wide: those that already exist are left alone; those created here are
    dropped afterwards. Request it before the database fixtures, so that the test's databases
    (which may hold privileges granted to them) are dropped first."""
    from orders_schema.tester.checks.access import API_ROLES

    created: list[str] = []
    with orders_databases.admin() as conn:
        for role in API_ROLES:
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
                conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
                created.append(role)
    yield API_ROLES
    with orders_databases.admin() as conn:
        for role in created:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))

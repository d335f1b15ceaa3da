"""Catalogue -> declarations on a real PostgreSQL: a live schema read back as model objects,
created on an empty database and read again gives the same stored forms (and the same
declarations); what the model cannot declare is listed by name, never dropped."""

from __future__ import annotations

import psycopg

from orders_schema.live.compare import compare
from orders_schema.live.declare import read_declarations
from orders_schema.live.inspect import inspect_schema
from orders_schema.migrate.plan import create_statements
from orders_schema.migrate.render import RENDERER
from orders_schema.tester.harness import Databases


def rebuilt(dbs: Databases, schema_name: str, source_dsn: str) -> None:
    """Read ``schema_name`` from ``source_dsn``, create its declarations on an empty database and
    check that both catalogues and both declarations agree."""
    with psycopg.connect(source_dsn) as conn:
        source = inspect_schema(conn, schema_name)
        declared = read_declarations(conn, schema_name)
    copy = dbs.empty("orders_schema_decl")
    try:
        with psycopg.connect(dbs.server.dsn(copy), autocommit=True) as conn:
            conn.execute(RENDERER.script(create_statements(declared.schema)))
            again = read_declarations(conn, schema_name)
            diffs = compare(source, inspect_schema(conn, schema_name))
            assert diffs == [], "\n".join(map(str, diffs))
        assert again.schema == declared.schema
    finally:
        dbs.drop(copy)


def test_walltrack_head_built_by_its_versions_reads_back_exactly(dbs: Databases, orders_clone_dsn: str) -> None:
    with psycopg.connect(orders_clone_dsn) as conn:
        declared = read_declarations(conn, dbs.project.schema.name)
    assert declared.undeclared == (), declared.report()
    assert {t.name for t in declared.schema.tables} == {t.name for t in dbs.project.schema.tables}
    rebuilt(dbs, dbs.project.schema.name, orders_clone_dsn)

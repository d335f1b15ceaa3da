"""The table-constraint kind on a real PostgreSQL: CHECK, FOREIGN KEY and UNIQUE added to a table
that holds rows (NOT VALID then VALIDATE online, UNIQUE directly), applied, compared in stored form
("nothing left to change"); drift named, a renamed CHECK matched by meaning; undone."""

from __future__ import annotations

from pathlib import Path

import psycopg

from orders_schema.declare import model as m
from orders_schema.declare import project as p
from orders_schema.live.apply import migrate, undo_last
from orders_schema.live.compare import compare, declared_catalog
from orders_schema.live.inspect import inspect_schema
from orders_schema.migrate import workflow
from orders_schema.tester.harness import Databases

ID = m.Column(name="id", type=m.INTEGER, nullable=False)
QTY = m.Column(name="qty", type=m.INTEGER)
PARENT = m.Column(name="parent", type=m.INTEGER)
ITEMS = m.Table(name="items", columns=(ID, QTY, PARENT), primary_key=m.PrimaryKey(columns=("id",)))
V1_STATE = m.Schema(name="con", tables=(ITEMS,))
V1 = m.Version(number=1, name="con", create_schema=True, state=V1_STATE,
               phases=(m.Phase(title="ITEMS", items=(ITEMS,)),))
HEAD = m.Schema(name="con", tables=(ITEMS.replace(
    checks=(m.Check(name="qty_positive", expression="qty > 0"),),
    foreign_keys=(m.ForeignKey(name="items_parent_fkey", columns=("parent",), ref_table="items",
                               ref_columns=("id",)),),
    uniques=(m.Unique(name="items_qty_parent_key", columns=("qty", "parent")),),
),))


def differences(dbs: Databases, dsn: str, schema: m.Schema) -> list[tuple[str, str, str]]:
    with psycopg.connect(dsn) as conn:
        live = inspect_schema(conn, "con")
    return [(d.kind, d.name, d.what) for d in compare(declared_catalog(schema, dbs), live)]


def test_constraints_generate_apply_compare_and_undo(
    tmp_path: Path, orders_empty_dsn: str, orders_databases: Databases
) -> None:
    workflow.render(p.Project(schema=V1_STATE, versions=(V1,), schema_dir=tmp_path / "schema"))
    proj = p.Project(schema=HEAD, versions=(V1,), schema_dir=tmp_path / "schema")
    result = workflow.generate(proj, "constraints")
    assert result is not None
    tx, online = (result.files[name] for name in result.versions)
    assert "ADD CONSTRAINT qty_positive CHECK (qty > 0) NOT VALID;" in tx
    assert "ADD CONSTRAINT items_qty_parent_key UNIQUE (qty, parent);" in tx
    assert "ALTER TABLE con.items VALIDATE CONSTRAINT items_parent_fkey;" in online
    assert workflow.generate(proj, "again") is None  # settled

    migrate(orders_empty_dsn, proj.schema_dir)
    assert differences(orders_databases, orders_empty_dsn, HEAD) == []
    with psycopg.connect(orders_empty_dsn, autocommit=True) as conn:
        catalog = inspect_schema(conn, "con")
        assert [(c.table, c.name, c.kind) for c in catalog.constraints] == [
            ("items", "items_parent_fkey", "foreign key"), ("items", "items_pkey", "primary key"),
            ("items", "items_qty_parent_key", "unique"), ("items", "qty_positive", "check")]
        assert catalog.table("items").constraints == catalog.constraints
        conn.execute("ALTER TABLE con.items RENAME CONSTRAINT qty_positive TO qty_above_zero")
        conn.execute("ALTER TABLE con.items DROP CONSTRAINT items_qty_parent_key")
    assert differences(orders_databases, orders_empty_dsn, HEAD) == [
        ("check", "con.items.qty_positive", "renamed to qty_above_zero (same definition)"),
        ("unique", "con.items.items_qty_parent_key", "missing"),
        ("index", "con.items_qty_parent_key", "missing"),  # the index it was backed by
    ]
    with psycopg.connect(orders_empty_dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE con.items RENAME CONSTRAINT qty_above_zero TO qty_positive")
    assert undo_last(orders_empty_dsn, proj.schema_dir) == [2, 3]
    assert differences(orders_databases, orders_empty_dsn, V1_STATE) == []

"""A renamed table's defaulted primary key follows it, on a real PostgreSQL.

PostgreSQL keeps a key (and its index) under its name on ``ALTER TABLE ... RENAME TO``: a table
``goods`` renamed ``items`` still has ``goods_pkey``, while the declaration (key name defaulted)
expects ``items_pkey``. The version renames the constraint (and with it the index); a key changed
in the same version is swapped under the name it has by then; the down script names it back. An
explicitly named UNIQUE keeps its name: nothing to rename."""

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
CODE = m.Column(name="code", type=m.TEXT, nullable=False)
UNIQUE = m.Unique(name="goods_code_key", columns=("code",))
GOODS = m.Table(name="goods", columns=(ID, CODE), primary_key=m.PrimaryKey(columns=("id",)), uniques=(UNIQUE,))
V1_STATE = m.Schema(name="pkr", tables=(GOODS,))
V1 = m.Version(number=1, name="pkr", create_schema=True, state=V1_STATE,
               phases=(m.Phase(title="GOODS", items=(GOODS,)),))
ITEMS = GOODS.replace(name="items", renamed_from="goods")


def differences(dbs: Databases, dsn: str, schema: m.Schema) -> list[tuple[str, str, str]]:
    with psycopg.connect(dsn) as conn:
        live = inspect_schema(conn, "pkr")
    return [(d.kind, d.name, d.what) for d in compare(declared_catalog(schema, dbs), live)]


def keys(dsn: str) -> list[tuple[str, str, str]]:
    """(table, constraint, definition) of every PRIMARY KEY / UNIQUE, and the indexes."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT t.relname, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c"
            " JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = c.connamespace"
            " WHERE n.nspname = %(s)s AND c.contype IN ('p', 'u')"
            " UNION ALL SELECT tablename, indexname, 'index' FROM pg_indexes WHERE schemaname = %(s)s",
            {"s": "pkr"}).fetchall()
    return sorted((str(a), str(b), str(c)) for a, b, c in rows)


def released(tmp_path: Path, dsn: str) -> Path:
    schema_dir = tmp_path / "schema"
    workflow.render(p.Project(schema=V1_STATE, versions=(V1,), schema_dir=schema_dir))
    migrate(dsn, schema_dir)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO pkr.goods VALUES (1, 'a'), (2, 'b')")
    return schema_dir


BEFORE = [("goods", "goods_code_key", "UNIQUE (code)"), ("goods", "goods_code_key", "index"),
          ("goods", "goods_pkey", "PRIMARY KEY (id)"), ("goods", "goods_pkey", "index")]


def test_a_renamed_table_renames_its_defaulted_key_and_back(
    tmp_path: Path, orders_empty_dsn: str, orders_databases: Databases
) -> None:
    schema_dir = released(tmp_path, orders_empty_dsn)
    head = m.Schema(name="pkr", tables=(ITEMS,))
    proj = p.Project(schema=head, versions=(V1,), schema_dir=schema_dir)
    result = workflow.generate(proj, "rename")
    assert result is not None and len(result.versions) == 1
    tx = result.files[result.versions[0]]
    table = "ALTER TABLE pkr.goods RENAME TO items;"
    key = "ALTER TABLE pkr.items RENAME CONSTRAINT goods_pkey TO items_pkey;"
    assert table in tx and key in tx and tx.index(table) < tx.index(key)
    assert "goods_code_key" not in tx  # a declared UNIQUE name does not follow the table
    migrate(orders_empty_dsn, schema_dir)
    assert differences(orders_databases, orders_empty_dsn, head) == []
    assert workflow.generate(proj, "again") is None
    assert keys(orders_empty_dsn) == [
        ("items", "goods_code_key", "UNIQUE (code)"), ("items", "goods_code_key", "index"),
        ("items", "items_pkey", "PRIMARY KEY (id)"), ("items", "items_pkey", "index")]
    assert undo_last(orders_empty_dsn, schema_dir) == [2]
    assert differences(orders_databases, orders_empty_dsn, V1_STATE) == []
    assert keys(orders_empty_dsn) == BEFORE


def test_a_renamed_table_whose_key_changes_swaps_it_under_its_new_name(
    tmp_path: Path, orders_empty_dsn: str, orders_databases: Databases
) -> None:
    schema_dir = released(tmp_path, orders_empty_dsn)
    head = m.Schema(name="pkr", tables=(ITEMS.replace(primary_key=m.PrimaryKey(columns=("id", "code"))),))
    proj = p.Project(schema=head, versions=(V1,), schema_dir=schema_dir)
    result = workflow.generate(proj, "rekey")
    assert result is not None
    tx, online = (result.files[name] for name in result.versions)
    assert "ALTER TABLE pkr.items RENAME CONSTRAINT goods_pkey TO items_pkey;" in tx
    assert ("ALTER TABLE pkr.items\n    DROP CONSTRAINT IF EXISTS items_pkey,\n"
            "    ADD CONSTRAINT items_pkey PRIMARY KEY USING INDEX items_pkey_new;") in online
    migrate(orders_empty_dsn, schema_dir)
    assert differences(orders_databases, orders_empty_dsn, head) == []
    assert keys(orders_empty_dsn) == [
        ("items", "goods_code_key", "UNIQUE (code)"), ("items", "goods_code_key", "index"),
        ("items", "items_pkey", "PRIMARY KEY (id, code)"), ("items", "items_pkey", "index")]
    with psycopg.connect(orders_empty_dsn) as conn:
        assert conn.execute("SELECT id, code FROM pkr.items ORDER BY id").fetchall() == [(1, "a"), (2, "b")]
    assert undo_last(orders_empty_dsn, schema_dir) == [2, 3]
    assert differences(orders_databases, orders_empty_dsn, V1_STATE) == []
    assert keys(orders_empty_dsn) == BEFORE

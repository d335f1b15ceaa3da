"""The table kind on a real PostgreSQL: a table renamed, a column renamed, added, widened and made
NOT NULL, the primary key changed online (unique index built CONCURRENTLY, then swapped in), a new
table with its index; applied over rows, compared in stored form ("nothing left to change");
drift named by table and column; undone."""

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
QTY = m.Column(name="qty", type=m.INTEGER, nullable=False)
NOTE = m.Column(name="note", type=m.TEXT)
ITEMS = m.Table(name="items", columns=(ID, QTY, NOTE), primary_key=m.PrimaryKey(name="items_key", columns=("id",)))
V1_STATE = m.Schema(name="tbl", tables=(ITEMS,))
V1 = m.Version(number=1, name="tbl", create_schema=True, state=V1_STATE,
               phases=(m.Phase(title="ITEMS", items=(ITEMS,)),))
GOODS = m.Table(name="goods", renamed_from="items", columns=(
    ID, m.Column(name="quantity", renamed_from="qty", type=m.BIGINT, nullable=False),
    NOTE.replace(nullable=False, default="''"), m.Column(name="added", type=m.TEXT, default="'x'"),
), primary_key=m.PrimaryKey(name="items_key", columns=("id", "quantity")))
HEAD = m.Schema(name="tbl", tables=(GOODS, m.Table(
    name="labels", columns=(m.Column(name="good", type=m.INTEGER), m.Column(name="label", type=m.TEXT)),
    indexes=(m.Index(name="labels_good_idx", columns=("good",)),),
)))


def differences(dbs: Databases, dsn: str, schema: m.Schema) -> list[tuple[str, str, str]]:
    with psycopg.connect(dsn) as conn:
        live = inspect_schema(conn, "tbl")
    return [(d.kind, d.name, d.what) for d in compare(declared_catalog(schema, dbs), live)]


def test_tables_generate_apply_compare_and_undo(
    tmp_path: Path, orders_empty_dsn: str, orders_databases: Databases
) -> None:
    workflow.render(p.Project(schema=V1_STATE, versions=(V1,), schema_dir=tmp_path / "schema"))
    migrate(orders_empty_dsn, tmp_path / "schema")
    with psycopg.connect(orders_empty_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO tbl.items VALUES (1, 5, 'a'), (2, 7, NULL)")
    proj = p.Project(schema=HEAD, versions=(V1,), schema_dir=tmp_path / "schema")
    result = workflow.generate(proj, "tables")
    assert result is not None
    tx, online = (result.files[name] for name in result.versions)
    for line in ("ALTER TABLE tbl.items RENAME TO goods;",
                 "ALTER TABLE tbl.goods RENAME COLUMN qty TO quantity;",
                 "ALTER TABLE tbl.goods ADD COLUMN IF NOT EXISTS added TEXT DEFAULT 'x';",
                 "ALTER TABLE tbl.goods ALTER COLUMN quantity TYPE BIGINT;",
                 "ALTER TABLE tbl.goods ALTER COLUMN note SET DEFAULT '';",
                 "ALTER TABLE tbl.goods ALTER COLUMN note SET NOT NULL;",
                 "CREATE TABLE IF NOT EXISTS tbl.labels ("):
        assert line in tx, line
    assert "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS items_key_new ON tbl.goods(id, quantity);" in online
    assert ("ALTER TABLE tbl.goods\n    DROP CONSTRAINT IF EXISTS items_key,\n"
            "    ADD CONSTRAINT items_key PRIMARY KEY USING INDEX items_key_new;") in online
    assert workflow.generate(proj, "again") is None  # settled

    with psycopg.connect(orders_empty_dsn, autocommit=True) as conn:
        conn.execute("UPDATE tbl.items SET note = '' WHERE note IS NULL")
    migrate(orders_empty_dsn, proj.schema_dir)
    assert differences(orders_databases, orders_empty_dsn, HEAD) == []
    with psycopg.connect(orders_empty_dsn, autocommit=True) as conn:
        table = inspect_schema(conn, "tbl").table("goods")
        assert [(c.name, c.type, c.not_null) for c in table.columns] == [
            ("id", "integer", True), ("quantity", "bigint", True), ("note", "text", True), ("added", "text", False)]
        assert table.constraint("items_key").definition == "PRIMARY KEY (id, quantity)"
        assert conn.execute("SELECT id, quantity, note, added FROM tbl.goods ORDER BY id").fetchall() == [
            (1, 5, "a", "x"), (2, 7, "", "x")]
        conn.execute("ALTER TABLE tbl.goods ALTER COLUMN added DROP DEFAULT, ADD COLUMN extra int")
        conn.execute("DROP TABLE tbl.labels")
    assert differences(orders_databases, orders_empty_dsn, HEAD) == [
        ("column", "tbl.goods.added", "default differs"),
        ("column", "tbl.goods.extra", "extra"),
        ("table", "tbl.labels", "missing"),
        ("index", "tbl.labels_good_idx", "missing"),  # indexes are compared on their own
    ]
    with psycopg.connect(orders_empty_dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE tbl.goods DROP COLUMN extra")
    assert undo_last(orders_empty_dsn, proj.schema_dir, allow_data_loss=True) == [2, 3]
    assert differences(orders_databases, orders_empty_dsn, V1_STATE) == []

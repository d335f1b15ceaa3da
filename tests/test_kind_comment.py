"""The comment kind on a real PostgreSQL: generated, applied, read back with obj_description /
col_description and compared in stored form ("nothing left to change"); drift is reported naming
the table or column; the down script removes the comments; COMMENT ON blocks no writer."""

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
STATUS = m.Column(name="status", type=m.TEXT)
ITEMS = m.Table(name="items", columns=(ID, STATUS), primary_key=m.PrimaryKey(columns=("id",)))
V1_STATE = m.Schema(name="cmt", tables=(ITEMS,))
V1 = m.Version(number=1, name="cmt", create_schema=True, state=V1_STATE,
               phases=(m.Phase(title="ITEMS", items=(ITEMS,)),))
HEAD = m.Schema(name="cmt", tables=(
    ITEMS.replace(comment="One row per item; it's the source of truth",
                  columns=(ID, STATUS.replace(comment="Where the item is\nin its life"),
                           m.Column(name="note", type=m.TEXT, comment="Free text"))),
    m.Table(name="tags", columns=(m.Column(name="tag", type=m.TEXT, comment="The tag"),), comment="Tags"),
))


def differences(dbs: Databases, dsn: str, schema: m.Schema) -> list[tuple[str, str, str]]:
    with psycopg.connect(dsn) as conn:
        live = inspect_schema(conn, "cmt")
    return [(d.kind, d.name, d.what) for d in compare(declared_catalog(schema, dbs), live)]


def test_comments_generate_apply_compare_and_undo(
    tmp_path: Path, orders_empty_dsn: str, orders_databases: Databases
) -> None:
    workflow.render(p.Project(schema=V1_STATE, versions=(V1,), schema_dir=tmp_path / "schema"))
    proj = p.Project(schema=HEAD, versions=(V1,), schema_dir=tmp_path / "schema")
    result = workflow.generate(proj, "comments")
    assert result is not None and list(result.versions) == ["V2__comments.sql"]  # no online part
    assert "COMMENT ON COLUMN cmt.items.status IS 'Where the item is\nin its life';" in result.files["V2__comments.sql"]
    assert workflow.generate(proj, "again") is None  # settled

    migrate(orders_empty_dsn, proj.schema_dir)
    assert differences(orders_databases, orders_empty_dsn, HEAD) == []
    with psycopg.connect(orders_empty_dsn, autocommit=True) as conn:
        catalog = inspect_schema(conn, "cmt")
        assert {(c.table, c.column): c.text for c in catalog.comments} == {
            ("items", None): "One row per item; it's the source of truth",
            ("items", "status"): "Where the item is\nin its life",
            ("items", "note"): "Free text",
            ("tags", None): "Tags",
            ("tags", "tag"): "The tag",
        }
        conn.execute("COMMENT ON TABLE cmt.items IS NULL")
        conn.execute("COMMENT ON COLUMN cmt.items.status IS 'something else'")
        conn.execute("COMMENT ON COLUMN cmt.tags.tag IS NULL")
        conn.execute("COMMENT ON COLUMN cmt.items.id IS 'undeclared'")
    assert differences(orders_databases, orders_empty_dsn, HEAD) == [
        ("comment", "cmt.items", "missing"),
        ("comment", "cmt.items.id", "extra"),
        ("comment", "cmt.items.status", "text differs"),
        ("comment", "cmt.tags.tag", "missing"),
    ]
    with psycopg.connect(orders_empty_dsn, autocommit=True) as conn:
        conn.execute("COMMENT ON COLUMN cmt.items.id IS NULL")
    assert undo_last(orders_empty_dsn, proj.schema_dir, allow_data_loss=True) == [2]
    assert differences(orders_databases, orders_empty_dsn, V1_STATE) == []


def test_comment_on_takes_no_lock_that_blocks_reads_or_writes(orders_empty_dsn: str) -> None:
    with psycopg.connect(orders_empty_dsn) as conn:
        conn.execute("CREATE TABLE t (a int)")
        conn.commit()
        conn.execute("COMMENT ON TABLE t IS 'x'")
        conn.execute("COMMENT ON COLUMN t.a IS 'y'")
        modes = {r[0] for r in conn.execute(
            "SELECT mode FROM pg_locks WHERE relation = 't'::regclass AND pid = pg_backend_pid()")}
        conn.rollback()
    assert modes == {"ShareUpdateExclusiveLock"}, modes  # conflicts with neither ROW EXCLUSIVE nor ACCESS SHARE

"""Catalogue -> declarations on a real PostgreSQL: a live schema read back as model objects,
created on an empty database and read again gives the same stored forms (and the same
declarations); what the model cannot declare is listed by name, never dropped."""

from __future__ import annotations

import psycopg
import pytest

from orders_schema import cli
from orders_schema.declare import model as m
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


V = "varied"
THINGS = m.Table(
    name="Things", comment="mixed-case name, quoted everywhere",
    columns=(m.Column(name="id", type=m.BIGINT, nullable=False),
             m.Column(name="Label Text", type=m.varchar(40), nullable=False, default="'none'", comment="a label"),
             m.Column(name="price", type=m.numeric(12, 2)),
             m.Column(name="doc", type=m.JSONB),
             m.Column(name="at", type=m.TIMESTAMPTZ, default="now()"),
             m.Column(name="n", type=m.INTEGER, default="0")),
    primary_key=m.PrimaryKey(columns=("id",), name="things_key"),
    checks=(m.Check.one_of("things_label", "Label Text", ("none", "it's")),
            m.Check(name="things_price", expression="price >= 0 AND price < 1000")),
    uniques=(m.Unique(name="things_label_at", columns=("Label Text", "at")),),
    indexes=(m.Index(name="things_at", columns=("at DESC NULLS LAST", "id"), where="n > 0"),
             m.Index(name="things_doc", columns=("doc",), method="gin"),
             m.Index(name="things_lower", columns=("lower(\"Label Text\")",), include=("price",))),
    triggers=(m.Trigger(name="things_count", timing="BEFORE", events=("INSERT", "UPDATE"), function="bump",
                        update_of=("n",)),
              m.Trigger(name="things_log", timing="AFTER", events=("UPDATE",), for_each="STATEMENT",
                        function="bump", referencing_old="old_rows")),
)
PARTS = m.Table(name="parts", columns=(m.Column(name="thing", type=m.BIGINT), m.Column(name="k", type=m.TEXT)),
                foreign_keys=(m.ForeignKey(name="parts_thing", columns=("thing",), ref_table="Things",
                                           ref_columns=("id",), on_delete="SET NULL"),))
VARIED = m.Schema(
    name=V, tables=(THINGS, PARTS),
    functions=(m.Function(name="bump", body="BEGIN RETURN NEW; END", returns="trigger",
                          settings=(("search_path", "pg_catalog, pg_temp"),)),
               m.Function(name="total", body=f'SELECT sum(price) FROM {V}."Things"', returns="numeric",
                          language="sql", volatility="STABLE", security_definer=True,
                          settings=(("search_path", "pg_catalog"),)),
               m.Function(name="add", body="SELECT a + b", returns="integer", language="sql",
                          arguments=("a integer", "b integer"), volatility="IMMUTABLE")),
    views=(m.View(name="cheap", query=f'SELECT id, "Label Text" FROM {V}."Things" WHERE price < 10'),
           m.View(name="cheap_count", query=f"SELECT count(*) AS n FROM {V}.cheap")),
)


def test_a_varied_schema_reads_back_exactly(dbs: Databases, orders_empty_dsn: str) -> None:
    with psycopg.connect(orders_empty_dsn, autocommit=True) as conn:
        conn.execute(RENDERER.script(create_statements(VARIED)))
        declared = read_declarations(conn, V)
    assert declared.undeclared == (), declared.report()
    assert declared.schema.table("Things").primary_key == THINGS.primary_key
    assert declared.schema.table("Things").column("Label Text").comment == "a label"
    assert declared.schema.table("parts").foreign_keys == PARTS.foreign_keys
    rebuilt(dbs, V, orders_empty_dsn)


ODD = """
CREATE SCHEMA odd;
CREATE TYPE odd.mood AS ENUM ('a', 'b');
CREATE SEQUENCE odd.seq;
CREATE TABLE odd.typed (id int PRIMARY KEY, m odd.mood);
CREATE TABLE odd.ident (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY);
CREATE TABLE odd.ok (id int PRIMARY KEY, note text);
CREATE INDEX ok_note ON odd.ok (note text_pattern_ops);
ALTER TABLE odd.ok ENABLE ROW LEVEL SECURITY;
CREATE POLICY everyone ON odd.ok USING (true);
GRANT SELECT ON odd.ok TO PUBLIC;
CREATE MATERIALIZED VIEW odd.mv AS SELECT id FROM odd.ok;
CREATE VIEW odd.on_typed AS SELECT id FROM odd.typed;
CREATE FUNCTION odd.f(int) RETURNS int LANGUAGE sql AS 'SELECT $1';
CREATE FUNCTION odd.f(text) RETURNS text LANGUAGE sql AS 'SELECT $1';
CREATE FUNCTION odd.defaulted(a int DEFAULT 1) RETURNS int LANGUAGE sql AS 'SELECT a';
CREATE PROCEDURE odd.p() LANGUAGE sql AS 'SELECT 1';
CREATE TABLE odd.by_range (id int) PARTITION BY RANGE (id);
COMMENT ON FUNCTION odd.f(int) IS 'commented';
"""


def test_what_the_model_cannot_declare_is_listed_by_name_and_diff_does_not_fail(
    orders_empty_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(orders_empty_dsn, autocommit=True) as conn:
        conn.execute(ODD)
        declared = read_declarations(conn, "odd")
    assert [t.name for t in declared.schema.tables] == ["ok"]
    assert [f.name for f in declared.schema.functions] == ["f", "f"]  # overloads: f(integer), f(text)
    assert [v.name for v in declared.schema.views] == ["mv"] and declared.schema.views[0].materialized
    named = {(u.kind, u.name) for u in declared.undeclared}
    assert named >= {
        ("enum type", "mood"), ("sequence", "ident_id_seq"), ("sequence", "seq"), ("table", "typed"),
        ("table", "ident"), ("index", "ok.ok_note"), ("policy", "ok.everyone"), ("row-level security", "ok"),
        ("grant", "ok"), ("view", "on_typed"), ("function", "defaulted(integer)"), ("function", "p()"),
        ("partitioned table", "by_range"),
        ("comment on function", "odd.f(integer)"),
    }, declared.report()
    assert cli.main(["diff", orders_empty_dsn, orders_empty_dsn, "--schema", "odd", "--exit-code"]) == 0
    out, err = capsys.readouterr()
    assert "-- no differences" in out
    assert "-- not yet declared (FROM, not compared): odd: policy ok.everyone" in out
    assert "not yet declared, not compared: odd: enum type mood: not declarable yet" in err

"""Catalogue -> declarations on a real PostgreSQL: a live schema read back as model objects,
created on an empty database and read again gives the same stored forms (and the same
declarations); what the model cannot declare is listed by name, never dropped."""

from __future__ import annotations

import psycopg
import pytest

from orders_schema import cli
from orders_schema.declare import fragments
from orders_schema.declare import model as m
from orders_schema.kinds.default_privilege import declared_entries
from orders_schema.kinds.grant import declared_acl
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
    assert access(declared.schema) == access(dbs.project.schema)  # head's roles, grants, RLS, policies
    assert declared.schema.grants and declared.schema.revokes and declared.schema.roles
    rebuilt(dbs, dbs.project.schema.name, orders_clone_dsn)


def access(schema: m.Schema) -> object:
    """A schema's access in comparable form: roles, every privilege entry (grants, revokes, the
    defaults' implied grants), default privileges, and each table's row security, owner, policies."""
    policies = {(t.name, p.name, p.command, p.permissive, p.role_names, fragments.normal(p.using),
                 fragments.normal(p.with_check)) for t in schema.tables for p in t.policies}
    return ({r.name for r in schema.roles}, set(declared_acl(schema)), declared_entries(schema),
            {(t.name, t.row_security, t.owner) for t in schema.tables}, policies)


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
            m.Check(name="things_price", expression="price >= 0 AND price < 1000", comment="In range")),
    uniques=(m.Unique(name="things_label_at", columns=("Label Text", "at")),),
    indexes=(m.Index(name="things_at", columns=("at DESC NULLS LAST", "id"), where="n > 0", comment="Recent"),
             m.Index(name="things_doc", columns=("doc",), method="gin"),
             m.Index(name="things_lower", columns=("lower(\"Label Text\")",), include=("price",))),
    triggers=(m.Trigger(name="things_count", timing="BEFORE", events=("INSERT", "UPDATE"), function="bump",
                        update_of=("n",), comment="Counts"),
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
                          arguments=("a integer", "b integer"), volatility="IMMUTABLE", comment="Adds"),
               m.Function(name="Reprice", procedure=True, body=f'UPDATE {V}."Things" SET price = price * f',
                          language="sql", arguments=("f numeric",), security_definer=True,
                          settings=(("search_path", "pg_catalog"),), comment="Reprices")),
    views=(m.View(name="cheap", query=f'SELECT id, "Label Text" FROM {V}."Things" WHERE price < 10',
                  comment="Cheap things", column_comments=(("Label Text", "Its label"),),
                  triggers=(m.Trigger(name="Cheap Write", timing="INSTEAD OF", events=("INSERT", "DELETE"),
                                      function="bump", comment="Writes"),)),
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
    cheap = declared.schema.view("cheap")  # its trigger and comments (the query in its stored form)
    assert (cheap.triggers, cheap.comment, cheap.column_comments) == (
        VARIED.view("cheap").triggers, "Cheap things", (("Label Text", "Its label"),))
    assert declared.schema.table("Things").indexes[0].comment == "Recent"
    assert [f.comment for f in declared.schema.functions if f.name == "add"] == ["Adds"]
    assert [f for f in declared.schema.functions if f.procedure] == [VARIED.functions[-1]]  # declared back equal
    rebuilt(dbs, V, orders_empty_dsn)


TYPES = "typed"
TYPED = m.Schema(
    name=TYPES, schemas=("ext",), comment="Typed things",
    extensions=(m.Extension(name="citext", in_schema="ext"), m.Extension(name="hstore")),
    enums=(m.EnumType(name="Mood", labels=("sad", "it's ok", "glad"), comment="How it feels"),),
    domains=(m.Domain(name="positive", base="numeric(10,2)", nullable=False, default="1",
                      checks=(m.DomainCheck(name="positive_check", expression="VALUE > 0"),
                              m.DomainCheck(name="Small", expression="VALUE < 1000"))),
             m.Domain(name="email", base="ext.citext", comment="An address"),
             m.Domain(name="a_small", base="positive")),  # on a domain that sorts after it
    composites=(m.CompositeType(name="pair", attributes=(m.Attribute(name="Mood", type='"Mood"'),
                                                         m.Attribute(name="at", type="timestamptz(3)[]"))),
                m.CompositeType(name="a_pairs", attributes=(m.Attribute(name="p", type="pair[]"),), comment="Pairs")),
    ranges=(m.RangeType(name="mood_span", subtype='"Mood"', comment="Moods"),
            m.RangeType(name="Float Span", subtype="double precision", subtype_diff="float8mi"),
            m.RangeType(name="code_span", subtype="text", collation="C", subtype_opclass="text_pattern_ops")),
    tables=(m.Table(name="t", columns=(
        m.Column(name="id", type="bigint", nullable=False), m.Column(name="mood", type='"Mood"[]'),
        m.Column(name="amount", type="positive"), m.Column(name="mail", type="email"),
        m.Column(name="p", type="pair"), m.Column(name="attrs", type="hstore"),
        m.Column(name="wait", type="interval(2)"), m.Column(name="t", type="time(3) with time zone"),
        m.Column(name="bits", type="varbit(8)"), m.Column(name="c", type="char(2)"),
        m.Column(name="code", type="varchar(10)", collation="C"), m.Column(name="name", type="text", collation="POSIX"),
        m.Column(name="grid", type="numeric(5,1)[][]"), m.Column(name="moods", type="mood_span"),
        m.Column(name="floats", type='"Float Span"[]')), primary_key=m.PrimaryKey(columns=("id",))),),
)


def test_types_extensions_and_collations_read_back_exactly(dbs: Databases, orders_empty_dsn: str) -> None:
    with psycopg.connect(orders_empty_dsn, autocommit=True) as conn:
        conn.execute(RENDERER.script(create_statements(TYPED)))
        declared = read_declarations(conn, TYPES)
    assert declared.undeclared == (), declared.report()
    got = declared.schema
    assert (got.schemas, [(e.name, e.in_schema) for e in got.extensions]) == (
        ("ext",), [("citext", "ext"), ("hstore", "public")])
    assert got.enums == TYPED.enums and got.composites[0].attributes[1].type == m.sql_type("timestamptz(3)[]")
    assert [d.name for d in got.domains] == ["email", "positive", "a_small"]  # by name, then what they use
    assert [c.name for c in got.domains[1].checks] == ["Small", "positive_check"]
    assert [c.name for c in got.composites] == ["pair", "a_pairs"]
    assert got.table("t").column("code").collation == "C" and got.table("t").column("name").collation == "POSIX"
    assert got.table("t").column("mail").type == m.SqlType(name="email", in_schema=TYPES)
    assert (got.comment, got.domains[0].comment, got.composites[1].comment) == ("Typed things", "An address", "Pairs")
    assert sorted(got.ranges, key=lambda r: r.name) == sorted(TYPED.ranges, key=lambda r: r.name)
    rebuilt(dbs, TYPES, orders_empty_dsn)


PARTITIONED = """
CREATE SCHEMA pt;
CREATE TABLE pt.owners (id bigint PRIMARY KEY);
CREATE TABLE pt.log (id bigint, at timestamptz NOT NULL DEFAULT now(), body jsonb, CHECK (id > 0))
    PARTITION BY RANGE (at, id);
CREATE TABLE pt.log_old PARTITION OF pt.log FOR VALUES FROM (MINVALUE, MINVALUE) TO ('2024-01-01', 0);
CREATE TABLE pt.log_new PARTITION OF pt.log FOR VALUES FROM ('2024-01-01', 0) TO (MAXVALUE, MAXVALUE);
CREATE INDEX ON pt.log USING brin (at);
CREATE TABLE pt.tags (name text NOT NULL) PARTITION BY LIST (lower(name));
CREATE TABLE pt.tags_a PARTITION OF pt.tags FOR VALUES IN ('a', NULL);
CREATE TABLE pt.tags_rest PARTITION OF pt.tags DEFAULT;
CREATE TABLE pt.hashed (id uuid, ref bigint REFERENCES pt.owners, n int, PRIMARY KEY (id, n),
    CONSTRAINT hashed_n_key UNIQUE NULLS NOT DISTINCT (n, id)) PARTITION BY HASH (id, n);
CREATE TABLE pt.hashed_0 PARTITION OF pt.hashed FOR VALUES WITH (MODULUS 3, REMAINDER 0);
CREATE TABLE pt.hashed_1 PARTITION OF pt.hashed FOR VALUES WITH (MODULUS 3, REMAINDER 1);
CREATE TABLE pt.hashed_2 PARTITION OF pt.hashed FOR VALUES WITH (MODULUS 3, REMAINDER 2);
CREATE UNLOGGED TABLE pt.cache (k text PRIMARY KEY, v text);
CREATE TABLE pt.animal (id int, name text NOT NULL CHECK (name <> ''));
CREATE TABLE pt.dog (bark text CHECK (bark <> 'meow')) INHERITS (pt.animal);
CREATE TABLE pt.cat () INHERITS (pt.animal);
CREATE TABLE pt.a_ghost (id int, name text NOT NULL) INHERITS (pt.animal);
"""


def test_partitioned_unlogged_and_inheriting_tables_read_back_exactly(dbs: Databases, orders_empty_dsn: str) -> None:
    with psycopg.connect(orders_empty_dsn, autocommit=True) as conn:
        conn.execute(PARTITIONED)
        declared = read_declarations(conn, "pt")
    assert declared.undeclared == (), declared.report()
    tables = {t.name: t for t in declared.schema.tables}
    assert sorted(tables) == ["a_ghost", "animal", "cache", "cat", "dog", "hashed", "log", "owners", "tags"]
    assert [t.name for t in declared.schema.tables].index("animal") < [t.name for t in declared.schema.tables].index(
        "a_ghost")  # a parent before the tables inheriting it
    assert tables["log"].partition_by == "RANGE (at, id)" and [i.name for i in tables["log"].indexes] == ["log_at_idx"]
    assert [x.bound for x in tables["log"].partitions] == [
        "FOR VALUES FROM ('2024-01-01 00:00:00+00', '0') TO (MAXVALUE, MAXVALUE)",
        "FOR VALUES FROM (MINVALUE, MINVALUE) TO ('2024-01-01 00:00:00+00', '0')"]
    assert [c.name for c in tables["dog"].columns] == ["bark"] and [c.name for c in tables["dog"].checks] == [
        "dog_bark_check"]
    assert tables["cat"].columns == () and tables["a_ghost"].column_names == ("id", "name")
    assert tables["cache"].unlogged and [f.name for f in tables["hashed"].foreign_keys] == ["hashed_ref_fkey"]
    rebuilt(dbs, "pt", orders_empty_dsn)


ODD = """
CREATE SCHEMA odd;
CREATE COLLATION public.mine FROM "C";
CREATE TYPE odd.span AS RANGE (subtype = int);
CREATE SEQUENCE odd.seq;
CREATE TABLE odd.typed (id int PRIMARY KEY, m odd.span);
CREATE TABLE odd.coll (id int PRIMARY KEY, t text COLLATE public.mine);
CREATE TABLE odd.ident (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY);
CREATE TABLE odd.ok (id int PRIMARY KEY, note text);
CREATE INDEX ok_note ON odd.ok (note text_pattern_ops);
ALTER TABLE odd.ok ENABLE ROW LEVEL SECURITY;
CREATE POLICY everyone ON odd.ok USING (true);
GRANT SELECT ON odd.ok TO PUBLIC;
GRANT UPDATE (note) ON odd.ok TO PUBLIC;
GRANT USAGE ON SEQUENCE odd.seq TO PUBLIC;
CREATE MATERIALIZED VIEW odd.mv AS SELECT id FROM odd.ok;
CREATE VIEW odd.on_typed AS SELECT id FROM odd.typed;
CREATE FUNCTION odd.f(int) RETURNS int LANGUAGE sql AS 'SELECT $1';
CREATE FUNCTION odd.f(text) RETURNS text LANGUAGE sql AS 'SELECT $1';
CREATE FUNCTION odd.defaulted(a int DEFAULT 1) RETURNS int LANGUAGE sql AS 'SELECT a';
REVOKE EXECUTE ON FUNCTION odd.defaulted(int) FROM PUBLIC;
CREATE PROCEDURE odd.p() LANGUAGE sql AS 'SELECT 1';
CREATE TABLE odd.by_range (id int) PARTITION BY RANGE (id);
CREATE TABLE odd.by_list (id int) PARTITION BY LIST (id);
CREATE TABLE odd.by_list_1 PARTITION OF odd.by_list FOR VALUES IN (1) PARTITION BY RANGE (id);
COMMENT ON FUNCTION odd.f(int) IS 'commented';
"""


def test_what_the_model_cannot_declare_is_listed_by_name_and_diff_does_not_fail(
    orders_empty_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(orders_empty_dsn, autocommit=True) as conn:
        conn.execute(ODD)
        declared = read_declarations(conn, "odd")
    assert [t.name for t in declared.schema.tables] == ["by_range", "ident", "ok", "typed"]  # both declarable now
    # identity columns, sequences and keys with an operator class are declarable (the columns part of issue 13)
    assert declared.schema.table("ident").column("id").identity == m.Identity(generated="ALWAYS")
    assert [q.name for q in declared.schema.sequences] == ["seq"]
    assert declared.schema.table("ok").indexes[0].columns[0].opclass == "text_pattern_ops"
    assert [(f.name, f.procedure) for f in declared.schema.functions] == [  # overloads: f(integer), f(text)
        ("f", False), ("f", False), ("p", True)]  # and the procedure, declarable now
    assert [v.name for v in declared.schema.views] == ["mv", "on_typed"] and declared.schema.views[0].materialized
    assert [(r.name, r.subtype) for r in declared.schema.ranges] == [("span", m.INTEGER)]
    ok = declared.schema.table("ok")  # access is declared (the access kinds' declare)
    assert ok.row_security == "enabled" and [(p.name, p.using) for p in ok.policies] == [("everyone", "true")]
    assert {(g.on, g.name, g.to, g.privileges, g.columns) for g in declared.schema.grants} == {
        ("table", "ok", "PUBLIC", ("SELECT",), ()), ("table", "ok", "PUBLIC", ("UPDATE",), ("note",))}
    named = {(u.kind, u.name) for u in declared.undeclared}
    assert named >= {
        ("table", "coll"),
        ("privilege", "sequence seq"), ("privilege", "function defaulted"), ("function", "defaulted(integer)"),
        ("table", "by_list"),
    }, declared.report()
    assert ("function", "p()") not in named and ("procedure", "p()") not in named
    assert [f.comment for f in declared.schema.functions] == ["commented", None, None]  # f(integer), f(text), p()
    assert not named & {("policy", "ok.everyone"), ("row security", "ok"), ("privilege", "table ok")}
    # the census no longer lists what the access kinds read
    assert not {u.kind for u in declared.undeclared} & {"row-level security", "grant", "default privileges"}
    assert cli.main(["diff", orders_empty_dsn, orders_empty_dsn, "--schema", "odd", "--exit-code"]) == 0
    out, err = capsys.readouterr()
    assert "-- no differences" in out
    assert "-- not yet declared (FROM, not compared): odd: table coll" in out
    assert "not yet declared, not compared: odd: table coll: column t: collation public.mine" in err
    reasons = {u.name: u.reason for u in declared.undeclared if u.kind == "table"}
    # the range type's constructor functions and multirange come with it, never listed
    assert not [u for u in declared.undeclared if u.name.startswith("span")], declared.report()
    assert reasons["coll"] == "column t: collation public.mine is not a pg_catalog collation", reasons
    assert reasons["by_list"] == "partition by_list_1 is itself partitioned (sub-partitions are not declarable yet)"

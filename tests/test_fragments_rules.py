"""The rules declared text must follow, each refused where it is declared with the object named,
and each checked against what the server itself refuses."""

from __future__ import annotations

import psycopg
import pytest

from orders_schema.declare import fragments
from orders_schema.declare import model as m
from orders_schema.migrate import plan
from orders_schema.migrate.render import RENDERER, terminated

ID = m.Column(name="id", type=m.INTEGER, nullable=False)
TS = m.Column(name="ts", type=m.TIMESTAMPTZ)
INJECTION = "DROP TABLE public.canary"


def table(**kw: object) -> m.Table:
    kw.setdefault("columns", (ID, TS))
    return m.Table(name="t", **kw)  # type: ignore[arg-type]


def fn(**kw: object) -> m.Function:
    kw.setdefault("body", "SELECT 1")
    kw.setdefault("language", "sql")
    kw.setdefault("returns", "integer")
    return m.Function(name="f", **kw)  # type: ignore[arg-type]


def trigger(**kw: object) -> m.Trigger:
    kw.setdefault("events", ("UPDATE",))
    return m.Trigger(name="trg", timing="AFTER", function="f", **kw)  # type: ignore[arg-type]


def error_of(make: object) -> str:
    with pytest.raises(m.DeclarationError) as info:
        make()  # type: ignore[operator]
    return str(info.value)


BAD: list[tuple[str, object, str]] = [
    # comments: one line that nothing can end
    ("newline in a column's section",
     lambda: m.Column(name="ids", type=m.INTEGER, section=f"ids\nz int); {INJECTION}; CREATE TABLE hx.t2 ("),
     "column ids: section 'ids\\nz int);"),
    ("carriage return in a phase title",
     lambda: m.Phase(title="p\rDROP", items=()), "phase: title 'p\\rDROP' must be"),
    ("*/ in a comment",
     lambda: m.Comment(text="a */ b"), "comment: text 'a */ b' cannot hold /* or */"),
    ("newline in a version header",
     lambda: m.Version(number=1, name="v", header=("a\nb",), state=m.Schema(name="s"), phases=()),
     "version v: header 'a\\nb' must be one line"),
    # function signatures: a strict grammar of names and types
    ("statement smuggled into an argument",
     lambda: fn(arguments=(f") RETURNS int LANGUAGE sql AS 'select 1'; {INJECTION}; CREATE FUNCTION hx.zz(",)),
     "function f: argument \") RETURNS int LANGUAGE sql AS 'select 1'; DROP"),
    ("argument with a DEFAULT",
     lambda: fn(arguments=("a integer DEFAULT 1",)), "function f: argument 'a integer DEFAULT"),
    ("statement smuggled into the return type",
     lambda: fn(returns=f"int AS $$select 1$$ LANGUAGE sql; {INJECTION}; --"),
     "function f: return type 'int AS $$select 1$$"),
    ("argument name over 63 bytes",
     lambda: fn(arguments=("a" * 64 + " integer",)), "is 64 bytes long"),
    # names: 63 bytes, not empty, no NUL, no control character, everywhere
    ("64-byte UNIQUE name",
     lambda: m.Unique(name="u" * 64, columns=("id",)), "unique name 'uuu"),
    ("70-byte transition table",
     lambda: trigger(events=("INSERT",), for_each="STATEMENT", referencing_new="n" * 70),
     "trigger trg: referencing_new 'nnn"),
    ("empty UNIQUE name",
     lambda: m.Unique(name="", columns=("id",)), "unique name '' is empty"),
    ("NUL in a column list",
     lambda: m.Unique(name="u", columns=("i\x00d",)), "unique u: columns 'i\\x00d' contains a NUL"),
    ("line break in a name",
     lambda: m.Index(name="i\nx", columns=("id",)), "index name 'i\\nx' contains a control"),
    ("derived primary key name over 63 bytes",
     lambda: m.Table(name="t" * 60, columns=(ID,), primary_key=m.PrimaryKey(columns=("id",))),
     "primary key name '" + "t" * 60 + "_pkey' is 65 bytes long"),
    ("three-part table reference",
     lambda: m.ForeignKey(name="fk", columns=("id",), ref_table="a.b.c", ref_columns=("id",)),
     "foreign key fk: ref_table 'a.b.c' is not"),
    ("NUL in a function body",
     lambda: fn(body="SELECT '\x00'"), "function f: body"),
    ("NUL in an example row",
     lambda: m.Check(name="c", expression="id > 0", accepts=({"id": "\x00"},)), "check c: accepts"),
    # fragments the server refuses
    ("subquery in a CHECK",
     lambda: m.Check(name="c", expression="id IN (SELECT 1)"), "check c: 'id IN (SELECT 1)' holds a subquery"),
    ("subquery in an index predicate",
     lambda: m.Index(name="i", columns=("id",), where="EXISTS (SELECT 1)"),
     "index i WHERE: 'EXISTS (SELECT 1)' holds a subquery"),
    ("subquery in a trigger WHEN",
     lambda: trigger(when="NEW.id = ANY (ARRAY(SELECT 1))"), "trigger trg WHEN:"),
    ("subquery in a default",
     lambda: m.Column(name="c", type=m.INTEGER, default="(SELECT 1)"), "default of column c:"),
    ("aggregate in a CHECK",
     lambda: m.Check(name="c", expression="count(*) > 0"), "aggregate or window function"),
    ("-- comment in a CHECK",
     lambda: m.Check(name="c", expression="id > 0 -- positive"), "check c: 'id > 0 -- positive' holds a -- comment"),
    ("-- comment in an index predicate",
     lambda: m.Index(name="i", columns=("id",), where="id > 0 --"), "index i WHERE"),
    ("volatile function in an index predicate",
     lambda: m.Index(name="i", columns=("id",), where="id > random()"),
     "index i WHERE: 'id > random()' calls random(), which PostgreSQL does not mark IMMUTABLE"),
    ("stable function in an index key",
     lambda: m.Index(name="i", columns=("(now() - ts)",)), "calls now()"),
    ("qualified stable function",
     lambda: m.Index(name="i", columns=("id",), where="ts < pg_catalog.clock_timestamp()"), "calls clock_timestamp()"),
    ("SQL value function in an index predicate",
     lambda: m.Index(name="i", columns=("id",), where="ts < CURRENT_TIMESTAMP"), "calls CURRENT_TIMESTAMP"),
    ("declared STABLE function in an index",
     lambda: m.Schema(name="s", functions=(fn(arguments=("integer",), volatility="STABLE"),),
                      tables=(table(indexes=(m.Index(name="i", columns=("(s.f(id))",)),)),)),
     "index i on table t: calls s.f(), which is declared STABLE"),
    ("trigger WHEN naming a bare column",
     lambda: trigger(when="id > 0"), "trigger trg WHEN: id must name a column as OLD"),
    ("trigger WHEN naming an unknown column",
     lambda: table(triggers=(trigger(when="NEW.nope > 0"),)),
     "trigger trg WHEN on table t: unknown column(s) ['nope']"),
    ("backfill of several statements",
     lambda: table(populate=f"INSERT INTO t (id) VALUES (1); {INJECTION}"),
     "table t: populate: must be one INSERT statement"),
    ("backfill that is not an INSERT",
     lambda: table(populate=INJECTION), "table t: populate: must be one INSERT statement, got DROP"),
    ("backfill into another table",
     lambda: table(populate="INSERT INTO public.canary (x) VALUES (1)"),
     "table t: populate must INSERT INTO the table itself"),
    ("backfill into another schema",
     lambda: m.Schema(name="s", tables=(table(populate="INSERT INTO x.t (id) VALUES (1)"),)),
     "table t: populate must INSERT INTO s.t, not x.t"),
]


@pytest.mark.parametrize(("case", "make", "expected"), BAD, ids=[b[0] for b in BAD])
def test_refused_where_declared_naming_the_object(case: str, make: object, expected: str) -> None:
    message = error_of(make)
    assert expected in message, f"{case}: {expected!r} not in {message!r}"
    assert "\n" not in message


# What the server says about the same fragments, pasted unchecked: it refuses each of them too.
SERVER_REFUSES = [
    ("CREATE TABLE s.t (id int CHECK (id IN (SELECT 1)))", "cannot use subquery in check constraint"),
    ("CREATE TABLE s.t (id int CHECK (count(*) > 0))", "aggregate functions are not allowed in check constraints"),
    ("CREATE TABLE s.t (id int DEFAULT (SELECT 1))", "cannot use subquery in DEFAULT expression"),
    ("CREATE INDEX i ON s.base (id) WHERE EXISTS (SELECT 1)", "cannot use subquery in index predicate"),
    ("CREATE INDEX i ON s.base (id) WHERE id > random()", "functions in index predicate must be marked IMMUTABLE"),
    ("CREATE INDEX i ON s.base ((now() - ts))", "functions in index expression must be marked IMMUTABLE"),
    ("CREATE INDEX i ON s.base (id) WHERE ts < CURRENT_TIMESTAMP",
     "functions in index predicate must be marked IMMUTABLE"),
    ("CREATE INDEX i ON s.base ((s.stable_f(id)))", "functions in index expression must be marked IMMUTABLE"),
    ("CREATE TRIGGER trg AFTER UPDATE ON s.base FOR EACH ROW WHEN (NEW.id = ANY (ARRAY(SELECT 1))) "
     "EXECUTE FUNCTION s.trg_f()", "cannot use subquery in trigger WHEN condition"),
    ("CREATE TRIGGER trg AFTER UPDATE ON s.base FOR EACH ROW WHEN (id > 0) EXECUTE FUNCTION s.trg_f()",
     'column reference "id" is ambiguous'),
]


@pytest.mark.parametrize(("statement", "complaint"), SERVER_REFUSES, ids=[c for _, c in SERVER_REFUSES])
def test_the_server_refuses_them_too(orders_db: psycopg.Connection, statement: str, complaint: str) -> None:
    # A plpgsql function: a STABLE SQL function simple enough to be inlined would slip past the
    # server's check; the declarations go by the declared volatility.
    orders_db.execute(
        "CREATE SCHEMA s; CREATE TABLE s.base (id int, ts timestamptz);"
        "CREATE FUNCTION s.stable_f(integer) RETURNS integer LANGUAGE plpgsql STABLE AS 'BEGIN RETURN 1; END';"
        "CREATE FUNCTION s.trg_f() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END';"
    )
    with pytest.raises(psycopg.Error, match=complaint), orders_db.transaction():
        orders_db.execute(statement)  # type: ignore[arg-type]


ACCEPTED = [
    lambda: fn(arguments=("a integer", "IN b numeric(10, 2)", "VARIADIC c text[]", "d timestamp with time zone",
                          "double precision", "walltrack.some_type"), returns="SETOF character varying(20)"),
    lambda: m.Index(name="i", columns=("(lower(note))",), where="date_part('year', ts) > 2000"),
    lambda: m.Schema(name="s", functions=(fn(arguments=("integer",), volatility="IMMUTABLE"),),
                     tables=(table(indexes=(m.Index(name="i", columns=("(s.f(id))",)),)),)),
    lambda: m.Check(name="c", expression="note <> '-- not a comment' AND note <> $$--$$ /* -- nor this */"),
    lambda: trigger(when="OLD.* IS DISTINCT FROM NEW.*"),
    lambda: m.View(name="v", query="SELECT 1 AS one -- a comment on the last line"),
]


@pytest.mark.parametrize("make", ACCEPTED)
def test_what_the_server_accepts_is_still_declared(make: object) -> None:
    assert make() is not None  # type: ignore[operator]


def test_statement_fragments_ending_in_a_comment_keep_their_terminator(orders_db: psycopg.Connection) -> None:
    """A view body or a backfill may end in a -- comment: the terminator goes on a line of its own."""
    assert terminated("SELECT 1 -- one;") == "SELECT 1 -- one\n;"
    assert terminated("SELECT 1;") == "SELECT 1;"
    schema = m.Schema(name="s", views=(m.View(name="v", query="SELECT 1 AS one -- note"),
                                       m.View(name="w", query="SELECT one FROM s.v -- reads v")))
    orders_db.execute(RENDERER.script(plan.create_statements(schema)))  # type: ignore[arg-type]
    assert orders_db.execute("SELECT one FROM s.w").fetchall() == [(1,)]


def test_the_shipped_list_of_non_immutable_functions_matches_the_server(orders_db: psycopg.Connection) -> None:
    """Every pg_catalog function name none of whose overloads is IMMUTABLE is listed, and every
    listed name this server has is such a name (the list is the union of PostgreSQL 15 and 18)."""
    on_server = {name for (name,) in orders_db.execute(fragments.NON_IMMUTABLE_QUERY)}  # type: ignore[arg-type]
    known = {name for (name,) in orders_db.execute(
        "SELECT DISTINCT proname FROM pg_catalog.pg_proc WHERE pronamespace = 'pg_catalog'::pg_catalog.regnamespace")}
    shipped = fragments.non_immutable_names()
    assert {"now", "random", "clock_timestamp", "nextval", "to_char"} <= shipped
    assert sorted(on_server - shipped) == []
    assert sorted((shipped & known) - on_server) == []

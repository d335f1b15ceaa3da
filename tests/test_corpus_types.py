"""The type kinds' corpus (issue 13): schemas, extensions, enum / domain / composite types, any
column type, collations. Table-driven:

* ``GOLDEN``: declared changes -> the exact SQL of the version's transactional and online parts
  (no database);
* ``REFUSED``: changes PostgreSQL cannot make in place (an enum value removed or moved, a domain's
  base type, an attribute inserted mid-type, a value used in the version adding it) -> the plan
  error that says why;
* ``CASES``: round trips on a real PostgreSQL (15, and 18 with ``ORDERS_SCHEMA_PG=18``): create A
  on an empty database, apply the migration A -> B (its transaction, then its online part
  statement by statement), compare with B in stored form (nothing left), apply the migration again
  (the catalogue does not change), then apply the down script and compare with A.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from orders_schema.declare import model as m
from orders_schema.declare import project as pr
from orders_schema.live.apply import DataLossRefused, migrate, undo_last
from orders_schema.live.compare import compare, declared_catalog
from orders_schema.live.inspect import inspect_schema, snapshot
from orders_schema.migrate import diff as d
from orders_schema.migrate import plan as p
from orders_schema.migrate import workflow
from orders_schema.migrate.render import RENDERER
from orders_schema.tester.harness import Databases

ID = m.Column(name="id", type=m.BIGINT, nullable=False)
LOCK = "SET lock_timeout = '5s';"


def items(*columns: m.Column, **update: object) -> m.Table:
    return m.Table(name="items", columns=(ID, *columns), primary_key=m.PrimaryKey(columns=("id",)), **update)


def app(*columns: m.Column, name: str = "app", **update: object) -> m.Schema:
    return m.Schema(name=name, tables=(items(*columns),), **update)


STATUS = m.EnumType(name="status", labels=("new", "done"))
PRICE = m.Domain(name="price", base="numeric(20, 8)", nullable=False, default="0",
                 checks=(m.DomainCheck(name="price_positive", expression="VALUE >= 0"),))
MONEY = m.CompositeType(name="money", attributes=(m.Attribute(name="amount", type="price"),
                                                  m.Attribute(name="currency", type="char(3)")))
CITEXT = m.Extension(name="citext", version="1.6")
EVERY = app(m.Column(name="email", type="citext"), m.Column(name="state", type="status", default="'new'"),
            m.Column(name="price", type="price"), m.Column(name="total", type="money"),
            extensions=(CITEXT,), enums=(STATUS,), domains=(PRICE,), composites=(MONEY,))


def allowed(changes: list[d.Change], schema: str) -> tuple[str, ...]:
    return tuple(k for c in changes if (k := p.destructive(c, schema)))


def migration(a: m.Schema, b: m.Schema) -> p.MigrationPlan:
    changes = d.diff(a, b)
    return p.migration_plan(a, b, changes, allowed(changes, b.name))


def down(a: m.Schema, b: m.Schema) -> p.MigrationPlan:
    back = d.reverse(d.diff(a, b))
    return p.migration_plan(b, a, back, allowed(back, a.name))


def text(statements: list[object]) -> str:
    return RENDERER.script(statements).strip() if statements else ""  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Golden SQL: (id, old, new, transactional part without its SET lock_timeout, online part)
# ---------------------------------------------------------------------------------------------

GOLDEN: list[tuple[str, m.Schema, m.Schema, str, str]] = [
    ("other schema added", app(), app(schemas=("aux",)), "CREATE SCHEMA IF NOT EXISTS aux;", ""),
    ("other schema dropped", app(schemas=("aux",)), app(), "DROP SCHEMA IF EXISTS aux;", ""),
    ("extension added with schema and version", app(), app(extensions=(m.Extension(
        name="citext", in_schema="ext", version="1.6"),), schemas=("ext",)),
     "CREATE SCHEMA IF NOT EXISTS ext;\n\nCREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA ext VERSION '1.6';", ""),
    ("extension updated", app(extensions=(m.Extension(name="hstore", version="1.7"),)),
     app(extensions=(m.Extension(name="hstore", version="1.8"),)), "ALTER EXTENSION hstore UPDATE TO '1.8';", ""),
    ("extension moved", app(extensions=(m.Extension(name="hstore"),)),
     app(extensions=(m.Extension(name="hstore", in_schema="app"),)), "ALTER EXTENSION hstore SET SCHEMA app;", ""),
    ("extension dropped after the column using it", app(m.Column(name="h", type="hstore"),
                                                        extensions=(m.Extension(name="hstore"),)), app(),
     "ALTER TABLE app.items DROP COLUMN IF EXISTS h;\n\nDROP EXTENSION IF EXISTS hstore;", ""),
    ("enum created before its table", app(), app(m.Column(name="s", type="status"), enums=(STATUS,)),
     "DO $do$\nBEGIN\n    IF to_regtype('app.status') IS NULL THEN\n"
     "        CREATE TYPE app.status AS ENUM ('new', 'done');\n    END IF;\nEND\n$do$;\n\n"
     "ALTER TABLE app.items ADD COLUMN IF NOT EXISTS s app.status;", ""),
    ("enum value appended", app(enums=(STATUS,)), app(enums=(STATUS.replace(labels=("new", "done", "gone")),)),
     "ALTER TYPE app.status ADD VALUE IF NOT EXISTS 'gone' AFTER 'done';", ""),
    ("enum values before, between", app(enums=(STATUS,)),
     app(enums=(STATUS.replace(labels=("draft", "new", "paid", "done")),)),
     "ALTER TYPE app.status ADD VALUE IF NOT EXISTS 'draft' BEFORE 'new';\n\n"
     "ALTER TYPE app.status ADD VALUE IF NOT EXISTS 'paid' AFTER 'new';", ""),
    ("enum value renamed", app(enums=(STATUS,)),
     app(enums=(STATUS.replace(labels=("new", "finished"), renamed=(("done", "finished"),)),)),
     "DO $do$\nBEGIN\n    IF EXISTS (SELECT 1 FROM pg_catalog.pg_enum WHERE enumtypid = 'app.status'::regtype "
     "AND enumlabel = 'done') THEN\n        ALTER TYPE app.status RENAME VALUE 'done' TO 'finished';\n"
     "    END IF;\nEND\n$do$;", ""),
    ("domain check added NOT VALID, validated online", app(domains=(PRICE,)),
     app(domains=(PRICE.replace(checks=(*PRICE.checks, m.DomainCheck(name="price_cap", expression="VALUE < 1e9"))),)),
     "ALTER DOMAIN app.price DROP CONSTRAINT IF EXISTS price_cap;\n\n"
     "ALTER DOMAIN app.price ADD CONSTRAINT price_cap CHECK (VALUE < 1e9) NOT VALID;",
     "ALTER DOMAIN app.price VALIDATE CONSTRAINT price_cap;"),
    ("domain default and NOT NULL", app(domains=(PRICE,)), app(domains=(PRICE.replace(default=None, nullable=True),)),
     "ALTER DOMAIN app.price DROP DEFAULT;\n\nALTER DOMAIN app.price DROP NOT NULL;", ""),
    ("composite attribute appended", app(composites=(MONEY,)),
     app(composites=(MONEY.replace(attributes=(*MONEY.attributes, m.Attribute(name="at", type="timestamptz(3)"))),)),
     "DO $do$\nBEGIN\n    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = (SELECT typrelid FROM "
     "pg_catalog.pg_type WHERE oid = 'app.money'::regtype) AND attname = 'at' AND NOT attisdropped) THEN\n"
     "        ALTER TYPE app.money ADD ATTRIBUTE at TIMESTAMPTZ(3);\n    END IF;\nEND\n$do$;", ""),
    ("any column types", app(), app(m.Column(name="tags", type="varchar(40)[]"),
                                    m.Column(name="at", type="timestamp(3)"),
                                    m.Column(name="amount", type="numeric(20,8)"), m.Column(name="ip", type="inet"),
                                    m.Column(name="span", type="interval"), m.Column(name="f", type="float8"),
                                    m.Column(name="q", type='"Odd Type"'), m.Column(name="c", type="ext.citext")),
     "ALTER TABLE app.items ADD COLUMN IF NOT EXISTS tags VARCHAR(40)[];\n\n"
     "ALTER TABLE app.items ADD COLUMN IF NOT EXISTS at TIMESTAMP(3);\n\n"
     "ALTER TABLE app.items ADD COLUMN IF NOT EXISTS amount NUMERIC(20, 8);\n\n"
     "ALTER TABLE app.items ADD COLUMN IF NOT EXISTS ip INET;\n\n"
     "ALTER TABLE app.items ADD COLUMN IF NOT EXISTS span INTERVAL;\n\n"
     "ALTER TABLE app.items ADD COLUMN IF NOT EXISTS f DOUBLE PRECISION;\n\n"
     'ALTER TABLE app.items ADD COLUMN IF NOT EXISTS q "Odd Type";\n\n'
     "ALTER TABLE app.items ADD COLUMN IF NOT EXISTS c ext.citext;", ""),
    ("collation set", app(m.Column(name="code", type=m.TEXT)), app(m.Column(name="code", type=m.TEXT, collation="C")),
     'ALTER TABLE app.items ALTER COLUMN code TYPE TEXT COLLATE "C";', ""),
]


@pytest.mark.parametrize(("old", "new", "tx", "online"), [g[1:] for g in GOLDEN], ids=[g[0] for g in GOLDEN])
def test_golden_sql(old: m.Schema, new: m.Schema, tx: str, online: str) -> None:
    plan = migration(old, new)
    got_tx, got_online = text(plan.transactional), text(plan.online)
    assert got_tx == (f"{LOCK}\n\n{tx}" if tx else "")
    assert got_online == (f"{LOCK}\n\n{online}" if online else "")


def test_whole_schema_creation_orders_types_before_tables_and_public_is_never_created() -> None:
    script = RENDERER.script(p.create_statements(EVERY))
    order = [script.index(s) for s in ("CREATE SCHEMA app;",
                                       "CREATE EXTENSION citext WITH SCHEMA public VERSION '1.6'",
                                       "CREATE TYPE app.status", "CREATE DOMAIN app.price AS NUMERIC(20, 8)",
                                       "CREATE TYPE app.money AS (", "CREATE TABLE app.items")]
    assert order == sorted(order), script
    assert "amount app.price" in script and "state app.status DEFAULT 'new'" in script
    public = RENDERER.script(p.create_statements(app(name="public")))
    assert "SCHEMA" not in public and public.startswith("CREATE TABLE public.items")
    unowned = RENDERER.script(p.create_statements(app(owned=False)))
    assert unowned.startswith("CREATE SCHEMA IF NOT EXISTS app;")
    gone = text(down(app(), EVERY).transactional)
    drops = [gone.index(s) for s in ("DROP COLUMN IF EXISTS total", "DROP TYPE IF EXISTS app.money",
                                     "DROP DOMAIN IF EXISTS app.price",
                                     "DROP TYPE IF EXISTS app.status", "DROP EXTENSION IF EXISTS citext")]
    assert drops == sorted(drops), gone


def test_hazards_need_their_allowance() -> None:
    with pytest.raises(p.DestructiveChangeError, match="drop schema aux; drop extension hstore"):
        changes = d.diff(app(schemas=("aux",), extensions=(m.Extension(name="hstore"),)), app())
        p.migration_plan(app(schemas=("aux",), extensions=(m.Extension(name="hstore"),)), app(), changes)
    with pytest.raises(p.DestructiveChangeError, match=r"drop attribute app\.money\.currency"):
        old = app(composites=(MONEY,))
        new = app(composites=(MONEY.replace(attributes=MONEY.attributes[:1]),))
        p.migration_plan(old, new, d.diff(old, new))


def test_a_down_script_keeps_an_added_enum_value_and_an_extension_version_and_says_so() -> None:
    old, new = app(enums=(STATUS,)), app(enums=(STATUS.replace(labels=("new", "done", "gone")),))
    assert text(down(old, new).transactional) == (
        f"{LOCK}\n\n-- HAZARD: value 'gone' of app.status stays: PostgreSQL cannot remove an enum value")
    old, new = app(extensions=(m.Extension(name="hstore", version="1.7"),)), app(
        extensions=(m.Extension(name="hstore", version="1.8"),))
    assert "HAZARD: extension hstore stays at version 1.8" in text(down(old, new).transactional)


# ---------------------------------------------------------------------------------------------
# Diff: (old, new) -> the changes, by class and their identifying fields; each reverses to the inverse
# ---------------------------------------------------------------------------------------------

DIFFS: list[tuple[str, m.Schema, m.Schema, list[str]]] = [
    ("nothing", EVERY, EVERY, []),
    ("types added", app(), EVERY.replace(tables=app().tables),
     ["AddExtension citext", "AddEnum status", "AddDomain price", "AddComposite money"]),
    ("schema and extension moved", app(extensions=(m.Extension(name="hstore"),)),
     app(schemas=("ext",), extensions=(m.Extension(name="hstore", in_schema="ext", version="1.8"),)),
     ["AddSchema ext", "MoveExtension hstore", "UpdateExtension hstore"]),
    ("labels", app(enums=(STATUS,)), app(enums=(STATUS.replace(labels=("a", "new", "b", "finished", "c"),
                                                               renamed=(("done", "finished"),)),)),
     ["RenameEnumLabel done->finished", "AddEnumLabel a before new", "AddEnumLabel b after new",
      "AddEnumLabel c after finished"]),
    ("domain", app(domains=(PRICE,)), app(domains=(PRICE.replace(default="1", checks=(
        m.DomainCheck(name="price_positive", expression="VALUE > 0"),)),)),
     ["AlterDomain price", "DropDomainCheck price_positive", "AddDomainCheck price_positive"]),
    ("attributes", app(composites=(MONEY,)), app(composites=(MONEY.replace(attributes=(
        m.Attribute(name="amount", type="numeric"), m.Attribute(name="note", type="text"))),)),
     ["DropAttribute currency", "AlterAttribute amount", "AddAttribute note"]),
    ("collation and type", app(m.Column(name="c", type="text")), app(m.Column(name="c", type="citext", collation="C")),
     ["AlterColumn c"]),
]


def _shown(change: d.Change) -> str:
    name = type(change).__name__
    fields = vars(change)
    if "label" in fields:
        where = (f" before {fields['before']}" if fields.get("before") else
                 f" after {fields['after']}" if fields.get("after") else "")
        return f"{name} {fields['label']}{where}"
    if name == "RenameEnumLabel":
        return f"{name} {fields['old']}->{fields['new']}"
    for key in ("check", "attribute", "name", "new", "extension", "enum", "domain", "type", "column"):
        value = fields.get(key)
        if value is not None:
            return f"{name} {getattr(value, 'name', value)}"
    raise AssertionError(change)


@pytest.mark.parametrize(("old", "new", "want"), [x[1:] for x in DIFFS], ids=[x[0] for x in DIFFS])
def test_diff(old: m.Schema, new: m.Schema, want: list[str]) -> None:
    changes = d.diff(old, new)
    assert [_shown(c) for c in changes] == want
    assert sorted(map(repr, d.reverse(changes))) == sorted(map(repr, (c.reverse() for c in changes)))
    assert [c.reverse().reverse() for c in changes] == changes


# ---------------------------------------------------------------------------------------------
# Refused: what PostgreSQL cannot do in place, explained
# ---------------------------------------------------------------------------------------------

REFUSED: list[tuple[str, m.Schema, m.Schema, str]] = [
    ("enum value removed", app(enums=(STATUS,)), app(enums=(STATUS.replace(labels=("new",)),)),
     "removes or reorders a value.*new type, every column converted"),
    ("enum values reordered", app(enums=(STATUS,)), app(enums=(STATUS.replace(labels=("done", "new")),)),
     "removes or reorders a value"),
    ("enum value used by the version adding it", app(m.Column(name="s", type="status"), enums=(STATUS,)),
     app(m.Column(name="s", type="status", default="'gone'"), enums=(STATUS.replace(labels=("new", "done", "gone")),)),
     "value 'gone' is added by this version and used by the default of column items.s.*next"),
    ("domain base type changed", app(domains=(PRICE,)), app(domains=(PRICE.replace(base="numeric(30, 8)"),)),
     "base type changes.*declare a new domain"),
    ("domain check added while a composite column stores the domain",
     app(m.Column(name="m", type="money"), domains=(PRICE,), composites=(MONEY,)),
     app(m.Column(name="m", type="money"), composites=(MONEY,), domains=(PRICE.replace(
         checks=(*PRICE.checks, m.DomainCheck(name="cap", expression="VALUE < 100"))),)),
     "check cap cannot be added while column items.m stores the domain inside a composite type"),
    ("attribute inserted before others", app(composites=(MONEY,)),
     app(composites=(MONEY.replace(attributes=(m.Attribute(name="first", type="int"), *MONEY.attributes)),)),
     "only appends attributes"),
]


@pytest.mark.parametrize(("old", "new", "why"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_refused_with_the_reason(old: m.Schema, new: m.Schema, why: str) -> None:
    with pytest.raises(p.PlanError, match=why):
        migration(old, new)


@pytest.mark.parametrize(("old", "new", "widening"), [
    ("timestamptz(3)", "timestamptz(6)", True), ("timestamptz(3)", "timestamptz", True),
    ("timestamptz", "timestamptz(3)", False), ("varchar(40)[]", "varchar(80)[]", True), ("int[]", "bigint", False),
    ("text", "citext", False),
    ("int", "bigint", True), ("varchar(20)", "text", True), ("numeric(10,2)", "numeric(12,2)", True),
])
def test_widening(old: str, new: str, widening: bool) -> None:
    """A change every value survives needs no allowance (arrays: of the same dimensions; user types: unchanged)."""
    assert p.is_widening(m.sql_type(old), m.sql_type(new)) is widening


def test_column_types_are_validated_and_spelled_canonically() -> None:
    assert m.sql_type("int4") == m.INTEGER and m.sql_type("character varying(20)") == m.varchar(20)
    assert m.sql_type("timestamp(3) with time zone") == m.SqlType(name="timestamptz", args=(3,))
    assert m.sql_type("varchar(40)[]") == m.SqlType(name="varchar", args=(40,), array=1)
    assert m.sql_type('ext."My Type"') == m.SqlType(name="My Type", in_schema="ext")
    for bad in ("int; drop table x", "text) --", "varchar(40", "numeric(1e3)", "int[", "foo bar", "timestamp(9)"):
        with pytest.raises(m.DeclarationError, match="type"):
            m.Column(name="c", type=bad)
    with pytest.raises(m.DeclarationError, match="renamed"):
        m.EnumType(name="e", labels=("a",), renamed=(("a", "b"),))


# ---------------------------------------------------------------------------------------------
# Round trips on a real server
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    a: m.Schema
    b: m.Schema
    down_left: tuple[str, ...] = ()
    """Differences the down script leaves by design (kind, what)."""


HSTORE_17, HSTORE_18 = m.Extension(name="hstore", version="1.7"), m.Extension(name="hstore", version="1.8")
CASES: list[Case] = [
    Case("project in public", app(name="public"),
         app(m.Column(name="state", type="status", default="'new'"), name="public", enums=(STATUS,))),
    Case("other schema and an extension in it", app(),
         app(m.Column(name="email", type="ext.citext"), schemas=("ext",),
             extensions=(m.Extension(name="citext", in_schema="ext"),))),
    Case("extension updated", app(m.Column(name="h", type="hstore"), extensions=(HSTORE_17,)),
         app(m.Column(name="h", type="hstore"), extensions=(HSTORE_18,)),
         down_left=(("extension", "version differs"),)),
    Case("extension dropped with its column", app(m.Column(name="h", type="hstore"), extensions=(HSTORE_18,)), app()),
    Case("every type kind at once, in dependency order", app(), EVERY),
    Case("enum values added before, between, after", app(m.Column(name="s", type="status"), enums=(STATUS,)),
         app(m.Column(name="s", type="status"), enums=(STATUS.replace(labels=("draft", "new", "paid", "done", "x")),)),
         down_left=(("enum", "labels differ"),)),
    Case("enum value renamed", app(m.Column(name="s", type="status"), enums=(STATUS,)),
         app(m.Column(name="s", type="status"),
             enums=(STATUS.replace(labels=("new", "finished"), renamed=(("done", "finished"),)),))),
    Case("domain checks, default and NOT NULL changed", app(m.Column(name="p", type="price"), domains=(PRICE,)),
         app(m.Column(name="p", type="price"), domains=(PRICE.replace(
             default="1", nullable=True, checks=(m.DomainCheck(name="price_cap", expression="VALUE < 1000000"),)),))),
    Case("composite attributes added and dropped",
         app(m.Column(name="m", type="money"), composites=(MONEY,), domains=(PRICE,)),
         app(m.Column(name="m", type="money"), domains=(PRICE,), composites=(MONEY.replace(attributes=(
             MONEY.attributes[0], m.Attribute(name="note", type="text"))),))),
    Case("composite attribute retyped (no column uses it)", app(composites=(MONEY,), domains=(PRICE,)),
         app(domains=(PRICE,), composites=(MONEY.replace(attributes=(
             MONEY.attributes[0], m.Attribute(name="currency", type="varchar(3)"))),))),
    Case("any column type, and a type change", app(m.Column(name="code", type="varchar(40)")),
         app(m.Column(name="code", type="text"), m.Column(name="tags", type="varchar(40)[]"),
             m.Column(name="at", type="timestamptz(3)"), m.Column(name="amount", type="numeric(20,8)"),
             m.Column(name="ip", type="inet"), m.Column(name="span", type="interval"),
             m.Column(name="doc", type="jsonb"), m.Column(name="grid", type="int[][]"),
             m.Column(name="during", type="tstzrange"), m.Column(name="f", type="double precision"))),
    Case("text column becomes an enum, with its default", app(m.Column(name="s", type="text")),
         app(m.Column(name="s", type="status", default="'new'"), enums=(STATUS,))),
    Case("collation set", app(m.Column(name="code", type="text")),
         app(m.Column(name="code", type="text", collation="C"))),
]


def apply(dsn: str, plan: p.MigrationPlan) -> None:
    """The transactional part in one transaction, then the online part statement by statement."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        if plan.transactional:
            with conn.transaction():
                conn.execute(RENDERER.script(plan.transactional))
        for stmt in plan.online:
            conn.execute(RENDERER.statement(stmt))


def left(dbs: Databases, dsn: str, declared: m.Schema) -> list[tuple[str, str, str]]:
    with psycopg.connect(dsn) as conn:
        live = inspect_schema(conn, declared.name)
    # extensions are database-wide: the case's database holds exactly the declared ones
    assert sorted(e.name for e in live.extensions) == sorted(e.name for e in declared.extensions)
    return [(x.kind, x.name, x.what) for x in compare(declared_catalog(declared, dbs), live)]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_round_trip(case: Case, orders_empty_dsn: str, orders_databases: Databases) -> None:
    dsn, dbs = orders_empty_dsn, orders_databases
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(RENDERER.script(p.create_statements(case.a)))
    assert left(dbs, dsn, case.a) == []
    up = migration(case.a, case.b)
    assert not up.empty
    apply(dsn, up)
    assert left(dbs, dsn, case.b) == [], case.id
    with psycopg.connect(dsn, autocommit=True) as conn:
        before = snapshot(conn)
        apply(dsn, up)  # re-runnable: nothing changes
        assert snapshot(conn) == before
    assert migration(case.b, case.b).empty
    apply(dsn, down(case.a, case.b))
    assert [(k, w) for k, _, w in left(dbs, dsn, case.a)] == list(case.down_left)


def test_an_enum_value_added_online_is_usable_once_committed(orders_empty_dsn: str) -> None:
    a = app(m.Column(name="s", type="status"), enums=(STATUS,))
    b = app(m.Column(name="s", type="status"), enums=(STATUS.replace(labels=("new", "done", "gone")),))
    with psycopg.connect(orders_empty_dsn, autocommit=True) as conn:
        conn.execute(RENDERER.script(p.create_statements(a)))
        conn.execute("INSERT INTO app.items VALUES (1, 'done')")
    apply(orders_empty_dsn, migration(a, b))
    with psycopg.connect(orders_empty_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO app.items VALUES (2, 'gone')")
        assert conn.execute("SELECT array_agg(s ORDER BY s)::text FROM app.items").fetchone() == ("{done,gone}",)


def test_a_domain_check_added_not_valid_is_validated_online_and_drift_is_named(
    orders_empty_dsn: str, orders_databases: Databases
) -> None:
    a = app(m.Column(name="p", type="price"), domains=(PRICE,))
    b = app(m.Column(name="p", type="price"), domains=(PRICE.replace(
        checks=(*PRICE.checks, m.DomainCheck(name="price_cap", expression="VALUE < 100"))),))
    with psycopg.connect(orders_empty_dsn, autocommit=True) as conn:
        conn.execute(RENDERER.script(p.create_statements(a)))
        conn.execute("INSERT INTO app.items VALUES (1, 5)")
    up = migration(a, b)
    with psycopg.connect(orders_empty_dsn, autocommit=True) as conn, conn.transaction():
        conn.execute(RENDERER.script(up.transactional))
    assert left(orders_databases, orders_empty_dsn, b) == [("domain", "app.price", "definition differs")]  # NOT VALID
    apply(orders_empty_dsn, up)
    assert left(orders_databases, orders_empty_dsn, b) == []


def test_generated_files_apply_settle_and_undo(
    tmp_path: Path, orders_empty_dsn: str, orders_databases: Databases
) -> None:
    """Through the real workflow: generate writes the version files (DO blocks and all), apply runs
    them (the splitter, the online file outside a transaction), nothing is left, undo goes back."""
    base = app(m.Column(name="p", type="price"), domains=(PRICE,), enums=(STATUS,))
    v1 = m.Version(number=1, name="base", create_schema=True, state=app(),
                   phases=(m.Phase(title="ITEMS", items=(items(),)),))
    with pytest.raises(p.PlanError, match="V1: enum status cannot be laid out in a hand-declared version"):
        workflow.rendered_versions(pr.Project(schema=base, versions=(v1.replace(state=base),),
                                              schema_dir=tmp_path / "x"))
    workflow.render(pr.Project(schema=app(), versions=(v1,), schema_dir=tmp_path / "schema"))
    more = app(m.Column(name="p", type="price"), m.Column(name="email", type="citext"),
               m.Column(name="total", type="money"), extensions=(CITEXT,),
               composites=(MONEY.replace(attributes=(m.Attribute(name="amount", type="numeric(20, 8)"),
                                                     MONEY.attributes[1])),),
               domains=(PRICE.replace(checks=(*PRICE.checks, m.DomainCheck(name="cap", expression="VALUE < 100"))),),
               enums=(STATUS.replace(labels=("new", "done", "gone")),))
    for name, head in (("types", base), ("more", more)):
        proj = pr.Project(schema=head, versions=(v1,), schema_dir=tmp_path / "schema")
        assert workflow.generate(proj, name) is not None
        assert workflow.generate(proj, "again") is None  # settled
        migrate(orders_empty_dsn, proj.schema_dir)
        assert left(orders_databases, orders_empty_dsn, head) == []
    with pytest.raises(DataLossRefused, match="drop extension citext"):  # undo says what it would lose
        undo_last(orders_empty_dsn, proj.schema_dir)
    assert undo_last(orders_empty_dsn, proj.schema_dir, allow_data_loss=True)
    assert [(k, w) for k, _, w in left(orders_databases, orders_empty_dsn, base)] == [("enum", "labels differ")]


def test_an_undeclared_extension_is_reported_only_in_the_declared_schema() -> None:
    from orders_schema.kinds.extension import EXTENSION, ExtensionInfo

    live = [ExtensionInfo("pg_stat_statements", "public", "1.10"), ExtensionInfo("citext", "app", "1.6"),
            ExtensionInfo("hstore", "public", "1.8")]
    declared = [ExtensionInfo("hstore", "public", "1.7"), ExtensionInfo("pgcrypto", "public", "1.3")]
    assert [(x.name, x.what) for x in EXTENSION.compare("app", declared, live)] == [
        ("citext", "extra"), ("hstore", "version differs"), ("pgcrypto", "missing")]


def test_the_row_factory_fills_enum_domain_and_array_columns(orders_empty_dsn: str) -> None:
    """The behaviour checks insert valid rows: a NOT NULL enum, domain or array column gets a value."""
    import random

    from orders_schema.tester.checks.rows import RowFactory

    schema = app(m.Column(name="s", type="status", nullable=False), m.Column(name="p", type="price", nullable=False),
                 m.Column(name="tags", type="text[]", nullable=False), enums=(STATUS,), domains=(PRICE,))
    with psycopg.connect(orders_empty_dsn) as conn:
        conn.execute(RENDERER.script(p.create_statements(schema)))
        factory = RowFactory(conn, schema, rng=random.Random(3))
        factory.insert(schema.tables[0], factory.valid(schema.tables[0]))
        assert conn.execute("SELECT s::text, p, tags FROM app.items").fetchone() == ("new", 1, ["probe"])

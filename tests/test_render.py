"""Golden SQL: one statement object in, the exact text a DBA reads out. No database needed."""

from __future__ import annotations

import pytest

from orders_schema.declare import model as m
from orders_schema.kinds.default_privilege import AlterDefaultPrivileges
from orders_schema.kinds.grant import GrantStatement, RevokeStatement
from orders_schema.kinds.index import AttachIndex, CreateIndex
from orders_schema.kinds.owner import AlterOwner
from orders_schema.kinds.policy import CreatePolicy, DropPolicyStatement
from orders_schema.kinds.range import CreateRange
from orders_schema.kinds.role import CreateRoleIfMissing
from orders_schema.kinds.row_security import AlterRowSecurity
from orders_schema.kinds.table import AttachPartition, CreatePartition, CreateTable, DetachPartition, SetLoggedStatement
from orders_schema.kinds.type_rename import RenameTypeStatement
from orders_schema.migrate import render as r

S = "walltrack"
EV = m.Table(name="ev", columns=(m.Column(name="at", type=m.DATE, nullable=False), m.Column(name="Code", type=m.TEXT)),
             partition_by='RANGE (at, lower("Code"))')
PART = m.Partition(name="Ev 2024", bound="FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')")


def sql(stmt: r.Statement) -> str:
    return r.render(stmt)


def table(*columns: m.Column, **kw: object) -> m.Table:
    return m.Table(name="t", columns=columns, **kw)  # type: ignore[arg-type]


def col(name: str = "a", type: m.SqlType = m.INTEGER, **kw: object) -> m.Column:
    return m.Column(name=name, type=type, **kw)  # type: ignore[arg-type]


def idx(*columns: str, **kw: object) -> r.CreateIndex:
    return r.CreateIndex(S, "t", m.Index(name="i", columns=columns, **kw))  # type: ignore[arg-type]


GOLDEN: list[tuple[r.Statement, str]] = [
    # schema
    (r.CreateSchema("walltrack"), "CREATE SCHEMA IF NOT EXISTS walltrack;"),
    (r.CreateSchema("Wall Track", if_not_exists=False), 'CREATE SCHEMA "Wall Track";'),
    # types
    (r.AddColumn(S, "t", col("a", m.UUID)), "ALTER TABLE walltrack.t ADD COLUMN a UUID;"),
    (r.AddColumn(S, "t", col("a", m.varchar(44))), "ALTER TABLE walltrack.t ADD COLUMN a VARCHAR(44);"),
    (r.AddColumn(S, "t", col("a", m.TEXT)), "ALTER TABLE walltrack.t ADD COLUMN a TEXT;"),
    (r.AddColumn(S, "t", col("a", m.SMALLINT)), "ALTER TABLE walltrack.t ADD COLUMN a SMALLINT;"),
    (r.AddColumn(S, "t", col("a", m.BIGINT)), "ALTER TABLE walltrack.t ADD COLUMN a BIGINT;"),
    (r.AddColumn(S, "t", col("a", m.BOOLEAN)), "ALTER TABLE walltrack.t ADD COLUMN a BOOLEAN;"),
    (r.AddColumn(S, "t", col("a", m.decimal(20, 8))), "ALTER TABLE walltrack.t ADD COLUMN a DECIMAL(20, 8);"),
    (r.AddColumn(S, "t", col("a", m.numeric(30, 12))), "ALTER TABLE walltrack.t ADD COLUMN a NUMERIC(30, 12);"),
    (r.AddColumn(S, "t", col("a", m.numeric())), "ALTER TABLE walltrack.t ADD COLUMN a NUMERIC;"),
    (r.AddColumn(S, "t", col("a", m.TIMESTAMPTZ)), "ALTER TABLE walltrack.t ADD COLUMN a TIMESTAMPTZ;"),
    (r.AddColumn(S, "t", col("a", m.TIMESTAMP)), "ALTER TABLE walltrack.t ADD COLUMN a TIMESTAMP;"),
    (r.AddColumn(S, "t", col("a", m.DATE)), "ALTER TABLE walltrack.t ADD COLUMN a DATE;"),
    (r.AddColumn(S, "t", col("a", m.JSONB)), "ALTER TABLE walltrack.t ADD COLUMN a JSONB;"),
    # columns: nullability and defaults
    (r.AddColumn(S, "t", col("n", nullable=False, default="0")),
     "ALTER TABLE walltrack.t ADD COLUMN n INTEGER NOT NULL DEFAULT 0;"),
    (r.AddColumn(S, "t", col("s", m.TEXT, default=m.lit("it's"))),
     "ALTER TABLE walltrack.t ADD COLUMN s TEXT DEFAULT 'it''s';"),
    (r.AddColumn(S, "t", col("s", m.TEXT, default=m.lit("C:\\tmp"))),
     "ALTER TABLE walltrack.t ADD COLUMN s TEXT DEFAULT E'C:\\\\tmp';"),
    (r.AddColumn(S, "t", col("user", m.TEXT)), 'ALTER TABLE walltrack.t ADD COLUMN "user" TEXT;'),
    (r.AddColumn(S, "t", col("Amount", m.TEXT)), 'ALTER TABLE walltrack.t ADD COLUMN "Amount" TEXT;'),
    (r.DropColumn(S, "t", "a"), "ALTER TABLE walltrack.t DROP COLUMN a;"),
    (r.AlterColumnType(S, "t", "a", m.BIGINT), "ALTER TABLE walltrack.t ALTER COLUMN a TYPE BIGINT;"),
    (r.SetDefault(S, "t", "a", "1"), "ALTER TABLE walltrack.t ALTER COLUMN a SET DEFAULT 1;"),
    (r.SetDefault(S, "t", "a", None), "ALTER TABLE walltrack.t ALTER COLUMN a DROP DEFAULT;"),
    (r.SetNotNull(S, "t", "a", True), "ALTER TABLE walltrack.t ALTER COLUMN a SET NOT NULL;"),
    (r.SetNotNull(S, "t", "a", False), "ALTER TABLE walltrack.t ALTER COLUMN a DROP NOT NULL;"),
    # tables
    (r.CreateTable(S, table(col("id", m.UUID, nullable=False, default="gen_random_uuid()"),
                            primary_key=m.PrimaryKey(columns=("id",)))),
     "CREATE TABLE walltrack.t (\n    id UUID PRIMARY KEY DEFAULT gen_random_uuid()\n);"),
    (r.CreateTable(S, table(col("a"), col("b"), primary_key=m.PrimaryKey(columns=("a", "b"))), if_not_exists=True),
     "CREATE TABLE IF NOT EXISTS walltrack.t (\n    a INTEGER,\n    b INTEGER,\n\n"
     "    CONSTRAINT t_pkey PRIMARY KEY (a, b)\n);"),
    (r.CreateTable(S, table(col("a"), checks=(m.Check(name="a_pos", expression="a > 0"),))),
     "CREATE TABLE walltrack.t (\n    a INTEGER,\n\n    CONSTRAINT a_pos CHECK (a > 0)\n);"),
    (r.CreateTable(S, table(col("a", m.TEXT), checks=(m.Check.one_of("t_a_check", "a", ["x", "y"]),))),
     "CREATE TABLE walltrack.t (\n    a TEXT CONSTRAINT t_a_check CHECK (a IN ('x', 'y'))\n);"),
    (r.CreateTable(S, table(col("a"), col("b", section="Group B"))),
     "CREATE TABLE walltrack.t (\n    a INTEGER,\n\n    -- Group B\n    b INTEGER\n);"),
    (r.CreateTable(S, table(col("a"), uniques=(m.Unique(name="t_a_key", columns=("a",)),))),
     "CREATE TABLE walltrack.t (\n    a INTEGER,\n\n    CONSTRAINT t_a_key UNIQUE (a)\n);"),
    (r.DropTable(S, "t"), "DROP TABLE IF EXISTS walltrack.t;"),
    # constraints
    (r.AddConstraint(S, "t", m.Check(name="c", expression="a > 0"), not_valid=True),
     "ALTER TABLE walltrack.t\n    ADD CONSTRAINT c CHECK (a > 0) NOT VALID;"),
    (r.AddConstraint(S, "t", m.ForeignKey(name="fk", columns=("p",), ref_table="p", ref_columns=("id",))),
     "ALTER TABLE walltrack.t\n    ADD CONSTRAINT fk FOREIGN KEY (p) REFERENCES walltrack.p(id);"),
    (r.AddConstraint(S, "t", m.ForeignKey(name="fk", columns=("p",), ref_table="other.p", ref_columns=("id",),
                                          on_delete="CASCADE"), not_valid=True),
     "ALTER TABLE walltrack.t\n    ADD CONSTRAINT fk FOREIGN KEY (p) REFERENCES other.p(id) "
     "ON DELETE CASCADE NOT VALID;"),
    (r.AddConstraint(S, "t", m.Unique(name="u", columns=("a", "b"))),
     "ALTER TABLE walltrack.t\n    ADD CONSTRAINT u UNIQUE (a, b);"),
    (r.ValidateConstraint(S, "t", "c"), "ALTER TABLE walltrack.t VALIDATE CONSTRAINT c;"),
    (r.DropConstraint(S, "t", "c"), "ALTER TABLE walltrack.t DROP CONSTRAINT c;"),
    (r.DropConstraint(S, "t", "c", if_exists=True), "ALTER TABLE walltrack.t DROP CONSTRAINT IF EXISTS c;"),
    # indexes
    (idx("a"), "CREATE INDEX i ON walltrack.t(a);"),
    (idx("a", "b DESC"), "CREATE INDEX i ON walltrack.t(a, b DESC);"),
    (idx("a DESC NULLS LAST"), "CREATE INDEX i ON walltrack.t(a DESC NULLS LAST);"),
    (idx("a NULLS FIRST"), "CREATE INDEX i ON walltrack.t(a NULLS FIRST);"),
    (idx("a", unique=True), "CREATE UNIQUE INDEX i ON walltrack.t(a);"),
    (idx("a", method="brin"), "CREATE INDEX i ON walltrack.t USING brin(a);"),
    (idx("a", where="a IS NOT NULL"), "CREATE INDEX i ON walltrack.t(a) WHERE a IS NOT NULL;"),
    (idx("a", include=("b",)), "CREATE INDEX i ON walltrack.t(a) INCLUDE (b);"),
    (idx("lower(a)"), "CREATE INDEX i ON walltrack.t((lower(a)));"),
    (idx('"Status ""x""" DESC'), 'CREATE INDEX i ON walltrack.t("Status ""x""" DESC);'),
    (idx("UPPER"), 'CREATE INDEX i ON walltrack.t("UPPER");'),
    (idx('"select"'), 'CREATE INDEX i ON walltrack.t("select");'),
    (r.CreateIndex(S, "t", m.Index(name="i", columns=("a",)), if_not_exists=True, concurrently=True),
     "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON walltrack.t(a);"),
    (r.DropIndex(S, "i"), "DROP INDEX IF EXISTS walltrack.i;"),
    (r.DropIndex(S, "i", concurrently=True), "DROP INDEX CONCURRENTLY IF EXISTS walltrack.i;"),
    # functions, triggers, views
    (r.CreateFunction(S, m.Function(name="f", body="\nBEGIN RETURN NEW; END;\n")),
     "CREATE OR REPLACE FUNCTION walltrack.f()\nRETURNS TRIGGER AS $$\nBEGIN RETURN NEW; END;\n$$ LANGUAGE plpgsql;"),
    (r.CreateFunction(S, m.Function(name="f", body="SELECT '$$'", returns="text", language="sql",
                                    volatility="STABLE")),
     "CREATE OR REPLACE FUNCTION walltrack.f()\nRETURNS TEXT AS $body$SELECT '$$'$body$ LANGUAGE sql\nSTABLE;"),
    (r.CreateFunction(S, m.Function(name="f", body="BEGIN RETURN NEW; END;",
                                    settings=(("search_path", "pg_catalog, walltrack"),))),
     "CREATE OR REPLACE FUNCTION walltrack.f()\nRETURNS TRIGGER AS $$BEGIN RETURN NEW; END;$$ LANGUAGE plpgsql\n"
     "SET search_path = 'pg_catalog', 'walltrack';"),
    (r.DropFunction(S, m.Function(name="f", body="x", arguments=("integer",))),
     "DROP FUNCTION IF EXISTS walltrack.f(integer);"),
    (r.CreateTrigger(S, "t", m.Trigger(name="trg", timing="BEFORE", events=("UPDATE",), function="f")),
     "CREATE TRIGGER trg\n    BEFORE UPDATE ON walltrack.t\n    FOR EACH ROW EXECUTE FUNCTION walltrack.f();"),
    (r.CreateTrigger(S, "t", m.Trigger(name="trg", timing="AFTER", events=("UPDATE",), function="f",
                                       update_of=("status",), when="OLD.status IS DISTINCT FROM NEW.status")),
     "CREATE TRIGGER trg\n    AFTER UPDATE OF status ON walltrack.t\n    FOR EACH ROW\n"
     "    WHEN (OLD.status IS DISTINCT FROM NEW.status)\n    EXECUTE FUNCTION walltrack.f();"),
    (r.CreateTrigger(S, "t", m.Trigger(name="trg", timing="AFTER", events=("INSERT", "UPDATE"), function="f",
                                       update_of=("status",), when="NEW.status <> 'x'")),
     "CREATE TRIGGER trg\n    AFTER INSERT OR UPDATE OF status ON walltrack.t\n    FOR EACH ROW\n"
     "    WHEN (NEW.status <> 'x')\n    EXECUTE FUNCTION walltrack.f();"),
    (r.CreateTrigger(S, "t", m.Trigger(name="trg", timing="AFTER", events=("TRUNCATE",), function="f",
                                       for_each="STATEMENT")),
     "CREATE TRIGGER trg\n    AFTER TRUNCATE ON walltrack.t\n    FOR EACH STATEMENT EXECUTE FUNCTION walltrack.f();"),
    (r.DropTrigger(S, "t", "trg"), "DROP TRIGGER IF EXISTS trg ON walltrack.t;"),
    (r.CreateView(S, m.View(name="v", query="SELECT 1 AS one")),
     "CREATE OR REPLACE VIEW walltrack.v AS\nSELECT 1 AS one;"),
    (r.CreateView(S, m.View(name="v", query="SELECT 1 AS one;\n"), or_replace=False),
     "CREATE VIEW walltrack.v AS\nSELECT 1 AS one;"),
    (r.DropView(S, "v"), "DROP VIEW IF EXISTS walltrack.v;"),
    # layout
    (r.PhaseHeader("PHASE 1: X"), "-- " + "=" * 60 + "\n-- PHASE 1: X\n-- " + "=" * 60),
    (r.CommentLine("two\nlines"), "-- two\n-- lines"),
    # comments (orders_schema.kinds.comment)
    (r.CommentOn(S, "t", None, "Orders as placed"), "COMMENT ON TABLE walltrack.t IS 'Orders as placed';"),
    (r.CommentOn(S, "t", "a", "it's\nmulti-line"), "COMMENT ON COLUMN walltrack.t.a IS 'it''s\nmulti-line';"),
    (r.CommentOn(S, "Odd T", "a b", None), 'COMMENT ON COLUMN walltrack."Odd T"."a b" IS NULL;'),
    (r.CommentOn(S, "v", None, "Names", "view"), "COMMENT ON VIEW walltrack.v IS 'Names';"),
    (r.CommentOn(S, "v", "n", "A name", "view"), "COMMENT ON COLUMN walltrack.v.n IS 'A name';"),
    (r.CommentOn(S, "mv", None, "Stored", "materialized view"),
     "COMMENT ON MATERIALIZED VIEW walltrack.mv IS 'Stored';"),
    (r.CommentOn(S, "i", None, None, "index"), "COMMENT ON INDEX walltrack.i IS NULL;"),
    (r.CommentOn(S, "t", "Odd C", "x", "constraint"), "COMMENT ON CONSTRAINT \"Odd C\" ON walltrack.t IS 'x';"),
    (r.CommentOn(S, "v", "w", "x", "trigger"), "COMMENT ON TRIGGER w ON walltrack.v IS 'x';"),
    (r.CommentOn(S, "f", "integer, text[]", "x", "function"),
     "COMMENT ON FUNCTION walltrack.f(integer, text[]) IS 'x';"),
    (r.CommentOn(S, "f", "", "x", "function"), "COMMENT ON FUNCTION walltrack.f() IS 'x';"),
    (r.CommentOn(S, "q", None, "x", "sequence"), "COMMENT ON SEQUENCE walltrack.q IS 'x';"),
    (r.CommentOn(S, "e", None, "x", "type"), "COMMENT ON TYPE walltrack.e IS 'x';"),
    (r.CommentOn(S, "d", None, "x", "domain"), "COMMENT ON DOMAIN walltrack.d IS 'x';"),
    (r.CommentOn(S, "Wall Track", None, "x", "schema"), "COMMENT ON SCHEMA \"Wall Track\" IS 'x';"),
    # INSTEAD OF triggers on views (orders_schema.kinds.trigger)
    (r.CreateTrigger(S, "v", m.Trigger(name="w", timing="INSTEAD OF", events=("INSERT", "UPDATE"), function="f")),
     "CREATE TRIGGER w\n    INSTEAD OF INSERT OR UPDATE ON walltrack.v\n"
     "    FOR EACH ROW EXECUTE FUNCTION walltrack.f();"),
    # range types and type renames (orders_schema.kinds.range, orders_schema.kinds.type_rename)
    (CreateRange(S, m.RangeType(name="r", subtype="numeric(20,8)")),
     "CREATE TYPE walltrack.r AS RANGE (\n    SUBTYPE = NUMERIC(20, 8)\n);"),
    (CreateRange(S, m.RangeType(name="Code Span", subtype="text", subtype_opclass="text_pattern_ops", collation="C",
                                subtype_diff="walltrack.diff")),
     'CREATE TYPE walltrack."Code Span" AS RANGE (\n    SUBTYPE = TEXT,\n    SUBTYPE_OPCLASS = text_pattern_ops,\n'
     '    COLLATION = "C",\n    SUBTYPE_DIFF = walltrack.diff\n);'),
    (RenameTypeStatement(S, False, "status", "State"),
     "DO $do$\nBEGIN\n    IF to_regtype('walltrack.\"State\"') IS NULL"
     " AND NOT to_regtype('walltrack.status') IS NULL THEN\n"
     "        ALTER TYPE walltrack.status RENAME TO \"State\";\n    END IF;\nEND\n$do$;"),
    # access: roles, privileges, row security, policies
    (CreateRoleIfMissing("app"),
     "DO $$\nBEGIN\n    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'app') THEN\n"
     "        CREATE ROLE app NOLOGIN;\n    END IF;\nEXCEPTION WHEN duplicate_object THEN\n"
     "    NULL;  -- created meanwhile by another database's migration\nEND\n$$;"),
    (CreateRoleIfMissing("it's \"odd\""),
     "DO $$\nBEGIN\n    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'it''s \"odd\"') THEN\n"
     "        CREATE ROLE \"it's \"\"odd\"\"\" NOLOGIN;\n    END IF;\nEXCEPTION WHEN duplicate_object THEN\n"
     "    NULL;  -- created meanwhile by another database's migration\nEND\n$$;"),
    (GrantStatement(S, "schema", "", (), ("USAGE",), "app"), "GRANT USAGE ON SCHEMA walltrack TO app;"),
    (GrantStatement(S, "table", "t", (), ("SELECT", "INSERT"), "PUBLIC"),
     "GRANT SELECT, INSERT ON TABLE walltrack.t TO PUBLIC;"),
    (GrantStatement(S, "table", "t", ("a", "Odd"), ("UPDATE",), "app"),
     'GRANT UPDATE (a, "Odd") ON TABLE walltrack.t TO app;'),
    (GrantStatement(S, "sequence", "t_id_seq", (), ("USAGE",), "Odd Role"),
     'GRANT USAGE ON SEQUENCE walltrack.t_id_seq TO "Odd Role";'),
    (RevokeStatement(S, "function", "f", (), ("EXECUTE",), "PUBLIC"),
     "REVOKE EXECUTE ON FUNCTION walltrack.f FROM PUBLIC;"),
    (AlterRowSecurity(S, "t", "ENABLE"), "ALTER TABLE walltrack.t ENABLE ROW LEVEL SECURITY;"),
    (AlterRowSecurity(S, "t", "NO FORCE"), "ALTER TABLE walltrack.t NO FORCE ROW LEVEL SECURITY;"),
    (CreatePolicy(S, "t", m.Policy(name="own", command="UPDATE", roles=("app", "PUBLIC"), using="a = 1",
                                   with_check="a > 0")),
     "CREATE POLICY own ON walltrack.t\n    AS PERMISSIVE FOR UPDATE TO PUBLIC, app\n"
     "    USING (a = 1)\n    WITH CHECK (a > 0);"),
    (CreatePolicy(S, "t", m.Policy(name="Not Neg", permissive=False, command="INSERT", with_check="a >= 0")),
     'CREATE POLICY "Not Neg" ON walltrack.t\n    AS RESTRICTIVE FOR INSERT TO PUBLIC\n    WITH CHECK (a >= 0);'),
    (DropPolicyStatement(S, "t", "own"), "DROP POLICY IF EXISTS own ON walltrack.t;"),
    (AlterOwner(S, "t", "Odd Role"), 'ALTER TABLE walltrack.t OWNER TO "Odd Role";'),
    (AlterOwner(S, "t", None), "ALTER TABLE walltrack.t OWNER TO CURRENT_USER;"),
    (AlterDefaultPrivileges(S, "", "tables", ("SELECT", "INSERT"), "app", True),
     "ALTER DEFAULT PRIVILEGES IN SCHEMA walltrack\n    GRANT SELECT, INSERT ON TABLES TO app;"),
    (AlterDefaultPrivileges(S, "Odd Role", "functions", ("EXECUTE",), "PUBLIC", False),
     'ALTER DEFAULT PRIVILEGES FOR ROLE "Odd Role" IN SCHEMA walltrack\n    REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;'),
    # partitioned, inheriting and unlogged tables
    (CreateTable(S, EV), 'CREATE TABLE walltrack.ev (\n    at DATE NOT NULL,\n    "Code" TEXT\n)'
                         ' PARTITION BY RANGE (at, (lower("Code")));'),
    (CreateTable(S, m.Table(name="kid", columns=(), inherits=("base", "other.Base"))),
     'CREATE TABLE walltrack.kid () INHERITS (walltrack.base, other."Base");'),
    (CreateTable(S, m.Table(name="c", columns=(m.Column(name="k", type=m.TEXT),), unlogged=True), if_not_exists=True),
     "CREATE UNLOGGED TABLE IF NOT EXISTS walltrack.c (\n    k TEXT\n);"),
    (CreatePartition(S, "ev", PART, if_not_exists=True),
     'CREATE TABLE IF NOT EXISTS walltrack."Ev 2024" PARTITION OF walltrack.ev '
     "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');"),
    (AttachPartition(S, "ev", PART),
     'CREATE TABLE IF NOT EXISTS walltrack."Ev 2024" (LIKE walltrack.ev INCLUDING DEFAULTS INCLUDING CONSTRAINTS '
     "INCLUDING GENERATED);\nDO $$\nBEGIN\n    IF NOT EXISTS (SELECT FROM pg_catalog.pg_inherits WHERE inhrelid = "
     "pg_catalog.to_regclass('walltrack.\"Ev 2024\"') AND inhparent = pg_catalog.to_regclass('walltrack.ev')) THEN\n"
     '        ALTER TABLE walltrack.ev ATTACH PARTITION walltrack."Ev 2024" '
     "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');\n    END IF;\nEND\n$$;"),
    (DetachPartition(S, "ev", PART),
     "-- so a re-run works (no IF EXISTS on DETACH): drop what an earlier try detached, re-create (empty) what is "
     "gone\nDO $$\nBEGIN\n    IF (pg_catalog.to_regclass('walltrack.\"Ev 2024\"') IS NOT NULL) AND NOT EXISTS (SELECT "
     "FROM pg_catalog.pg_inherits WHERE inhrelid = pg_catalog.to_regclass('walltrack.\"Ev 2024\"') AND inhparent = "
     "pg_catalog.to_regclass('walltrack.ev')) THEN\n        DROP TABLE walltrack.\"Ev 2024\";\n    END IF;\n"
     "    IF NOT (pg_catalog.to_regclass('walltrack.\"Ev 2024\"') IS NOT NULL) THEN\n"
     '        CREATE TABLE walltrack."Ev 2024" PARTITION OF walltrack.ev '
     "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');\n    END IF;\nEND\n$$;\n"
     'ALTER TABLE walltrack.ev DETACH PARTITION walltrack."Ev 2024" CONCURRENTLY;'),
    (SetLoggedStatement(S, "c", True), "ALTER TABLE walltrack.c SET UNLOGGED;"),
    (SetLoggedStatement(S, "c", False), "ALTER TABLE walltrack.c SET LOGGED;"),
    (CreateIndex(S, "ev", m.Index(name="ev_at", columns=("at",)), if_not_exists=True, only=True),
     "CREATE INDEX IF NOT EXISTS ev_at ON ONLY walltrack.ev(at);"),
    (AttachIndex(S, "ev_at", "Ev 2024_at_idx"),
     'ALTER INDEX walltrack.ev_at ATTACH PARTITION walltrack."Ev 2024_at_idx";'),
]


@pytest.mark.parametrize(
    ("stmt", "expected"), GOLDEN, ids=[f"{type(s).__name__}-{i}" for i, (s, _) in enumerate(GOLDEN)]
)
def test_golden(stmt: r.Statement, expected: str) -> None:
    assert sql(stmt) == expected


def test_script_lays_out_phases_like_the_story() -> None:
    text = r.RENDERER.script(
        [r.PhaseHeader("PHASE 1: A"), r.CommentLine("first"), r.DropView(S, "a"), r.DropView(S, "b"),
         r.CommentLine("second"), r.DropView(S, "c")],
        header=("Title", "Version: V2"),
    )
    rule = "-- " + "=" * 60
    assert text == (
        f"-- Title\n-- Version: V2\n\n{rule}\n-- PHASE 1: A\n{rule}\n\n-- first\nDROP VIEW IF EXISTS walltrack.a;\n\n"
        "DROP VIEW IF EXISTS walltrack.b;\n\n-- second\nDROP VIEW IF EXISTS walltrack.c;\n"
    )


def test_long_partial_index_breaks_over_three_lines() -> None:
    stmt = idx("status", "next_retry_at", where="status = 'failed' AND next_retry_at IS NOT NULL AND x IS NULL")
    assert sql(stmt) == (
        "CREATE INDEX i\n    ON walltrack.t(status, next_retry_at)\n"
        "    WHERE status = 'failed' AND next_retry_at IS NOT NULL AND x IS NULL;"
    )


def test_concurrent_statements_are_not_transactional() -> None:
    assert not r.CreateIndex(S, "t", m.Index(name="i", columns=("a",)), concurrently=True).transactional
    assert not r.DropIndex(S, "i", concurrently=True).transactional
    assert r.CreateIndex(S, "t", m.Index(name="i", columns=("a",))).transactional

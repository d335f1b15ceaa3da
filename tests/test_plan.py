"""Table-driven plan tests: (old, new) -> the exact SQL of both parts of the version, and of its
down script (built from the changes' reverse). No database: each row is one line to add.

The SQL runs on a real server elsewhere (tests/test_generate.py applies generated versions and
their down scripts and ends with "nothing left to change"); here the statements and their order
are pinned: what goes in the transaction, what goes online (CONCURRENTLY, VALIDATE), and that
everything touching a renamed table stays online-safe.
"""

from __future__ import annotations

import re

import pytest

from orders_schema.declare import model as m
from orders_schema.migrate import diff as d
from orders_schema.migrate import plan as p
from orders_schema.migrate.render import RENDERER

ID = m.Column(name="id", type=m.UUID, nullable=False)
STATUS = m.Column(name="status", type=m.varchar(20), nullable=False, default="'pending'")
T = m.Table(name="t", columns=(ID, STATUS), primary_key=m.PrimaryKey(columns=("id",)))
FN = m.Function(name="f", body="BEGIN RETURN NEW; END;")
V = m.View(name="v", query="SELECT id, status FROM s.t")
BASE = m.Schema(name="s", tables=(T,), functions=(FN,), views=(V,))
LOCK = "SET lock_timeout = '5s';"


def table(**update: object) -> m.Schema:
    return BASE.model_copy(update={"tables": (T.replace(**update),)})


def schema(**update: object) -> m.Schema:
    return BASE.replace(**update)


def sql(statements: list[object]) -> str:
    return RENDERER.script(statements).strip() if statements else ""  # type: ignore[arg-type]


def planned(old: m.Schema, new: m.Schema) -> tuple[str, str, str, str]:
    """(transactional, online) of the version, then of its down script."""
    changes, back = d.diff(old, new), d.reverse(d.diff(old, new))
    allow = tuple(k for c in (*changes, *back) if (k := p.destructive(c, "s")))
    up = p.migration_plan(old, new, changes, allow)
    down = p.migration_plan(new, old, back, allow)
    return sql(up.transactional), sql(up.online), sql(down.transactional), sql(down.online)


GUARDED = re.compile(
    r"DO \$\$\nBEGIN\n    IF .*?THEN\n        (ALTER TABLE [^\n]* RENAME [^\n]*;)\n    END IF;\nEND\n\$\$;", re.S)


def body(text: str) -> str:
    """A part without its ``SET lock_timeout`` line (asserted once, below), each rename shown as its
    bare statement (the guard that makes it re-runnable is pinned once, in its own test)."""
    return GUARDED.sub(r"\1", text.removeprefix(LOCK).strip())


EV = m.Table(name="ev", columns=(ID, STATUS), primary_key=m.PrimaryKey(columns=("id", "status")),
             partition_by="LIST (status)", partitions=(m.Partition(name="ev_new", bound="FOR VALUES IN ('new')"),
                                                       m.Partition(name="ev_done", bound="FOR VALUES IN ('done')")))
EV_NEXT = EV.replace(partitions=(EV.partitions[1], m.Partition(name="ev_paid", bound="FOR VALUES IN ('paid')")),
                     indexes=(m.Index(name="ev_id", columns=("id",)),))


def attach(name: str, values: str) -> str:
    return (f"CREATE TABLE IF NOT EXISTS s.{name} (LIKE s.ev INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING "
            "GENERATED);\nDO $$\nBEGIN\n    IF NOT EXISTS (SELECT FROM pg_catalog.pg_inherits WHERE inhrelid = "
            f"pg_catalog.to_regclass('s.{name}') AND inhparent = pg_catalog.to_regclass('s.ev')) THEN\n"
            f"        ALTER TABLE s.ev ATTACH PARTITION s.{name} FOR VALUES IN ({values});\n    END IF;\nEND\n$$;")


def detach(name: str, values: str) -> str:
    exists = f"(pg_catalog.to_regclass('s.{name}') IS NOT NULL)"
    return ("-- so a re-run works (no IF EXISTS on DETACH): drop what an earlier try detached, re-create (empty) what "
            f"is gone\nDO $$\nBEGIN\n    IF {exists} AND NOT EXISTS (SELECT FROM pg_catalog.pg_inherits WHERE "
            f"inhrelid = pg_catalog.to_regclass('s.{name}') AND inhparent = pg_catalog.to_regclass('s.ev')) THEN\n"
            f"        DROP TABLE s.{name};\n    END IF;\n    IF NOT {exists} THEN\n"
            f"        CREATE TABLE s.{name} PARTITION OF s.ev FOR VALUES IN ({values});\n    END IF;\nEND\n$$;\n"
            f"ALTER TABLE s.ev DETACH PARTITION s.{name} CONCURRENTLY;\n\nDROP TABLE IF EXISTS s.{name};")


# (case, old, new, transactional, online, down transactional, down online); "" when empty.
CASES: list[tuple[str, m.Schema, m.Schema, str, str, str, str]] = [
    ("add column", BASE, table(columns=(ID, STATUS, m.Column(name="x", type=m.TEXT))),
     "ALTER TABLE s.t ADD COLUMN IF NOT EXISTS x TEXT;", "",
     # a dropped column reshapes its table: the views reading it are dropped before it and
     # created again after it (a view taking t.* would otherwise depend on the column)
     "DROP VIEW IF EXISTS s.v;\n\nALTER TABLE s.t DROP COLUMN IF EXISTS x;\n\n"
     "CREATE OR REPLACE VIEW s.v AS\nSELECT id, status FROM s.t;", ""),
    ("add a column a view takes through *: the view is created again (PostgreSQL expanded * at creation)",
     BASE.replace(views=(m.View(name="w", query="SELECT q.* FROM (SELECT t.*, 1 AS one FROM s.t) q"),)),
     table(columns=(ID, STATUS, m.Column(name="x", type=m.TEXT))).replace(
         views=(m.View(name="w", query="SELECT q.* FROM (SELECT t.*, 1 AS one FROM s.t) q"),)),
     "DROP VIEW IF EXISTS s.w;\n\nALTER TABLE s.t ADD COLUMN IF NOT EXISTS x TEXT;\n\n"
     "CREATE OR REPLACE VIEW s.w AS\nSELECT q.* FROM (SELECT t.*, 1 AS one FROM s.t) q;", "",
     "DROP VIEW IF EXISTS s.w;\n\nALTER TABLE s.t DROP COLUMN IF EXISTS x;\n\n"
     "CREATE OR REPLACE VIEW s.w AS\nSELECT q.* FROM (SELECT t.*, 1 AS one FROM s.t) q;", ""),
    ("add a column to a table a view takes * of: the view is created again",
     BASE.replace(views=(m.View(name="w", query="SELECT * FROM s.t"),)),
     table(columns=(ID, STATUS, m.Column(name="x", type=m.TEXT))).replace(
         views=(m.View(name="w", query="SELECT * FROM s.t"),)),
     "DROP VIEW IF EXISTS s.w;\n\nALTER TABLE s.t ADD COLUMN IF NOT EXISTS x TEXT;\n\n"
     "CREATE OR REPLACE VIEW s.w AS\nSELECT * FROM s.t;", "",
     "DROP VIEW IF EXISTS s.w;\n\nALTER TABLE s.t DROP COLUMN IF EXISTS x;\n\n"
     "CREATE OR REPLACE VIEW s.w AS\nSELECT * FROM s.t;", ""),
    ("rename column: the down script renames back, never drops",
     BASE.replace(views=()), table(columns=(ID, STATUS.replace(name="state", renamed_from="status"))).replace(views=()),
     "ALTER TABLE s.t RENAME COLUMN status TO state;", "",
     "ALTER TABLE s.t RENAME COLUMN state TO status;", ""),
    ("widen a type: views reading the table are dropped and re-created",
     BASE, table(columns=(ID, STATUS.replace(type=m.TEXT))),
     "DROP VIEW IF EXISTS s.v;\n\nALTER TABLE s.t ALTER COLUMN status TYPE TEXT;\n\n"
     "CREATE OR REPLACE VIEW s.v AS\nSELECT id, status FROM s.t;", "",
     "DROP VIEW IF EXISTS s.v;\n\nALTER TABLE s.t ALTER COLUMN status TYPE VARCHAR(20);\n\n"
     "CREATE OR REPLACE VIEW s.v AS\nSELECT id, status FROM s.t;", ""),
    ("default and nullability", BASE, table(columns=(ID, STATUS.replace(default=None, nullable=True))),
     "ALTER TABLE s.t ALTER COLUMN status DROP DEFAULT;\n\nALTER TABLE s.t ALTER COLUMN status DROP NOT NULL;", "",
     "ALTER TABLE s.t ALTER COLUMN status SET DEFAULT 'pending';\n\n"
     "ALTER TABLE s.t ALTER COLUMN status SET NOT NULL;", ""),
    ("check on an existing table: NOT VALID, validated online",
     BASE, table(checks=(m.Check(name="c", expression="status <> ''"),)),
     "ALTER TABLE s.t DROP CONSTRAINT IF EXISTS c;\n\n"
     "ALTER TABLE s.t\n    ADD CONSTRAINT c CHECK (status <> '') NOT VALID;",
     "ALTER TABLE s.t VALIDATE CONSTRAINT c;",
     "ALTER TABLE s.t DROP CONSTRAINT IF EXISTS c;", ""),
    ("a CHECK replaced by a new one: the new one NOT VALID, VALIDATE, then the old one dropped (and back)",
     table(checks=(m.Check(name="c", expression="status <> ''"),)),
     table(checks=(m.Check(name="c2", expression="length(status) > 1"),)),
     "ALTER TABLE s.t DROP CONSTRAINT IF EXISTS c2;\n\n"
     "ALTER TABLE s.t\n    ADD CONSTRAINT c2 CHECK (length(status) > 1) NOT VALID;",
     "ALTER TABLE s.t VALIDATE CONSTRAINT c2;\n\nALTER TABLE s.t DROP CONSTRAINT IF EXISTS c;",
     "ALTER TABLE s.t DROP CONSTRAINT IF EXISTS c;\n\n"
     "ALTER TABLE s.t\n    ADD CONSTRAINT c CHECK (status <> '') NOT VALID;",
     "ALTER TABLE s.t VALIDATE CONSTRAINT c;\n\nALTER TABLE s.t DROP CONSTRAINT IF EXISTS c2;"),
    ("unique on an existing table: no NOT VALID (PostgreSQL has none for UNIQUE)",
     BASE, table(uniques=(m.Unique(name="u", columns=("status",)),)),
     "ALTER TABLE s.t DROP CONSTRAINT IF EXISTS u;\n\nALTER TABLE s.t\n    ADD CONSTRAINT u UNIQUE (status);", "",
     "ALTER TABLE s.t DROP CONSTRAINT IF EXISTS u;", ""),
    ("index on an existing table: CONCURRENTLY, online",
     BASE, table(indexes=(m.Index(name="i", columns=("status",)),)),
     "", "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON s.t(status);",
     "", "DROP INDEX CONCURRENTLY IF EXISTS s.i;"),
    ("index redefined under its name: dropped first, then built",
     table(indexes=(m.Index(name="i", columns=("status",)),)),
     table(indexes=(m.Index(name="i", columns=("status DESC",)),)),
     "", "DROP INDEX CONCURRENTLY IF EXISTS s.i;\n\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i ON s.t(status DESC);",
     "", "DROP INDEX CONCURRENTLY IF EXISTS s.i;\n\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i ON s.t(status);"),
    ("rename a table and give it an index and a check: still online-safe",
     BASE.replace(views=()),
     BASE.replace(views=(), tables=(T.replace(name="t2", renamed_from="t",
                                               indexes=(m.Index(name="i_status", columns=("status",)),),
                                               checks=(m.Check(name="c", expression="status <> ''"),)),)),
     "ALTER TABLE s.t RENAME TO t2;\n\nALTER TABLE s.t2 RENAME CONSTRAINT t_pkey TO t2_pkey;\n\n"
     "ALTER TABLE s.t2 DROP CONSTRAINT IF EXISTS c;\n\n"
     "ALTER TABLE s.t2\n    ADD CONSTRAINT c CHECK (status <> '') NOT VALID;",
     "ALTER TABLE s.t2 VALIDATE CONSTRAINT c;\n\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i_status ON s.t2(status);",
     "ALTER TABLE s.t2 DROP CONSTRAINT IF EXISTS c;\n\nALTER TABLE s.t2 RENAME TO t;\n\n"
     "ALTER TABLE s.t RENAME CONSTRAINT t2_pkey TO t_pkey;",
     "DROP INDEX CONCURRENTLY IF EXISTS s.i_status;"),
    ("primary key swap: the new key's index is built online and swapped in",
     BASE, table(primary_key=m.PrimaryKey(columns=("id", "status"))),
     "", "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_pkey_new ON s.t(id, status);\n\n"
     "ALTER TABLE s.t\n    DROP CONSTRAINT IF EXISTS t_pkey,\n"
     "    ADD CONSTRAINT t_pkey PRIMARY KEY USING INDEX t_pkey_new;",
     "", "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_pkey_new ON s.t(id);\n\n"
     "ALTER TABLE s.t\n    DROP CONSTRAINT IF EXISTS t_pkey,\n"
     "    ADD CONSTRAINT t_pkey PRIMARY KEY USING INDEX t_pkey_new;"),
    ("a function called by a new column's default exists before the column",
     BASE, schema(tables=(T.replace(columns=(ID, STATUS, m.Column(name="n", type=m.INTEGER, default="s.g()"))),),
                  functions=(FN, m.Function(name="g", body="SELECT 1", returns="integer", language="sql"))),
     "CREATE OR REPLACE FUNCTION s.g()\nRETURNS INTEGER AS $$SELECT 1$$ LANGUAGE sql;\n\n"
     "ALTER TABLE s.t ADD COLUMN IF NOT EXISTS n INTEGER DEFAULT s.g();", "",
     "DROP VIEW IF EXISTS s.v;\n\nALTER TABLE s.t DROP COLUMN IF EXISTS n;\n\nDROP FUNCTION IF EXISTS s.g();\n\n"
     "CREATE OR REPLACE VIEW s.v AS\nSELECT id, status FROM s.t;", ""),
    # a function's identity is its signature: other argument types make another function (an
    # overload), created early; the old one is dropped last, once nothing calls it
    ("function argument types change: the new one created, the old one dropped last",
     BASE, schema(functions=(FN.replace(arguments=("a integer",), returns="integer"),)),
     "CREATE OR REPLACE FUNCTION s.f(a integer)\n"
     "RETURNS INTEGER AS $$BEGIN RETURN NEW; END;$$ LANGUAGE plpgsql;\n\nDROP FUNCTION IF EXISTS s.f();", "",
     "CREATE OR REPLACE FUNCTION s.f()\n"
     "RETURNS TRIGGER AS $$BEGIN RETURN NEW; END;$$ LANGUAGE plpgsql;\n\nDROP FUNCTION IF EXISTS s.f(a integer);", ""),
    ("function argument renamed, same types: dropped and created (CREATE OR REPLACE cannot rename)",
     schema(functions=(FN.replace(arguments=("a integer",), returns="integer"),)),
     schema(functions=(FN.replace(arguments=("b integer",), returns="integer"),)),
     "DROP FUNCTION IF EXISTS s.f(a integer);\n\nCREATE OR REPLACE FUNCTION s.f(b integer)\n"
     "RETURNS INTEGER AS $$BEGIN RETURN NEW; END;$$ LANGUAGE plpgsql;", "",
     "DROP FUNCTION IF EXISTS s.f(b integer);\n\nCREATE OR REPLACE FUNCTION s.f(a integer)\n"
     "RETURNS INTEGER AS $$BEGIN RETURN NEW; END;$$ LANGUAGE plpgsql;", ""),
    ("trigger", BASE, table(triggers=(m.Trigger(name="g", timing="BEFORE", events=("UPDATE",), function="f"),)),
     "DROP TRIGGER IF EXISTS g ON s.t;\nCREATE TRIGGER g\n    BEFORE UPDATE ON s.t\n"
     "    FOR EACH ROW EXECUTE FUNCTION s.f();", "",
     "DROP TRIGGER IF EXISTS g ON s.t;", ""),
    ("view query", BASE, schema(views=(V.replace(query="SELECT id FROM s.t"),)),
     "DROP VIEW IF EXISTS s.v;\n\nCREATE OR REPLACE VIEW s.v AS\nSELECT id FROM s.t;", "",
     "DROP VIEW IF EXISTS s.v;\n\nCREATE OR REPLACE VIEW s.v AS\nSELECT id, status FROM s.t;", ""),
    ("table and column comments: in the transaction (no lock that blocks writes); down removes them",
     BASE, table(comment="What t holds", columns=(ID, STATUS.replace(comment="Where it's at"))),
     "COMMENT ON TABLE s.t IS 'What t holds';\nCOMMENT ON COLUMN s.t.status IS 'Where it''s at';", "",
     "COMMENT ON TABLE s.t IS NULL;\nCOMMENT ON COLUMN s.t.status IS NULL;", ""),
    ("a new column's comment comes after the column",
     BASE.replace(views=()),
     table(columns=(ID, STATUS, m.Column(name="x", type=m.TEXT, comment="x"))).replace(views=()),
     "ALTER TABLE s.t ADD COLUMN IF NOT EXISTS x TEXT;\n\nCOMMENT ON COLUMN s.t.x IS 'x';", "",
     "ALTER TABLE s.t DROP COLUMN IF EXISTS x;", ""),
    ("a renamed table keeps its comment; a changed one is set under the new name",
     table(comment="old").replace(views=()),
     BASE.replace(views=(), tables=(T.replace(name="t2", renamed_from="t", comment="new"),)),
     "ALTER TABLE s.t RENAME TO t2;\n\nALTER TABLE s.t2 RENAME CONSTRAINT t_pkey TO t2_pkey;\n\n"
     "COMMENT ON TABLE s.t2 IS 'new';", "",
     "ALTER TABLE s.t2 RENAME TO t;\n\nALTER TABLE s.t RENAME CONSTRAINT t2_pkey TO t_pkey;\n\n"
     "COMMENT ON TABLE s.t IS 'old';", ""),
    # PostgreSQL keeps a key's name on ALTER TABLE ... RENAME TO: a defaulted one is renamed with
    # its table (the index too), and a key changed in the same version is swapped under that name
    ("a renamed table's defaulted key follows it; a key changed too is swapped under the new name",
     BASE.replace(views=()),
     BASE.replace(views=(), tables=(T.replace(name="t2", renamed_from="t",
                                               primary_key=m.PrimaryKey(columns=("id", "status"))),)),
     "ALTER TABLE s.t RENAME TO t2;\n\nALTER TABLE s.t2 RENAME CONSTRAINT t_pkey TO t2_pkey;",
     "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t2_pkey_new ON s.t2(id, status);\n\n"
     "ALTER TABLE s.t2\n    DROP CONSTRAINT IF EXISTS t2_pkey,\n"
     "    ADD CONSTRAINT t2_pkey PRIMARY KEY USING INDEX t2_pkey_new;",
     "ALTER TABLE s.t2 RENAME TO t;\n\nALTER TABLE s.t RENAME CONSTRAINT t2_pkey TO t_pkey;",
     "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_pkey_new ON s.t(id);\n\n"
     "ALTER TABLE s.t\n    DROP CONSTRAINT IF EXISTS t_pkey,\n"
     "    ADD CONSTRAINT t_pkey PRIMARY KEY USING INDEX t_pkey_new;"),
    ("a renamed table whose key gets a declared name: swapped from the name it kept, and back",
     BASE.replace(views=()),
     BASE.replace(views=(), tables=(T.replace(name="t2", renamed_from="t",
                                               primary_key=m.PrimaryKey(name="k", columns=("id",))),)),
     "ALTER TABLE s.t RENAME TO t2;",
     "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS k_new ON s.t2(id);\n\n"
     "ALTER TABLE s.t2\n    DROP CONSTRAINT IF EXISTS t_pkey,\n    DROP CONSTRAINT IF EXISTS k,\n"
     "    ADD CONSTRAINT k PRIMARY KEY USING INDEX k_new;",
     "ALTER TABLE s.t2 RENAME TO t;",
     "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_pkey_new ON s.t(id);\n\n"
     "ALTER TABLE s.t\n    DROP CONSTRAINT IF EXISTS k,\n    DROP CONSTRAINT IF EXISTS t_pkey,\n"
     "    ADD CONSTRAINT t_pkey PRIMARY KEY USING INDEX t_pkey_new;"),
    ("new table with its index, foreign key and trigger: all in the transaction",
     BASE, schema(tables=(T, m.Table(
         name="u", columns=(ID,), foreign_keys=(m.ForeignKey(name="u_fk", columns=("id",), ref_table="t",
                                                             ref_columns=("id",)),),
         indexes=(m.Index(name="u_i", columns=("id",)),),
         triggers=(m.Trigger(name="g", timing="BEFORE", events=("INSERT",), function="f"),)))),
     "CREATE TABLE IF NOT EXISTS s.u (\n    id UUID NOT NULL\n);\n\n"
     "ALTER TABLE s.u DROP CONSTRAINT IF EXISTS u_fk;\n\n"
     "ALTER TABLE s.u\n    ADD CONSTRAINT u_fk FOREIGN KEY (id) REFERENCES s.t(id);\n\n"
     "CREATE INDEX IF NOT EXISTS u_i ON s.u(id);\n\n"
     "DROP TRIGGER IF EXISTS g ON s.u;\nCREATE TRIGGER g\n    BEFORE INSERT ON s.u\n"
     "    FOR EACH ROW EXECUTE FUNCTION s.f();", "",
     "DROP TABLE IF EXISTS s.u;", ""),
    ("access on an existing table: role, row security, policy, grants, revoke; the down script keeps the role",
     BASE, table(row_security="forced", policies=(m.Policy(name="p", command="SELECT", roles=("app",),
                                                           using="status <> 'x'"),)).replace(
         roles=(m.Role(name="app"),), revokes=(m.Revoke(on="function", name="f"),),
         grants=(m.Grant(to="app", privileges=("USAGE",), on="schema"),
                 m.Grant(to="app", privileges=("SELECT",), on="table", name="t"),
                 m.Grant(to="app", privileges=("SELECT",), on="table", name="v"))),
     "DO $$\nBEGIN\n    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'app') THEN\n"
     "        CREATE ROLE app NOLOGIN;\n    END IF;\nEXCEPTION WHEN duplicate_object THEN\n"
     "    NULL;  -- created meanwhile by another database's migration\nEND\n$$;\n\n"
     "ALTER TABLE s.t ENABLE ROW LEVEL SECURITY;\n\nALTER TABLE s.t FORCE ROW LEVEL SECURITY;\n\n"
     "DROP POLICY IF EXISTS p ON s.t;\n\nCREATE POLICY p ON s.t\n    AS PERMISSIVE FOR SELECT TO app\n"
     "    USING (status <> 'x');\n\nREVOKE EXECUTE ON FUNCTION s.f FROM PUBLIC;\n\n"
     "GRANT USAGE ON SCHEMA s TO app;\n\nGRANT SELECT ON TABLE s.t TO app;\n\nGRANT SELECT ON TABLE s.v TO app;", "",
     "ALTER TABLE s.t DISABLE ROW LEVEL SECURITY;\n\nALTER TABLE s.t NO FORCE ROW LEVEL SECURITY;\n\n"
     "DROP POLICY IF EXISTS p ON s.t;\n\nREVOKE USAGE ON SCHEMA s FROM app;\n\n"
     "REVOKE SELECT ON TABLE s.t FROM app;\n\nREVOKE SELECT ON TABLE s.v FROM app;\n\n"
     "GRANT EXECUTE ON FUNCTION s.f TO PUBLIC;", ""),
    ("a view re-created around a reshaped table gets its privileges again",
     BASE.replace(roles=(m.Role(name="app"),), grants=(m.Grant(to="app", privileges=("SELECT",), on="table",
                                                                 name="v"),)),
     table(columns=(ID, STATUS.replace(type=m.TEXT))).replace(
         roles=(m.Role(name="app"),), grants=(m.Grant(to="app", privileges=("SELECT",), on="table", name="v"),)),
     "DROP VIEW IF EXISTS s.v;\n\nALTER TABLE s.t ALTER COLUMN status TYPE TEXT;\n\n"
     "CREATE OR REPLACE VIEW s.v AS\nSELECT id, status FROM s.t;\n\nGRANT SELECT ON TABLE s.v TO app;", "",
     "DROP VIEW IF EXISTS s.v;\n\nALTER TABLE s.t ALTER COLUMN status TYPE VARCHAR(20);\n\n"
     "CREATE OR REPLACE VIEW s.v AS\nSELECT id, status FROM s.t;\n\nGRANT SELECT ON TABLE s.v TO app;", ""),
    ("partitions: attached (not PARTITION OF), detached CONCURRENTLY then dropped; an index on the partitioned "
     "table ON ONLY it, each partition's built CONCURRENTLY and attached; dropped in the transaction",
     BASE.replace(tables=(T, EV)), BASE.replace(tables=(T, EV_NEXT)),
     attach("ev_paid", "'paid'"),
     detach("ev_new", "'new'") + "\n\nCREATE INDEX IF NOT EXISTS ev_id ON ONLY s.ev(id);\n"
     "CREATE INDEX CONCURRENTLY IF NOT EXISTS ev_done_id_idx ON s.ev_done(id);\n\n"
     "ALTER INDEX s.ev_id ATTACH PARTITION s.ev_done_id_idx;\n\n"
     "CREATE INDEX CONCURRENTLY IF NOT EXISTS ev_paid_id_idx ON s.ev_paid(id);\n\n"
     "ALTER INDEX s.ev_id ATTACH PARTITION s.ev_paid_id_idx;",
     "DROP INDEX IF EXISTS s.ev_id;\n\n" + attach("ev_new", "'new'"),
     detach("ev_paid", "'paid'")),
    ("unlogged: SET UNLOGGED (and back: SET LOGGED)", BASE, table(unlogged=True),
     "ALTER TABLE s.t SET UNLOGGED;", "", "ALTER TABLE s.t SET LOGGED;", ""),
]


@pytest.mark.parametrize(("case", "old", "new", "tx", "online", "down_tx", "down_online"), CASES,
                         ids=[c[0] for c in CASES])
def test_plan(case: str, old: m.Schema, new: m.Schema, tx: str, online: str, down_tx: str, down_online: str) -> None:
    got = planned(old, new)
    for part in got:
        assert part == "" or part.startswith(LOCK), part
    assert tuple(body(part) for part in got) == (tx, online, down_tx, down_online)


def test_reverse_of_the_reverse_is_the_changes() -> None:
    new = BASE.replace(views=(), tables=(T.replace(name="t2", renamed_from="t",
                                                   indexes=(m.Index(name="i", columns=("status",)),)),))
    changes = d.diff(BASE.replace(views=()), new)
    assert d.reverse(d.reverse(changes)) == changes


_TWO_VIEWS = """
import sys
from orders_schema.declare import model as m
from orders_schema.migrate import diff as d, plan as p
from orders_schema.migrate.render import RENDERER
t = m.Table(name="t", columns=(m.Column(name="id", type=m.UUID, nullable=False), m.Column(name="x", type=m.TEXT)))
views = tuple(m.View(name=f"v{i}", query="SELECT id FROM s.t") for i in range(6))
old = m.Schema(name="s", tables=(t,), views=views)
new = old.replace(tables=(t.replace(columns=t.columns[:1]),))
changes = d.diff(old, new)
plan = p.migration_plan(old, new, changes, tuple(k for c in changes if (k := p.destructive(c, "s"))))
sys.stdout.write(RENDERER.script(plan.transactional))
"""


def test_independent_views_are_planned_in_declaration_order_whatever_the_hash_seed() -> None:
    """Six views reading a reshaped table are dropped and re-created in one order on every run: a
    generated file must not depend on Python's string hashing (PYTHONHASHSEED)."""
    import os
    import subprocess
    import sys

    outputs = {
        subprocess.run(
            [sys.executable, "-c", _TWO_VIEWS], env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True, text=True, check=True,
        ).stdout
        for seed in range(6)
    }
    assert len(outputs) == 1, outputs
    (text,) = outputs
    drops = [line for line in text.splitlines() if line.startswith("DROP VIEW")]
    creates = [line for line in text.splitlines() if line.startswith("CREATE OR REPLACE VIEW")]
    assert drops == [f"DROP VIEW IF EXISTS s.v{i};" for i in reversed(range(6))]
    assert creates == [f"CREATE OR REPLACE VIEW s.v{i} AS" for i in range(6)]


def test_a_rename_runs_again_once_done_and_fails_as_the_bare_statement_otherwise() -> None:
    """Renamed back by a down script that stopped half-way and runs again: the rename is skipped
    when the old name is gone and the new one exists, and runs (failing as the bare statement
    would) in every other case."""
    new = table(columns=(ID, STATUS.replace(name="state", renamed_from="status"))).replace(views=())
    tx = planned(BASE.replace(views=()), new)[0]
    assert tx.removeprefix(LOCK).strip() == (
        "DO $$\nBEGIN\n"
        "    IF EXISTS (SELECT FROM pg_catalog.pg_attribute WHERE attrelid = pg_catalog.to_regclass('s.t') "
        "AND attname = 'status' AND NOT attisdropped)\n"
        "       OR NOT EXISTS (SELECT FROM pg_catalog.pg_attribute WHERE attrelid = pg_catalog.to_regclass('s.t') "
        "AND attname = 'state' AND NOT attisdropped) THEN\n"
        "        ALTER TABLE s.t RENAME COLUMN status TO state;\n"
        "    END IF;\nEND\n$$;"
    )

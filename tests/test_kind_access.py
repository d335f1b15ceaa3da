"""The access kinds (roles, privileges, row security, policies) on a real PostgreSQL: generated,
applied, read back (aclexplode, pg_policy with pg_get_expr, relrowsecurity) and compared in stored
form ("nothing left to change"); drift is named; the down script takes everything back but the
role (cluster-wide); a version applies twice; the declarations refuse what cannot work."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from orders_schema.declare import model as m
from orders_schema.declare import project as p
from orders_schema.live.apply import DataLossRefused, migrate, undo_last
from orders_schema.live.compare import compare, declared_catalog
from orders_schema.live.inspect import inspect_schema
from orders_schema.migrate import workflow
from orders_schema.migrate.lint import lint_text
from orders_schema.tester.harness import Databases

ROLE = "acc_kind_app"  # cluster-wide: a name no other test uses, created if missing, never dropped
ID = m.Column(name="id", type=m.INTEGER, nullable=False)
OWNER = m.Column(name="owner", type=m.TEXT)
ITEMS = m.Table(name="items", columns=(ID, OWNER), primary_key=m.PrimaryKey(columns=("id",)))
ADD = m.Function(name="add_one", arguments=("x integer",), returns="integer", language="sql", body="SELECT x + 1")
V1_STATE = m.Schema(name="acc", tables=(ITEMS,), functions=(ADD,))
V1 = m.Version(number=1, name="acc", create_schema=True, state=V1_STATE,
               phases=(m.Phase(title="ITEMS", items=(ITEMS, ADD)),))
NOTES = m.Table(name="notes", columns=(ID,), owner=ROLE)  # a new table, owned by the role
HEAD = V1_STATE.replace(
    tables=(NOTES, ITEMS.replace(row_security="enabled", policies=(
        m.Policy(name="own_rows", command="SELECT", roles=(ROLE,), using="owner = current_user"),
        m.Policy(name="no_negative", permissive=False, command="INSERT", roles=(ROLE,), with_check="id >= 0"),
        m.Policy(name="insert_any", command="INSERT", roles=(ROLE,), with_check="true"),
    )),),
    roles=(m.Role(name=ROLE),),
    grants=(m.Grant(to=ROLE, privileges=("USAGE",), on="schema"),
            m.Grant(to=ROLE, privileges=("SELECT", "INSERT"), on="table", name="items"),
            m.Grant(to=ROLE, privileges=("UPDATE",), on="table", name="items", columns=("owner",)),
            m.Grant(to=ROLE, privileges=("EXECUTE",), on="function", name="add_one")),
    revokes=(m.Revoke(on="function", name="add_one"),),
    # every table, now and later, readable by the role (the existing ones are granted by the version)
    default_privileges=(m.DefaultPrivilege(on="tables", privileges=("SELECT", "REFERENCES"), to=ROLE),),
)


def differences(dbs: Databases, dsn: str, schema: m.Schema) -> list[tuple[str, str, str]]:
    with psycopg.connect(dsn) as conn:
        live = inspect_schema(conn, "acc")
    return [(d.kind, d.name, d.what) for d in compare(declared_catalog(schema, dbs), live)]


def test_access_generates_applies_compares_and_undoes(
    tmp_path: Path, orders_empty_dsn: str, orders_databases: Databases
) -> None:
    workflow.render(p.Project(schema=V1_STATE, versions=(V1,), schema_dir=tmp_path / "schema"))
    proj = p.Project(schema=HEAD, versions=(V1,), schema_dir=tmp_path / "schema")
    result = workflow.generate(proj, "access")
    assert result is not None and list(result.versions) == ["V2__access.sql"]
    text = result.files["V2__access.sql"]
    for line in (
        f"CREATE ROLE {ROLE} NOLOGIN;",
        "ALTER TABLE acc.items ENABLE ROW LEVEL SECURITY;",
        f"GRANT UPDATE (owner) ON TABLE acc.items TO {ROLE};",
        "REVOKE EXECUTE ON FUNCTION acc.add_one FROM PUBLIC;",
        f"    AS RESTRICTIVE FOR INSERT TO {ROLE}",
        f"ALTER TABLE acc.notes OWNER TO {ROLE};",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA acc\n    GRANT SELECT, REFERENCES ON TABLES TO {ROLE};",
        f"GRANT SELECT, INSERT, REFERENCES ON TABLE acc.items TO {ROLE};",
    ):
        assert line in text, line
    hazards = {h.kind for s in lint_text(text) for h in s.hazards}
    assert "cluster-wide" in hazards
    assert workflow.generate(proj, "again") is None  # settled
    down = next(t for f, t in result.files.items() if f.startswith("down/"))
    assert "DROP ROLE" not in down and "GRANT EXECUTE ON FUNCTION acc.add_one TO PUBLIC;" in down

    migrate(orders_empty_dsn, proj.schema_dir)
    assert differences(orders_databases, orders_empty_dsn, HEAD) == []
    with psycopg.connect(orders_empty_dsn, autocommit=True) as conn:
        conn.execute((proj.schema_dir / "V2__access.sql").read_text())  # applies twice
        catalog = inspect_schema(conn, "acc")
        assert [(r.table, r.mode) for r in catalog.row_security] == [("items", "enabled"), ("notes", "disabled")]
        own = next(x for x in catalog.policies if x.name == "own_rows")
        assert (own.command, own.roles, own.using) == ("SELECT", (ROLE,), "(owner = CURRENT_USER)")
        assert ("function", "add_one", "", "PUBLIC", "EXECUTE") not in {
            x.entry for o in catalog.privileges for x in o.entries}
        conn.execute("ALTER TABLE acc.items DISABLE ROW LEVEL SECURITY")
        conn.execute(f"GRANT DELETE ON acc.items TO {ROLE}")
        conn.execute("GRANT EXECUTE ON FUNCTION acc.add_one TO PUBLIC")
        conn.execute("ALTER POLICY own_rows ON acc.items USING (true)")
        conn.execute("DROP POLICY no_negative ON acc.items")
        conn.execute("ALTER TABLE acc.notes OWNER TO CURRENT_USER")
        conn.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA acc REVOKE REFERENCES ON TABLES FROM {ROLE}")
        conn.execute("CREATE TABLE acc.later (a int)")  # gets the default privileges
        later = [(x.grantee, x.privilege) for o in inspect_schema(conn, "acc").privileges if o.name == "later"
                 for x in o.entries]
        assert later == [(ROLE, "SELECT")]
        conn.execute("DROP TABLE acc.later")
    assert differences(orders_databases, orders_empty_dsn, HEAD) == [
        ("row security", "acc.items", "mode differs"),
        ("policy", "no_negative ON acc.items", "missing"),
        ("policy", "own_rows ON acc.items", "definition differs"),
        ("owner", "acc.notes", "owner differs"),
        ("privilege", "function acc.add_one", "extra"),
        ("privilege", "table acc.items", "extra"),
        ("default privilege", "in schema acc", "missing"),
    ]
    with psycopg.connect(orders_empty_dsn, autocommit=True) as conn:
        conn.execute(f"REVOKE DELETE ON acc.items FROM {ROLE}")
        conn.execute(f"ALTER TABLE acc.notes OWNER TO {ROLE}")
    with pytest.raises(DataLossRefused, match=r"drop table acc\.notes"):  # undo says what it would lose
        undo_last(orders_empty_dsn, proj.schema_dir)
    assert undo_last(orders_empty_dsn, proj.schema_dir, allow_data_loss=True) == [2]
    assert differences(orders_databases, orders_empty_dsn, V1_STATE) == []
    with psycopg.connect(orders_empty_dsn) as conn:  # the role stays: other databases may use it
        assert conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", (ROLE,)).fetchone() == (1,)


def test_policies_bind_the_role(orders_empty_dsn: str) -> None:
    """The rendered policies do what they say: the role sees its rows only, a RESTRICTIVE policy
    narrows what it may insert, and nothing but what is granted."""
    from orders_schema.migrate.plan import create_statements
    from orders_schema.migrate.render import RENDERER

    with psycopg.connect(orders_empty_dsn) as conn:
        conn.execute(RENDERER.script(create_statements(HEAD)))
        conn.execute("INSERT INTO acc.items VALUES (1, %s), (2, 'someone else')", (ROLE,))
        conn.execute(f"SET ROLE {ROLE}")
        assert conn.execute("SELECT id FROM acc.items").fetchall() == [(1,)]
        conn.execute("INSERT INTO acc.items VALUES (3, 'x')")
        for statement in ("INSERT INTO acc.items VALUES (-1, 'x')", "DELETE FROM acc.items",
                          "UPDATE acc.items SET id = 5"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute(statement)
        conn.rollback()


def test_declarations_refuse_what_cannot_work() -> None:
    with pytest.raises(ValueError, match="role 'nobody' is not declared"):
        HEAD.replace(grants=(m.Grant(to="nobody", privileges=("SELECT",), on="table", name="items"),))
    with pytest.raises(ValueError, match="EXECUTE cannot be granted on a table"):
        m.Grant(to="x", privileges=("EXECUTE",), on="table", name="items")
    with pytest.raises(ValueError, match="no table or view 'nope'"):
        HEAD.replace(grants=(m.Grant(to=ROLE, privileges=("SELECT",), on="table", name="nope"),))
    with pytest.raises(ValueError, match="takes no WITH CHECK"):
        m.Policy(name="p", command="SELECT", using="true", with_check="true")
    with pytest.raises(ValueError, match="-- comment"):
        m.Policy(name="p", using="true -- x")
    for hostile in ("true); DROP TABLE acc.items; --", "true) WITH CHECK (true", "true; DROP TABLE acc.items"):
        with pytest.raises(ValueError, match=r"does not parse|single expression|-- comment"):
            m.Policy(name="p", using=hostile)
    with pytest.raises(ValueError, match="pseudo-role"):
        m.Role(name="public")

"""declared_catalog and compare on a real PostgreSQL: round trips that end in "no difference", and
mutations that each produce a difference naming the object that changed."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import conninfo, sql

from orders_schema.declare import model as m
from orders_schema.declare.model import DeclarationError
from orders_schema.live.compare import DeclaredCatalogError, Difference, compare, declared_catalog
from orders_schema.live.inspect import Catalog, inspect_schema
from orders_schema.migrate import plan
from orders_schema.migrate.render import RENDERER, CreateTrigger
from orders_schema.tester.harness import TEMPLATE_DB, Databases
from orders_schema.walltrack import HEAD, PROJECT
from orders_schema.walltrack.story import ORDER_STATS, ORDER_STATUSES

S = HEAD.name


@pytest.fixture(scope="module")
def declared(orders_databases: Databases) -> Catalog:
    """The WallTrack head declarations in stored form (read from a scratch database)."""
    return declared_catalog(PROJECT, orders_databases)


def live(dsn: str, schema: str = S) -> Catalog:
    with psycopg.connect(dsn) as conn:
        return inspect_schema(conn, schema)


def scratch_databases(dbs: Databases) -> list[str]:
    with dbs.admin() as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'orders_schema_declared_%'")
        return [r[0] for r in rows]


def summary(differences: list[Difference]) -> list[tuple[str, str, str]]:
    return [(d.kind, d.name, d.what) for d in differences]


# ---------------------------------------------------------------------------------------------
# Round trips: apply, read back, compare with the declarations in stored form -> nothing left
# ---------------------------------------------------------------------------------------------


def test_every_version_applied_matches_the_declarations(declared: Catalog, orders_databases: Databases) -> None:
    template = live(orders_databases.server.dsn(TEMPLATE_DB))
    assert template.tables and template.indexes and template.functions and template.views
    assert compare(declared, template) == []
    assert template == declared, "equal stored forms, although the scratch database has another name"


def test_declared_catalog_leaves_no_scratch_database(declared: Catalog, orders_databases: Databases) -> None:
    assert declared.table("orders").column("status").default == "'pending'::character varying"
    assert scratch_databases(orders_databases) == []


def test_declared_catalog_takes_an_admin_dsn_or_a_server(orders_databases: Databases, declared: Catalog) -> None:
    assert declared_catalog(HEAD, orders_databases.server.dsn("postgres")) == declared
    assert declared_catalog(HEAD, orders_databases.server) == declared


# ---------------------------------------------------------------------------------------------
# Mutations of objects that exist at head, each on a fresh clone of the template
# ---------------------------------------------------------------------------------------------

STATUSES_BUT_CANCELLED = ", ".join(f"'{s}'" for s in ORDER_STATUSES if s != "cancelled")
COUNT_CALL = f"EXECUTE FUNCTION {S}.count_settled_orders()"
MUTATIONS = {
    "index dropped": (
        f"DROP INDEX {S}.idx_orders_active",
        [("index", f"{S}.idx_orders_active", "missing")],
    ),
    "index redefined under the same name": (
        f"DROP INDEX {S}.idx_orders_created; CREATE INDEX idx_orders_created ON {S}.orders (created_at)",
        [("index", f"{S}.idx_orders_created", "definition differs")],
    ),
    "partial index loses a condition of its predicate": (
        f"DROP INDEX {S}.idx_orders_retry_due; CREATE INDEX idx_orders_retry_due ON {S}.orders (next_retry_at)"
        " WHERE status = 'failed' AND next_retry_at IS NOT NULL",
        [("index", f"{S}.idx_orders_retry_due", "definition differs")],
    ),
    "value removed from the status check": (
        f"ALTER TABLE {S}.orders DROP CONSTRAINT orders_status_check, "
        f"ADD CONSTRAINT orders_status_check CHECK (status IN ({STATUSES_BUT_CANCELLED}))",
        [("check", f"{S}.orders.orders_status_check", "definition differs")],
    ),
    "audit trigger function does nothing": (
        f"CREATE OR REPLACE FUNCTION {S}.log_order_status_change() RETURNS trigger "
        "LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$ BEGIN RETURN NEW; END; $$",
        [("function", f"{S}.log_order_status_change()", "definition differs (body)")],
    ),
    "trigger function replaced without its pinned search_path": (
        f"CREATE OR REPLACE FUNCTION {S}.update_orders_timestamp() RETURNS trigger LANGUAGE plpgsql AS $$"
        + PROJECT.schema.function("update_orders_timestamp").body + "$$",
        [("function", f"{S}.update_orders_timestamp()", "definition differs (settings)")],
    ),
    "summary function's search_path reset": (
        f"ALTER FUNCTION {S}.count_settled_orders() RESET search_path",
        [("function", f"{S}.count_settled_orders()", "definition differs (settings)")],
    ),
    "count trigger's transition tables swapped": (
        f"DROP TRIGGER trg_orders_settled_update ON {S}.orders; CREATE TRIGGER trg_orders_settled_update"
        f" AFTER UPDATE ON {S}.orders REFERENCING OLD TABLE AS new_orders NEW TABLE AS old_orders"
        f" FOR EACH STATEMENT {COUNT_CALL}",
        [("trigger", f"{S}.orders.trg_orders_settled_update", "definition differs")],
    ),
    "count trigger made row-level with UPDATE OF ... WHEN": (
        f"DROP TRIGGER trg_orders_settled_update ON {S}.orders; CREATE TRIGGER trg_orders_settled_update"
        f" AFTER UPDATE OF status, order_type, is_simulated ON {S}.orders FOR EACH ROW"
        f" WHEN (OLD.status IS DISTINCT FROM NEW.status) {COUNT_CALL}",
        [("trigger", f"{S}.orders.trg_orders_settled_update", "definition differs")],
    ),
    "truncate trigger dropped": (
        f"DROP TRIGGER trg_orders_settled_truncate ON {S}.orders",
        [("trigger", f"{S}.orders.trg_orders_settled_truncate", "missing")],
    ),
    "foreign key dropped": (
        f"ALTER TABLE {S}.orders DROP CONSTRAINT orders_position_id_fkey",
        [("foreign key", f"{S}.orders.orders_position_id_fkey", "missing")],
    ),
    "foreign key re-added NOT VALID": (
        f"ALTER TABLE {S}.orders DROP CONSTRAINT orders_position_id_fkey, ADD CONSTRAINT orders_position_id_fkey"
        f" FOREIGN KEY (position_id) REFERENCES {S}.positions (id) NOT VALID",
        [("foreign key", f"{S}.orders.orders_position_id_fkey", "validation differs")],
    ),
    "check loosened under the same name": (
        f"ALTER TABLE {S}.orders DROP CONSTRAINT orders_direction_matches_type, ADD CONSTRAINT"
        " orders_direction_matches_type CHECK (order_type = 'entry' OR position_id IS NOT NULL)",
        [("check", f"{S}.orders.orders_direction_matches_type", "definition differs")],
    ),
    "summary table's counter column dropped": (
        f"ALTER TABLE {S}.order_settled_counts DROP COLUMN order_count",
        [("column", f"{S}.order_settled_counts.order_count", "missing")],
    ),
    "column default dropped": (
        f"ALTER TABLE {S}.orders ALTER COLUMN status DROP DEFAULT",
        [("column", f"{S}.orders.status", "default differs")],
    ),
    "column type changed": (
        f"ALTER TABLE {S}.config_audit_log ALTER COLUMN config_key TYPE varchar(200)",
        [("column", f"{S}.config_audit_log.config_key", "type differs")],
    ),
    "updated_at trigger dropped": (
        f"DROP TRIGGER trg_orders_updated ON {S}.orders",
        [("trigger", f"{S}.orders.trg_orders_updated", "missing")],
    ),
    "view redefined": (
        f"CREATE OR REPLACE VIEW {S}.order_stats AS "
        + ORDER_STATS.query.replace("GROUP BY", "WHERE NOT sub.is_simulated GROUP BY"),
        [("view", f"{S}.order_stats", "definition differs")],
    ),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_a_mutation_is_reported_on_the_object_it_changed(
    mutation: str, declared: Catalog, orders_clone_dsn: str
) -> None:
    statements, expected = MUTATIONS[mutation]
    assert compare(declared, live(orders_clone_dsn)) == [], "the clone must start at head"
    with psycopg.connect(orders_clone_dsn, autocommit=True) as conn:
        conn.execute(statements)
    differences = compare(declared, live(orders_clone_dsn))
    assert summary(differences) == expected, "\n".join(map(str, differences))


def test_a_difference_shows_both_stored_forms(declared: Catalog, orders_clone_dsn: str) -> None:
    statements, _ = MUTATIONS["value removed from the status check"]
    with psycopg.connect(orders_clone_dsn, autocommit=True) as conn:
        conn.execute(statements)
    (difference,) = compare(declared, live(orders_clone_dsn))
    assert difference.declared == declared.table("orders").constraint("orders_status_check").definition
    assert difference.declared is not None and difference.live is not None
    assert "'cancelled'::character varying" in difference.declared
    assert "'cancelled'" not in difference.live and "'failed'::character varying" in difference.live
    assert str(difference) == (
        f"check {S}.orders.orders_status_check: definition differs\n"
        f"  declared: {difference.declared}\n"
        f"  live:     {difference.live}"
    )


# ---------------------------------------------------------------------------------------------
# CHECK constraints by meaning, validation, column order, extra objects (rolled back: orders_db)
# ---------------------------------------------------------------------------------------------


def diff_after(conn: psycopg.Connection, declared: Catalog, *statements: str) -> list[Difference]:
    for statement in statements:
        conn.execute(statement)
    return compare(declared, inspect_schema(conn, S))


def test_a_renamed_check_is_one_rename_not_missing_plus_extra(
    declared: Catalog, orders_db: psycopg.Connection
) -> None:
    differences = diff_after(
        orders_db, declared, f"ALTER TABLE {S}.orders RENAME CONSTRAINT orders_status_check TO status_allowed"
    )
    assert summary(differences) == [
        ("check", f"{S}.orders.orders_status_check", "renamed to status_allowed (same definition)")
    ]
    assert differences[0].live is not None and differences[0].live.startswith("status_allowed CHECK (")


def test_a_renamed_and_changed_check_is_reported_with_both_definitions(
    declared: Catalog, orders_db: psycopg.Connection
) -> None:
    differences = diff_after(
        orders_db, declared,
        f"ALTER TABLE {S}.orders DROP CONSTRAINT orders_side_check",
        f"ALTER TABLE {S}.orders ADD CONSTRAINT side_allowed CHECK (side IN ('buy', 'sell', 'short'))",
    )
    assert summary(differences) == [
        ("check", f"{S}.orders.orders_side_check", "renamed to side_allowed and definition differs")
    ]
    assert differences[0].live is not None and "'short'" in differences[0].live


def test_checks_whose_names_were_swapped_are_two_renames(declared: Catalog, orders_db: psycopg.Connection) -> None:
    rename = f"ALTER TABLE {S}.orders RENAME CONSTRAINT"
    differences = diff_after(
        orders_db, declared,
        f"{rename} orders_side_check TO tmp", f"{rename} orders_order_type_check TO orders_side_check",
        f"{rename} tmp TO orders_order_type_check",
    )
    assert summary(differences) == [
        ("check", f"{S}.orders.orders_order_type_check", "renamed to orders_side_check (same definition)"),
        ("check", f"{S}.orders.orders_side_check", "renamed to orders_order_type_check (same definition)"),
    ]


def test_missing_extra_and_not_valid_checks(declared: Catalog, orders_db: psycopg.Connection) -> None:
    differences = diff_after(
        orders_db, declared,
        f"ALTER TABLE {S}.orders DROP CONSTRAINT orders_side_check",
        f"ALTER TABLE {S}.orders ADD CONSTRAINT positive CHECK (amount_sol > 0)",
        f"ALTER TABLE {S}.orders DROP CONSTRAINT orders_order_type_check",
        f"ALTER TABLE {S}.orders ADD CONSTRAINT orders_order_type_check CHECK (order_type IN ('entry', 'exit'))"
        " NOT VALID",
    )
    assert summary(differences) == [
        ("check", f"{S}.orders.orders_order_type_check", "validation differs"),
        ("check", f"{S}.orders.orders_side_check", "missing"),
        ("check", f"{S}.orders.positive", "extra"),
    ]


def test_column_order_is_reported_apart_and_labelled(declared: Catalog, orders_db: psycopg.Connection) -> None:
    differences = diff_after(
        orders_db, declared,
        f"ALTER TABLE {S}.config_audit_log DROP COLUMN reason",
        f"ALTER TABLE {S}.config_audit_log ADD COLUMN reason text",
    )
    assert summary(differences) == [
        ("table", f"{S}.config_audit_log", "column order differs (the columns match; only their order)")
    ]
    assert differences[0].declared is not None and differences[0].declared.endswith("reason, changed_at")
    assert differences[0].live is not None and differences[0].live.endswith("changed_at, reason")


def test_extra_and_missing_objects_of_every_kind(declared: Catalog, orders_db: psycopg.Connection) -> None:
    differences = diff_after(
        orders_db, declared,
        f"DROP VIEW {S}.order_history",
        f"CREATE TABLE {S}.extra_table (id int PRIMARY KEY)",
        f"ALTER TABLE {S}.orders ADD COLUMN note text NOT NULL DEFAULT ''",
        f"ALTER TABLE {S}.orders ALTER COLUMN token_symbol SET NOT NULL",
        f"CREATE INDEX extra_index ON {S}.orders (side)",
        f"CREATE FUNCTION {S}.extra(a integer) RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT a'",
        f"ALTER TABLE {S}.orders DISABLE TRIGGER trg_orders_status_audit",
        f"ALTER FUNCTION {S}.update_orders_timestamp() SECURITY DEFINER SET search_path = pg_catalog",
    )
    assert summary(differences) == [
        ("table", f"{S}.extra_table", "extra"),
        ("column", f"{S}.orders.note", "extra"),
        ("column", f"{S}.orders.token_symbol", "NOT NULL differs"),
        ("trigger", f"{S}.orders.trg_orders_status_audit", "enabled differs"),
        ("index", f"{S}.extra_index", "extra"),
        ("index", f"{S}.extra_table_pkey", "extra"),
        ("function", f"{S}.extra(integer)", "extra"),
        ("function", f"{S}.update_orders_timestamp()", "definition differs (settings, security definer)"),
        ("view", f"{S}.order_history", "missing"),
    ]
    note = next(d for d in differences if d.name.endswith(".note"))
    assert note.live == "note text NOT NULL DEFAULT ''::text"


# ---------------------------------------------------------------------------------------------
# Errors: no CREATE DATABASE, declarations that do not apply
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def role_without_createdb(orders_databases: Databases) -> Iterator[str]:
    role = f"orders_schema_nocreatedb_{uuid.uuid4().hex[:8]}"
    with orders_databases.admin() as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOCREATEDB").format(sql.Identifier(role)))
    yield role
    with orders_databases.admin() as conn:
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_without_create_database_the_error_says_why_and_what_to_do(
    orders_databases: Databases, role_without_createdb: str
) -> None:
    dsn = conninfo.make_conninfo(orders_databases.server.dsn("postgres"), user=role_without_createdb)
    with pytest.raises(DeclaredCatalogError, match=f"role '{role_without_createdb}' may not CREATE DATABASE") as err:
        declared_catalog(HEAD, dsn)
    assert "CREATEDB" in str(err.value) and "scratch database" in str(err.value)


def test_declarations_that_do_not_apply_fail_clearly_and_leave_nothing(orders_databases: Databases) -> None:
    schema = m.Schema(
        name="reads_elsewhere", external_tables=("elsewhere.t",),
        views=(m.View(name="v", query="SELECT x FROM elsewhere.t"),),
    )
    with pytest.raises(DeclaredCatalogError, match=r"reads_elsewhere.*42P01.*elsewhere\.t"):
        declared_catalog(schema, orders_databases)
    assert scratch_databases(orders_databases) == []


# ---------------------------------------------------------------------------------------------
# Hostile names and literals
# ---------------------------------------------------------------------------------------------

HOSTILE_SCHEMA = 'Sch "x"; DROP'
HOSTILE_TABLE = 'Order "Lines"; --'
STATUS = 'Status "x"'
VALUES = ("it's", "back\\slash", "both '\\' here", 'dq"x', "semi;colon", "Ünïcode", "", " pad ")
LONGEST = "é" * 31 + "x"  # 63 bytes: the longest name PostgreSQL keeps whole


def hostile_schema() -> m.Schema:
    check = m.Check.one_of('chk "quoted"; ü', STATUS, VALUES)
    table = m.Table(
        name=HOSTILE_TABLE,
        columns=(
            m.Column(name="id", type=m.INTEGER, nullable=False),
            m.Column(name=STATUS, type=m.varchar(40), nullable=False, default=m.lit("it's")),
            m.Column(name="select", type=m.TEXT, nullable=False, default=m.lit("a\\b 'c' \"d\"; e")),
            m.Column(name="Ünïcode Col", type=m.numeric(10, 2), nullable=False, default="0"),
            m.Column(name=LONGEST, type=m.BOOLEAN, nullable=False, default="TRUE"),
            m.Column(name="UPPER", type=m.TIMESTAMPTZ),
        ),
        primary_key=m.PrimaryKey(columns=("id",), name="PK; \"of\" lines"),
        checks=(check, m.Check(name="table", expression='"Ünïcode Col" >= 0')),
        uniques=(m.Unique(name="Unique Select", columns=("select", "UPPER")),),
        indexes=(
            m.Index(name='Idx "a"; b', columns=('"Status ""x""" DESC', '"select"'), where="\"select\" <> 'x''y'"),
            m.Index(name="order", columns=("UPPER",)),
            m.Index(name="Ü" * 31 + "!", columns=(f'"{LONGEST}"',)),
        ),
        triggers=(m.Trigger(name='Trg "t"; x', timing="BEFORE", events=("UPDATE",), function="Touch; \"it\""),),
    )
    touch = m.Function(name='Touch; "it"', body='\nBEGIN\n    NEW."UPPER" = now();\n    RETURN NEW;\nEND;\n')
    view = m.View(
        name="View 'v'; \"w\"",
        query=f'SELECT "Status ""x""", "select" FROM "Sch ""x""; DROP"."Order ""Lines""; --" WHERE "{LONGEST}"',
    )
    return m.Schema(name=HOSTILE_SCHEMA, tables=(table,), functions=(touch,), views=(view,))


def test_hostile_names_and_literals_round_trip_exactly(orders_databases: Databases, orders_empty_dsn: str) -> None:
    schema = hostile_schema()
    with psycopg.connect(orders_empty_dsn, autocommit=True) as conn:
        conn.execute(RENDERER.script(plan.create_statements(schema)))
        found = inspect_schema(conn, HOSTILE_SCHEMA)
    assert compare(declared_catalog(schema, orders_databases), found) == []

    (table,) = schema.tables
    assert [t.name for t in found.tables] == [HOSTILE_TABLE]
    live = found.table(HOSTILE_TABLE)
    assert [c.name for c in live.columns] == list(table.column_names)
    assert {c.name for c in live.constraints} == set(table.constraint_names())
    assert {i.name for i in found.indexes} == {i.name for i in table.indexes} | {table.pkey_name, "Unique Select"}
    assert [t.name for t in live.triggers] == ['Trg "t"; x']
    assert [f.name for f in found.functions] == ['Touch; "it"']
    assert found.functions[0].source == schema.functions[0].body
    assert [v.name for v in found.views] == ["View 'v'; \"w\""]


def test_hostile_literals_mean_what_was_declared(orders_empty_dsn: str) -> None:
    schema = hostile_schema()
    target = sql.Identifier(HOSTILE_SCHEMA, HOSTILE_TABLE)
    with psycopg.connect(orders_empty_dsn, autocommit=True) as conn:
        conn.execute(RENDERER.script(plan.create_statements(schema)))
        row = conn.execute(
            sql.SQL("INSERT INTO {} (id) VALUES (1) RETURNING {}, {}").format(
                target, sql.Identifier(STATUS), sql.Identifier("select")
            )
        ).fetchone()
        assert row == ("it's", "a\\b 'c' \"d\"; e")
        for i, value in enumerate(VALUES, start=2):
            conn.execute(
                sql.SQL("INSERT INTO {} (id, {}) VALUES (%s, %s)").format(target, sql.Identifier(STATUS)), (i, value)
            )
        for outsider in ("back\\\\slash", "its", "it''s", "dq\"\"x", "pad"):
            with pytest.raises(psycopg.errors.CheckViolation):
                conn.execute(
                    sql.SQL("INSERT INTO {} (id, {}) VALUES (0, %s)").format(target, sql.Identifier(STATUS)),
                    (outsider,),
                )


def test_a_renamed_hostile_check_is_named_quoted(orders_databases: Databases, orders_empty_dsn: str) -> None:
    schema = hostile_schema()
    with psycopg.connect(orders_empty_dsn, autocommit=True) as conn:
        conn.execute(RENDERER.script(plan.create_statements(schema)))
        conn.execute(
            sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
                sql.Identifier(HOSTILE_SCHEMA, HOSTILE_TABLE), sql.Identifier('chk "quoted"; ü'),
                sql.Identifier("Renamed 'it'"),
            )
        )
        found = inspect_schema(conn, HOSTILE_SCHEMA)
    assert summary(compare(declared_catalog(schema, orders_databases), found)) == [(
        "check", '"Sch ""x""; DROP"."Order ""Lines""; --"."chk ""quoted""; ü"',
        "renamed to \"Renamed 'it'\" (same definition)",
    )]


# ---------------------------------------------------------------------------------------------
# Trigger clauses head uses (REFERENCING transition tables) and UPDATE OF ... WHEN
# ---------------------------------------------------------------------------------------------

TRIGGERS_SCHEMA = "trigger_clauses"


def trigger_schema() -> m.Schema:
    noop = m.Function(name="noop", body="\nBEGIN\n    RETURN NULL;\nEND;\n", settings=(("search_path", "pg_catalog"),))
    table = m.Table(
        name="t",
        columns=(
            m.Column(name="id", type=m.INTEGER, nullable=False),
            m.Column(name="status", type=m.TEXT),
            m.Column(name="Kind", type=m.TEXT),
        ),
        primary_key=m.PrimaryKey(columns=("id",)),
        triggers=(
            m.Trigger(name="row_update_of_when", timing="AFTER", events=("UPDATE",), update_of=("status", "Kind"),
                      function="noop", when='OLD.status IS DISTINCT FROM NEW.status OR OLD."Kind" <> NEW."Kind"'),
            m.Trigger(name="insert_or_update_of", timing="BEFORE", events=("INSERT", "UPDATE"),
                      update_of=("status",), function="noop"),
            m.Trigger(name="statement_old_new", timing="AFTER", events=("UPDATE",), for_each="STATEMENT",
                      function="noop", referencing_old="Old Rows", referencing_new="new_rows"),
            m.Trigger(name="row_old", timing="AFTER", events=("DELETE",), function="noop", referencing_old="gone"),
        ),
    )
    return m.Schema(name=TRIGGERS_SCHEMA, tables=(table,), functions=(noop,))


def test_trigger_clauses_round_trip_and_each_change_is_reported(
    orders_databases: Databases, orders_empty_dsn: str
) -> None:
    schema = trigger_schema()
    declared = declared_catalog(schema, orders_databases)
    stored = {t.name: t.definition for t in declared.table("t").triggers}
    t = f"{TRIGGERS_SCHEMA}.t"
    call = f"EXECUTE FUNCTION {TRIGGERS_SCHEMA}.noop()"
    assert stored == {
        "insert_or_update_of": f"CREATE TRIGGER insert_or_update_of BEFORE INSERT OR UPDATE OF status ON {t}"
                               f" FOR EACH ROW {call}",
        "row_old": f"CREATE TRIGGER row_old AFTER DELETE ON {t} REFERENCING OLD TABLE AS gone FOR EACH ROW {call}",
        "row_update_of_when": f'CREATE TRIGGER row_update_of_when AFTER UPDATE OF status, "Kind" ON {t}'
                              ' FOR EACH ROW WHEN (((old.status IS DISTINCT FROM new.status)'
                              f' OR (old."Kind" <> new."Kind"))) {call}',
        "statement_old_new": f'CREATE TRIGGER statement_old_new AFTER UPDATE ON {t} REFERENCING OLD TABLE AS'
                             f' "Old Rows" NEW TABLE AS new_rows FOR EACH STATEMENT {call}',
    }
    with psycopg.connect(orders_empty_dsn, autocommit=True) as conn:
        conn.execute(RENDERER.script(plan.create_statements(schema)))
        assert compare(declared, inspect_schema(conn, TRIGGERS_SCHEMA)) == []
        recreate = {st.trigger.name: RENDERER.statement(st) for st in plan.create_statements(schema)
                    if isinstance(st, CreateTrigger)}
        changes = {
            # the same transition tables written in the other order: the same trigger, no difference
            "statement_old_new": (f'AFTER UPDATE ON {t} REFERENCING NEW TABLE AS new_rows OLD TABLE AS "Old Rows"'
                                  " FOR EACH STATEMENT", False),
            "row_update_of_when": (f"AFTER UPDATE OF status ON {t} FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM"
                                   ' NEW.status OR OLD."Kind" <> NEW."Kind")', True),
            "insert_or_update_of": (f"BEFORE INSERT OR UPDATE ON {t} FOR EACH ROW", True),
            "row_old": (f"AFTER DELETE ON {t} REFERENCING OLD TABLE AS removed FOR EACH ROW", True),
        }
        for name, (clauses, differs) in changes.items():
            conn.execute(f"DROP TRIGGER {name} ON {t}; CREATE TRIGGER {name} {clauses} {call}")
            found = compare(declared, inspect_schema(conn, TRIGGERS_SCHEMA))
            assert summary(found) == ([("trigger", f"{t}.{name}", "definition differs")] if differs else []), name
            conn.execute(f"DROP TRIGGER {name} ON {t}; {recreate[name]}")
            assert compare(declared, inspect_schema(conn, TRIGGERS_SCHEMA)) == [], name


TOO_LONG = "é" * 32  # 32 characters, 64 bytes
OVERLONG: dict[str, Callable[[], object]] = {
    "schema": lambda: m.Schema(name=TOO_LONG),
    "table": lambda: m.Table(name=TOO_LONG, columns=(m.Column(name="a", type=m.TEXT),)),
    "column": lambda: m.Column(name=TOO_LONG, type=m.TEXT),
    "check": lambda: m.Check(name=TOO_LONG, expression="a > 0"),
    "index": lambda: m.Index(name=TOO_LONG, columns=("a",)),
    "trigger": lambda: m.Trigger(name=TOO_LONG, timing="BEFORE", events=("UPDATE",), function="f"),
    "function": lambda: m.Function(name=TOO_LONG, body="BEGIN RETURN NEW; END;"),
    "view": lambda: m.View(name=TOO_LONG, query="SELECT 1"),
    "primary key": lambda: m.Table(
        name="t" * 59, columns=(m.Column(name="a", type=m.TEXT),), primary_key=m.PrimaryKey(columns=("a",))
    ),
}


@pytest.mark.parametrize("kind", list(OVERLONG))
def test_names_over_63_bytes_are_refused_naming_the_object(kind: str) -> None:
    if kind == "primary key":  # the implicit <table>_pkey name
        message = f"table {'t' * 59}: primary key name '{'t' * 59}_pkey' is 64 bytes long"
    else:
        message = f"{kind} name '{TOO_LONG}' is 64 bytes long"
    with pytest.raises(ValueError, match=re.escape(message)):
        OVERLONG[kind]()


def test_names_over_63_bytes_raise_declaration_error() -> None:
    with pytest.raises(DeclarationError):
        OVERLONG["column"]()


# ---------------------------------------------------------------------------------------------


def test_catalogs_of_different_schemas_do_not_compare(declared: Catalog) -> None:
    with pytest.raises(ValueError, match="declared schema 'walltrack' and live schema 'other' differ"):
        compare(declared, Catalog(schema="other"))

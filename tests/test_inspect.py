"""inspect_schema on a real PostgreSQL: the WallTrack head read back in the server's stored forms."""

from __future__ import annotations

import psycopg
import pytest

from orders_schema import model as m
from orders_schema.harness import Databases
from orders_schema.inspect import Catalog, inspect_schema
from orders_schema.walltrack import HEAD

S = HEAD.name

# How PostgreSQL names the declared types (format_type) and stores the declared defaults
# (pg_get_expr): the same on PostgreSQL 15 and 18.
STORED_TYPE = {
    "uuid": "uuid", "text": "text", "integer": "integer", "boolean": "boolean",
    "timestamptz": "timestamp with time zone", "varchar": "character varying", "decimal": "numeric",
}
STORED_DEFAULT = {
    "gen_random_uuid()": "gen_random_uuid()", "NOW()": "now()", "100": "100", "0": "0", "3": "3",
    "FALSE": "false", "'pending'": "'pending'::character varying",
}
STORED_PREDICATE = {
    "position_id IS NOT NULL": "(position_id IS NOT NULL)",
    "signal_id IS NOT NULL": "(signal_id IS NOT NULL)",
    "filled_at IS NOT NULL": "(filled_at IS NOT NULL)",
    "status = 'failed' AND next_retry_at IS NOT NULL":
        "(((status)::text = 'failed'::text) AND (next_retry_at IS NOT NULL))",
    "status NOT IN ('filled', 'cancelled')":
        "((status)::text <> ALL ((ARRAY['filled'::character varying, 'cancelled'::character varying])::text[]))",
}


def stored_type(t: m.SqlType) -> str:
    base = STORED_TYPE[t.name]
    return f"{base}({','.join(map(str, t.args))})" if t.args else base


def stored_in_list(check: m.Check) -> str:
    allowed = check.allowed_values()
    assert allowed is not None
    column, values = allowed
    array = ", ".join(f"'{v}'::character varying" for v in values)
    return f"CHECK ((({column})::text = ANY ((ARRAY[{array}])::text[])))"


@pytest.fixture(scope="module")
def head(orders_databases: Databases) -> Catalog:
    """The template database (every version file applied), inspected."""
    name = orders_databases.clone("orders_schema_inspect")
    try:
        with psycopg.connect(orders_databases.server.dsn(name)) as conn:
            return inspect_schema(conn, S)
    finally:
        orders_databases.drop(name)


def test_every_declared_table_and_column_is_found_in_stored_form(head: Catalog) -> None:
    assert [t.name for t in head.tables] == sorted(t.name for t in HEAD.tables)
    for table in HEAD.tables:
        live = head.table(table.name)
        assert [c.name for c in live.columns] == list(table.column_names), table.name
        for ordinal, col in enumerate(table.columns, start=1):
            found = live.column(col.name)
            in_pk = table.primary_key is not None and col.name in table.primary_key.columns
            assert found.ordinal == ordinal
            assert found.type == stored_type(col.type), f"{table.name}.{col.name}"
            assert found.not_null == (not col.nullable or in_pk), f"{table.name}.{col.name}"
            expected_default = None if col.default is None else STORED_DEFAULT[col.default]
            assert found.default == expected_default, f"{table.name}.{col.name}"
            assert (found.identity, found.generated) == ("", "")


def test_every_declared_constraint_is_found_with_its_stored_definition(head: Catalog) -> None:
    for table in HEAD.tables:
        live = head.table(table.name)
        expected = {table.pkey_name: ("primary key", "PRIMARY KEY (id)")} if table.primary_key else {}
        expected |= {c.name: ("check", stored_in_list(c)) for c in table.checks}
        assert {c.name: (c.kind, c.definition) for c in live.constraints} == expected, table.name
        assert all(c.validated for c in live.constraints)
    status = head.table("orders").constraint("orders_status_check")
    assert status.columns == ("status",)
    assert status.body == status.definition


def test_every_declared_index_is_found_with_its_stored_definition(head: Catalog) -> None:
    expected: dict[str, tuple[str, bool, str | None, str | None]] = {}
    for table, index in HEAD.indexes():
        keys = ", ".join(k.expression + (" DESC" if k.descending else "") for k in index.columns)
        definition = f"CREATE INDEX {index.name} ON {S}.{table.name} USING btree ({keys})"
        predicate = None if index.where is None else STORED_PREDICATE[index.where]
        if predicate is not None:
            definition += f" WHERE {predicate}"
        expected[index.name] = (definition, False, predicate, None)
    for table in HEAD.tables:
        definition = f"CREATE UNIQUE INDEX {table.pkey_name} ON {S}.{table.name} USING btree (id)"
        expected[table.pkey_name] = (definition, True, None, table.pkey_name)
    found = {i.name: (i.definition, i.unique, i.predicate, i.constraint) for i in head.indexes}
    assert found == expected
    assert {i.name: i.table for i in head.indexes} == {
        **{i.name: t.name for t, i in HEAD.indexes()}, **{t.pkey_name: t.name for t in HEAD.tables}
    }


def test_every_declared_trigger_is_found_with_its_stored_definition(head: Catalog) -> None:
    for table in HEAD.tables:
        expected = {
            t.name: f"CREATE TRIGGER {t.name} {t.timing} {' OR '.join(t.events)} ON {S}.{table.name} "
            f"FOR EACH {t.for_each} EXECUTE FUNCTION {S}.{t.function}()"
            for t in table.triggers
        }
        live = head.table(table.name)
        assert {t.name: t.definition for t in live.triggers} == expected, table.name
        assert all(t.enabled == "O" for t in live.triggers)


def test_every_declared_function_is_found_with_its_body_verbatim(head: Catalog) -> None:
    assert [f.signature for f in head.functions] == sorted(f"{f.name}()" for f in HEAD.functions)
    for fn in HEAD.functions:
        found = head.function(f"{fn.name}()")
        assert found.source == fn.body
        assert (found.language, found.returns, found.volatility, found.security_definer, found.config) == (
            "plpgsql", "trigger", "VOLATILE", False, ()
        )
        assert (found.arguments, found.argument_types) == ("", ())
        assert found.definition == (
            f"CREATE OR REPLACE FUNCTION {S}.{fn.name}()\n RETURNS trigger\n LANGUAGE plpgsql\n"
            f"AS $function${fn.body}$function$\n"
        )


def test_every_declared_view_is_found_as_a_qualified_select(head: Catalog, orders_db: psycopg.Connection) -> None:
    assert [v.name for v in head.views] == sorted(v.name for v in HEAD.views)
    history = head.view("order_history").definition
    assert history.lstrip().startswith("SELECT o.id,")
    assert f"FROM {S}.orders o" in history
    assert f"LEFT JOIN {S}.positions p ON o.position_id = p.id" in history
    assert history.rstrip().endswith("ORDER BY o.created_at DESC;")
    stats = head.view("order_stats").definition
    assert "count(*) AS count" in stats and f"FROM {S}.orders o) sub" in stats
    assert not any(v.materialized for v in head.views)
    # The pretty-printed form (its exact layout differs between PostgreSQL versions), schema-qualified.
    with orders_db.transaction():
        orders_db.execute("SELECT set_config('search_path', 'pg_catalog', true)")
        for view in head.views:
            row = orders_db.execute("SELECT pg_get_viewdef(%s::regclass, true)", (f"{S}.{view.name}",)).fetchone()
            assert row == (view.definition,), view.name


def test_catalog_is_immutable_and_hashable(head: Catalog) -> None:
    with pytest.raises(AttributeError):
        head.tables = ()  # type: ignore[misc]
    assert hash(head) == hash(head) and head == head
    with pytest.raises(KeyError):
        head.table("no_such_table")


def test_stored_forms_do_not_depend_on_the_callers_search_path(orders_db: psycopg.Connection) -> None:
    default = inspect_schema(orders_db, S)
    orders_db.execute("SELECT set_config('search_path', %s, true)", (f"{S}, public",))
    inside = inspect_schema(orders_db, S)
    assert inside == default
    assert orders_db.execute("SHOW search_path").fetchone() == (f"{S}, public",), "search_path was not restored"
    assert orders_db.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS


def test_inspect_sees_uncommitted_changes_of_its_own_transaction(orders_db: psycopg.Connection) -> None:
    orders_db.execute(f"ALTER TABLE {S}.orders ADD CONSTRAINT positive_amount CHECK (amount_sol > 0) NOT VALID")
    orders_db.execute(f"ALTER TABLE {S}.orders ADD COLUMN n integer GENERATED ALWAYS AS IDENTITY")
    orders = inspect_schema(orders_db, S).table("orders")
    check = orders.constraint("positive_amount")
    assert (check.validated, check.definition) == (False, "CHECK ((amount_sol > (0)::numeric)) NOT VALID")
    assert check.body == "CHECK ((amount_sol > (0)::numeric))"
    column = orders.column("n")
    assert (column.identity, column.not_null, column.ordinal) == ("a", True, len(orders.columns))


def test_objects_owned_by_an_extension_are_left_out(orders_db: psycopg.Connection) -> None:
    before = inspect_schema(orders_db, S)
    orders_db.execute(f"CREATE EXTENSION citext SCHEMA {S}")
    functions = orders_db.execute(
        "SELECT count(*) FROM pg_proc WHERE pronamespace = %s::regnamespace", (S,)
    ).fetchone()
    assert functions is not None and functions[0] > len(HEAD.functions), "citext added no functions here"
    assert inspect_schema(orders_db, S) == before


def test_a_schema_that_does_not_exist_gives_an_empty_catalog(orders_db: psycopg.Connection) -> None:
    assert inspect_schema(orders_db, "no such schema") == Catalog(schema="no such schema")

"""inspect_schema on a real PostgreSQL: the WallTrack head read back in the server's stored forms."""

from __future__ import annotations

from dataclasses import replace

import psycopg
import pytest

from orders_schema.declare import model as m
from orders_schema.live.inspect import Catalog, inspect_schema
from orders_schema.tester.harness import Databases
from orders_schema.walltrack import HEAD
from orders_schema.walltrack.head import DEFINERS

S = HEAD.name

# How PostgreSQL names the declared types (format_type) and stores the declared defaults
# (pg_get_expr): the same on PostgreSQL 15 and 18.
STORED_TYPE = {
    "uuid": "uuid", "text": "text", "integer": "integer", "bigint": "bigint", "boolean": "boolean",
    "smallint": "smallint",
    "timestamptz": "timestamp with time zone", "varchar": "character varying", "decimal": "numeric",
}
STORED_DEFAULT = {
    "gen_random_uuid()": "gen_random_uuid()", "NOW()": "now()", "100": "100", "0": "0", "3": "3",
    "FALSE": "false", "'pending'": "'pending'::character varying", "walltrack.uuid_v7()": "walltrack.uuid_v7()",
}
STORED_PREDICATE = {
    "position_id IS NOT NULL": "(position_id IS NOT NULL)",
    "signal_id IS NOT NULL": "(signal_id IS NOT NULL)",
    "filled_at IS NOT NULL": "(filled_at IS NOT NULL)",
    "status = 'failed' AND next_retry_at IS NOT NULL AND attempt_count < max_attempts":
        "(((status)::text = 'failed'::text) AND (next_retry_at IS NOT NULL) AND (attempt_count < max_attempts))",
    "status IN ('pending', 'submitted', 'confirming')":
        "((status)::text = ANY ((ARRAY['pending'::character varying, 'submitted'::character varying,"
        " 'confirming'::character varying])::text[]))",
    "status NOT IN ('filled', 'cancelled')":
        "((status)::text <> ALL ((ARRAY['filled'::character varying, 'cancelled'::character varying])::text[]))",
}


STORED_CHECK = {
    "amount_sol > 0.0": "CHECK ((amount_sol > 0.0))",
    "amount_tokens > 0.0": "CHECK ((amount_tokens > 0.0))",
    "expected_price > 0.0": "CHECK ((expected_price > 0.0))",
    "actual_price > 0.0": "CHECK ((actual_price > 0.0))",
    "max_slippage_bps BETWEEN 0 AND 10000": "CHECK (((max_slippage_bps >= 0) AND (max_slippage_bps <= 10000)))",
    "max_attempts >= 1": "CHECK ((max_attempts >= 1))",
    "attempt_count >= 0 AND attempt_count <= max_attempts":
        "CHECK (((attempt_count >= 0) AND (attempt_count <= max_attempts)))",
    "(order_type = 'entry' AND side = 'buy' AND signal_id IS NOT NULL)"
    " OR (order_type = 'exit' AND side = 'sell' AND position_id IS NOT NULL)":
        "CHECK (((((order_type)::text = 'entry'::text) AND ((side)::text = 'buy'::text) AND (signal_id IS NOT NULL))"
        " OR (((order_type)::text = 'exit'::text) AND ((side)::text = 'sell'::text) AND (position_id IS NOT NULL))))",
}
"""How PostgreSQL stores head's CHECK expressions (pg_get_constraintdef); IN-lists: stored_in_list."""


def stored_type(t: m.SqlType) -> str:
    base = STORED_TYPE[t.name]
    return f"{base}({','.join(map(str, t.args))})" if t.args else base


def stored_in_list(check: m.Check) -> str:
    allowed = check.allowed_values()
    assert allowed is not None
    column, values = allowed
    array = ", ".join(f"'{v}'::character varying" for v in values)
    return f"CHECK ((({column})::text = ANY ((ARRAY[{array}])::text[])))"


def stored_check(check: m.Check) -> str:
    return stored_in_list(check) if check.allowed_values() is not None else STORED_CHECK[check.expression]


def stored_trigger(table: m.Table, t: m.Trigger) -> str:
    """pg_get_triggerdef of a declared trigger; a WHEN is shown as ``WHEN (...)`` (its stored form is
    PostgreSQL's rewrite of the expression, compared exactly by test_compare's round trip)."""
    events = " OR ".join(f"UPDATE OF {', '.join(t.update_of)}" if e == "UPDATE" and t.update_of else e
                         for e in t.events)
    transition = [f"OLD TABLE AS {t.referencing_old}"] if t.referencing_old else []
    transition += [f"NEW TABLE AS {t.referencing_new}"] if t.referencing_new else []
    referencing = f"REFERENCING {' '.join(transition)} " if transition else ""
    when = "WHEN (...) " if t.when else ""
    return (f"CREATE TRIGGER {t.name} {t.timing} {events} ON {S}.{table.name} {referencing}"
            f"FOR EACH {t.for_each} {when}EXECUTE FUNCTION {S}.{t.function}()")


def shown(definition: str) -> str:
    """A stored trigger definition with its WHEN expression elided (see stored_trigger)."""
    head, found, rest = definition.partition(" WHEN (")
    if not found:
        return definition
    return f"{head} WHEN (...) EXECUTE FUNCTION{rest.rpartition(' EXECUTE FUNCTION')[2]}"


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
        expected: dict[str, tuple[str, str]] = {}
        if table.primary_key:
            expected[table.pkey_name] = ("primary key", f"PRIMARY KEY ({', '.join(table.primary_key.columns)})")
        expected |= {c.name: ("check", stored_check(c)) for c in table.checks}
        expected |= {
            fk.name: ("foreign key", f"FOREIGN KEY ({', '.join(fk.columns)}) REFERENCES {S}.{fk.ref_table}"
                      f"({', '.join(fk.ref_columns)})")
            for fk in table.foreign_keys
        }
        assert {c.name: (c.kind, c.definition) for c in live.constraints} == expected, table.name
        assert all(c.validated for c in live.constraints)  # V11 validated what V10 added NOT VALID
    orders = head.table("orders")
    status = orders.constraint("orders_status_check")
    assert status.columns == ("status",)
    assert status.body == status.definition
    direction = orders.constraint("orders_direction_matches_type")
    assert direction.columns == ("order_type", "side", "signal_id", "position_id")
    assert orders.constraint("orders_position_id_fkey").columns == ("position_id",)


def test_every_declared_index_is_found_with_its_stored_definition(head: Catalog) -> None:
    expected: dict[str, tuple[str, bool, str | None, str | None]] = {}
    for table, index in HEAD.indexes():
        keys = ", ".join(k.expression + (" DESC" if k.descending else "") for k in index.columns)
        definition = f"CREATE INDEX {index.name} ON {S}.{table.name} USING btree ({keys})"
        if index.include:
            definition += f" INCLUDE ({', '.join(index.include)})"
        predicate = None if index.where is None else STORED_PREDICATE[index.where]
        if predicate is not None:
            definition += f" WHERE {predicate}"
        expected[index.name] = (definition, False, predicate, None)
    for table in HEAD.tables:
        assert table.primary_key is not None
        keys = ", ".join(table.primary_key.columns)
        definition = f"CREATE UNIQUE INDEX {table.pkey_name} ON {S}.{table.name} USING btree ({keys})"
        expected[table.pkey_name] = (definition, True, None, table.pkey_name)
    found = {i.name: (i.definition, i.unique, i.predicate, i.constraint) for i in head.indexes}
    assert found == expected
    assert {i.name: i.table for i in head.indexes} == {
        **{i.name: t.name for t, i in HEAD.indexes()}, **{t.pkey_name: t.name for t in HEAD.tables}
    }


def test_every_declared_trigger_is_found_with_its_stored_definition(head: Catalog) -> None:
    for table in HEAD.tables:
        expected = {t.name: stored_trigger(table, t) for t in table.triggers}
        live = head.table(table.name)
        assert {t.name: shown(t.definition) for t in live.triggers} == expected, table.name
        assert all(t.enabled == "O" for t in live.triggers)
    # the summary's statement-level triggers, with their transition tables (no internal FK triggers)
    count_insert = head.table("orders").trigger("trg_orders_settled_insert").definition
    assert "REFERENCING NEW TABLE AS new_orders FOR EACH STATEMENT" in count_insert
    count_update = head.table("orders").trigger("trg_orders_settled_update").definition
    assert "AFTER UPDATE OF status, is_simulated" in count_update
    assert "FOR EACH ROW WHEN (" in count_update
    assert "(old.status)::text IS DISTINCT FROM (new.status)::text" in count_update
    assert [t.name for t in head.table("positions").triggers] == []


def test_every_declared_function_is_found_with_its_body_verbatim(head: Catalog) -> None:
    assert [f.signature for f in head.functions] == sorted(f"{f.name}()" for f in HEAD.functions)
    for fn in HEAD.functions:
        found = head.function(f"{fn.name}()")
        assert found.source == fn.body
        # every function of head is PL/pgSQL and pinned (uuid_v7 too since the write-speed versions:
        # parsed once per session instead of inlined into every planned INSERT)
        assert fn.settings == (("search_path", "pg_catalog, pg_temp"),), fn.name
        language, returns, settings_line = "plpgsql", fn.returns, " SET search_path TO 'pg_catalog', 'pg_temp'\n"
        config = tuple(f"{key}={value}" for key, value in fn.settings)
        # the trigger functions writing what their callers may not write run as their owner
        assert (found.language, found.returns, found.volatility, found.security_definer, found.config) == (
            language, returns, "VOLATILE", fn.security_definer, config
        )
        assert fn.security_definer == (fn.name in DEFINERS), fn.name
        security_line = " SECURITY DEFINER\n" if fn.security_definer else ""
        assert (found.arguments, found.argument_types) == ("", ())
        assert found.definition == (
            f"CREATE OR REPLACE FUNCTION {S}.{fn.name}()\n RETURNS {returns}\n LANGUAGE {language}\n"
            f"{security_line}{settings_line}"
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
    after = inspect_schema(orders_db, S)
    assert [(e.name, e.schema) for e in after.extensions] == [("citext", S)]  # the extension itself is read
    assert replace(after, extensions=before.extensions) == before


def test_a_schema_that_does_not_exist_gives_an_empty_catalog(orders_db: psycopg.Connection) -> None:
    assert inspect_schema(orders_db, "no such schema") == Catalog(schema="no such schema")

"""Time-ordered order ids: walltrack.uuid_v7() (the table's default since V12) and the Order
model's uuid7() give RFC 9562 version-7 UUIDs whose first 48 bits are Unix milliseconds."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from uuid import UUID

import psycopg

from orders_schema.walltrack.orders import Order, OrderSide, OrderType
from orders_schema.walltrack.orders.model import uuid7


def _millis(value: UUID) -> int:
    return value.int >> 80


def _assert_v7_near(values: list[UUID], before_ms: int, after_ms: int) -> None:
    assert len(set(values)) == len(values), "ids repeat"
    for value in values:
        assert value.version == 7, value
        assert value.int >> 62 & 0b11 == 0b10, f"{value}: variant is not RFC 9562"
        assert before_ms <= _millis(value) <= after_ms, f"{value}: not stamped with the current time"


def test_python_uuid7_is_version_7_stamped_with_now_and_ordered_across_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    first = [uuid7() for _ in range(1000)]
    time.sleep(0.003)
    second = [uuid7() for _ in range(1000)]
    after = time.time_ns() // 1_000_000
    _assert_v7_near(first + second, before, after)
    assert max(first) < min(second), "a later millisecond must sort after an earlier one"


def test_orders_get_time_ordered_ids_by_default() -> None:
    order = Order(order_type=OrderType.ENTRY, side=OrderSide.BUY, signal_id="sig-1",
                  token_address="Tok1", amount_sol="1", expected_price="0.1")
    assert order.id.version == 7


def test_table_default_is_uuid_v7_stamped_by_the_database_clock(orders_db: psycopg.Connection) -> None:
    before = int(datetime.now(timezone.utc).timestamp() * 1000) - 5_000  # the server's clock may differ slightly
    rows = orders_db.execute(
        "SELECT walltrack.uuid_v7() FROM generate_series(1, 2000)"
    ).fetchall()
    after = int(datetime.now(timezone.utc).timestamp() * 1000) + 5_000
    _assert_v7_near([r[0] for r in rows], before, after)


def test_inserted_orders_take_the_v7_default(orders_db: psycopg.Connection) -> None:
    orders_db.execute("INSERT INTO walltrack.signals (id) VALUES ('sig-v7') ON CONFLICT DO NOTHING")
    (value,) = orders_db.execute(
        "INSERT INTO walltrack.orders (order_type, side, signal_id, token_address, amount_sol, expected_price)"
        " VALUES ('entry', 'buy', 'sig-v7', 'Tok1', 1, 0.1) RETURNING id"
    ).fetchone() or (None,)
    assert isinstance(value, UUID) and value.version == 7


def test_uuid_v7_ignores_the_callers_search_path(orders_db: psycopg.Connection) -> None:
    """Every name in the body is qualified: a schema put first on the search_path cannot swap in
    its own gen_random_uuid() or operator."""
    orders_db.execute("CREATE SCHEMA evil")
    orders_db.execute("CREATE FUNCTION evil.gen_random_uuid() RETURNS uuid LANGUAGE sql"
                      " AS $$ SELECT '00000000-0000-4000-8000-000000000000'::uuid $$")
    orders_db.execute("SET LOCAL search_path = evil, pg_catalog")
    values = [r[0] for r in orders_db.execute("SELECT walltrack.uuid_v7() FROM generate_series(1, 50)")]
    assert len(set(values)) == 50 and all(v.version == 7 for v in values)


def test_the_default_is_a_call_not_inlined_into_an_insert(orders_db: psycopg.Connection) -> None:
    """V15: PL/pgSQL, so the body is parsed once per session, not inlined (re-parsed) into every
    planned INSERT; the plan shows the call."""
    plan = "\n".join(r[0] for r in orders_db.execute(
        "EXPLAIN VERBOSE INSERT INTO walltrack.orders (order_type, side, signal_id, token_address, amount_sol,"
        " expected_price) VALUES ('entry', 'buy', 'sig-1', 'Tok1', 1, 0.1)"
    ))
    assert "walltrack.uuid_v7()" in plan and "gen_random_uuid()" not in plan, plan


def test_the_settled_insert_trigger_ignores_the_callers_search_path(orders_db: psycopg.Connection) -> None:
    """The INSERT trigger's function pins its search_path and qualifies every name: a schema put first
    on the caller's search_path, with an ``=`` that says every status is settled and a
    pg_backend_pid() of its own, changes nothing it counts."""
    from orders_schema.walltrack import head

    function = next(t.function for t in head.ORDERS.triggers if "INSERT" in t.events and t.for_each == "STATEMENT")
    assert dict(next(f for f in head.HEAD.functions if f.name == function).settings).get("search_path")
    orders_db.execute("CREATE SCHEMA evil")
    orders_db.execute("CREATE FUNCTION evil.eq(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT true'")
    orders_db.execute("CREATE OPERATOR evil.= (leftarg = text, rightarg = text, function = evil.eq)")
    orders_db.execute("CREATE FUNCTION evil.pg_backend_pid() RETURNS int LANGUAGE sql AS 'SELECT 1000'")
    orders_db.execute("SET LOCAL search_path = evil, pg_catalog")
    settled = "SELECT coalesce(sum(order_count), 0), coalesce(max(slot), 0) FROM walltrack.order_settled_counts"
    insert = ("INSERT INTO walltrack.orders (order_type, side, signal_id, token_address, amount_sol, expected_price,"
              " status) VALUES ('entry', 'buy', 'sig-evil', 'Tok1', 1, 0.1, %s)")
    before = orders_db.execute(settled).fetchone()
    assert before is not None
    orders_db.execute(insert, ("pending",))
    assert orders_db.execute(settled).fetchone() == before  # an open order counts nothing
    orders_db.execute(insert, ("filled",))
    after = orders_db.execute(settled).fetchone()
    assert after is not None and after[0] == before[0] + 1 and after[1] < head.STRIPES, (before, after)

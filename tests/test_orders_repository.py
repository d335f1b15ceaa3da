"""OrderRepository on a real PostgreSQL: every method, every filter, the story's bugs fixed, what
the database refuses, and every statement declared in walltrack/queries.py and served by its index
(or by the small summary table it declares)."""

from __future__ import annotations

import ast
import itertools
import json
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pydantic
import pytest
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from orders_schema.declare.project import synthetic_parameters
from orders_schema.walltrack import PROJECT
from orders_schema.walltrack import queries as q
from orders_schema.walltrack.head import STRIPES
from orders_schema.walltrack.orders import (
    InvalidTransitionError,
    Order,
    OrderConflictError,
    OrderNotFoundError,
    OrderRejectedError,
    OrderRepository,
    OrderSide,
    OrderStatus,
    OrderType,
    OrderValidationError,
)
from orders_schema.walltrack.orders import repository as repository_module
from orders_schema.walltrack.orders import validation as validation_module
from orders_schema.walltrack.orders.model import COLUMNS, EARLIEST, LATEST, column_values
from orders_schema.walltrack.synthetic import SYNTHETIC_DATA

S = OrderStatus
TOKEN = "So11111111111111111111111111111111111111112"
UTC = timezone.utc


# ---------------------------------------------------------------------------------------------
# Fixtures and helpers
# ---------------------------------------------------------------------------------------------


@pytest.fixture
async def repo(orders_committed_dsn: str) -> AsyncIterator[OrderRepository]:
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(orders_committed_dsn, min_size=1, max_size=5, open=False)
    await pool.open(wait=True)
    try:
        yield OrderRepository(pool)
    finally:
        await pool.close()


@pytest.fixture
def sql(orders_committed_dsn: str) -> Any:
    """Run a statement directly (outside the repository) and return its rows."""

    def run(statement: str, params: Any = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(orders_committed_dsn, autocommit=True) as conn:
            cur = conn.execute(statement, params)
            return cur.fetchall() if cur.description else []

    return run


def position(sql: Any) -> UUID:
    """A new row of walltrack.positions: orders may only name stored positions (orders_position_id_fkey)."""
    (row,) = sql("INSERT INTO walltrack.positions (id) VALUES (%s) RETURNING id", (uuid4(),))
    found: UUID = row[0]
    return found


def entry(**changes: Any) -> Order:
    fields: dict[str, Any] = {
        "order_type": OrderType.ENTRY, "side": OrderSide.BUY, "signal_id": "sig-1",
        "token_address": TOKEN, "amount_sol": Decimal("1.5"), "expected_price": Decimal("0.0001"),
    }
    return Order(**{**fields, **changes})


def exit_order(position_id: UUID, **changes: Any) -> Order:
    fields: dict[str, Any] = {
        "order_type": OrderType.EXIT, "side": OrderSide.SELL, "position_id": position_id,
        "token_address": TOKEN, "amount_sol": Decimal("2"), "expected_price": Decimal("0.0002"),
    }
    return Order(**{**fields, **changes})


PATHS: dict[OrderStatus, tuple[OrderStatus, ...]] = {
    S.PENDING: (),
    S.SUBMITTED: (S.SUBMITTED,),
    S.CONFIRMING: (S.SUBMITTED, S.CONFIRMING),
    S.FILLED: (S.SUBMITTED, S.CONFIRMING, S.FILLED),
    S.FAILED: (S.SUBMITTED, S.FAILED),
    S.CANCELLED: (S.CANCELLED,),
}


async def stored(repo: OrderRepository, order: Order, status: OrderStatus = S.PENDING, **last: Any) -> Order:
    """Create ``order`` and walk it to ``status`` through the lifecycle; ``last`` goes with the last step."""
    current = await repo.create(order)
    path = PATHS[status]
    for i, step in enumerate(path):
        changes: dict[str, Any] = {"status": step}
        if step is S.SUBMITTED:
            changes["attempt_count"] = current.attempt_count + 1
        if step is S.FILLED:
            changes.update(actual_price=Decimal("0.000102"), filled_at=datetime.now(UTC), tx_signature="sig")
        if i == len(path) - 1:
            changes.update(last)
        current = await repo.update(current.model_copy(update=changes))
    if not path and last:
        current = await repo.update(current.model_copy(update=last))
    return current


def audit(sql: Any, order_id: UUID | None = None) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = sql(
        "SELECT config_table, config_key, old_value, new_value, changed_by, reason"
        " FROM walltrack.config_audit_log"
        " WHERE %(id)s::text IS NULL OR config_key = %(id)s::text ORDER BY changed_at, id",
        {"id": None if order_id is None else str(order_id)},
    )
    return rows


def ids(orders: list[Order]) -> list[UUID]:
    return [o.id for o in orders]


# ---------------------------------------------------------------------------------------------
# create / get_by_id
# ---------------------------------------------------------------------------------------------


async def test_create_returns_the_order_as_stored(repo: OrderRepository, sql: Any) -> None:
    order = entry(created_at=datetime(2020, 1, 1, tzinfo=UTC), token_symbol="WSOL")
    created = await repo.create(order)
    assert created.id == order.id
    assert created.created_at == created.updated_at != order.created_at  # the database's now()
    assert abs(created.created_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert created.amount_sol == Decimal("1.5") and created.amount_sol.as_tuple().exponent == -8  # as stored
    row = sql("SELECT status, updated_at, token_symbol FROM walltrack.orders WHERE id = %s", (order.id,))
    assert row == [("pending", created.updated_at, "WSOL")]
    assert await repo.get_by_id(order.id) == created


async def test_create_refuses_an_order_that_is_not_pending(repo: OrderRepository, sql: Any) -> None:
    with pytest.raises(InvalidTransitionError, match="new order to 'filled'"):
        await repo.create(entry(status=S.FILLED))
    assert sql("SELECT count(*) FROM walltrack.orders") == [(0,)]


async def test_create_validates_a_copy_before_any_sql(repo: OrderRepository, sql: Any) -> None:
    bad = entry().model_copy(update={"side": OrderSide.SELL})
    with pytest.raises(OrderValidationError) as info:
        await repo.create(bad)
    assert str(info.value).startswith(f"create: order {bad.id} is invalid: an entry order is a buy, not a sell")
    assert isinstance(info.value.__cause__, pydantic.ValidationError) and info.value.argument == "order"
    assert sql("SELECT count(*) FROM walltrack.orders") == [(0,)]


async def test_create_twice_is_a_unique_violation(repo: OrderRepository) -> None:
    order = await repo.create(entry())
    with pytest.raises(psycopg.errors.UniqueViolation):
        await repo.create(entry(id=order.id))


async def test_lookups_return_none_when_nothing_matches(repo: OrderRepository) -> None:
    """The story's ``.single()`` raised instead of returning None."""
    assert await repo.get_by_id(uuid4()) is None
    assert await repo.get_by_signal("sig-none") is None
    assert await repo.get_by_position(uuid4()) == []


# ---------------------------------------------------------------------------------------------
# get_by_signal / get_by_position
# ---------------------------------------------------------------------------------------------


async def test_get_by_signal_returns_the_signals_latest_order(repo: OrderRepository) -> None:
    first = await stored(repo, entry(signal_id="sig-9"), S.CANCELLED)
    other = await repo.create(entry(signal_id="sig-10"))
    second = await repo.create(entry(signal_id="sig-9"))
    assert await repo.get_by_signal("sig-9") == second
    assert await repo.get_by_signal("sig-10") == other
    assert first.created_at < second.created_at


async def test_get_by_position_with_and_without_order_type(repo: OrderRepository, sql: Any) -> None:
    held, elsewhere = position(sql), position(sql)
    opened = await stored(repo, entry(position_id=held), S.FILLED)
    exit_1 = await stored(repo, exit_order(held), S.FAILED)
    exit_2 = await repo.create(exit_order(held))
    await repo.create(exit_order(elsewhere))
    assert ids(await repo.get_by_position(held)) == [exit_2.id, exit_1.id, opened.id]  # newest first
    assert ids(await repo.get_by_position(held, OrderType.EXIT)) == [exit_2.id, exit_1.id]
    assert ids(await repo.get_by_position(held, OrderType.ENTRY)) == [opened.id]
    assert await repo.get_by_position(position(sql), OrderType.EXIT) == []  # a position without orders
    assert await repo.get_by_position(uuid4(), OrderType.EXIT) == []


# ---------------------------------------------------------------------------------------------
# get_pending_retries
# ---------------------------------------------------------------------------------------------


async def test_get_pending_retries_honours_each_orders_max_attempts_and_the_clock(repo: OrderRepository) -> None:
    now = datetime.now(UTC)
    due_early = await stored(repo, entry(), S.FAILED, next_retry_at=now - timedelta(minutes=10))
    due_late = await stored(repo, entry(), S.FAILED, next_retry_at=now - timedelta(minutes=1))
    # attempt 3 of 5: the story's literal 3 skipped it
    generous = await stored(repo, entry(max_attempts=5, attempt_count=2), S.FAILED,
                            next_retry_at=now - timedelta(minutes=5))
    # attempt 2 of 2: the story's literal 3 retried it once too often
    await stored(repo, entry(max_attempts=2, attempt_count=1), S.FAILED, next_retry_at=now - timedelta(minutes=5))
    await stored(repo, entry(), S.FAILED, next_retry_at=now + timedelta(hours=1))  # not due yet
    await stored(repo, entry(), S.FAILED)  # no retry planned
    await stored(repo, entry(), S.PENDING, next_retry_at=now - timedelta(minutes=5))  # not failed
    retries = await repo.get_pending_retries()
    assert ids(retries) == [due_early.id, generous.id, due_late.id]  # the most overdue first
    assert all(o.can_retry for o in retries)
    assert ids(await repo.get_pending_retries(limit=2)) == [due_early.id, generous.id]
    assert await repo.get_pending_retries(limit=0) == []


async def test_get_pending_retries_is_empty_without_failed_orders(repo: OrderRepository) -> None:
    await stored(repo, entry(), S.FILLED)
    assert await repo.get_pending_retries() == []


# ---------------------------------------------------------------------------------------------
# get_active_orders
# ---------------------------------------------------------------------------------------------


async def test_get_active_orders_every_filter(repo: OrderRepository) -> None:
    active: dict[tuple[OrderStatus, bool], Order] = {}
    for simulated in (False, True):
        for status in S:
            order = await stored(repo, entry(is_simulated=simulated), status)
            if status not in (S.FILLED, S.CANCELLED):
                active[status, simulated] = order
    newest_first = sorted(active.values(), key=lambda o: o.created_at, reverse=True)
    assert ids(await repo.get_active_orders()) == ids(newest_first)
    for simulated in (False, True):
        expected = [o for o in newest_first if o.is_simulated is simulated]
        assert ids(await repo.get_active_orders(is_simulated=simulated)) == ids(expected)
        assert len(expected) == 4
    assert ids(await repo.get_active_orders(limit=3)) == ids(newest_first[:3])


async def test_get_active_orders_is_empty_when_everything_is_done(repo: OrderRepository) -> None:
    await stored(repo, entry(), S.FILLED)
    await stored(repo, entry(), S.CANCELLED)
    assert await repo.get_active_orders() == []


# ---------------------------------------------------------------------------------------------
# get_history
# ---------------------------------------------------------------------------------------------


async def _history_data(repo: OrderRepository, sql: Any) -> list[Order]:
    """24 orders: 2 types x 3 statuses x 2 modes x 2 days, created on known days."""
    made: list[Order] = []
    for day, order_type, status, simulated in itertools.product(
        (1, 2), OrderType, (S.PENDING, S.FILLED, S.FAILED), (False, True)
    ):
        order = entry(is_simulated=simulated) if order_type is OrderType.ENTRY else exit_order(
            position(sql), is_simulated=simulated)
        order = await stored(repo, order, status)
        created = datetime(2026, 3, day, 12, tzinfo=UTC) + timedelta(seconds=len(made))
        sql("UPDATE walltrack.orders SET created_at = %s WHERE id = %s", (created, order.id))
        made.append(order)
    return [o for o in [await repo.get_by_id(o.id) for o in made] if o is not None]


async def test_get_history_every_filter_combination(repo: OrderRepository, sql: Any) -> None:
    orders = await _history_data(repo, sql)
    assert len(orders) == 24
    day_1, day_2 = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)
    choices: dict[str, list[Any]] = {
        "start_date": [None, day_2],
        "end_date": [None, day_2],
        "order_type": [None, *OrderType],
        "status": [None, S.FILLED, S.CANCELLED],
        "is_simulated": [None, False, True],
    }
    checked = 0
    for values in itertools.product(*choices.values()):
        f = dict(zip(choices, values, strict=True))
        expected = [
            o for o in orders
            if (f["start_date"] is None or o.created_at >= f["start_date"])
            and (f["end_date"] is None or o.created_at <= f["end_date"])
            and (f["order_type"] is None or o.order_type is f["order_type"])
            and (f["status"] is None or o.status is f["status"])
            and (f["is_simulated"] is None or o.is_simulated is f["is_simulated"])
        ]
        expected.sort(key=lambda o: (o.created_at, o.id.int), reverse=True)
        got = await repo.get_history(**f)
        assert ids(got) == ids(expected), f
        checked += bool(expected)
    assert checked > 20  # the filters do select something
    assert len(await repo.get_history(start_date=day_1, end_date=day_2)) == 12  # day 1 only (12:00 < day 2)


async def test_get_history_dates_are_inclusive(repo: OrderRepository, sql: Any) -> None:
    order = await repo.create(entry())
    at = datetime(2026, 5, 1, 8, 30, tzinfo=UTC)
    sql("UPDATE walltrack.orders SET created_at = %s WHERE id = %s", (at, order.id))
    assert ids(await repo.get_history(start_date=at, end_date=at)) == [order.id]
    assert await repo.get_history(start_date=at + timedelta(microseconds=1)) == []
    assert await repo.get_history(end_date=at - timedelta(microseconds=1)) == []


async def test_get_history_pages_neither_repeat_nor_skip_even_on_ties(repo: OrderRepository, sql: Any) -> None:
    made = [await repo.create(entry()) for _ in range(7)]
    tie = datetime(2026, 4, 1, tzinfo=UTC)
    sql("UPDATE walltrack.orders SET created_at = %s", (tie,))  # all created at the same instant
    pages = [await repo.get_history(limit=3, offset=offset) for offset in (0, 3, 6, 9)]
    assert [len(p) for p in pages] == [3, 3, 1, 0]
    paged = [o.id for page in pages for o in page]
    assert sorted(paged, key=str) == sorted(ids(made), key=str)
    assert paged == sorted(paged, key=lambda i: i.int, reverse=True)  # ties ordered by id


async def test_get_history_empty_and_bad_arguments(repo: OrderRepository) -> None:
    assert await repo.get_history() == []
    with pytest.raises(ValueError, match="start_date must be timezone-aware"):
        await repo.get_history(start_date=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="get_history: limit must be an integer from 0 to 9223372036854775807"):
        await repo.get_history(limit=-1)
    with pytest.raises(ValueError, match="get_history: offset must be an integer from 0 to"):
        await repo.get_history(offset=-5)
    with pytest.raises(ValueError, match=r"get_history: status must be one of 'pending', .* got 'done'"):
        await repo.get_history(status="done")  # type: ignore[arg-type]


async def test_get_history_accepts_plain_status_values(repo: OrderRepository) -> None:
    order = await stored(repo, entry(), S.FAILED)
    await repo.create(entry())
    assert ids(await repo.get_history(status="failed", order_type="entry")) == [order.id]  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# count_by_status
# ---------------------------------------------------------------------------------------------


async def test_count_by_status_totals_across_types_and_modes(repo: OrderRepository, sql: Any) -> None:
    """The story's dict comprehension kept one (is_simulated, order_type) group per status."""
    assert await repo.count_by_status() == dict.fromkeys([s.value for s in S], 0)
    for order in (entry(), exit_order(position(sql)), entry(is_simulated=True),
                  exit_order(position(sql), is_simulated=True)):
        await repo.create(order)
    await stored(repo, entry(), S.FILLED)
    await stored(repo, entry(is_simulated=True), S.FILLED)
    await stored(repo, exit_order(position(sql), is_simulated=True), S.FAILED)
    counts = await repo.count_by_status()
    assert counts == {"pending": 4, "submitted": 0, "confirming": 0, "filled": 2, "failed": 1, "cancelled": 0}
    assert await repo.count_by_status(is_simulated=True) == {**counts, "pending": 2, "filled": 1, "failed": 1}
    assert await repo.count_by_status(is_simulated=False) == {**counts, "pending": 2, "filled": 1, "failed": 0}


def counted(sql: Any, is_simulated: bool | None = None) -> dict[str, int]:
    """What count_by_status must answer, counted directly over walltrack.orders."""
    rows = sql(
        "SELECT status, count(*) FROM walltrack.orders"
        " WHERE %(m)s::boolean IS NULL OR is_simulated = %(m)s GROUP BY status",
        {"m": is_simulated},
    )
    found = {status: int(n) for status, n in rows}
    return {s.value: found.get(s.value, 0) for s in S}


async def assert_counts_exact(repo: OrderRepository, sql: Any) -> None:
    for mode in (None, True, False):
        assert await repo.count_by_status(is_simulated=mode) == counted(sql, mode), mode
    # the counters are striped by backend: only the sum over a key's slots is the key's count
    # settled statuses only (open ones are counted from idx_orders_open, V15)
    summary = sql("SELECT is_simulated, status, sum(order_count)::bigint"
                  " FROM walltrack.order_settled_counts GROUP BY 1, 2"
                  " HAVING sum(order_count) <> 0 ORDER BY 1, 2")
    grouped = sql("SELECT is_simulated, status, count(*) FROM walltrack.orders"
                  " WHERE status IN ('filled', 'cancelled', 'failed') GROUP BY 1, 2 ORDER BY 1, 2")
    assert summary == grouped
    assert sql("SELECT count(*) FROM (SELECT FROM walltrack.order_settled_counts GROUP BY is_simulated,"
               " status HAVING sum(order_count) < 0) AS negative") == [(0,)]


async def test_count_by_status_stays_exact_through_creates_updates_and_deletes(
    repo: OrderRepository, sql: Any
) -> None:
    """count_by_status reads walltrack.order_settled_counts (kept by the trg_orders_settled_* triggers)
    and idx_orders_open:
    after every kind of write it equals a count(*) over the orders, with and without the mode filter."""
    await assert_counts_exact(repo, sql)
    made: list[Order] = []
    for i in range(36):
        simulated = i % 3 == 0
        order = entry(signal_id=f"sig-{i}", is_simulated=simulated) if i % 2 else exit_order(
            position(sql), is_simulated=simulated)
        made.append(await stored(repo, order, list(S)[i % len(S)]))
    await assert_counts_exact(repo, sql)
    # through the repository: a retry, cancellations, a same-status update (no key changes)
    failed = [o for o in made if o.status is S.FAILED]
    await repo.update(failed[0].model_copy(update={"status": S.PENDING}))
    for order in [o for o in made if o.status is S.PENDING][:3]:
        await repo.update(order.model_copy(update={"status": S.CANCELLED}))
    submitted = next(o for o in made if o.status is S.SUBMITTED)
    await repo.update(submitted.model_copy(update={"tx_signature": "same-status"}))
    await assert_counts_exact(repo, sql)
    # outside the repository: statements touching many rows and every key column
    sql("UPDATE walltrack.orders SET status = 'cancelled' WHERE status = 'pending' AND is_simulated")
    sql("UPDATE walltrack.orders SET is_simulated = NOT is_simulated WHERE status = 'filled'")
    sql("UPDATE walltrack.orders SET order_type = 'entry', side = 'buy', signal_id = 'sig-moved'"
        " WHERE order_type = 'exit' AND status = 'cancelled'")
    await assert_counts_exact(repo, sql)
    sql("DELETE FROM walltrack.orders WHERE status = 'failed' OR (status = 'filled' AND is_simulated)")
    await assert_counts_exact(repo, sql)
    sql("TRUNCATE walltrack.orders")
    assert await repo.count_by_status() == dict.fromkeys([s.value for s in S], 0)
    await stored(repo, entry(is_simulated=True), S.CONFIRMING)
    await assert_counts_exact(repo, sql)
    assert (await repo.count_by_status(is_simulated=True))["confirming"] == 1
    assert sql("SELECT count(*) <= 6 * %s FROM walltrack.order_settled_counts", (STRIPES,)) == [(True,)]


# ---------------------------------------------------------------------------------------------
# What the database refuses (head's CHECKs and orders_position_id_fkey): OrderRejectedError
# ---------------------------------------------------------------------------------------------

MISSING_POSITION = uuid4()
REFUSALS = [
    pytest.param({"signal_id": None}, "23514", "orders_direction_matches_type", id="entry without signal"),
    pytest.param({"side": "sell"}, "23514", "orders_direction_matches_type", id="entry that sells"),
    pytest.param({"amount_sol": Decimal("0")}, "23514", "orders_amount_sol_positive", id="amount_sol 0"),
    pytest.param({"amount_sol": Decimal("-1.5")}, "23514", "orders_amount_sol_positive", id="amount_sol < 0"),
    pytest.param({"attempt_count": 4, "max_attempts": 3}, "23514", "orders_attempts_within_limit",
                 id="attempt_count > max_attempts"),
    pytest.param({"order_type": "exit", "side": "sell", "signal_id": None, "position_id": MISSING_POSITION},
                 "23503", "orders_position_id_fkey", id="exit order of a missing position"),
]
"""Changes that make a valid entry order one the database refuses: SQLSTATE and constraint."""


@pytest.mark.parametrize(("changes", "sqlstate", "constraint"), REFUSALS)
def test_the_database_refuses_invalid_orders(sql: Any, changes: dict[str, Any], sqlstate: str,
                                             constraint: str) -> None:
    """Whoever writes (the repository's own INSERT here): the schema is the last line of defence."""
    valid = column_values(entry())
    with pytest.raises(psycopg.errors.IntegrityError) as info:
        sql(q.CREATE.sql, {**valid, **changes})
    assert (info.value.diag.sqlstate, info.value.diag.constraint_name) == (sqlstate, constraint)
    assert sql("SELECT count(*) FROM walltrack.orders") == [(0,)]
    assert sql(q.CREATE.sql, valid)[0][0] == valid["id"]  # the same row without the changes is stored


@pytest.mark.parametrize(("changes", "sqlstate", "constraint"), REFUSALS)
async def test_a_refusal_reaches_the_caller_as_order_rejected_error(
    repo: OrderRepository, sql: Any, monkeypatch: pytest.MonkeyPatch,
    changes: dict[str, Any], sqlstate: str, constraint: str,
) -> None:
    bad = entry().model_copy(update=changes)
    if sqlstate == "23514":
        with pytest.raises(OrderValidationError):  # the model refuses it first, before any SQL
            await repo.create(bad)
        # As if the model and the schema disagreed: skip the model's check, the database still refuses.
        monkeypatch.setattr(validation_module, "revalidated", lambda order: order)
    with pytest.raises(OrderRejectedError) as info:
        await repo.create(bad)
    error = info.value
    assert (error.order_id, error.sqlstate, error.constraint) == (bad.id, sqlstate, constraint)
    assert isinstance(error, ValueError) and isinstance(error.__cause__, psycopg.errors.IntegrityError)
    message = str(error)
    assert str(bad.id) in message and constraint in message and f"SQLSTATE {sqlstate}" in message
    assert message.endswith("nothing was written")
    if sqlstate == "23503":
        assert str(MISSING_POSITION) in message and '"positions"' in message
    assert sql("SELECT count(*) FROM walltrack.orders") == [(0,)]


async def test_an_update_to_a_missing_position_is_rejected_and_writes_nothing(
    repo: OrderRepository, sql: Any
) -> None:
    created = await repo.create(exit_order(position(sql)))
    moved = created.model_copy(update={"position_id": MISSING_POSITION, "status": S.CANCELLED})
    with pytest.raises(OrderRejectedError, match="orders_position_id_fkey") as info:
        await repo.update(moved)
    assert (info.value.sqlstate, info.value.order_id) == ("23503", created.id)
    assert await repo.get_by_id(created.id) == created
    assert audit(sql, created.id) == []  # the status change was rolled back with the row
    assert await repo.count_by_status() == {**dict.fromkeys([s.value for s in S], 0), "pending": 1}


async def test_a_position_with_orders_cannot_be_deleted(repo: OrderRepository, sql: Any) -> None:
    held = position(sql)
    await repo.create(exit_order(held))
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        sql("DELETE FROM walltrack.positions WHERE id = %s", (held,))


# ---------------------------------------------------------------------------------------------
# update
# ---------------------------------------------------------------------------------------------


async def test_update_returns_the_order_as_stored(repo: OrderRepository, sql: Any) -> None:
    created = await repo.create(entry())
    changed = created.model_copy(update={
        "status": S.SUBMITTED, "attempt_count": 1, "tx_signature": "5x" * 40,
        "created_at": datetime(2000, 1, 1, tzinfo=UTC),  # ignored: created_at belongs to the database
    })
    updated = await repo.update(changed)
    assert updated.status is S.SUBMITTED and updated.tx_signature == "5x" * 40
    assert updated.updated_at > created.updated_at  # set by trg_orders_updated
    assert updated.created_at == created.created_at
    assert await repo.get_by_id(created.id) == updated
    assert audit(sql, created.id) == [("orders", str(created.id), "pending", "submitted", "system", None)]


async def test_update_of_a_missing_order(repo: OrderRepository, sql: Any) -> None:
    with pytest.raises(OrderNotFoundError, match="does not exist"):
        await repo.update(entry())
    assert sql("SELECT count(*) FROM walltrack.orders") == [(0,)]


async def test_update_from_a_stale_read_is_a_conflict_and_writes_nothing(repo: OrderRepository, sql: Any) -> None:
    read = await repo.create(entry())
    winner = await repo.update(read.model_copy(update={"status": S.SUBMITTED, "attempt_count": 1}))
    with pytest.raises(OrderConflictError) as info:
        await repo.update(read.model_copy(update={"status": S.CANCELLED, "last_error": "user"}))
    assert info.value.order_id == read.id
    assert (info.value.expected_updated_at, info.value.stored_updated_at) == (read.updated_at, winner.updated_at)
    assert str(read.id) in str(info.value) and "nothing was written" in str(info.value)
    assert await repo.get_by_id(read.id) == winner
    assert [row[2:4] for row in audit(sql)] == [("pending", "submitted")]
    # a fresh read succeeds
    assert (await repo.update(winner.model_copy(update={"status": S.CANCELLED}))).status is S.CANCELLED


async def test_a_conflict_wins_over_a_forbidden_transition(repo: OrderRepository) -> None:
    read = await repo.create(entry())
    await stored(repo, entry(), S.FILLED)
    await repo.update(read.model_copy(update={"status": S.CANCELLED}))
    with pytest.raises(OrderConflictError):  # stale, whatever the transition
        await repo.update(read.model_copy(update={"status": S.SUBMITTED}))


async def test_forbidden_transition_names_the_order_and_writes_nothing(repo: OrderRepository, sql: Any) -> None:
    filled = await stored(repo, entry(), S.FILLED)
    before = audit(sql, filled.id)
    with pytest.raises(InvalidTransitionError) as info:
        await repo.update(filled.model_copy(update={"status": S.PENDING, "last_error": "oops"}))
    assert not isinstance(info.value, OrderConflictError)
    message = str(info.value)
    assert str(filled.id) in message and "'filled'" in message and "'pending'" in message
    assert await repo.get_by_id(filled.id) == filled  # same updated_at: nothing written
    assert audit(sql, filled.id) == before and len(before) == 3


async def test_transitions_are_checked_against_the_stored_status(repo: OrderRepository) -> None:
    pending = await repo.create(entry())
    with pytest.raises(InvalidTransitionError, match="from 'pending' to 'filled'"):
        await repo.update(pending.model_copy(update={"status": S.FILLED}))
    confirming = await stored(repo, entry(), S.CONFIRMING)
    filled = await repo.update(confirming.model_copy(update={"status": S.FILLED}))
    assert filled.status is S.FILLED and filled.is_terminal


async def test_retry_needs_attempts_left(repo: OrderRepository) -> None:
    spent = await stored(repo, entry(max_attempts=1), S.FAILED)
    assert spent.attempt_count == 1 and not spent.can_retry
    with pytest.raises(InvalidTransitionError, match="no attempts left"):
        await repo.update(spent.model_copy(update={"status": S.PENDING}))
    retried = await stored(repo, entry(), S.FAILED)
    again = await repo.update(retried.model_copy(update={"status": S.SUBMITTED, "attempt_count": 2}))
    assert again.status is S.SUBMITTED


async def test_same_status_update_writes_without_an_audit_row(repo: OrderRepository, sql: Any) -> None:
    submitted = await stored(repo, entry(), S.SUBMITTED)
    updated = await repo.update(submitted.model_copy(update={"tx_signature": "abc"}))
    assert updated.tx_signature == "abc" and updated.updated_at > submitted.updated_at
    assert [row[2:4] for row in audit(sql, submitted.id)] == [("pending", "submitted")]


async def test_update_validates_the_copy_and_writes_nothing(repo: OrderRepository) -> None:
    created = await repo.create(entry())
    with pytest.raises(OrderValidationError, match="attempt_count 9 exceeds max_attempts 3"):
        await repo.update(created.model_copy(update={"attempt_count": 9}))
    assert await repo.get_by_id(created.id) == created


async def test_audit_rows_keep_the_storys_shape(repo: OrderRepository, sql: Any) -> None:
    order = await stored(repo, entry(), S.FAILED, last_error="rpc timeout")
    assert audit(sql, order.id) == [
        ("orders", str(order.id), "pending", "submitted", "system", None),
        ("orders", str(order.id), "submitted", "failed", "system", "rpc timeout"),
    ]


async def test_synthetic_orders_read_back_as_valid_orders(repo: OrderRepository, sql: Any) -> None:
    params = synthetic_parameters(2000)
    for statement in SYNTHETIC_DATA:
        sql(statement, params)
    history = await repo.get_history(limit=5000)
    assert len(history) == 2000
    by_sql = dict(sql("SELECT status, count(*) FROM walltrack.orders GROUP BY status"))
    counts = await repo.count_by_status()
    assert {k: v for k, v in counts.items() if v} == by_sql
    assert sum(counts.values()) == 2000
    assert [o for o in history if o.status is S.FAILED and o.can_retry]


# ---------------------------------------------------------------------------------------------
# The boundary: every bad argument is an OrderValidationError before any SQL
# ---------------------------------------------------------------------------------------------

NUL_TEXT = "sig\x00-1"
TOO_BIG = 2**63  # one past bigint: LIMIT/OFFSET would fail on the server with "bigint out of range"

# method, keyword arguments, the argument named, what the message says. Before the boundary each of
# these reached psycopg or the server: DataError (NUL), InvalidTextRepresentation ('not-a-uuid',
# 'maybe'), UndefinedFunction (42, 5), NumericValueOutOfRange (2**63), UnicodeEncodeError (a lone
# surrogate), AttributeError (a date as a string); or was silently read as true ('yes').
BAD_ARGUMENTS: list[tuple[str, dict[str, Any], str, str]] = [
    ("get_by_id", {"order_id": "not-a-uuid"}, "order_id", "must be a UUID, got 'not-a-uuid'"),
    ("get_by_id", {"order_id": 42}, "order_id", "must be a UUID, got 42"),
    ("get_by_id", {"order_id": None}, "order_id", "must be a UUID, got None"),
    ("get_by_signal", {"signal_id": NUL_TEXT}, "signal_id", "contains a NUL byte (U+0000) at position 3"),
    ("get_by_signal", {"signal_id": "sig-\ud800"}, "signal_id", "is not valid Unicode text"),
    ("get_by_signal", {"signal_id": 5}, "signal_id", "must be a str, got 5"),
    ("get_by_position", {"position_id": "pos-1"}, "position_id", "must be a UUID, got 'pos-1'"),
    ("get_by_position", {"position_id": uuid4(), "order_type": "sideways"}, "order_type",
     "must be one of 'entry', 'exit'"),
    ("get_by_position", {"position_id": uuid4(), "order_type": S.PENDING}, "order_type", "must be one of 'entry'"),
    ("get_pending_retries", {"limit": TOO_BIG}, "limit", f"must be an integer from 0 to {TOO_BIG - 1}"),
    ("get_pending_retries", {"limit": "5"}, "limit", "got '5'"),
    ("get_pending_retries", {"limit": True}, "limit", "got True"),
    ("get_active_orders", {"is_simulated": "yes"}, "is_simulated", "must be True, False or None, got 'yes'"),
    ("get_active_orders", {"limit": 10.5}, "limit", "got 10.5"),
    ("get_history", {"start_date": "2026-01-01"}, "start_date", "must be a timezone-aware datetime, not a str"),
    ("get_history", {"end_date": datetime(2026, 1, 1).date()}, "end_date", "not a date"),
    ("get_history", {"end_date": datetime(2026, 1, 1)}, "end_date", "must be timezone-aware"),
    ("get_history", {"order_type": "buy"}, "order_type", "got 'buy'"),
    ("get_history", {"status": "done"}, "status", "got 'done'"),
    ("get_history", {"is_simulated": 1}, "is_simulated", "got 1"),
    ("get_history", {"offset": TOO_BIG}, "offset", "must be an integer from 0 to"),
    ("count_by_status", {"is_simulated": "yes"}, "is_simulated", "must be True, False or None, got 'yes'"),
    ("count_by_status", {"is_simulated": "false"}, "is_simulated", "got 'false'"),
    ("count_by_status", {"is_simulated": 0}, "is_simulated", "got 0"),
    ("create", {"order": {"order_type": "entry"}}, "order", "must be an Order, got {'order_type': 'entry'}"),
    ("update", {"order": None}, "order", "must be an Order, got None"),
]


@pytest.mark.parametrize(("method", "kwargs", "argument", "says"), BAD_ARGUMENTS,
                         ids=[f"{m}-{a}-{n}" for n, (m, _, a, _) in enumerate(BAD_ARGUMENTS)])
async def test_a_bad_argument_is_an_order_validation_error_naming_it(
    repo: OrderRepository, sql: Any, method: str, kwargs: dict[str, Any], argument: str, says: str
) -> None:
    await repo.create(entry())
    before = sql("SELECT count(*), max(updated_at) FROM walltrack.orders")
    with pytest.raises(OrderValidationError) as info:
        await getattr(repo, method)(**kwargs)
    error = info.value
    assert isinstance(error, ValueError)
    assert str(error).startswith(f"{method}: {argument} ") and says in str(error), str(error)
    assert (error.method, error.argument) == (method, argument)
    assert sql("SELECT count(*), max(updated_at) FROM walltrack.orders") == before


async def test_the_forms_the_story_accepts_still_work(repo: OrderRepository, sql: Any) -> None:
    pos = position(sql)
    made = await repo.create(exit_order(pos, is_simulated=True))
    assert await repo.get_by_id(str(made.id)) == made  # a UUID's string form
    assert await repo.get_by_position(str(pos), "exit") == [made]  # an enum's plain value
    assert await repo.get_by_position(pos, OrderType.ENTRY) == []
    assert await repo.get_history(status="pending", is_simulated=True, limit=0) == []
    assert (await repo.count_by_status(is_simulated=True))["pending"] == 1
    assert await repo.get_by_signal("x" * 500) is None  # longer than any signal id: found nowhere


TEXT_FIELDS = ("signal_id", "token_address", "token_symbol", "tx_signature", "last_error")


@pytest.mark.parametrize("field", TEXT_FIELDS)
async def test_a_nul_byte_in_any_text_field_is_refused_naming_the_field(
    repo: OrderRepository, sql: Any, field: str
) -> None:
    with pytest.raises(pydantic.ValidationError, match=rf"{field}\n  Value error, contains a NUL byte"):
        entry(**{field: NUL_TEXT})
    created = await repo.create(entry())
    for method, order in (("create", entry().model_copy(update={field: NUL_TEXT})),
                          ("update", created.model_copy(update={field: NUL_TEXT}))):
        with pytest.raises(OrderValidationError) as info:
            await getattr(repo, method)(order)
        assert info.value.argument == f"order.{field}" and info.value.fields == (f"order.{field}",)
        assert f"{method}: order {order.id} is invalid: {field}: contains a NUL byte (U+0000) at position 3" in str(
            info.value
        )
    assert sql("SELECT count(*), max(updated_at) FROM walltrack.orders") == [(1, created.updated_at)]


async def test_several_invalid_fields_are_all_named(repo: OrderRepository) -> None:
    bad = entry().model_copy(update={"amount_sol": Decimal("-1"), "token_symbol": "x" * 21})
    with pytest.raises(OrderValidationError) as info:
        await repo.create(bad)
    assert info.value.fields == ("order.token_symbol", "order.amount_sol")  # in the model's field order
    assert "token_symbol: String should have at most 20 characters; amount_sol: Input should be greater than 0" in str(
        info.value
    )


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Etc/GMT+12"])  # UTC+14 and UTC-12
async def test_times_at_the_edges_of_the_window_are_stored_and_read_back_in_any_time_zone(
    orders_committed_dsn: str, zone: str
) -> None:
    async with AsyncConnectionPool(orders_committed_dsn, kwargs={"options": f"-c TimeZone={zone}"},
                                   min_size=1, max_size=1) as pool:
        repo = OrderRepository(pool)
        made = await repo.create(entry(filled_at=EARLIEST, next_retry_at=LATEST))
        assert (made.filled_at, made.next_retry_at) == (EARLIEST, LATEST)
        assert await repo.get_by_id(made.id) == made
    for field, value in (("filled_at", EARLIEST - timedelta(microseconds=1)),
                         ("next_retry_at", LATEST + timedelta(microseconds=1))):
        # the database stores these, but psycopg cannot read them back in every session time zone
        with pytest.raises(pydantic.ValidationError, match=rf"{field}\n  Value error, .* is outside 0001-01-02"):
            entry(**{field: value})


async def test_the_repository_needs_an_async_pool(orders_committed_dsn: str) -> None:
    with (
        ConnectionPool(orders_committed_dsn, min_size=1, max_size=1) as sync_pool,
        pytest.raises(OrderValidationError) as info,
    ):
        OrderRepository(sync_pool)  # type: ignore[arg-type]
    assert str(info.value) == "OrderRepository: pool must be a psycopg_pool.AsyncConnectionPool, got ConnectionPool"


async def test_is_simulated_is_a_bool_in_the_model_too() -> None:
    with pytest.raises(pydantic.ValidationError, match="is_simulated\n  Input should be a valid boolean"):
        entry(is_simulated="yes")
    assert entry(is_simulated=True).is_simulated is True


# ---------------------------------------------------------------------------------------------
# One source of truth: walltrack/queries.py
# ---------------------------------------------------------------------------------------------

PLACEHOLDER = re.compile(r"%\((\w+)\)s")
REPOSITORY_SOURCE = Path(repository_module.__file__).read_text(encoding="utf-8")


def test_the_project_declares_the_queries() -> None:
    assert PROJECT.queries == q.QUERIES
    names = [query.name for query in q.QUERIES]
    assert len(set(names)) == len(names)
    assert {"create", "update", "get_by_id", "get_by_signal", "get_by_position", "get_pending_retries",
            "get_active_orders", "get_history", "count_by_status"} <= set(names)


@pytest.mark.parametrize("query", q.QUERIES, ids=lambda query: query.name)
def test_each_example_binds_exactly_the_placeholders(query: Any) -> None:
    assert set(PLACEHOLDER.findall(query.sql)) == set(query.params)
    assert "{" not in query.sql and "%s" not in query.sql  # named placeholders only, nothing formatted in


def test_statements_list_every_column_of_the_model() -> None:
    listed = tuple(c.strip() for c in q.ORDER_COLUMNS.split(","))
    assert listed == COLUMNS
    inserted = re.search(r"\(([^)]*)\)\s*VALUES", q.CREATE.sql)
    assert inserted is not None
    assert tuple(c.strip() for c in inserted.group(1).split(",")) == COLUMNS[:-2]  # not created_at, updated_at
    assigned = tuple(re.findall(r"(\w+) = %\(\1\)s", q.UPDATE.sql.split("WHERE")[0]))
    assert assigned == tuple(c for c in COLUMNS if c not in ("id", "created_at", "updated_at"))


def test_the_repository_sends_only_declared_statements() -> None:
    tree = ast.parse(REPOSITORY_SOURCE)
    sql_words = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|FROM|WHERE)\b")
    docstrings = {
        id(node.body[0].value) for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body and isinstance(node.body[0], ast.Expr)
    }
    literals = [
        node.value for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]
    assert [text for text in literals if sql_words.search(text)] == []
    assert not any(isinstance(node, ast.JoinedStr) and sql_words.search(ast.unparse(node)) for node in ast.walk(tree))
    used = set(re.findall(r"\bq\.([A-Z_]+)\b", REPOSITORY_SOURCE))
    assert used == {name for name in dir(q) if isinstance(getattr(q, name), type(q.CREATE))}
    executes = re.findall(r"\.execute\(([^,]+),", REPOSITORY_SOURCE)
    assert executes and all(arg.endswith(".sql") for arg in executes), executes


# ---------------------------------------------------------------------------------------------
# Every declared index serves its statement on realistic data (EXPLAIN, custom plans)
# ---------------------------------------------------------------------------------------------


def _load_synthetic(sql: Any, rows: int) -> None:
    params = synthetic_parameters(rows)
    for statement in SYNTHETIC_DATA:
        sql(statement, params)
    sql("ANALYZE walltrack.orders")


def _plan(sql: Any, text: str, params: dict[str, Any]) -> dict[str, Any]:
    (document,) = sql("EXPLAIN (FORMAT JSON) " + text, params)[0]
    plan: dict[str, Any] = (json.loads(document) if isinstance(document, str) else document)[0]["Plan"]
    return plan


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in _nodes(child))]


def _indexes(plan: dict[str, Any]) -> set[str]:
    return {node["Index Name"] for node in _nodes(plan) if "Index Name" in node}


def _seq_scans(plan: dict[str, Any]) -> list[str]:
    return [node.get("Relation Name", "?") for node in _nodes(plan) if node["Node Type"] == "Seq Scan"]


def _relations(plan: dict[str, Any]) -> set[str]:
    return {node["Relation Name"] for node in _nodes(plan) if "Relation Name" in node}


@pytest.mark.parametrize("rows", [20_000, 200_000])
def test_every_query_uses_its_declared_index_on_synthetic_data(sql: Any, rows: int) -> None:
    _load_synthetic(sql, rows)
    problems = []
    for query in q.QUERIES:
        plan = _plan(sql, query.sql, query.params)
        if query.uses_index is not None and query.uses_index not in _indexes(plan):
            problems.append(f"{query.name}: declared {query.uses_index}, plan uses {_indexes(plan) or 'no index'}")
        if query.served_by_table is not None:
            if _relations(plan) != {query.served_by_table}:
                problems.append(f"{query.name}: declared {query.served_by_table}, plan reads {_relations(plan)}")
        elif query.uses_index is None:
            assert _seq_scans(plan) == [], query.name
    assert problems == []
    # count_by_status reads the settled summary (at most 6 keys x STRIPES slots) and the open orders
    # through idx_orders_open only, never the history
    for mode in (None, True, False):
        plan = _plan(sql, q.COUNT_BY_STATUS.sql, {"is_simulated": mode})
        assert _relations(plan) == {"order_settled_counts", "orders"}, (mode, plan)
        # the summary by a scan of its few pages or by its key, as the planner likes; orders only by the index
        assert "idx_orders_open" in _indexes(plan) and set(_seq_scans(plan)) <= {"order_settled_counts"}, (mode, plan)
        assert _indexes(plan) <= {"idx_orders_open", "order_settled_counts_pkey"}, (mode, plan)
    assert sql("SELECT count(*) <= 6 * %s FROM walltrack.order_settled_counts", (STRIPES,)) == [(True,)]


OPTIONAL_FILTERS: dict[str, dict[str, list[Any]]] = {
    "get_history": {
        "start_date": [None, "2026-06-01T00:00:00+00:00"],
        "end_date": [None, "2026-09-01T00:00:00+00:00"],
        "order_type": [None, "exit"],
        "status": [None, "failed", "filled"],
        "is_simulated": [None, True, False],
    },
    "get_active_orders": {"is_simulated": [None, True, False]},
    "get_by_position": {"order_type": [None, "entry", "exit"]},
}


def test_every_filter_combination_is_index_served(sql: Any) -> None:
    """One statement per method: the ``x IS NULL OR ...`` filters fold away in custom plans."""
    _load_synthetic(sql, 20_000)
    checked = 0
    for name, choices in OPTIONAL_FILTERS.items():
        query = PROJECT.query(name)
        for values in itertools.product(*choices.values()):
            params = {**query.params, **dict(zip(choices, values, strict=True))}
            plan = _plan(sql, query.sql, params)
            assert _seq_scans(plan) == [] and _indexes(plan), (name, params, _indexes(plan))
            checked += 1
    assert checked == 72 + 3 + 3

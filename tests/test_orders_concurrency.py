"""OrderRepository under concurrency: audit rows equal status changes, the status counts stay exact,
and stale updates lose."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from orders_schema.walltrack.orders import Order, OrderConflictError, OrderRepository, OrderSide, OrderStatus, OrderType

S = OrderStatus
UTC = timezone.utc

PATHS: tuple[tuple[OrderStatus, ...], ...] = (
    (S.SUBMITTED, S.CONFIRMING, S.FILLED),
    (S.SUBMITTED, S.FAILED, S.PENDING, S.SUBMITTED, S.CONFIRMING, S.FILLED),
    (S.SUBMITTED, S.FAILED, S.SUBMITTED, S.FAILED, S.CANCELLED),
    (S.FAILED, S.SUBMITTED, S.CONFIRMING, S.FAILED),
    (S.CANCELLED,),
)
"""Lifecycles the tasks follow; every step is a status change."""


POSITIONS = tuple(uuid4() for _ in range(50))
"""The positions exit orders close (orders_position_id_fkey: they must be stored first)."""


@pytest.fixture
async def repo(orders_committed_dsn: str) -> AsyncIterator[OrderRepository]:
    with psycopg.connect(orders_committed_dsn) as conn:
        conn.cursor().executemany("INSERT INTO walltrack.positions (id) VALUES (%s)", [(p,) for p in POSITIONS])
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(orders_committed_dsn, min_size=2, max_size=10, open=False)
    await pool.open(wait=True)
    try:
        yield OrderRepository(pool)
    finally:
        await pool.close()


def order(i: int, **changes: Any) -> Order:
    if i % 2:
        fields: dict[str, Any] = {
            "order_type": OrderType.EXIT, "side": OrderSide.SELL, "position_id": POSITIONS[i % len(POSITIONS)],
        }
    else:
        fields = {"order_type": OrderType.ENTRY, "side": OrderSide.BUY, "signal_id": f"sig-{i}"}
    fields.update(token_address=f"Tok{i:040d}", amount_sol=Decimal("0.5"), expected_price=Decimal("0.0001"),
                  is_simulated=bool(i % 3 == 0))
    return Order(**{**fields, **changes})


def step_changes(current: Order, status: OrderStatus) -> dict[str, Any]:
    changes: dict[str, Any] = {"status": status}
    if status is S.SUBMITTED:
        changes["attempt_count"] = current.attempt_count + 1
    elif status is S.FAILED:
        changes.update(last_error=f"attempt {current.attempt_count} failed",
                       next_retry_at=datetime.now(UTC) + timedelta(seconds=30))
    elif status is S.FILLED:
        changes.update(actual_price=Decimal("0.000101"), filled_at=datetime.now(UTC), tx_signature="tx")
    return changes


async def walk(repo: OrderRepository, i: int, path: tuple[OrderStatus, ...]) -> tuple[UUID, list[tuple[str, str]]]:
    """Create an order and move it along ``path``; return its id and the changes made."""
    current = await repo.create(order(i, max_attempts=5))
    changes = []
    for status in path:
        await asyncio.sleep(random.random() / 100)  # interleave the tasks
        updated = await repo.update(current.model_copy(update=step_changes(current, status)))
        changes.append((current.status.value, updated.status.value))
        current = updated
    return current.id, changes


def audit_rows(dsn: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT config_key, old_value, new_value, config_table, changed_by, reason"
            " FROM walltrack.config_audit_log ORDER BY changed_at, id"
        ).fetchall()


async def test_fifty_concurrent_lifecycles_leave_one_audit_row_per_status_change(
    repo: OrderRepository, orders_committed_dsn: str
) -> None:
    results = await asyncio.gather(*(walk(repo, i, PATHS[i % len(PATHS)]) for i in range(50)))
    expected = {str(order_id): changes for order_id, changes in results}
    rows = audit_rows(orders_committed_dsn)
    assert len(rows) == sum(len(c) for c in expected.values()) == 10 * sum(len(p) for p in PATHS)
    recorded: dict[str, list[tuple[str, str]]] = {}
    for key, old, new, table, changed_by, _reason in rows:
        assert (table, changed_by) == ("orders", "system")
        recorded.setdefault(key, []).append((old, new))
    assert recorded == expected  # per order, in the order they happened
    for order_id, _ in results:
        stored = await repo.get_by_id(order_id)
        assert stored is not None and stored.status.value == expected[str(order_id)][-1][1]
    finals = Counter(changes[-1][1] for changes in expected.values())
    assert finals == {"filled": 20, "cancelled": 20, "failed": 10}
    assert await repo.count_by_status() == {
        "pending": 0, "submitted": 0, "confirming": 0, "filled": 20, "failed": 10, "cancelled": 20,
    }
    assert_counts_exact(await repo.count_by_status(is_simulated=True), orders_committed_dsn, True)
    assert_counts_exact(await repo.count_by_status(is_simulated=False), orders_committed_dsn, False)


def assert_counts_exact(counts: dict[str, int], dsn: str, is_simulated: bool) -> None:
    """count_by_status (the trigger-kept summary) equals a count(*) over the orders."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT status, count(*) FROM walltrack.orders WHERE is_simulated = %s GROUP BY status",
            (is_simulated,),
        ).fetchall()
    assert {k: v for k, v in counts.items() if v} == dict(rows)
    assert sum(counts.values()) > 0


async def test_two_updates_from_the_same_stale_read_exactly_one_wins(
    repo: OrderRepository, orders_committed_dsn: str
) -> None:
    for round_ in range(20):
        read = await repo.create(order(round_))
        submit = read.model_copy(update={"status": S.SUBMITTED, "attempt_count": 1, "tx_signature": "A"})
        cancel = read.model_copy(update={"status": S.CANCELLED, "last_error": "user cancelled"})
        outcomes = await asyncio.gather(repo.update(submit), repo.update(cancel), return_exceptions=True)
        winners = [o for o in outcomes if isinstance(o, Order)]
        losers = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(winners) == 1 and len(losers) == 1, outcomes
        assert isinstance(losers[0], OrderConflictError), losers[0]
        assert await repo.get_by_id(read.id) == winners[0]
        rows = [r for r in audit_rows(orders_committed_dsn) if r[0] == str(read.id)]
        assert [(r[1], r[2]) for r in rows] == [("pending", winners[0].status.value)]
        # the loser wrote nothing: none of its values are stored
        if winners[0].status is S.SUBMITTED:
            assert winners[0].last_error is None
        else:
            assert winners[0].tx_signature is None and winners[0].attempt_count == 0


async def test_many_racers_on_one_order_exactly_one_wins(repo: OrderRepository, orders_committed_dsn: str) -> None:
    read = await repo.create(order(0))
    racers = [read.model_copy(update={"token_symbol": f"R{i}", "status": S.SUBMITTED, "attempt_count": 1})
              for i in range(20)]
    outcomes = await asyncio.gather(*(repo.update(r) for r in racers), return_exceptions=True)
    winners = [o for o in outcomes if isinstance(o, Order)]
    assert len(winners) == 1
    assert all(isinstance(o, OrderConflictError) for o in outcomes if not isinstance(o, Order))
    stored = await repo.get_by_id(read.id)
    assert stored == winners[0] and stored.token_symbol == winners[0].token_symbol
    assert len(audit_rows(orders_committed_dsn)) == 1
    assert await repo.count_by_status() == {
        "pending": 0, "submitted": 1, "confirming": 0, "filled": 0, "failed": 0, "cancelled": 0,
    }

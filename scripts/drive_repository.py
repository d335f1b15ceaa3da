#!/usr/bin/env python3
"""Drive OrderRepository end to end on a real PostgreSQL and check every answer.

    python scripts/drive_repository.py                 # a throwaway server, every version applied
    python scripts/drive_repository.py --dsn "host=... dbname=scratch"   # a database at head

With ``--dsn`` the database must be at head and its ``walltrack.orders`` empty (use a scratch
database): the script writes positions and orders, checks what the repository returns against what
it wrote and against plain SQL, then deletes its orders, their audit rows and its positions
(``--keep`` leaves them).

It prints one line per check and exits 1 when any check fails (2 when it cannot start).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
from psycopg_pool import AsyncConnectionPool

from orders_schema.live.apply import apply_files
from orders_schema.store.files import version_files
from orders_schema.tester.server import create_database, throwaway_server
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
)
from orders_schema.walltrack.orders.model import column_values
from orders_schema.walltrack.queries import CREATE

ROOT = Path(__file__).resolve().parent.parent
S = OrderStatus
UTC = timezone.utc
LIFECYCLES: tuple[tuple[OrderStatus, ...], ...] = (
    (S.SUBMITTED, S.CONFIRMING, S.FILLED),
    (S.SUBMITTED, S.FAILED, S.PENDING, S.SUBMITTED, S.CONFIRMING, S.FILLED),
    (S.SUBMITTED, S.FAILED, S.SUBMITTED, S.FAILED, S.CANCELLED),
    (S.FAILED, S.CANCELLED),
    (S.CANCELLED,),
)


class CheckFailed(AssertionError):
    pass


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


@dataclass
class Driver:
    """The repository under test, plain SQL to compare with, and every order the script made."""

    repo: OrderRepository
    dsn: str
    made: list[UUID] = field(default_factory=list)
    positions: list[UUID] = field(default_factory=list)

    def sql(self, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            cur = conn.execute(statement, params)
            return cur.fetchall() if cur.description else []

    def audit(self, order_id: UUID) -> list[tuple[str, str]]:
        rows = self.sql(
            "SELECT old_value, new_value FROM walltrack.config_audit_log"
            " WHERE config_table = 'orders' AND config_key = %s ORDER BY changed_at, id",
            (str(order_id),),
        )
        return [(old, new) for old, new in rows]

    def position(self) -> UUID:
        """A new row of walltrack.positions (orders may only name stored positions)."""
        position_id = uuid4()
        self.sql("INSERT INTO walltrack.positions (id) VALUES (%s)", (position_id,))
        self.positions.append(position_id)
        return position_id

    async def create(self, order: Order) -> Order:
        created = await self.repo.create(order)
        self.made.append(created.id)
        return created

    async def walk(self, order: Order, path: tuple[OrderStatus, ...], **last: Any) -> Order:
        """Create ``order`` and move it along ``path`` (``last`` goes with the last step)."""
        current = await self.create(order)
        for i, status in enumerate(path):
            changes: dict[str, Any] = {"status": status}
            if status is S.SUBMITTED:
                changes["attempt_count"] = current.attempt_count + 1
            if status is S.FAILED:
                changes["last_error"] = "rpc timeout"
            if status is S.FILLED:
                changes.update(actual_price=Decimal("0.000102"), filled_at=datetime.now(UTC), tx_signature="tx")
            if i == len(path) - 1:
                changes.update(last)
            await asyncio.sleep(random.random() / 200)
            current = await self.repo.update(current.model_copy(update=changes))
        return current


def entry(**changes: Any) -> Order:
    fields: dict[str, Any] = {
        "order_type": OrderType.ENTRY, "side": OrderSide.BUY, "signal_id": f"drive-{uuid4().hex[:8]}",
        "token_address": "So11111111111111111111111111111111111111112",
        "amount_sol": Decimal("1.5"), "expected_price": Decimal("0.0001"),
    }
    return Order(**{**fields, **changes})


def exit_order(position_id: UUID, **changes: Any) -> Order:
    return entry(order_type=OrderType.EXIT, side=OrderSide.SELL, signal_id=None, position_id=position_id,
                 **changes)


# ---------------------------------------------------------------------------------------------
# Checks: each returns a one-line summary of what it saw, or raises CheckFailed
# ---------------------------------------------------------------------------------------------


async def check_create_and_get_by_id(d: Driver) -> str:
    order = entry(created_at=datetime(2020, 1, 1, tzinfo=UTC))
    created = await d.create(order)
    expect(created.created_at == created.updated_at != order.created_at, "timestamps are not the database's")
    expect(created.status is S.PENDING and created.max_attempts == 3, "defaults differ")
    expect(await d.repo.get_by_id(order.id) == created, "get_by_id differs from what create returned")
    expect(await d.repo.get_by_id(uuid4()) is None, "get_by_id of an unknown id is not None")
    try:
        await d.repo.create(entry(status=S.FILLED))
        raise CheckFailed("creating a filled order was accepted")
    except InvalidTransitionError:
        pass
    return "create returns the stored row (database timestamps); unknown id -> None; new orders start pending"


async def check_get_by_signal_and_position(d: Driver) -> str:
    signal = f"drive-sig-{uuid4().hex[:8]}"
    await d.walk(entry(signal_id=signal), (S.CANCELLED,))
    latest = await d.create(entry(signal_id=signal))
    expect(await d.repo.get_by_signal(signal) == latest, "get_by_signal is not the latest order")
    expect(await d.repo.get_by_signal("drive-no-such-signal") is None, "unknown signal is not None")
    position = d.position()
    opened = await d.walk(entry(position_id=position), (S.SUBMITTED, S.CONFIRMING, S.FILLED))
    closing = await d.create(exit_order(position))
    both = [o.id for o in await d.repo.get_by_position(position)]
    expect(both == [closing.id, opened.id], f"get_by_position gave {both}")
    exits = [o.id for o in await d.repo.get_by_position(position, OrderType.EXIT)]
    expect(exits == [closing.id], f"get_by_position(EXIT) gave {exits}")
    expect(await d.repo.get_by_position(uuid4()) == [], "unknown position is not empty")
    return "get_by_signal -> the latest order or None; get_by_position newest first, by type, [] when none"


async def check_database_rejections(d: Driver) -> str:
    missing = uuid4()
    before = d.sql("SELECT count(*) FROM walltrack.orders")
    try:
        await d.create(exit_order(missing))
        raise CheckFailed("an exit order of a position that does not exist was stored")
    except OrderRejectedError as exc:
        expect((exc.sqlstate, exc.constraint) == ("23503", "orders_position_id_fkey"), f"rejected as {exc}")
        expect(str(missing) in str(exc) and "nothing was written" in str(exc), f"unclear error: {exc}")
    closing = await d.create(exit_order(d.position()))
    try:
        await d.repo.update(closing.model_copy(update={"position_id": missing, "status": S.CANCELLED}))
        raise CheckFailed("an update to a position that does not exist was stored")
    except OrderRejectedError as exc:
        expect(exc.sqlstate == "23503", f"rejected as {exc}")
    expect(await d.repo.get_by_id(closing.id) == closing, "a rejected update wrote something")
    expect(d.audit(closing.id) == [], "a rejected update wrote an audit row")
    refused = []
    for name, change in (("entry order without signal", {"signal_id": None}), ("sell entry order", {"side": "sell"}),
                         ("amount_sol of 0", {"amount_sol": 0}), ("attempt 4 of 3", {"attempt_count": 4})):
        values = {**column_values(entry()), **change}
        try:
            d.sql(CREATE.sql, values)  # the repository's INSERT, without the model's checks
        except psycopg.errors.CheckViolation as exc:
            refused.append(f"{name} ({exc.diag.constraint_name})")
            continue
        d.sql("DELETE FROM walltrack.orders WHERE id = %s", (values["id"],))
        raise CheckFailed(f"the database stored an {name}")
    expect(d.sql("SELECT count(*) FROM walltrack.orders") == [(before[0][0] + 1,)], "a refusal wrote a row")
    return ("missing position -> OrderRejectedError 23503 on create and update, nothing written; "
            f"SQL refused (23514): {', '.join(refused)}")


async def check_lifecycle_and_audit(d: Driver) -> str:
    order = await d.walk(entry(), (S.SUBMITTED, S.FAILED, S.PENDING, S.SUBMITTED, S.CONFIRMING, S.FILLED))
    changes = [("pending", "submitted"), ("submitted", "failed"), ("failed", "pending"),
               ("pending", "submitted"), ("submitted", "confirming"), ("confirming", "filled")]
    expect(d.audit(order.id) == changes, f"audit rows {d.audit(order.id)}")
    try:
        await d.repo.update(order.model_copy(update={"status": S.PENDING}))
        raise CheckFailed("filled -> pending was accepted")
    except InvalidTransitionError as exc:
        expect(str(order.id) in str(exc) and "'filled'" in str(exc), f"unclear error: {exc}")
    expect(await d.repo.get_by_id(order.id) == order, "a forbidden transition wrote something")
    expect(len(d.audit(order.id)) == 6, "a forbidden transition wrote an audit row")
    try:
        await d.repo.update(entry())
        raise CheckFailed("updating a missing order was accepted")
    except OrderNotFoundError:
        pass
    return "6 status changes -> 6 audit rows; filled -> pending refused, nothing written; missing -> not found"


async def check_stale_updates(d: Driver) -> str:
    read = await d.create(entry())
    winner = await d.repo.update(read.model_copy(update={"status": S.SUBMITTED, "attempt_count": 1}))
    try:
        await d.repo.update(read.model_copy(update={"status": S.CANCELLED}))
        raise CheckFailed("an update from a stale read was accepted")
    except OrderConflictError:
        pass
    expect(await d.repo.get_by_id(read.id) == winner, "the stale update wrote something")
    wins = 0
    for _ in range(10):
        read = await d.create(entry())
        outcomes = await asyncio.gather(
            d.repo.update(read.model_copy(update={"status": S.SUBMITTED, "attempt_count": 1})),
            d.repo.update(read.model_copy(update={"status": S.CANCELLED})),
            return_exceptions=True,
        )
        won = [o for o in outcomes if isinstance(o, Order)]
        lost = [o for o in outcomes if not isinstance(o, Order)]
        expect(len(won) == 1 and all(isinstance(e, OrderConflictError) for e in lost), f"outcomes {outcomes}")
        expect(await d.repo.get_by_id(read.id) == won[0], "the stored order is not the winner")
        expect(d.audit(read.id) == [("pending", won[0].status.value)], "audit rows are not the winner's alone")
        wins += 1
    return f"stale update -> OrderConflictError; {wins} concurrent pairs from one read: exactly one won each"


async def check_concurrent_lifecycles(d: Driver) -> str:
    tasks = [d.walk(entry(max_attempts=5), LIFECYCLES[i % len(LIFECYCLES)]) for i in range(50)]
    orders = await asyncio.gather(*tasks)
    total = 0
    for i, order in enumerate(orders):
        path = LIFECYCLES[i % len(LIFECYCLES)]
        statuses = ["pending", *(s.value for s in path)]
        expected = list(itertools.pairwise(statuses))
        expect(d.audit(order.id) == expected, f"order {order.id}: audit {d.audit(order.id)} != {expected}")
        total += len(expected)
    return f"50 concurrent lifecycles: {total} status changes, {total} audit rows, each in order"


async def check_pending_retries(d: Driver) -> str:
    now = datetime.now(UTC)
    before = {o.id for o in await d.repo.get_pending_retries(limit=1000)}
    due = await d.walk(entry(), (S.FAILED,), next_retry_at=now - timedelta(minutes=3))
    generous = await d.walk(entry(max_attempts=5, attempt_count=3), (S.FAILED,),
                            next_retry_at=now - timedelta(minutes=2))
    spent = await d.walk(entry(max_attempts=2, attempt_count=2), (S.FAILED,), next_retry_at=now - timedelta(minutes=1))
    later = await d.walk(entry(), (S.FAILED,), next_retry_at=now + timedelta(hours=1))
    found = [o.id for o in await d.repo.get_pending_retries(limit=1000) if o.id not in before]
    expect(found == [due.id, generous.id], f"get_pending_retries gave {found}")
    expect(spent.id not in found and later.id not in found, "an exhausted or future retry was returned")
    return "get_pending_retries: due first, honours each max_attempts (3 of 5 in, 2 of 2 out), not before due"


async def check_active_history_and_counts(d: Driver) -> str:
    by_sql = dict(d.sql("SELECT status, count(*) FROM walltrack.orders GROUP BY status"))
    counts = await d.repo.count_by_status()
    expect({k: v for k, v in counts.items() if v} == by_sql, f"count_by_status {counts} != SQL {by_sql}")
    for simulated in (True, False):
        by_sql_mode = dict(d.sql("SELECT status, count(*) FROM walltrack.orders WHERE is_simulated = %s"
                                 " GROUP BY status", (simulated,)))
        mode = await d.repo.count_by_status(is_simulated=simulated)
        expect({k: v for k, v in mode.items() if v} == by_sql_mode, f"count_by_status({simulated}) differs")
    active = await d.repo.get_active_orders(limit=10_000)
    active_sql = {row[0] for row in d.sql("SELECT id FROM walltrack.orders"
                                          " WHERE status NOT IN ('filled', 'cancelled')")}
    expect({o.id for o in active} == active_sql, "get_active_orders differs from SQL")
    expect([o.created_at for o in active] == sorted((o.created_at for o in active), reverse=True), "not newest first")
    simulated_order = await d.create(entry(is_simulated=True))
    sim = await d.repo.get_active_orders(is_simulated=True)
    expect([o.id for o in sim] == [simulated_order.id], f"get_active_orders(is_simulated=True) gave {sim}")
    everything = await d.repo.get_history(limit=10_000)
    pages = [o.id for offset in range(0, len(everything) + 7, 7)
             for o in await d.repo.get_history(limit=7, offset=offset)]
    expect(pages == [o.id for o in everything], "pages of 7 differ from the whole history")
    expect(len(set(pages)) == len(everything) == len(d.made), f"history has {len(everything)} of {len(d.made)}")
    failed = await d.repo.get_history(status=S.FAILED, order_type=OrderType.ENTRY, limit=10_000)
    failed_sql = d.sql("SELECT count(*) FROM walltrack.orders WHERE status = 'failed' AND order_type = 'entry'")
    expect(len(failed) == failed_sql[0][0], "get_history(status, order_type) differs from SQL")
    newest = everything[0].created_at
    window = await d.repo.get_history(start_date=newest, end_date=newest)
    expect(bool(window) and all(o.created_at == newest for o in window), "get_history date bounds are not inclusive")
    expect(await d.repo.get_history(start_date=newest + timedelta(seconds=1)) == [], "future history not empty")
    return (f"count_by_status = SQL (all, simulated, real); {len(active)} active = SQL; "
            f"history of {len(everything)} = {len(pages)} rows in pages of 7; filters and dates agree")


CHECKS: tuple[Callable[[Driver], Awaitable[str]], ...] = (
    check_create_and_get_by_id,
    check_get_by_signal_and_position,
    check_database_rejections,
    check_lifecycle_and_audit,
    check_stale_updates,
    check_concurrent_lifecycles,
    check_pending_retries,
    check_active_history_and_counts,
)


async def drive(dsn: str, keep: bool) -> int:
    """Run every check; return the number that failed."""
    failures = 0
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(dsn, min_size=2, max_size=10, open=False)
    await pool.open(wait=True, timeout=30)
    driver = Driver(OrderRepository(pool), dsn)
    try:
        for check in CHECKS:
            started = time.perf_counter()
            try:
                summary = await check(driver)
                print(f"ok    {check.__name__}: {summary} ({time.perf_counter() - started:.2f}s)")
            except Exception as exc:  # report every check, not just the first failure
                failures += 1
                print(f"FAIL  {check.__name__}: {type(exc).__name__}: {exc}")
                traceback.print_exc(limit=3, file=sys.stderr)
    finally:
        await pool.close()
        if not keep and driver.made:
            keys = [str(i) for i in driver.made]
            driver.sql("DELETE FROM walltrack.config_audit_log WHERE config_table = 'orders'"
                       " AND config_key = ANY(%s)", (keys,))
            driver.sql("DELETE FROM walltrack.orders WHERE id = ANY(%s)", (driver.made,))
        if not keep and driver.positions:
            driver.sql("DELETE FROM walltrack.positions WHERE id = ANY(%s)", (driver.positions,))
    return failures


def _orders_in(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM walltrack.orders").fetchone()
        return int(row[0]) if row else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dsn", help="a scratch database at head (default: start a throwaway server)")
    parser.add_argument("--keep", action="store_true", help="leave the orders written (with --dsn)")
    parser.add_argument("--pg", default=None, help="throwaway server: system, embedded or a major version")
    args = parser.parse_args(argv)
    random.seed(10_5_2)
    if args.dsn:
        try:
            existing = _orders_in(args.dsn)
        except psycopg.Error as exc:
            print(f"cannot use {args.dsn!r}: {exc}", file=sys.stderr)
            return 2
        if existing:
            print(f"walltrack.orders holds {existing} rows: point --dsn at a scratch database", file=sys.stderr)
            return 2
        print(f"driving OrderRepository on {args.dsn}")
        failures = asyncio.run(drive(args.dsn, args.keep))
    else:
        with throwaway_server(args.pg) as server:
            create_database(server.dsn(), "drive_repository")
            dsn = server.dsn("drive_repository")
            files = version_files(ROOT / "schema")
            with psycopg.connect(dsn) as conn:
                apply_files(conn, files)
                conn.commit()
            print(f"driving OrderRepository on a throwaway PostgreSQL with {', '.join(f.path.name for f in files)}")
            failures = asyncio.run(drive(dsn, keep=True))
    print(f"{len(CHECKS) - failures} of {len(CHECKS)} checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

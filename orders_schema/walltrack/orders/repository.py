"""``OrderRepository``: the story's nine methods on psycopg 3, with the story's bugs fixed.

Every statement comes from :mod:`orders_schema.walltrack.queries` and is executed as declared,
values bound as parameters. Statements are executed unprepared (``prepare=False``): the optional
filters (``%(x)s IS NULL OR col = %(x)s``) rely on a custom plan per execution, which folds the
unused filters away so the index still serves the query; a cached generic plan could not.

The database owns ``created_at`` and ``updated_at`` (``now()`` and the ``trg_orders_updated``
trigger): ``create`` and ``update`` return the order as stored. Status changes are audited by the
``trg_orders_status_audit`` trigger (one ``config_audit_log`` row per change); the repository
writes no audit rows itself.

The database enforces the order's rules too (CHECK constraints, and ``position_id`` must name a
stored position). The model checks all but the last before any SQL; what the database still
refuses is raised as :class:`OrderRejectedError`, naming the constraint and the SQLSTATE.

Every argument is checked at method entry (:mod:`.validation`): a wrong type, text the database
cannot hold, a value out of range raises :class:`~.validation.OrderValidationError` naming the
method and the argument, before any SQL, never a raw driver error.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection, errors
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from orders_schema.declare.model import Query
from orders_schema.walltrack import queries as q
from orders_schema.walltrack.orders.lifecycle import OrderStatus, check_new, check_transition
from orders_schema.walltrack.orders.model import Order, OrderType, column_values
from orders_schema.walltrack.orders.validation import (
    OrderValidationError,
    count_argument,
    enum_argument,
    flag_argument,
    moment_argument,
    order_argument,
    text_argument,
    uuid_argument,
)


class OrderConflictError(RuntimeError):
    """The order changed since it was read (its ``updated_at`` moved on); nothing was written.

    Read it again (``get_by_id``), re-apply the change, and update again.
    """

    def __init__(self, order_id: UUID, expected_updated_at: datetime, stored_updated_at: datetime | None) -> None:
        self.order_id = order_id
        self.expected_updated_at = expected_updated_at
        self.stored_updated_at = stored_updated_at
        stored = "unknown" if stored_updated_at is None else stored_updated_at.isoformat()
        super().__init__(
            f"order {order_id} changed since it was read: expected updated_at "
            f"{expected_updated_at.isoformat()}, stored {stored}; nothing was written"
        )


class OrderNotFoundError(LookupError):
    """``update`` of an order that is not stored; nothing was written."""

    def __init__(self, order_id: UUID) -> None:
        self.order_id = order_id
        super().__init__(f"order {order_id} does not exist; nothing was written")


class OrderRejectedError(ValueError):
    """The database refused the order; nothing was written.

    Raised by ``create`` and ``update`` for

    * SQLSTATE ``23503`` (foreign_key_violation): ``position_id`` names no row of
      ``walltrack.positions`` (constraint ``orders_position_id_fkey``); the model cannot know this;
    * SQLSTATE ``23514`` (check_violation): a CHECK constraint of ``walltrack.orders`` (the model
      checks the same rules first, so this means the model and the schema disagree).

    ``sqlstate``, ``constraint`` (the constraint's name) and ``detail`` (the server's DETAIL) say
    which rule; the psycopg error is the ``__cause__``. Other database errors (a duplicate ``id``
    is psycopg's ``UniqueViolation``, SQLSTATE 23505) are not wrapped.
    """

    def __init__(self, order_id: UUID, error: errors.IntegrityError) -> None:
        diag = error.diag
        self.order_id = order_id
        self.sqlstate: str | None = diag.sqlstate
        self.constraint: str | None = diag.constraint_name
        self.detail: str | None = diag.message_detail
        what = diag.message_primary or str(error)
        # A check's DETAIL dumps the whole row; a foreign key's names the missing key, worth saying.
        detail = f": {self.detail.rstrip('.')}" if self.detail and self.sqlstate == "23503" else ""
        super().__init__(
            f"order {order_id} rejected by the database: {what} (SQLSTATE {self.sqlstate}){detail}; "
            "nothing was written"
        )


@contextmanager
def _rejections(order_id: UUID) -> Iterator[None]:
    """Turn the database's refusal of an order's content into :class:`OrderRejectedError`."""
    try:
        yield
    except (errors.CheckViolation, errors.ForeignKeyViolation) as exc:
        raise OrderRejectedError(order_id, exc) from exc


class OrderRepository:
    """Orders in ``walltrack.orders``, through a ``psycopg_pool.AsyncConnectionPool``.

    Each method runs in its own transaction on a connection borrowed from the pool. Every method
    checks its arguments first and raises :class:`~.validation.OrderValidationError` (a
    ``ValueError``) for a wrong one, naming the method and the argument; nothing is sent.
    """

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        if not isinstance(pool, AsyncConnectionPool):
            raise OrderValidationError(
                "OrderRepository", "pool", f"must be a psycopg_pool.AsyncConnectionPool, got {type(pool).__name__}",
                pool,
            )
        self._pool = pool

    # -- writes ------------------------------------------------------------------------------

    async def create(self, order: Order) -> Order:
        """Store a new order (it must be ``pending``) and return it as stored.

        ``created_at`` and ``updated_at`` are the database's ``now()``, whatever ``order`` says.
        Raises :class:`~.validation.OrderValidationError` for an invalid order (one changed with
        ``model_copy`` into something ``Order`` refuses, or not an ``Order``; its ``__cause__`` is
        pydantic's ``ValidationError``), :class:`~.lifecycle.InvalidTransitionError` for one that
        is not ``pending`` and :class:`OrderRejectedError` when the database refuses it (e.g. its
        ``position_id`` names no stored position).
        """
        checked = order_argument("create", order)
        check_new(checked)
        with _rejections(checked.id):
            async with self._pool.connection() as conn:
                row = await _one(conn, q.CREATE, column_values(checked))
        assert row is not None, "an insert with RETURNING returns its row"
        return row

    async def update(self, order: Order) -> Order:
        """Store ``order`` (read earlier, then changed with ``model_copy``); return it as stored.

        In one transaction: lock the stored row, then refuse, writing nothing, when

        * it does not exist: :class:`OrderNotFoundError`;
        * it changed since ``order`` was read (``updated_at`` differs): :class:`OrderConflictError`;
        * the lifecycle forbids going from the *stored* status to ``order.status``:
          :class:`~.lifecycle.InvalidTransitionError`;

        and otherwise write every column but ``id`` and ``created_at`` with
        ``WHERE id = ... AND updated_at = <read value>``; the database may still refuse the
        row: :class:`OrderRejectedError`. An invalid ``order``:
        :class:`~.validation.OrderValidationError`, before any SQL.
        """
        checked = order_argument("update", order)
        params = {**column_values(checked), "expected_updated_at": checked.updated_at}
        with _rejections(checked.id):
            async with self._pool.connection() as conn, conn.transaction():
                stored = await _one(conn, q.LOCK_FOR_UPDATE, {"id": checked.id})
                if stored is None:
                    raise OrderNotFoundError(checked.id)
                if stored.updated_at != checked.updated_at:
                    raise OrderConflictError(checked.id, checked.updated_at, stored.updated_at)
                check_transition(stored, checked)
                written = await _one(conn, q.UPDATE, params)
                if written is None:  # not while we hold the row lock; kept so a change here stays safe
                    raise OrderConflictError(checked.id, checked.updated_at, None)
        return written

    # -- lookups -----------------------------------------------------------------------------

    async def get_by_id(self, order_id: UUID) -> Order | None:
        """The order with this id, or ``None``. ``order_id``: a ``UUID`` (or its string form)."""
        order_id = uuid_argument("get_by_id", "order_id", order_id)
        return await self._first(q.GET_BY_ID, {"id": order_id})

    async def get_by_signal(self, signal_id: str) -> Order | None:
        """The signal's most recent order, or ``None``."""
        signal_id = text_argument("get_by_signal", "signal_id", signal_id)
        return await self._first(q.GET_BY_SIGNAL, {"signal_id": signal_id})

    async def get_by_position(self, position_id: UUID, order_type: OrderType | None = None) -> list[Order]:
        """The position's orders (optionally of one type), newest first."""
        position_id = uuid_argument("get_by_position", "position_id", position_id)
        kind = enum_argument("get_by_position", "order_type", OrderType, order_type)
        return await self._all(q.GET_BY_POSITION, {"position_id": position_id, "order_type": kind})

    async def get_pending_retries(self, limit: int = 50) -> list[Order]:
        """Failed orders whose ``next_retry_at`` has come (by the database's clock) and that have
        attempts left (``attempt_count < max_attempts``, each order its own limit); due first."""
        return await self._all(q.GET_PENDING_RETRIES, {"limit": count_argument("get_pending_retries", "limit", limit)})

    async def get_active_orders(self, is_simulated: bool | None = None, limit: int = 100) -> list[Order]:
        """Orders that are neither filled nor cancelled, newest first."""
        is_simulated = flag_argument("get_active_orders", "is_simulated", is_simulated)
        limit = count_argument("get_active_orders", "limit", limit)
        return await self._all(q.GET_ACTIVE_ORDERS, {"is_simulated": is_simulated, "limit": limit})

    async def get_history(
        self,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        order_type: OrderType | None = None,
        status: OrderStatus | None = None,
        is_simulated: bool | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Order]:
        """Orders created in ``[start_date, end_date]`` (both inclusive, each optional) matching
        the given filters, newest first (ties by id), one page of ``limit`` after ``offset``."""
        m = "get_history"
        params = {
            "start_date": moment_argument(m, "start_date", start_date),
            "end_date": moment_argument(m, "end_date", end_date),
            "order_type": enum_argument(m, "order_type", OrderType, order_type),
            "status": enum_argument(m, "status", OrderStatus, status),
            "is_simulated": flag_argument(m, "is_simulated", is_simulated),
            "limit": count_argument(m, "limit", limit),
            "offset": count_argument(m, "offset", offset),
        }
        return await self._all(q.GET_HISTORY, params)

    async def count_by_status(self, is_simulated: bool | None = None) -> dict[str, int]:
        """Orders per status value, over every order type (and both modes unless filtered).

        Every status is a key, with 0 when no order has it.
        """
        is_simulated = flag_argument("count_by_status", "is_simulated", is_simulated)
        counts = dict.fromkeys((s.value for s in OrderStatus), 0)
        async with self._pool.connection() as conn:
            cur = await conn.execute(q.COUNT_BY_STATUS.sql, {"is_simulated": is_simulated}, prepare=False)
            for status, count in await cur.fetchall():
                counts[status] = int(count)
        return counts

    # -- helpers -----------------------------------------------------------------------------

    async def _first(self, query: Query, params: Mapping[str, Any]) -> Order | None:
        async with self._pool.connection() as conn:
            return await _one(conn, query, params)

    async def _all(self, query: Query, params: Mapping[str, Any]) -> list[Order]:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(query.sql, params, prepare=False)
            return [Order.model_validate(row) for row in await cur.fetchall()]


async def _one(conn: AsyncConnection[Any], query: Query, params: Mapping[str, Any]) -> Order | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(query.sql, params, prepare=False)
    row = await cur.fetchone()
    return None if row is None else Order.model_validate(row)


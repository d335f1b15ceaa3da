"""Every statement ``OrderRepository`` sends, declared beside the index that must serve it.

One source of truth: the repository executes these texts as declared (psycopg named placeholders
``%(name)s``, every value bound, never formatted into the text), and the migration tester EXPLAINs
each one with its ``example`` parameters on realistic data (:mod:`.synthetic`) and asserts that
``uses_index`` is in the plan (or, for ``served_by_table``, that the plan reads that small table
and nothing else).

Conventions:

* Optional filters are written ``(%(x)s::type IS NULL OR col = %(x)s)`` so one statement covers
  every filter combination. The repository executes them unprepared (``prepare=False``), so every
  execution gets a custom plan in which PostgreSQL folds the ``NULL IS NULL`` branches away and
  still picks the index; a cached generic plan could not.
* Columns are listed by name, never ``*``: a version that adds a column does not break a
  repository deployed before it (expand, then contract).
* Lists are ordered by ``created_at DESC`` (the indexes' order) and then ``id``, so ties are
  ordered too and LIMIT/OFFSET pages neither repeat nor skip rows.
* Time comes from the database (``now()``), never from the client's clock.
"""

from __future__ import annotations

from orders_schema.declare.model import Query

ORDER_COLUMNS = """id, order_type, side, signal_id, position_id, token_address, token_symbol,
    amount_sol, amount_tokens, expected_price, actual_price, max_slippage_bps, status,
    tx_signature, filled_at, attempt_count, max_attempts, last_error, next_retry_at,
    is_simulated, created_at, updated_at"""
"""Every column of ``walltrack.orders``, in table order (``Order``'s fields; a test checks both)."""

_ID = "2f1a4c9e-0b7d-4d53-9a43-6c1e8f0b2d11"
_POSITION = "10c8bc67-ed22-f719-7341-bfe00a52a6d4"  # md5('pos-1'): a position of the synthetic data
_WHEN = "2026-01-01T00:00:00+00:00"

_ROW_EXAMPLE: dict[str, str | int | bool | None] = {
    "id": _ID,
    "order_type": "entry",
    "side": "buy",
    "signal_id": "sig-1",
    "position_id": None,
    "token_address": "Tok0000000000000000000000000000000000000001",
    "token_symbol": "T1",
    "amount_sol": "1.5",
    "amount_tokens": None,
    "expected_price": "0.0001",
    "actual_price": None,
    "max_slippage_bps": 100,
    "status": "pending",
    "tx_signature": None,
    "filled_at": None,
    "attempt_count": 0,
    "max_attempts": 3,
    "last_error": None,
    "next_retry_at": None,
    "is_simulated": False,
}

CREATE = Query(
    name="create",
    sql="""INSERT INTO walltrack.orders (
    id, order_type, side, signal_id, position_id, token_address, token_symbol,
    amount_sol, amount_tokens, expected_price, actual_price, max_slippage_bps, status,
    tx_signature, filled_at, attempt_count, max_attempts, last_error, next_retry_at, is_simulated
) VALUES (
    %(id)s, %(order_type)s, %(side)s, %(signal_id)s, %(position_id)s, %(token_address)s, %(token_symbol)s,
    %(amount_sol)s, %(amount_tokens)s, %(expected_price)s, %(actual_price)s, %(max_slippage_bps)s, %(status)s,
    %(tx_signature)s, %(filled_at)s, %(attempt_count)s, %(max_attempts)s, %(last_error)s, %(next_retry_at)s,
    %(is_simulated)s
)
RETURNING """ + ORDER_COLUMNS,
    example=_ROW_EXAMPLE,
    uses_index=None,  # an INSERT reads no index; created_at and updated_at take the table's now()
)

LOCK_FOR_UPDATE = Query(
    name="lock_for_update",
    sql="SELECT " + ORDER_COLUMNS + """
FROM walltrack.orders
WHERE id = %(id)s
FOR UPDATE""",
    example={"id": _ID},
    uses_index="orders_pkey",
)
"""``update`` reads the stored order under a row lock to check the lifecycle and the version."""

UPDATE = Query(
    name="update",
    sql="""UPDATE walltrack.orders SET
    order_type = %(order_type)s, side = %(side)s, signal_id = %(signal_id)s,
    position_id = %(position_id)s, token_address = %(token_address)s, token_symbol = %(token_symbol)s,
    amount_sol = %(amount_sol)s, amount_tokens = %(amount_tokens)s,
    expected_price = %(expected_price)s, actual_price = %(actual_price)s,
    max_slippage_bps = %(max_slippage_bps)s, status = %(status)s,
    tx_signature = %(tx_signature)s, filled_at = %(filled_at)s,
    attempt_count = %(attempt_count)s, max_attempts = %(max_attempts)s,
    last_error = %(last_error)s, next_retry_at = %(next_retry_at)s, is_simulated = %(is_simulated)s
WHERE id = %(id)s AND updated_at = %(expected_updated_at)s
RETURNING """ + ORDER_COLUMNS,
    example={**_ROW_EXAMPLE, "status": "submitted", "attempt_count": 1, "expected_updated_at": _WHEN},
    uses_index="orders_pkey",
)
"""Optimistic concurrency: no row when the order changed since it was read (the trigger
``trg_orders_updated`` sets ``updated_at``; ``created_at`` is never rewritten)."""

GET_BY_ID = Query(
    name="get_by_id",
    sql="SELECT " + ORDER_COLUMNS + """
FROM walltrack.orders
WHERE id = %(id)s""",
    example={"id": _ID},
    uses_index="orders_pkey",
)

GET_BY_SIGNAL = Query(
    name="get_by_signal",
    sql="SELECT " + ORDER_COLUMNS + """
FROM walltrack.orders
WHERE signal_id = %(signal_id)s
ORDER BY created_at DESC, id DESC
LIMIT 1""",
    example={"signal_id": "sig-1"},
    uses_index="idx_orders_signal",
)
"""The signal's latest order (a signal whose first entry order was cancelled may have more)."""

GET_BY_POSITION = Query(
    name="get_by_position",
    sql="SELECT " + ORDER_COLUMNS + """
FROM walltrack.orders
WHERE position_id = %(position_id)s
  AND (%(order_type)s::text IS NULL OR order_type = %(order_type)s)
ORDER BY created_at DESC, id DESC""",
    example={"position_id": _POSITION, "order_type": None},
    uses_index="idx_orders_position",
)

GET_PENDING_RETRIES = Query(
    name="get_pending_retries",
    sql="SELECT " + ORDER_COLUMNS + """
FROM walltrack.orders
WHERE status = 'failed'
  AND next_retry_at <= now()
  AND attempt_count < max_attempts
ORDER BY next_retry_at, id
LIMIT %(limit)s""",
    example={"limit": 50},
    # idx_orders_retry_due (next_retry_at) WHERE status = 'failed' AND next_retry_at IS NOT NULL AND
    # attempt_count < max_attempts was designed for exactly this predicate: the WHERE proves the
    # index's predicate, next_retry_at <= now() is its Index Cond, and the rows come in next_retry_at
    # order (only id, for ties, is sorted). Synthetic data, PostgreSQL 15: an Index Scan of it at
    # 20 000 orders (est. 21 rows, 800 due; cost 9.2) and at 200 000 (Incremental Sort under the
    # LIMIT; cost 7.8); the plan never reads a row that is not due.
    uses_index="idx_orders_retry_due",
)
"""Failed orders due for a retry by the database's clock, each within its own ``max_attempts``.

``next_retry_at <= now()`` implies ``next_retry_at IS NOT NULL`` (the operator is strict), so
idx_orders_retry_due's predicate is proved without repeating it; repeating it would make the planner
count the same rows out twice."""

GET_ACTIVE_ORDERS = Query(
    name="get_active_orders",
    sql="SELECT " + ORDER_COLUMNS + """
FROM walltrack.orders
WHERE status NOT IN ('filled', 'cancelled')
  AND (%(is_simulated)s::boolean IS NULL OR is_simulated = %(is_simulated)s)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s""",
    example={"is_simulated": None, "limit": 100},
    uses_index="idx_orders_active",
)
"""Non-terminal orders; the WHERE repeats ``idx_orders_active``'s predicate so the index applies."""

GET_HISTORY = Query(
    name="get_history",
    sql="SELECT " + ORDER_COLUMNS + """
FROM walltrack.orders
WHERE (%(start_date)s::timestamptz IS NULL OR created_at >= %(start_date)s)
  AND (%(end_date)s::timestamptz IS NULL OR created_at <= %(end_date)s)
  AND (%(order_type)s::text IS NULL OR order_type = %(order_type)s)
  AND (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(is_simulated)s::boolean IS NULL OR is_simulated = %(is_simulated)s)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s OFFSET %(offset)s""",
    example={
        "start_date": None, "end_date": None, "order_type": None, "status": None,
        "is_simulated": None, "limit": 100, "offset": 0,
    },
    uses_index="idx_orders_created",
)

COUNT_BY_STATUS = Query(
    name="count_by_status",
    sql="""SELECT status, sum(n)::bigint AS count
FROM (
    SELECT status, order_count AS n
    FROM walltrack.order_settled_counts
    WHERE (%(is_simulated)s::boolean IS NULL OR is_simulated = %(is_simulated)s)
    UNION ALL
    SELECT status, count(*) AS n
    FROM walltrack.orders
    WHERE status IN ('pending', 'submitted', 'confirming')
      AND (%(is_simulated)s::boolean IS NULL OR is_simulated = %(is_simulated)s)
    GROUP BY status
) AS counted
GROUP BY status""",
    example={"is_simulated": None},
    # Settled orders (filled, cancelled, failed: the history) come from order_settled_counts, kept
    # exact by the trg_orders_settled_* triggers: at most 2 modes x 3 statuses x 32 slots, whatever
    # the size of walltrack.orders. Open orders (pending, submitted, confirming) are counted from
    # idx_orders_open, a partial index of the orders in flight only, read index-only; a new order
    # therefore updates no counter (docs/decisions.md, "Write speed").
    uses_index="idx_orders_open",
)
"""Orders per status (a settled key whose orders all moved on may keep rows that sum to 0; an open
status with no order is absent)."""

QUERIES: tuple[Query, ...] = (
    CREATE,
    LOCK_FOR_UPDATE,
    UPDATE,
    GET_BY_ID,
    GET_BY_SIGNAL,
    GET_BY_POSITION,
    GET_PENDING_RETRIES,
    GET_ACTIVE_ORDERS,
    GET_HISTORY,
    COUNT_BY_STATUS,
)
"""The application's statements, in the repository's order; ``PROJECT.queries``."""

__all__ = [
    "COUNT_BY_STATUS",
    "CREATE",
    "GET_ACTIVE_ORDERS",
    "GET_BY_ID",
    "GET_BY_POSITION",
    "GET_BY_SIGNAL",
    "GET_HISTORY",
    "GET_PENDING_RETRIES",
    "LOCK_FOR_UPDATE",
    "ORDER_COLUMNS",
    "QUERIES",
    "UPDATE",
]

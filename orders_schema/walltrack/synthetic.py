"""Realistic synthetic WallTrack data, for EXPLAIN checks and benchmarks.

Shape (per ``%(rows)s`` orders): 60 % entry orders (buy, with a signal), 40 % exit orders (sell,
with a position); 10 % simulated; created over the last 365 days; 2 000 tokens. The newest
``OPEN_ORDERS`` orders (200; a hundredth of the load when it is smaller than 20 000 orders) are still in
flight (pending / submitted / confirming in turn); the history before them is settled: 87 % filled,
5 % cancelled, 8 % failed (half of them waiting for a retry, attempts below their limit). The open
orders are a fixed number, not a share of the history: a bot has as many orders in flight as its
activity allows (a few per token it trades), however long it has been running; a share of the
history would make them grow without bound, which production never sees (docs/decisions.md, "Write
speed"). Every row satisfies the story's constraints and the
stricter ones of later versions (positive amounts and prices, attempts within limits, entry/exit
consistency, positions that exist).

Every key the statements make carries ``%(run)s``, a token unique to the load
(:func:`orders_schema.declare.project.synthetic_parameters`): signal ids are ``sig-<run>-<n>``, position
ids ``md5('<run>-pos-<n>')``, order ids come from the table's default. A load therefore never
collides with rows already in the database, a real ``sig-1`` or an earlier load's rows alike (the
tester loads it into live databases, inside a transaction it rolls back).
"""

from __future__ import annotations

OPEN_ORDERS = 200
"""Orders in flight in a synthetic load of at least 20 000 orders, whatever its size."""

_SCRIPT = """
INSERT INTO walltrack.signals (id, score, created_at)
SELECT 'sig-' || %(run)s || '-' || g, round((random() * 100)::numeric, 4), now() - random() * interval '365 days'
FROM generate_series(1, greatest(1, %(rows)s * 6 / 10)) AS g;

INSERT INTO walltrack.positions (id, entry_price, entry_amount_sol, created_at)
SELECT md5(%(run)s || '-pos-' || g)::uuid, round((random() * 0.01 + 0.000001)::numeric, 12),
       round((random() * 10 + 0.01)::numeric, 8), now() - random() * interval '365 days'
FROM generate_series(1, greatest(1, %(rows)s * 4 / 10)) AS g;

INSERT INTO walltrack.orders (
    order_type, side, signal_id, position_id, token_address, token_symbol,
    amount_sol, amount_tokens, expected_price, actual_price, max_slippage_bps,
    status, tx_signature, filled_at, attempt_count, max_attempts, last_error, next_retry_at,
    is_simulated, created_at, updated_at
)
SELECT
    CASE WHEN is_entry THEN 'entry' ELSE 'exit' END,
    CASE WHEN is_entry THEN 'buy' ELSE 'sell' END,
    CASE WHEN is_entry THEN 'sig-' || %(run)s || '-' || (1 + (g * 6 / 10) %% greatest(1, %(rows)s * 6 / 10)) END,
    CASE WHEN is_entry THEN NULL ELSE md5(%(run)s || '-pos-' || (1 + g %% greatest(1, %(rows)s * 4 / 10)))::uuid END,
    'Tok' || lpad((g %% 2000)::text, 40, '0'),
    'T' || (g %% 2000),
    round((random() * 5 + 0.01)::numeric, 8),
    round((random() * 1000000 + 1)::numeric, 8),
    price,
    CASE WHEN status = 'filled' THEN round(price * (1 + ((random() - 0.5) / 50)::numeric), 12) END,
    100,
    status,
    CASE WHEN status IN ('filled', 'confirming') THEN md5(g::text) || md5((g + 1)::text) END,
    CASE WHEN status = 'filled' THEN created + interval '3 seconds' * (1 + random() * 10) END,
    CASE WHEN status = 'failed' THEN 1 + (g %% 2) WHEN status = 'filled' THEN 1 ELSE 0 END,
    3,
    CASE WHEN status = 'failed' THEN 'rpc timeout' END,
    CASE WHEN status = 'failed' AND g %% 2 = 0 THEN created + interval '30 seconds' END,
    (g / 7) %% 10 = 0,
    created,
    created
FROM (
    SELECT
        g,
        (g / 100) %% 10 < 6 AS is_entry,
        round((random() * 0.01 + 0.000001)::numeric, 12) AS price,
        CASE
            WHEN g > %(rows)s - least({open}, greatest(1, %(rows)s / 100)) THEN
                CASE g %% 3 WHEN 0 THEN 'pending' WHEN 1 THEN 'submitted' ELSE 'confirming' END
            WHEN g %% 100 < 87 THEN 'filled'
            WHEN g %% 100 < 92 THEN 'cancelled'
            ELSE 'failed'
        END AS status,
        now() - interval '365 days' * (g::float8 / greatest(1, %(rows)s)) AS created
    FROM generate_series(1, %(rows)s) AS g
) AS src;

ANALYZE walltrack.signals;
ANALYZE walltrack.positions;
ANALYZE walltrack.orders;
"""

SYNTHETIC_DATA: tuple[str, ...] = tuple(
    s.strip().replace("{open}", str(OPEN_ORDERS)) for s in _SCRIPT.split(";\n") if s.strip()
)
"""One statement each (psycopg binds ``%(rows)s`` and ``%(run)s`` per statement)."""

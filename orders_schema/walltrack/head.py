"""The head declarations: the story's V9 with its weaknesses fixed.

Each fix is declared here, relative to the story's objects, and written to versioned SQL by
``orders-schema generate`` (V10 and later). docs/decisions.md explains every decision.
"""

from __future__ import annotations

from orders_schema.declare.model import (
    BIGINT,
    BOOLEAN,
    SMALLINT,
    Check,
    Column,
    ForeignKey,
    Function,
    Grant,
    Index,
    Policy,
    PrimaryKey,
    Revoke,
    Role,
    Schema,
    Table,
    Trigger,
    varchar,
)
from orders_schema.walltrack import story
from orders_schema.walltrack.baseline import CONFIG_AUDIT_LOG, POSITIONS, SIGNALS

# Trigger functions run with a pinned search_path: a caller's search_path can no longer redirect
# NOW() or an unqualified name to an object of the caller's choosing. Every table is qualified.
PINNED = (("search_path", "pg_catalog, pg_temp"),)

UPDATE_ORDERS_TIMESTAMP = story.UPDATE_ORDERS_TIMESTAMP.replace(settings=PINNED)

# Time-ordered keys (RFC 9562 UUIDv7: 48 bits of Unix milliseconds, then 74 random bits). A random
# UUIDv4 key lands on a random leaf of orders_pkey: at 1M orders every insert dirties a different
# page and splits leave them half full. A v7 key is appended at the right edge of the index, as a
# sequence would be, and still needs no coordination. PostgreSQL 18 has uuidv7() built in; this
# function gives the same layout on 15 as well. A single SELECT with no SET clause, so the planner
# inlines it into an INSERT; every name is qualified, so a caller's search_path cannot redirect it.
UUID_V7 = Function(
    name="uuid_v7",
    returns="uuid",
    language="sql",
    body="""
SELECT pg_catalog.encode(
    pg_catalog.set_bit(pg_catalog.set_bit(
        pg_catalog.overlay(
            pg_catalog.uuid_send(pg_catalog.gen_random_uuid()),
            pg_catalog.substr(pg_catalog.int8send(pg_catalog.int8(
                pg_catalog.date_part('epoch', pg_catalog.clock_timestamp()) OPERATOR(pg_catalog.*) 1000)), 3),
            1, 6),
        52, 1), 53, 1),
    'hex')::pg_catalog.uuid
""",
)
ORDER_ID = story.COLUMNS[0].replace(default="walltrack.uuid_v7()")
LOG_ORDER_STATUS_CHANGE = story.LOG_ORDER_STATUS_CHANGE.replace(settings=PINNED)

# count_by_status read the order_stats view: a full scan of the order history on every call
# (231 ms at 1M orders, growing with the table). A summary table kept exact by triggers answers it
# from a bounded number of rows whatever the table's size: statement-level for INSERT and DELETE
# (one upsert per statement, however many rows), row-level for an UPDATE that changes a counted
# column (a WHEN clause keeps every other update from calling the function).
#
# The counters are striped (V13): each backend adds to the rows of its own slot
# (pg_backend_pid() % STRIPES), and readers sum the slots. With one row per key, every writer of
# the same key (all new orders are 'pending') waited on that row's lock until the previous writer
# committed: with synchronous commit, 8 concurrent writers went no faster than one. A slot's
# count can go negative (an order counted in one slot moves on in another); only the sum over a
# key's slots means anything. The upserts name the constraint (ON CONFLICT ON CONSTRAINT), so this
# body is right under the old three-column key too: V13 replaces it first, then swaps the key
# online (unique index built CONCURRENTLY, then one brief ALTER TABLE).
STRIPES = 32
COUNT_ORDER_STATUSES = Function(
    name="count_order_statuses",
    settings=PINNED,
    body=f"""
DECLARE
    my_slot smallint := pg_backend_pid() % {STRIPES};
BEGIN
    -- Counter rows are always touched in key order, so concurrent writers cannot deadlock.
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM walltrack.order_status_counts;
    ELSIF TG_LEVEL = 'ROW' THEN
        -- An UPDATE that changed status, type or simulation (the trigger's WHEN says which).
        INSERT INTO walltrack.order_status_counts AS c (is_simulated, order_type, status, slot, order_count)
        SELECT * FROM (VALUES
            (OLD.is_simulated, OLD.order_type, OLD.status, my_slot, -1::bigint),
            (NEW.is_simulated, NEW.order_type, NEW.status, my_slot, 1::bigint)
        ) AS k (is_simulated, order_type, status, slot, delta)
        ORDER BY 1, 2, 3
        ON CONFLICT ON CONSTRAINT order_status_counts_pkey
        DO UPDATE SET order_count = c.order_count + EXCLUDED.order_count;
    ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO walltrack.order_status_counts AS c (is_simulated, order_type, status, slot, order_count)
        SELECT n.is_simulated, n.order_type, n.status, my_slot, count(*)
        FROM new_orders n
        GROUP BY 1, 2, 3
        ORDER BY 1, 2, 3
        ON CONFLICT ON CONSTRAINT order_status_counts_pkey
        DO UPDATE SET order_count = c.order_count + EXCLUDED.order_count;
    ELSE
        INSERT INTO walltrack.order_status_counts AS c (is_simulated, order_type, status, slot, order_count)
        SELECT o.is_simulated, o.order_type, o.status, my_slot, -count(*)
        FROM old_orders o
        GROUP BY 1, 2, 3
        ORDER BY 1, 2, 3
        ON CONFLICT ON CONSTRAINT order_status_counts_pkey
        DO UPDATE SET order_count = c.order_count + EXCLUDED.order_count;
    END IF;
    RETURN NULL;
END;
""",
)

ORDER_STATUS_COUNTS = Table(
    name="order_status_counts",
    columns=(
        Column(name="is_simulated", type=BOOLEAN, nullable=False),
        Column(name="order_type", type=varchar(10), nullable=False),
        Column(name="status", type=varchar(20), nullable=False),
        Column(name="order_count", type=BIGINT, nullable=False, default="0"),
        Column(name="slot", type=SMALLINT, nullable=False, default="0"),
    ),
    primary_key=PrimaryKey(columns=("is_simulated", "order_type", "status", "slot")),
    populate="""
INSERT INTO walltrack.order_status_counts (is_simulated, order_type, status, slot, order_count)
SELECT is_simulated, order_type, status, 0, count(*)
FROM walltrack.orders
GROUP BY is_simulated, order_type, status
ON CONFLICT ON CONSTRAINT order_status_counts_pkey DO NOTHING
""",
)

# Each example row changes only the columns named; the tester fills the rest with a valid order.
CHECKS = (
    *story.CHECKS,
    Check(name="orders_amount_sol_positive", expression="amount_sol > 0",
          accepts=({"amount_sol": "0.00000001"},), rejects=({"amount_sol": "0"}, {"amount_sol": "-1.5"})),
    Check(name="orders_amount_tokens_positive", expression="amount_tokens IS NULL OR amount_tokens > 0",
          accepts=({"amount_tokens": None}, {"amount_tokens": "1"}), rejects=({"amount_tokens": "0"},)),
    Check(name="orders_expected_price_positive", expression="expected_price > 0",
          accepts=({"expected_price": "0.000000000001"},), rejects=({"expected_price": "0"},)),
    Check(name="orders_actual_price_positive", expression="actual_price IS NULL OR actual_price > 0",
          accepts=({"actual_price": None}, {"actual_price": "0.5"}), rejects=({"actual_price": "0"},)),
    Check(name="orders_max_slippage_bps_range", expression="max_slippage_bps BETWEEN 0 AND 10000",
          accepts=({"max_slippage_bps": 0}, {"max_slippage_bps": 10000}),
          rejects=({"max_slippage_bps": -1}, {"max_slippage_bps": 10001})),
    Check(name="orders_max_attempts_positive", expression="max_attempts >= 1",
          accepts=({"max_attempts": 1},), rejects=({"max_attempts": 0},)),
    Check(name="orders_attempts_within_limit", expression="attempt_count >= 0 AND attempt_count <= max_attempts",
          accepts=({"attempt_count": 0, "max_attempts": 3}, {"attempt_count": 3, "max_attempts": 3}),
          rejects=({"attempt_count": -1}, {"attempt_count": 4, "max_attempts": 3})),
    Check(
        name="orders_direction_matches_type",
        expression=(
            "(order_type = 'entry' AND side = 'buy' AND signal_id IS NOT NULL)"
            " OR (order_type = 'exit' AND side = 'sell' AND position_id IS NOT NULL)"
        ),
        # The position id is a placeholder: the tester swaps in the key of a real position.
        accepts=(
            {"order_type": "entry", "side": "buy", "signal_id": "sig-ok"},
            {"order_type": "exit", "side": "sell", "position_id": "00000000-0000-0000-0000-000000000001"},
        ),
        rejects=(
            {"order_type": "entry", "side": "sell"},
            {"order_type": "entry", "side": "buy", "signal_id": None},
            {"order_type": "exit", "side": "sell", "position_id": None},
            {"order_type": "exit", "side": "buy"},
        ),
    ),
)

IDX_RETRY_DUE = Index(
    name="idx_orders_retry_due",
    columns=("next_retry_at",),
    where="status = 'failed' AND next_retry_at IS NOT NULL AND attempt_count < max_attempts",
)

TRG_UPDATED = story.TRG_UPDATED
TRG_STATUS_AUDIT = story.TRG_STATUS_AUDIT
COUNT_TRIGGERS = (
    Trigger(name="trg_orders_count_insert", timing="AFTER", events=("INSERT",), for_each="STATEMENT",
            function="count_order_statuses", referencing_new="new_orders"),
    # Row level, and only when a counted column changed: other updates never call the function.
    Trigger(name="trg_orders_count_update", timing="AFTER", events=("UPDATE",),
            update_of=("status", "order_type", "is_simulated"), function="count_order_statuses",
            when="OLD.status IS DISTINCT FROM NEW.status OR OLD.order_type IS DISTINCT FROM NEW.order_type"
                 " OR OLD.is_simulated IS DISTINCT FROM NEW.is_simulated"),
    Trigger(name="trg_orders_count_delete", timing="AFTER", events=("DELETE",), for_each="STATEMENT",
            function="count_order_statuses", referencing_old="old_orders"),
    Trigger(name="trg_orders_count_truncate", timing="AFTER", events=("TRUNCATE",), for_each="STATEMENT",
            function="count_order_statuses"),
)

ORDERS = story.ORDERS.replace(
    columns=(ORDER_ID, *story.COLUMNS[1:]),
    checks=CHECKS,
    foreign_keys=(
        ForeignKey(name="orders_position_id_fkey", columns=("position_id",), ref_table="positions",
                   ref_columns=("id",)),
    ),
    # Kept: the indexes the repository's queries use (the tester's unused-index report).
    # Dropped: idx_orders_status, idx_orders_token, idx_orders_filled, idx_orders_simulated
    # (no query uses them) and idx_orders_retry (replaced by idx_orders_retry_due).
    indexes=(story.IDX_POSITION, story.IDX_SIGNAL, IDX_RETRY_DUE, story.IDX_ACTIVE, story.IDX_CREATED),
    triggers=(TRG_UPDATED, TRG_STATUS_AUDIT, *COUNT_TRIGGERS),
)

UNHARDENED = Schema(
    name="walltrack",
    tables=(POSITIONS, SIGNALS, CONFIG_AUDIT_LOG, ORDERS, ORDER_STATUS_COUNTS),
    functions=(UUID_V7, UPDATE_ORDERS_TIMESTAMP, LOG_ORDER_STATUS_CHANGE, COUNT_ORDER_STATUSES),
    views=(story.ORDER_HISTORY, story.ORDER_STATS),
)


# -- Access: who may touch the orders (one generated version after the striped counters) --------
#
# WallTrack runs where an HTTP API may reach the database with its own roles (Supabase's anon and
# authenticated): every table is closed unless a grant and a policy open it. Two roles of ours:
#
# * walltrack_app, the repository's role: reads the tables its statements read (orders,
#   order_status_counts), inserts and updates orders (every column but the key and the
#   timestamps the table keeps), calls uuid_v7() (the id's default). Nothing else: no DELETE, no
#   TRUNCATE, no DDL, no direct write to config_audit_log or order_status_counts. The trigger
#   functions that write those two become SECURITY DEFINER (they run as their owner, the schema's
#   owner, with search_path already pinned), so an order's audit row and its count are written
#   by the trigger and by nothing the application could forge or erase.
# * walltrack_reader, dashboards and DBAs: reads the views order_history and order_stats (which
#   run as their owner) and nothing else.
#
# PUBLIC (so anon and authenticated too) gets nothing: no USAGE on the schema, EXECUTE revoked on
# every function. Row security is enabled on every table, with policies for what each role needs
# and no more: a careless GRANT later still opens no row. docs/security.md has the whole matrix.
APP = "walltrack_app"
READER = "walltrack_reader"
DEFINERS = ("log_order_status_change", "count_order_statuses")
"""Trigger functions writing a table their callers may not write: they run as their owner."""
KEPT_BY_THE_TABLE = ("id", "created_at", "updated_at")
"""Columns of orders the application never updates (the key; the timestamps the table keeps)."""


def hardened(schema: Schema) -> Schema:
    """``schema`` with WallTrack's roles, privileges, row security and policies."""
    orders = schema.table("orders")
    everything = "true"  # the role sees and writes every row; the grants say which commands
    policies = {
        "orders": (
            Policy(name="walltrack_app_reads_orders", command="SELECT", roles=(APP,), using=everything),
            Policy(name="walltrack_app_inserts_orders", command="INSERT", roles=(APP,), with_check=everything),
            Policy(name="walltrack_app_updates_orders", command="UPDATE", roles=(APP,), using=everything,
                   with_check=everything),
        ),
        "order_status_counts": (
            Policy(name="walltrack_app_reads_counts", command="SELECT", roles=(APP,), using=everything),
        ),
    }
    grants = (
        Grant(to=APP, privileges=("USAGE",), on="schema"),
        Grant(to=READER, privileges=("USAGE",), on="schema"),
        Grant(to=APP, privileges=("SELECT", "INSERT"), on="table", name="orders"),
        Grant(to=APP, privileges=("UPDATE",), on="table", name="orders",
              columns=tuple(c.name for c in orders.columns if c.name not in KEPT_BY_THE_TABLE)),
        Grant(to=APP, privileges=("SELECT",), on="table", name="order_status_counts"),
        Grant(to=APP, privileges=("EXECUTE",), on="function", name="uuid_v7"),
        Grant(to=READER, privileges=("SELECT",), on="table", name="order_history"),
        Grant(to=READER, privileges=("SELECT",), on="table", name="order_stats"),
    )
    return schema.replace(
        tables=tuple(t.replace(row_security="enabled", policies=policies.get(t.name, ())) for t in schema.tables),
        functions=tuple(f.replace(security_definer=f.name in DEFINERS) for f in schema.functions),
        roles=(Role(name=APP), Role(name=READER)),
        grants=grants,
        revokes=tuple(Revoke(on="function", name=f.name) for f in schema.functions),
    )


HEAD = hardened(UNHARDENED)

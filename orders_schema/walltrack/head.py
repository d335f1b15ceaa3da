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
# function gives the same layout on 15 as well. Every name is qualified, so a caller's search_path
# cannot redirect it. V12 wrote it in SQL so that the planner would inline it; but inlining parses
# and analyses the body again each time an INSERT is planned, which is every single-row INSERT sent
# unprepared (25-45 us of backend CPU per statement measured, about a fifth of head's insert). The
# write-speed versions make it PL/pgSQL: the expression is parsed once per session and evaluated as
# a simple expression on each call. Not inlined any more, it pins its search_path like every other
# PL/pgSQL function (docs/decisions.md, "Write speed").
UUID_V7 = Function(
    name="uuid_v7",
    returns="uuid",
    settings=PINNED,
    body="""
BEGIN
    RETURN pg_catalog.encode(
        pg_catalog.set_bit(pg_catalog.set_bit(
            pg_catalog.overlay(
                pg_catalog.uuid_send(pg_catalog.gen_random_uuid()),
                pg_catalog.substr(pg_catalog.int8send(pg_catalog.int8(
                    pg_catalog.date_part('epoch', pg_catalog.clock_timestamp()) OPERATOR(pg_catalog.*) 1000)), 3),
                1, 6),
            52, 1), 53, 1),
        'hex')::pg_catalog.uuid;
END;
""",
)
ORDER_ID = story.COLUMNS[0].replace(default="walltrack.uuid_v7()")
LOG_ORDER_STATUS_CHANGE = story.LOG_ORDER_STATUS_CHANGE.replace(settings=PINNED)

# count_by_status read the order_stats view: a full scan of the order history on every call
# (231 ms at 1M orders, growing with the table). V10 to V14 kept every status in a summary table
# (order_status_counts) maintained by triggers on every INSERT, UPDATE and DELETE; that made a
# single-row insert pay for a PL/pgSQL call, a transition table and a counter upsert (x0.55 of V9
# with pgbench), and N inserts in one transaction updated the same counter row N times.
#
# The write-speed versions split the count (docs/decisions.md, "Write speed"):
#
# * the open statuses (pending, submitted, confirming) are counted from the orders themselves,
#   through idx_orders_open: a small partial index holding only the orders in flight, read
#   index-only; every new order is open, so an insert of new orders updates no counter row. Their
#   number follows the bot's activity, not the history (a few hundred at most), so the count stays
#   flat as the history grows;
# * the settled statuses (filled, cancelled, failed), the ones that grow with the history, are kept
#   in order_settled_counts. An UPDATE reaches them through a row-level trigger whose WHEN fires only
#   for a row that enters or leaves a settled status (evaluated before any event is queued, so other
#   updates call nothing). INSERT and DELETE keep a statement-level trigger reading the transition
#   table, filtered to settled rows: a statement of open orders (every new order) upserts no counter
#   row, and a set-based load or purge of the history upserts once per key, not once per row (a
#   row-level insert trigger would update the same counter row once per row in one transaction,
#   walking a chain of versions that grows with every row: quadratic).
#
# The counters stay striped by backend (pg_backend_pid() % STRIPES, summed on read; V13): a slot's
# count can go negative (an order counted in one slot moves on in another); only the sum over a
# key's slots means anything. Counter rows are touched in key order, so writers cannot deadlock.
STRIPES = 32
OPEN_STATUSES = ("pending", "submitted", "confirming")
SETTLED_STATUSES = ("filled", "cancelled", "failed")
_SETTLED = "'{" + ",".join(SETTLED_STATUSES) + "}'::text[]"
COUNT_SETTLED_ORDERS = Function(
    name="count_settled_orders",
    settings=PINNED,
    body=f"""
DECLARE
    my_slot smallint := pg_backend_pid() % {STRIPES};
BEGIN
    -- Counter rows are always touched in key order, so concurrent writers cannot deadlock.
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM walltrack.order_settled_counts;
    ELSIF TG_LEVEL = 'ROW' THEN
        -- An UPDATE that moved a row into or out of a settled status (the trigger's WHEN says which).
        -- (An INSERT statement has a function of its own: count_settled_inserts.)
        INSERT INTO walltrack.order_settled_counts AS c (is_simulated, status, slot, order_count)
        SELECT k.is_simulated, k.status, my_slot, sum(k.delta)
        FROM (VALUES
            (OLD.is_simulated, OLD.status, -1::bigint),
            (NEW.is_simulated, NEW.status, 1::bigint)
        ) AS k (is_simulated, status, delta)
        WHERE k.status::text = ANY ({_SETTLED})
        GROUP BY 1, 2
        ORDER BY 1, 2
        ON CONFLICT ON CONSTRAINT order_settled_counts_pkey
        DO UPDATE SET order_count = c.order_count + EXCLUDED.order_count;
    ELSE
        INSERT INTO walltrack.order_settled_counts AS c (is_simulated, status, slot, order_count)
        SELECT o.is_simulated, o.status, my_slot, -count(*)
        FROM old_orders o
        WHERE o.status::text = ANY ({_SETTLED})
        GROUP BY 1, 2
        ORDER BY 1, 2
        ON CONFLICT ON CONSTRAINT order_settled_counts_pkey
        DO UPDATE SET order_count = c.order_count + EXCLUDED.order_count;
    END IF;
    RETURN NULL;
END;
""",
)

# INSERT statements have a function of their own, on every new order's path: it looks at the
# transition table and returns when no row is settled (every statement of new orders), and only a
# statement inserting settled orders (a load of history) upserts, once per key. Its search_path is
# pinned like every trigger function's (a caller's search_path must not redirect a name in it, and
# advise warns about a PL/pgSQL function that does not pin it); every name in it is qualified as
# well, functions, operators and types with pg_catalog, the table with walltrack (new_orders is the
# statement's transition table, which no schema can shadow).
_SETTLED_QUALIFIED = "'{" + ",".join(SETTLED_STATUSES) + "}'::pg_catalog.text[]"
_IS_SETTLED = f"n.status::pg_catalog.text OPERATOR(pg_catalog.=) ANY ({_SETTLED_QUALIFIED})"
COUNT_SETTLED_INSERTS = Function(
    name="count_settled_inserts",
    settings=PINNED,
    body=f"""
BEGIN
    -- A statement of open orders (every new order) counts nothing: look before upserting. The look
    -- stops at the first settled row; an INSERT ... ON CONFLICT that finds no row would still set
    -- up its whole plan.
    IF NOT EXISTS (SELECT FROM new_orders n WHERE {_IS_SETTLED}) THEN
        RETURN NULL;
    END IF;
    -- Counter rows are always touched in key order, so concurrent writers cannot deadlock.
    INSERT INTO walltrack.order_settled_counts AS c (is_simulated, status, slot, order_count)
    SELECT n.is_simulated, n.status, pg_catalog.pg_backend_pid() OPERATOR(pg_catalog.%) {STRIPES}, pg_catalog.count(*)
    FROM new_orders n
    WHERE {_IS_SETTLED}
    GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT ON CONSTRAINT order_settled_counts_pkey
    DO UPDATE SET order_count = c.order_count OPERATOR(pg_catalog.+) EXCLUDED.order_count;
    RETURN NULL;
END;
""",
)

ORDER_SETTLED_COUNTS = Table(
    name="order_settled_counts",
    columns=(
        Column(name="is_simulated", type=BOOLEAN, nullable=False),
        Column(name="status", type=varchar(20), nullable=False),
        Column(name="slot", type=SMALLINT, nullable=False, default="0"),
        Column(name="order_count", type=BIGINT, nullable=False, default="0"),
    ),
    primary_key=PrimaryKey(columns=("is_simulated", "status", "slot")),
    populate=f"""
INSERT INTO walltrack.order_settled_counts (is_simulated, status, slot, order_count)
SELECT is_simulated, status, 0, count(*)
FROM walltrack.orders
WHERE status::text = ANY ({_SETTLED})
GROUP BY is_simulated, status
ON CONFLICT ON CONSTRAINT order_settled_counts_pkey DO NOTHING
""",
)

# Each example row changes only the columns named; the tester fills the rest with a valid order.
# The write-speed versions rewrote the four amount/price CHECKs with the same meaning in a form that
# costs less per statement (PostgreSQL reads each CHECK's stored tree again, and simplifies it, for
# every INSERT or UPDATE it plans): a numeric literal (0.0) instead of an integer cast to numeric at
# every statement, and no "x IS NULL OR" (a CHECK already accepts a row whose expression is NULL,
# so NULL stays allowed: the accepts examples say so). docs/decisions.md, "Write speed".
CHECKS = (
    *story.CHECKS,
    Check(name="orders_amount_sol_positive", expression="amount_sol > 0.0",
          accepts=({"amount_sol": "0.00000001"},), rejects=({"amount_sol": "0"}, {"amount_sol": "-1.5"})),
    Check(name="orders_amount_tokens_positive", expression="amount_tokens > 0.0",
          accepts=({"amount_tokens": None}, {"amount_tokens": "1"}), rejects=({"amount_tokens": "0"},)),
    Check(name="orders_expected_price_positive", expression="expected_price > 0.0",
          accepts=({"expected_price": "0.000000000001"},), rejects=({"expected_price": "0"},)),
    Check(name="orders_actual_price_positive", expression="actual_price > 0.0",
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
_ENTERS = "NEW.status::text = ANY (" + _SETTLED + ")"
_LEAVES = "OLD.status::text = ANY (" + _SETTLED + ")"
COUNT_TRIGGERS = (
    # Statement level: one call per statement; a statement of open orders upserts nothing.
    Trigger(name="trg_orders_settled_insert", timing="AFTER", events=("INSERT",), for_each="STATEMENT",
            function="count_settled_inserts", referencing_new="new_orders"),
    # Row level with a WHEN: only a row entering or leaving a settled status calls the function.
    Trigger(name="trg_orders_settled_update", timing="AFTER", events=("UPDATE",),
            update_of=("status", "is_simulated"), function="count_settled_orders",
            when=f"(OLD.status IS DISTINCT FROM NEW.status OR OLD.is_simulated IS DISTINCT FROM NEW.is_simulated)"
                 f" AND ({_LEAVES} OR {_ENTERS})"),
    Trigger(name="trg_orders_settled_delete", timing="AFTER", events=("DELETE",), for_each="STATEMENT",
            function="count_settled_orders", referencing_old="old_orders"),
    Trigger(name="trg_orders_settled_truncate", timing="AFTER", events=("TRUNCATE",), for_each="STATEMENT",
            function="count_settled_orders"),
)

# The open orders, index-only: count_by_status counts them here (the settled ones come from
# order_settled_counts). Its size follows the orders in flight, not the history.
IDX_OPEN = Index(
    name="idx_orders_open",
    # One key column, created_at, which the heap follows (orders are appended in time): before VACUUM
    # has marked the pages all-visible the planner still prefers this index to idx_orders_active
    # (a multi-column key would lose a quarter of that correlation). status and is_simulated are
    # INCLUDEd so that the count reads the index only once the pages are all-visible.
    columns=("created_at DESC",),
    include=("status", "is_simulated"),
    where="status IN (" + ", ".join(f"'{s}'" for s in OPEN_STATUSES) + ")",
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
    indexes=(story.IDX_POSITION, story.IDX_SIGNAL, IDX_RETRY_DUE, story.IDX_ACTIVE, story.IDX_CREATED,
             IDX_OPEN),
    triggers=(TRG_UPDATED, TRG_STATUS_AUDIT, *COUNT_TRIGGERS),
)

UNHARDENED = Schema(
    name="walltrack",
    tables=(POSITIONS, SIGNALS, CONFIG_AUDIT_LOG, ORDERS, ORDER_SETTLED_COUNTS),
    functions=(UUID_V7, UPDATE_ORDERS_TIMESTAMP, LOG_ORDER_STATUS_CHANGE, COUNT_SETTLED_ORDERS,
               COUNT_SETTLED_INSERTS),
    views=(story.ORDER_HISTORY, story.ORDER_STATS),
)


# -- Access: who may touch the orders (one generated version after the write-speed versions) -----
#
# WallTrack runs where an HTTP API may reach the database with its own roles (Supabase's anon and
# authenticated): every table is closed unless a grant and a policy open it. Two roles of ours:
#
# * walltrack_app, the repository's role: reads the tables its statements read (orders,
#   order_settled_counts), inserts and updates orders (every column but the key and the
#   timestamps the table keeps), calls uuid_v7() (the id's default). Nothing else: no DELETE, no
#   TRUNCATE, no DDL, no direct write to config_audit_log or order_settled_counts. The trigger
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
DEFINERS = ("log_order_status_change", "count_settled_orders", "count_settled_inserts")
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
        "order_settled_counts": (
            Policy(name="walltrack_app_reads_counts", command="SELECT", roles=(APP,), using=everything),
        ),
    }
    grants = (
        Grant(to=APP, privileges=("USAGE",), on="schema"),
        Grant(to=READER, privileges=("USAGE",), on="schema"),
        Grant(to=APP, privileges=("SELECT", "INSERT"), on="table", name="orders"),
        Grant(to=APP, privileges=("UPDATE",), on="table", name="orders",
              columns=tuple(c.name for c in orders.columns if c.name not in KEPT_BY_THE_TABLE)),
        Grant(to=APP, privileges=("SELECT",), on="table", name="order_settled_counts"),
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

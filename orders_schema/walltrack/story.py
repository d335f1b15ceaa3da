"""V9: the story's migration (WallTrack story 10.5.2), declared object by object.

Faithful to ``V9__orders_table.sql`` in the story: same columns, types, defaults, constraints
(the story's unnamed CHECKs get the names PostgreSQL gives them), indexes, functions, triggers
and views, laid out in the story's six phases. V9 is released: its weaknesses are fixed by later
versions, never here (see docs/decisions.md).
"""

from __future__ import annotations

from orders_schema.declare.model import (
    BOOLEAN,
    INTEGER,
    TEXT,
    TIMESTAMPTZ,
    UUID,
    Check,
    Column,
    Comment,
    Function,
    Index,
    Phase,
    PrimaryKey,
    Schema,
    Table,
    Trigger,
    Version,
    View,
    decimal,
    lit,
    varchar,
)
from orders_schema.walltrack.baseline import CONFIG_AUDIT_LOG, POSITIONS, SIGNALS

ORDER_TYPES = ("entry", "exit")
ORDER_SIDES = ("buy", "sell")
ORDER_STATUSES = ("pending", "submitted", "confirming", "filled", "failed", "cancelled")

COLUMNS = (
    Column(name="id", type=UUID, nullable=False, default="gen_random_uuid()"),
    Column(name="order_type", type=varchar(10), nullable=False, section="Order Type and Direction"),
    Column(name="side", type=varchar(10), nullable=False),
    Column(name="signal_id", type=varchar(100), section="References"),
    Column(name="position_id", type=UUID),
    Column(name="token_address", type=varchar(44), nullable=False, section="Token Info"),
    Column(name="token_symbol", type=varchar(20)),
    Column(name="amount_sol", type=decimal(20, 8), nullable=False, section="Amounts"),
    Column(name="amount_tokens", type=decimal(30, 8)),
    Column(name="expected_price", type=decimal(30, 12), nullable=False, section="Pricing"),
    Column(name="actual_price", type=decimal(30, 12)),
    Column(name="max_slippage_bps", type=INTEGER, nullable=False, default="100"),
    Column(name="status", type=varchar(20), nullable=False, default=lit("pending"), section="Status"),
    Column(name="tx_signature", type=varchar(100), section="Execution Details"),
    Column(name="filled_at", type=TIMESTAMPTZ),
    Column(name="attempt_count", type=INTEGER, nullable=False, default="0", section="Retry Management"),
    Column(name="max_attempts", type=INTEGER, nullable=False, default="3"),
    Column(name="last_error", type=TEXT),
    Column(name="next_retry_at", type=TIMESTAMPTZ),
    Column(name="is_simulated", type=BOOLEAN, nullable=False, default="FALSE", section="Simulation Mode"),
    Column(name="created_at", type=TIMESTAMPTZ, nullable=False, default="NOW()", section="Timestamps"),
    Column(name="updated_at", type=TIMESTAMPTZ, nullable=False, default="NOW()"),
)

CHECKS = (
    Check.one_of("orders_order_type_check", "order_type", ORDER_TYPES),
    Check.one_of("orders_side_check", "side", ORDER_SIDES),
    Check.one_of("orders_status_check", "status", ORDER_STATUSES),
)

IDX_STATUS = Index(name="idx_orders_status", columns=("status",))
IDX_POSITION = Index(name="idx_orders_position", columns=("position_id",), where="position_id IS NOT NULL")
IDX_SIGNAL = Index(name="idx_orders_signal", columns=("signal_id",), where="signal_id IS NOT NULL")
IDX_RETRY = Index(
    name="idx_orders_retry",
    columns=("status", "next_retry_at"),
    where="status = 'failed' AND next_retry_at IS NOT NULL",
)
IDX_ACTIVE = Index(
    name="idx_orders_active",
    columns=("created_at DESC",),
    where="status NOT IN ('filled', 'cancelled')",
)
IDX_CREATED = Index(name="idx_orders_created", columns=("created_at DESC",))
IDX_FILLED = Index(name="idx_orders_filled", columns=("filled_at DESC",), where="filled_at IS NOT NULL")
IDX_TOKEN = Index(name="idx_orders_token", columns=("token_address",))
IDX_SIMULATED = Index(name="idx_orders_simulated", columns=("is_simulated", "created_at DESC"))

UPDATE_ORDERS_TIMESTAMP = Function(
    name="update_orders_timestamp",
    body="""
BEGIN
    NEW.updated_at = NOW();
    RETURN NEW;
END;
""",
)

LOG_ORDER_STATUS_CHANGE = Function(
    name="log_order_status_change",
    body="""
BEGIN
    IF OLD.status IS DISTINCT FROM NEW.status THEN
        INSERT INTO walltrack.config_audit_log (
            config_table,
            config_key,
            old_value,
            new_value,
            changed_by,
            reason
        ) VALUES (
            'orders',
            NEW.id::TEXT,
            OLD.status,
            NEW.status,
            'system',
            NEW.last_error
        );
    END IF;
    RETURN NEW;
END;
""",
)

TRG_UPDATED = Trigger(
    name="trg_orders_updated", timing="BEFORE", events=("UPDATE",), function="update_orders_timestamp"
)
TRG_STATUS_AUDIT = Trigger(
    name="trg_orders_status_audit", timing="AFTER", events=("UPDATE",), function="log_order_status_change"
)

ORDERS = Table(
    name="orders",
    columns=COLUMNS,
    primary_key=PrimaryKey(columns=("id",)),
    checks=CHECKS,
    indexes=(
        IDX_STATUS, IDX_POSITION, IDX_SIGNAL, IDX_RETRY, IDX_ACTIVE,
        IDX_CREATED, IDX_FILLED, IDX_TOKEN, IDX_SIMULATED,
    ),
    triggers=(TRG_UPDATED, TRG_STATUS_AUDIT),
)

ORDER_HISTORY = View(
    name="order_history",
    query="""SELECT
    o.id,
    o.order_type,
    o.side,
    o.token_address,
    o.token_symbol,
    o.amount_sol,
    o.amount_tokens,
    o.expected_price,
    o.actual_price,
    o.status,
    o.tx_signature,
    o.attempt_count,
    o.last_error,
    o.is_simulated,
    o.created_at,
    o.filled_at,

    -- Calculated fields
    CASE
        WHEN o.actual_price IS NOT NULL AND o.expected_price > 0 THEN
            ROUND(ABS(o.actual_price - o.expected_price) / o.expected_price * 10000)
        ELSE NULL
    END AS slippage_bps,

    EXTRACT(EPOCH FROM (COALESCE(o.filled_at, NOW()) - o.created_at)) AS duration_seconds,

    -- Position info (for EXIT orders)
    p.entry_price AS position_entry_price,
    p.entry_amount_sol AS position_entry_sol,

    -- Signal info (for ENTRY orders)
    s.score AS signal_score

FROM walltrack.orders o
LEFT JOIN walltrack.positions p ON o.position_id = p.id
LEFT JOIN walltrack.signals s ON o.signal_id = s.id
ORDER BY o.created_at DESC""",
)

ORDER_STATS = View(
    name="order_stats",
    query="""SELECT
    is_simulated,
    order_type,
    status,
    COUNT(*) as count,
    AVG(attempt_count) as avg_attempts,
    AVG(CASE WHEN slippage_bps IS NOT NULL THEN slippage_bps ELSE NULL END) as avg_slippage_bps,
    MIN(created_at) as first_order,
    MAX(created_at) as last_order
FROM (
    SELECT
        o.*,
        CASE
            WHEN o.actual_price IS NOT NULL AND o.expected_price > 0 THEN
                ABS(o.actual_price - o.expected_price) / o.expected_price * 10000
            ELSE NULL
        END AS slippage_bps
    FROM walltrack.orders o
) sub
GROUP BY is_simulated, order_type, status""",
)

SCHEMA_V9 = Schema(
    name="walltrack",
    tables=(POSITIONS, SIGNALS, CONFIG_AUDIT_LOG, ORDERS),
    functions=(UPDATE_ORDERS_TIMESTAMP, LOG_ORDER_STATUS_CHANGE),
    views=(ORDER_HISTORY, ORDER_STATS),
)

V9 = Version(
    number=9,
    name="orders_table",
    header=(
        "WallTrack Orders Table Migration",
        "Date: 2024-12-26",
        "Purpose: Create orders table for order lifecycle management",
        "Version: V9",
    ),
    state=SCHEMA_V9,
    phases=(
        Phase(title="PHASE 1: CREATE ORDERS TABLE", items=(ORDERS,)),
        Phase(
            title="PHASE 2: CREATE INDEXES",
            items=(
                Comment(text="Primary lookups"),
                IDX_STATUS, IDX_POSITION, IDX_SIGNAL,
                Comment(text="Retry worker index (orders needing retry)"),
                IDX_RETRY,
                Comment(text="Active orders (non-terminal)"),
                IDX_ACTIVE,
                Comment(text="History queries"),
                IDX_CREATED, IDX_FILLED,
                Comment(text="Token-based queries"),
                IDX_TOKEN,
                Comment(text="Simulation filtering"),
                IDX_SIMULATED,
            ),
        ),
        Phase(title="PHASE 3: CREATE UPDATED_AT TRIGGER", items=(UPDATE_ORDERS_TIMESTAMP, TRG_UPDATED)),
        Phase(title="PHASE 4: CREATE ORDER HISTORY VIEW", items=(ORDER_HISTORY,)),
        Phase(title="PHASE 5: CREATE ORDER STATS VIEW", items=(ORDER_STATS,)),
        Phase(
            title="PHASE 6: AUDIT LOG INTEGRATION",
            items=(
                Comment(text="Log order status changes to audit log"),
                LOG_ORDER_STATUS_CHANGE,
                TRG_STATUS_AUDIT,
            ),
        ),
    ),
)

-- Undo V10__story_fixes.sql, V11__story_fixes_online.sql: back to the schema released before them.
-- Destructive by design: it drops what those versions added.

SET lock_timeout = '5s';

DROP TRIGGER IF EXISTS trg_orders_count_insert ON walltrack.orders;

DROP TRIGGER IF EXISTS trg_orders_count_update ON walltrack.orders;

DROP TRIGGER IF EXISTS trg_orders_count_delete ON walltrack.orders;

DROP TRIGGER IF EXISTS trg_orders_count_truncate ON walltrack.orders;

ALTER TABLE walltrack.orders DROP CONSTRAINT IF EXISTS orders_amount_sol_positive;

ALTER TABLE walltrack.orders DROP CONSTRAINT IF EXISTS orders_amount_tokens_positive;

ALTER TABLE walltrack.orders DROP CONSTRAINT IF EXISTS orders_expected_price_positive;

ALTER TABLE walltrack.orders DROP CONSTRAINT IF EXISTS orders_actual_price_positive;

ALTER TABLE walltrack.orders DROP CONSTRAINT IF EXISTS orders_max_slippage_bps_range;

ALTER TABLE walltrack.orders DROP CONSTRAINT IF EXISTS orders_max_attempts_positive;

ALTER TABLE walltrack.orders DROP CONSTRAINT IF EXISTS orders_attempts_within_limit;

ALTER TABLE walltrack.orders DROP CONSTRAINT IF EXISTS orders_direction_matches_type;

ALTER TABLE walltrack.orders DROP CONSTRAINT IF EXISTS orders_position_id_fkey;

CREATE OR REPLACE FUNCTION walltrack.update_orders_timestamp()
RETURNS TRIGGER AS $$
BEGIN
    NEW.updated_at = NOW();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION walltrack.log_order_status_change()
RETURNS TRIGGER AS $$
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
$$ LANGUAGE plpgsql;

DROP TABLE IF EXISTS walltrack.order_status_counts;

DROP FUNCTION IF EXISTS walltrack.count_order_statuses();

-- orders-schema: no-transaction
SET lock_timeout = '5s';

CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_orders_status ON walltrack.orders(status);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_orders_retry
    ON walltrack.orders(status, next_retry_at)
    WHERE status = 'failed' AND next_retry_at IS NOT NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_orders_filled
    ON walltrack.orders(filled_at DESC)
    WHERE filled_at IS NOT NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_orders_token ON walltrack.orders(token_address);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_orders_simulated
    ON walltrack.orders(is_simulated, created_at DESC);

DROP INDEX CONCURRENTLY IF EXISTS walltrack.idx_orders_retry_due;

-- Undo V15__access_control.sql: back to the schema released before them.
-- Destructive by design: it drops what those versions added.

SET lock_timeout = '5s';

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
$$ LANGUAGE plpgsql
SET search_path = 'pg_catalog', 'pg_temp';

CREATE OR REPLACE FUNCTION walltrack.count_order_statuses()
RETURNS TRIGGER AS $$
DECLARE
    my_slot smallint := pg_backend_pid() % 32;
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
$$ LANGUAGE plpgsql
SET search_path = 'pg_catalog', 'pg_temp';

ALTER TABLE walltrack.positions DISABLE ROW LEVEL SECURITY;

ALTER TABLE walltrack.signals DISABLE ROW LEVEL SECURITY;

ALTER TABLE walltrack.config_audit_log DISABLE ROW LEVEL SECURITY;

ALTER TABLE walltrack.orders DISABLE ROW LEVEL SECURITY;

ALTER TABLE walltrack.order_status_counts DISABLE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS walltrack_app_reads_orders ON walltrack.orders;

DROP POLICY IF EXISTS walltrack_app_inserts_orders ON walltrack.orders;

DROP POLICY IF EXISTS walltrack_app_updates_orders ON walltrack.orders;

DROP POLICY IF EXISTS walltrack_app_reads_counts ON walltrack.order_status_counts;

REVOKE EXECUTE ON FUNCTION walltrack.uuid_v7 FROM walltrack_app;

REVOKE USAGE ON SCHEMA walltrack FROM walltrack_app;

REVOKE USAGE ON SCHEMA walltrack FROM walltrack_reader;

REVOKE SELECT ON TABLE walltrack.order_history FROM walltrack_reader;

REVOKE SELECT ON TABLE walltrack.order_stats FROM walltrack_reader;

REVOKE SELECT ON TABLE walltrack.order_status_counts FROM walltrack_app;

REVOKE SELECT, INSERT ON TABLE walltrack.orders FROM walltrack_app;

REVOKE UPDATE (actual_price, amount_sol, amount_tokens, attempt_count, expected_price, filled_at, is_simulated, last_error, max_attempts, max_slippage_bps, next_retry_at, order_type, position_id, side, signal_id, status, token_address, token_symbol, tx_signature) ON TABLE walltrack.orders FROM walltrack_app;

GRANT EXECUTE ON FUNCTION walltrack.count_order_statuses TO PUBLIC;

GRANT EXECUTE ON FUNCTION walltrack.log_order_status_change TO PUBLIC;

GRANT EXECUTE ON FUNCTION walltrack.update_orders_timestamp TO PUBLIC;

GRANT EXECUTE ON FUNCTION walltrack.uuid_v7 TO PUBLIC;

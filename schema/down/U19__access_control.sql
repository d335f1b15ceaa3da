-- Undo V19__access_control.sql: back to the schema released before them.
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

CREATE OR REPLACE FUNCTION walltrack.count_settled_orders()
RETURNS TRIGGER AS $$
DECLARE
    my_slot smallint := pg_backend_pid() % 32;
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
        WHERE k.status::text = ANY ('{filled,cancelled,failed}'::text[])
        GROUP BY 1, 2
        ORDER BY 1, 2
        ON CONFLICT ON CONSTRAINT order_settled_counts_pkey
        DO UPDATE SET order_count = c.order_count + EXCLUDED.order_count;
    ELSE
        INSERT INTO walltrack.order_settled_counts AS c (is_simulated, status, slot, order_count)
        SELECT o.is_simulated, o.status, my_slot, -count(*)
        FROM old_orders o
        WHERE o.status::text = ANY ('{filled,cancelled,failed}'::text[])
        GROUP BY 1, 2
        ORDER BY 1, 2
        ON CONFLICT ON CONSTRAINT order_settled_counts_pkey
        DO UPDATE SET order_count = c.order_count + EXCLUDED.order_count;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql
SET search_path = 'pg_catalog', 'pg_temp';

CREATE OR REPLACE FUNCTION walltrack.count_settled_inserts()
RETURNS TRIGGER AS $$
BEGIN
    -- A statement of open orders (every new order) counts nothing: look before upserting. The look
    -- stops at the first settled row; an INSERT ... ON CONFLICT that finds no row would still set
    -- up its whole plan.
    IF NOT EXISTS (SELECT FROM new_orders n WHERE n.status::pg_catalog.text OPERATOR(pg_catalog.=) ANY ('{filled,cancelled,failed}'::pg_catalog.text[])) THEN
        RETURN NULL;
    END IF;
    -- Counter rows are always touched in key order, so concurrent writers cannot deadlock.
    INSERT INTO walltrack.order_settled_counts AS c (is_simulated, status, slot, order_count)
    SELECT n.is_simulated, n.status, pg_catalog.pg_backend_pid() OPERATOR(pg_catalog.%) 32, pg_catalog.count(*)
    FROM new_orders n
    WHERE n.status::pg_catalog.text OPERATOR(pg_catalog.=) ANY ('{filled,cancelled,failed}'::pg_catalog.text[])
    GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT ON CONSTRAINT order_settled_counts_pkey
    DO UPDATE SET order_count = c.order_count OPERATOR(pg_catalog.+) EXCLUDED.order_count;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql
SET search_path = 'pg_catalog', 'pg_temp';

ALTER TABLE walltrack.positions DISABLE ROW LEVEL SECURITY;

ALTER TABLE walltrack.signals DISABLE ROW LEVEL SECURITY;

ALTER TABLE walltrack.config_audit_log DISABLE ROW LEVEL SECURITY;

ALTER TABLE walltrack.orders DISABLE ROW LEVEL SECURITY;

ALTER TABLE walltrack.order_settled_counts DISABLE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS walltrack_app_reads_orders ON walltrack.orders;

DROP POLICY IF EXISTS walltrack_app_inserts_orders ON walltrack.orders;

DROP POLICY IF EXISTS walltrack_app_updates_orders ON walltrack.orders;

DROP POLICY IF EXISTS walltrack_app_reads_counts ON walltrack.order_settled_counts;

REVOKE EXECUTE ON FUNCTION walltrack.uuid_v7 FROM walltrack_app;

REVOKE USAGE ON SCHEMA walltrack FROM walltrack_app;

REVOKE USAGE ON SCHEMA walltrack FROM walltrack_reader;

REVOKE SELECT ON TABLE walltrack.order_history FROM walltrack_reader;

REVOKE SELECT ON TABLE walltrack.order_settled_counts FROM walltrack_app;

REVOKE SELECT ON TABLE walltrack.order_stats FROM walltrack_reader;

REVOKE SELECT, INSERT ON TABLE walltrack.orders FROM walltrack_app;

REVOKE UPDATE (actual_price, amount_sol, amount_tokens, attempt_count, expected_price, filled_at, is_simulated, last_error, max_attempts, max_slippage_bps, next_retry_at, order_type, position_id, side, signal_id, status, token_address, token_symbol, tx_signature) ON TABLE walltrack.orders FROM walltrack_app;

GRANT EXECUTE ON FUNCTION walltrack.count_settled_inserts TO PUBLIC;

GRANT EXECUTE ON FUNCTION walltrack.count_settled_orders TO PUBLIC;

GRANT EXECUTE ON FUNCTION walltrack.log_order_status_change TO PUBLIC;

GRANT EXECUTE ON FUNCTION walltrack.update_orders_timestamp TO PUBLIC;

GRANT EXECUTE ON FUNCTION walltrack.uuid_v7 TO PUBLIC;

-- Undo V15__settled_counts.sql, V16__settled_counts_online.sql: back to the schema released before them.
-- Destructive by design: it drops what those versions added.

SET lock_timeout = '5s';

DROP TRIGGER IF EXISTS trg_orders_settled_insert ON walltrack.orders;

DROP TRIGGER IF EXISTS trg_orders_settled_update ON walltrack.orders;

DROP TRIGGER IF EXISTS trg_orders_settled_delete ON walltrack.orders;

DROP TRIGGER IF EXISTS trg_orders_settled_truncate ON walltrack.orders;

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

CREATE OR REPLACE FUNCTION walltrack.uuid_v7()
RETURNS UUID AS $$
SELECT pg_catalog.encode(
    pg_catalog.set_bit(pg_catalog.set_bit(
        pg_catalog.overlay(
            pg_catalog.uuid_send(pg_catalog.gen_random_uuid()),
            pg_catalog.substr(pg_catalog.int8send(pg_catalog.int8(
                pg_catalog.date_part('epoch', pg_catalog.clock_timestamp()) OPERATOR(pg_catalog.*) 1000)), 3),
            1, 6),
        52, 1), 53, 1),
    'hex')::pg_catalog.uuid
$$ LANGUAGE sql;

CREATE TABLE IF NOT EXISTS walltrack.order_status_counts (
    is_simulated BOOLEAN NOT NULL,
    order_type VARCHAR(10) NOT NULL,
    status VARCHAR(20) NOT NULL,
    order_count BIGINT NOT NULL DEFAULT 0,
    slot SMALLINT NOT NULL DEFAULT 0,

    CONSTRAINT order_status_counts_pkey PRIMARY KEY (is_simulated, order_type, status, slot)
);

DROP TRIGGER IF EXISTS trg_orders_count_insert ON walltrack.orders;
CREATE TRIGGER trg_orders_count_insert
    AFTER INSERT ON walltrack.orders
    REFERENCING NEW TABLE AS new_orders
    FOR EACH STATEMENT EXECUTE FUNCTION walltrack.count_order_statuses();

DROP TRIGGER IF EXISTS trg_orders_count_update ON walltrack.orders;
CREATE TRIGGER trg_orders_count_update
    AFTER UPDATE OF status, order_type, is_simulated ON walltrack.orders
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.order_type IS DISTINCT FROM NEW.order_type OR OLD.is_simulated IS DISTINCT FROM NEW.is_simulated)
    EXECUTE FUNCTION walltrack.count_order_statuses();

DROP TRIGGER IF EXISTS trg_orders_count_delete ON walltrack.orders;
CREATE TRIGGER trg_orders_count_delete
    AFTER DELETE ON walltrack.orders
    REFERENCING OLD TABLE AS old_orders
    FOR EACH STATEMENT EXECUTE FUNCTION walltrack.count_order_statuses();

DROP TRIGGER IF EXISTS trg_orders_count_truncate ON walltrack.orders;
CREATE TRIGGER trg_orders_count_truncate
    AFTER TRUNCATE ON walltrack.orders
    FOR EACH STATEMENT EXECUTE FUNCTION walltrack.count_order_statuses();

-- populate walltrack.order_status_counts
INSERT INTO walltrack.order_status_counts (is_simulated, order_type, status, slot, order_count)
SELECT is_simulated, order_type, status, 0, count(*)
FROM walltrack.orders
GROUP BY is_simulated, order_type, status
ON CONFLICT ON CONSTRAINT order_status_counts_pkey DO NOTHING;

DROP TABLE IF EXISTS walltrack.order_settled_counts;

DROP FUNCTION IF EXISTS walltrack.count_settled_orders();

DROP FUNCTION IF EXISTS walltrack.count_settled_inserts();

-- orders-schema: no-transaction
SET lock_timeout = '5s';

DROP INDEX CONCURRENTLY IF EXISTS walltrack.idx_orders_open;

-- Undo V13__striped_status_counts.sql, V14__striped_status_counts_online.sql: back to the schema released before them.
-- Destructive by design: it drops what those versions added.

SET lock_timeout = '5s';

CREATE OR REPLACE FUNCTION walltrack.count_order_statuses()
RETURNS TRIGGER AS $$
BEGIN
    -- Counter rows are always touched in key order, so concurrent writers cannot deadlock.
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM walltrack.order_status_counts;
    ELSIF TG_LEVEL = 'ROW' THEN
        -- An UPDATE that changed status, type or simulation (the trigger's WHEN says which).
        INSERT INTO walltrack.order_status_counts AS c (is_simulated, order_type, status, order_count)
        SELECT * FROM (VALUES
            (OLD.is_simulated, OLD.order_type, OLD.status, -1::bigint),
            (NEW.is_simulated, NEW.order_type, NEW.status, 1::bigint)
        ) AS k (is_simulated, order_type, status, delta)
        ORDER BY 1, 2, 3
        ON CONFLICT (is_simulated, order_type, status)
        DO UPDATE SET order_count = c.order_count + EXCLUDED.order_count;
    ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO walltrack.order_status_counts AS c (is_simulated, order_type, status, order_count)
        SELECT n.is_simulated, n.order_type, n.status, count(*)
        FROM new_orders n
        GROUP BY 1, 2, 3
        ORDER BY 1, 2, 3
        ON CONFLICT (is_simulated, order_type, status)
        DO UPDATE SET order_count = c.order_count + EXCLUDED.order_count;
    ELSE
        INSERT INTO walltrack.order_status_counts AS c (is_simulated, order_type, status, order_count)
        SELECT o.is_simulated, o.order_type, o.status, -count(*)
        FROM old_orders o
        GROUP BY 1, 2, 3
        ORDER BY 1, 2, 3
        ON CONFLICT (is_simulated, order_type, status)
        DO UPDATE SET order_count = c.order_count + EXCLUDED.order_count;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql
SET search_path = 'pg_catalog', 'pg_temp';

ALTER TABLE walltrack.order_status_counts DROP CONSTRAINT IF EXISTS order_status_counts_pkey;

-- empty walltrack.order_status_counts for its new key
DELETE FROM walltrack.order_status_counts;

ALTER TABLE walltrack.order_status_counts
    ADD CONSTRAINT order_status_counts_pkey PRIMARY KEY (is_simulated, order_type, status);

-- populate walltrack.order_status_counts
INSERT INTO walltrack.order_status_counts (is_simulated, order_type, status, order_count)
SELECT is_simulated, order_type, status, count(*)
FROM walltrack.orders
GROUP BY is_simulated, order_type, status
ON CONFLICT (is_simulated, order_type, status) DO NOTHING;

ALTER TABLE walltrack.order_status_counts DROP COLUMN IF EXISTS slot;

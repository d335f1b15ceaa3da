-- Undo V17__compact_checks.sql, V18__compact_checks_online.sql: back to the schema released before them.
-- Destructive by design: it drops what those versions added.

SET lock_timeout = '5s';

ALTER TABLE walltrack.orders DROP CONSTRAINT IF EXISTS orders_amount_sol_positive;

ALTER TABLE walltrack.orders DROP CONSTRAINT IF EXISTS orders_amount_tokens_positive;

ALTER TABLE walltrack.orders DROP CONSTRAINT IF EXISTS orders_expected_price_positive;

ALTER TABLE walltrack.orders DROP CONSTRAINT IF EXISTS orders_actual_price_positive;

ALTER TABLE walltrack.orders DROP CONSTRAINT IF EXISTS orders_amount_sol_positive;

ALTER TABLE walltrack.orders
    ADD CONSTRAINT orders_amount_sol_positive CHECK (amount_sol > 0) NOT VALID;

ALTER TABLE walltrack.orders DROP CONSTRAINT IF EXISTS orders_amount_tokens_positive;

ALTER TABLE walltrack.orders
    ADD CONSTRAINT orders_amount_tokens_positive CHECK (amount_tokens IS NULL OR amount_tokens > 0) NOT VALID;

ALTER TABLE walltrack.orders DROP CONSTRAINT IF EXISTS orders_expected_price_positive;

ALTER TABLE walltrack.orders
    ADD CONSTRAINT orders_expected_price_positive CHECK (expected_price > 0) NOT VALID;

ALTER TABLE walltrack.orders DROP CONSTRAINT IF EXISTS orders_actual_price_positive;

ALTER TABLE walltrack.orders
    ADD CONSTRAINT orders_actual_price_positive CHECK (actual_price IS NULL OR actual_price > 0) NOT VALID;

-- orders-schema: no-transaction
SET lock_timeout = '5s';

ALTER TABLE walltrack.orders VALIDATE CONSTRAINT orders_amount_sol_positive;
ALTER TABLE walltrack.orders VALIDATE CONSTRAINT orders_amount_tokens_positive;
ALTER TABLE walltrack.orders VALIDATE CONSTRAINT orders_expected_price_positive;
ALTER TABLE walltrack.orders VALIDATE CONSTRAINT orders_actual_price_positive;
